# Helpers for the scripts that run the example programs as a user would (tests/tools/*.sh,
# tests/cli/hello_test.sh). Source it after `set -u`:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   expect help 0 "Usage:" -- "$tool" --help
#   ...
#   report

passes=0
failures=0

pass() { passes=$((passes + 1)); }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

# expect NAME STATUS PATTERN -- COMMAND...: runs COMMAND with no input and checks its exit status,
# and that PATTERN (fixed text, possibly of several lines) is in its stdout and stderr together.
expect() {
  local name=$1 status=$2 pattern=$3
  shift 4
  local output
  output=$("$@" 2>&1 </dev/null)
  local actual=$?
  if [[ $actual -ne $status ]]; then
    fail "$name: exit $actual, expected $status; output:"; echo "$output"; return
  fi
  if [[ -n $pattern ]] && ! grep -qF -- "$pattern" <<<"$output"; then
    fail "$name: output lacks '$pattern':"; echo "$output"; return
  fi
  pass
}

# enter_work_dir: makes a fresh directory, $work, removed when the script exits, and goes there.
enter_work_dir() {
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cd "$work" || exit 1
}

# wait_until_handling_sigint PID: waits (20 s at most) until the process handles SIGINT, so that
# a signal sent next is not lost to a slow start (sanitizer builds on a loaded machine start slowly).
wait_until_handling_sigint() {
  local pid=$1 mask
  for _ in $(seq 200); do
    mask=$(awk '/^SigCgt:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || return
    [[ -n $mask ]] && (( (16#$mask & 2) != 0 )) && return
    sleep 0.1
  done
}

# wait_open PID PATH: waits (10 s at most) until process PID has PATH open.
wait_open() {
  for _ in $(seq 100); do
    ls -l /proc/$1/fd 2>/dev/null | grep -qF -- "-> $2" && return 0
    sleep 0.1
  done
  return 1
}

# finish PID: waits (10 s at most) for the child PID to end and sets `status` to its exit status,
# or kills it and sets "hung". (kill -0 would still find an ended child that is not yet reaped.)
finish() {
  for _ in $(seq 100); do
    if [[ ! -e /proc/$1/stat || $(awk '{print $3}' /proc/$1/stat 2>/dev/null) == Z ]]; then
      wait $1
      status=$?
      return
    fi
    sleep 0.1
  done
  kill -KILL $1
  wait $1
  status=hung
}

# interrupt_when_open NAME PATH -- COMMAND...: runs COMMAND in the background; once it has PATH
# open (and so is working, and handles SIGINT, which a background job of a script would
# otherwise ignore), sends SIGINT and expects exit 130. COMMAND does not inherit descriptor 3.
interrupt_when_open() {
  local name=$1 path=$2
  shift 3
  "$@" 3>&- >/dev/null 2>&1 &
  local pid=$!
  if wait_open $pid "$path"; then
    kill -INT $pid
    finish $pid
    [[ $status == 130 ]] && pass || fail "$name: exit $status instead of 130"
  else
    kill -KILL $pid; wait $pid
    fail "$name: the program never opened $path"
  fi
}

# interrupt_reading_pipe NAME DATA -- COMMAND...: interrupt_when_open with "pipe", a FIFO in the
# current directory, held open for writing with DATA in it, so that COMMAND waits on it.
interrupt_reading_pipe() {
  local name=$1 data=$2
  shift 3
  mkfifo pipe
  exec 3<>pipe
  printf '%s' "$data" >&3
  interrupt_when_open "$name" "$PWD/pipe" -- "$@"
  exec 3>&-
  rm pipe
}

# have_terminal: whether a pseudo-terminal can be made here. A minimal root without /dev/pts
# mounted (some CI containers) cannot; the checks that need one then say they were not run.
have_terminal() { script -qec true /dev/null >/dev/null 2>&1 </dev/null; }
not_run() { echo "NOT RUN $*: no pseudo-terminal can be created here (is devpts mounted on /dev/pts?)"; }

# on_terminal NAME PATTERN EXPECTED_OUTPUT -- SHELL_COMMAND: runs SHELL_COMMAND with a
# pseudo-terminal (script(1)) as its stdout and stderr, and checks that a progress line with
# PATTERN was drawn, that it was erased (nothing after the last erasure but the output), and that
# EXPECTED_OUTPUT is what the command printed besides.
on_terminal() {
  local name=$1 pattern=$2 expected=$3
  shift 4
  have_terminal || { not_run "$name"; return; }
  local transcript status
  transcript=$(script -qec "$*" /dev/null </dev/null | tr -d '\r'; exit "${PIPESTATUS[0]}")
  status=$?
  local erase=$'\e[J'
  if [[ $status -ne 0 ]]; then
    fail "$name: exit $status on a terminal: $transcript"
  elif [[ $transcript != *"$pattern"*"$erase"* ]]; then
    fail "$name: no progress line '$pattern' on a terminal: $(cat -v <<<"$transcript")"
  elif [[ ${transcript##*"$erase"} == *"$pattern"* ]]; then
    fail "$name: the progress line was left on the terminal: $(cat -v <<<"$transcript")"
  elif [[ $(sed $'s/\e\\[[0-9]*A//g; s/\e\\[J/\\n/g' <<<"$transcript" | grep -vF -- "$pattern" | grep -v '^$') != "$expected" ]]; then
    fail "$name: the output on a terminal is not '$expected': $(cat -v <<<"$transcript")"
  else
    pass
  fi
}

# report: prints the counts; the script's exit status is 0 only when nothing failed.
report() {
  echo "$passes passed, $failures failed"
  [[ $failures -eq 0 ]]
}

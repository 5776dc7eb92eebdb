#!/bin/bash
# flash-wc against GNU wc: the same output byte for byte, the same messages and exit codes.
set -u
flash_wc=$(realpath "$1")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
enter_work_dir

# same NAME [ARGS...]: stdout, stderr (with the program's name) and exit code equal wc's.
# The standard input comes from $stdin_file if set, else from /dev/null.
same() {
  local name=$1
  shift
  local input=${stdin_file:-/dev/null}
  (cd "$work" && wc "$@" <"$input" >expected.out 2>expected.err)
  local expected_status=$?
  (cd "$work" && "$flash_wc" "$@" <"$input" >actual.out 2>actual.err)
  local actual_status=$?
  sed -i 's/^wc: /flash-wc: /' "$work/expected.err"
  if [[ $actual_status -ne $expected_status ]]; then
    fail "$name: exit $actual_status, wc exits $expected_status"
  elif ! cmp -s "$work/expected.out" "$work/actual.out"; then
    fail "$name: output differs from wc's:"; diff "$work/expected.out" "$work/actual.out" | head -10
  elif ! cmp -s "$work/expected.err" "$work/actual.err"; then
    fail "$name: messages differ from wc's:"; diff "$work/expected.err" "$work/actual.err" | head -10
  else
    pass
  fi
}

# same_pipe NAME FILE [ARGS...]: as same, with FILE piped into both.
same_pipe() {
  local name=$1 file=$2
  shift 2
  local expected actual
  expected=$(cd "$work" && cat "$file" | wc "$@")
  actual=$(cd "$work" && cat "$file" | "$flash_wc" "$@")
  if [[ "$expected" != "$actual" ]]; then
    fail "$name: '$actual' from a pipe, wc says '$expected'"
  else
    pass
  fi
}

# Generated data: text, a last line without newline, an empty file, binary bytes, UTF-8 text
# with spaces wc knows (no-break spaces) across the 256 KiB chunks, and many small files.
awk 'BEGIN { for (i = 1; i <= 2000; i++) printf "line %d has\tsome  words, and\r\n", i }' >"$work/text"
printf 'first line\nlast line without newline' >"$work/no-newline"
: >"$work/empty"
LC_ALL=C awk 'BEGIN { srand(42); for (i = 0; i < 300000; i++) printf "%c", int(rand() * 256) }' >"$work/binary"
awk 'BEGIN { for (i = 0; i < 60000; i++) printf "café\xc2\xa0déjà vu\xe2\x80\x83x\xc3 %d\n", i }' >"$work/utf8"
mkdir "$work/many" "$work/dir"
for i in $(seq 1 40); do seq 1 $((i * 37)) >"$work/many/f$i"; done

for locale in C C.UTF-8; do
  export LC_ALL=$locale
  same "one file ($locale)" text
  same "several files and a total ($locale)" text no-newline empty binary
  same "no final newline ($locale)" no-newline
  same "empty file ($locale)" empty
  same "binary data ($locale)" binary
  same "binary data, words ($locale)" -w binary
  same "UTF-8 text across chunks ($locale)" utf8
  same "UTF-8 words ($locale)" -w utf8 text
done
export LC_ALL=C.UTF-8

for options in -l -w -c -lw -lc -wc -lwc -cl "-l -c"; do
  # shellcheck disable=SC2086
  same "options $options" $options text no-newline
  # shellcheck disable=SC2086
  same "options $options, one file" $options no-newline
done
# shellcheck disable=SC2046
same "forty files in order" $(cd "$work" && ls many/* | sort -V)
same "long options" --lines --words --bytes text

stdin_file=$work/text same "standard input from a file"
stdin_file=$work/text same "standard input named -" -
stdin_file=$work/text same "standard input between files" empty - no-newline
stdin_file=$work/text same "standard input twice" -l - -
stdin_file=$work/text same "bytes of standard input twice" -c - -
stdin_file=$work/text same "one count of standard input" -l
same_pipe "standard input from a pipe" text
same_pipe "standard input from a pipe, lines" text -l
same_pipe "a pipe named -" text - empty
same "/dev/null" /dev/null
same "/dev/null and a file" /dev/null text

same "missing file" missing
same "missing file among others" text missing no-newline
same "only missing files" missing other-missing
same "a directory" dir
same "a directory among files" text dir

# Usage errors exit with 2 (wc says 1); --help with 0.
"$flash_wc" --bogus >/dev/null 2>"$work/err"
status=$?
if [[ $status -ne 2 ]] || ! grep -q "unknown option '--bogus'" "$work/err"; then
  fail "usage error: exit $status, $(cat "$work/err")"
else
  pass
fi
if ! "$flash_wc" --help | grep -q "Usage: flash-wc \[OPTIONS\] \[FILE...\]"; then
  fail "--help"
else
  pass
fi

# --- closed streams, a full disk, a FIFO ----------------------------------------------------------
# A closed standard input is a bad descriptor, not something else's (it hung, reading its own
# event descriptor); output that cannot be written is an error.
expect closed_stdin 1 "flash-wc: -: Bad file descriptor" -- timeout 10 bash -c "exec '$flash_wc' <&-"
printf 'one two\n' >two-words
expect full_disk 1 "flash-wc: error: writing standard output" -- bash -c "exec '$flash_wc' two-words >/dev/full"
expect closed_stdout 1 "flash-wc: error: writing standard output" -- bash -c "exec '$flash_wc' two-words >&-"

# A FIFO is waited for until its first writer comes; Ctrl-C ends the wait with 130.
mkfifo fifo
"$flash_wc" fifo >fifo.out 2>&1 &
pid=$!
if wait_open $pid "$work/fifo"; then
  printf 'a b\n' >fifo
  finish $pid
  [[ $status == 0 && $(cat fifo.out) == "      1       2       4 fifo" ]] && pass ||
    fail "a FIFO with a late writer: exit $status, '$(cat fifo.out)'"
else
  kill -KILL $pid; wait $pid
  fail "flash-wc never opened the FIFO"
fi
interrupt_when_open "Ctrl-C while a FIFO has no writer" "$work/fifo" -- "$flash_wc" fifo

# --- progress on a terminal ----------------------------------------------------------------------
# Standard input from a pipe that stalls: its size is unknown, so a spinner, drawn once the count
# has lasted half a second and erased before the counts are printed; none when stderr is a pipe.
slow="printf 'one two\\n'; sleep 1.5; printf 'three\\n'"
on_terminal progress_on_terminal "counting " "      2       3      14" -- "($slow) | '$flash_wc'"
transcript=$(script -qec "($slow) | '$flash_wc' 2>'$work/progress.err'" /dev/null </dev/null | tr -d '\r')
if ! have_terminal; then
  not_run "progress with stderr not a terminal"
elif [[ -s $work/progress.err || $transcript != "      2       3      14" ]]; then
  fail "progress with stderr not a terminal: stderr '$(cat -v "$work/progress.err")', output '$transcript'"
else
  pass
fi

report

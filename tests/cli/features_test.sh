#!/bin/bash
# What every Flash program gets, checked on the hello example as a user meets it: completion in
# real bash, zsh and fish; colour on a terminal and not in a pipe; configuration precedence;
# man pages that groff reads without a warning; prompts on a terminal, refused without one.
set -u
hello=$(realpath "$1")
here=$(realpath "$(dirname "${BASH_SOURCE[0]}")")
source "$here/../tools/lib.sh"
pty_run="python3 $here/pty_run.py"
export PATH="$(dirname "$hello"):$PATH"
unset NO_COLOR CLICOLOR_FORCE HELLO_COUNT HELLO_USER HELLO_PASSWORD
enter_work_dir
mkdir -p some-dir && touch some-file

# same NAME EXPECTED ACTUAL
same() {
  if [[ "$2" == "$3" ]]; then pass; else fail "$1: expected [$2], got [$3]"; fi
}

# --- completion, through each shell's own machinery
bash_complete() {
  bash -c 'source <(hello completion bash)
           COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=()
           _flash_complete_hello; printf "%s " "${COMPREPLY[@]}"' _ "$@"
}
same bash_commands "greet " "$(bash_complete hello gr)"
same bash_builtin "completion " "$(bash_complete hello comp)"
same bash_shells "bash zsh fish " "$(bash_complete hello completion '')"
same bash_options "--loud " "$(bash_complete hello greet --l)"
same bash_choice "writer " "$(bash_complete hello login --role w)"
same bash_choice_after_equals "=reader =writer =admin " "$(bash_complete hello login --role =)"
same bash_files "some-dir some-file " "$(bash_complete hello save some)"
same bash_dirs "some-dir " "$(bash_complete hello docs man some)"

# zsh: the script's function, with zsh's completion builtins standing in to show what it offers.
zsh_complete() {
  zsh -f -c '_describe() { local name=${@[-1]}; print -rn -- "${(j: :)${(@P)name}} " }
             _files() { print -rn -- "<files $*> " }
             compdef() { : }
             source <(hello completion zsh)
             words=("$@"); CURRENT=$#; _flash_complete_hello' _ "$@"
}
same zsh_commands "greet:Greet someone by name " "$(zsh_complete hello gr)"
same zsh_choice "reader writer admin " "$(zsh_complete hello login --role '')"
same zsh_files "<files > " "$(zsh_complete hello save '')"
same zsh_dirs "<files -/> " "$(zsh_complete hello docs man '')"

fish_complete() { fish -c "hello completion fish | source; complete -C '$1'" | cut -f1 | tr '\n' ' '; }
same fish_commands "greet " "$(fish_complete 'hello gr')"
same fish_nested_option "--remember " "$(fish_complete 'hello login --rem')"
same fish_choice "admin " "$(fish_complete 'hello login --role a')"
same fish_files "some-dir/ some-file " "$(fish_complete 'hello save some')"

# --- colour: on a terminal, never in a pipe or with NO_COLOR, forced by CLICOLOR_FORCE
esc=$'\e['
if have_terminal; then
  on_tty=$($pty_run -- "$hello" --help)
  [[ $on_tty == *"${esc}1;4mUsage:"* ]] && pass || fail "help on a terminal has no colour: $on_tty"
  [[ $($pty_run -- env NO_COLOR=1 "$hello" --help) != *"$esc"* ]] && pass || fail "NO_COLOR did not turn colour off"
  [[ $($pty_run -- "$hello" greet Ada --metrics) == *"${esc}"* ]] && pass || fail "metrics report not in colour"
else
  not_run "colour on a terminal"
fi
[[ $("$hello" --help) != *"$esc"* ]] && pass || fail "help in a pipe has colour"
[[ $(NO_COLOR=1 CLICOLOR_FORCE=1 "$hello" --help) != *"$esc"* ]] && pass || fail "NO_COLOR did not win over CLICOLOR_FORCE"
[[ $(CLICOLOR_FORCE=1 "$hello" --help) == *"$esc"* ]] && pass || fail "CLICOLOR_FORCE did not force colour"
[[ $(CLICOLOR_FORCE=1 "$hello" gret 2>&1) == *"${esc}1;31merror:"* ]] && pass || fail "usage error not in colour"
[[ $("$hello" greet Ada --metrics 2>&1) != *"$esc"* ]] && pass || fail "metrics report in a pipe has colour"
# Wrapped to the terminal's width.
wide=0
while IFS= read -r line; do (( ${#line} > wide )) && wide=${#line}; done < <(COLUMNS=50 "$hello" greet --help)
(( wide <= 50 )) && pass || fail "help is $wide columns wide with COLUMNS=50"

# --- configuration: command line over environment over file over default
printf '[greet]\ncount = 3\n' > hello.toml
expect config_default 0 "Hello, Ada!" -- "$hello" greet Ada
same config_file 3 "$("$hello" --config hello.toml greet Ada | wc -l)"
same config_env_over_file 2 "$(HELLO_COUNT=2 "$hello" --config hello.toml greet Ada | wc -l)"
same config_cli_over_env 1 "$(HELLO_COUNT=2 "$hello" --config hello.toml greet Ada -c 1 | wc -l)"
expect print_config 0 "[greet]
name = \"Ada\"
loud = false
count = 3" -- "$hello" --config hello.toml greet Ada --print-config
expect missing_config 2 "hello.toml.missing" -- "$hello" --config hello.toml.missing greet Ada

# --- man pages: one per command, read by groff with every warning on and none given
mkdir man
expect docs_man 0 "man/hello-greet.1" -- "$hello" docs man man
for page in man/*.1; do
  warnings=$(groff -ww -man -z "$page" 2>&1)
  [[ -z $warnings ]] && pass || fail "groff warns about $page: $warnings"
done
same man_pages 9 "$(ls man | wc -l)"
[[ $(MANWIDTH=80 man -l man/hello-greet.1 2>&1) == *"hello-greet - Greet someone by name"* ]] && pass ||
  fail "man -l does not render hello-greet.1"
expect docs_markdown 0 "## hello greet" -- "$hello" docs markdown

# --- prompts: asked on a terminal, in declaration order, the password not echoed
if have_terminal; then
answers=$($pty_run --expect "User name: " --send ada --expect "Password: " --send hunter2 \
  --expect "Choose 1-3 or a name: " --send 2 --expect "Remember this login? [y/N] " --send y -- "$hello" login)
[[ $answers == *"Logged in as ada (writer) with a password of 7 characters; remembered"* ]] && pass ||
  fail "prompts: $answers"
[[ $answers != *hunter2* ]] && pass || fail "the password was echoed: $answers"
retry=$($pty_run --expect "Choose 1-3 or a name: " --send root --expect "'root' is not one of the choices" \
  --send admin --expect "[y/N] " --send "" -- "$hello" login -u bo --password pw)
[[ $retry == *"Logged in as bo (admin) with a password of 2 characters"* ]] && pass || fail "choice retry: $retry"
else
  not_run "prompts on a terminal"
fi
expect prompt_refused 2 "hello login: error: --user is required, and stdin is not a terminal to ask for it" \
  -- "$hello" login
expect prompt_env 0 "Logged in as cy (reader)" -- env HELLO_USER=cy HELLO_PASSWORD=x "$hello" login --role reader --remember

report

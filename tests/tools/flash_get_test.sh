#!/bin/bash
# Runs flash-get as a user would, without a server: help, usage errors and exit codes, and URLs
# that cannot be reached. Downloads against a real server are tested in tests/unit/test_ops_net.cpp,
# which starts one in-process and runs this same binary.
set -u
get=$(realpath "$1")  # the script works in a temporary directory
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

enter_work_dir

expect help 0 "Download URLs concurrently into a directory" -- "$get" --help
expect help_options 0 "-j,--jobs" -- "$get" --help
expect version 0 "0.1.0" -- "$get" --version
expect no_url 2 "error: urls is required" -- "$get"
expect empty_output_dir 2 "error: --output-dir: must not be empty" -- "$get" -o '' http://127.0.0.1:1/a
expect https 2 "https://example.org/a: unsupported URL scheme (only http:// is supported; no TLS)" -- "$get" https://example.org/a
expect ftp 2 "ftp://example.org/a: unsupported URL scheme" -- "$get" ftp://example.org/a
expect no_scheme 2 "example.org/a: not a URL of the form http://host[:port]/path" -- "$get" example.org/a
expect bad_port 2 "http://127.0.0.1:99999/: invalid port in URL (1 to 65535)" -- "$get" http://127.0.0.1:99999/
expect bad_host 2 "http://a\$b/: invalid host name in URL" -- "$get" 'http://a$b/'
expect usage_hint 2 "Run 'flash-get --help' for more information." -- "$get" https://example.org/a
expect jobs_zero 2 "--jobs: Value 0 not in range 1 to 1000" -- "$get" -j 0 http://127.0.0.1/
expect bad_timeout 2 "--timeout" -- "$get" --timeout abc http://127.0.0.1/
expect unknown_option 2 "unknown option '--retrys'; did you mean '--retries'?" -- "$get" --retrys http://127.0.0.1:1/
# A bad URL among good ones: nothing is downloaded at all.
expect bad_among_good 2 "unsupported URL scheme" -- "$get" -o "$work/never" http://127.0.0.1:1/a https://x/b
[[ ! -e $work/never ]] && pass || fail "bad_among_good: $work/never was created"

# Nothing listens on 127.0.0.1 port 1: refused, reported per URL, exit 1, no file left.
expect refused 1 "FAILED  http://127.0.0.1:1/a.txt: connecting to 127.0.0.1:1: Connection refused" -- \
  "$get" --retries 0 -o "$work/out" http://127.0.0.1:1/a.txt
expect refused_in_order 1 "FAILED  http://127.0.0.1:1/one
FAILED  http://127.0.0.1:1/two" -- "$get" --retries 1 -o "$work/out" http://127.0.0.1:1/one http://127.0.0.1:1/two
leftovers=$(ls -A "$work/out")
if [[ -n $leftovers ]]; then
  fail "refused: files left behind: $leftovers"
else
  pass
fi

# An output directory that cannot be created is a failure naming it.
touch "$work/file"
expect output_not_dir 1 "flash-get: error: creating $work/file/sub: Not a directory" -- \
  "$get" -o "$work/file/sub" http://127.0.0.1:1/a

report

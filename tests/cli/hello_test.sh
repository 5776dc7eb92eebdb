#!/bin/bash
# Runs the hello example as a user would and checks its output, messages and exit codes.
set -u
hello=$1
source "$(dirname "${BASH_SOURCE[0]}")/../tools/lib.sh"

expect greet 0 "Hello, Ada!" -- "$hello" greet Ada
expect greet_loud_count 0 "HELLO, ADA!
HELLO, ADA!" -- "$hello" greet Ada --loud -c 2
expect count_from_env 0 "Hello, Ada!
Hello, Ada!
Hello, Ada!" -- env HELLO_COUNT=3 "$hello" greet Ada
expect wait 0 "waited 20 ms" -- "$hello" wait --ms 20
expect wait_green 0 "waited 5 ms" -- env FLASH_MODEL=green_thread "$hello" wait --ms 5
expect wait_pool 0 "waited 5 ms" -- env FLASH_MODEL=thread_pool "$hello" wait --ms 5
expect greet_pool 0 "Hello, Bo!" -- env FLASH_MODEL=thread_pool "$hello" greet Bo
expect help 0 "  greet   Greet someone by name" -- "$hello" --help
expect command_help 0 "How many times to greet" -- "$hello" greet --help
expect version 0 "0.1.0" -- "$hello" --version
expect no_command 2 "hello: error: A subcommand is required" -- "$hello"
expect unknown_command 2 "unknown command 'gret'; did you mean 'greet'?" -- "$hello" gret Ada
expect unknown_option 2 "hello greet: error: unknown option '--lod'; did you mean '--loud'?" -- "$hello" greet Ada --lod
expect missing_argument 2 "hello greet: error: name is required" -- "$hello" greet
expect bad_value 2 "--count" -- "$hello" greet Ada --count abc
expect out_of_range 2 "--count: Value 0 not in range 1 to 100" -- "$hello" greet Ada --count 0
expect missing_required 2 "--ms is required" -- "$hello" wait
expect bad_model 2 "FLASH_MODEL=fast is not an execution model" -- env FLASH_MODEL=fast "$hello" greet Ada

expect nap 0 "napped 5 ms" -- "$hello" nap --ms 5
expect primes 0 "25 primes below 100" -- "$hello" primes 100
expect primes_blocking 0 "168 primes below 1000" -- env FLASH_MODEL=blocking "$hello" primes 1000
expect metrics_text 0 "Async Performance Report:" -- "$hello" --metrics wait --ms 1
expect metrics_json 0 '{"tasks_spawned":' -- env FLASH_METRICS=json "$hello" wait --ms 1
expect metrics_bad 2 "--metrics" -- "$hello" --metrics=xml wait --ms 1

work=$(mktemp -d)
expect save 0 "saved $work/out.txt" -- "$hello" save "$work/out.txt"
expect save_content 0 "saved by hello" -- cat "$work/out.txt"
expect save_missing_dir 1 "hello save: error: creating a temporary file for $work/no/such/dir/out.txt: No such file or directory" -- "$hello" save "$work/no/such/dir/out.txt"

# Ctrl-C in the middle of a save: exit 130, and neither the file nor a temporary is left.
"$hello" save "$work/interrupted.txt" --ms 10000 >/dev/null 2>&1 &
pid=$!
wait_until_handling_sigint $pid
kill -INT $pid
wait $pid
status=$?
leftovers=$(ls -A "$work" | grep -v '^out.txt$' || true)
if [[ $status -ne 130 || -n $leftovers ]]; then
  fail "interrupted save: exit $status, left: $leftovers"
else
  pass
fi
rm -rf "$work"

# Ctrl-C and SIGTERM cancel the running wait: 130 and 143, promptly.
for model in stackless green_thread thread_pool; do
  for signal in INT:130 TERM:143; do
    FLASH_MODEL=$model "$hello" wait --ms 10000 >/dev/null 2>&1 &
    pid=$!
    wait_until_handling_sigint $pid
    start=$(date +%s)
    kill -"${signal%%:*}" $pid
    wait $pid
    status=$?
    elapsed=$(( $(date +%s) - start ))
    if [[ $status -ne ${signal##*:} || $elapsed -gt 5 ]]; then
      fail "interrupt $model SIG${signal%%:*}: exit $status after ${elapsed}s"
    else
      pass
    fi
  done
done

report

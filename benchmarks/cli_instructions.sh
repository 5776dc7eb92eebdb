#!/bin/sh
# Instructions a parse-and-dispatch costs, Flash against plain CLI11: a count that does not
# depend on the machine's load, unlike bench_cli's times. Needs valgrind.
#
#   sh benchmarks/cli_instructions.sh [BUILD_DIR]     (default build-release)
set -eu
build=${1:-build-release}
bench="$build/benchmarks/bench_cli"
[ -x "$bench" ] || { echo "cli_instructions.sh: $bench is not built (ninja -C $build bench_cli)" >&2; exit 1; }
command -v valgrind > /dev/null || { echo "cli_instructions.sh: valgrind is not installed" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {  # count FUNCTION: instructions per run, over the 1,000 runs of FUNCTION_fixed
  valgrind --tool=callgrind --callgrind-out-file="$out/$1" --toggle-collect="*$1*" \
    "$bench" --benchmark_filter="^$1_fixed/" > /dev/null 2>&1
  awk '/^(summary|totals):/ { print int($2 / 1000); exit }' "$out/$1"
}
plain=$(count plain_cli11)
flash=$(count flash_cli)
echo "instructions per parse and dispatch: plain CLI11 $plain, Flash $flash, ratio $(awk -v a="$flash" -v b="$plain" 'BEGIN { printf "%.3f", a / b }')x"

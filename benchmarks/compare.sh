#!/bin/sh
# Whole-program comparisons of Flash's example tools with the standard ones (issue 5), on
# generated data, in one run: each figure is the median of RUNS runs (after one warm-up run, so
# the page cache is warm for both sides), and each ratio is baseline time / Flash time (above 1:
# Flash is faster) unless the row says otherwise.
#
#   sh benchmarks/compare.sh                 # the sizes of the issue (needs ~3.5 GiB in TMPDIR)
#   QUICK=1 sh benchmarks/compare.sh         # small sizes, to check that it runs
#
# Needs, besides scripts/install-deps.sh: curl, python3, time (GNU time, for peak memory); perf is
# used for instruction counts when it can count them. It builds what it needs in BUILD_DIR
# (Release) and cleans up its data on exit. Settings (environment):
#   BUILD_DIR        build directory (default: build-release beside this script's parent)
#   RUNS             runs per measurement (5)
#   HASH_FILES, HASH_MIB        files and MiB per file for flash-hash vs sha256sum (64, 16)
#   CP_MIB                      size of the one big file for flash-cp vs cp (1024)
#   CP_FILES, CP_FILE_BYTES     the tree for flash-cp -r vs cp -r (10000 files of 2048 bytes)
#   WC_MIB                      text for flash-wc vs wc (1024)
#   GET_FILES, GET_BYTES        files served for flash-get vs xargs curl (1000 of 4096 bytes)
#   HELLO_CALLS                 `--help` calls per timed run (50)
#   COMPILE_RUNS                compilations per program (3)
#   TMPDIR                      where the data goes (/tmp)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$root/build-release}
mkdir -p "$BUILD_DIR"
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
if [ -n "${QUICK:-}" ]; then
  : "${RUNS:=3}" "${HASH_FILES:=8}" "${HASH_MIB:=4}" "${CP_MIB:=64}" "${CP_FILES:=500}" "${WC_MIB:=64}"
  : "${GET_FILES:=100}" "${HELLO_CALLS:=10}" "${COMPILE_RUNS:=1}"
fi
RUNS=${RUNS:-5}
HASH_FILES=${HASH_FILES:-64}
HASH_MIB=${HASH_MIB:-16}
CP_MIB=${CP_MIB:-1024}
CP_FILES=${CP_FILES:-10000}
CP_FILE_BYTES=${CP_FILE_BYTES:-2048}
WC_MIB=${WC_MIB:-1024}
GET_FILES=${GET_FILES:-1000}
GET_BYTES=${GET_BYTES:-4096}
HELLO_CALLS=${HELLO_CALLS:-50}
COMPILE_RUNS=${COMPILE_RUNS:-3}
cores=$(nproc)

for tool in cmake ninja g++ curl python3 sha256sum openssl /usr/bin/time; do
  command -v "$tool" > /dev/null 2>&1 || { echo "compare.sh: $tool is needed (apt-get install $(basename "$tool"))" >&2; exit 1; }
done

data=$(mktemp -d "${TMPDIR:-/tmp}/flash-compare.XXXXXX")
server_pid=""
shm=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2> /dev/null || true
  [ -n "$shm" ] && rm -rf "$shm"
  rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# --- building -----------------------------------------------------------------------------------

log "building in $BUILD_DIR (Release)"
cmake -S "$root" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLASH_BUILD_TESTS=OFF \
  -DFLASH_BUILD_EXAMPLES=ON -DFLASH_BUILD_BENCHMARKS=ON > "$data/cmake.log" 2>&1 ||
  { cat "$data/cmake.log" >&2; exit 1; }
ninja -C "$BUILD_DIR" -j "${JOBS:-$cores}" hello hello_separate baseline_hello flash-hash flash-cp flash-wc flash-get copy_floor > "$data/build.log" 2>&1 ||
  { tail -50 "$data/build.log" >&2; exit 1; }
bin=$BUILD_DIR/examples
hello=$bin/hello
baseline_hello=$BUILD_DIR/benchmarks/baseline_hello
# hello built with FLASH_SEPARATE_COMPILATION against Flash compiled once into libflash_shared.so
hello_separate=$BUILD_DIR/benchmarks/hello_separate
flash_shared=$BUILD_DIR/benchmarks/libflash_shared.so

# --- measuring ----------------------------------------------------------------------------------

now() { date +%s%N; }

# seconds CMD...: runs CMD once (output discarded), prints its wall time in seconds.
seconds() {
  start=$(now)
  "$@" > /dev/null 2>&1 || { log "failed: $*"; return 1; }
  end=$(now)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f\n", (b - a) / 1e9 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# timed SETUP CMD...: one warm-up run, then RUNS runs, each after running the shell command
# SETUP (untimed; "" for none); prints the median wall time.
timed() {
  setup=$1
  shift
  [ -n "$setup" ] && sh -c "$setup"
  "$@" > /dev/null 2>&1 || { log "failed: $*"; return 1; }
  i=0
  while [ "$i" -lt "$RUNS" ]; do
    [ -n "$setup" ] && sh -c "$setup"
    seconds "$@"
    i=$((i + 1))
  done | median
}

# in_turn ROUNDS SETUP PREFIX RUN NAME...: ROUNDS rounds of `RUN NAME` for each NAME in turn,
# each after the shell command SETUP (untimed; "" for none), its time appended to
# $data/PREFIX_NAME, so that a change in the machine's speed or state falls on all alike.
in_turn() {
  rounds=$1 setup=$2 prefix=$3 run=$4
  shift 4
  round=0
  while [ "$round" -lt "$rounds" ]; do
    for name in "$@"; do
      [ -n "$setup" ] && sh -c "$setup"
      seconds "$run" "$name" >> "$data/${prefix}_$name"
    done
    round=$((round + 1))
  done
}

# peak_kib CMD...: the peak resident set of CMD, in KiB (GNU time).
peak_kib() { /usr/bin/time -f '%M' -o "$data/time.out" "$@" > /dev/null 2>&1 && tail -1 "$data/time.out"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "met" : "not met" }'; }

rows=$data/rows
: > "$rows"
# row WHAT BASELINE_FIG FLASH_FIG RATIO TARGET VERDICT
row() {
  printf '| %s | %s | %s | %s | %s | %s |\n' "$@" >> "$rows"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$@" >&2
}

mkdata() {  # mkdata FILE MIB: random bytes
  head -c "$(($2 * 1024 * 1024))" /dev/urandom > "$1"
}

# Before anything is timed, the data just written (or removed) is settled on disk: otherwise the
# kernel writes it back during the runs, on a core the tool measured may need (flash-hash uses
# both here, sha256sum one).
settle() { sync; sleep 1; }
remove_stage() { rm -rf "$@"; settle; }  # remove_stage DIR...: a stage's data, settled

# --- flash-hash vs sha256sum ---------------------------------------------------------------------

log "== hashing $HASH_FILES files of $HASH_MIB MiB"
mkdir "$data/hash"
i=0
while [ "$i" -lt "$HASH_FILES" ]; do
  mkdata "$data/hash/f$i" "$HASH_MIB"
  i=$((i + 1))
done
settle
files=$(ls "$data"/hash/f* | sort)
# shellcheck disable=SC2086
if [ "$($bin/flash-hash $files | sha256sum)" != "$(sha256sum $files | sha256sum)" ]; then
  log "flash-hash and sha256sum disagree"; exit 1
fi
# shellcheck disable=SC2086
t_sha=$(timed "" sha256sum $files)
total_bytes=$((HASH_FILES * HASH_MIB * 1024 * 1024))
# The limit: OpenSSL's SHA-256 rate on one core (16 KiB blocks), times the cores, measured just
# before and just after flash-hash's runs (the mean of the two): the host's speed drifts by a
# fifth within minutes here. Not before each run: the first run after a pause is the slowest
# here (0.51-0.57 s against 0.42-0.43 s for runs back to back, 2026-12-07), and the runs, like
# sha256sum's, follow a warm-up run.
openssl_rate() {
  openssl speed -evp sha256 -seconds 2 -bytes 16384 2> /dev/null | awk '/^sha256|^SHA256/ { v = $NF } END { sub(/k$/, "", v); print v * 1000 }'
}
rate_before=$(openssl_rate)
# shellcheck disable=SC2086
t_fh=$(timed "" "$bin/flash-hash" $files)
rate_after=$(openssl_rate)
per_core=$(awk -v a="$rate_before" -v b="$rate_after" 'BEGIN { print (a + b) / 2 }')
limit=$(awk -v p="$per_core" -v c="$cores" 'BEGIN { print p * c }')
rate_sha=$(awk -v b="$total_bytes" -v t="$t_sha" 'BEGIN { print b / t }')
rate_fh=$(awk -v b="$total_bytes" -v t="$t_fh" 'BEGIN { print b / t }')
fraction=$(awk -v r="$rate_fh" -v l="$limit" 'BEGIN { print r / l }')
gbs() { awk -v r="$1" 'BEGIN { printf "%.2f GB/s", r / 1e9 }'; }
r=$(ratio "$t_sha" "$t_fh")
row "flash-hash vs sha256sum, $HASH_FILES x $HASH_MIB MiB" "${t_sha} s ($(gbs "$rate_sha"))" "${t_fh} s ($(gbs "$rate_fh"))" "${r}x faster" "~8x (90% of the limit)" "$(verdict "$fraction" ">=" 0.9)"
row "flash-hash vs the openssl-speed limit ($cores x $(gbs "$per_core"): $(gbs "$rate_before") a core before the runs, $(gbs "$rate_after") after)" "$(gbs "$limit")" "$(gbs "$rate_fh")" "$(awk -v f="$fraction" 'BEGIN { printf "%.0f%% of the limit", 100 * f }')" ">= 90%" "$(verdict "$fraction" ">=" 0.9)"
remove_stage "$data/hash"

# --- flash-cp vs cp ------------------------------------------------------------------------------

log "== copying one file of $CP_MIB MiB"
mkdir "$data/cp"
mkdata "$data/cp/big" "$CP_MIB"
settle
t_cp=$(timed "rm -f '$data/cp/copy'" cp "$data/cp/big" "$data/cp/copy")
t_fcp=$(timed "rm -f '$data/cp/copy'" "$bin/flash-cp" "$data/cp/big" "$data/cp/copy")
cmp -s "$data/cp/big" "$data/cp/copy" || { log "flash-cp: the copy differs"; exit 1; }
r=$(ratio "$t_cp" "$t_fcp")
row "flash-cp vs cp, one $CP_MIB MiB file" "$t_cp s" "$t_fcp s" "${r}x" ">= 1x (no slower; 0.95x passes: the spread of runs)" "$(verdict "$r" ">=" 0.95)"
remove_stage "$data/cp"

log "== copying a tree of $CP_FILES files"
mkdir -p "$data/tree/src"
python3 - "$data/tree/src" "$CP_FILES" "$CP_FILE_BYTES" << 'EOF'
import os, sys
root, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = os.urandom(size)
for i in range(count):
    d = os.path.join(root, "d%03d" % (i // 100))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(block[i % 64:] + block[:i % 64])
EOF
settle

# tree_rows DIR WHERE: cp -r, flash-cp -r and the floor copying DIR/src, in turn in each of RUNS
# rounds (after a warm-up of each), each run after a sync, so that none meets the write-back of
# the copies made before it, which takes CPU time from the tools that use every core. Each run's
# copy is moved aside rather than deleted: removing 10,000 files just before a run (on a file
# system mounted with discard, as here) stalled the next run by seconds, and an ext4 without a
# journal skips inodes freed in the last few minutes when it allocates one, scanning past them
# each time.
copy_tree_with() {  # copy_tree_with TOOL: TOOL copies $tree/src as $tree/dst
  case $1 in
    cp) cp -r "$tree/src" "$tree/dst" ;;
    flash-cp) "$bin/flash-cp" -r "$tree/src" "$tree/dst" ;;
    floor) "$BUILD_DIR/benchmarks/copy_floor" "$tree/src" "$tree/dst" "$cores" ;;
  esac
}
tree_rows() {
  tree=$1
  mkdir -p "$tree/old"
  move_aside="[ ! -e '$tree/dst' ] || mv '$tree/dst' \"\$(mktemp -d '$tree/old/XXXXXX')\"; sync"
  for tool in cp flash-cp floor; do
    sh -c "$move_aside"
    copy_tree_with "$tool" > /dev/null 2>&1 || { log "failed: $tool copying $tree/src"; exit 1; }
    diff -r "$tree/src" "$tree/dst" > /dev/null || { log "$tool: the copy differs"; exit 1; }
    : > "$data/tree_$tool"
  done
  in_turn "$RUNS" "$move_aside" tree copy_tree_with cp flash-cp floor
  t_cpr=$(median < "$data/tree_cp")
  t_fcpr=$(median < "$data/tree_flash-cp")
  t_floor=$(median < "$data/tree_floor")
  r=$(ratio "$t_cpr" "$t_fcpr")
  row "flash-cp -r vs cp -r, $CP_FILES files of $CP_FILE_BYTES B$2" "$t_cpr s" "$t_fcpr s" "${r}x" ">= 1.5x" "$(verdict "$r" ">=" 1.5)"
  # What the kernel allows: the same system calls for each file on every core, nothing around them.
  r=$(ratio "$t_cpr" "$t_floor")
  row "the floor for it: flash-cp's system calls alone on $cores threads (benchmarks/copy_floor.cpp)$2" "$t_cpr s" "$t_floor s" "${r}x" "(what $cores threads give here)" "-"
}
tree_rows "$data/tree" ""
# The same in memory, when /dev/shm is a tmpfs: no disk and no file-system journal,
# so what is left is the programs and the kernel's per-file work.
shm=""
if [ "$(stat -f -c %T /dev/shm 2> /dev/null)" = tmpfs ] && [ -w /dev/shm ]; then
  shm=$(mktemp -d /dev/shm/flash-compare.XXXXXX)
  cp -a "$data/tree/src" "$shm/src"
  tree_rows "$shm" " in /dev/shm (tmpfs)"
  rm -rf "$shm"
  shm=""
else
  log "/dev/shm is not a writable tmpfs: the in-memory tree rows are left out"
fi
remove_stage "$data/tree"

# --- flash-wc vs wc ------------------------------------------------------------------------------

log "== counting $WC_MIB MiB of text"
python3 - "$data/text" "$WC_MIB" << 'EOF'
import random, sys
random.seed(5)
words = ["flash", "asio", "coroutine", "a", "thread", "pool", "of", "the", "stealing", "x", "zero-copy", "12345"]
lines = []
for _ in range(4096):
    lines.append(" ".join(random.choice(words) for _ in range(random.randint(0, 14))))
chunk = ("\n".join(lines) + "\n").encode()
target = int(sys.argv[2]) * 1024 * 1024
with open(sys.argv[1], "wb") as f:
    written = 0
    while written + len(chunk) <= target:
        f.write(chunk)
        written += len(chunk)
    f.write(chunk[: target - written])
EOF
settle
if [ "$("$bin/flash-wc" "$data/text" | awk '{ print $1, $2, $3 }')" != "$(wc "$data/text" | awk '{ print $1, $2, $3 }')" ]; then
  log "flash-wc and wc disagree"; exit 1
fi
t_wc=$(timed "" wc "$data/text")
t_fwc=$(timed "" "$bin/flash-wc" "$data/text")
m_wc=$(peak_kib wc "$data/text")
m_fwc=$(peak_kib "$bin/flash-wc" "$data/text")
head -c $((16 * 1024 * 1024)) "$data/text" > "$data/text-small"
m_fwc_small=$(peak_kib "$bin/flash-wc" "$data/text-small")
r=$(ratio "$t_fwc" "$t_wc")
row "flash-wc vs wc, $WC_MIB MiB of text (time)" "$t_wc s" "$t_fwc s" "${r}x the time of wc" "<= 1.3x" "$(verdict "$r" "<=" 1.3)"
row "flash-wc peak memory ($WC_MIB MiB; 16 MiB input)" "wc: $m_wc KiB" "$m_fwc KiB ($m_fwc_small KiB)" "$(ratio "$m_fwc" "$m_wc")x wc's" "< 16 MiB at any size" "$(verdict "$m_fwc" "<" 16384)"
rm -f "$data/text" "$data/text-small"

# --- flash-get vs xargs -P 8 curl ------------------------------------------------------------------

log "== downloading $GET_FILES files of $GET_BYTES B from python3 http.server (backlog 128)"
mkdir -p "$data/www" "$data/got"
python3 - "$data/www" "$GET_FILES" "$GET_BYTES" << 'EOF'
import os, sys
block = os.urandom(int(sys.argv[3]))
for i in range(int(sys.argv[2])):
    with open(os.path.join(sys.argv[1], "f%05d" % i), "wb") as f:
        f.write(block)
EOF
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Python's http.server, with a listen backlog of 128: its default of 5 made the kernel drop
# connections that eight clients opened at once (nstat: TcpExtListenDrops), each then retried a
# second later, so the figure measured the backlog rather than the clients.
python3 - "$data/www" "$port" > "$data/server.log" 2>&1 << 'EOF' &
import functools, http.server, sys
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
Server(("127.0.0.1", int(sys.argv[2])), handler).serve_forever()
EOF
server_pid=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$port/f00000"; do
  i=$((i + 1)); [ "$i" -lt 100 ] || { log "the HTTP server did not start"; exit 1; }; sleep 0.1
done
ls "$data/www" | sed "s|^|http://127.0.0.1:$port/|" > "$data/urls"
fetch_curl() { (cd "$data/got" && xargs -P 8 -n 1 curl -sSfO < "$data/urls"); }
fetch_curl_batched() { (cd "$data/got" && xargs -P 8 -n $((GET_FILES / 8 + 1)) curl -sSf --remote-name-all < "$data/urls"); }
# shellcheck disable=SC2046
fetch_flash() { "$bin/flash-get" -j 8 -o "$data/got" $(cat "$data/urls"); }
clean_got="rm -rf '$data/got' && mkdir '$data/got'"
t_curl=$(timed "$clean_got" fetch_curl)
t_curlb=$(timed "$clean_got" fetch_curl_batched)
t_fget=$(timed "$clean_got" fetch_flash)
[ "$(ls "$data/got" | wc -l)" -eq "$GET_FILES" ] || { log "flash-get did not fetch every file"; exit 1; }
r=$(ratio "$t_curl" "$t_fget")
row "flash-get -j 8 vs xargs -P 8 -n 1 curl, $GET_FILES x $GET_BYTES B" "$t_curl s" "$t_fget s" "${r}x" ">= 3x" "$(verdict "$r" ">=" 3)"
row "flash-get -j 8 vs xargs -P 8 curl, $((GET_FILES / 8 + 1)) URLs a curl (kept alive)" "$t_curlb s" "$t_fget s" "$(ratio "$t_curlb" "$t_fget")x" "(no target)" "-"
kill "$server_pid" 2> /dev/null || true
wait "$server_pid" 2> /dev/null || true
server_pid=""
rm -rf "$data/www" "$data/got"

# --- hello: start-up, compile time, size --------------------------------------------------------------

log "== hello --help"
help_loop() {  # help_loop PROGRAM: HELLO_CALLS calls
  n=0
  while [ "$n" -lt "$HELLO_CALLS" ]; do "$1" --help > /dev/null; n=$((n + 1)); done
}
t_bh=$(timed "" help_loop "$baseline_hello")
t_h=$(timed "" help_loop "$hello")
per_call() { awk -v t="$1" -v n="$HELLO_CALLS" 'BEGIN { printf "%.2f ms", 1000 * t / n }'; }
r=$(ratio "$t_h" "$t_bh")
row "hello --help vs the same program in CLI11+Asio (wall, a call)" "$(per_call "$t_bh")" "$(per_call "$t_h")" "${r}x the time" "<= 1.1x" "$(verdict "$r" "<=" 1.1)"
t_hs=$(timed "" help_loop "$hello_separate")
r=$(ratio "$t_hs" "$t_bh")
row "hello --help, linked to libflash_shared.so (wall, a call)" "$(per_call "$t_bh")" "$(per_call "$t_hs")" "${r}x the time" "<= 1.1x" "$(verdict "$r" "<=" 1.1)"
# Instructions, when perf can count them (not in most VMs); else CPU time (task-clock).
perf_count() {  # perf_count EVENT PROGRAM
  perf stat -x, -e "$1" -r "$HELLO_CALLS" "$2" --help 2>&1 > /dev/null | awk -F, -v e="$1" '$3 ~ e { print $1 }'
}
if command -v perf > /dev/null 2>&1; then
  i_bh=$(perf_count instructions:u "$baseline_hello" || true)
  i_h=$(perf_count instructions:u "$hello" || true)
  case "$i_bh$i_h" in
    *[!0-9]* | "")
      tc_bh=$(perf_count task-clock "$baseline_hello" || true)
      tc_h=$(perf_count task-clock "$hello" || true)
      case "$tc_bh$tc_h" in
        "" | *[!0-9.]*) row "hello --help, instructions" "n/a" "n/a" "perf cannot count here" "<= 1.1x" "not measured" ;;
        *) row "hello --help, CPU time (perf task-clock; instructions not countable here)" "$tc_bh ms" "$tc_h ms" "$(ratio "$tc_h" "$tc_bh")x" "<= 1.1x" "$(verdict "$(ratio "$tc_h" "$tc_bh")" "<=" 1.1)" ;;
      esac ;;
    *) r=$(ratio "$i_h" "$i_bh"); row "hello --help, instructions (user)" "$i_bh" "$i_h" "${r}x" "<= 1.1x" "$(verdict "$r" "<=" 1.1)" ;;
  esac
else
  row "hello --help, instructions" "n/a" "n/a" "perf is not installed" "<= 1.1x" "not measured"
fi

log "== compile time and size"
# The compiler command ninja runs for each, without the ccache launcher and with the object
# written to $data.
compile_command() {  # compile_command OBJECT_TARGET_PATH
  ninja -C "$BUILD_DIR" -t commands "$1" | tail -1 | sed -e 's|^[^ ]*ccache ||' -e "s| -o [^ ]*| -o $data/out.o|" \
    -e 's| -MD -MT [^ ]* -MF [^ ]*||'
}
object_of() {  # object_of TARGET_FILE: the object file ninja links into it
  ninja -C "$BUILD_DIR" -t query "$1" | awk '/input:/ { f = 1; next } f && /\.o$/ { print $1; exit }'
}
hello_object=$(object_of examples/hello)
baseline_object=$(object_of benchmarks/baseline_hello)
separate_object=$(object_of benchmarks/hello_separate)
library_object=$(object_of benchmarks/libflash_shared.so)
c_bh=$(compile_command "$baseline_object")
c_h=$(compile_command "$hello_object")
c_hs=$(compile_command "$separate_object")
c_library=$(compile_command "$library_object")
# The precompiled-header option: <flash/flash.hpp> compiled once (as CMake's
# target_precompile_headers does), then hello.cpp against it.
mkdir -p "$data/pch/flash"
pch_flags=$(printf '%s\n' "$c_h" | sed -e 's| -o [^ ]*||' -e 's| -c [^ ]*||')
ct_pch_build=$( (cd "$BUILD_DIR" && seconds sh -c "$pch_flags -x c++-header $root/include/flash/flash.hpp -o $data/pch/flash/flash.hpp.gch") || echo n/a)
# Named by its full path: through -I, GCC would find <flash/flash.hpp> itself first, in
# Flash's include directory, and never look for the .gch (it did so until 2026-12-04).
c_h_pch=$(printf '%s\n' "$c_h" | sed -e "s| -c | -include $data/pch/flash/flash.hpp -Winvalid-pch -c |")
pch_used=$( (cd "$BUILD_DIR" && sh -c "$(printf '%s\n' "$c_h_pch" | sed -e 's| -c | -H -fsyntax-only -c |')" 2>&1) | grep -c '^! ' || true)
[ "$pch_used" -gt 0 ] || { log "compare.sh: the precompiled header was not used"; exit 1; }
# Separate compilation: Flash's non-template code compiled once, into the library.
ct_library=$( (cd "$BUILD_DIR" && seconds sh -c "$c_library") || echo n/a)
# COMPILE_RUNS rounds of one compilation of each, in turn (the machine's speed changed by 1.5x
# within minutes here); the median of each.
compile_variant() ( eval "compile=\$c_$1" && cd "$BUILD_DIR" && sh -c "$compile" )
in_turn "$COMPILE_RUNS" "" compile compile_variant bh h h_pch hs
ct_bh=$(median < "$data/compile_bh")
ct_h=$(median < "$data/compile_h")
ct_h_pch=$(median < "$data/compile_h_pch")
ct_hs=$(median < "$data/compile_hs")
r=$(ratio "$ct_h" "$ct_bh")
row "compile hello.cpp vs baseline_hello.cpp (Release)" "$ct_bh s" "$ct_h s" "${r}x the time" "<= 1.2x" "$(verdict "$r" "<=" 1.2)"
r=$(ratio "$ct_h_pch" "$ct_bh")
row "compile hello.cpp with the precompiled <flash/flash.hpp> (built once in $ct_pch_build s)" "$ct_bh s" "$ct_h_pch s" "${r}x the time" "<= 1.2x" "$(verdict "$r" "<=" 1.2)"
r=$(ratio "$ct_hs" "$ct_bh")
row "compile hello.cpp with FLASH_SEPARATE_COMPILATION (the library built once in $ct_library s)" "$ct_bh s" "$ct_hs s" "${r}x the time" "<= 1.2x" "$(verdict "$r" "<=" 1.2)"
s_bh=$(stat -c %s "$baseline_hello")
s_h=$(stat -c %s "$hello")
strip -o "$data/hello.stripped" "$hello"
strip -o "$data/baseline.stripped" "$baseline_hello"
ss_bh=$(stat -c %s "$data/baseline.stripped")
ss_h=$(stat -c %s "$data/hello.stripped")
r=$(ratio "$ss_h" "$ss_bh")
row "binary size of hello vs baseline_hello (stripped; unstripped)" "$ss_bh B ($s_bh B)" "$ss_h B ($s_h B)" "${r}x ($(ratio "$s_h" "$s_bh")x)" "<= 1.2x" "$(verdict "$r" "<=" 1.2)"
strip -o "$data/hello_separate.stripped" "$hello_separate"
strip -o "$data/flash_shared.stripped" "$flash_shared"
ss_hs=$(stat -c %s "$data/hello_separate.stripped")
r=$(ratio "$ss_hs" "$ss_bh")
row "binary size of hello linked to libflash_shared.so (stripped; the library $(stat -c %s "$data/flash_shared.stripped") B)" "$ss_bh B" "$ss_hs B" "${r}x" "<= 1.2x" "$(verdict "$r" "<=" 1.2)"

# --- the table ------------------------------------------------------------------------------------

echo
# /proc/cpuinfo rather than lscpu, which fails in a container without /sys.
cpu=$(awk -F: '/^model name/ { sub(/^ +/, "", $2); print $2; exit }' /proc/cpuinfo 2> /dev/null || true)
echo "Machine: ${cpu:-unknown CPU}, $cores cores; $(date -u +%Y-%m-%d); RUNS=$RUNS"
echo
echo "| comparison | baseline | Flash | ratio | target | verdict |"
echo "|---|---|---|---|---|---|"
cat "$rows"

#!/bin/bash
# flash-hash against sha256sum, sha512sum and b2sum: the same bytes on stdout and (with the
# program's name swapped) on stderr, and the same exit codes, for hashing and for --check.
set -u
tool=$(realpath "$1")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
enter_work_dir

# same NAME :: REFERENCE_COMMAND... :: FLASH_HASH_ARGS...: runs both, compares stdout, stderr
# (the reference's program name replaced by flash-hash) and exit codes.
same() {
  local name=$1
  shift 2
  local reference=()
  while [[ $1 != :: ]]; do reference+=("$1"); shift; done
  shift
  "${reference[@]}" >ref.out 2>ref.err </dev/null
  local ref_status=$?
  "$tool" "$@" >got.out 2>got.err </dev/null
  local got_status=$?
  sed -i "s/^${reference[0]}:/flash-hash:/" ref.err
  if [[ $got_status -ne $ref_status ]]; then
    fail "$name: exit $got_status, ${reference[0]} exits $ref_status"; cat got.err; return
  fi
  if ! cmp -s ref.out got.out; then
    fail "$name: stdout differs from ${reference[0]}"; diff ref.out got.out | head -20; return
  fi
  if ! cmp -s ref.err got.err; then
    fail "$name: stderr differs from ${reference[0]}"; diff ref.err got.err | head -20; return
  fi
  pass
}

# Generated files: empty, tiny, around the 1 MiB chunk, several chunks, and awkward names.
head -c 0 /dev/urandom >empty
head -c 1 /dev/urandom >one
dd if=/dev/urandom of=chunk bs=1048576 count=1 status=none
dd if=/dev/urandom of=chunk_plus bs=1048577 count=1 status=none
dd if=/dev/urandom of=several bs=1000000 count=5 status=none
head -c 1000 /dev/urandom >'with space.bin'
head -c 1000 /dev/urandom >"it's"
head -c 1000 /dev/urandom >'back\slash'
head -c 1000 /dev/urandom >$'new\nline'
head -c 1000 /dev/urandom >-dash
mkdir adir
files=(empty one chunk chunk_plus several 'with space.bin' "it's" 'back\slash' $'new\nline')

same sha256 :: sha256sum "${files[@]}" :: "${files[@]}"
same sha256_explicit :: sha256sum "${files[@]}" :: --algo sha256 "${files[@]}"
same sha512 :: sha512sum "${files[@]}" :: --algo sha512 "${files[@]}"
same blake2b :: b2sum "${files[@]}" :: --algo blake2b "${files[@]}"
same blake2b512 :: b2sum "${files[@]}" :: -a blake2b512 "${files[@]}"
same one_job :: sha256sum "${files[@]}" :: -j 1 "${files[@]}"
same no_mmap :: sha256sum "${files[@]}" :: --no-mmap "${files[@]}"
same many_jobs :: sha256sum "${files[@]}" several several one :: -j 7 "${files[@]}" several several one
same dash_name :: sha256sum -- -dash one :: -- -dash one

# Standard input: no FILE, and "-" among files.
expected=$(sha256sum <several)
got=$("$tool" <several)
[[ $got == "$expected" ]] && pass || fail "stdin: '$got' instead of '$expected'"
expected=$(sha256sum one - empty <several)
got=$("$tool" one - empty <several)
[[ $got == "$expected" ]] && pass || fail "dash among files: '$got' instead of '$expected'"
expected=$(sha256sum - one - <several)
got=$("$tool" - one - <several)
[[ $got == "$expected" ]] && pass || fail "dash twice: '$got' instead of '$expected'"
expected=$(head -c 3000000 several | sha512sum)
got=$(head -c 3000000 several | "$tool" --algo sha512 -)
[[ $got == "$expected" ]] && pass || fail "pipe: '$got' instead of '$expected'"

# A missing file or a directory: the message, the others still printed, exit 1.
same missing :: sha256sum one nothere several :: one nothere several
same directory :: sha256sum one adir several :: one adir several
same quoted_names :: sha256sum 'no such' "no it's" one :: 'no such' "no it's" one
expect missing_message 1 "flash-hash: nothere: No such file or directory" -- "$tool" one nothere
got=$("$tool" nothere one 2>/dev/null)
[[ $got == "$(sha256sum one)" ]] && pass || fail "the file after a missing one is still printed: '$got'"

"$tool" one >/dev/full 2>err
status=$?
[[ $status -eq 1 ]] && grep -qF "flash-hash: write error: No space left on device" err && pass ||
  fail "writing to a full disk: exit $status, $(cat err)"

# --check, against sha256sum -c.
sha256sum "${files[@]}" >sums
sha512sum "${files[@]}" >sums512
same check_ok :: sha256sum -c sums :: --check sums
same check_short :: sha256sum -c sums :: -c sums
same check_sha512 :: sha512sum -c sums512 :: -c --algo sha512 sums512
cp one one.orig
head -c 1 /dev/urandom >>one
same check_mismatch :: sha256sum -c sums :: --check sums
cp one.orig one
{ cat sums; echo "0000000000000000000000000000000000000000000000000000000000000000  nothere"; } >sums_missing
same check_missing :: sha256sum -c sums_missing :: --check sums_missing
{ cat sums; echo "not a checksum line"; echo "# a comment"; echo; } >sums_improper
same check_improper :: sha256sum -c sums_improper :: --check sums_improper
{ echo "garbage"; echo "more garbage"; } >sums_garbage
same check_no_lines :: sha256sum -c sums_garbage :: --check sums_garbage
same check_two_lists :: sha256sum -c sums sums_missing :: --check sums sums_missing
same check_missing_list :: sha256sum -c nolist :: --check nolist
sed 's/  / */' sums >sums_binary
same check_binary_marks :: sha256sum -c sums_binary :: --check sums_binary
tr 'a-f' 'A-F' <sums >sums_upper
same check_uppercase :: sha256sum -c sums_upper :: --check sums_upper
expected=$(sha256sum -c - <sums 2>&1)
got=$("$tool" --check - <sums 2>&1)
[[ $got == "$expected" ]] && pass || fail "check from stdin: '$got'"

# Usage errors: exit 2 with a message naming the problem.
expect bad_algo 2 "--algo: md5 not in" -- "$tool" --algo md5 one
expect zero_jobs 2 "--jobs" -- "$tool" -j 0 one
expect unknown_option 2 "flash-hash: error:" -- "$tool" --bogus one
expect help 0 "Usage: flash-hash" -- "$tool" --help
expect version 0 "." -- "$tool" --version
expect metrics 0 '"tasks_spawned":2' -- "$tool" --metrics=json one empty

# Ctrl-C while a file is still arriving: exit 130.
interrupt_reading_pipe interrupted partial -- "$tool" one pipe

# A pipe that stalls, on a terminal: a spinner (its size is unknown) once the work has lasted half
# a second, erased; the result line as without it. None when stderr is not a terminal.
slow="head -c 3000000 several; sleep 1.5"
expected=$(head -c 3000000 several | sha256sum)
on_terminal progress_on_terminal "hashing " "$expected" -- "($slow) | '$tool'"
transcript=$(script -qec "($slow) | '$tool' 2>progress.err" /dev/null </dev/null | tr -d '\r')
if ! have_terminal; then
  not_run "progress with stderr not a terminal"
elif [[ ! -s progress.err && $transcript == "$expected" ]]; then
  pass
else
  fail "progress with stderr not a terminal: stderr '$(cat -v progress.err)', output '$transcript'"
fi

report

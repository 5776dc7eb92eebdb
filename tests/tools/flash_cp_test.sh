#!/bin/bash
# flash-cp against GNU cp: the same files, modes and links; cp's messages and exit codes; no
# partial destination after a failure, a full disk or Ctrl-C.
set -u
flash_cp=$(realpath "$1")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
enter_work_dir

# A listing of a tree: path, kind, mode and link target of every entry, and each file's checksum.
listing() {
  (cd "$1" && find . -printf '%p %y %m %l\n' | sort && find . -type f -exec cksum {} + | sort -k3)
}

# same_tree NAME A B: A and B hold the same entries, modes, links and contents.
same_tree() {
  if ! diff <(listing "$2") <(listing "$3") >/dev/null; then
    fail "$1: the trees differ:"; diff <(listing "$2") <(listing "$3") | head -10
  else
    pass
  fi
}

# interrupt_once_found PID FIND-ARGS...: sends PID a SIGINT as soon as `find FIND-ARGS` lists
# something (after 10 s at the most).
interrupt_once_found() {
  local pid=$1
  shift
  for _ in $(seq 1 1000); do
    [[ -n $(find "$@") ]] && break
    sleep 0.01
  done
  kill -INT "$pid"
}

# No Flash temporary left anywhere under the work directory.
no_temporaries() {
  local left
  left=$(find "$work" -name '.*.flash-*')
  if [[ -n $left ]]; then fail "$1: temporaries left: $left"; else pass; fi
}

# --- generated data ----------------------------------------------------------------------------
head -c 3000000 /dev/urandom >big.bin
printf 'hello\n' >small.txt
: >empty
chmod 640 small.txt
mkdir -p src/a/b/c src/empty-dir src/private
for i in $(seq 1 60); do head -c $((i * 997)) /dev/urandom >"src/a/file$i"; done
cp big.bin src/a/b/c/big.bin
printf 'x' >src/a/b/one-byte
: >src/a/b/c/empty
printf '#!/bin/sh\necho hi\n' >src/a/script.sh
chmod 755 src/a/script.sh
chmod 700 src/private
printf 'secret\n' >src/private/key
chmod 600 src/private/key
chmod 555 src/empty-dir
ln -s a/script.sh src/link
ln -s ../../small.txt src/a/b/up
ln -s nowhere src/dangling

# --- files ---------------------------------------------------------------------------------------
"$flash_cp" big.bin big.copy && cmp -s big.bin big.copy && pass || fail "file to file"
"$flash_cp" small.txt small.copy && [[ $(stat -c %a small.copy) == 640 ]] && pass || fail "mode bits kept"
mkdir into-sync
"$flash_cp" --sync big.bin small.txt into-sync && cmp -s big.bin into-sync/big.bin && cmp -s small.txt into-sync/small.txt &&
  pass || fail "--sync"
"$flash_cp" empty empty.copy && [[ -f empty.copy && ! -s empty.copy ]] && pass || fail "empty file"
printf 'an old, longer content\n' >over
"$flash_cp" small.txt over && cmp -s small.txt over && pass || fail "over an existing file"
mkdir into
"$flash_cp" small.txt into && cmp -s small.txt into/small.txt && pass || fail "file into a directory"
"$flash_cp" small.txt big.bin empty into && cmp -s big.bin into/big.bin && [[ -f into/empty ]] && pass ||
  fail "several files into a directory"
"$flash_cp" src/link link.copy && [[ ! -L link.copy ]] && cmp -s src/a/script.sh link.copy && pass ||
  fail "a link followed without -r"

# --- trees ---------------------------------------------------------------------------------------
cp -r src expected
"$flash_cp" -r src copy && same_tree "-r to a new directory" expected copy
mkdir expected-into copy-into
cp -r src expected-into
"$flash_cp" -r src copy-into && same_tree "-r into an existing directory" expected-into copy-into
"$flash_cp" -r -j 1 src copy-j1 && same_tree "-j 1" expected copy-j1
"$flash_cp" -R --jobs 32 src copy-j32 && same_tree "-j 32" expected copy-j32
"$flash_cp" -r src copy && same_tree "-r again over the copy" expected-into/src copy/src
mkdir mixed-expected mixed
cp -r src small.txt src/link mixed-expected
"$flash_cp" -r src small.txt src/link mixed && same_tree "-r with files, dirs and links" mixed-expected mixed
[[ -L mixed/link ]] && pass || fail "-r copies a link as a link"

# --- errors (the messages are cp's) --------------------------------------------------------------
expect "missing source" 1 "flash-cp: cannot stat 'missing': No such file or directory" -- "$flash_cp" missing x
[[ ! -e x ]] && pass || fail "missing source created x"
expect "missing source among others" 1 "flash-cp: cannot stat 'missing': No such file or directory" \
  -- "$flash_cp" missing small.txt into
expect "empty destination" 2 "flash-cp: error: FILE: must not be empty" -- "$flash_cp" src/a/file1 ''
expect "directory without -r" 1 "flash-cp: -r not specified; omitting directory 'src'" -- "$flash_cp" src x
expect "destination directory missing" 1 \
  "flash-cp: cannot create regular file 'no/such/dir': No such file or directory" -- "$flash_cp" small.txt no/such/dir
expect "-r, destination directory missing" 1 \
  "flash-cp: cannot create directory 'no/such': No such file or directory" -- "$flash_cp" -r src no/such
[[ ! -e no ]] && pass || fail "a missing destination directory was created"
expect "target not a directory" 1 "flash-cp: target 'small.txt' is not a directory" \
  -- "$flash_cp" big.bin empty small.txt
expect "same file" 1 "flash-cp: 'small.txt' and 'small.txt' are the same file" -- "$flash_cp" small.txt small.txt
expect "directory into itself" 1 "flash-cp: cannot copy a directory, 'src', into itself, 'src/a/inside'" \
  -- "$flash_cp" -r src src/a/inside
expect "directory over a file" 1 "flash-cp: cannot overwrite non-directory 'small.txt' with directory 'src'" \
  -- "$flash_cp" -r src small.txt
mkfifo out-fifo
expect "a fifo as destination" 1 "flash-cp: cannot create regular file 'out-fifo': not a regular file" \
  -- "$flash_cp" small.txt out-fifo
[[ -p out-fifo ]] && pass || fail "the fifo given as destination was replaced"
# A destination that is a symbolic link is written through, as cp does: the link stays.
mkdir -p real
echo old >real/target
ln -s real/target dest-link
expect "through a symbolic link" 0 "" -- "$flash_cp" small.txt dest-link
[[ -L dest-link && $(cat real/target) == hello ]] && pass || fail "the link was replaced or its target not written"
no_temporaries "after writing through a link"
expect "no destination" 2 "flash-cp: missing destination file operand after 'small.txt'" -- "$flash_cp" small.txt
expect "no arguments" 2 "Run 'flash-cp --help' for more information." -- "$flash_cp"
expect "bad option" 2 "unknown option" -- "$flash_cp" --bogus small.txt x
expect "bad job count" 2 "--jobs" -- "$flash_cp" -j 0 small.txt x
expect "help" 0 "" -- "$flash_cp" --help
no_temporaries "after the errors"

# --- a full disk (ulimit -f, in 1 KiB blocks): an error, and no partial destination ---------------
expect "file-size limit" 1 "flash-cp: error writing 'limited': File too large" \
  -- bash -c "ulimit -f 1000; exec '$flash_cp' big.bin limited"
[[ ! -e limited ]] && pass || fail "a partial destination was left by the file-size limit"
expect "file-size limit in a tree" 1 "File too large" -- bash -c "ulimit -f 1000; exec '$flash_cp' -r src limited-tree"
[[ ! -e limited-tree/a/b/c/big.bin ]] && pass || fail "a partial file was left in the tree"
[[ -f limited-tree/a/file1 ]] && cmp -s src/a/file1 limited-tree/a/file1 && pass || fail "the small files were not copied"
no_temporaries "after the file-size limit"

# --- Ctrl-C ----------------------------------------------------------------------------------------
# From a FIFO the copy waits for data between chunks: interrupted there, it must exit with 130
# and leave neither the destination nor its temporary.
mkfifo fifo
exec 3<>fifo
printf 'some data before the interrupt\n' >&3
"$flash_cp" fifo from-fifo 2>/dev/null &
pid=$!
interrupt_once_found $pid . -maxdepth 1 -name '.from-fifo.flash-*' -size +0
# The FIFO stays silent: the copy must see the cancellation while it waits for more.
wait $pid
status=$?
exec 3>&-
[[ $status -eq 130 ]] && pass || fail "Ctrl-C while copying from a FIFO: exit $status"
[[ ! -e from-fifo ]] && pass || fail "Ctrl-C left the destination"
no_temporaries "after Ctrl-C from a FIFO"

# A FIFO that no process has opened for writing: one Ctrl-C ends the wait for a writer.
"$flash_cp" fifo no-writer 2>/dev/null &
pid=$!
interrupt_once_found $pid . -maxdepth 1 -name '.no-writer.flash-*'
wait $pid
status=$?
[[ $status -eq 130 ]] && pass || fail "Ctrl-C while a FIFO has no writer: exit $status"
[[ ! -e no-writer ]] && pass || fail "Ctrl-C left the destination of a FIFO with no writer"
no_temporaries "after Ctrl-C on a FIFO with no writer"

# Two Ctrl-Cs while a read waits (the second may force the exit before the first is handled):
# the files being written are removed all the same, the ones finished are kept whole.
mkdir -p two-signals
exec 3<>fifo
printf 'some data before the interrupts\n' >&3
"$flash_cp" src/a/file1 fifo two-signals 2>/dev/null &
pid=$!
interrupt_once_found $pid two-signals -name '.fifo.flash-*' -size +0
sleep 0.2
kill -INT $pid 2>/dev/null  # the first may have ended it already
wait $pid
status=$?
exec 3>&-
[[ $status -eq 130 ]] && pass || fail "two Ctrl-Cs while a read blocks: exit $status"
[[ ! -e two-signals/fifo ]] && pass || fail "the forced exit left the FIFO's destination"
[[ -z $(find two-signals -name '.*flash-*') ]] && pass || fail "the forced exit left a temporary: $(ls -a two-signals)"
cmp -s src/a/file1 two-signals/file1 && pass || fail "the file copied before the interrupts is not whole"

# A large file: interrupted while its data goes through the kernel. If the machine copies it
# before the signal arrives, it must then be whole.
fallocate -l 2G large.bin 2>/dev/null || truncate -s 2G large.bin
"$flash_cp" large.bin large.copy 2>/dev/null &
pid=$!
interrupt_once_found $pid . -maxdepth 1 -name '.large.copy.flash-*'
wait $pid
status=$?
if [[ $status -eq 130 ]]; then
  [[ ! -e large.copy ]] && pass || fail "Ctrl-C left the large destination"
elif [[ $status -eq 0 ]]; then
  echo "note: the large copy finished before Ctrl-C arrived"
  [[ $(stat -c %s large.copy) -eq $(stat -c %s large.bin) ]] && pass || fail "the large copy is not whole"
else
  fail "Ctrl-C while copying a large file: exit $status"
fi
no_temporaries "after Ctrl-C of a large copy"
rm -f large.bin large.copy

report

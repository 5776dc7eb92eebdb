#!/bin/bash
# flash-crypt as a user runs it: round trips compared with cmp, and every refusal (wrong
# passphrase, a damaged file, no passphrase, Ctrl-C) with its exit code and no output left behind.
set -u
tool=$(realpath "$1")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
enter_work_dir

# nothing_but NAME FILES...: the directory holds exactly these files (no output, no temporary).
nothing_but() {
  local name=$1
  shift
  local expected actual
  expected=$(printf '%s\n' "$@" | sort)
  actual=$(ls -A | sort)
  [[ $actual == "$expected" ]] && pass || fail "$name: the directory holds: $(echo $actual)"
}

# flip FILE OFFSET: changes one bit of the byte at OFFSET, in place.
flip() {
  local byte
  byte=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "\\$(printf %03o $((byte ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

export FLASH_CRYPT_PASSPHRASE='correct horse battery staple'

# Round trips: empty, small, several 1 MiB chunks.
head -c 0 /dev/urandom >empty
head -c 100 /dev/urandom >small
dd if=/dev/urandom of=large bs=1000000 count=3 status=none
for name in empty small large; do
  expect "encrypt_$name" 0 "" -- "$tool" encrypt $name $name.enc
  expect "decrypt_$name" 0 "" -- "$tool" decrypt $name.enc $name.out
  cmp -s $name $name.out && pass || fail "round trip of $name: the decrypted file differs"
  size=$(stat -c %s $name) sealed=$(stat -c %s $name.enc)
  [[ $sealed -eq $((size + 60)) ]] && pass || fail "$name.enc is $sealed bytes for $size of plaintext"
  [[ $(head -c 8 $name.enc) == FLASHENC ]] && pass || fail "$name.enc lacks the FLASHENC header"
  [[ $(stat -c %a $name.out) == 600 ]] && pass || fail "$name.out has mode $(stat -c %a $name.out)"
done
rm -f ./*.out
expect encrypt_again 0 "" -- "$tool" encrypt small again.enc
cmp -s small.enc again.enc && fail "two encryptions gave the same bytes" || pass
rm again.enc

# A wrong passphrase: exit 1, the reason, no output.
expect wrong_passphrase 1 "large.enc: wrong passphrase or corrupted file" -- \
  env FLASH_CRYPT_PASSPHRASE=wrong "$tool" decrypt large.enc large.out
nothing_but wrong_passphrase_leaves_nothing empty empty.enc small small.enc large large.enc

# A flipped bit in the header (salt), the body and the tag; truncated; not encrypted at all.
for at in 20 1000 $(($(stat -c %s large.enc) - 1)); do
  cp large.enc damaged.enc
  flip damaged.enc $at
  expect "flipped_byte_$at" 1 "damaged.enc: wrong passphrase or corrupted file" -- "$tool" decrypt damaged.enc damaged.out
  [[ ! -e damaged.out ]] && pass || fail "flipped byte $at: damaged.out was written"
done
cp large.enc damaged.enc
truncate -s -1 damaged.enc
expect truncated 1 "wrong passphrase or corrupted file" -- "$tool" decrypt damaged.enc damaged.out
head -c 30 large.enc >damaged.enc
expect truncated_header 1 "damaged.enc: truncated: 30 bytes, shorter than the" -- "$tool" decrypt damaged.enc damaged.out
expect not_encrypted 1 "small: not an encrypted file" -- "$tool" decrypt small damaged.out
rm damaged.enc
nothing_but damage_leaves_nothing empty empty.enc small small.enc large large.enc

# A failed decryption leaves an existing OUT as it was.
echo precious >kept
expect wrong_over_existing 1 "wrong passphrase" -- env FLASH_CRYPT_PASSPHRASE=wrong "$tool" decrypt small.enc kept
[[ $(cat kept) == precious ]] && pass || fail "a failed decryption changed the existing output"
rm kept

# No passphrase and no terminal (setsid: no controlling terminal): exit 2, and nothing written.
expect no_passphrase 2 "no passphrase: set FLASH_CRYPT_PASSPHRASE" -- \
  env -u FLASH_CRYPT_PASSPHRASE setsid -w "$tool" encrypt small small.out
expect empty_passphrase 2 "FLASH_CRYPT_PASSPHRASE is set but empty" -- \
  env FLASH_CRYPT_PASSPHRASE= "$tool" encrypt small small.out
nothing_but no_passphrase_writes_nothing empty empty.enc small small.enc large large.enc

# Refusals and usage errors.
before=$(sha256sum <small)
expect same_file 1 "refusing to overwrite it" -- "$tool" encrypt small small
expect same_file_other_name 1 "refusing to overwrite it" -- "$tool" encrypt small ./small
[[ $(sha256sum <small) == "$before" ]] && pass || fail "the source was changed"
mkfifo outpipe
expect special_file 1 "outpipe: not a regular file" -- "$tool" decrypt small.enc outpipe
[[ -p outpipe ]] && pass || fail "the pipe given as OUT was replaced"
rm outpipe
expect missing_input 1 "opening nothere: No such file or directory" -- "$tool" encrypt nothere out
expect missing_directory 1 "No such file or directory" -- "$tool" encrypt small no/such/dir/out
expect no_command 2 "A subcommand is required" -- "$tool"
expect unknown_command 2 "unknown command 'encrpyt'; did you mean 'encrypt'?" -- "$tool" encrpyt small out
expect missing_argument 2 "OUT is required" -- "$tool" encrypt small
expect help 0 "encrypt" -- "$tool" --help
nothing_but refusals_write_nothing empty empty.enc small small.enc large large.enc

# A file-size limit (ulimit -f, in 1 KiB blocks) is an error that leaves no temporary, not a death
# by SIGXFSZ; an existing OUT is kept.
echo precious >kept
expect file_size_limit 1 "writing kept: File too large" -- bash -c "ulimit -f 100; exec '$tool' encrypt large kept"
[[ $(cat kept) == precious ]] && pass || fail "the file-size limit changed the existing output"
rm kept
nothing_but file_size_limit_leaves_nothing empty empty.enc small small.enc large large.enc

# Ctrl-C while the input is still arriving: exit 130, no output, no temporary.
interrupt_reading_pipe interrupted "$(head -c 750 /dev/urandom | base64 -w0)" -- "$tool" encrypt pipe sealed
nothing_but interrupted_leaves_nothing empty empty.enc small small.enc large large.enc

report

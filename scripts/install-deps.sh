#!/bin/sh
# Installs what building Flash, its tests, examples and benchmarks needs, from Debian 12's
# packages. Safe to run again: apt-get skips what is already installed.
set -eu
packages="cmake g++ clang-14 libclang-rt-14-dev ninja-build ccache git ca-certificates
  libboost1.81-dev libboost-context1.81-dev libboost-fiber1.81-dev libcli11-dev libfmt-dev catch2
  libbenchmark-dev libtbb-dev libssl-dev
  coreutils openssl bsdutils zsh fish groff-base man-db python3 curl time"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing
fi

#!/bin/sh
# Installs the build into a temporary prefix, then builds examples/producer-consumer.c outside
# the tree against that copy, once through pkg-config and once through find_package(shmview),
# and runs both against the installed daemon.
set -eu
src=$1 build=$2
# A sanitizer build's library needs its programs built with the same sanitizers.
cflags=
[ -n "${3:-}" ] && cflags="-fsanitize=$3"
tmp=$(mktemp -d /tmp/shmview-install-XXXXXX)
daemon=
cleanup() {
        [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log"
for f in bin/shmviewd include/shmview.h; do
        [ -e "$prefix/$f" ] || { echo "install: $f missing" >&2; exit 1; }
done
libdir=$(dirname "$(find "$prefix" -name 'libshmview.so' | head -n 1)")
[ -e "$libdir/libshmview.a" ] || { echo "install: libshmview.a missing" >&2; exit 1; }
ls "$libdir"/libshmview.so.0 >/dev/null
# shmview(1), its man page and bash completion, under the prefix; the installed tool runs.
for f in bin/shmview share/man/man1/shmview.1 share/man/man8/shmviewd.8 \
         share/bash-completion/completions/shmview; do
        [ -e "$prefix/$f" ] || { echo "install: $f missing" >&2; exit 1; }
done
"$prefix/bin/shmview" --version >/dev/null

# 1. pkg-config
export PKG_CONFIG_PATH=$libdir/pkgconfig
cc $cflags -o "$tmp/pc-example" "$src/examples/producer-consumer.c" $(pkg-config --cflags --libs shmview)

# 2. find_package
mkdir -p "$tmp/cm"
cat >"$tmp/cm/CMakeLists.txt" <<EOC
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(shmview 0.1 REQUIRED)
add_executable(cm-example $src/examples/producer-consumer.c)
target_link_libraries(cm-example PRIVATE shmview::shmview)
EOC
cmake -S "$tmp/cm" -B "$tmp/cm/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$cflags" >"$tmp/cm.log"
cmake --build "$tmp/cm/build" >>"$tmp/cm.log"

export SHMVIEW_SOCKET=$tmp/shmview.sock
"$prefix/bin/shmviewd" --socket "$SHMVIEW_SOCKET" &
daemon=$!
i=0
while [ ! -S "$SHMVIEW_SOCKET" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done

LD_LIBRARY_PATH=$libdir "$tmp/pc-example"
echo "install: pkg-config build ran against the installed daemon"
LD_LIBRARY_PATH=$libdir "$tmp/cm/build/cm-example"
echo "install: find_package build ran against the installed daemon"
echo "2 passed, 0 failed"

#!/bin/sh
# The dynamic symbols libshmview.so defines must be exactly the functions shmview.h declares.
set -eu
lib=$1 header=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }' | sort -u >"$tmp/exported"
grep -v '#define' "$header" | grep -o 'SHMV_EXPORT [^(]*(' | sed 's/($//; s/.*[ *]//' | sort -u >"$tmp/declared"
if ! diff -u "$tmp/declared" "$tmp/exported"; then
        echo "symbols: libshmview.so exports differ from shmview.h (- declared only, + exported only)" >&2
        exit 1
fi
echo "symbols: $(wc -l <"$tmp/exported") exported, all declared in shmview.h"
echo "1 passed, 0 failed"

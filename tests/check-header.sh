#!/bin/sh
# include/shmview.h compiles cleanly as C99, C11 and C++17 under -Wall -Wextra -pedantic.
set -eu
cc=$1 cxx=$2 include=$3 src=$4
flags="-Wall -Wextra -pedantic -Werror -fsyntax-only -I$include"
failed=0
for std in c99 c11; do
        # shellcheck disable=SC2086
        if "$cc" -std=$std $flags "$src"; then echo "ok: $std"; else echo "FAILED: $std"; failed=$((failed + 1)); fi
done
# shellcheck disable=SC2086
if "$cxx" -std=c++17 -x c++ $flags "$src"; then echo "ok: c++17"; else echo "FAILED: c++17"; failed=$((failed + 1)); fi
echo "$((3 - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]

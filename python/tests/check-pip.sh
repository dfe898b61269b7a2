#!/bin/sh
# `pip install ./python` as a user would run it: libshmview installed under a prefix
# (cmake --install), Debian's pip and setuptools, offline, without build isolation, into a
# virtual environment; the installed module is then imported from there and used against a
# real shmviewd.
#   check-pip.sh PYTHON SOURCE_DIR BUILD_DIR SHMVIEWD
set -eu
python=$1 src=$2 build=$3 daemon=$4
tmp=$(mktemp -d)
pid=
cleanup() {
        [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
        rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "pip: FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null || fail "cmake --install"
# pip builds in the directory it is given: a copy, so that the source tree stays clean.
cp -r "$src/python" "$tmp/src"
rm -rf "$tmp/src/tests"
"$python" -m venv --system-site-packages --without-pip "$tmp/venv" || fail "venv"
PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig:$tmp/prefix/lib/$(uname -m)-linux-gnu/pkgconfig" \
        "$tmp/venv/bin/python" -m pip install --no-build-isolation --no-index --no-deps \
        --disable-pip-version-check --quiet "$tmp/src" >"$tmp/pip.log" 2>&1 ||
        { cat "$tmp/pip.log" >&2; fail "pip install ./python"; }
echo "pip: ok: pip install --no-build-isolation --no-index ./python into a venv"

sock=$tmp/s.sock
"$daemon" --socket "$sock" >"$tmp/daemon.log" 2>&1 &
pid=$!
i=0
while [ ! -S "$sock" ]; do
        i=$((i + 1))
        [ "$i" -lt 500 ] || fail "shmviewd did not start: $(cat "$tmp/daemon.log")"
        sleep 0.01
done
cd "$tmp"
# SHMVIEW_PIP_PRELOAD: a sanitizer runtime the instrumented library needs loaded first.
preload=${SHMVIEW_PIP_PRELOAD:+LD_PRELOAD=$SHMVIEW_PIP_PRELOAD ASAN_OPTIONS=detect_leaks=0}
# shellcheck disable=SC2086
env -u PYTHONPATH $preload SHMVIEW_SOCKET="$sock" "$tmp/venv/bin/python" - "$tmp/venv" <<'PY' ||
import os, sys
import shmview
venv = os.path.realpath(sys.argv[1])
where = os.path.realpath(shmview._shmview.__file__)
assert where.startswith(venv + os.sep), "imported from %s, not the venv" % where
with shmview.connect() as c:
    v = c.create_open("pip-check", 4096)
    v[0:5] = b"hello"
    with c.open("pip-check", 0, 5) as r:
        assert bytes(r) == b"hello"
    assert c.status().limits.max_views_per_uid > 0
    v.release()
    c.unlink("pip-check")
print("pip: ok: the installed module (%s) works against shmviewd" % os.path.basename(where))
PY
        fail "the installed module"
echo "1 passed, 0 failed"

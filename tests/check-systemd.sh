#!/bin/sh
# The systemd units as configured: `systemd-analyze verify` (system and user instance) finds
# nothing to say about them, with ExecStart= pointing at the built daemon; the limits the
# daemon is started with fit FileDescriptorStoreMax= and LimitNOFILE=, and the names of a full
# store fit LISTEN_FDNAMES (at most the daemon's default --max-segments); the sysusers snippet
# creates the user and group; `cmake --install --prefix` puts everything under the prefix.
#   check-systemd.sh SOURCE_DIR BUILD_DIR SHMVIEWD
set -eu
src=$1 build=$2 daemon=$3
tmp=$(mktemp -d /tmp/shmview-systemd-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
        echo "systemd: $*" >&2
        exit 1
}
for tool in systemd-analyze systemd-sysusers; do
        command -v $tool >/dev/null || fail "$tool missing: install systemd (scripts/install-deps)"
done

# verify DIR [--user]: no complaint at all, warnings included.
verify() {
        dir=$1
        shift
        if ! out=$(cd "$dir" && systemd-analyze "$@" verify --man=no shmviewd.socket \
                shmviewd.service 2>&1); then
                echo "$out" >&2
                fail "systemd-analyze $* verify failed in $dir"
        fi
        [ -z "$out" ] || { echo "$out" >&2; fail "systemd-analyze $* verify complained"; }
}

# limits UNIT_FILE: FileDescriptorStoreMax= holds every segment and the metadata memfd;
# LimitNOFILE= holds three descriptors per segment, one per client, and some to spare.
limits() {
        exec=$(sed -n 's/^ExecStart=//p' "$1")
        segs=$(echo "$exec" | sed -n 's/.*--max-segments \([0-9]*\).*/\1/p')
        clients=$(echo "$exec" | sed -n 's/.*--max-clients \([0-9]*\).*/\1/p')
        store=$(sed -n 's/^FileDescriptorStoreMax=//p' "$1")
        nofile=$(sed -n 's/^LimitNOFILE=//p' "$1")
        [ -n "$segs" ] && [ -n "$clients" ] && [ -n "$store" ] && [ -n "$nofile" ] ||
                fail "$1: ExecStart= --max-segments/--max-clients, FileDescriptorStoreMax= or LimitNOFILE= missing"
        [ "$store" -eq $((segs + 1)) ] ||
                fail "$1: FileDescriptorStoreMax=$store, wanted --max-segments + 1 = $((segs + 1))"
        [ "$segs" -le "$names_max" ] ||
                fail "$1: --max-segments $segs, past the $names_max whose names fit LISTEN_FDNAMES"
        [ "$nofile" -ge $((3 * segs + clients + 128)) ] ||
                fail "$1: LimitNOFILE=$nofile is below 3 * $segs + $clients + 128"
}

mkdir -p "$tmp/system" "$tmp/user" "$tmp/runtime"
chmod 700 "$tmp/runtime"
sed "s|^ExecStart=[^ ]*|ExecStart=$daemon|" "$build/systemd/shmviewd.service" >"$tmp/system/shmviewd.service"
cp "$src/systemd/shmviewd.socket" "$tmp/system/"
sed "s|^ExecStart=[^ ]*|ExecStart=$daemon|" "$build/systemd/user/shmviewd.service" >"$tmp/user/shmviewd.service"
cp "$src/systemd/user/shmviewd.socket" "$tmp/user/"
verify "$tmp/system"
XDG_RUNTIME_DIR=$tmp/runtime verify "$tmp/user" --user
echo "systemd: system and user units verified"

# The most segments a restart can hand over (daemon/fdstore.h): the daemon's default.
names_max=$("$daemon" --help | sed -n 's/.*--max-segments N .*(default \([0-9]*\),.*/\1/p')
[ -n "$names_max" ] || fail "no default in '$daemon --help' for --max-segments"
limits "$build/systemd/shmviewd.service"
limits "$build/systemd/user/shmviewd.service"
grep -q "^Type=notify$" "$build/systemd/shmviewd.service" || fail "the service is not Type=notify"
echo "systemd: limits, store and descriptor limits agree"

mkdir -p "$tmp/root/etc"
systemd-sysusers --root="$tmp/root" "$src/systemd/shmview.sysusers" >/dev/null 2>&1 ||
        fail "systemd-sysusers refused shmview.sysusers"
grep -q "^shmviewd:" "$tmp/root/etc/passwd" || fail "sysusers: no shmviewd user"
grep -q "^shmview:" "$tmp/root/etc/group" || fail "sysusers: no shmview group"
echo "systemd: sysusers snippet creates the shmviewd user and the shmview group"

prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" --component systemd >/dev/null
for f in shmviewd.socket shmviewd.service; do
        n=$(find "$prefix" -path "*/systemd/system/$f" | wc -l)
        [ "$n" -eq 1 ] || fail "install: $f for the system instance missing"
        n=$(find "$prefix" -path "*/systemd/user/$f" | wc -l)
        [ "$n" -eq 1 ] || fail "install: $f for user instances missing"
done
[ "$(find "$prefix" -path '*/sysusers.d/shmview.conf' | wc -l)" -eq 1 ] ||
        fail "install: sysusers.d/shmview.conf missing"
while read -r f; do
        case $f in
        "$prefix"/*) ;;
        *) fail "install wrote $f, outside the prefix" ;;
        esac
done <"$build/install_manifest_systemd.txt"
echo "systemd: installed under the prefix"
echo "4 passed, 0 failed"

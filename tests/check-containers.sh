#!/bin/sh
# The recipes of docs/containers.md, run for real: clients that share nothing with the daemon
# but its socket. With unshare(1) always: fresh PID, IPC, mount, network and UTS namespaces,
# and a user namespace whose root is uid 65534 outside. With Podman when it can run here
# (rootful, no network, an image imported from this machine's files): client containers
# beside a daemon on the host, and the daemon in a container (`shmviewd --supervise` as its
# entry point) beside clients on the host, kept across a SIGKILL of the daemon.
#   check-containers.sh SHMVIEWD SHMVIEW
set -eu
daemon=$1 cli=$2
tmp=$(mktemp -d /tmp/shmview-containers-XXXXXX)
chmod 0755 "$tmp"
sup= img= ctr= d3=
cleanup() {
        [ -z "$d3" ] || kill "$d3" 2>/dev/null || true
        [ -z "$ctr" ] || podman rm -f -t 0 "$ctr" >/dev/null 2>&1 || true
        [ -z "$img" ] || podman rmi -f "$img" >/dev/null 2>&1 || true
        [ -z "$sup" ] || { kill "$sup" 2>/dev/null && wait "$sup" || true; }
        rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
        echo "containers: $*" >&2
        exit 1
}
# Waits until a daemon answers on socket $1.
wait_daemon() {
        i=0
        until SHMVIEW_SOCKET=$1 "$cli" status >/dev/null 2>&1; do
                i=$((i + 1))
                [ $i -lt 300 ] || fail "no daemon answers on $1"
                sleep 0.1
        done
}

if ! unshare --pid --fork --ipc --mount --net --uts true 2>"$tmp/err"; then
        echo "SKIPPED: no namespaces can be made here: $(cat "$tmp/err")"
        exit 77
fi

# The daemon, supervised, with its socket alone in a directory: the one to share.
mkdir "$tmp/run"
export SHMVIEW_SOCKET="$tmp/run/shmview.sock"
"$daemon" --supervise --socket "$SHMVIEW_SOCKET" --socket-mode 0666 --log-level error &
sup=$!
wait_daemon "$SHMVIEW_SOCKET"
"$cli" create frames 1M --mode 0644
printf hello | "$cli" write frames

# unshare: fresh PID, IPC, mount, network and UTS namespaces; the socket is all it needs.
out=$(unshare --pid --fork --ipc --mount --net --uts "$cli" dump frames --length 5 --format raw)
[ "$out" = hello ] || fail "unshare: read '$out'"
out=$(unshare --pid --fork --ipc --mount --net --uts "$cli" clients)
echo "$out" | grep -Eq '^ *[0-9]+ +- +root +shmview' || fail "unshare: pids shown: $out"

# uid 65534, root in its own user namespace: 65534 to the daemon.
as_nobody="setpriv --reuid 65534 --regid 65534 --clear-groups unshare --user --map-root-user"
[ "$($as_nobody id -u)" = 0 ] || fail "no user namespace"
if printf x | $as_nobody "$cli" write frames 2>"$tmp/err"; then
        fail "root in a user namespace wrote root's 0644 segment"
fi
grep -q "permission denied" "$tmp/err" || fail "userns write: $(cat "$tmp/err")"
$as_nobody "$cli" create mine 4K --mode 0600
"$cli" stat mine --json | grep -q '"uid": *65534' || fail "userns create: not 65534's"
"$cli" rm mine
echo "unshare recipes: passed"

# Whose memory a segment is: the memory cgroup of the daemon, which reserves its pages at
# create (fallocate), not of the client that creates it or writes every byte. Where this
# machine lets us make two memory cgroups (v1 or v2); else said and skipped.
cg_path=$(sed -n 's/^[0-9]*:memory:\(.*\)$/\1/p' /proc/self/cgroup)
if [ -n "$cg_path" ]; then
        cg=/sys/fs/cgroup/memory$cg_path
else
        cg=/sys/fs/cgroup$(sed -n 's/^0::\(.*\)$/\1/p' /proc/self/cgroup)
fi
if mkdir "$cg/shmview-d-$$" "$cg/shmview-c-$$" 2>/dev/null &&
        [ -f "$cg/shmview-d-$$/memory.stat" ]; then
        mkdir "$tmp/run3"
        sock3=$tmp/run3/shmview.sock
        sh -c "echo \$\$ >'$cg/shmview-d-$$/cgroup.procs' &&
                exec '$daemon' --socket '$sock3' --log-level error" &
        d3=$!
        wait_daemon "$sock3"
        sh -c "echo \$\$ >'$cg/shmview-c-$$/cgroup.procs' && export SHMVIEW_SOCKET='$sock3' &&
                '$cli' create big 64M && head -c 64M /dev/zero | tr '\\0' x | '$cli' write big"
        shmem() { sed -n 's/^shmem \([0-9]*\)$/\1/p' "$cg/shmview-$1-$$/memory.stat"; }
        d_shmem=$(shmem d) c_shmem=$(shmem c)
        kill "$d3"
        wait "$d3" || true
        d3=
        rmdir "$cg/shmview-d-$$" "$cg/shmview-c-$$" 2>/dev/null || true
        [ "$d_shmem" -ge $((64 << 20)) ] || fail "cgroup: the daemon's shmem is $d_shmem"
        [ "$c_shmem" -lt $((1 << 20)) ] || fail "cgroup: the client's shmem is $c_shmem"
        echo "memory cgroup: 64M segment charged to the daemon's ($d_shmem shmem bytes)," \
                "the client's has $c_shmem"
else
        rmdir "$cg/shmview-d-$$" "$cg/shmview-c-$$" 2>/dev/null || true
        echo "memory cgroup: SKIPPED, cannot make memory cgroups under $cg"
fi

# Podman, rootful, without network: crun, else runc (crun refuses cgroups in hybrid mode).
podman_ok=
if command -v podman >/dev/null; then
        # An image of this machine's files: the two programs, a shell and their libraries.
        root=$tmp/rootfs
        for f in "$daemon" "$cli" /bin/sh /bin/cat /bin/sleep; do
                mkdir -p "$root/usr/local/bin" "$root/bin"
                case $f in
                /bin/*) cp "$f" "$root$f" ;;
                *) cp "$f" "$root/usr/local/bin/" ;;
                esac
                for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
                        mkdir -p "$root$(dirname "$lib")"
                        cp -L "$lib" "$root$lib"
                done
        done
        mkdir -p "$root/run" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
        img=localhost/shmview-check:$$
        tar -C "$root" -cf "$tmp/rootfs.tar" .
        if podman import -q "$tmp/rootfs.tar" "$img" >/dev/null 2>"$tmp/err"; then
                opts="--rm --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096"
                for rt in crun runc; do
                        # shellcheck disable=SC2086
                        if podman --runtime $rt run $opts "$img" /bin/sh -c : 2>>"$tmp/err"; then
                                podman_ok=$rt
                                break
                        fi
                done
        fi
fi
if [ -z "$podman_ok" ]; then
        echo "podman recipes: SKIPPED, podman cannot run containers here:"
        sed 's/^/  /' "$tmp/err" 2>/dev/null || true
        exit 0
fi
pm="podman --runtime $podman_ok"

# Client containers beside the daemon on the host: the socket's directory as a volume, at
# the path a root client looks at first (/run/shmview/shmview.sock); no --ipc=host.
# shellcheck disable=SC2086
out=$($pm run $opts -v "$tmp/run:/run/shmview" "$img" shmview dump frames --length 5 --format raw)
[ "$out" = hello ] || fail "podman: read '$out'"
# shellcheck disable=SC2086
$pm run $opts --user 65534:65534 -v "$tmp/run:/run/shmview" "$img" shmview create theirs 4K
"$cli" stat theirs --json | grep -q '"uid": *65534' || fail "podman: not 65534's"
# shellcheck disable=SC2086
if printf x | $pm run -i $opts --user 65534:65534 -v "$tmp/run:/run/shmview" "$img" \
        shmview write frames 2>/dev/null; then
        fail "podman: uid 65534 wrote root's 0644 segment"
fi
# shellcheck disable=SC2086
out=$($pm run $opts -v "$tmp/run:/run/shmview" "$img" shmview clients)
echo "$out" | grep -Eq '^ *[0-9]+ +- +' || fail "podman: pids shown: $out"
"$cli" rm theirs

# The daemon in a container, its entry point `shmviewd --supervise`; clients on the host.
mkdir "$tmp/run2"
ctr=shmview-check-$$
# shellcheck disable=SC2086
$pm run -d --name "$ctr" --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
        -v "$tmp/run2:/run/shmview" "$img" shmviewd --supervise --socket-mode 0666 \
        --log-level error >/dev/null
export SHMVIEW_SOCKET="$tmp/run2/shmview.sock"
wait_daemon "$SHMVIEW_SOCKET"
"$cli" create frames 64K --mode 0644
printf 'kept' | "$cli" write frames
top=$(podman inspect -f '{{.State.Pid}}' "$ctr")
d1=$(cat "/proc/$top/task/$top/children")
[ -n "$d1" ] || fail "podman: no daemon under the supervisor $top"
kill -9 "$d1"
i=0
while d2=$(cat "/proc/$top/task/$top/children"); [ -z "$d2" ] || [ "$d2" = "$d1" ]; do
        i=$((i + 1))
        [ $i -lt 300 ] || fail "podman: no daemon after the SIGKILL"
        sleep 0.1
done
out=$("$cli" dump frames --length 4 --format raw)
[ "$out" = kept ] || fail "podman: after SIGKILL read '$out'"
podman stop -t 10 "$ctr" >/dev/null
[ "$(podman inspect -f '{{.State.ExitCode}}' "$ctr")" = 0 ] || fail "podman: daemon exit status"
echo "podman recipes ($podman_ok): passed"

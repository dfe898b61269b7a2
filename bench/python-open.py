#!/usr/bin/python3
"""The cost of open + memoryview + release from Python, against the same through the C API,
in one run on one daemon (a bench, not a test).

    cmake --build build --target bench-python
or by hand:
    PYTHONPATH=build/python /usr/bin/python3 bench/python-open.py \\
        --daemon build/daemon/shmviewd --c-bench build/python/shmview-bench-c-open

--daemon starts a private shmviewd on a temporary socket; without it the socket comes from
--socket or the usual rule ($SHMVIEW_SOCKET, ...). The C side is bench/c-open-release.c
(built as shmview-bench-c-open), run against the same segment right after the Python side,
the two alternating for --repeats rounds.
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import shmview


def start_daemon(path):
    d = tempfile.mkdtemp(prefix="shmview-bench-")
    sock = os.path.join(d, "shmview.sock")
    proc = subprocess.Popen([path, "--socket", sock, "--log-level", "warning"])
    deadline = time.monotonic() + 10
    while True:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(sock)
            return proc, d, sock
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("shmviewd did not start")
            time.sleep(0.01)
        finally:
            s.close()


def python_round(c, name, n):
    """Mean nanoseconds per open + memoryview + release."""
    start = time.perf_counter_ns()
    for _ in range(n):
        v = c.open(name)
        m = memoryview(v)
        m.release()
        v.release()
    return (time.perf_counter_ns() - start) / n


def export_round(v, n):
    """Mean nanoseconds per memoryview + release of an open view: the binding's share."""
    start = time.perf_counter_ns()
    for _ in range(n):
        m = memoryview(v)
        m.release()
    return (time.perf_counter_ns() - start) / n


def c_round(exe, name, n):
    out = subprocess.run([exe, name, str(n)], check=True, capture_output=True, text=True)
    return float(out.stdout.split()[0])


def fmt(ns):
    return f"{ns / 1000:7.2f} us"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--daemon", help="start this shmviewd on a temporary socket")
    ap.add_argument("--socket", help="use the daemon at this socket")
    ap.add_argument("--c-bench", required=True, help="the shmview-bench-c-open binary")
    ap.add_argument("-n", "--iterations", type=int, default=20000)
    ap.add_argument("-r", "--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=65536, help="segment size in bytes")
    args = ap.parse_args()

    daemon = tmpdir = None
    if args.daemon:
        daemon, tmpdir, sock = start_daemon(args.daemon)
        os.environ["SHMVIEW_SOCKET"] = sock
    elif args.socket:
        os.environ["SHMVIEW_SOCKET"] = args.socket
    name = f"bench-open-{os.getpid()}"
    try:
        with shmview.connect() as c:
            c.create(name, args.size)
            try:
                python_round(c, name, 1000)  # warm up both sides
                c_round(args.c_bench, name, 1000)
                py, cc = [], []
                for _ in range(args.repeats):
                    py.append(python_round(c, name, args.iterations))
                    cc.append(c_round(args.c_bench, name, args.iterations))
                with c.open(name) as v:
                    exp = min(export_round(v, args.iterations) for _ in range(args.repeats))
            finally:
                c.unlink(name)
    finally:
        if daemon:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait()
            shutil.rmtree(tmpdir, ignore_errors=True)

    pm, cm = statistics.median(py), statistics.median(cc)
    print(f"open + memoryview + release of a {args.size}-byte segment, "
          f"{args.iterations} iterations x {args.repeats} rounds (median, min):")
    print(f"  C API   shmv_view_open + accessors + shmv_view_release: "
          f"{fmt(cm)}  {fmt(min(cc))}")
    print(f"  Python  Client.open + memoryview + release (both):      "
          f"{fmt(pm)}  {fmt(min(py))}")
    print(f"  Python  memoryview + release alone, view already open:  {fmt(exp)}")
    print(f"  ratio Python / C: {pm / cm:.2f} (median), {min(py) / min(cc):.2f} (min); "
          f"Python adds {(pm - cm) / 1000:.2f} us per iteration")


if __name__ == "__main__":
    sys.exit(main())

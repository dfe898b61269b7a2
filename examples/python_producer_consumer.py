#!/usr/bin/python3
"""A producer creates a segment and writes a frame into it; a consumer in another process
opens a read-only view of part of it, slices it and reads the producer's bytes with no copy.
The Python twin of producer-consumer.c.

    shmviewd --socket /tmp/shmview.sock &
    SHMVIEW_SOCKET=/tmp/shmview.sock PYTHONPATH=build/python python3 python_producer_consumer.py
"""
import multiprocessing
import os
import string
import sys

import shmview


def consumer(name, seen, rewritten):
    # A Client must not cross a fork: each process connects for itself.
    with shmview.connect() as c, c.open(name, offset=4096, length=1 << 20) as v:
        m = memoryview(v)                         # the shared pages themselves
        letters = m[0:26]                         # slicing asks the daemon nothing
        backwards = letters[::-1]
        print(f"consumer: {len(m)} bytes mapped, [0:26][::-1] = {backwards.tobytes().decode()}")
        try:
            letters[0] = ord("K")
        except TypeError as e:                    # the view is read-only, and so is the mapping
            print(f'consumer: writing gives "{e}"')
        # The producer's later writes show up in the same memoryview: no copy was made.
        seen.set()
        rewritten.wait()
        print(f"consumer: now [0:5] = {m[0:5].tobytes().decode()}")
        for x in (backwards, letters, m):
            x.release()                           # before the view's own release at with-exit


def main():
    name = f"example-frames-{os.getpid()}"
    ctx = multiprocessing.get_context("spawn")
    seen, rewritten = ctx.Event(), ctx.Event()
    with shmview.connect() as c:
        c.create(name, 8 << 20, mode=0o644)       # owner rw, others read
        try:
            with c.open(name, write=True) as w:
                frame = memoryview(w)[4096:4096 + 26]
                frame[:] = string.ascii_lowercase.encode()
                print(f"producer: wrote a frame into {name} ({w.nbytes} bytes)")
                p = ctx.Process(target=consumer, args=(name, seen, rewritten))
                p.start()
                seen.wait()
                frame[:5] = b"HELLO"
                rewritten.set()
                p.join()
                frame.release()
        finally:
            c.unlink(name)
    return p.exitcode


if __name__ == "__main__":
    sys.exit(main())

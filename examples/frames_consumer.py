#!/usr/bin/python3
"""frames-consumer.c in Python with numpy: reads frames-producer's ring of frames (frames.h)
as they are published, in place. Every array below is a window on the shared pages
(np.frombuffer over the View: no copy); View.wait() sleeps until the producer rings the
segment's doorbell.

    ./frames-producer --readers 1 &
    sudo -u nobody --preserve-env=SHMVIEW_SOCKET,PYTHONPATH python3 frames_consumer.py

Options and report as frames-consumer's: --name NAME, --timeout MS, --hold-ms N; the last
line is "frames: seen=... missed=... torn=... bad=... first=... end=... bytes=... read_ns=...
read_cpu_ns=... lat_p50_ns=... lat_p99_ns=... lat_max_ns=...". Exit status 0 when every frame taken was intact
and in order.

The seqlock checks rely on loads not passing each other, as on x86-64 (Python has no memory
fences); a frame overwritten unseen would still fail its checksum, and be reported damaged.
"""
import argparse
import sys
import time

import numpy as np

import shmview

MAGIC = 0x46564853  # "SHVF"
VERSION = 1
PAGE = 4096
MIX = 0x9E3779B97F4A7C15

# struct frames_ring, as 64-bit words: magic|version, slot_count|reserved, slot_size,
# frame_size, head, end.
HEAD, END = 4, 5
# struct frames_slot: begin, done, publish_ns, checksum.
BEGIN, DONE, PUBLISHED, CHECKSUM = 0, 1, 2, 3


def pct(sorted_values, p):
    if not sorted_values:
        return 0
    i = (len(sorted_values) * p + 99) // 100
    return sorted_values[max(i, 1) - 1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", default="frames")
    ap.add_argument("--timeout", type=int, default=5000, help="ms without a frame before giving up")
    ap.add_argument("--hold-ms", type=int, default=0, help="pretend each frame takes this long")
    args = ap.parse_args()
    timeout = args.timeout / 1000

    with shmview.connect() as c:
        c.wait(args.name, timeout=timeout)
        # All of the ring is read over and over: map every page now, not at the first read.
        with c.open(args.name, prefault=True) as v:
            return consume(v, args, timeout)


def consume(v, args, timeout):
    def wait(gen):
        try:
            return v.wait(gen, timeout=timeout)
        except TimeoutError:
            sys.exit(f"frames_consumer: nothing new for {args.timeout} ms")

    hdr32 = np.frombuffer(v, dtype="<u4", count=4)
    hdr = np.frombuffer(v, dtype="<u8", count=6)
    gen = v.generation  # before looking: a notify after this ends the wait at once
    while int(hdr32[0]) != MAGIC:
        gen = wait(gen)
    slot_count, slot_size, frame_size = int(hdr32[2]), int(hdr[2]), int(hdr[3])
    padded = (frame_size + PAGE - 1) // PAGE * PAGE
    if (int(hdr32[1]) != VERSION or slot_count == 0 or frame_size % 8 or
            slot_size != PAGE + padded or PAGE + slot_count * slot_size > v.nbytes):
        sys.exit(f"frames_consumer: {args.name} is not a ring of frames this reads")

    # One array per slot for its header words and one for its frame, all over the mapping.
    slots = [np.frombuffer(v, dtype="<u8", count=4, offset=PAGE + i * slot_size)
             for i in range(slot_count)]
    frames = [np.frombuffer(v, dtype="<u8", count=frame_size // 8,
                            offset=PAGE + i * slot_size + PAGE) for i in range(slot_count)]
    head = int(hdr[HEAD])
    first = nxt = max(head - slot_count, 0)  # the oldest frame still in the ring
    seen = missed = torn = bad = read_ns = read_cpu_ns = 0
    lat = []
    s = words = None
    while True:
        head = int(hdr[HEAD])
        if nxt == head:
            if int(hdr[END]) and int(hdr[HEAD]) == nxt:
                break
            gen = wait(gen)
            continue
        if head < nxt:
            sys.exit("frames_consumer: the ring went back in time")
        if head - nxt > slot_count:  # the producer has come round to these again
            missed += head - slot_count - nxt
            nxt = head - slot_count
        s, words = slots[nxt % slot_count], frames[nxt % slot_count]
        t0 = time.monotonic_ns()
        if int(s[DONE]) != nxt + 1:
            missed += 1
            nxt += 1
            continue
        published, want = int(s[PUBLISHED]), int(s[CHECKSUM])
        c0 = time.thread_time_ns()
        total = int(words.sum(dtype=np.uint64))  # wraps mod 2**64, as the producer's sum
        stamp = int(words[0])
        read_cpu_ns += time.thread_time_ns() - c0
        read_ns += time.monotonic_ns() - t0
        if args.hold_ms:
            time.sleep(args.hold_ms / 1000)
        if int(s[BEGIN]) != nxt + 1:  # the producer started on the slot meanwhile
            missed += 1
            torn += 1
            nxt += 1
            continue
        if total != want or stamp != nxt * MIX % 2**64:
            print(f"frames_consumer: frame {nxt} is damaged", file=sys.stderr)
            bad += 1
            nxt += 1
            continue
        seen += 1
        lat.append(max(t0 - published, 0))
        nxt += 1

    # The arrays hold the mapping: let them go before the View is released.
    del hdr32, hdr, slots, frames, words, s
    lat.sort()
    nbytes = seen * frame_size
    print(f"consumer (numpy): {seen} frames seen, {missed} missed ({torn} overwritten while "
          f"read), {bad} damaged, of frames {first} to {nxt}; read in place at "
          f"{nbytes / read_ns if read_ns else 0:.2f} GB/s; publish to read p50 "
          f"{pct(lat, 50) / 1e3:.1f} us, p99 {pct(lat, 99) / 1e3:.1f} us")
    print(f"frames: seen={seen} missed={missed} torn={torn} bad={bad} first={first} end={nxt} "
          f"bytes={nbytes} read_ns={read_ns} read_cpu_ns={read_cpu_ns} lat_p50_ns={pct(lat, 50)} "
          f"lat_p99_ns={pct(lat, 99)} lat_max_ns={lat[-1] if lat else 0}")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

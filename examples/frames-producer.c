/* A producer that streams frames through a ring of slots in one segment (the layout is in
 * frames.h) and rings the segment's doorbell on each one; frames-consumer.c and
 * frames_consumer.py read them in place, in other processes, as they are published.
 *
 *   shmviewd --socket /tmp/shmview.sock &
 *   export SHMVIEW_SOCKET=/tmp/shmview.sock
 *   ./frames-producer --readers 1 &       # waits for one consumer before the first frame
 *   sudo -u nobody --preserve-env=SHMVIEW_SOCKET ./frames-consumer
 *
 * Options: --name NAME (frames), --frames N (300), --frame-size SIZE (8M; K, M, G are
 * powers of 1024), --slots N (4), --rate FPS (60; 0: as fast as it can), --readers N (0:
 * start at once), --keep (leave the segment behind; by default it is unlinked at the end:
 * consumers keep their mapping). Prints what it published.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmview.h>

#include "frames.h"

static void fail(const char *what, int r)
{
        /* The library's or the daemon's own words when there are some: they say more. */
        const char *why = shmv_last_error_message();
        fprintf(stderr, "frames-producer: %s: %s\n", what, why ? why : shmv_strerror(r));
        exit(1);
}

static void usage(void)
{
        fprintf(stderr, "usage: frames-producer [--name NAME] [--frames N] [--frame-size SIZE] "
                        "[--slots N] [--rate FPS] [--readers N] [--keep]\n");
        exit(2);
}

/* "8M", "64K", "4096": a size in bytes, suffixes K, M, G (KiB, MiB, GiB too) in 1024s. */
static uint64_t parse_size(const char *s)
{
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        unsigned shift = 0;
        if (*end == 'K')
                shift = 10;
        else if (*end == 'M')
                shift = 20;
        else if (*end == 'G')
                shift = 30;
        if (shift)
                end += strcmp(end + 1, "iB") == 0 ? 3 : 1;
        if (errno || end == s || *end || v == 0 || v > UINT64_MAX >> shift)
                usage();
        return (uint64_t)v << shift;
}

static unsigned long parse_count(const char *s, unsigned long max)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v > max)
                usage();
        return v;
}

/* Until the segment has n read-only views open: consumers that have joined. */
static void wait_readers(shmv_client *c, const char *name, unsigned n)
{
        for (int i = 0; n > 0; i++) {
                shmv_segment_info info;
                int r = shmv_segment_stat(c, name, &info);
                if (r < 0)
                        fail("stat", r);
                if (info.views_ro >= n)
                        return;
                if (i == 3000) {
                        fprintf(stderr, "frames-producer: no %u reader(s) within 30 s\n", n);
                        exit(1);
                }
                nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
        }
}

int main(int argc, char **argv)
{
        const char *name = "frames";
        unsigned long nframes = 300, slots = 4, rate = 60, readers = 0;
        uint64_t frame_size = 8u << 20;
        int keep = 0;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (strcmp(a, "--keep") == 0) {
                        keep = 1;
                        continue;
                }
                if (!v)
                        usage();
                i++;
                if (strcmp(a, "--name") == 0)
                        name = v;
                else if (strcmp(a, "--frames") == 0)
                        nframes = parse_count(v, 1ul << 40);
                else if (strcmp(a, "--frame-size") == 0)
                        frame_size = parse_size(v);
                else if (strcmp(a, "--slots") == 0)
                        slots = parse_count(v, 1u << 16);
                else if (strcmp(a, "--rate") == 0)
                        rate = parse_count(v, 1000000);
                else if (strcmp(a, "--readers") == 0)
                        readers = parse_count(v, 1u << 16);
                else
                        usage();
        }
        if (slots == 0 || frame_size % 8 != 0)
                usage();

        shmv_client *c;
        shmv_view *w;
        int r = shmv_connect(NULL, &c);
        if (r < 0)
                fail("connect", r);
        /* Owner rw, others read: consumers of any uid may map it, only this one may write. */
        r = shmv_segment_create_open(c, name, frames_segment_size((uint32_t)slots, frame_size),
                                     0644, 0, &w);
        if (r < 0)
                fail(name, r);
        void *data;
        if ((r = shmv_view_data_mut(w, &data)) < 0)
                fail(name, r);
        char *base = data;
        struct frames_ring *ring = (struct frames_ring *)base;
        ring->version = FRAMES_VERSION;
        ring->slot_count = (uint32_t)slots;
        ring->slot_size = frames_slot_size(frame_size);
        ring->frame_size = frame_size;
        /* A consumer that mapped the segment before this point sees the magic last, and is
         * woken by the notify to look again. */
        atomic_store_explicit(&ring->magic, FRAMES_MAGIC, memory_order_release);
        if ((r = shmv_view_notify(w)) < 0)
                fail("notify", r);
        wait_readers(c, name, (unsigned)readers);

        uint64_t period = rate ? 1000000000u / rate : 0, t0 = frames_now_ns();
        struct timespec next;
        clock_gettime(CLOCK_MONOTONIC, &next);
        for (uint64_t n = 0; n < nframes; n++) {
                struct frames_slot *s =
                        (struct frames_slot *)(base + frames_slot_offset((uint32_t)slots,
                                                                         ring->slot_size, n));
                uint64_t *words = (uint64_t *)((char *)s + FRAMES_PAGE);
                /* Readers of the frame the slot held must see that it is going before any
                 * of its bytes change: a full fence after the store, as a seqlock writer. */
                atomic_store_explicit(&s->begin, n + 1, memory_order_relaxed);
                atomic_thread_fence(memory_order_seq_cst);
                s->checksum = frames_fill(words, frame_size / 8, n);
                s->publish_ns = frames_now_ns();
                atomic_store_explicit(&s->done, n + 1, memory_order_release);
                atomic_store_explicit(&ring->head, n + 1, memory_order_release);
                if ((r = shmv_view_notify(w)) < 0)
                        fail("notify", r);
                if (period) {
                        next.tv_nsec += (long)period;
                        while (next.tv_nsec >= 1000000000) {
                                next.tv_nsec -= 1000000000;
                                next.tv_sec++;
                        }
                        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) ==
                               EINTR)
                                ;
                }
        }
        double secs = (double)(frames_now_ns() - t0) / 1e9;
        atomic_store_explicit(&ring->end, 1, memory_order_release);
        if ((r = shmv_view_notify(w)) < 0)
                fail("notify", r);
        printf("producer: published %lu frames of %llu bytes through %lu slots of %s in %.2f s "
               "(%.1f frames/s), generation %llu\n",
               nframes, (unsigned long long)frame_size, slots, name, secs,
               secs > 0 ? (double)nframes / secs : 0.0,
               (unsigned long long)shmv_view_generation(w));
        /* The same for programs to read (the bench does). */
        printf("frames: published=%lu ns=%.0f\n", nframes, secs * 1e9);
        shmv_view_release(w);
        if (!keep && (r = shmv_segment_unlink(c, name)) < 0)
                fail("unlink", r);
        shmv_disconnect(c);
        return 0;
}

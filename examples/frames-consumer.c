/* A consumer of frames-producer.c's ring (frames.h): it sleeps in shmv_view_wait() until the
 * producer rings the segment's doorbell, then reads each new frame where it lies in the
 * shared pages (no copy), checks it, and at the end reports the frames it saw, the frames it
 * missed (overwritten before or while it read them) and how long after its publication each
 * frame was read. Read access is all it needs: run it as another user.
 *
 *   sudo -u nobody --preserve-env=SHMVIEW_SOCKET ./frames-consumer --name frames
 *
 * Options: --name NAME (frames), --timeout MS (5000: give up when no frame comes for that
 * long), --hold-ms N (0: pretend each frame takes N ms to process, while reading it, so that
 * a fast producer overwrites frames under it). Exit status 0 when every frame it took was
 * intact and in order, 1 otherwise. The last line sums up, as key=value pairs:
 *
 *   frames: seen=300 missed=0 torn=0 bad=0 first=0 end=300 bytes=2516582400 read_ns=...
 *           read_cpu_ns=... lat_p50_ns=... lat_p99_ns=... lat_max_ns=...
 *
 * seen + missed + bad = end - first, where first is the oldest frame still in the ring when it
 * joined (0 when it joined before the producer came round the ring);
 * torn counts the missed frames that were overwritten while being read; read_ns is the time
 * spent reading the frames seen, read_cpu_ns the CPU time of that (without the time other
 * processes had the CPU); latencies are from publication to the start of the read.
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
        fprintf(stderr, "frames-consumer: %s: %s\n", what, why ? why : shmv_strerror(r));
        exit(1);
}

static void usage(void)
{
        fprintf(stderr, "usage: frames-consumer [--name NAME] [--timeout MS] [--hold-ms N]\n");
        exit(2);
}

/* This thread's CPU time: reading time without the time other processes had the CPU. */
static uint64_t cpu_now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, size_t n, unsigned p)
{
        if (n == 0)
                return 0;
        size_t i = (n * p + 99) / 100;
        return v[i > 0 ? i - 1 : 0];
}

/* Waits for the generation to move past *gen; 0, or exits when nothing came in time. */
static void wait_change(shmv_view *v, uint64_t *gen, int timeout_ms)
{
        int r = shmv_view_wait(v, *gen, timeout_ms, gen);
        if (r == -ETIMEDOUT) {
                fprintf(stderr, "frames-consumer: nothing new for %d ms\n", timeout_ms);
                exit(1);
        }
        if (r < 0)
                fail("wait", r);
}

int main(int argc, char **argv)
{
        const char *name = "frames";
        int timeout_ms = 5000;
        long hold_ms = 0;
        for (int i = 1; i < argc; i++) {
                if (i + 1 >= argc)
                        usage();
                const char *a = argv[i], *v = argv[++i];
                char *end;
                long n = strtol(v, &end, 10);
                if (strcmp(a, "--name") == 0)
                        name = v;
                else if (strcmp(a, "--timeout") == 0 && !*end && n > 0 && n < 1 << 30)
                        timeout_ms = (int)n;
                else if (strcmp(a, "--hold-ms") == 0 && !*end && n >= 0 && n < 100000)
                        hold_ms = n;
                else
                        usage();
        }

        shmv_client *c;
        shmv_view *v;
        int r = shmv_connect(NULL, &c);
        if (r < 0)
                fail("connect", r);
        if ((r = shmv_segment_wait(c, name, SHMV_WAIT_EXISTS, timeout_ms)) < 0)
                fail(name, r);
        /* All of the ring is read over and over: map every page now (SHMV_PREFAULT) rather
         * than take a page fault on the first read of each. */
        if ((r = shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_PREFAULT, &v)) < 0)
                fail(name, r);
        const char *base = shmv_view_data(v);
        const struct frames_ring *ring = (const struct frames_ring *)base;

        /* The generation first, then the state: a notify in between makes the wait return at
         * once, so no publication is slept through. */
        uint64_t gen = shmv_view_generation(v);
        while (atomic_load_explicit(&ring->magic, memory_order_acquire) != FRAMES_MAGIC)
                wait_change(v, &gen, timeout_ms);
        /* Only the producer can change the header, but a broken one should not make this read
         * past the mapping: the layout is taken once, then checked. */
        const uint32_t slot_count = ring->slot_count;
        const uint64_t slot_size = ring->slot_size, frame_size = ring->frame_size;
        if (ring->version != FRAMES_VERSION || slot_count == 0 || frame_size % 8 != 0 ||
            frame_size > shmv_view_nbytes(v) || slot_size != frames_slot_size(frame_size) ||
            frames_segment_size(slot_count, frame_size) > shmv_view_nbytes(v)) {
                fprintf(stderr, "frames-consumer: %s is not a ring of frames this reads\n", name);
                return 1;
        }
        size_t nwords = frame_size / 8;
        /* From the oldest frame still in the ring: all of them when it joins before the
         * producer has come round. */
        uint64_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
        uint64_t first = head > slot_count ? head - slot_count : 0, next = first;
        uint64_t seen = 0, missed = 0, torn = 0, bad = 0, read_ns = 0, read_cpu_ns = 0;
        size_t cap = 1024;
        uint64_t *lat = malloc(cap * sizeof(*lat));
        if (!lat)
                fail("malloc", -ENOMEM);

        for (;;) {
                head = atomic_load_explicit(&ring->head, memory_order_acquire);
                if (next == head) {
                        if (atomic_load_explicit(&ring->end, memory_order_acquire) &&
                            atomic_load_explicit(&ring->head, memory_order_acquire) == next)
                                break;
                        wait_change(v, &gen, timeout_ms);
                        continue;
                }
                if (head < next) {
                        fprintf(stderr, "frames-consumer: the ring went back in time\n");
                        return 1;
                }
                /* Frames the producer has come round to again are gone. */
                if (head - next > slot_count) {
                        missed += head - slot_count - next;
                        next = head - slot_count;
                }
                const struct frames_slot *s =
                        (const struct frames_slot *)(base + frames_slot_offset(slot_count,
                                                                               slot_size, next));
                const uint64_t *words = (const uint64_t *)((const char *)s + FRAMES_PAGE);
                uint64_t t0 = frames_now_ns();
                if (atomic_load_explicit(&s->done, memory_order_acquire) != next + 1) {
                        missed++;
                        next++;
                        continue;
                }
                uint64_t published = s->publish_ns, want = s->checksum;
                uint64_t c0 = cpu_now_ns();
                uint64_t sum = frames_sum(words, nwords);
                uint64_t stamp = words[0];
                read_cpu_ns += cpu_now_ns() - c0;
                read_ns += frames_now_ns() - t0;
                if (hold_ms)
                        nanosleep(&(struct timespec){hold_ms / 1000, hold_ms % 1000 * 1000000},
                                  NULL);
                /* Whatever was read above is only good if the producer did not start on the
                 * slot meanwhile: the loads before the check, then the check. */
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&s->begin, memory_order_relaxed) != next + 1) {
                        missed++;
                        torn++;
                        next++;
                        continue;
                }
                if (sum != want || stamp != next * FRAMES_MIX) {
                        fprintf(stderr, "frames-consumer: frame %llu is damaged\n",
                                (unsigned long long)next);
                        bad++;
                        next++;
                        continue;
                }
                if (seen == cap) {
                        uint64_t *more = realloc(lat, 2 * cap * sizeof(*lat));
                        if (!more)
                                fail("realloc", -ENOMEM);
                        lat = more;
                        cap *= 2;
                }
                lat[seen++] = t0 > published ? t0 - published : 0;
                next++;
        }

        qsort(lat, seen, sizeof(*lat), cmp_u64);
        uint64_t bytes = seen * frame_size;
        printf("consumer: %llu frames seen, %llu missed (%llu overwritten while read), "
               "%llu damaged, of frames %llu to %llu; read in place at %.2f GB/s; "
               "publish to read p50 %.1f us, p99 %.1f us\n",
               (unsigned long long)seen, (unsigned long long)missed, (unsigned long long)torn,
               (unsigned long long)bad, (unsigned long long)first, (unsigned long long)next,
               read_ns ? (double)bytes / (double)read_ns : 0.0, (double)pct(lat, seen, 50) / 1e3,
               (double)pct(lat, seen, 99) / 1e3);
        printf("frames: seen=%llu missed=%llu torn=%llu bad=%llu first=%llu end=%llu bytes=%llu "
               "read_ns=%llu read_cpu_ns=%llu lat_p50_ns=%llu lat_p99_ns=%llu lat_max_ns=%llu\n",
               (unsigned long long)seen, (unsigned long long)missed, (unsigned long long)torn,
               (unsigned long long)bad, (unsigned long long)first, (unsigned long long)next,
               (unsigned long long)bytes, (unsigned long long)read_ns,
               (unsigned long long)read_cpu_ns, (unsigned long long)pct(lat, seen, 50),
               (unsigned long long)pct(lat, seen, 99),
               (unsigned long long)(seen ? lat[seen - 1] : 0));
        free(lat);
        shmv_view_release(v);
        shmv_disconnect(c);
        return bad == 0 ? 0 : 1;
}

/* The ring of frames shared by frames-producer.c and frames-consumer.c (and read by
 * frames_consumer.py): one segment, a header page, then slot_count slots, each a page of slot
 * header followed by the frame's bytes, page-aligned.
 *
 *   offset 0                     struct frames_ring
 *   FRAMES_PAGE + i * slot_size  struct frames_slot of slot i
 *   ... + FRAMES_PAGE            frame_size bytes of the frame in slot i
 *
 * Frame n (from 0) goes into slot n % slot_count. The producer writes a frame as a seqlock
 * writer: slot.begin = n + 1, the bytes, slot.done = n + 1, then ring.head = n + 1 and one
 * shmv_view_notify(). A reader of frame n checks slot.done == n + 1 before reading the bytes
 * in place and slot.begin == n + 1 after: any other value means the producer has come round
 * the ring and overwritten the slot, before or while it was read (the frame is missed, never
 * taken torn). Each frame's bytes are 64-bit words w[i] = n * FRAMES_MIX + i, and the slot
 * holds their sum (mod 2^64), which any mixture of two frames gets wrong: the consumer checks
 * it, so a torn frame that slipped past the seqlock would be caught too.
 *
 * Every field is little-endian (the machine's order: the example runs where shmview runs,
 * x86-64 and arm64 Linux). */
#ifndef SHMVIEW_EXAMPLE_FRAMES_H
#define SHMVIEW_EXAMPLE_FRAMES_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define FRAMES_MAGIC UINT32_C(0x46564853) /* "SHVF" in memory: the header is written */
#define FRAMES_VERSION 1u
#define FRAMES_PAGE 4096u
#define FRAMES_MIX UINT64_C(0x9e3779b97f4a7c15)

struct frames_ring {
        _Atomic uint32_t magic; /* FRAMES_MAGIC once the fields below are set */
        uint32_t version; /* FRAMES_VERSION */
        uint32_t slot_count;
        uint32_t reserved;
        uint64_t slot_size; /* FRAMES_PAGE + frame_size rounded up to a page */
        uint64_t frame_size; /* bytes in each frame, a multiple of 8 */
        _Atomic uint64_t head; /* frames published: frame n is readable once head > n */
        _Atomic uint64_t end; /* nonzero once the producer is done (head is then final) */
};

struct frames_slot {
        _Atomic uint64_t begin; /* 1 + the frame being written into the slot */
        _Atomic uint64_t done; /* 1 + the frame whose bytes the slot holds in full */
        uint64_t publish_ns; /* CLOCK_MONOTONIC when it was published */
        uint64_t checksum; /* sum of the frame's 64-bit words */
};

static inline uint64_t frames_slot_size(uint64_t frame_size)
{
        return FRAMES_PAGE + (frame_size + FRAMES_PAGE - 1) / FRAMES_PAGE * FRAMES_PAGE;
}

static inline uint64_t frames_segment_size(uint32_t slot_count, uint64_t frame_size)
{
        return FRAMES_PAGE + (uint64_t)slot_count * frames_slot_size(frame_size);
}

static inline uint64_t frames_slot_offset(uint32_t slot_count, uint64_t slot_size, uint64_t frame)
{
        return FRAMES_PAGE + frame % slot_count * slot_size;
}

static inline uint64_t frames_now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Fills a frame's words for frame n and returns their sum. */
static inline uint64_t frames_fill(uint64_t *w, size_t nwords, uint64_t n)
{
        uint64_t base = n * FRAMES_MIX, sum = 0;
        for (size_t i = 0; i < nwords; i++) {
                w[i] = base + i;
                sum += base + i;
        }
        return sum;
}

/* The sum of a frame's words, read where they are. */
static inline uint64_t frames_sum(const uint64_t *w, size_t nwords)
{
        /* Four sums, so that the loop is not one long chain of additions. */
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        size_t i = 0;
        for (; i + 4 <= nwords; i += 4) {
                s0 += w[i];
                s1 += w[i + 1];
                s2 += w[i + 2];
                s3 += w[i + 3];
        }
        for (; i < nwords; i++)
                s0 += w[i];
        return s0 + s1 + s2 + s3;
}

#endif

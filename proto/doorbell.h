/* The doorbell page of a segment (docs/protocol.md, "The doorbell"), shared by the daemon and
 * the library. Every segment's memfd holds one page more than the segment's bytes, at the
 * segment's size rounded up to whole pages: a writable view's descriptor maps it read-write,
 * a read-only one read-only, and F_SEAL_WRITE freezes it with the rest, so the kernel lets
 * only those who may write the bytes change the generation. Internal: never installed. */
#ifndef SHMVIEW_DOORBELL_H
#define SHMVIEW_DOORBELL_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct shmv__doorbell {
        /* Starts at 0 and only grows: a notify adds one (seq_cst), so does a seal. Its low 32
         * bits are the futex word (shmv__doorbell_word). */
        _Atomic uint64_t generation;
        /* Nonzero while some client may wait: a notify then FUTEX_WAKEs. Only the daemon
         * writes it (the doorbell_arm request, a view's release, a reattach). */
        _Atomic uint32_t armed;
        /* Set by the daemon just before it seals the segment (and cleared again when the
         * seal fails): nothing will change after. A hint: the library asks the daemon before
         * it says "sealed". */
        _Atomic uint32_t sealed;
};

/* Where the doorbell page starts in a segment of size bytes: at size rounded up to whole
 * pages of page bytes. size must leave room for two more pages below INT64_MAX. */
static inline uint64_t shmv__doorbell_offset(uint64_t size, uint64_t page)
{
        return (size + page - 1) & ~(page - 1);
}

/* The size of the memfd of a segment of size bytes: its pages and the doorbell page. */
static inline uint64_t shmv__doorbell_memfd_size(uint64_t size, uint64_t page)
{
        return shmv__doorbell_offset(size, page) + page;
}

/* The futex word: the low 32 bits of the generation. */
static inline uint32_t *shmv__doorbell_word(struct shmv__doorbell *d)
{
        /* The futex system call reads the word as a plain uint32_t. */
        uint32_t *w = (uint32_t *)(uintptr_t)&d->generation;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w++;
#endif
        return w;
}

/* Wakes every waiter. Not FUTEX_PRIVATE_FLAG: the page is shared between processes, and a
 * read-only mapping of it is enough to wake. */
static inline void shmv__doorbell_futex_wake(struct shmv__doorbell *d)
{
        (void)syscall(SYS_futex, shmv__doorbell_word(d), FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Sleeps while the futex word is (uint32_t)seen, until deadline (CLOCK_MONOTONIC, absolute;
 * NULL: none). 0 when woken, else -errno: -EAGAIN (the word differs), -ETIMEDOUT, -EINTR. */
static inline int shmv__doorbell_futex_wait(struct shmv__doorbell *d, uint64_t seen,
                                            const struct timespec *deadline)
{
        long r = syscall(SYS_futex, shmv__doorbell_word(d), FUTEX_WAIT_BITSET, (uint32_t)seen,
                         deadline, NULL, FUTEX_BITSET_MATCH_ANY);
        return r < 0 ? -errno : 0;
}

#endif

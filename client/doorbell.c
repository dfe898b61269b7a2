/* libshmview: the change doorbell of a segment (docs/protocol.md, "The doorbell"). Notify and
 * generation are a few instructions on the doorbell page the view maps, with a FUTEX_WAKE
 * only when some client may wait; a wait sleeps on the page's futex word and talks to the
 * daemon only to arm the doorbell, once per view (under the client's lock, as every call), or
 * to ask whether a segment whose sealed word is set is sealed indeed. */
#include <errno.h>

#include "clock.h"
#include "private.h"

/* A wait sleeps at most this long before it looks at the generation again, whatever its
 * deadline: what it would otherwise miss for good (a read-only holder that moved the
 * doorbell's sleepers to another futex word with FUTEX_CMP_REQUEUE, a generation grown by
 * exactly 2^32 between a look and the sleep, a wake-up lost with a view released by
 * shmv_disconnect()) is then seen within a second (docs/security.md). */
#define WAIT_SLICE_MS 1000

static int no_doorbell(const shmv_view *v)
{
        return shmv__error_setf(-ENOTSUP,
                                "segment %s has no doorbell (it was kept from a daemon before "
                                "doorbells)",
                                shmv_view_name(v));
}

static int sealed(const shmv_view *v)
{
        return shmv__error_setf(-EROFS,
                                "segment %s is sealed: its generation will not change again",
                                shmv_view_name(v));
}

int shmv_view_notify(shmv_view *v)
{
        if (!v)
                return -EINVAL;
        if (shmv_view_readonly(v))
                return shmv__error_setf(-EROFS,
                                        "the view of %s is read-only: only a writable view "
                                        "notifies",
                                        shmv_view_name(v));
        struct shmv__doorbell *d = shmv__view_doorbell(v);
        if (!d)
                return no_doorbell(v);
        /* seq_cst, both: the increment is ordered before the look at armed, which a waiter's
         * arming (the daemon's store, then the waiter's look at the generation) mirrors. */
        atomic_fetch_add(&d->generation, 1);
        if (atomic_load(&d->armed))
                shmv__doorbell_futex_wake(d);
        return 0;
}

uint64_t shmv_view_generation(const shmv_view *v)
{
        struct shmv__doorbell *d = v ? shmv__view_doorbell(v) : NULL;
        return d ? atomic_load_explicit(&d->generation, memory_order_acquire) : 0;
}

/* Asks the daemon to arm v's doorbell (again), and keeps what it says. */
static int arm_ask(shmv__mapping *m)
{
        int r = shmv__client_doorbell_arm(m->client, m);
        if (r == 0)
                atomic_store(&m->armed, true);
        else if (r == -EROFS)
                atomic_store(&m->sealed, true);
        return r;
}

int shmv__view_doorbell_arm(shmv_view *v)
{
        shmv__mapping *m = shmv__view_mapping(v);
        if (!m->doorbell)
                return no_doorbell(v);
        if (atomic_load(&m->sealed))
                return sealed(v);
        if (atomic_load(&m->armed))
                return 0;
        return arm_ask(m);
}

int shmv_view_wait(shmv_view *v, uint64_t seen, int timeout_ms, uint64_t *ret_generation)
{
        shmv__error_clear();
        if (!v)
                return -EINVAL;
        struct shmv__doorbell *d = shmv__view_doorbell(v);
        if (!d)
                return no_doorbell(v);
        shmv__mapping *m = shmv__view_mapping(v);
        uint64_t deadline = timeout_ms < 0 ? 0 : shmv__mono_nsec() + timeout_ms * 1000000ull;
        for (;;) {
                uint64_t gen = atomic_load(&d->generation);
                if (gen != seen) {
                        if (ret_generation)
                                *ret_generation = gen;
                        return 0;
                }
                if (atomic_load(&m->sealed))
                        return sealed(v);
                /* The sealed word is set just before a seal: whether the seal took, only the
                 * daemon knows (a failed one clears the word again). Asked each time the
                 * wait finds it set and nothing changed; a seal still in progress is answered
                 * as armed, and its end wakes this wait again. */
                if (atomic_load(&d->sealed)) {
                        int r = arm_ask(m);
                        if (r == -EROFS) {
                                /* The seal's own change may have come meanwhile. */
                                gen = atomic_load(&d->generation);
                                if (gen != seen) {
                                        shmv__error_clear();
                                        if (ret_generation)
                                                *ret_generation = gen;
                                        return 0;
                                }
                                return r;
                        }
                        if (r < 0)
                                return r;
                }
                uint64_t now = shmv__mono_nsec();
                if (timeout_ms >= 0 && now >= deadline)
                        return shmv__error_setf(-ETIMEDOUT,
                                                "the generation of %s did not change within %d ms",
                                                shmv_view_name(v), timeout_ms);
                if (!atomic_load(&m->armed)) {
                        int r = arm_ask(m);
                        if (r < 0 && r != -EROFS)
                                return r;
                        /* Armed (or sealed) now: look at the generation again, after the
                         * daemon's store of the armed word (the reply came after it). */
                        continue;
                }
                uint64_t until = now + WAIT_SLICE_MS * 1000000ull;
                if (timeout_ms >= 0 && deadline < until)
                        until = deadline;
                struct timespec until_ts = shmv__mono_timespec(until);
                /* The futex compares its word with seen's low 32 bits under the kernel's
                 * lock, so a notify after the look above is either seen there or wakes it:
                 * the notifier's increment comes before its look at armed, set before. */
                int r = shmv__doorbell_futex_wait(d, seen, &until_ts);
                if (r < 0 && r != -EAGAIN && r != -ETIMEDOUT && r != -EINTR)
                        return shmv__error_setf(r, "waiting on the doorbell of %s",
                                                shmv_view_name(v));
        }
}

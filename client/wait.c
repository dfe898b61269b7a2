/* libshmview: waiting for a segment. A wait is a request the daemon answers once its
 * condition holds, so it runs on a connection of its own (shmv__client_wait_conn), never
 * holding the client's: other threads' calls go on meanwhile. It is asked a slice at a time
 * (SHMV__WAIT_SLICE_MS), each slice with a deadline the daemon keeps, so that a daemon that stops
 * answering is found out within a slice plus the client's timeout even when the caller waits
 * without a deadline. The conditions are states, not events, so asking again loses nothing. */
#include <errno.h>

#include "clock.h"
#include "private.h"

int shmv_segment_wait(shmv_client *c, const char *name, int what, int timeout_ms)
{
        shmv__error_clear();
        if (!c)
                return -EINVAL;
        if (what <= 0 || (what & ~(SHMV_WAIT_EXISTS | SHMV_WAIT_SEALED)))
                return shmv__error_setf(
                        -EINVAL, "what %d: SHMV_WAIT_EXISTS, SHMV_WAIT_SEALED or both", what);
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__WaitRequest body = SHMVIEW__WAIT_REQUEST__INIT;
        int r = shmv__name_field(&body.name, name);
        if (r < 0)
                return r;
        body.what = (what & SHMV_WAIT_SEALED) ? 2 : 1;
        req.body_case = SHMVIEW__REQUEST__BODY_WAIT;
        req.wait = &body;

        /* The deadline counts from the call, a first wait's connect included, in microseconds:
         * whole milliseconds of a truncated clock would end a wait up to one early. */
        int64_t deadline = timeout_ms < 0 ? -1 : (int64_t)shmv__mono_usec() + timeout_ms * 1000LL;
        shmv_client *w;
        r = shmv__client_wait_conn(c, &w);
        if (r < 0)
                return r;
        int call_timeout = shmv__client_timeout(c);
        for (;;) {
                int slice = SHMV__WAIT_SLICE_MS;
                if (deadline >= 0) {
                        /* Rounded up: the daemon's answer must not come before it. */
                        int64_t left = (deadline - (int64_t)shmv__mono_usec() + 999) / 1000;
                        slice = left <= 0                    ? 0
                                : left < SHMV__WAIT_SLICE_MS ? (int)left
                                                             : SHMV__WAIT_SLICE_MS;
                }
                body.timeout_ms = slice;
                /* The reply may take the whole slice, then as long as any reply may. */
                (void)shmv_set_timeout(w, call_timeout < 0 ? -1 : slice + call_timeout);
                shmv__reply reply;
                int64_t asked = shmv__mono_ms();
                r = shmv__client_call(w, &req, &reply);
                if (r == 0) {
                        shmv__reply_free(&reply);
                        shmv__error_clear(); /* an earlier slice's ETIMEDOUT set it */
                        break;
                }
                /* The daemon's ETIMEDOUT leaves the connection up; a silent daemon's drops
                 * it, and ends the wait. */
                if (r != -ETIMEDOUT || shmv__client_fd(w) < 0 ||
                    (deadline >= 0 && (int64_t)shmv__mono_usec() >= deadline))
                        break;
                /* A slice the daemon says ended long before it could have: whatever answers
                 * would have the library ask again and again. */
                if (shmv__mono_ms() - asked < slice / 2) {
                        r = -EPROTO;
                        break;
                }
        }
        shmv__client_wait_conn_put(c, w);
        return r;
}

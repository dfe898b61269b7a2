/* Waiting for a segment (shmv_segment_wait) against a real daemon: at once, across processes
 * and uids, deadlines, a name removed and created again, threads sharing a client, the
 * client's timeout, a daemon that stops answering, the bounds, and waiters that go. */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "raw.h"

static void test_wait_args(void)
{
        shmv_client *c = th_connect();
        CHECK_RC(shmv_segment_wait(NULL, "x", SHMV_WAIT_EXISTS, 0), -EINVAL);
        CHECK_RC(shmv_segment_wait(c, "a/b", SHMV_WAIT_EXISTS, 0), -EINVAL);
        CHECK_RC(shmv_segment_wait(c, "x", 0, 0), -EINVAL);
        CHECK_RC(shmv_segment_wait(c, "x", 4, 0), -EINVAL);
        shmv_disconnect(c);
}

static void test_wait_at_once(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("now"));
        int64_t t0 = th_now_ms();
        CHECK_RC(shmv_segment_wait(c, name, SHMV_WAIT_EXISTS, 0), -ETIMEDOUT);
        CHECK(shmv_last_error_message() != NULL);
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        CHECK_OK(shmv_segment_wait(c, name, SHMV_WAIT_EXISTS, 0));
        CHECK_NULL(shmv_last_error_message());
        CHECK_OK(shmv_segment_wait(c, name, SHMV_WAIT_EXISTS, -1));
        CHECK_RC(shmv_segment_wait(c, name, SHMV_WAIT_SEALED, 0), -ETIMEDOUT);
        CHECK_OK(shmv_segment_seal(c, name));
        CHECK_OK(shmv_segment_wait(c, name, SHMV_WAIT_SEALED, 0));
        CHECK_OK(shmv_segment_wait(c, name, SHMV_WAIT_EXISTS | SHMV_WAIT_SEALED, 1000));
        CHECK_LT(th_now_ms() - t0, 1000);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* The deadline is kept within a few milliseconds, whatever the client's own timeout. */
static void test_wait_deadline(void)
{
        shmv_client *c = th_connect();
        CHECK_OK(shmv_set_timeout(c, 100));
        const char *name = th_name("never");
        /* The first wait makes the wait connection (a connect and a hello, slow under the
         * sanitizers): what is measured below is the wait itself. */
        CHECK_RC(shmv_segment_wait(c, name, SHMV_WAIT_EXISTS, 0), -ETIMEDOUT);
        int deadlines[] = {1, 50, 300, 1200};
        for (size_t i = 0; i < sizeof(deadlines) / sizeof(deadlines[0]); i++) {
                int64_t t0 = th_now_ms();
                CHECK_RC(shmv_segment_wait(c, name, SHMV_WAIT_EXISTS, deadlines[i]), -ETIMEDOUT);
                int64_t took = th_now_ms() - t0;
                CHECK_GE(took, deadlines[i]);
                CHECK_LE(took, deadlines[i] + 40);
        }
        shmv_disconnect(c);
}

struct creator {
        char name[64];
        int delay_ms;
        bool seal;
};

static void create_later(void *arg)
{
        struct creator *cr = arg;
        th_become(65534, 65534);
        shmv_client *c = th_connect();
        th_sleep_ms(cr->delay_ms);
        CHECK_OK(shmv_segment_create(c, cr->name, 4096, 0644));
        if (cr->seal)
                CHECK_OK(shmv_segment_seal(c, cr->name));
        shmv_disconnect(c);
}

/* Another process, of another uid, creates (and seals) the segment: the waiter wakes at once. */
static void test_wait_other_uid(void)
{
        for (int seal = 0; seal <= 1; seal++) {
                struct creator cr = {.delay_ms = 200, .seal = seal};
                snprintf(cr.name, sizeof(cr.name), "%s", th_name("other"));
                shmv_client *c = th_connect();
                pid_t child = fork();
                CHECK_GE(child, 0);
                if (child == 0) {
                        create_later(&cr);
                        _exit(0);
                }
                int64_t t0 = th_now_ms();
                CHECK_OK(shmv_segment_wait(c, cr.name, seal ? SHMV_WAIT_SEALED : SHMV_WAIT_EXISTS,
                                           10000));
                int64_t took = th_now_ms() - t0;
                CHECK_GE(took, 150);
                CHECK_LT(took, 2000);
                shmv_segment_info info;
                CHECK_OK(shmv_segment_stat(c, cr.name, &info));
                CHECK_EQ(info.uid, 65534);
                CHECK_EQ(info.sealed, seal);
                int status;
                CHECK_EQ(waitpid(child, &status, 0), child);
                CHECK_EQ(status, 0);
                CHECK_OK(shmv_segment_unlink(c, cr.name));
                shmv_disconnect(c);
        }
}

struct waiting {
        shmv_client *c;
        const char *name;
        int what;
        int timeout_ms;
        int r;
        int64_t done_ms;
};

static void *wait_thread(void *arg)
{
        struct waiting *w = arg;
        w->r = shmv_segment_wait(w->c, w->name, w->what, w->timeout_ms);
        w->done_ms = th_now_ms();
        return NULL;
}

/* A wait for the seal goes on when the segment is removed and created again unsealed. */
static void test_wait_sealed_across_recreate(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("again"));
        struct waiting w = {.c = c, .name = name, .what = SHMV_WAIT_SEALED, .timeout_ms = -1};
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, wait_thread, &w), 0);
        th_sleep_ms(50);
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        CHECK_OK(shmv_segment_unlink(c, name));
        CHECK_OK(shmv_segment_create(c, name, 8192, 0));
        th_sleep_ms(100);
        CHECK_EQ(w.done_ms, 0); /* still waiting */
        int64_t sealed_at = th_now_ms();
        CHECK_OK(shmv_segment_seal(c, name));
        CHECK_EQ(pthread_join(t, NULL), 0);
        CHECK_OK(w.r);
        /* Woken by the seal, not by the next 5 s slice asking again (a seal runs on the
         * daemon's threadpool, slow under a sanitizer on a busy machine). */
        CHECK_LT(w.done_ms - sealed_at, 1000);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* Threads sharing a client: a long wait holds up no other call, and many wait at once. */
static void test_wait_threads(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("threads"));
        enum { N = 4 };
        struct waiting w[N];
        pthread_t t[N];
        for (int i = 0; i < N; i++) {
                w[i] = (struct waiting){
                        .c = c, .name = name, .what = SHMV_WAIT_EXISTS, .timeout_ms = 20000};
                CHECK_EQ(pthread_create(&t[i], NULL, wait_thread, &w[i]), 0);
        }
        /* Meanwhile the client answers at once. */
        shmv_daemon_info st;
        for (int tries = 0;; tries++) {
                int64_t t0 = th_now_ms();
                CHECK_OK(shmv_daemon_status(c, &st));
                CHECK_LT(th_now_ms() - t0, 1000); /* not held behind the 20 s waits */
                if (st.waits == N)
                        break;
                CHECK_LT(tries, 500);
                th_sleep_ms(10);
        }
        shmv_client_info *clients;
        size_t n;
        CHECK_OK(shmv_client_list(c, &clients, &n));
        unsigned waits = 0;
        for (size_t i = 0; i < n; i++)
                waits += clients[i].waits;
        shmv_client_list_free(clients);
        CHECK_EQ(waits, N);
        int64_t created_at = th_now_ms();
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        for (int i = 0; i < N; i++) {
                CHECK_EQ(pthread_join(t[i], NULL), 0);
                CHECK_OK(w[i].r);
                CHECK_LT(w[i].done_ms - created_at, 1000); /* woken, not a slice later */
        }
        CHECK_OK(shmv_daemon_status(c, &st));
        CHECK_EQ(st.waits, 0);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* A wait longer than the client's timeout, through several of the library's slices. */
static void test_wait_longer_than_timeout(void)
{
        shmv_client *c = th_connect();
        CHECK_OK(shmv_set_timeout(c, 100));
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("long"));
        struct waiting w = {.c = c, .name = name, .what = SHMV_WAIT_EXISTS, .timeout_ms = -1};
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, wait_thread, &w), 0);
        th_sleep_ms(5600); /* past one slice (5 s) */
        CHECK_EQ(w.done_ms, 0);
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        CHECK_EQ(pthread_join(t, NULL), 0);
        CHECK_OK(w.r);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* A daemon that stops answering ends a wait with an error, with or without a deadline. */
static void test_wait_daemon_hung(void)
{
        shmv_client *c = th_connect();
        CHECK_OK(shmv_set_timeout(c, 200));
        const char *name = th_name("hung");
        /* The wait connection is made before the daemon stops. */
        CHECK_RC(shmv_segment_wait(c, name, SHMV_WAIT_EXISTS, 0), -ETIMEDOUT);
        CHECK_EQ(kill(th_daemon_pid(), SIGSTOP), 0);
        /* Without a deadline, on the connection made: at the end of the first slice (5 s)
         * plus the client's timeout. */
        int64_t t0 = th_now_ms();
        int r2 = shmv_segment_wait(c, name, SHMV_WAIT_EXISTS, -1);
        int64_t took2 = th_now_ms() - t0;
        /* With one, on a new connection the daemon never greets. */
        t0 = th_now_ms();
        int r = shmv_segment_wait(c, name, SHMV_WAIT_EXISTS, 300);
        int64_t took = th_now_ms() - t0;
        CHECK_EQ(kill(th_daemon_pid(), SIGCONT), 0);
        CHECK_RC(r, -ETIMEDOUT);
        CHECK_LT(took, 1000);
        CHECK_RC(r2, -ETIMEDOUT);
        CHECK_GE(took2, 5000);
        CHECK_LT(took2, 6500);
        shmv_disconnect(c);
}

/* A waiter whose process dies is forgotten. */
static void test_wait_waiter_dies(void)
{
        shmv_client *c = th_connect();
        const char *name = th_name("dies");
        pid_t child = fork();
        CHECK_GE(child, 0);
        if (child == 0) {
                shmv_client *c2 = th_connect();
                (void)shmv_segment_wait(c2, name, SHMV_WAIT_SEALED, -1);
                _exit(1);
        }
        shmv_daemon_info st;
        for (int tries = 0;; tries++) {
                CHECK_OK(shmv_daemon_status(c, &st));
                if (st.waits == 1)
                        break;
                CHECK_LT(tries, 500);
                th_sleep_ms(10);
        }
        CHECK_EQ(kill(child, SIGKILL), 0);
        CHECK_EQ(waitpid(child, NULL, 0), child);
        for (int tries = 0;; tries++) {
                CHECK_OK(shmv_daemon_status(c, &st));
                if (st.waits == 0)
                        break;
                CHECK_LT(tries, 500);
                th_sleep_ms(10);
        }
        shmv_disconnect(c);
}

static uint64_t raw_wait(th_raw *r, const char *name, uint32_t what, int32_t timeout_ms)
{
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__WaitRequest body = SHMVIEW__WAIT_REQUEST__INIT;
        body.name.data = (uint8_t *)(uintptr_t)name;
        body.name.len = strlen(name);
        body.what = what;
        body.timeout_ms = timeout_ms;
        req.body_case = SHMVIEW__REQUEST__BODY_WAIT;
        req.wait = &body;
        return th_raw_send(r, &req);
}

/* One connection may have SHMV__WAITS_PER_CONN (64) waits pending, as uid 65534; they are
 * answered out of order, other requests meanwhile; a bad `what` is EINVAL. */
static void per_conn_bound(void *arg)
{
        (void)arg;
        th_become(65534, 65534);
        th_raw r;
        th_raw_connect_hello(&r);
        uint64_t first = 0;
        for (int i = 0; i < 64; i++) {
                uint64_t id = raw_wait(&r, th_name("bound"), 1, -1);
                if (i == 0)
                        first = id;
        }
        raw_wait(&r, "one-too-many", 1, -1);
        Shmview__Response *resp = th_raw_recv(&r, NULL);
        CHECK(resp != NULL);
        CHECK_EQ(resp->status, EUSERS);
        shmview__response__free_unpacked(resp, NULL);
        raw_wait(&r, "x", 3, 10);
        resp = th_raw_recv(&r, NULL);
        CHECK_EQ(resp->status, EINVAL);
        shmview__response__free_unpacked(resp, NULL);
        /* A deadline answers its own wait while others still wait. */
        uint64_t id = raw_wait(&r, "short", 2, 20);
        (void)first;
        resp = th_raw_recv(&r, NULL);
        CHECK_EQ(resp->id, id);
        CHECK_EQ(resp->status, EUSERS); /* still 64 pending: the 65th is refused */
        shmview__response__free_unpacked(resp, NULL);
        th_raw_close(&r);
}

static void test_wait_bounds(void)
{
        CHECK_EQ(th_in_child(per_conn_bound, NULL), 0);
        /* The daemon forgot them all with the connection. */
        shmv_client *c = th_connect();
        shmv_daemon_info st;
        for (int tries = 0;; tries++) {
                CHECK_OK(shmv_daemon_status(c, &st));
                if (st.waits == 0)
                        break;
                CHECK_LT(tries, 500);
                th_sleep_ms(10);
        }
        shmv_disconnect(c);
}

/* Answers out of order: a short wait's reply comes before an earlier long one's, and a stat
 * sent after both is answered before either. */
static void test_wait_out_of_order(void)
{
        th_raw r;
        th_raw_connect_hello(&r);
        const char *name = th_name("ooo");
        uint64_t long_id = raw_wait(&r, name, 1, 5000);
        uint64_t short_id = raw_wait(&r, name, 1, 50);
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__StatusRequest sb = SHMVIEW__STATUS_REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_DAEMON_STATUS;
        req.daemon_status = &sb;
        uint64_t st_id = th_raw_send(&r, &req);
        Shmview__Response *resp = th_raw_recv(&r, NULL);
        CHECK_EQ(resp->id, st_id);
        CHECK_EQ(resp->daemon_status->waits, 2);
        shmview__response__free_unpacked(resp, NULL);
        resp = th_raw_recv(&r, NULL);
        CHECK_EQ(resp->id, short_id);
        CHECK_EQ(resp->status, ETIMEDOUT);
        shmview__response__free_unpacked(resp, NULL);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        resp = th_raw_recv(&r, NULL);
        CHECK_EQ(resp->id, long_id);
        CHECK_EQ(resp->status, 0);
        shmview__response__free_unpacked(resp, NULL);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
        th_raw_close(&r);
}

static const th_test tests[] = {
        TH_TEST(test_wait_args),
        TH_TEST(test_wait_at_once),
        TH_TEST(test_wait_deadline),
        TH_TEST(test_wait_other_uid),
        TH_TEST(test_wait_sealed_across_recreate),
        TH_TEST(test_wait_threads),
        TH_TEST(test_wait_longer_than_timeout),
        TH_TEST(test_wait_daemon_hung),
        TH_TEST(test_wait_waiter_dies),
        TH_TEST(test_wait_bounds),
        TH_TEST(test_wait_out_of_order),
};

int main(int argc, char **argv)
{
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), NULL);
}

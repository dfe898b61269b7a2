/* Inspection and watching against a real daemon: the views of a segment with their holders,
 * the connected clients, the daemon's status, watch events from other processes, and the
 * bound on a watcher that does not read. */
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "raw.h"

#define MiB (1024ull * 1024)

static void test_name_check(void)
{
        CHECK_OK(shmv_segment_name_check("frames"));
        CHECK_OK(shmv_segment_name_check("caf\xc3\xa9 au lait"));
        CHECK_RC(shmv_segment_name_check(""), -EINVAL);
        CHECK_RC(shmv_segment_name_check("a/b"), -EINVAL);
        CHECK_RC(shmv_segment_name_check("."), -EINVAL);
        CHECK_RC(shmv_segment_name_check(".."), -EINVAL);
        CHECK_RC(shmv_segment_name_check("bell\a"), -EINVAL);
        CHECK_RC(shmv_segment_name_check(NULL), -EINVAL);
        char longname[SHMV_NAME_MAX + 2];
        memset(longname, 'x', sizeof(longname) - 1);
        longname[SHMV_NAME_MAX + 1] = '\0';
        CHECK_RC(shmv_segment_name_check(longname), -EINVAL);
        longname[SHMV_NAME_MAX] = '\0';
        CHECK_OK(shmv_segment_name_check(longname));
}

static void test_views_detail(void)
{
        CHECK_EQ(prctl(PR_SET_NAME, "viewer-tst", 0, 0, 0), 0);
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("views"));
        CHECK_OK(shmv_segment_create(c, name, 1 * MiB, 0644));
        shmv_view_info *views;
        size_t n;
        CHECK_OK(shmv_segment_views(c, name, &views, &n));
        CHECK_EQ(n, 0);
        CHECK_NULL(views);

        shmv_view *a, *b;
        CHECK_OK(shmv_view_open(c, name, 4096, 100, SHMV_READ, &a));
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &b));
        CHECK_OK(shmv_segment_views(c, name, &views, &n));
        CHECK_EQ(n, 2);
        CHECK_EQ(views[0].offset, 4096);
        CHECK_EQ(views[0].length, 100);
        CHECK(!views[0].writable);
        CHECK_EQ(views[1].offset, 0);
        CHECK_EQ(views[1].length, 1 * MiB);
        CHECK(views[1].writable);
        for (size_t i = 0; i < n; i++) {
                CHECK_EQ(views[i].client.pid, (uint32_t)getpid());
                CHECK_EQ(views[i].client.uid, getuid());
                CHECK_EQ(views[i].client.gid, getgid());
                CHECK_STR(views[i].client.comm, "viewer-tst");
                CHECK_EQ(views[i].client.client_id, views[0].client.client_id);
        }
        CHECK_NE(views[0].view_id, views[1].view_id);
        shmv_segment_views_free(views);

        /* Another process's view shows its own pid. */
        pid_t child = fork();
        if (child == 0) {
                shmv_client *c2 = th_connect();
                shmv_view *v;
                CHECK_OK(shmv_view_open(c2, name, 8, 8, SHMV_READ, &v));
                pause();
                _exit(0);
        }
        for (int i = 0; i < 500; i++) {
                CHECK_OK(shmv_segment_views(c, name, &views, &n));
                if (n == 3)
                        break;
                shmv_segment_views_free(views);
                usleep(10000);
        }
        CHECK_EQ(n, 3);
        CHECK_EQ(views[2].client.pid, (uint32_t)child);
        CHECK_EQ(views[2].offset, 8);
        CHECK_NE(views[2].client.client_id, views[0].client.client_id);
        shmv_segment_views_free(views);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);

        shmv_view_release(a);
        for (int i = 0; i < 500; i++) {
                CHECK_OK(shmv_segment_views(c, name, &views, &n));
                if (n == 1)
                        break;
                shmv_segment_views_free(views);
                usleep(10000);
        }
        CHECK_EQ(n, 1);
        CHECK(views[0].writable);
        shmv_segment_views_free(views);
        shmv_view_release(b);

        CHECK_RC(shmv_segment_views(c, "no-such-segment", &views, &n), -ENOENT);
        CHECK_RC(shmv_segment_views(c, "a/b", &views, &n), -EINVAL);
        CHECK_RC(shmv_segment_views(c, name, NULL, &n), -EINVAL);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* More views than one reply holds: every one listed once, in opening order. */
static void test_views_paging(void)
{
        enum { N = 700 };
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("paging"));
        CHECK_OK(shmv_segment_create(c, name, 4096 * 4, 0600));
        static shmv_view *v[N];
        for (int i = 0; i < N; i++)
                CHECK_OK(shmv_view_open(c, name, (uint64_t)i % 4096, 1 + i, SHMV_READ, &v[i]));
        shmv_view_info *views;
        size_t n;
        CHECK_OK(shmv_segment_views(c, name, &views, &n));
        CHECK_EQ(n, N);
        for (size_t i = 0; i < n; i++) {
                CHECK_EQ(views[i].length, i + 1);
                CHECK_EQ(views[i].offset, i % 4096);
        }
        shmv_segment_views_free(views);
        /* Release every other one: the rest still come once each. */
        for (int i = 0; i < N; i += 2)
                shmv_view_release(v[i]);
        for (int i = 0; i < 500; i++) {
                CHECK_OK(shmv_segment_views(c, name, &views, &n));
                if (n == N / 2)
                        break;
                shmv_segment_views_free(views);
                usleep(10000);
        }
        CHECK_EQ(n, N / 2);
        for (size_t i = 0; i < n; i++)
                CHECK_EQ(views[i].length, 2 * i + 2);
        shmv_segment_views_free(views);
        for (int i = 1; i < N; i += 2)
                shmv_view_release(v[i]);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static const shmv_client_info *find_client(const shmv_client_info *list, size_t n, uint64_t id)
{
        for (size_t i = 0; i < n; i++)
                if (list[i].client.client_id == id)
                        return &list[i];
        return NULL;
}

static void test_clients(void)
{
        enum { EXTRA = 300 };
        CHECK_EQ(prctl(PR_SET_NAME, "clients-tst", 0, 0, 0), 0);
        shmv_client *c = th_connect();
        static shmv_client *extra[EXTRA];
        for (int i = 0; i < EXTRA; i++)
                extra[i] = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("clients"));
        CHECK_OK(shmv_segment_create(c, name, 8192, 0600));
        shmv_view *v1, *v2;
        CHECK_OK(shmv_view_open(extra[7], name, 0, 100, SHMV_READ, &v1));
        CHECK_OK(shmv_view_open(extra[7], name, 4096, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &v2));
        shmv_watch *w;
        CHECK_OK(shmv_watch_open(NULL, &w));

        shmv_client_info *list;
        size_t n;
        CHECK_OK(shmv_client_list(c, &list, &n));
        CHECK_GE(n, EXTRA + 2);
        size_t selves = 0, watching = 0, with_views = 0;
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        CHECK_GT(list[i].client.client_id, list[i - 1].client.client_id);
                if (list[i].client.pid != (uint32_t)getpid())
                        continue;
                CHECK_STR(list[i].client.comm, "clients-tst");
                CHECK_EQ(list[i].client.uid, getuid());
                CHECK_GT(list[i].connected_usec, 0);
                selves += list[i].self;
                watching += list[i].watching;
                if (list[i].views) {
                        CHECK_EQ(list[i].views, 2);
                        CHECK_EQ(list[i].bytes_mapped, 100 + 4096);
                        with_views++;
                }
        }
        CHECK_EQ(selves, 1);
        CHECK_EQ(watching, 1);
        CHECK_EQ(with_views, 1);
        /* The daemon's hello said so already: it sees us under our pid (namespaces.* tests the
         * other side). */
        CHECK_EQ(shmv_client_pids_shared(c), 1);
        CHECK_EQ(shmv_watch_pids_shared(w), 1);
        CHECK_RC(shmv_client_pids_shared(NULL), -EINVAL);
        CHECK_RC(shmv_watch_pids_shared(NULL), -EINVAL);
        uint64_t last = list[n - 1].client.client_id;
        shmv_client_list_free(list);

        shmv_view_release(v1);
        shmv_view_release(v2);
        shmv_disconnect(extra[0]);
        for (int i = 0; i < 500; i++) {
                CHECK_OK(shmv_client_list(c, &list, &n));
                if (n == EXTRA + 1)
                        break;
                shmv_client_list_free(list);
                usleep(10000);
        }
        CHECK_EQ(n, EXTRA + 1);
        CHECK(find_client(list, n, last) != NULL);
        shmv_client_list_free(list);

        shmv_watch_close(w);
        for (int i = 1; i < EXTRA; i++)
                shmv_disconnect(extra[i]);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static void test_status(void)
{
        shmv_client *c = th_connect();
        shmv_daemon_info st;
        CHECK_OK(shmv_daemon_status(c, &st));
        CHECK_STR(st.version, SHMV_VERSION_STRING);
        CHECK_EQ(st.protocol_version, 1);
        CHECK_STR(st.socket_path, th_socket_path());
        CHECK_GT(st.started_usec, 0);
        CHECK_GT(st.uptime_usec, 0);
        CHECK_GE(st.clients, 1);
        CHECK_EQ(st.watchers, 0);
        CHECK_EQ(st.limits.max_bytes, 256 * MiB);
        CHECK_EQ(st.limits.max_segments, 100);
        CHECK_GT(st.limits.max_frame, 0);
        CHECK_GT(st.limits.max_views_per_client, 0);
        CHECK_EQ(st.limits.max_name_len, SHMV_NAME_MAX);
        CHECK_GT(st.watch_queue_bytes, 0);
        uint32_t segments = st.segments;
        uint64_t bytes = st.bytes_used, views = st.views;

        char a[64], b[64];
        snprintf(a, sizeof(a), "%s", th_name("status"));
        snprintf(b, sizeof(b), "%s", th_name("status"));
        CHECK_OK(shmv_segment_create(c, a, 1 * MiB, 0));
        CHECK_OK(shmv_segment_create(c, b, 2 * MiB, 0));
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, b, 0, 10, SHMV_READ, &v));
        CHECK_OK(shmv_segment_unlink(c, b)); /* held by the view */
        shmv_watch *w;
        CHECK_OK(shmv_watch_open(NULL, &w));
        CHECK_OK(shmv_daemon_status(c, &st));
        CHECK_EQ(st.segments, segments + 1);
        CHECK_EQ(st.segments_unlinked, 1);
        CHECK_EQ(st.bytes_used, bytes + 3 * MiB);
        CHECK_EQ(st.views, views + 1);
        CHECK_EQ(st.watchers, 1);
        shmv_watch_close(w);
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, a));
        for (int i = 0; i < 500; i++) {
                CHECK_OK(shmv_daemon_status(c, &st));
                if (st.bytes_used == bytes && st.watchers == 0)
                        break;
                usleep(10000);
        }
        CHECK_EQ(st.bytes_used, bytes);
        CHECK_EQ(st.segments_unlinked, 0);
        CHECK_EQ(st.watchers, 0);
        CHECK_RC(shmv_daemon_status(c, NULL), -EINVAL);
        shmv_disconnect(c);
}

static void next_event(shmv_watch *w, shmv_event *ev)
{
        int r = shmv_watch_next(w, 10000, ev);
        if (r < 0)
                th_fail(__FILE__, __LINE__, "shmv_watch_next: %s", shmv_strerror(r));
}

static char child_segment[64];

static void events_child(void *arg)
{
        (void)arg;
        prctl(PR_SET_NAME, "evt-child", 0, 0, 0);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, child_segment, 8192, 0640));
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, child_segment, 4096, 16, SHMV_READ | SHMV_WRITE, &v));
        shmv_view_release(v);
        CHECK_OK(shmv_segment_seal(c, child_segment));
        CHECK_OK(shmv_view_open(c, child_segment, 0, SHMV_TO_END, SHMV_READ, &v));
        CHECK_OK(shmv_segment_unlink(c, child_segment));
        /* Exits with the view open: the daemon releases it with the connection. */
}

static void test_watch_events(void)
{
        shmv_watch *w;
        CHECK_OK(shmv_watch_open(NULL, &w));
        CHECK_GE(shmv_watch_fd(w), 0);
        shmv_event ev;
        CHECK_RC(shmv_watch_next(w, 0, &ev), -EAGAIN);
        snprintf(child_segment, sizeof(child_segment), "%s", th_name("watched"));
        CHECK_EQ(th_in_child(events_child, NULL), 0);

        static const int want[] = {
                SHMV_EVENT_CLIENT_CONNECTED, SHMV_EVENT_CREATED,     SHMV_EVENT_VIEW_OPENED,
                SHMV_EVENT_VIEW_RELEASED,    SHMV_EVENT_SEALED,      SHMV_EVENT_VIEW_OPENED,
                SHMV_EVENT_UNLINKED,         SHMV_EVENT_CLIENT_GONE,
        };
        uint64_t client_id = 0, view_id = 0;
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
                next_event(w, &ev);
                if (ev.kind != want[i])
                        th_fail(__FILE__, __LINE__, "event %zu is %s, wanted %s", i,
                                shmv_event_kind_name(ev.kind), shmv_event_kind_name(want[i]));
                CHECK_STR(ev.client.comm, "evt-child");
                CHECK_EQ(ev.client.uid, getuid());
                CHECK_GT(ev.client.pid, 0);
                CHECK_NE(ev.client.pid, (uint32_t)getpid());
                CHECK_GT(ev.time_usec, 0);
                if (i == 0)
                        client_id = ev.client.client_id;
                CHECK_EQ(ev.client.client_id, client_id);
                if (ev.kind != SHMV_EVENT_CLIENT_CONNECTED && ev.kind != SHMV_EVENT_CLIENT_GONE)
                        CHECK_STR(ev.name, child_segment);
                switch (i) {
                case 1:
                        CHECK_EQ(ev.size, 8192);
                        CHECK_EQ(ev.mode, 0640);
                        break;
                case 2:
                        CHECK_EQ(ev.offset, 4096);
                        CHECK_EQ(ev.length, 16);
                        CHECK(ev.writable);
                        view_id = ev.view_id;
                        break;
                case 3:
                        CHECK_EQ(ev.view_id, view_id);
                        CHECK(ev.writable);
                        CHECK_EQ(ev.length, 16);
                        break;
                case 5:
                        CHECK_EQ(ev.offset, 0);
                        CHECK_EQ(ev.length, 8192);
                        CHECK(!ev.writable);
                        break;
                case 7:
                        CHECK_EQ(ev.views, 1);
                        break;
                }
        }
        CHECK_STR(shmv_event_kind_name(SHMV_EVENT_VIEW_OPENED), "view-opened");
        CHECK_STR(shmv_event_kind_name(99), "unknown");
        CHECK_RC(shmv_watch_next(w, 50, &ev), -EAGAIN);
        shmv_watch_close(w);
}

/* A watcher that does not read costs the daemon a bounded queue: it gets the events that fit,
 * in order, then OVERFLOW, then the end of the connection; the daemon serves on. */
static void test_watch_overflow(void)
{
        enum { ROUNDS = 6000 };
        shmv_client *c = th_connect();
        shmv_watch *w;
        CHECK_OK(shmv_watch_open(NULL, &w));
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("flood"));
        for (int i = 0; i < ROUNDS; i++) {
                CHECK_OK(shmv_segment_create(c, name, 4096, 0));
                CHECK_OK(shmv_segment_unlink(c, name));
        }
        shmv_daemon_info st;
        CHECK_OK(shmv_daemon_status(c, &st));
        CHECK(st.watchers == 0 || st.watchers == 1);

        shmv_event ev;
        size_t got = 0;
        int r;
        bool overflowed = false;
        while ((r = shmv_watch_next(w, 10000, &ev)) == 0) {
                CHECK(!overflowed);
                if (ev.kind == SHMV_EVENT_OVERFLOW) {
                        overflowed = true;
                        continue;
                }
                CHECK_EQ(ev.kind, (got % 2 ? SHMV_EVENT_UNLINKED : SHMV_EVENT_CREATED));
                got++;
        }
        CHECK_RC(r, -ECONNRESET);
        CHECK(overflowed);
        CHECK_GT(got, 100);
        CHECK_LT(got, 2 * ROUNDS);
        shmv_watch_close(w);

        /* The daemon still answers, and the watcher is gone. */
        CHECK_OK(shmv_daemon_status(c, &st));
        CHECK_EQ(st.watchers, 0);
        shmv_disconnect(c);
}

/* Raw protocol: a request sent on a watching connection closes it. */
static void test_watch_protocol(void)
{
        th_raw r;
        th_raw_connect_hello(&r);
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        Shmview__WatchRequest wr = SHMVIEW__WATCH_REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_WATCH;
        req.watch = &wr;
        uint64_t watch_id = th_raw_send(&r, &req);
        Shmview__Response *resp = th_raw_recv(&r, NULL);
        CHECK(resp);
        CHECK_EQ(resp->id, watch_id);
        CHECK_EQ(resp->status, 0);
        CHECK_EQ(resp->body_case, SHMVIEW__RESPONSE__BODY_WATCH);
        CHECK_GT(resp->watch->queue_bytes, 0);
        shmview__response__free_unpacked(resp, NULL);

        /* An event carries the watch request's id. */
        shmv_client *c = th_connect();
        resp = th_raw_recv(&r, NULL);
        CHECK(resp);
        CHECK_EQ(resp->id, watch_id);
        CHECK_EQ(resp->body_case, SHMVIEW__RESPONSE__BODY_EVENT);
        CHECK_EQ(resp->event->kind, SHMVIEW__EVENT__KIND__CLIENT_CONNECTED);
        CHECK(resp->event->client);
        CHECK_EQ(resp->event->client->pid, (uint32_t)getpid());
        shmview__response__free_unpacked(resp, NULL);

        Shmview__Request st = SHMVIEW__REQUEST__INIT;
        Shmview__StatusRequest sr = SHMVIEW__STATUS_REQUEST__INIT;
        st.body_case = SHMVIEW__REQUEST__BODY_DAEMON_STATUS;
        st.daemon_status = &sr;
        th_raw_send(&r, &st);
        /* No answer: the end of the connection. */
        CHECK_NULL(th_raw_recv(&r, NULL));
        th_raw_close(&r);

        /* Watching while holding views is refused, and the connection stays usable. */
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("busy"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        th_raw_connect_hello(&r);
        CHECK_OK(th_raw_open(&r, name, strlen(name), 0, UINT64_MAX, false, NULL, NULL));
        CHECK_RC(th_raw_call(&r, &req, NULL, NULL), -EBUSY);
        CHECK_OK(th_raw_call(&r, &st, &resp, NULL));
        CHECK_EQ(resp->body_case, SHMVIEW__RESPONSE__BODY_DAEMON_STATUS);
        CHECK_EQ(resp->daemon_status->watchers, 0);
        shmview__response__free_unpacked(resp, NULL);
        th_raw_close(&r);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static uint32_t watchers_now(shmv_client *c, uint32_t want)
{
        shmv_daemon_info st;
        for (int i = 0; i < 500; i++) {
                CHECK_OK(shmv_daemon_status(c, &st));
                if (st.watchers == want)
                        break;
                usleep(10000);
        }
        return st.watchers;
}

static void nobody_watches(void *arg)
{
        (void)arg;
        th_become(65534, 65534);
        shmv_watch *w[9];
        for (int i = 0; i < 8; i++)
                CHECK_OK(shmv_watch_open(NULL, &w[i]));
        CHECK_RC(shmv_watch_open(NULL, &w[8]), -EUSERS);
        for (int i = 0; i < 8; i++)
                shmv_watch_close(w[i]);
}

/* Each event costs a frame per watcher: watchers are bounded, in total and per uid. */
static void test_watch_limits(void)
{
        enum { TOTAL = 64, HELD = 40 };
        shmv_client *c = th_connect();
        static shmv_watch *w[TOTAL + 1];
        CHECK_EQ(watchers_now(c, 0), 0);
        for (int i = 0; i < HELD; i++)
                CHECK_OK(shmv_watch_open(NULL, &w[i]));
        if (getuid() == 0) {
                /* 48 in all: the ninth of uid 65534 passes its own limit, not the total. */
                CHECK_EQ(th_in_child(nobody_watches, NULL), 0);
                CHECK_EQ(watchers_now(c, HELD), HELD);
        }
        for (int i = HELD; i < TOTAL; i++)
                CHECK_OK(shmv_watch_open(NULL, &w[i]));
        if (getuid() == 0)
                CHECK_RC(shmv_watch_open(NULL, &w[TOTAL]), -EUSERS);
        shmv_daemon_info st;
        CHECK_OK(shmv_daemon_status(c, &st));
        CHECK_EQ(st.watchers, TOTAL);
        for (int i = 0; i < TOTAL; i++)
                shmv_watch_close(w[i]);
        CHECK_EQ(watchers_now(c, 0), 0);
        shmv_disconnect(c);
}

/* Inspection is open to any client that may connect, as stat and list are. */
static void unprivileged_inspect(void *arg)
{
        const char *name = arg;
        th_become(65534, 65534);
        shmv_client *c = th_connect();
        shmv_view_info *views;
        size_t n;
        CHECK_OK(shmv_segment_views(c, name, &views, &n));
        CHECK_EQ(n, 1);
        CHECK_EQ(views[0].client.uid, 0);
        shmv_segment_views_free(views);
        shmv_client_info *list;
        CHECK_OK(shmv_client_list(c, &list, &n));
        CHECK_GE(n, 2);
        shmv_client_list_free(list);
        shmv_daemon_info st;
        CHECK_OK(shmv_daemon_status(c, &st));
        shmv_watch *w;
        CHECK_OK(shmv_watch_open(NULL, &w));
        shmv_watch_close(w);
        shmv_disconnect(c);
}

static void test_unprivileged(void)
{
        if (getuid() != 0)
                th_skip("the test switches to uid 65534: run it as root");
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("private"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0600));
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v));
        CHECK_EQ(th_in_child(unprivileged_inspect, name), 0);
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

int main(int argc, char **argv)
{
        static const th_test tests[] = {
                TH_TEST(test_name_check),     TH_TEST(test_views_detail),
                TH_TEST(test_views_paging),   TH_TEST(test_clients),
                TH_TEST(test_status),         TH_TEST(test_watch_events),
                TH_TEST(test_watch_overflow), TH_TEST(test_watch_protocol),
                TH_TEST(test_unprivileged),   TH_TEST(test_watch_limits),
        };
        static const char *const args[] = {"--max-bytes", "256M", "--max-segments", "100", NULL};
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), args);
}

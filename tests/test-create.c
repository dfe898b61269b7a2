/* Creates of large segments against a real daemon: their pages are reserved off the loop
 * thread (docs/design.md, "Creating a segment"), so that other clients are served meanwhile,
 * while the creating connection's replies keep their order, the name is taken but not
 * visible, the budget is charged at once, and a client that goes, a SIGTERM or the fd store
 * see the segment whole or not at all. Their pages are freed off the loop thread too
 * ("Freeing a segment"), with the bytes back in the budget at once.
 *
 * "Meanwhile" is not a matter of timing here: a test waits until the daemon holds the new
 * segment's memfd (its create has begun), does what it checks, then asserts that the
 * creating client has no reply yet, so the checks ran while the pages were being reserved. A
 * gigabyte takes about 150 ms to reserve, a round trip well under a millisecond. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "raw.h"

#define GiB (1024ull * 1024 * 1024)
/* Large enough to take the threadpool's path (SHMV__CREATE_ASYNC_MIN) and a while. */
#define BIG GiB
#define PAGE ((uint64_t)sysconf(_SC_PAGESIZE))
/* The test daemon's --max-bytes: one BIG segment fits, two do not. */
#define BUDGET "1610612736"
#define WAIT_MS 10000 /* only a failing test waits this long */

/* Whether the daemon pid holds the memfd of segment name (made as its create begins). */
static bool holds_memfd(pid_t pid, const char *name)
{
        char dir[64], want[300];
        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
        snprintf(want, sizeof(want), "/memfd:shmview:%s (deleted)", name);
        DIR *d = opendir(dir);
        if (!d)
                return false;
        bool found = false;
        for (struct dirent *e; !found && (e = readdir(d));) {
                if (e->d_name[0] == '.')
                        continue;
                char link[300];
                ssize_t n = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);
                if (n < 0)
                        continue;
                link[n] = '\0';
                found = strcmp(link, want) == 0;
        }
        closedir(d);
        return found;
}

/* Until the create of name has begun in daemon pid. */
static void wait_creating(pid_t pid, const char *name)
{
        for (int64_t end = th_now_ms() + WAIT_MS; !holds_memfd(pid, name);) {
                if (th_now_ms() > end)
                        th_fail(__FILE__, __LINE__, "the daemon never began creating %s", name);
                th_sleep_ms(1);
        }
}

/* Until daemon pid has closed the memfd of segment name. */
static void wait_released(pid_t pid, const char *name)
{
        for (int64_t end = th_now_ms() + WAIT_MS; holds_memfd(pid, name);) {
                if (th_now_ms() > end)
                        th_fail(__FILE__, __LINE__, "the daemon never closed the memfd of %s",
                                name);
                th_sleep_ms(1);
        }
}

/* Bytes of replies that wait, unread, on a raw connection. */
static int unread(const th_raw *r)
{
        int n = -1;
        CHECK_EQ(ioctl(r->fd, FIONREAD, &n), 0);
        return n + (int)shmv__wire_in_pending(&r->in);
}

/* Sends a create without waiting for its reply; returns its id. */
static uint64_t send_create(th_raw *r, const char *name, uint64_t size)
{
        Shmview__CreateRequest b;
        Shmview__Request req;
        th_raw_fill_create(&req, &b, name, strlen(name), size, 0644);
        return th_raw_send(r, &req);
}

/* The next reply, which must answer id; returns its status as a negative errno and its
 * message in msg (when given). */
static int recv_status(th_raw *r, uint64_t id, char *msg, size_t msg_len)
{
        Shmview__Response *resp = th_raw_recv_reply(r, id, NULL);
        int status = resp->status;
        if (msg)
                snprintf(msg, msg_len, "%.*s", (int)resp->message.len,
                         (const char *)resp->message.data);
        shmview__response__free_unpacked(resp, NULL);
        return -status;
}

static bool listed(shmv_client *c, const char *name)
{
        shmv_segment_info *list;
        size_t n;
        CHECK_OK(shmv_segment_list(c, &list, &n));
        bool found = false;
        for (size_t i = 0; i < n; i++)
                found |= strcmp(list[i].name, name) == 0;
        shmv_segment_list_free(list);
        return found;
}

/* While client A's large create reserves its pages, client B is served: B's stat, open and
 * release are answered and A's reply has not come. (With the reservation on the loop thread,
 * as before, B waited for it and A's reply came first.) */
static void test_others_served_meanwhile(void)
{
        char big[64], small[64];
        snprintf(big, sizeof(big), "%s", th_name("served-big"));
        snprintf(small, sizeof(small), "%s", th_name("served-small"));
        shmv_client *b = th_connect();
        CHECK_OK(shmv_segment_create(b, small, 4096, 0644));
        th_raw a;
        th_raw_connect_hello(&a);

        uint64_t id = send_create(&a, big, BIG);
        wait_creating(th_daemon_pid(), big);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(b, small, &info));
        CHECK_EQ(info.size, 4096);
        shmv_view *v;
        CHECK_OK(shmv_view_open(b, small, 0, SHMV_TO_END, SHMV_READ, &v));
        shmv_view_release(v);
        CHECK_OK(shmv_segment_stat(b, small, &info)); /* the release, one-way, is seen */
        CHECK_EQ(info.views_ro, 0);
        CHECK_EQ(unread(&a), 0);

        CHECK_OK(recv_status(&a, id, NULL, 0));
        CHECK_OK(shmv_segment_stat(b, big, &info));
        CHECK_EQ(info.size, BIG);
        CHECK_EQ(info.mode, 0644);
        CHECK_OK(shmv_segment_unlink(b, big));
        CHECK_OK(shmv_segment_unlink(b, small));
        th_raw_close(&a);
        shmv_disconnect(b);
}

/* While the pages are reserved the name is taken (a create of it is EEXIST) and nothing else
 * sees the segment: stat, open, unlink, seal and views say ENOENT, list leaves it out, no
 * watcher has been told. Once answered, all see it, and the watcher gets CREATED. */
static void test_name_taken_meanwhile(void)
{
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("taken"));
        shmv_client *b = th_connect();
        shmv_watch *w;
        CHECK_OK(shmv_watch_open(NULL, &w));
        th_raw a;
        th_raw_connect_hello(&a);

        uint64_t id = send_create(&a, name, BIG);
        wait_creating(th_daemon_pid(), name);
        CHECK_RC(shmv_segment_create(b, name, 4096, 0), -EEXIST);
        shmv_segment_info info;
        CHECK_RC(shmv_segment_stat(b, name, &info), -ENOENT);
        shmv_view *v;
        CHECK_RC(shmv_view_open(b, name, 0, SHMV_TO_END, SHMV_READ, &v), -ENOENT);
        CHECK_RC(shmv_segment_seal(b, name), -ENOENT);
        CHECK_RC(shmv_segment_unlink(b, name), -ENOENT);
        shmv_view_info *views;
        size_t nviews;
        CHECK_RC(shmv_segment_views(b, name, &views, &nviews), -ENOENT);
        CHECK(!listed(b, name));
        shmv_event ev;
        int r;
        while ((r = shmv_watch_next(w, 0, &ev)) == 0)
                CHECK(!(ev.kind == SHMV_EVENT_CREATED && strcmp(ev.name, name) == 0));
        CHECK_RC(r, -EAGAIN);
        CHECK_EQ(unread(&a), 0);

        CHECK_OK(recv_status(&a, id, NULL, 0));
        CHECK_OK(shmv_segment_stat(b, name, &info));
        CHECK_EQ(info.size, BIG);
        CHECK(listed(b, name));
        do
                CHECK_OK(shmv_watch_next(w, WAIT_MS, &ev));
        while (ev.kind != SHMV_EVENT_CREATED || strcmp(ev.name, name) != 0);
        CHECK_EQ(ev.size, BIG);
        CHECK_EQ(ev.mode, 0644);
        CHECK_OK(shmv_segment_unlink(b, name));
        shmv_watch_close(w);
        th_raw_close(&a);
        shmv_disconnect(b);
}

/* create, stat and open of the same large segment in one write: the stat and the open wait
 * for the create, then see the segment whole, and the replies come in request order. */
static void test_pipelined_after_create(void)
{
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("pipelined"));
        th_raw a;
        th_raw_connect_hello(&a);
        Shmview__CreateRequest cb;
        Shmview__Request create;
        th_raw_fill_create(&create, &cb, name, strlen(name), BIG, 0644);
        Shmview__NameRequest sb = SHMVIEW__NAME_REQUEST__INIT;
        sb.name.data = (uint8_t *)name;
        sb.name.len = strlen(name);
        Shmview__Request stat = SHMVIEW__REQUEST__INIT;
        stat.body_case = SHMVIEW__REQUEST__BODY_STAT;
        stat.stat = &sb;
        Shmview__OpenRequest ob = SHMVIEW__OPEN_REQUEST__INIT;
        ob.name = sb.name;
        ob.length = UINT64_MAX;
        ob.writable = true;
        Shmview__Request open = SHMVIEW__REQUEST__INIT;
        open.body_case = SHMVIEW__REQUEST__BODY_OPEN;
        open.open = &ob;
        uint8_t buf[1024];
        size_t len = 0;
        th_raw_append_frame(buf, &len, sizeof(buf), &create, 101);
        th_raw_append_frame(buf, &len, sizeof(buf), &stat, 102);
        th_raw_append_frame(buf, &len, sizeof(buf), &open, 103);
        th_raw_send_bytes(&a, buf, len);

        /* One read may take several replies, and the open's descriptor with them: the
         * descriptor is handed out with the first reply taken after it came. */
        int fds[3];
        Shmview__Response *resp = th_raw_recv(&a, &fds[0]);
        CHECK(resp);
        CHECK_EQ(resp->id, 101);
        CHECK_EQ(resp->status, 0);
        shmview__response__free_unpacked(resp, NULL);
        resp = th_raw_recv(&a, &fds[1]);
        CHECK(resp);
        CHECK_EQ(resp->id, 102);
        CHECK_EQ(resp->status, 0);
        CHECK_EQ(resp->body_case, SHMVIEW__RESPONSE__BODY_STAT);
        CHECK_EQ(resp->stat->size, BIG);
        shmview__response__free_unpacked(resp, NULL);
        resp = th_raw_recv(&a, &fds[2]);
        int fd = -1, nfds = 0;
        for (int i = 0; i < 3; i++)
                if (fds[i] >= 0) {
                        fd = fds[i];
                        nfds++;
                }
        CHECK_EQ(nfds, 1);
        CHECK(resp);
        CHECK_EQ(resp->id, 103);
        CHECK_EQ(resp->status, 0);
        CHECK_EQ(resp->body_case, SHMVIEW__RESPONSE__BODY_OPEN);
        CHECK_GE(fd, 0);
        uint64_t view_id = resp->open->view_id;
        shmview__response__free_unpacked(resp, NULL);
        /* Whole: its size sealed, every page reserved. */
        struct stat st;
        CHECK_EQ(fstat(fd, &st), 0);
        CHECK_EQ((uint64_t)st.st_size, BIG + PAGE); /* and its doorbell page */
        CHECK_GE((uint64_t)st.st_blocks * 512, BIG);
        int seals = fcntl(fd, F_GET_SEALS);
        CHECK_GE(seals, 0);
        CHECK_EQ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)), (F_SEAL_SHRINK | F_SEAL_GROW));
        close(fd);
        th_raw_release(&a, view_id);
        CHECK_OK(th_raw_named(&a, SHMVIEW__REQUEST__BODY_UNLINK, name, strlen(name)));
        th_raw_close(&a);
}

/* Until segment name can be stat'ed through c. */
static void wait_exists(shmv_client *c, const char *name)
{
        shmv_segment_info info;
        int64_t end = th_now_ms() + WAIT_MS;
        int r;
        while ((r = shmv_segment_stat(c, name, &info)) == -ENOENT && th_now_ms() < end)
                th_sleep_ms(5);
        CHECK_OK(r);
        CHECK_EQ(info.size, BIG);
}

/* Until the daemon holds want descriptors. */
static void wait_fds(int want)
{
        CHECK(th_fd_count_reaches(th_daemon_pid(), want, WAIT_MS));
}

/* A client that sends a large create and goes: the create is finished as if it had waited
 * for the reply, and the connection is freed once it is (the harness checks the daemon's
 * descriptors, AddressSanitizer its memory). */
static void test_client_gone_meanwhile(void)
{
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("gone"));
        shmv_client *b = th_connect(); /* answered its hello: counted in base */
        int base = th_daemon_fd_count();
        th_raw a;
        th_raw_connect_hello(&a);
        send_create(&a, name, BIG);
        th_raw_close(&a);

        wait_exists(b, name);
        wait_fds(base + 1); /* the segment's memfd; a's socket is gone */
        CHECK_OK(shmv_segment_unlink(b, name));
        wait_fds(base);
        shmv_disconnect(b);
}

/* The same, but the daemon has replies queued for the client that the client never reads:
 * the daemon notices it gone (the send fails) and closes the connection while the pages are
 * still being reserved, and the create, finishing later, must neither answer nor touch a
 * freed connection. */
static void test_client_gone_with_replies_queued(void)
{
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("gone-queued"));
        shmv_client *b = th_connect();
        int base = th_daemon_fd_count();
        th_raw a;
        th_raw_connect_hello(&a);

        /* Stats of a missing 255-byte name: each reply (ENOENT, naming it) is about 280
         * bytes. 1200 of them are more than the socket holds (about 210 KB) and less than
         * that plus what the daemon queues before it stops reading a client (256 KiB), so
         * the create behind them is read and some replies are left queued. */
        char missing[SHMV_NAME_MAX + 1];
        memset(missing, 'm', SHMV_NAME_MAX);
        missing[SHMV_NAME_MAX] = '\0';
        Shmview__NameRequest sb = SHMVIEW__NAME_REQUEST__INIT;
        sb.name.data = (uint8_t *)missing;
        sb.name.len = SHMV_NAME_MAX;
        Shmview__Request stat = SHMVIEW__REQUEST__INIT;
        stat.body_case = SHMVIEW__REQUEST__BODY_STAT;
        stat.stat = &sb;
        enum { NSTATS = 1200 };
        size_t cap = (NSTATS + 1) * 320, len = 0;
        uint8_t *buf = malloc(cap);
        CHECK(buf != NULL);
        for (unsigned i = 0; i < NSTATS; i++)
                th_raw_append_frame(buf, &len, cap, &stat, 1000 + i);
        Shmview__CreateRequest cb;
        Shmview__Request create;
        th_raw_fill_create(&create, &cb, name, strlen(name), BIG, 0644);
        th_raw_append_frame(buf, &len, cap, &create, 5000);
        th_raw_send_bytes(&a, buf, len);
        free(buf);
        wait_creating(th_daemon_pid(), name);
        th_raw_close(&a);

        wait_exists(b, name);
        wait_fds(base + 1);
        CHECK_OK(shmv_segment_unlink(b, name));
        wait_fds(base);
        shmv_disconnect(b);
}

/* The budget is charged when a create begins: with room for one large segment, a second
 * large create from another client is ENOSPC at once, while the first still reserves. Once
 * the first is unlinked there is room again. */
static void test_budget_charged_up_front(void)
{
        char first[64], second[64];
        snprintf(first, sizeof(first), "%s", th_name("charged"));
        snprintf(second, sizeof(second), "%s", th_name("charged"));
        th_raw a, b;
        th_raw_connect_hello(&a);
        th_raw_connect_hello(&b);

        uint64_t id = send_create(&a, first, BIG);
        wait_creating(th_daemon_pid(), first);
        char msg[512];
        CHECK_RC(recv_status(&b, send_create(&b, second, BIG), msg, sizeof(msg)), -ENOSPC);
        if (!strstr(msg, "max_bytes"))
                th_fail(__FILE__, __LINE__, "ENOSPC says \"%s\", not max_bytes", msg);
        CHECK_EQ(unread(&a), 0);
        CHECK_RC(th_raw_named(&b, SHMVIEW__REQUEST__BODY_STAT, second, strlen(second)), -ENOENT);

        CHECK_OK(recv_status(&a, id, NULL, 0));
        CHECK_RC(th_raw_create(&b, second, strlen(second), BIG, 0), -ENOSPC);
        CHECK_OK(th_raw_named(&a, SHMVIEW__REQUEST__BODY_UNLINK, first, strlen(first)));
        CHECK_OK(th_raw_create(&b, second, strlen(second), BIG, 0));
        CHECK_OK(th_raw_named(&b, SHMVIEW__REQUEST__BODY_UNLINK, second, strlen(second)));
        th_raw_close(&a);
        th_raw_close(&b);
}

/* ---- A daemon of the test's own, to stop or to give a service manager ---- */

typedef struct own_daemon {
        char dir[64];
        char sock[108];
        char notify[108];
        pid_t pid;
} own_daemon;

static bool own_answers(const own_daemon *d)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", d->sock);
        bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        return ok;
}

/* Its directory and paths; nothing runs yet. */
static void own_prepare(own_daemon *d)
{
        snprintf(d->dir, sizeof(d->dir), "/tmp/shmview-create-XXXXXX");
        CHECK(mkdtemp(d->dir));
        snprintf(d->sock, sizeof(d->sock), "%s/shmview.sock", d->dir);
        snprintf(d->notify, sizeof(d->notify), "%s/notify", d->dir);
        d->pid = -1;
}

/* Runs it; with notify, under a service manager listening on d->notify (bound by the caller). */
static void own_run(own_daemon *d, bool notify)
{
        d->pid = fork();
        CHECK_GE(d->pid, 0);
        if (d->pid == 0) {
                if (notify)
                        setenv("NOTIFY_SOCKET", d->notify, 1);
                execl(SHMVIEWD_PATH, "shmviewd", "--socket", d->sock, "--log-level", "error",
                      "--max-bytes", BUDGET, (char *)NULL);
                _exit(127);
        }
        for (int64_t end = th_now_ms() + WAIT_MS; !own_answers(d);) {
                int st;
                if (waitpid(d->pid, &st, WNOHANG) == d->pid)
                        th_fail(__FILE__, __LINE__, "shmviewd exited during start-up");
                if (th_now_ms() > end)
                        th_fail(__FILE__, __LINE__, "shmviewd does not answer on %s", d->sock);
                th_sleep_ms(5);
        }
}

static void own_start(own_daemon *d)
{
        own_prepare(d);
        own_run(d, false);
}

/* Waits for it to exit; its exit status. */
static int own_wait(own_daemon *d)
{
        int st;
        CHECK_EQ(waitpid(d->pid, &st, 0), d->pid);
        unlink(d->sock);
        unlink(d->notify);
        rmdir(d->dir);
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void own_connect(const own_daemon *d, th_raw *r)
{
        th_raw_connect_to(r, d->sock);
        th_raw_hello(r, NULL);
}

/* SIGTERM while a large create reserves: the daemon finishes it, answers it and the request
 * received behind it, then closes the connection and exits 0. */
static void test_sigterm_meanwhile(void)
{
        own_daemon d;
        own_start(&d);
        th_raw a;
        own_connect(&d, &a);
        const char *name = "sigterm";
        Shmview__CreateRequest cb;
        Shmview__Request create;
        th_raw_fill_create(&create, &cb, name, strlen(name), BIG, 0644);
        Shmview__NameRequest sb = SHMVIEW__NAME_REQUEST__INIT;
        sb.name.data = (uint8_t *)(uintptr_t)name;
        sb.name.len = strlen(name);
        Shmview__Request stat = SHMVIEW__REQUEST__INIT;
        stat.body_case = SHMVIEW__REQUEST__BODY_STAT;
        stat.stat = &sb;
        uint8_t buf[512];
        size_t len = 0;
        th_raw_append_frame(buf, &len, sizeof(buf), &create, 7);
        th_raw_append_frame(buf, &len, sizeof(buf), &stat, 8);
        th_raw_send_bytes(&a, buf, len);
        wait_creating(d.pid, name);
        CHECK_EQ(kill(d.pid, SIGTERM), 0);

        CHECK_OK(recv_status(&a, 7, NULL, 0));
        Shmview__Response *resp = th_raw_recv(&a, NULL);
        CHECK(resp);
        CHECK_EQ(resp->id, 8);
        CHECK_EQ(resp->status, 0);
        CHECK_EQ(resp->stat->size, BIG);
        shmview__response__free_unpacked(resp, NULL);
        CHECK_NULL(th_raw_recv(&a, NULL));
        CHECK_EQ(own_wait(&d), 0);
        th_raw_close(&a);
}

/* A second SIGTERM stops at once: the connection of a create in progress is closed under it,
 * without a reply; the create finishes anyway (the loop runs until it has), and the daemon
 * exits 0, with nothing used after it was freed nor leaked (AddressSanitizer). */
static void test_second_sigterm_meanwhile(void)
{
        own_daemon d;
        own_start(&d);
        th_raw a;
        own_connect(&d, &a);
        send_create(&a, "sigterm-twice", BIG);
        wait_creating(d.pid, "sigterm-twice");
        CHECK_EQ(kill(d.pid, SIGTERM), 0);
        /* Draining removes the socket file: the first signal has been taken, so the second
         * is not merged with it. */
        struct stat st;
        for (int64_t end = th_now_ms() + WAIT_MS; stat(d.sock, &st) == 0;) {
                CHECK_LT(th_now_ms(), end);
                th_sleep_ms(1);
        }
        CHECK_EQ(kill(d.pid, SIGTERM), 0);
        CHECK_NULL(th_raw_recv(&a, NULL));
        CHECK_EQ(own_wait(&d), 0);
        th_raw_close(&a);
}

/* Descriptors stored with the service manager so far: the segments' (every FDNAME= but
 * "meta") go to seg[], at most nseg; the rest are closed. Returns how many segments came. */
static size_t notify_drain(int sock, int *seg, size_t nseg)
{
        size_t n = 0;
        char buf[4096];
        int fds[8];
        size_t nfds;
        while (th_notify_recv(sock, buf, sizeof(buf), fds, 8, &nfds) >= 0) {
                bool is_seg = strstr(buf, "FDSTORE=1") && strstr(buf, "FDNAME=") &&
                              !strstr(buf, "FDNAME=meta");
                for (size_t i = 0; i < nfds; i++) {
                        if (is_seg && n < nseg)
                                seg[n++] = fds[i];
                        else
                                close(fds[i]);
                }
        }
        return n;
}

/* Under a service manager the segment goes to the fd store when it is whole, before the
 * reply: never half reserved, so a restart brings back only segments whose create was
 * answered (docs/systemd.md). A store that refuses it makes the create ENOSPC after the
 * reservation: the charge comes back, the name is free, the memfd is closed. */
static void test_fdstore_gets_it_whole(void)
{
        own_daemon d;
        own_prepare(&d);
        int notify = th_notify_bind(d.notify);
        own_run(&d, true);

        int seg[4];
        CHECK_EQ(notify_drain(notify, seg, 4), 0); /* the metadata memfd, READY=1 */
        th_raw a;
        own_connect(&d, &a);
        uint64_t id = send_create(&a, "stored", BIG);
        wait_creating(d.pid, "stored");
        CHECK_EQ(notify_drain(notify, seg, 4), 0);
        CHECK_EQ(unread(&a), 0);
        CHECK_OK(recv_status(&a, id, NULL, 0));
        CHECK_EQ(notify_drain(notify, seg, 4), 1);
        struct stat st;
        CHECK_EQ(fstat(seg[0], &st), 0);
        CHECK_EQ((uint64_t)st.st_size, BIG + PAGE); /* and its doorbell page */
        CHECK_GE((uint64_t)st.st_blocks * 512, BIG);
        int seals = fcntl(seg[0], F_GET_SEALS);
        CHECK_GE(seals, 0);
        CHECK_EQ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)), (F_SEAL_SHRINK | F_SEAL_GROW));
        close(seg[0]);

        /* The store goes away while the next create reserves. */
        id = send_create(&a, "refused", BIG / 4);
        wait_creating(d.pid, "refused");
        close(notify);
        unlink(d.notify);
        char msg[512];
        CHECK_RC(recv_status(&a, id, msg, sizeof(msg)), -ENOSPC);
        if (!strstr(msg, "descriptor store"))
                th_fail(__FILE__, __LINE__, "ENOSPC says \"%s\"", msg);
        wait_released(d.pid, "refused"); /* closed on the threadpool, as any large segment */
        CHECK_RC(th_raw_named(&a, SHMVIEW__REQUEST__BODY_STAT, "refused", 7), -ENOENT);
        Shmview__StatusRequest stb = SHMVIEW__STATUS_REQUEST__INIT;
        Shmview__Request status = SHMVIEW__REQUEST__INIT;
        status.body_case = SHMVIEW__REQUEST__BODY_DAEMON_STATUS;
        status.daemon_status = &stb;
        Shmview__Response *resp;
        CHECK_OK(th_raw_call(&a, &status, &resp, NULL));
        CHECK_EQ(resp->daemon_status->bytes_used, BIG);
        CHECK_EQ(resp->daemon_status->segments, 1);
        CHECK_EQ(resp->daemon_status->segments_unlinked, 0);
        shmview__response__free_unpacked(resp, NULL);
        /* The name is free again: the create fails for the store, not for the name. */
        CHECK_RC(th_raw_create(&a, "refused", 7, BIG / 4, 0), -ENOSPC);
        CHECK_OK(th_raw_named(&a, SHMVIEW__REQUEST__BODY_UNLINK, "stored", 6));
        th_raw_close(&a);
        CHECK_EQ(kill(d.pid, SIGTERM), 0);
        CHECK_EQ(own_wait(&d), 0);
}

/* ---- Freeing off the loop thread ---- */

/* The daemon's one threadpool thread (it runs with UV_THREADPOOL_SIZE=1, and libuv starts the
 * pool at the first job): the task of pid that is not its main thread. */
static pid_t worker_tid(pid_t pid)
{
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
        DIR *d = opendir(dir);
        CHECK(d != NULL);
        pid_t tid = -1;
        int others = 0;
        for (struct dirent *e; (e = readdir(d));) {
                pid_t t = (pid_t)atoi(e->d_name);
                if (t > 0 && t != pid) {
                        tid = t;
                        others++;
                }
        }
        closedir(d);
        if (others != 1)
                th_fail(__FILE__, __LINE__, "shmviewd has %d threads besides its loop, not 1",
                        others);
        return tid;
}

/* Stops that thread alone (a SIGSTOP would stop the whole daemon), so that the jobs queued on
 * the threadpool wait for worker_resume() however long the test takes: what the loop does
 * meanwhile is then not a matter of timing. False when ptrace is not allowed here. */
static bool worker_stop(pid_t tid)
{
        if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0) {
                fprintf(stderr,
                        "ptrace refused (%s): only what does not need a paused free "
                        "is checked\n",
                        strerror(errno));
                return false;
        }
        CHECK_EQ(ptrace(PTRACE_INTERRUPT, tid, NULL, NULL), 0);
        int st;
        CHECK_EQ(waitpid(tid, &st, __WALL), tid);
        CHECK(WIFSTOPPED(st));
        return true;
}

static void worker_resume(pid_t tid, bool stopped)
{
        if (stopped)
                CHECK_EQ(ptrace(PTRACE_DETACH, tid, NULL, NULL), 0);
}

static uint64_t own_bytes_used(th_raw *r)
{
        Shmview__StatusRequest stb = SHMVIEW__STATUS_REQUEST__INIT;
        Shmview__Request status = SHMVIEW__REQUEST__INIT;
        status.body_case = SHMVIEW__REQUEST__BODY_DAEMON_STATUS;
        status.daemon_status = &stb;
        Shmview__Response *resp;
        CHECK_OK(th_raw_call(r, &status, &resp, NULL));
        uint64_t used = resp->daemon_status->bytes_used;
        shmview__response__free_unpacked(resp, NULL);
        return used;
}

/* The kernel frees a segment's pages in the close of its last descriptor, 77 ms per GiB; for
 * a large segment the daemon does that close on its threadpool. Its one worker thread is
 * stopped here while the segment is freed, so each check below runs while the daemon still
 * holds the memfd (no timing involved; with the close on the loop thread, as before, the
 * unlink's reply came after the close and the first check failed):
 *  - an unlink with no views is answered, and another client's stat, small create and status,
 *    with the bytes back in the budget at once;
 *  - a create of the same size under a --max-bytes that holds one begins (a refusal would
 *    come before its memfd is made) and succeeds once the worker runs;
 *  - a client that disconnects holding the last view of an unlinked segment: the disconnect is
 *    handled (the bytes are back) while the memfd is still held;
 *  - SIGTERM with that free pending: the daemon drains and waits for it, then exits 0
 *    (AddressSanitizer: nothing leaked), its descriptors closed.
 * Between the two, the daemon's descriptors come back to what they were once the worker has
 * run. */
static void test_freed_off_the_loop(void)
{
        setenv("UV_THREADPOOL_SIZE", "1", 1);
        own_daemon d;
        own_start(&d);
        th_raw a, b;
        own_connect(&d, &a);
        own_connect(&d, &b);
        int base = th_fd_count(d.pid);
        CHECK_GE(base, 0);
        CHECK_OK(th_raw_create(&b, "small", 5, 4096, 0));
        CHECK_OK(th_raw_create(&a, "freed", 5, BIG, 0));
        pid_t tid = worker_tid(d.pid);

        bool stopped = worker_stop(tid);
        CHECK_OK(th_raw_named(&a, SHMVIEW__REQUEST__BODY_UNLINK, "freed", 5));
        if (stopped)
                CHECK(holds_memfd(d.pid, "freed"));
        CHECK_OK(th_raw_named(&b, SHMVIEW__REQUEST__BODY_STAT, "small", 5));
        CHECK_OK(th_raw_create(&b, "small2", 6, 4096, 0));
        CHECK_EQ(own_bytes_used(&b), 2 * 4096);
        uint64_t id = send_create(&b, "again", BIG);
        wait_creating(d.pid, "again");
        CHECK_EQ(unread(&b), 0);
        if (stopped)
                CHECK(holds_memfd(d.pid, "freed"));
        worker_resume(tid, stopped);
        CHECK_OK(recv_status(&b, id, NULL, 0));
        wait_released(d.pid, "freed");
        CHECK_EQ(th_fd_count(d.pid), base + 3); /* small, small2, again */

        /* The last view goes with its client. */
        int vfd = -1;
        CHECK_OK(th_raw_open(&a, "again", 5, 0, 4096, false, NULL, &vfd));
        CHECK_GE(vfd, 0);
        close(vfd);
        CHECK_OK(th_raw_named(&b, SHMVIEW__REQUEST__BODY_UNLINK, "again", 5));
        stopped = worker_stop(tid);
        th_raw_close(&a);
        for (int64_t end = th_now_ms() + WAIT_MS; own_bytes_used(&b) != 2 * 4096;) {
                CHECK_LT(th_now_ms(), end);
                th_sleep_ms(1);
        }
        CHECK_OK(th_raw_named(&b, SHMVIEW__REQUEST__BODY_STAT, "small", 5));
        if (stopped)
                CHECK(holds_memfd(d.pid, "again"));

        CHECK_EQ(kill(d.pid, SIGTERM), 0);
        CHECK_NULL(th_raw_recv(&b, NULL)); /* drained and closed */
        struct stat st;
        for (int64_t end = th_now_ms() + WAIT_MS; stat(d.sock, &st) == 0;) {
                CHECK_LT(th_now_ms(), end);
                th_sleep_ms(1);
        }
        if (stopped) {
                int status;
                CHECK_EQ(waitpid(d.pid, &status, WNOHANG), 0);
                CHECK(holds_memfd(d.pid, "again"));
        }
        worker_resume(tid, stopped);
        CHECK_EQ(own_wait(&d), 0);
        th_raw_close(&b);
}

int main(int argc, char **argv)
{
        static const th_test tests[] = {
                TH_TEST(test_others_served_meanwhile),
                TH_TEST(test_name_taken_meanwhile),
                TH_TEST(test_pipelined_after_create),
                TH_TEST(test_client_gone_meanwhile),
                TH_TEST(test_client_gone_with_replies_queued),
                TH_TEST(test_budget_charged_up_front),
                TH_TEST(test_sigterm_meanwhile),
                TH_TEST(test_second_sigterm_meanwhile),
                TH_TEST(test_fdstore_gets_it_whole),
                TH_TEST(test_freed_off_the_loop),
        };
        static const char *const args[] = {"--max-bytes", BUDGET, NULL};
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), args);
}

/* Faults: clients killed holding views or in the middle of requests (the daemon releases all
 * they held), the daemon killed (views keep their data and work, the library's next call
 * fails at once with a clear error), and memory that is not there (-ENOSPC at create). */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "raw.h"

#define MiB (1024ull * 1024)
#define RW (SHMV_READ | SHMV_WRITE)

/* Waits until no segment has a view open, as `shmview ls` would show them; fails after 5 s. */
static void no_views_left(shmv_client *c)
{
        for (int i = 0; i < 500; i++) {
                shmv_segment_info *all;
                size_t n;
                CHECK_OK(shmv_segment_list(c, &all, &n));
                uint32_t views = 0;
                for (size_t k = 0; k < n; k++)
                        views += all[k].views_ro + all[k].views_rw;
                shmv_segment_list_free(all);
                if (views == 0)
                        return;
                th_sleep_ms(10);
        }
        th_fail(__FILE__, __LINE__, "views still open after the client died");
}

struct names {
        char a[64], b[64];
};

static void hold_and_die(void *arg)
{
        const struct names *nm = arg;
        shmv_client *c = th_connect();
        shmv_view *v;
        for (int i = 0; i < 20; i++) {
                CHECK_OK(shmv_view_open(c, i % 2 ? nm->a : nm->b, 0, SHMV_TO_END,
                                        i % 3 ? SHMV_READ : RW, &v));
                shmv_view *s;
                CHECK_OK(shmv_view_slice(v, 1, SHMV_NONE, 2, &s)); /* handles over mappings */
        }
        /* A second connection of the same process, with views too. */
        shmv_client *c2 = th_connect();
        CHECK_OK(shmv_view_open(c2, nm->a, 0, 10, RW, &v));
        kill(getpid(), SIGKILL);
}

/* A client killed with SIGKILL while holding views: the daemon releases every one. */
static void test_killed_holding_views(void)
{
        shmv_client *c = th_connect();
        struct names nm;
        snprintf(nm.a, sizeof(nm.a), "%s", th_name("held"));
        snprintf(nm.b, sizeof(nm.b), "%s", th_name("held"));
        CHECK_OK(shmv_segment_create(c, nm.a, 8192, 0));
        CHECK_OK(shmv_segment_create(c, nm.b, 4096, 0));
        CHECK_EQ(th_in_child(hold_and_die, &nm), 128 + SIGKILL);
        no_views_left(c);
        /* With no writable view left, seal works. */
        CHECK_OK(shmv_segment_seal(c, nm.a));
        CHECK_OK(shmv_segment_unlink(c, nm.a));
        CHECK_OK(shmv_segment_unlink(c, nm.b));
        shmv_disconnect(c);
}

static void die_mid_request(void *arg)
{
        const char *name = arg;
        th_raw r;
        th_raw_connect_hello(&r);
        /* Opens whose replies (each with a descriptor) it never reads... */
        Shmview__OpenRequest o;
        Shmview__Request req;
        th_raw_fill_open(&req, &o, name, strlen(name));
        for (int i = 0; i < 300; i++) {
                o.writable = i % 2;
                th_raw_send(&r, &req);
        }
        /* ...and then half of a request. */
        uint8_t *buf;
        size_t len;
        CHECK_EQ(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &buf, &len), 0);
        th_raw_send_bytes(&r, buf, len / 2);
        /* Make sure the daemon has opened views for it before dying. */
        Shmview__Response *resp = th_raw_recv(&r, NULL);
        CHECK(resp);
        CHECK_EQ(resp->status, 0);
        kill(getpid(), SIGKILL);
}

/* A client killed in the middle of a request, with replies and their descriptors queued:
 * the daemon releases its views and the queued descriptors. */
static void test_killed_mid_request(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("mid"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        for (int i = 0; i < 3; i++)
                CHECK_EQ(th_in_child(die_mid_request, name), 128 + SIGKILL);
        no_views_left(c);
        CHECK_OK(shmv_segment_seal(c, name));
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* ---- The daemon killed ---- */

static char own_dir[] = "/tmp/shmview-faults-XXXXXX";
static char own_sock[108];

static pid_t own_daemon(void)
{
        CHECK(mkdtemp(own_dir));
        snprintf(own_sock, sizeof(own_sock), "%s/s.sock", own_dir);
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 1);
                dup2(null, 2);
                execl(SHMVIEWD_PATH, "shmviewd", "--socket", own_sock, (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 500; i++) {
                if (th_socket_listens(own_sock))
                        return pid;
                th_sleep_ms(10);
        }
        th_fail(__FILE__, __LINE__, "shmviewd did not start");
}

static bool clear_error(int r)
{
        return r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN || r == -ECONNREFUSED;
}

struct blocked_call {
        shmv_client *c;
        const char *name;
        int rc;
};

static void *stat_thread(void *arg)
{
        struct blocked_call *bc = arg;
        shmv_segment_info info;
        bc->rc = shmv_segment_stat(bc->c, bc->name, &info);
        return NULL;
}

/* The daemon killed with SIGKILL: views keep their data and keep working, writes through one
 * are seen through the others; a call waiting for a reply and every later call fail at once
 * with a clear error. */
static void test_daemon_killed(void)
{
        pid_t pid = own_daemon();
        shmv_client *c = NULL, *c2 = NULL;
        CHECK_OK(shmv_connect(own_sock, &c));
        CHECK_OK(shmv_connect(own_sock, &c2));
        CHECK_OK(shmv_segment_create(c, "data", 3 * 4096, 0644));
        shmv_view *w, *r;
        CHECK_OK(shmv_view_open(c, "data", 0, SHMV_TO_END, RW, &w));
        CHECK_OK(shmv_view_open(c, "data", 4096, SHMV_TO_END, SHMV_READ, &r));
        memset(th_data_mut(w), 'd', 3 * 4096);

        /* One call in flight while the daemon dies: stop it first, so the call waits. */
        CHECK_EQ(kill(pid, SIGSTOP), 0);
        struct blocked_call bc = {c2, "data", 1};
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, stat_thread, &bc), 0);
        th_sleep_ms(100);
        CHECK_EQ(bc.rc, 1); /* still waiting */
        CHECK_EQ(kill(pid, SIGKILL), 0);
        int st;
        CHECK_EQ(waitpid(pid, &st, 0), pid);
        CHECK(WIFSIGNALED(st));
        pthread_join(t, NULL);
        printf("the call in flight returned %d (%s)\n", bc.rc, shmv_strerror(bc.rc));
        CHECK(clear_error(bc.rc));

        /* The views are the process's own mappings of the memfd: still there. */
        CHECK_EQ(((const char *)shmv_view_data(r))[0], 'd');
        memcpy((char *)th_data_mut(w) + 4096, "after", 5);
        CHECK_MEM(shmv_view_data(r), "after", 5);
        shmv_view *s;
        CHECK_OK(shmv_view_slice(r, 4, SHMV_NONE, -1, &s)); /* "retfa" */
        char buf[5];
        CHECK_OK(shmv_view_tobytes(s, buf, 5));
        CHECK_EQ(buf[0], 'r');
        CHECK_EQ(buf[4], 'a');
        shmv_view_release(s);

        /* Requests fail, quickly, again and again; releasing views is quiet. */
        alarm(10);
        shmv_segment_info info;
        int rc = shmv_segment_stat(c, "data", &info);
        printf("the next call returned %d (%s)\n", rc, shmv_strerror(rc));
        fflush(stdout);
        CHECK(clear_error(rc));
        CHECK(clear_error(shmv_segment_stat(c, "data", &info)));
        shmv_view *v = NULL;
        CHECK(clear_error(shmv_view_open(c, "data", 0, 1, SHMV_READ, &v)));
        CHECK_NULL(v);
        CHECK(clear_error(shmv_segment_create(c, "other", 4096, 0)));
        shmv_view_release(r);
        shmv_view_release(w);
        shmv_client *c3 = NULL;
        CHECK_RC(shmv_connect(own_sock, &c3), -ECONNREFUSED);
        alarm(60); /* the harness's timeout again */
        shmv_disconnect(c);
        shmv_disconnect(c2);
        unlink(own_sock);
        rmdir(own_dir);
}

/* ---- Memory ---- */

static uint64_t mem_available(void)
{
        FILE *f = fopen("/proc/meminfo", "re");
        CHECK(f != NULL);
        char line[256];
        unsigned long long kb = 0;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
                        break;
        fclose(f);
        CHECK_GT(kb, 0);
        return kb * 1024;
}

/* With --max-bytes far above the RAM, what decides is the memory there is: a segment larger
 * than what is available is -ENOSPC at create, before anything is reserved; one that fits is
 * created and all its pages are there. */
static void test_memory_pressure(void)
{
        th_raw r;
        th_raw_connect_hello(&r);
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("pressure"));
        uint64_t avail = mem_available();
        Shmview__CreateRequest cr;
        Shmview__Request req;
        th_raw_fill_create(&req, &cr, name, strlen(name), avail + 512 * MiB, 0);
        uint64_t id = th_raw_send(&r, &req);
        Shmview__Response *resp = th_raw_recv(&r, NULL);
        CHECK(resp);
        CHECK_EQ(resp->id, id);
        CHECK_EQ(resp->status, ENOSPC);
        CHECK(memmem(resp->message.data, resp->message.len, "memory", 6) != NULL);
        shmview__response__free_unpacked(resp, NULL);
        /* Nothing was reserved, nothing is left behind. */
        CHECK_GT(mem_available(), avail - 256 * MiB);
        CHECK_RC(th_raw_named(&r, SHMVIEW__REQUEST__BODY_STAT, name, strlen(name)), -ENOENT);

        shmv_client *c = th_connect();
        CHECK_RC(shmv_segment_create(c, name, avail * 2, 0), -ENOSPC);
        CHECK_OK(shmv_segment_create(c, name, 64 * MiB, 0));
        int fd;
        CHECK_OK(th_raw_open(&r, name, strlen(name), 0, UINT64_MAX, false, NULL, &fd));
        struct stat st;
        CHECK_EQ(fstat(fd, &st), 0);
        CHECK_GE((uint64_t)st.st_blocks * 512, 64 * MiB);
        close(fd);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
        th_raw_close(&r);
}

int main(int argc, char **argv)
{
        static const th_test tests[] = {
                TH_TEST(test_killed_holding_views),
                TH_TEST(test_killed_mid_request),
                TH_TEST(test_daemon_killed),
                TH_TEST(test_memory_pressure),
        };
        static const char *const args[] = {"--max-bytes", "64T", NULL};
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), args);
}

/* Processes sharing segments: the producer/consumer story of the core issue, and many clients
 * at once. */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MiB (1024u * 1024u)

/* Descriptors of the daemon that are memfds: one per live segment. */
static int daemon_memfds(void)
{
        char dir[64], link[256], path[384];
        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)th_daemon_pid());
        DIR *d = opendir(dir);
        CHECK(d);
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
                ssize_t len = readlink(path, link, sizeof(link) - 1);
                if (len > 0) {
                        link[len] = '\0';
                        if (strncmp(link, "/memfd:", 7) == 0)
                                n++;
                }
        }
        closedir(d);
        return n;
}

static void wait_byte(int fd)
{
        char c;
        CHECK_EQ(read(fd, &c, 1), 1);
}

static void send_byte(int fd)
{
        CHECK_EQ(write(fd, "x", 1), 1);
}

static sigjmp_buf segv_jump;

static void on_segv(int sig)
{
        siglongjmp(segv_jump, 1);
}

struct story {
        char name[64];
        int to_consumer[2];
        int to_producer[2];
};

/* The consumer, as uid 65534: reads a range of frames, and cannot change it by any means. */
static void consumer(void *arg)
{
        struct story *s = arg;
        th_become(65534, 65534);
        shmv_client *c = th_connect();
        wait_byte(s->to_consumer[0]); /* the producer wrote the first frame */

        shmv_view *v, *letters, *evens, *backwards;
        CHECK_OK(shmv_view_open(c, s->name, 4096, MiB, SHMV_READ, &v));
        CHECK(shmv_view_readonly(v));
        CHECK_EQ(shmv_view_len(v), MiB);
        CHECK_STR(shmv_view_format(v), "B");
        CHECK_OK(shmv_view_slice(v, 0, 26, SHMV_NONE, &letters));
        CHECK_OK(shmv_view_slice(letters, SHMV_NONE, SHMV_NONE, 2, &evens));
        CHECK_OK(shmv_view_slice(letters, SHMV_NONE, SHMV_NONE, -1, &backwards));
        char buf[27] = "";
        CHECK_OK(shmv_view_tobytes(letters, buf, sizeof(buf)));
        CHECK_STR(buf, "abcdefghijklmnopqrstuvwxyz");
        memset(buf, 0, sizeof(buf));
        CHECK_OK(shmv_view_tobytes(evens, buf, sizeof(buf)));
        CHECK_STR(buf, "acegikmoqsuwy");
        memset(buf, 0, sizeof(buf));
        CHECK_OK(shmv_view_tobytes(backwards, buf, sizeof(buf)));
        CHECK_STR(buf, "zyxwvutsrqponmlkjihgfedcba");
        uint8_t item;
        CHECK_OK(shmv_view_get(letters, -1, &item));
        CHECK_EQ(item, 'z');
        CHECK_OK(shmv_view_get(v, MiB - 1, &item));
        CHECK_EQ(item, 0xee);

        /* Zero copy: the producer's next write shows through the same views. */
        send_byte(s->to_producer[1]);
        wait_byte(s->to_consumer[0]);
        CHECK_OK(shmv_view_get(letters, 0, &item));
        CHECK_EQ(item, 'A');
        CHECK_OK(shmv_view_get(backwards, 0, &item));
        CHECK_EQ(item, 'Z');

        /* Refused by the library... */
        CHECK_RC(shmv_view_set(letters, 0, "K"), -EROFS);
        CHECK_STR(shmv_strerror(-EROFS), "cannot modify read-only memory");
        CHECK_RC(shmv_view_write(letters, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26), -EROFS);
        void *data = NULL;
        CHECK_RC(shmv_view_data_mut(v, &data), -EROFS);
        CHECK_NULL(data);
        /* ... and by the kernel. */
        void *page = (void *)((uintptr_t)shmv_view_data(v) & ~(uintptr_t)4095);
        CHECK_LT(mprotect(page, 4096, PROT_READ | PROT_WRITE), 0);
        CHECK_EQ(errno, EACCES);
        signal(SIGSEGV, on_segv);
        volatile int faulted = 0;
        if (sigsetjmp(segv_jump, 1) == 0)
                *(volatile char *)(uintptr_t)shmv_view_data(v) = 'K';
        else
                faulted = 1;
        signal(SIGSEGV, SIG_DFL);
        CHECK(faulted);
        CHECK_OK(shmv_view_get(letters, 0, &item));
        CHECK_EQ(item, 'A');
        /* The writable open itself is denied to this uid by the mode bits. */
        shmv_view *w = NULL;
        CHECK_RC(shmv_view_open(c, s->name, 0, 1, SHMV_READ | SHMV_WRITE, &w), -EACCES);

        /* The producer unlinks: the name is gone, the views keep working. */
        send_byte(s->to_producer[1]);
        wait_byte(s->to_consumer[0]);
        shmv_segment_info info;
        CHECK_RC(shmv_segment_stat(c, s->name, &info), -ENOENT);
        CHECK_OK(shmv_view_get(backwards, -1, &item));
        CHECK_EQ(item, 'A');
        shmv_view_release(v);
        shmv_view_release(letters);
        shmv_view_release(evens);
        CHECK_OK(shmv_view_get(backwards, 1, &item));
        CHECK_EQ(item, 'Y');
        shmv_view_release(backwards);
        shmv_disconnect(c);
}

static void test_producer_consumer(void)
{
        struct story s;
        snprintf(s.name, sizeof(s.name), "%s", th_name("frames"));
        CHECK_EQ(pipe(s.to_consumer), 0);
        CHECK_EQ(pipe(s.to_producer), 0);
        int memfds_before = daemon_memfds();

        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, s.name, 64 * MiB, 0644));
        shmv_view *w;
        CHECK_OK(shmv_view_open(c, s.name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w));
        CHECK(!shmv_view_readonly(w));
        CHECK_EQ(shmv_view_nbytes(w), 64 * MiB);
        uint8_t *frame = th_data_mut(w);
        CHECK(frame);
        memset(frame + 4096, 0xee, MiB);
        memcpy(frame + 4096, "abcdefghijklmnopqrstuvwxyz", 26);

        pid_t pid = fork();
        if (pid == 0) {
                consumer(&s);
                _exit(0);
        }
        send_byte(s.to_consumer[1]);
        wait_byte(s.to_producer[0]);
        memcpy(frame + 4096, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26);
        send_byte(s.to_consumer[1]);
        wait_byte(s.to_producer[0]);
        CHECK_MEM(frame + 4096, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 26);

        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, s.name, &info));
        CHECK_EQ(info.views_ro, 1);
        CHECK_EQ(info.views_rw, 1);
        CHECK_GE(daemon_memfds(), memfds_before + 1);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, s.name));
        send_byte(s.to_consumer[1]);

        int st;
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        /* The last view is gone: the daemon has let go of the memory. */
        int n = -1;
        for (int i = 0; i < 300 && (n = daemon_memfds()) != memfds_before; i++)
                usleep(10000);
        CHECK_EQ(n, memfds_before);
        shmv_disconnect(c);
}

/* The seed's session, across two processes. */
static void seed_reader(void *arg)
{
        const char *name = arg;
        shmv_client *c = th_connect();
        shmv_view *m, *m2;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &m));
        CHECK_EQ(shmv_view_len(m), 52);
        char a, z, A;
        CHECK_OK(shmv_view_get(m, 0, &a));
        CHECK_OK(shmv_view_get(m, 25, &z));
        CHECK_OK(shmv_view_get(m, 26, &A));
        CHECK_EQ(a, 'a');
        CHECK_EQ(z, 'z');
        CHECK_EQ(A, 'A');
        CHECK_OK(shmv_view_slice(m, 0, 26, SHMV_NONE, &m2));
        char bytes[26];
        CHECK_OK(shmv_view_tobytes(m2, bytes, sizeof(bytes)));
        CHECK_MEM(bytes, "abcdefghijklmnopqrstuvwxyz", 26);
        shmv_item items[26];
        CHECK_OK(shmv_view_tolist(m2, items, 26));
        for (int i = 0; i < 26; i++) {
                CHECK_EQ(items[i].format, 'B');
                CHECK_EQ(items[i].u, (uint64_t)(97 + i));
        }
        CHECK_RC(shmv_view_set(m2, 0, "K"), -EROFS);
        CHECK_STR(shmv_strerror(-EROFS), "cannot modify read-only memory");
        shmv_view_release(m2);
        shmv_view_release(m);
        shmv_disconnect(c);
}

static void seed_after_write(void *arg)
{
        const char *name = arg;
        shmv_client *c = th_connect();
        shmv_view *b;
        CHECK_OK(shmv_view_open(c, name, 0, 5, SHMV_READ, &b));
        char five[5];
        CHECK_OK(shmv_view_tobytes(b, five, 5));
        CHECK_MEM(five, "*bcde", 5);
        shmv_view_release(b);
        shmv_disconnect(c);
}

static void test_seed_session(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("letters"));
        CHECK_OK(shmv_segment_create(c, name, 52, 0644));
        shmv_view *mb;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &mb));
        CHECK_OK(shmv_view_write(mb, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 52));
        CHECK_EQ(th_in_child(seed_reader, name), 0);
        CHECK_OK(shmv_view_set(mb, 0, "*"));
        CHECK_EQ(th_in_child(seed_after_write, name), 0);
        shmv_view_release(mb);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

struct crowd {
        char shared[64];
        int index;
};

/* One of many clients: its own segment, plus views of a shared one, sliced and released. */
static void crowd_member(void *arg)
{
        const struct crowd *cr = arg;
        shmv_client *c = th_connect();
        char mine[96];
        snprintf(mine, sizeof(mine), "%s-%d", cr->shared, cr->index);
        CHECK_OK(shmv_segment_create(c, mine, 8192, 0600));
        for (int round = 0; round < 20; round++) {
                shmv_view *w, *r, *s;
                CHECK_OK(shmv_view_open(c, mine, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w));
                uint8_t b = (uint8_t)(cr->index + round);
                CHECK_OK(shmv_view_set(w, -1, &b));
                CHECK_OK(shmv_view_open(c, cr->shared, (uint64_t)cr->index, 100, SHMV_READ, &r));
                CHECK_OK(shmv_view_slice(r, 10, SHMV_NONE, -3, &s));
                uint8_t got;
                CHECK_OK(shmv_view_get(s, 0, &got));
                CHECK_EQ(got, (uint8_t)(cr->index + 10));
                shmv_view_release(r);
                shmv_view_release(w);
                CHECK_OK(shmv_view_get(s, 1, &got));
                CHECK_EQ(got, (uint8_t)(cr->index + 7));
                shmv_view_release(s);
        }
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, mine, &info));
        CHECK_EQ(info.views_ro, 0);
        CHECK_EQ(info.views_rw, 0);
        CHECK_OK(shmv_segment_unlink(c, mine));
        shmv_disconnect(c);
}

/* 100 clients at once; afterwards nothing of theirs is left open. */
static void test_hundred_clients(void)
{
        enum { N = 100 };
        shmv_client *c = th_connect();
        struct crowd cr;
        snprintf(cr.shared, sizeof(cr.shared), "%s", th_name("crowd"));
        CHECK_OK(shmv_segment_create(c, cr.shared, 4096, 0644));
        shmv_view *w;
        CHECK_OK(shmv_view_open(c, cr.shared, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w));
        uint8_t *p = th_data_mut(w);
        for (int i = 0; i < 4096; i++)
                p[i] = (uint8_t)i;
        shmv_view_release(w);

        pid_t pids[N];
        for (int i = 0; i < N; i++) {
                cr.index = i;
                fflush(stdout);
                pids[i] = fork();
                CHECK_GE(pids[i], 0);
                if (pids[i] == 0) {
                        crowd_member(&cr);
                        _exit(0);
                }
        }
        int failed = 0;
        for (int i = 0; i < N; i++) {
                int st;
                waitpid(pids[i], &st, 0);
                if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                        failed++;
        }
        CHECK_EQ(failed, 0);

        shmv_segment_info *list;
        size_t n;
        CHECK_OK(shmv_segment_list(c, &list, &n));
        for (size_t i = 0; i < n; i++) {
                CHECK_EQ(list[i].views_ro, 0);
                CHECK_EQ(list[i].views_rw, 0);
                CHECK(strncmp(list[i].name, cr.shared, strlen(cr.shared)) != 0 ||
                      strcmp(list[i].name, cr.shared) == 0);
        }
        shmv_segment_list_free(list);
        CHECK_OK(shmv_segment_unlink(c, cr.shared));
        shmv_disconnect(c);
}

/* Threads sharing one connection. */
#include <pthread.h>

struct worker {
        shmv_client *c;
        const char *name;
        int errors;
};

static void *thread_worker(void *arg)
{
        struct worker *wk = arg;
        for (int i = 0; i < 200; i++) {
                shmv_view *v, *s;
                if (shmv_view_open(wk->c, wk->name, (uint64_t)i, 64, SHMV_READ, &v) < 0) {
                        wk->errors++;
                        continue;
                }
                uint8_t b;
                if (shmv_view_slice(v, 1, 2, 1, &s) < 0 || shmv_view_get(s, 0, &b) < 0 ||
                    b != (uint8_t)(i + 1))
                        wk->errors++;
                shmv_view_release(v);
                shmv_view_release(s);
                shmv_segment_info info;
                if (shmv_segment_stat(wk->c, wk->name, &info) < 0)
                        wk->errors++;
        }
        return NULL;
}

static void test_threads_share_client(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("threads"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        shmv_view *w;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w));
        for (int i = 0; i < 4096; i++)
                CHECK_OK(shmv_view_set(w, i, &(uint8_t){(uint8_t)i}));
        shmv_view_release(w);
        enum { T = 8 };
        pthread_t t[T];
        struct worker wk[T];
        for (int i = 0; i < T; i++) {
                wk[i] = (struct worker){c, name, 0};
                CHECK_EQ(pthread_create(&t[i], NULL, thread_worker, &wk[i]), 0);
        }
        for (int i = 0; i < T; i++) {
                pthread_join(t[i], NULL);
                CHECK_EQ(wk[i].errors, 0);
        }
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_EQ(info.views_ro, 0);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

int main(int argc, char **argv)
{
        static const th_test tests[] = {
                TH_TEST(test_producer_consumer),
                TH_TEST(test_seed_session),
                TH_TEST(test_hundred_clients),
                TH_TEST(test_threads_share_client),
        };
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), NULL);
}

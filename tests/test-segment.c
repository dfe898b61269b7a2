/* Segments against a real daemon: create, stat, list, unlink, seal, permissions, budget. */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MiB (1024ull * 1024)
/* The test daemon runs with this byte limit (see main). */
#define BUDGET (256 * MiB)

static uint64_t now_usec(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void test_create_stat(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("stat"));
        uint64_t before = now_usec();
        CHECK_OK(shmv_segment_create(c, name, 12345, 0));
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_STR(info.name, name);
        CHECK_EQ(info.size, 12345);
        CHECK_EQ(info.uid, getuid());
        CHECK_EQ(info.gid, getgid());
        CHECK_EQ(info.mode, 0600);
        CHECK(!info.sealed);
        CHECK_EQ(info.views_ro, 0);
        CHECK_EQ(info.views_rw, 0);
        CHECK_GE(info.created_usec + 1000000, before);
        CHECK_LE(info.created_usec, now_usec() + 1000000);

        CHECK_RC(shmv_segment_create(c, name, 4096, 0644), -EEXIST);
        CHECK_STR(shmv_strerror(-EEXIST), "a segment with that name exists");
        CHECK_RC(shmv_segment_stat(c, "no-such-segment", &info), -ENOENT);
        CHECK_STR(shmv_strerror(-ENOENT), "no such segment");
        CHECK_OK(shmv_segment_unlink(c, name));
        CHECK_RC(shmv_segment_unlink(c, name), -ENOENT);
        shmv_disconnect(c);
}

static void test_bad_arguments(void)
{
        shmv_client *c = th_connect();
        char longname[SHMV_NAME_MAX + 2];
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        CHECK_RC(shmv_segment_create(c, "", 4096, 0), -EINVAL);
        CHECK_RC(shmv_segment_create(c, "a/b", 4096, 0), -EINVAL);
        CHECK_RC(shmv_segment_create(c, "..", 4096, 0), -EINVAL);
        CHECK_RC(shmv_segment_create(c, "tab\there", 4096, 0), -EINVAL);
        CHECK_RC(shmv_segment_create(c, longname, 4096, 0), -EINVAL);
        CHECK_RC(shmv_segment_create(c, NULL, 4096, 0), -EINVAL);
        longname[SHMV_NAME_MAX] = '\0';
        CHECK_OK(shmv_segment_create(c, longname, 4096, 0));
        CHECK_OK(shmv_segment_unlink(c, longname));

        const char *name = th_name("bad");
        CHECK_RC(shmv_segment_create(c, name, 0, 0), -EINVAL);
        CHECK_RC(shmv_segment_create(c, name, 4096, 010000), -EINVAL);
        CHECK_RC(shmv_segment_stat(c, name, NULL), -EINVAL);
        CHECK_OK(shmv_segment_create(c, name, 8192, 0));

        shmv_view *v = NULL;
        CHECK_RC(shmv_view_open(c, name, 0, 1, 0, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, 0, 1, SHMV_WRITE, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, 0, 1, SHMV_READ | 8, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, 8193, 0, SHMV_READ, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, 8192, 1, SHMV_READ, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, 4096, 4097, SHMV_READ, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, 4096, UINT64_MAX - 100, SHMV_READ, &v), -EOVERFLOW);
        CHECK_RC(shmv_view_open(c, name, UINT64_MAX, 2, SHMV_READ, &v), -EOVERFLOW);
        CHECK_RC(shmv_view_open(c, name, 8193, SHMV_TO_END, SHMV_READ, &v), -EINVAL);
        CHECK_NULL(v);
        /* The empty view at the very end is allowed, as m[len:] is. */
        CHECK_OK(shmv_view_open(c, name, 8192, SHMV_TO_END, SHMV_READ, &v));
        CHECK_EQ(shmv_view_len(v), 0);
        shmv_view_release(v);
        CHECK_OK(shmv_view_open(c, name, 100, SHMV_TO_END, SHMV_READ, &v));
        CHECK_EQ(shmv_view_len(v), 8092);
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static int cmp_name(const void *a, const void *b)
{
        return strcmp(((const shmv_segment_info *)a)->name, ((const shmv_segment_info *)b)->name);
}

/* More segments than fit in one reply page: the library follows the pages, sorted. */
static void test_list_pages(void)
{
        shmv_client *c = th_connect();
        enum { N = 700 };
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "%s", th_name("list"));
        char name[96];
        for (int i = 0; i < N; i++) {
                snprintf(name, sizeof(name), "%s-%04d", prefix, i);
                CHECK_OK(shmv_segment_create(c, name, 4096 + (uint64_t)i, 0640));
        }
        shmv_segment_info *list;
        size_t n;
        CHECK_OK(shmv_segment_list(c, &list, &n));
        CHECK_GE(n, N);
        int found = 0;
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        CHECK(strcmp(list[i - 1].name, list[i].name) < 0);
                if (strncmp(list[i].name, prefix, strlen(prefix)) == 0) {
                        int k = atoi(list[i].name + strlen(prefix) + 1);
                        CHECK_EQ(k, found);
                        CHECK_EQ(list[i].size, 4096 + (uint64_t)k);
                        CHECK_EQ(list[i].mode, 0640);
                        found++;
                }
        }
        CHECK_EQ(found, N);
        qsort(list, n, sizeof(*list), cmp_name);
        shmv_segment_list_free(list);
        for (int i = 0; i < N; i++) {
                snprintf(name, sizeof(name), "%s-%04d", prefix, i);
                CHECK_OK(shmv_segment_unlink(c, name));
        }
        CHECK_OK(shmv_segment_list(c, &list, &n));
        for (size_t i = 0; i < n; i++)
                CHECK(strncmp(list[i].name, prefix, strlen(prefix)) != 0);
        shmv_segment_list_free(list);
        shmv_disconnect(c);
}

/* Unlink: the name goes at once and can be reused; an open view keeps the old memory. */
static void test_unlink_keeps_views(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("unlink"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        shmv_view *old;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &old));
        memcpy(th_data_mut(old), "old data", 8);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_segment_info info;
        CHECK_RC(shmv_segment_stat(c, name, &info), -ENOENT);
        shmv_view *v;
        CHECK_RC(shmv_view_open(c, name, 0, 1, SHMV_READ, &v), -ENOENT);

        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v));
        static const char zeros[8];
        CHECK_MEM(shmv_view_data(v), zeros, 8);
        CHECK_MEM(shmv_view_data(old), "old data", 8);
        memcpy(th_data_mut(old), "changed!", 8);
        CHECK_MEM(shmv_view_data(v), zeros, 8);
        shmv_view_release(v);
        shmv_view_release(old);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

#define N_FD_SEGMENTS 8

/* The daemon's descriptors once the requests sent so far are answered: a stat is a round
 * trip, and a release (one-way) sent before it has been processed by then. */
static int fds_after_round_trip(shmv_client *c)
{
        shmv_segment_info info;
        CHECK_RC(shmv_segment_stat(c, "no-such-segment", &info), -ENOENT);
        return th_daemon_fd_count();
}

/* A segment holds one descriptor in the daemon (its memfd) until a view of it is opened; the
 * first read-only view opens its read-only descriptor, the first writable one its read-write
 * descriptor (the memfd itself is never handed out), each kept until the segment is freed. */
static void test_descriptors_per_segment(void)
{
        shmv_client *c = th_connect();
        char names[N_FD_SEGMENTS][64];
        for (int i = 0; i < N_FD_SEGMENTS; i++)
                snprintf(names[i], sizeof(names[i]), "%s", th_name("fds"));
        int base = fds_after_round_trip(c);
        CHECK_GT(base, 0);

        for (int i = 0; i < N_FD_SEGMENTS; i++)
                CHECK_OK(shmv_segment_create(c, names[i], 4096, 0644));
        CHECK_EQ(fds_after_round_trip(c), base + N_FD_SEGMENTS);

        /* The first writable view opens the read-write descriptor; later ones, and releases,
         * neither open nor close one. */
        shmv_view *w1, *w2;
        CHECK_OK(shmv_view_open(c, names[0], 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w1));
        CHECK_EQ(th_daemon_fd_count(), base + N_FD_SEGMENTS + 1);
        CHECK_OK(shmv_view_open(c, names[0], 0, 100, SHMV_READ | SHMV_WRITE, &w2));
        CHECK_EQ(th_daemon_fd_count(), base + N_FD_SEGMENTS + 1);
        memcpy(th_data_mut(w1), "written", 7);
        shmv_view_release(w2);
        CHECK_EQ(fds_after_round_trip(c), base + N_FD_SEGMENTS + 1);

        /* The same for read-only views and the read-only descriptor. */
        shmv_view *r1, *r2, *r3;
        CHECK_OK(shmv_view_open(c, names[0], 0, SHMV_TO_END, SHMV_READ, &r1));
        CHECK_EQ(th_daemon_fd_count(), base + N_FD_SEGMENTS + 2);
        CHECK_MEM(shmv_view_data(r1), "written", 7);
        CHECK_OK(shmv_view_open(c, names[0], 4, 3, SHMV_READ, &r2));
        CHECK_EQ(th_daemon_fd_count(), base + N_FD_SEGMENTS + 2);
        CHECK_MEM(shmv_view_data(r2), "ten", 3);
        shmv_view_release(r2);
        shmv_view_release(r1);
        CHECK_EQ(fds_after_round_trip(c), base + N_FD_SEGMENTS + 2);
        CHECK_OK(shmv_view_open(c, names[0], 0, SHMV_TO_END, SHMV_READ, &r1));
        CHECK_EQ(th_daemon_fd_count(), base + N_FD_SEGMENTS + 2);
        CHECK_OK(shmv_view_open(c, names[0], 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w2));
        CHECK_EQ(th_daemon_fd_count(), base + N_FD_SEGMENTS + 2);
        shmv_view_release(w2);

        /* Each segment has its own. */
        CHECK_OK(shmv_view_open(c, names[1], 0, SHMV_TO_END, SHMV_READ, &r3));
        CHECK_EQ(th_daemon_fd_count(), base + N_FD_SEGMENTS + 3);
        CHECK_EQ(fds_after_round_trip(c), base + N_FD_SEGMENTS + 3);

        /* Unlinked, a segment keeps its descriptors while views hold it; the rest go at once. */
        for (int i = 0; i < N_FD_SEGMENTS; i++)
                CHECK_OK(shmv_segment_unlink(c, names[i]));
        CHECK_EQ(th_daemon_fd_count(), base + 5); /* names[0] three, names[1] two */
        shmv_view_release(w1);
        CHECK_EQ(fds_after_round_trip(c), base + 5);
        shmv_view_release(r3);
        CHECK_EQ(fds_after_round_trip(c), base + 3);
        shmv_view_release(r1);
        CHECK_EQ(fds_after_round_trip(c), base);
        shmv_disconnect(c);
}

static void test_seal(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("seal"));
        CHECK_OK(shmv_segment_create(c, name, 3 * 4096, 0644));
        shmv_view *w, *r;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w));
        memcpy(th_data_mut(w), "sealed text", 11);
        CHECK_RC(shmv_segment_seal(c, name), -EBUSY);
        CHECK_STR(shmv_strerror(-EBUSY), "the segment has writable views open");
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK(!info.sealed);
        CHECK_EQ(info.views_rw, 1);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_seal(c, name));
        CHECK_OK(shmv_segment_seal(c, name));
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK(info.sealed);
        CHECK_EQ(info.views_rw, 0);
        /* Root too: nobody opens a sealed segment writable. */
        CHECK_RC(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w), -EPERM);
        CHECK_OK(shmv_view_open(c, name, 4096, SHMV_TO_END, SHMV_READ, &r));
        shmv_view_release(r);
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &r));
        CHECK_MEM(shmv_view_data(r), "sealed text", 11);
        /* The kernel refuses a writable mapping of these pages. */
        void *page = (void *)((uintptr_t)shmv_view_data(r) & ~(uintptr_t)4095);
        CHECK_LT(mprotect(page, 4096, PROT_READ | PROT_WRITE), 0);
        shmv_view_release(r);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* Whether shmem_enabled lets the daemon have huge pages for a segment. */
static bool shmem_thp_allowed(void)
{
        char buf[256] = "";
        FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "re");
        if (!f)
                return false;
        bool ok = fgets(buf, sizeof(buf), f) &&
                  (strstr(buf, "[advise]") || strstr(buf, "[within_size]") ||
                   strstr(buf, "[always]") || strstr(buf, "[force]"));
        fclose(f);
        return ok;
}

/* Kilobytes of the mapping holding addr that are mapped by huge page table entries. */
static unsigned long pmd_mapped_kb(const void *addr)
{
        FILE *f = fopen("/proc/self/smaps", "re");
        CHECK(f != NULL);
        char line[512];
        bool in = false;
        unsigned long kb = 0, v;
        while (fgets(line, sizeof(line), f)) {
                unsigned long lo, hi;
                if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
                    strchr(line, '-') < strchr(line, ' '))
                        in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
                else if (in && (sscanf(line, "ShmemPmdMapped: %lu kB", &v) == 1 ||
                                sscanf(line, "FilePmdMapped: %lu kB", &v) == 1))
                        kb += v;
        }
        fclose(f);
        return kb;
}

/* A segment created with SHMV_SEGMENT_HUGE_PAGES behaves like any other (exact size, shared
 * bytes, sealable: the daemon kept no writable mapping), and where shmem_enabled allows it,
 * its pages are mapped huge. */
static void test_huge_pages(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("huge"));
        uint64_t size = 4 * MiB + 4096;
        CHECK_RC(shmv_segment_create_with_flags(c, name, size, 0644, 2), -EINVAL);
        CHECK_RC(shmv_segment_create_with_flags(NULL, name, size, 0644, 0), -EINVAL);
        CHECK_RC(shmv_segment_stat(c, name, &(shmv_segment_info){0}), -ENOENT);
        CHECK_OK(shmv_segment_create_with_flags(c, name, size, 0644, SHMV_SEGMENT_HUGE_PAGES));
        CHECK_RC(shmv_segment_create_with_flags(c, name, size, 0644, SHMV_SEGMENT_HUGE_PAGES),
                 -EEXIST);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_EQ(info.size, size);
        CHECK_EQ(info.mode, 0644);

        shmv_view *w, *r;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w));
        uint8_t *p = th_data_mut(w);
        for (uint64_t i = 0; i < size; i += 4096)
                CHECK_EQ(p[i], 0);
        memcpy(p, "first", 5);
        memcpy(p + size - 4, "last", 4);
        shmv_view_release(w);
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &r));
        const uint8_t *q = shmv_view_data(r);
        CHECK_MEM(q, "first", 5);
        CHECK_MEM(q + size - 4, "last", 4);
        if (shmem_thp_allowed()) {
                unsigned long kb = pmd_mapped_kb(q);
                if (kb < 2048)
                        th_fail(__FILE__, __LINE__,
                                "shmem THP is on, yet %lu kB of %s is "
                                "mapped by huge pages",
                                kb, name);
        }
        shmv_view_release(r);
        CHECK_OK(shmv_segment_seal(c, name));
        CHECK_OK(shmv_segment_unlink(c, name));

        /* Smaller than one huge page: normal pages, same behaviour. */
        CHECK_OK(shmv_segment_create_with_flags(c, name, 5000, 0, SHMV_SEGMENT_HUGE_PAGES));
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_EQ(info.size, 5000);
        CHECK_EQ(info.mode, 0600);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

struct perm_case {
        const char *name;
        uid_t uid;
        gid_t gid;
        int want_read;
        int want_write;
        int want_unlink;
        int want_seal;
};

static void try_as(void *arg)
{
        const struct perm_case *p = arg;
        th_become(p->uid, p->gid);
        shmv_client *c = th_connect();
        shmv_view *v = NULL;
        CHECK_RC(shmv_view_open(c, p->name, 0, SHMV_TO_END, SHMV_READ, &v), p->want_read);
        shmv_view_release(v);
        v = NULL;
        CHECK_RC(shmv_view_open(c, p->name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &v),
                 p->want_write);
        shmv_view_release(v);
        CHECK_RC(shmv_segment_seal(c, p->name), p->want_seal);
        CHECK_RC(shmv_segment_unlink(c, p->name), p->want_unlink);
        /* stat is open to everyone who can connect. */
        shmv_segment_info info;
        if (p->want_unlink != 0)
                CHECK_OK(shmv_segment_stat(c, p->name, &info));
        shmv_disconnect(c);
}

static void check_as(const char *name, uid_t uid, gid_t gid, int r, int w, int unlink_rc)
{
        struct perm_case p = {name, uid, gid, r, w, unlink_rc, unlink_rc};
        CHECK_EQ(th_in_child(try_as, &p), 0);
}

static void create_as(void *arg)
{
        const struct perm_case *p = arg;
        th_become(p->uid, p->gid);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, p->name, 4096, (uint32_t)p->want_read));
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, p->name, &info));
        CHECK_EQ(info.uid, p->uid);
        CHECK_EQ(info.gid, p->gid);
        shmv_disconnect(c);
}

/* Mode bits are checked like a file's, for owner, group and others, as unprivileged uids. */
static void test_permissions(void)
{
        shmv_client *c = th_connect();
        char name[64];

        snprintf(name, sizeof(name), "%s", th_name("perm"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0600));
        check_as(name, 65534, 65534, -EACCES, -EACCES, -EPERM);
        CHECK_OK(shmv_segment_unlink(c, name));

        CHECK_OK(shmv_segment_create(c, name, 4096, 0644));
        check_as(name, 65534, 65534, 0, -EACCES, -EPERM);
        CHECK_OK(shmv_segment_unlink(c, name));

        CHECK_OK(shmv_segment_create(c, name, 4096, 0666));
        check_as(name, 65534, 65534, 0, 0, -EPERM);
        CHECK_OK(shmv_segment_unlink(c, name));

        /* Write without read is no writable view: a mapping always reads. */
        CHECK_OK(shmv_segment_create(c, name, 4096, 0622));
        check_as(name, 65534, 65534, -EACCES, -EACCES, -EPERM);
        CHECK_OK(shmv_segment_unlink(c, name));

        /* A segment of uid 65534, group 65534, mode 0640: its group reads, others do not,
         * the owner writes, unlinks and seals; root does everything. */
        struct perm_case creator = {name, 65534, 65534, 0640, 0, 0, 0};
        CHECK_EQ(th_in_child(create_as, &creator), 0);
        check_as(name, 65533, 65534, 0, -EACCES, -EPERM);
        check_as(name, 65533, 65533, -EACCES, -EACCES, -EPERM);
        check_as(name, 65534, 65534, 0, 0, 0);
        CHECK_RC(shmv_segment_stat(c, name, NULL), -EINVAL);
        shmv_segment_info info;
        CHECK_RC(shmv_segment_stat(c, name, &info), -ENOENT);

        CHECK_EQ(th_in_child(create_as, &creator), 0);
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &v));
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* The daemon counts bytes before touching memory: past its limit, or past the memory there is,
 * a create is ENOSPC and leaves nothing behind. Unlinked segments still count while mapped. */
static void test_budget(void)
{
        shmv_client *c = th_connect();
        char a[64], b[64];
        snprintf(a, sizeof(a), "%s", th_name("budget"));
        snprintf(b, sizeof(b), "%s", th_name("budget"));
        CHECK_OK(shmv_segment_create(c, a, 200 * MiB, 0));
        CHECK_NULL(shmv_last_error_message());
        CHECK_RC(shmv_segment_create(c, b, 100 * MiB, 0), -ENOSPC);
        CHECK_STR(shmv_strerror(-ENOSPC),
                  "over the daemon's limits (max_bytes or max_segments) or out of memory");
        /* The daemon says which limit, and what for. */
        const char *msg = shmv_last_error_message();
        CHECK(msg != NULL);
        CHECK(strstr(msg, "max_bytes would be passed") != NULL);
        CHECK(strstr(msg, b) != NULL);
        shmv_segment_info info;
        CHECK_RC(shmv_segment_stat(c, b, &info), -ENOENT);
        CHECK_OK(shmv_segment_create(c, b, BUDGET - 200 * MiB, 0));
        CHECK_OK(shmv_segment_unlink(c, b));

        shmv_view *v;
        CHECK_OK(shmv_view_open(c, a, 0, SHMV_TO_END, SHMV_READ, &v));
        CHECK_OK(shmv_segment_unlink(c, a));
        CHECK_RC(shmv_segment_create(c, b, 100 * MiB, 0), -ENOSPC);
        shmv_view_release(v);
        /* The release is one-way: a round trip makes sure the daemon has seen it. */
        CHECK_RC(shmv_segment_stat(c, a, &info), -ENOENT);
        CHECK_OK(shmv_segment_create(c, b, 100 * MiB, 0));
        CHECK_OK(shmv_segment_unlink(c, b));
        /* Far more than the machine has: refused before anything is reserved. */
        CHECK_RC(shmv_segment_create(c, b, 1ull << 50, 0), -ENOSPC);
        CHECK_RC(shmv_segment_create(c, b, UINT64_MAX, 0), -ENOSPC);
        shmv_disconnect(c);
}

static const char *message_or_null(void)
{
        const char *msg = shmv_last_error_message();
        return msg ? msg : "(null)";
}

/* The message must contain each of the strings given, up to a NULL. */
static void check_message_has(const char *file, int line, ...)
{
        const char *msg = shmv_last_error_message();
        va_list ap;
        va_start(ap, line);
        for (const char *want; (want = va_arg(ap, const char *));) {
                if (!msg || !strstr(msg, want))
                        th_fail(file, line, "last error message \"%s\" lacks \"%s\"",
                                msg ? msg : "(null)", want);
        }
        va_end(ap);
}
#define CHECK_MESSAGE_HAS(...) \
        check_message_has(__FILE__, __LINE__, __VA_ARGS__, (const char *)NULL)
#define CHECK_NO_MESSAGE()                                                                       \
        do {                                                                                     \
                if (shmv_last_error_message())                                                   \
                        th_fail(__FILE__, __LINE__, "last error message is \"%s\", wanted NULL", \
                                message_or_null());                                              \
        } while (0)

static void message_in_child(void *arg)
{
        shmv_client *c = arg;
        /* The forking thread's message comes along... */
        CHECK_MESSAGE_HAS("no such segment");
        /* ...and a call in the child, refused locally (another process's connection), clears it. */
        shmv_segment_info info;
        CHECK_RC(shmv_segment_stat(c, "anything", &info), -ENOTCONN);
        CHECK_NO_MESSAGE();
}

/* shmv_last_error_message(): set by the daemon's error replies, cleared by every call that talks
 * to the daemon, left alone by everything else (include/shmview.h). */
static void test_error_message_rules(void)
{
        shmv_client *c = th_connect();
        char name[64], missing[64];
        snprintf(name, sizeof(name), "%s", th_name("msg"));
        snprintf(missing, sizeof(missing), "%s", th_name("msg-missing"));
        shmv_segment_info info;

        /* A successful call leaves none. */
        CHECK_OK(shmv_segment_create(c, name, 4096, 0644));
        CHECK_NO_MESSAGE();

        /* Daemon refusals: the daemon's sentence, naming the segment. */
        CHECK_RC(shmv_segment_stat(c, missing, &info), -ENOENT);
        CHECK_MESSAGE_HAS("no such segment", missing);
        CHECK_RC(shmv_segment_create(c, name, 4096, 0), -EEXIST);
        CHECK_MESSAGE_HAS(name);
        CHECK_RC(shmv_segment_create(c, missing, 0, 0), -EINVAL);
        CHECK_MESSAGE_HAS("size", missing);
        shmv_view *v = NULL, *w = NULL;
        CHECK_RC(shmv_view_open(c, name, 4096, 1, SHMV_READ, &v), -EINVAL);
        CHECK_MESSAGE_HAS("range past the end of the segment", name);

        /* Success clears what an earlier failure left. */
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_NO_MESSAGE();

        /* A call refused before any request clears it: a bad name or bad flags set the
         * library's own message, a NULL argument none. */
        CHECK_RC(shmv_segment_stat(c, missing, &info), -ENOENT);
        CHECK(shmv_last_error_message() != NULL);
        CHECK_RC(shmv_segment_create(c, "a/b", 4096, 0), -EINVAL);
        CHECK_MESSAGE_HAS("not a segment name (1 to 255 bytes", "no '/'");
        CHECK_RC(shmv_segment_stat(c, missing, &info), -ENOENT);
        CHECK_RC(shmv_segment_stat(c, name, NULL), -EINVAL);
        CHECK_NO_MESSAGE();
        CHECK_RC(shmv_segment_stat(c, missing, &info), -ENOENT);
        CHECK_RC(shmv_view_open(c, name, 0, 1, SHMV_WRITE, &v), -EINVAL);
        CHECK_MESSAGE_HAS("flags 0x2: SHMV_READ", "SHMV_PREFAULT");
        CHECK_RC(shmv_segment_stat(c, missing, &info), -ENOENT);
        CHECK_RC(shmv_segment_create_with_flags(NULL, name, 1, 0, 0), -EINVAL);
        CHECK_NO_MESSAGE();

        /* A write refused on a read-only view says which view, without a request. */
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v));
        CHECK_RC(shmv_view_set(v, 0, "x"), -EROFS);
        CHECK_MESSAGE_HAS("cannot write through a read-only view of", name);

        /* Other functions that do not talk to the daemon leave it: a local failure, releases
         * and disconnects after a refusal do not lose the refusal's message. */
        CHECK_RC(shmv_segment_stat(c, missing, &info), -ENOENT);
        CHECK_RC(shmv_view_get(v, 4096, (char[1]){0}), -ERANGE);
        CHECK_OK(shmv_view_slice(v, 0, 10, SHMV_NONE, &w));
        CHECK_OK(shmv_segment_name_check(name));
        CHECK_RC(shmv_segment_name_check("a/b"), -EINVAL);
        shmv_view_release(w);
        shmv_view_release(v);
        CHECK_MESSAGE_HAS("no such segment", missing);

        /* Connection errors are the library's: it says what is at the path. */
        shmv_client *none = NULL;
        CHECK_RC(shmv_connect("/nonexistent/dir/shmview.sock", &none), -ENOENT);
        CHECK_MESSAGE_HAS("no socket at /nonexistent/dir/shmview.sock");

        /* After fork(), the child starts with the parent thread's message. */
        CHECK_RC(shmv_segment_unlink(c, missing), -ENOENT);
        CHECK_EQ(th_in_child(message_in_child, c), 0);
        CHECK_MESSAGE_HAS("no such segment", missing);

        CHECK_OK(shmv_segment_unlink(c, name));
        CHECK_NO_MESSAGE();
        shmv_disconnect(c);
        CHECK_NO_MESSAGE();
}

#define THREAD_ROUNDS 300

struct message_thread {
        shmv_client *c; /* shared by both threads */
        pthread_barrier_t *barrier;
        const char *name;
        bool create; /* create an existing name (EEXIST), else stat a missing one (ENOENT) */
};

static void *message_thread(void *arg)
{
        struct message_thread *t = arg;
        shmv_segment_info info;
        for (int i = 0; i < THREAD_ROUNDS; i++) {
                /* Both threads call at once, so their requests and replies interleave on the
                 * connection. */
                pthread_barrier_wait(t->barrier);
                if (t->create) {
                        CHECK_RC(shmv_segment_create(t->c, t->name, 4096, 0), -EEXIST);
                        CHECK_MESSAGE_HAS("exists", t->name);
                } else {
                        CHECK_RC(shmv_segment_stat(t->c, t->name, &info), -ENOENT);
                        CHECK_MESSAGE_HAS("no such segment", t->name);
                }
                /* Read again once the other thread has surely had its own reply. */
                pthread_barrier_wait(t->barrier);
                if (t->create)
                        CHECK_MESSAGE_HAS("exists", t->name);
                else
                        CHECK_MESSAGE_HAS("no such segment", t->name);
        }
        return NULL;
}

/* Threads sharing one client each read the message of their own last call, like errno. */
static void test_error_message_per_thread(void)
{
        shmv_client *c = th_connect();
        char existing[64], missing[64];
        snprintf(existing, sizeof(existing), "%s", th_name("msg-exists"));
        snprintf(missing, sizeof(missing), "%s", th_name("msg-missing"));
        CHECK_OK(shmv_segment_create(c, existing, 4096, 0));
        pthread_barrier_t barrier;
        CHECK_EQ(pthread_barrier_init(&barrier, NULL, 2), 0);
        struct message_thread a = {c, &barrier, missing, false};
        struct message_thread b = {c, &barrier, existing, true};
        pthread_t ta, tb;
        CHECK_EQ(pthread_create(&ta, NULL, message_thread, &a), 0);
        CHECK_EQ(pthread_create(&tb, NULL, message_thread, &b), 0);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        pthread_barrier_destroy(&barrier);
        /* This thread made no failed call: none of theirs shows here. */
        CHECK_NO_MESSAGE();
        CHECK_OK(shmv_segment_unlink(c, existing));
        shmv_disconnect(c);
}

/* A peer that answers the hello of each connection it accepts with one error reply of
 * status EUSERS and the next message of a list, as a hostile or broken daemon could. */
struct fake_daemon {
        int listen_fd;
        const uint8_t *const *messages;
        const size_t *lens;
        size_t n;
};

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
        while (v >= 0x80) {
                *p++ = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        *p++ = (uint8_t)v;
        return p;
}

static bool read_full(int fd, void *buf, size_t len)
{
        for (size_t done = 0; done < len;) {
                ssize_t n = read(fd, (uint8_t *)buf + done, len - done);
                if (n <= 0)
                        return false;
                done += (size_t)n;
        }
        return true;
}

/* The id of a Request: its field 1, a varint, which protobuf-c writes first. */
static uint64_t request_id(const uint8_t *req, size_t len)
{
        uint64_t id = 0;
        if (len < 2 || req[0] != 0x08)
                return 0;
        for (size_t k = 1, shift = 0; k < len && shift < 64; k++, shift += 7) {
                id |= (uint64_t)(req[k] & 0x7f) << shift;
                if (!(req[k] & 0x80))
                        break;
        }
        return id;
}

static void *fake_daemon_serve(void *arg)
{
        struct fake_daemon *f = arg;
        for (size_t i = 0; i < f->n; i++) {
                int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                        break;
                /* The hello: a little-endian length, then the Request. */
                uint8_t head[4], req[512];
                uint64_t id = 0;
                if (read_full(fd, head, 4)) {
                        uint32_t len =
                                head[0] | head[1] << 8 | head[2] << 16 | (uint32_t)head[3] << 24;
                        if (len <= sizeof(req) && read_full(fd, req, len))
                                id = request_id(req, len);
                }
                /* Response {id = 1; status = 2; message = 3}, hand-encoded. */
                static uint8_t frame[4 + 32 + 4096];
                uint8_t *p = frame + 4;
                *p++ = 0x08;
                p = put_varint(p, id);
                *p++ = 0x10;
                p = put_varint(p, EUSERS);
                *p++ = 0x1a;
                p = put_varint(p, f->lens[i]);
                memcpy(p, f->messages[i], f->lens[i]);
                p += f->lens[i];
                uint32_t len = (uint32_t)(p - frame - 4);
                frame[0] = (uint8_t)len;
                frame[1] = (uint8_t)(len >> 8);
                frame[2] = (uint8_t)(len >> 16);
                frame[3] = (uint8_t)(len >> 24);
                (void)!write(fd, frame, (size_t)(p - frame));
                close(fd);
        }
        return NULL;
}

/* A message from the peer is made safe to print: control characters and bytes outside valid
 * UTF-8 become '?', the length is bounded (cut between characters), an empty one is none. */
static void test_error_message_sanitized(void)
{
        static const uint8_t escapes[] = "too many \x1b[31mclients\x1b[0m\r\n\a\0\x7f\xc2\x9b"
                                         "2J caf\xc3\xa9 \xff\xc0\xaf\xed\xa0\x80 \xe2\x82 end";
        /* 2-byte characters only: the 511-byte bound falls inside one of them. */
        uint8_t long_msg[2 * 700];
        for (size_t i = 0; i < sizeof(long_msg); i += 2)
                memcpy(long_msg + i, "\xc3\xa9", 2);
        static const uint8_t empty[1];
        const uint8_t *const messages[] = {escapes, long_msg, empty};
        const size_t lens[] = {sizeof(escapes) - 1, sizeof(long_msg), 0};

        char dir[] = "/tmp/shmview-fake-XXXXXX";
        CHECK(mkdtemp(dir));
        char path[108];
        snprintf(path, sizeof(path), "%s/fake.sock", dir);
        struct fake_daemon f = {socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), messages, lens, 3};
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        CHECK_EQ(bind(f.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        CHECK_EQ(listen(f.listen_fd, 4), 0);
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, fake_daemon_serve, &f), 0);

        shmv_client *c = NULL;
        CHECK_RC(shmv_connect(path, &c), -EUSERS);
        /* ESC, CR, LF, BEL, NUL, DEL and the C1 CSI (U+009B) are one '?' each; so are the
         * bytes of invalid sequences (a lone 0xff, an overlong '/', a surrogate, a cut one). */
        CHECK_STR(shmv_last_error_message(),
                  "too many ?[31mclients?[0m??????2J caf\xc3\xa9 ?????? ?? end");

        CHECK_RC(shmv_connect(path, &c), -EUSERS);
        const char *msg = shmv_last_error_message();
        CHECK(msg != NULL);
        /* 511 bytes would end inside a character: cut before it. */
        CHECK_EQ(strlen(msg), 510);
        CHECK_MEM(msg, long_msg, 510);

        CHECK_RC(shmv_connect(path, &c), -EUSERS);
        CHECK_NO_MESSAGE();
        CHECK_NULL(c);

        pthread_join(t, NULL);
        close(f.listen_fd);
        unlink(path);
        rmdir(dir);
}

static void hold_views_and_die(void *arg)
{
        const char *name = arg;
        shmv_client *c = th_connect();
        shmv_view *v;
        for (int i = 0; i < 5; i++)
                CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v));
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &v));
        kill(getpid(), SIGKILL);
}

/* A client that dies holding views has them all released by the daemon. */
static void test_disconnect_releases(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("die"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        CHECK_EQ(th_in_child(hold_views_and_die, name), 128 + SIGKILL);
        shmv_segment_info info;
        for (int i = 0; i < 200; i++) {
                CHECK_OK(shmv_segment_stat(c, name, &info));
                if (info.views_ro == 0 && info.views_rw == 0)
                        break;
                usleep(10000);
        }
        CHECK_EQ(info.views_ro, 0);
        CHECK_EQ(info.views_rw, 0);
        CHECK_OK(shmv_segment_seal(c, name));
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* Views outlive shmv_disconnect(): they are the program's own mappings. */
static void test_views_outlive_client(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("outlive"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &v));
        shmv_disconnect(c);
        memcpy(th_data_mut(v), "still here", 10);
        CHECK_MEM(shmv_view_data(v), "still here", 10);
        shmv_view_release(v);
        c = th_connect();
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_EQ(info.views_rw, 0);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

struct inherited {
        shmv_client *c;
        shmv_view *v;
        const char *name;
};

static void use_inherited(void *arg)
{
        struct inherited *in = arg;
        /* The child's copy of the mapping is its own to drop; the parent's view stays open. */
        CHECK_MEM(shmv_view_data(in->v), "parent", 6);
        shmv_view_release(in->v);
        shmv_segment_info info;
        CHECK_RC(shmv_segment_stat(in->c, in->name, &info), -ENOTCONN);
}

/* A forked child does not talk over its parent's connection. */
static void test_fork_keeps_parent_connection(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("fork"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0));
        shmv_view *v;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &v));
        memcpy(th_data_mut(v), "parent", 6);
        struct inherited in = {c, v, name};
        CHECK_EQ(th_in_child(use_inherited, &in), 0);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_EQ(info.views_rw, 1);
        CHECK_RC(shmv_segment_seal(c, name), -EBUSY);
        shmv_view_release(v);
        CHECK_OK(shmv_segment_seal(c, name));
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static void run_second_daemon(void *arg)
{
        const char *path = arg;
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(SHMVIEWD_PATH, "shmviewd", "--socket", path, (char *)NULL);
        _exit(127);
}

/* A second daemon on a live socket refuses to start; a stale socket file is replaced. */
static void test_socket_takeover(void)
{
        CHECK_EQ(th_in_child(run_second_daemon, (void *)(uintptr_t)th_socket_path()), 1);
        shmv_client *c = th_connect();
        shmv_disconnect(c);

        char dir[] = "/tmp/shmview-stale-XXXXXX";
        CHECK(mkdtemp(dir));
        char path[108];
        snprintf(path, sizeof(path), "%s/stale.sock", dir);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd); /* the file stays, nobody listens */

        pid_t pid = fork();
        if (pid == 0)
                run_second_daemon(path);
        shmv_client *c2 = NULL;
        for (int i = 0; i < 300 && shmv_connect(path, &c2) < 0; i++)
                usleep(10000);
        CHECK(c2 != NULL);
        shmv_disconnect(c2);
        kill(pid, SIGTERM);
        int st;
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st));
        CHECK_EQ(WEXITSTATUS(st), 0);
        struct stat sb;
        CHECK_LT(stat(path, &sb), 0);
        rmdir(dir);

        /* A path that is not a socket is left alone. */
        CHECK_EQ(th_in_child(run_second_daemon, (void *)(uintptr_t) "/etc/passwd"), 1);
        CHECK_EQ(stat("/etc/passwd", &sb), 0);
}

static void test_connect_errors(void)
{
        shmv_client *c = NULL;
        CHECK_RC(shmv_connect("/nonexistent/dir/shmview.sock", &c), -ENOENT);
        char dir[] = "/tmp/shmview-refused-XXXXXX";
        CHECK(mkdtemp(dir));
        char path[108];
        snprintf(path, sizeof(path), "%s/s.sock", dir);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        close(fd);
        CHECK_RC(shmv_connect(path, &c), -ECONNREFUSED);
        CHECK_STR(shmv_strerror(-ECONNREFUSED),
                  "no daemon is listening on the socket (connection refused)");
        unlink(path);
        rmdir(dir);
        CHECK_NULL(c);
        char p[108];
        CHECK_OK(shmv_default_socket_path(p, sizeof(p)));
        CHECK_STR(p, th_socket_path());
        CHECK_RC(shmv_default_socket_path(p, 4), -ENAMETOOLONG);
}

int main(int argc, char **argv)
{
        static const th_test tests[] = {
                TH_TEST(test_create_stat),
                TH_TEST(test_bad_arguments),
                TH_TEST(test_huge_pages),
                TH_TEST(test_list_pages),
                TH_TEST(test_unlink_keeps_views),
                TH_TEST(test_descriptors_per_segment),
                TH_TEST(test_seal),
                TH_TEST(test_permissions),
                TH_TEST(test_budget),
                TH_TEST(test_error_message_rules),
                TH_TEST(test_error_message_per_thread),
                TH_TEST(test_error_message_sanitized),
                TH_TEST(test_disconnect_releases),
                TH_TEST(test_views_outlive_client),
                TH_TEST(test_socket_takeover),
                TH_TEST(test_connect_errors),
                TH_TEST(test_fork_keeps_parent_connection),
        };
        static const char *const args[] = {"--max-bytes", "268435456", NULL};
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), args);
}

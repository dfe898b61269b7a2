/* Segments against a real daemon: create, stat, list, unlink, seal, permissions, budget. */
#include <fcntl.h>
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
        CHECK(info.size == 12345);
        CHECK(info.uid == getuid() && info.gid == getgid());
        CHECK(info.mode == 0600);
        CHECK(!info.sealed && info.views_ro == 0 && info.views_rw == 0);
        CHECK(info.created_usec + 1000000 >= before && info.created_usec <= now_usec() + 1000000);

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
        CHECK(v == NULL);
        /* The empty view at the very end is allowed, as m[len:] is. */
        CHECK_OK(shmv_view_open(c, name, 8192, SHMV_TO_END, SHMV_READ, &v));
        CHECK(shmv_view_len(v) == 0);
        shmv_view_release(v);
        CHECK_OK(shmv_view_open(c, name, 100, SHMV_TO_END, SHMV_READ, &v));
        CHECK(shmv_view_len(v) == 8092);
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
        CHECK(n >= N);
        int found = 0;
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        CHECK(strcmp(list[i - 1].name, list[i].name) < 0);
                if (strncmp(list[i].name, prefix, strlen(prefix)) == 0) {
                        int k = atoi(list[i].name + strlen(prefix) + 1);
                        CHECK(k == found);
                        CHECK(list[i].size == 4096 + (uint64_t)k && list[i].mode == 0640);
                        found++;
                }
        }
        CHECK(found == N);
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
        memcpy(shmv_view_data_mut(old), "old data", 8);
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
        memcpy(shmv_view_data_mut(old), "changed!", 8);
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

/* A segment holds one descriptor in the daemon (its memfd) until a read-only view of it is
 * opened, and one more from then on (its read-only descriptor), until it is freed. */
static void test_descriptors_per_segment(void)
{
        shmv_client *c = th_connect();
        char names[N_FD_SEGMENTS][64];
        for (int i = 0; i < N_FD_SEGMENTS; i++)
                snprintf(names[i], sizeof(names[i]), "%s", th_name("fds"));
        int base = fds_after_round_trip(c);
        CHECK(base > 0);

        for (int i = 0; i < N_FD_SEGMENTS; i++)
                CHECK_OK(shmv_segment_create(c, names[i], 4096, 0644));
        CHECK(fds_after_round_trip(c) == base + N_FD_SEGMENTS);

        /* Writable views are handed the memfd itself. */
        shmv_view *w1, *w2;
        CHECK_OK(shmv_view_open(c, names[0], 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w1));
        CHECK_OK(shmv_view_open(c, names[0], 0, 100, SHMV_READ | SHMV_WRITE, &w2));
        CHECK(th_daemon_fd_count() == base + N_FD_SEGMENTS);
        memcpy(shmv_view_data_mut(w1), "written", 7);
        shmv_view_release(w2);
        CHECK(fds_after_round_trip(c) == base + N_FD_SEGMENTS);

        /* The first read-only view of a segment opens its read-only descriptor; later ones,
         * and releases, neither open nor close one. */
        shmv_view *r1, *r2, *r3;
        CHECK_OK(shmv_view_open(c, names[0], 0, SHMV_TO_END, SHMV_READ, &r1));
        CHECK(th_daemon_fd_count() == base + N_FD_SEGMENTS + 1);
        CHECK_MEM(shmv_view_data(r1), "written", 7);
        CHECK_OK(shmv_view_open(c, names[0], 4, 3, SHMV_READ, &r2));
        CHECK(th_daemon_fd_count() == base + N_FD_SEGMENTS + 1);
        CHECK_MEM(shmv_view_data(r2), "ten", 3);
        shmv_view_release(r2);
        shmv_view_release(r1);
        CHECK(fds_after_round_trip(c) == base + N_FD_SEGMENTS + 1);
        CHECK_OK(shmv_view_open(c, names[0], 0, SHMV_TO_END, SHMV_READ, &r1));
        CHECK(th_daemon_fd_count() == base + N_FD_SEGMENTS + 1);
        CHECK_OK(shmv_view_open(c, names[0], 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w2));
        CHECK(th_daemon_fd_count() == base + N_FD_SEGMENTS + 1);
        shmv_view_release(w2);

        /* Each segment has its own. */
        CHECK_OK(shmv_view_open(c, names[1], 0, SHMV_TO_END, SHMV_READ, &r3));
        CHECK(th_daemon_fd_count() == base + N_FD_SEGMENTS + 2);
        CHECK(fds_after_round_trip(c) == base + N_FD_SEGMENTS + 2);

        /* Unlinked, a segment keeps its descriptors while views hold it; the rest go at once. */
        for (int i = 0; i < N_FD_SEGMENTS; i++)
                CHECK_OK(shmv_segment_unlink(c, names[i]));
        CHECK(th_daemon_fd_count() == base + 4); /* names[0] and names[1], two each */
        shmv_view_release(w1);
        CHECK(fds_after_round_trip(c) == base + 4);
        shmv_view_release(r3);
        CHECK(fds_after_round_trip(c) == base + 2);
        shmv_view_release(r1);
        CHECK(fds_after_round_trip(c) == base);
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
        memcpy(shmv_view_data_mut(w), "sealed text", 11);
        CHECK_RC(shmv_segment_seal(c, name), -EBUSY);
        CHECK_STR(shmv_strerror(-EBUSY), "the segment has writable views open");
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK(!info.sealed && info.views_rw == 1);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_seal(c, name));
        CHECK_OK(shmv_segment_seal(c, name));
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK(info.sealed && info.views_rw == 0);
        /* Root too: nobody opens a sealed segment writable. */
        CHECK_RC(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w), -EPERM);
        CHECK_OK(shmv_view_open(c, name, 4096, SHMV_TO_END, SHMV_READ, &r));
        shmv_view_release(r);
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &r));
        CHECK_MEM(shmv_view_data(r), "sealed text", 11);
        /* The kernel refuses a writable mapping of these pages. */
        void *page = (void *)((uintptr_t)shmv_view_data(r) & ~(uintptr_t)4095);
        CHECK(mprotect(page, 4096, PROT_READ | PROT_WRITE) < 0);
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
        CHECK(info.size == size && info.mode == 0644);

        shmv_view *w, *r;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w));
        uint8_t *p = shmv_view_data_mut(w);
        for (uint64_t i = 0; i < size; i += 4096)
                CHECK(p[i] == 0);
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
        CHECK(info.size == 5000 && info.mode == 0600);
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
        CHECK(th_in_child(try_as, &p) == 0);
}

static void create_as(void *arg)
{
        const struct perm_case *p = arg;
        th_become(p->uid, p->gid);
        shmv_client *c = th_connect();
        CHECK_OK(shmv_segment_create(c, p->name, 4096, (uint32_t)p->want_read));
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, p->name, &info));
        CHECK(info.uid == p->uid && info.gid == p->gid);
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
        CHECK(th_in_child(create_as, &creator) == 0);
        check_as(name, 65533, 65534, 0, -EACCES, -EPERM);
        check_as(name, 65533, 65533, -EACCES, -EACCES, -EPERM);
        check_as(name, 65534, 65534, 0, 0, 0);
        CHECK_RC(shmv_segment_stat(c, name, NULL), -EINVAL);
        shmv_segment_info info;
        CHECK_RC(shmv_segment_stat(c, name, &info), -ENOENT);

        CHECK(th_in_child(create_as, &creator) == 0);
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
        CHECK_RC(shmv_segment_create(c, b, 100 * MiB, 0), -ENOSPC);
        CHECK_STR(shmv_strerror(-ENOSPC), "not enough memory for the segment");
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
        CHECK(th_in_child(hold_views_and_die, name) == 128 + SIGKILL);
        shmv_segment_info info;
        for (int i = 0; i < 200; i++) {
                CHECK_OK(shmv_segment_stat(c, name, &info));
                if (info.views_ro == 0 && info.views_rw == 0)
                        break;
                usleep(10000);
        }
        CHECK(info.views_ro == 0 && info.views_rw == 0);
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
        memcpy(shmv_view_data_mut(v), "still here", 10);
        CHECK_MEM(shmv_view_data(v), "still here", 10);
        shmv_view_release(v);
        c = th_connect();
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK(info.views_rw == 0);
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
        memcpy(shmv_view_data_mut(v), "parent", 6);
        struct inherited in = {c, v, name};
        CHECK(th_in_child(use_inherited, &in) == 0);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK(info.views_rw == 1);
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
        CHECK(th_in_child(run_second_daemon, (void *)(uintptr_t)th_socket_path()) == 1);
        shmv_client *c = th_connect();
        shmv_disconnect(c);

        char dir[] = "/tmp/shmview-stale-XXXXXX";
        CHECK(mkdtemp(dir));
        char path[108];
        snprintf(path, sizeof(path), "%s/stale.sock", dir);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
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
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        struct stat sb;
        CHECK(stat(path, &sb) < 0);
        rmdir(dir);

        /* A path that is not a socket is left alone. */
        CHECK(th_in_child(run_second_daemon, (void *)(uintptr_t) "/etc/passwd") == 1);
        CHECK(stat("/etc/passwd", &sb) == 0);
}

static void test_connect_errors(void)
{
        shmv_client *c = NULL;
        CHECK_RC(shmv_connect("/nonexistent/dir/shmview.sock", &c), -ECONNREFUSED);
        char dir[] = "/tmp/shmview-refused-XXXXXX";
        CHECK(mkdtemp(dir));
        char path[108];
        snprintf(path, sizeof(path), "%s/s.sock", dir);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        CHECK(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
        close(fd);
        CHECK_RC(shmv_connect(path, &c), -ECONNREFUSED);
        CHECK_STR(shmv_strerror(-ECONNREFUSED),
                  "no daemon is listening on the socket (connection refused)");
        unlink(path);
        rmdir(dir);
        CHECK(c == NULL);
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
                TH_TEST(test_disconnect_releases),
                TH_TEST(test_views_outlive_client),
                TH_TEST(test_socket_takeover),
                TH_TEST(test_connect_errors),
                TH_TEST(test_fork_keeps_parent_connection),
        };
        static const char *const args[] = {"--max-bytes", "268435456", NULL};
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), args);
}

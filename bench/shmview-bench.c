/* shmview-bench: what shmview costs, next to what the same job costs without it, measured in
 * one run on one machine. Run it through bench/run; docs/performance.md explains each figure.
 *
 *   shmview-bench --daemon PATH [--full] [--only FIGURE[,FIGURE...]]
 *
 * The client (this process and the clients it forks) runs on one CPU, the server (shmviewd, or
 * the baseline's peer) on another, the same for shmview and for its baseline. The table goes to
 * stdout as Markdown; progress and the machine's description go to stderr. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/seccomp.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmview.h>

#include "baseline.h"
#include "clock.h"
#include "frames.h"
#include "wake.h"
#include "shmview.pb-c.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

typedef struct config {
        bool full;
        const char *daemon;
        const char *only;
        const char *samples; /* --samples DIR: latency samples for bench/plot.gp */
        int client_cpu;
        int server_cpu;
        /* Sizes and counts: the in --full, small enough for CI otherwise. */
        unsigned lat_rounds;
        unsigned lat_iters;
        unsigned load_counts[4];
        double load_seconds;
        uint64_t handoff_sizes[8];
        unsigned n_handoff_sizes;
        uint64_t read_size;
        unsigned mem_count;
        unsigned many_clients;
        unsigned slice_iters;
        unsigned wake_iters; /* notify ping-pong round trips */
        unsigned wake_procs; /* one notify waking wake_procs x wake_threads waiters */
        unsigned wake_threads;
        unsigned wake_rounds;
        unsigned frames_fast; /* 8 MiB frames streamed as fast as they go */
        unsigned frames_paced; /* and at 100 a second */
} config;

static config cfg;
static char tmpdir[] = "/tmp/shmview-bench-XXXXXX";
static char sock_path[108];
static pid_t daemon_pid = -1;
static shmv_client *producer; /* creates and writes segments */
static shmv_client *consumer; /* opens views, as another process would */
static volatile uint64_t sink;

typedef struct row {
        char figure[96];
        char shmview[48];
        char baseline[80];
        char ratio[16];
        char target[40];
} row;

static row rows[64];
static unsigned nrows;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
        va_list ap;
        fprintf(stderr, "shmview-bench: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        if (daemon_pid > 0)
                kill(daemon_pid, SIGTERM);
        /* The sockets of the peers and daemons, which die with this process. */
        DIR *d = opendir(tmpdir);
        for (struct dirent *e; d && (e = readdir(d));)
                if (e->d_name[0] != '.')
                        (void)unlinkat(dirfd(d), e->d_name, 0);
        if (d)
                closedir(d);
        (void)rmdir(tmpdir);
        exit(1);
}

static void check(int r, const char *what)
{
        if (r < 0)
                die("%s: %s", what, shmv_strerror(r));
}

__attribute__((format(printf, 1, 2))) static void progress(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static void add_row(const char *figure, const char *shmview, const char *baseline,
                    const char *ratio, const char *target)
{
        if (nrows == sizeof(rows) / sizeof(rows[0]))
                die("too many rows");
        row *r = &rows[nrows++];
        snprintf(r->figure, sizeof(r->figure), "%s", figure);
        snprintf(r->shmview, sizeof(r->shmview), "%s", shmview);
        snprintf(r->baseline, sizeof(r->baseline), "%s", baseline);
        snprintf(r->ratio, sizeof(r->ratio), "%s", ratio);
        snprintf(r->target, sizeof(r->target), "%s", target);
        progress("  %-44s %12s | %-30s %8s", figure, shmview, baseline, ratio);
}

static double now_ns(void)
{
        return (double)shmv__mono_nsec();
}

static char *fmt_time(char *buf, size_t len, double ns)
{
        if (ns < 1e3)
                snprintf(buf, len, "%.0f ns", ns);
        else if (ns < 1e6)
                snprintf(buf, len, "%.1f µs", ns / 1e3);
        else if (ns < 1e9)
                snprintf(buf, len, "%.1f ms", ns / 1e6);
        else
                snprintf(buf, len, "%.2f s", ns / 1e9);
        return buf;
}

static char *fmt_size(char *buf, size_t len, uint64_t bytes)
{
        if (bytes >= GiB && bytes % GiB == 0)
                snprintf(buf, len, "%" PRIu64 " GiB", bytes / GiB);
        else if (bytes >= MiB && bytes % MiB == 0)
                snprintf(buf, len, "%" PRIu64 " MiB", bytes / MiB);
        else
                snprintf(buf, len, "%" PRIu64 " KiB", bytes / KiB);
        return buf;
}

static char *fmt_ratio(char *buf, size_t len, double r)
{
        if (r >= 100)
                snprintf(buf, len, "%.0fx", r);
        else if (r >= 0.01)
                snprintf(buf, len, "%.2fx", r);
        else
                snprintf(buf, len, "1/%.0fx", 1 / r);
        return buf;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of n samples, which it sorts. */
static double percentile(double *v, size_t n, double p)
{
        qsort(v, n, sizeof(*v), cmp_double);
        size_t i = (size_t)ceil(p / 100.0 * (double)n);
        return v[i > 0 ? i - 1 : 0];
}

static double median(double *v, size_t n)
{
        return percentile(v, n, 50);
}

static bool wanted(const char *figure)
{
        if (!cfg.only)
                return true;
        size_t len = strlen(figure);
        for (const char *p = cfg.only; *p;) {
                const char *end = strchr(p, ',');
                size_t n = end ? (size_t)(end - p) : strlen(p);
                if (n == len && strncmp(p, figure, n) == 0)
                        return true;
                p += n + (end ? 1 : 0);
        }
        return false;
}

/* Raises this process's descriptor limit to want, the hard limit too when allowed (root). */
static void want_nofile(rlim_t want)
{
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return;
        if (rl.rlim_max < want) {
                struct rlimit more = {want, want};
                if (setrlimit(RLIMIT_NOFILE, &more) == 0)
                        return;
        }
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
}

/* The most descriptors this process and what it starts can have: the hard limit, raised first
 * to want where that is allowed (root with CAP_SYS_RESOURCE, up to fs.nr_open). */
static rlim_t nofile_possible(rlim_t want)
{
        want_nofile(want);
        struct rlimit rl;
        return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_max : 1024;
}

static rlim_t nofile(void)
{
        struct rlimit rl;
        return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
}

static bool can_connect(const char *path)
{
        int fd = shmv__peer_connect(path);
        if (fd < 0)
                return false;
        close(fd);
        return true;
}

/* Starts shmviewd on the server CPU with descriptors for nofile_want and the given options. */
static pid_t daemon_start(const char *path, rlim_t nofile_want, const char *const *extra)
{
        const char *argv[32];
        unsigned n = 0;
        argv[n++] = cfg.daemon;
        argv[n++] = "--socket";
        argv[n++] = path;
        argv[n++] = "--log-level";
        argv[n++] = "warning";
        for (; extra && *extra && n < 30; extra++)
                argv[n++] = *extra;
        argv[n] = NULL;

        pid_t pid = fork();
        if (pid < 0)
                die("fork: %m");
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                (void)shmv__pin_cpu(cfg.server_cpu);
                want_nofile(nofile_want);
                execv(cfg.daemon, (char *const *)(uintptr_t)argv);
                fprintf(stderr, "shmview-bench: %s: %m\n", cfg.daemon);
                _exit(127);
        }
        for (int i = 0; i < 1000; i++) {
                if (can_connect(path))
                        return pid;
                int status;
                if (waitpid(pid, &status, WNOHANG) == pid)
                        die("%s exited before listening", cfg.daemon);
                usleep(10000);
        }
        die("%s does not listen on %s", cfg.daemon, path);
}

static void daemon_stop(pid_t pid)
{
        kill(pid, SIGTERM);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

/* Anonymous memory of a process (its heap), in bytes. */
static uint64_t rss_anon(pid_t pid)
{
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        FILE *f = fopen(path, "re");
        if (!f)
                die("%s: %m", path);
        unsigned long long kb = 0;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
                        break;
        fclose(f);
        return (uint64_t)kb * 1024;
}

/* Nanoseconds a process has run on a CPU, user and kernel together. */
static double cpu_ns(pid_t pid)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
        FILE *f = fopen(path, "re");
        unsigned long long ns = 0, ut = 0, st = 0;
        int ok = f ? fscanf(f, "%llu", &ns) : 0;
        if (f)
                fclose(f);
        if (ok == 1)
                return (double)ns;
        /* Without schedstat: user and system time, in clock ticks. */
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        f = fopen(path, "re");
        ok = f ? fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                        &ut, &st)
               : 0;
        if (f)
                fclose(f);
        if (ok != 2)
                die("%s: cannot read", path);
        return (double)(ut + st) * 1e9 / (double)sysconf(_SC_CLK_TCK);
}

/* A segment of size bytes, every byte written by the producer. */
static void make_segment(const char *name, uint64_t size, unsigned flags)
{
        check(shmv_segment_create_with_flags(producer, name, size, 0644, flags), name);
        shmv_view *w;
        check(shmv_view_open(producer, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w), name);
        void *data;
        check(shmv_view_data_mut(w, &data), name);
        memset(data, 0x5a, size);
        shmv_view_release(w);
}

/* A memfd as shmviewd makes one, and a read-only descriptor of it, for the socket floor. */
static int floor_memfd(uint64_t size)
{
        int fd = memfd_create("shmview-bench-floor", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || fallocate(fd, 0, 0, (off_t)size) < 0)
                die("floor memfd: %m");
        char proc[64];
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        int ro = open(proc, O_RDONLY | O_CLOEXEC);
        if (ro < 0)
                die("%s: %m", proc);
        close(fd);
        return ro;
}

/* Payload sizes of shmview's own frames for an open of name (size bytes) and its release. */
static shmv__floor_sizes frame_sizes(const char *name, uint64_t size)
{
        shmv__floor_sizes s;
        Shmview__OpenRequest o = SHMVIEW__OPEN_REQUEST__INIT;
        o.name.data = (uint8_t *)(uintptr_t)name;
        o.name.len = strlen(name);
        o.length = UINT64_MAX;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.id = 1000;
        req.body_case = SHMVIEW__REQUEST__BODY_OPEN;
        req.open = &o;
        s.open_request = (uint32_t)protobuf_c_message_get_packed_size(&req.base);

        Shmview__OpenReply orep = SHMVIEW__OPEN_REPLY__INIT;
        orep.view_id = 1000;
        orep.length = size;
        orep.segment_size = size;
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = 1000;
        resp.body_case = SHMVIEW__RESPONSE__BODY_OPEN;
        resp.open = &orep;
        s.open_reply = (uint32_t)protobuf_c_message_get_packed_size(&resp.base);

        Shmview__ReleaseRequest rel = SHMVIEW__RELEASE_REQUEST__INIT;
        rel.view_id = 1000;
        req.id = 1001;
        req.body_case = SHMVIEW__REQUEST__BODY_RELEASE;
        req.release = &rel;
        s.release = (uint32_t)protobuf_c_message_get_packed_size(&req.base);
        return s;
}

typedef struct floor_peer {
        pid_t pid;
        int memfd;
        char path[108];
        shmv__floor_sizes sizes;
        uint64_t size;
} floor_peer;

static void floor_up(floor_peer *f, const char *name, uint64_t size, bool multi, unsigned work_ns)
{
        f->size = size;
        f->memfd = floor_memfd(size);
        f->sizes = frame_sizes(name, size);
        snprintf(f->path, sizeof(f->path), "%s/floor%s%s.sock", tmpdir, multi ? "-epoll" : "",
                 work_ns ? "-work" : "");
        f->pid = shmv__floor_start(f->path, cfg.server_cpu, f->memfd, &f->sizes, multi, work_ns);
        if (f->pid < 0)
                die("floor server: %s", strerror((int)-f->pid));
}

static void floor_down(floor_peer *f)
{
        shmv__peer_stop(f->pid);
        close(f->memfd);
        unlink(f->path);
}

/* Whether an open reads the first byte of what it mapped before releasing it, as a program
 * that opens a view to read it does: the page fault, and the TLB flush of a touched page at
 * munmap, are then part of the figure, for shmview and the floor alike. */
static bool touch_first_byte;

static void shmview_open_release(shmv_client *c, const char *name)
{
        shmv_view *v;
        check(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v), "open");
        const volatile uint8_t *p = shmv_view_data(v);
        sink += touch_first_byte ? *p : (uintptr_t)p;
        shmv_view_release(v);
}

static void floor_open_release(int sock, const floor_peer *f)
{
        void *map;
        int r = shmv__floor_open(sock, &f->sizes, f->size, &map);
        if (r < 0)
                die("floor open: %s", strerror(-r));
        sink += touch_first_byte ? *(const volatile uint8_t *)map : (uintptr_t)map;
        r = shmv__floor_release(sock, &f->sizes, map, f->size);
        if (r < 0)
                die("floor release: %s", strerror(-r));
}

/* The socket floor, served two ways: by a peer blocked in recv() on its one connection, and
 * by a peer in an epoll loop, as a server of many clients is. Which is faster depends on the
 * kernel (a task blocked in recv() on a Unix socket is also woken when its peer takes what it
 * sent), so both are measured and the faster one is the floor. A third, the epoll peer busy
 * for FLOOR_WORK_NS per open, shows what that wake-up is worth once a server does any work
 * between taking a request off and answering it (docs/performance.md). */
#define FLOOR_WORK_NS 500u
typedef struct floors {
        floor_peer blocking;
        floor_peer epoll;
        floor_peer work;
        int blocking_sock;
        int epoll_sock;
        int work_sock;
} floors;

static void floors_up(floors *fl, const char *name, uint64_t size)
{
        floor_up(&fl->blocking, name, size, false, 0);
        floor_up(&fl->epoll, name, size, true, 0);
        floor_up(&fl->work, name, size, true, FLOOR_WORK_NS);
        fl->blocking_sock = shmv__peer_connect(fl->blocking.path);
        fl->epoll_sock = shmv__peer_connect(fl->epoll.path);
        fl->work_sock = shmv__peer_connect(fl->work.path);
        int bad = fl->blocking_sock < 0 ? fl->blocking_sock
                  : fl->epoll_sock < 0  ? fl->epoll_sock
                                        : fl->work_sock;
        if (bad < 0)
                die("floor connect: %s", strerror(-bad));
}

static void floors_down(floors *fl)
{
        close(fl->blocking_sock);
        close(fl->epoll_sock);
        close(fl->work_sock);
        floor_down(&fl->blocking);
        floor_down(&fl->epoll);
        floor_down(&fl->work);
}

/* Open + release latency samples of c and of both floors, in turns of LAT_BLOCK each: short
 * enough that drift and other load hit all alike, long enough that most samples follow one of
 * their own kind, as in a program that opens and releases in a loop (where the daemon's work on
 * a release can delay the next open). */
#define LAT_BLOCK 20u
static void latency_rounds(shmv_client *c, const char *name, const floors *fl, double *shm,
                           double *blocking, double *epoll, double *work)
{
        for (unsigned i = 0; i < cfg.lat_iters / 10; i++) {
                shmview_open_release(c, name);
                floor_open_release(fl->blocking_sock, &fl->blocking);
                floor_open_release(fl->epoll_sock, &fl->epoll);
                floor_open_release(fl->work_sock, &fl->work);
        }
        size_t n = (size_t)cfg.lat_rounds * cfg.lat_iters;
        for (size_t k = 0; k < n; k += LAT_BLOCK) {
                size_t end = k + LAT_BLOCK < n ? k + LAT_BLOCK : n;
                for (size_t i = k; i < end; i++) {
                        double t0 = now_ns();
                        shmview_open_release(c, name);
                        shm[i] = now_ns() - t0;
                }
                for (size_t i = k; i < end; i++) {
                        double t0 = now_ns();
                        floor_open_release(fl->blocking_sock, &fl->blocking);
                        blocking[i] = now_ns() - t0;
                }
                for (size_t i = k; i < end; i++) {
                        double t0 = now_ns();
                        floor_open_release(fl->epoll_sock, &fl->epoll);
                        epoll[i] = now_ns() - t0;
                }
                for (size_t i = k; i < end; i++) {
                        double t0 = now_ns();
                        floor_open_release(fl->work_sock, &fl->work);
                        work[i] = now_ns() - t0;
                }
        }
}

/* With --samples DIR, each series of a latency figure as DIR/SLUG.dat, two columns (latency
 * in µs, fraction of samples at or below it) of the sorted samples: the distribution that
 * bench/plot.gp draws. */
static void write_samples(const char *what, const char *const *series, double *const *v,
                          size_t nseries, size_t n)
{
        if (!cfg.samples)
                return;
        char slug[128], path[512];
        size_t o = 0;
        for (const char *p = what; *p && o + 1 < sizeof(slug); p++)
                if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
                        slug[o++] = *p;
                else if (*p >= 'A' && *p <= 'Z')
                        slug[o++] = (char)(*p - 'A' + 'a');
                else if (o > 0 && slug[o - 1] != '-')
                        slug[o++] = '-';
        while (o > 0 && slug[o - 1] == '-')
                o--;
        slug[o] = '\0';
        snprintf(path, sizeof(path), "%s/%s.dat", cfg.samples, slug);
        FILE *f = fopen(path, "we");
        if (!f)
                die("%s: %m", path);
        fprintf(f, "# %s: latency (µs) and fraction of samples at or below it\n", what);
        for (size_t s = 0; s < nseries; s++) {
                qsort(v[s], n, sizeof(double), cmp_double);
                fprintf(f, "# %s\n", series[s]);
                /* At most about 2000 points a series: enough for a curve. */
                size_t step = n > 2000 ? n / 2000 : 1;
                for (size_t i = 0; i < n; i += step)
                        fprintf(f, "%.3f %.5f\n", v[s][i] / 1000.0, (double)(i + 1) / (double)n);
                fprintf(f, "%.3f 1\n\n\n", v[s][n - 1] / 1000.0);
        }
        if (fclose(f) != 0)
                die("%s: %m", path);
}

/* Rows for p50 and p99 against the faster floor (by p50), and one for the other floor. */
static void latency_figure(const char *what, shmv_client *c, const char *name)
{
        floors fl;
        floors_up(&fl, name, 4 * KiB);
        size_t n = (size_t)cfg.lat_rounds * cfg.lat_iters;
        double *shm = calloc(n, sizeof(double)), *blk = calloc(n, sizeof(double));
        double *epl = calloc(n, sizeof(double)), *wrk = calloc(n, sizeof(double));
        if (!shm || !blk || !epl || !wrk)
                die("out of memory");
        latency_rounds(c, name, &fl, shm, blk, epl, wrk);
        floors_down(&fl);
        static const char *const series[] = {"shmview", "floor (blocking peer)",
                                             "floor (epoll peer)", "floor (epoll peer, work)"};
        double *const all[] = {shm, blk, epl, wrk};
        write_samples(what, series, all, 4, n);

        double s50 = percentile(shm, n, 50), s99 = percentile(shm, n, 99);
        double k50 = percentile(blk, n, 50), k99 = percentile(blk, n, 99);
        double e50 = percentile(epl, n, 50), e99 = percentile(epl, n, 99);
        bool epoll_wins = e50 <= k50;
        double f50 = epoll_wins ? e50 : k50, f99 = epoll_wins ? e99 : k99;
        const char *fname = epoll_wins ? "epoll peer" : "blocking peer";
        char a[48], b[80], r[16], fig[96];
        snprintf(fig, sizeof(fig), "%s, p50", what);
        snprintf(b, sizeof(b), "%s floor (%s)", fmt_time(a, sizeof(a), f50), fname);
        add_row(fig, fmt_time(a, sizeof(a), s50), b, fmt_ratio(r, sizeof(r), s50 / f50),
                "<= 1.25x");
        snprintf(fig, sizeof(fig), "%s, p99", what);
        snprintf(b, sizeof(b), "%s floor (%s)", fmt_time(a, sizeof(a), f99), fname);
        add_row(fig, fmt_time(a, sizeof(a), s99), b, fmt_ratio(r, sizeof(r), s99 / f99),
                "reported");
        snprintf(fig, sizeof(fig), "%s, p50", what);
        snprintf(b, sizeof(b), "%s floor (%s)", fmt_time(a, sizeof(a), epoll_wins ? k50 : e50),
                 epoll_wins ? "blocking peer" : "epoll peer");
        add_row(fig, fmt_time(a, sizeof(a), s50), b,
                fmt_ratio(r, sizeof(r), s50 / (epoll_wins ? k50 : e50)), "reported");
        double w50 = percentile(wrk, n, 50);
        snprintf(b, sizeof(b), "%s floor (epoll peer, %.1f µs of work)",
                 fmt_time(a, sizeof(a), w50), FLOOR_WORK_NS / 1000.0);
        add_row(fig, fmt_time(a, sizeof(a), s50), b, fmt_ratio(r, sizeof(r), s50 / w50),
                "reported");
        free(wrk);
        free(shm);
        free(blk);
        free(epl);
}

static void fig_latency(void)
{
        progress("open + release latency, one client");
        const char *name = "bench-lat";
        make_segment(name, 4 * KiB, 0);
        latency_figure("open + release, 4 KiB view", consumer, name);
        progress("open + read one byte + release latency, one client");
        touch_first_byte = true;
        latency_figure("open + read one byte + release, 4 KiB view", consumer, name);
        touch_first_byte = false;
        check(shmv_segment_unlink(producer, name), name);
}

/* State shared by the bench and its load clients. */
typedef struct load_shared {
        atomic_uint ready;
        atomic_uint failed;
        atomic_bool stop;
        struct {
                uint64_t count;
                double cpu_ns;
        } client[];
} load_shared;

static void load_client(load_shared *sh, unsigned idx, int start_fd, const char *name,
                        const floor_peer *f)
{
        shmv_client *c = NULL;
        int fsock = -1;
        if (f) {
                fsock = shmv__peer_connect(f->path);
        } else if (shmv_connect(sock_path, &c) < 0) {
                c = NULL;
        }
        if (f ? fsock < 0 : !c) {
                atomic_fetch_add(&sh->failed, 1);
                atomic_fetch_add(&sh->ready, 1);
                _exit(1);
        }
        atomic_fetch_add(&sh->ready, 1);
        char b;
        while (read(start_fd, &b, 1) < 0 && errno == EINTR)
                ;
        double cpu0 = cpu_ns(getpid());
        uint64_t count = 0;
        while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
                if (f)
                        floor_open_release(fsock, f);
                else
                        shmview_open_release(c, name);
                count++;
        }
        sh->client[idx].count = count;
        sh->client[idx].cpu_ns = cpu_ns(getpid()) - cpu0;
        _exit(0);
}

typedef struct load_result {
        double per_second;
        double probe_p50;
        double probe_p99;
        double server_cpu_ns; /* per open + release */
        double client_cpu_ns;
} load_result;

/* nclients clients doing open + release as fast as they can for cfg.load_seconds: this
 * process, which times its own (the probe), and nclients - 1 others. */
static load_result load_run(unsigned nclients, const char *name, const floor_peer *f)
{
        unsigned nothers = nclients - 1;
        size_t shsize = sizeof(load_shared) + nothers * sizeof(((load_shared *)0)->client[0]);
        load_shared *sh =
                mmap(NULL, shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED)
                die("mmap: %m");
        int start[2];
        if (pipe2(start, O_CLOEXEC) < 0)
                die("pipe: %m");
        pid_t *pids = calloc(nothers + 1, sizeof(pid_t));
        if (!pids)
                die("out of memory");
        for (unsigned i = 0; i < nothers; i++) {
                pids[i] = fork();
                if (pids[i] < 0)
                        die("fork: %m");
                if (pids[i] == 0) {
                        close(start[1]);
                        load_client(sh, i, start[0], name, f);
                }
        }
        close(start[0]);
        while (atomic_load(&sh->ready) < nothers)
                usleep(1000);
        if (atomic_load(&sh->failed) > 0)
                die("%u of %u load clients could not connect", atomic_load(&sh->failed), nothers);

        int fsock = -1;
        if (f && (fsock = shmv__peer_connect(f->path)) < 0)
                die("floor connect: %s", strerror(-fsock));
        size_t cap = 1u << 20, n = 0;
        double *probe = malloc(cap * sizeof(double));
        if (!probe)
                die("out of memory");
        pid_t server = f ? f->pid : daemon_pid;
        double cpu0 = cpu_ns(server), self0 = cpu_ns(getpid());
        double t0 = now_ns(), end = t0 + cfg.load_seconds * 1e9, t;
        close(start[1]); /* go */
        /* A probe among 512 clients on one CPU gets a 512th of it: in a short run it may not
         * finish one open before the time is up, so it takes a few samples in any case. */
        while (((t = now_ns()) < end || n < 20) && n < cap) {
                if (f)
                        floor_open_release(fsock, f);
                else
                        shmview_open_release(consumer, name);
                probe[n++] = now_ns() - t;
        }
        atomic_store(&sh->stop, true);
        double t1 = now_ns(), cpu1 = cpu_ns(server), client_cpu = cpu_ns(getpid()) - self0;
        uint64_t total = n;
        for (unsigned i = 0; i < nothers; i++) {
                int status;
                while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
                        ;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        die("load client %u failed", i);
                total += sh->client[i].count;
                client_cpu += sh->client[i].cpu_ns;
        }
        load_result res = {
                .per_second = (double)total / ((t1 - t0) / 1e9),
                .probe_p50 = n ? percentile(probe, n, 50) : 0,
                .probe_p99 = n ? percentile(probe, n, 99) : 0,
                .server_cpu_ns = (cpu1 - cpu0) / (double)total,
                .client_cpu_ns = client_cpu / (double)total,
        };
        free(probe);
        free(pids);
        if (fsock >= 0)
                close(fsock);
        munmap(sh, shsize);
        return res;
}

static void cpu_row(const char *who, unsigned n, double shm, double base)
{
        char fig[96], a[48], b[80], r[16], t[48];
        snprintf(fig, sizeof(fig), "%s CPU per open + release, %u clients", who, n);
        snprintf(b, sizeof(b), "%s socket floor", fmt_time(t, sizeof(t), base));
        add_row(fig, fmt_time(a, sizeof(a), shm), b, fmt_ratio(r, sizeof(r), shm / base),
                "reported");
}

static void fig_load(void)
{
        progress("aggregate opens per second");
        const char *name = "bench-load";
        make_segment(name, 4 * KiB, 0);
        floor_peer f;
        floor_up(&f, name, 4 * KiB, true, 0);
        want_nofile(4096);
        for (unsigned i = 0; i < 4 && cfg.load_counts[i]; i++) {
                unsigned n = cfg.load_counts[i];
                load_result s = load_run(n, name, NULL);
                load_result b = load_run(n, name, &f);
                char fig[96], a[48], bb[80], r[16], t[48];
                snprintf(fig, sizeof(fig), "opens/s, %u client%s", n, n > 1 ? "s" : "");
                snprintf(a, sizeof(a), "%.0f", s.per_second);
                snprintf(bb, sizeof(bb), "%.0f socket floor", b.per_second);
                add_row(fig, a, bb, fmt_ratio(r, sizeof(r), s.per_second / b.per_second),
                        "reported");
                if (i == 2) {
                        cpu_row("server", n, s.server_cpu_ns, b.server_cpu_ns);
                        cpu_row("client", n, s.client_cpu_ns, b.client_cpu_ns);
                }
                if (i == 3 || !cfg.load_counts[i + 1]) {
                        snprintf(fig, sizeof(fig), "probe open + release p99, %u clients", n);
                        snprintf(bb, sizeof(bb), "%s socket floor",
                                 fmt_time(t, sizeof(t), b.probe_p99));
                        add_row(fig, fmt_time(a, sizeof(a), s.probe_p99), bb,
                                fmt_ratio(r, sizeof(r), s.probe_p99 / b.probe_p99),
                                "daemon responsive");
                }
        }
        floor_down(&f);
        check(shmv_segment_unlink(producer, name), name);
}

/* Open + release while another client creates and removes large segments, against the same
 * without it: whether one client's creates hold up everyone else. The quiet samples are taken
 * in the same run, in phases interleaved with the busy ones; the creator finishes what it is
 * doing before a quiet phase starts. */
typedef struct creator_shared {
        atomic_bool run; /* create and remove while set */
        atomic_bool busy; /* set before run is read: a cycle may be in flight */
        atomic_bool quit;
        atomic_uint cycles;
        atomic_int error;
} creator_shared;

static void creator_client(creator_shared *sh, uint64_t size)
{
        shmv_client *c;
        int r = shmv_connect(sock_path, &c);
        while (r == 0 && !atomic_load(&sh->quit)) {
                atomic_store(&sh->busy, true);
                if (!atomic_load(&sh->run)) {
                        atomic_store(&sh->busy, false);
                        usleep(100);
                        continue;
                }
                r = shmv_segment_create(c, "bench-creator", size, 0600);
                if (r == 0)
                        r = shmv_segment_unlink(c, "bench-creator");
                atomic_fetch_add(&sh->cycles, 1);
        }
        atomic_store(&sh->error, r);
        _exit(r == 0 ? 0 : 1);
}

/* Open + release samples for seconds, appended to v (at most cap in all). */
static size_t creator_probe(const char *name, double seconds, double *v, size_t n, size_t cap)
{
        double end = now_ns() + seconds * 1e9, t;
        while ((t = now_ns()) < end && n < cap) {
                shmview_open_release(consumer, name);
                v[n++] = now_ns() - t;
        }
        return n;
}

static void fig_create(void)
{
        uint64_t size = cfg.full ? 1 * GiB : 64 * MiB;
        unsigned rounds = cfg.full ? 5 : 2;
        double phase_s = cfg.full ? 1.0 : 0.25;
        char sz[32];
        fmt_size(sz, sizeof(sz), size);
        progress("open + release while another client creates and removes %s segments", sz);
        const char *name = "bench-create-probe";
        make_segment(name, 4 * KiB, 0);
        creator_shared *sh =
                mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED)
                die("mmap: %m");
        pid_t pid = fork();
        if (pid < 0)
                die("fork: %m");
        if (pid == 0)
                creator_client(sh, size);
        size_t cap = (size_t)(rounds * phase_s * 200000) + 1;
        double *quiet = malloc(cap * sizeof(double)), *busy = malloc(cap * sizeof(double));
        if (!quiet || !busy)
                die("out of memory");
        size_t nq = 0, nb = 0;
        for (unsigned i = 0; i < rounds; i++) {
                atomic_store(&sh->run, false);
                while (atomic_load(&sh->busy) && atomic_load(&sh->error) == 0)
                        usleep(100);
                nq = creator_probe(name, phase_s, quiet, nq, cap);
                atomic_store(&sh->run, true);
                while (!atomic_load(&sh->busy) && atomic_load(&sh->error) == 0)
                        usleep(100);
                nb = creator_probe(name, phase_s, busy, nb, cap);
        }
        atomic_store(&sh->run, false);
        atomic_store(&sh->quit, true);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                die("the creating client failed: %s", shmv_strerror(atomic_load(&sh->error)));
        unsigned cycles = atomic_load(&sh->cycles);
        progress("  %u creates and removes of %s during %.1f s", cycles, sz, rounds * phase_s);

        double b99 = percentile(busy, nb, 99), q99 = percentile(quiet, nq, 99);
        char fig[96], a[48], b[80], r[16], t[48];
        snprintf(fig, sizeof(fig), "open + release p99, another client creating and removing %s",
                 sz);
        snprintf(b, sizeof(b), "%s without it", fmt_time(t, sizeof(t), q99));
        add_row(fig, fmt_time(a, sizeof(a), b99), b, fmt_ratio(r, sizeof(r), b99 / q99),
                "reported");
        /* A stop of the loop (a reservation or a free on its thread, 77 to 147 ms per GiB)
         * delays the one probe waiting at the time: a few samples in a hundred thousand, which
         * the p99 does not see and the longest does. */
        double bmax = percentile(busy, nb, 100), qmax = percentile(quiet, nq, 100);
        snprintf(fig, sizeof(fig), "open + release max, another client creating and removing %s",
                 sz);
        snprintf(b, sizeof(b), "%s without it", fmt_time(t, sizeof(t), qmax));
        add_row(fig, fmt_time(a, sizeof(a), bmax), b, fmt_ratio(r, sizeof(r), bmax / qmax),
                "reported");
        free(quiet);
        free(busy);
        munmap(sh, sizeof(*sh));
        check(shmv_segment_unlink(producer, name), name);
}

static void touch_ends(const volatile uint8_t *p, size_t n)
{
        sink += p[0] + p[n - 1];
}

static double handoff_shmview(const char *name, uint64_t size, unsigned reps)
{
        double *t = calloc(reps, sizeof(double));
        for (unsigned i = 0; i < reps; i++) {
                shmv_view *v;
                double t0 = now_ns();
                check(shmv_view_open(consumer, name, 0, SHMV_TO_END, SHMV_READ, &v), name);
                touch_ends(shmv_view_data(v), size);
                t[i] = now_ns() - t0;
                shmv_view_release(v);
        }
        double m = median(t, reps);
        free(t);
        return m;
}

static double handoff_daemonless(const char *name, uint64_t size, unsigned reps)
{
        double *t = calloc(reps, sizeof(double));
        for (unsigned i = 0; i < reps; i++) {
                double t0 = now_ns();
                int fd = shm_open(name, O_RDONLY | O_CLOEXEC, 0);
                struct stat st;
                if (fd < 0 || fstat(fd, &st) < 0)
                        die("shm_open %s: %m", name);
                void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
                if (p == MAP_FAILED)
                        die("mmap %s: %m", name);
                close(fd);
                touch_ends(p, size);
                t[i] = now_ns() - t0;
                munmap(p, (size_t)st.st_size);
        }
        double m = median(t, reps);
        free(t);
        return m;
}

static double handoff_copy(uint64_t size, unsigned reps)
{
        char path[128];
        snprintf(path, sizeof(path), "%s/copy.sock", tmpdir);
        pid_t pid = shmv__copy_start(path, cfg.server_cpu, (size_t)size);
        if (pid < 0)
                die("copy peer: %s", strerror((int)-pid));
        int sock = shmv__peer_connect(path);
        if (sock < 0)
                die("copy peer connect: %s", strerror(-sock));
        uint8_t *dst = malloc(size);
        if (!dst)
                die("out of memory");
        memset(dst, 0, size);
        double *t = calloc(reps, sizeof(double));
        for (unsigned i = 0; i < reps; i++) {
                double t0 = now_ns();
                int r = shmv__copy_fetch(sock, dst, (size_t)size);
                if (r < 0)
                        die("copy: %s", strerror(-r));
                touch_ends(dst, size);
                t[i] = now_ns() - t0;
        }
        double m = median(t, reps);
        free(t);
        free(dst);
        close(sock);
        shmv__peer_stop(pid);
        unlink(path);
        return m;
}

static void daemonless_make(const char *name, uint64_t size)
{
        int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
                die("shm_open %s: %m", name);
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
                die("mmap %s: %m", name);
        memset(p, 0x5a, size);
        munmap(p, size);
        close(fd);
}

static void fig_handoff(void)
{
        progress("hand-off: a consumer gets a readable view of data a producer wrote");
        double first = 0, last = 0, last_dl = 0, first_dl = 0;
        char sz[32], a[48], b[80], r[16], fig[96];
        for (unsigned i = 0; i < cfg.n_handoff_sizes; i++) {
                uint64_t size = cfg.handoff_sizes[i];
                char name[64], shm_name[64];
                snprintf(name, sizeof(name), "bench-handoff-%" PRIu64, size);
                snprintf(shm_name, sizeof(shm_name), "/shmview-bench-%d-%" PRIu64, (int)getpid(),
                         size);
                make_segment(name, size, 0);
                daemonless_make(shm_name, size);
                unsigned reps = cfg.full ? 400 : 100;
                double s = handoff_shmview(name, size, reps);
                double d = handoff_daemonless(shm_name, size, reps);
                unsigned copy_reps = size <= MiB ? 100 : size <= 64 * MiB ? 10 : 3;
                double c = handoff_copy(size, copy_reps);
                snprintf(fig, sizeof(fig), "hand-off %s", fmt_size(sz, sizeof(sz), size));
                snprintf(b, sizeof(b), "%s copy", fmt_time(a, sizeof(a), c));
                add_row(fig, fmt_time(a, sizeof(a), s), b, fmt_ratio(r, sizeof(r), s / c),
                        i == cfg.n_handoff_sizes - 1 && size >= GiB ? "<= 1/1000x" : "reported");
                if (i == 0) {
                        first = s;
                        first_dl = d;
                }
                last = s;
                last_dl = d;
                check(shmv_segment_unlink(producer, name), name);
                shm_unlink(shm_name);
        }
        uint64_t lo = cfg.handoff_sizes[0], hi = cfg.handoff_sizes[cfg.n_handoff_sizes - 1];
        char szlo[32];
        fmt_size(szlo, sizeof(szlo), lo);
        fmt_size(sz, sizeof(sz), hi);
        snprintf(fig, sizeof(fig), "hand-off %s vs %s", sz, szlo);
        snprintf(b, sizeof(b), "%s at %s", fmt_time(a, sizeof(a), first), szlo);
        add_row(fig, fmt_time(a, sizeof(a), last), b, fmt_ratio(r, sizeof(r), last / first),
                "<= 2x");
        snprintf(fig, sizeof(fig), "hand-off %s vs daemonless", szlo);
        snprintf(b, sizeof(b), "%s shm_open+mmap", fmt_time(a, sizeof(a), first_dl));
        add_row(fig, fmt_time(a, sizeof(a), first), b, fmt_ratio(r, sizeof(r), first / first_dl),
                "reported");
        snprintf(fig, sizeof(fig), "hand-off %s vs daemonless", sz);
        snprintf(b, sizeof(b), "%s shm_open+mmap", fmt_time(a, sizeof(a), last_dl));
        add_row(fig, fmt_time(a, sizeof(a), last), b, fmt_ratio(r, sizeof(r), last / last_dl),
                "reported");
}

typedef struct read_result {
        double open_ns;
        double read_ns;
} read_result;

/* Opens name with flags and copies all of it out (tobytes) into dst: medians of reps. */
static read_result read_view(const char *name, uint64_t size, int flags, uint8_t *dst,
                             unsigned reps)
{
        double *o = calloc(reps, sizeof(double)), *t = calloc(reps, sizeof(double));
        for (unsigned i = 0; i < reps; i++) {
                shmv_view *v;
                double t0 = now_ns();
                check(shmv_view_open(consumer, name, 0, SHMV_TO_END, flags, &v), name);
                double t1 = now_ns();
                check(shmv_view_tobytes(v, dst, size), "tobytes");
                double t2 = now_ns();
                sink += dst[size / 2];
                o[i] = t1 - t0;
                t[i] = t2 - t1;
                shmv_view_release(v);
        }
        read_result r = {median(o, reps), median(t, reps)};
        free(o);
        free(t);
        return r;
}

static bool shmem_thp_on(char *setting, size_t len)
{
        snprintf(setting, len, "unknown");
        FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "re");
        if (!f)
                return false;
        char line[256];
        if (fgets(line, sizeof(line), f)) {
                char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
                if (a && b) {
                        *b = '\0';
                        snprintf(setting, len, "%s", a + 1);
                }
        }
        fclose(f);
        return strcmp(setting, "never") != 0 && strcmp(setting, "deny") != 0 &&
               strcmp(setting, "unknown") != 0;
}

static void fig_read(void)
{
        char sz[32], a[48], b[80], r[16], fig[96], thp[32];
        uint64_t size = cfg.read_size;
        fmt_size(sz, sizeof(sz), size);
        progress("reading all of a %s view", sz);
        unsigned reps = 3;
        uint8_t *src = malloc(size), *dst = malloc(size);
        if (!src || !dst)
                die("out of memory");
        memset(src, 0x33, size);
        memset(dst, 0, size);
        double *m = calloc(reps, sizeof(double));
        for (unsigned i = 0; i < reps; i++) {
                double t0 = now_ns();
                memcpy(dst, src, size);
                m[i] = now_ns() - t0;
                sink += dst[size / 3];
        }
        double copy = median(m, reps);
        free(m);
        free(src);
        double mem_gbs = (double)size / copy;
        snprintf(b, sizeof(b), "%.1f GB/s memcpy", mem_gbs);

        make_segment("bench-read", size, 0);
        read_result plain = read_view("bench-read", size, SHMV_READ, dst, reps);
        read_result pre = read_view("bench-read", size, SHMV_READ | SHMV_PREFAULT, dst, reps);
        check(shmv_segment_unlink(producer, "bench-read"), "bench-read");
        bool thp_on = shmem_thp_on(thp, sizeof(thp));
        make_segment("bench-read-huge", size, SHMV_SEGMENT_HUGE_PAGES);
        read_result huge = read_view("bench-read-huge", size, SHMV_READ, dst, reps);
        read_result huge_pre =
                read_view("bench-read-huge", size, SHMV_READ | SHMV_PREFAULT, dst, reps);
        check(shmv_segment_unlink(producer, "bench-read-huge"), "bench-read-huge");
        free(dst);

        double gbs;
        snprintf(fig, sizeof(fig), "read %s view", sz);
        gbs = (double)size / plain.read_ns;
        snprintf(a, sizeof(a), "%.1f GB/s", gbs);
        add_row(fig, a, b, fmt_ratio(r, sizeof(r), gbs / mem_gbs), "reported");

        snprintf(fig, sizeof(fig), "read %s view, SHMV_PREFAULT", sz);
        gbs = (double)size / pre.read_ns;
        snprintf(a, sizeof(a), "%.1f GB/s", gbs);
        add_row(fig, a, b, fmt_ratio(r, sizeof(r), gbs / mem_gbs), ">= 0.8x");

        snprintf(fig, sizeof(fig), "open %s view, SHMV_PREFAULT", sz);
        snprintf(b, sizeof(b), "%s without", fmt_time(a, sizeof(a), plain.open_ns));
        add_row(fig, fmt_time(a, sizeof(a), pre.open_ns), b,
                fmt_ratio(r, sizeof(r), pre.open_ns / plain.open_ns), "grows with size");

        snprintf(b, sizeof(b), "%.1f GB/s memcpy", mem_gbs);
        snprintf(fig, sizeof(fig), "read %s view, huge pages%s", sz, thp_on ? "" : " (THP off)");
        gbs = (double)size / huge.read_ns;
        snprintf(a, sizeof(a), "%.1f GB/s", gbs);
        add_row(fig, a, b, fmt_ratio(r, sizeof(r), gbs / mem_gbs), ">= 0.8x");

        snprintf(fig, sizeof(fig), "open %s view, huge pages+PREFAULT%s", sz,
                 thp_on ? "" : " (THP off)");
        snprintf(b, sizeof(b), "%s without", fmt_time(a, sizeof(a), plain.open_ns));
        add_row(fig, fmt_time(a, sizeof(a), huge_pre.open_ns), b,
                fmt_ratio(r, sizeof(r), huge_pre.open_ns / plain.open_ns), "reported");

        snprintf(b, sizeof(b), "%.1f GB/s memcpy", mem_gbs);
        snprintf(fig, sizeof(fig), "open+read %s, huge pages+PREFAULT%s", sz,
                 thp_on ? "" : " (THP off)");
        gbs = (double)size / (huge_pre.open_ns + huge_pre.read_ns);
        snprintf(a, sizeof(a), "%.1f GB/s", gbs);
        add_row(fig, a, b, fmt_ratio(r, sizeof(r), gbs / mem_gbs), ">= 0.8x");
}

/* Runs run(arg) in a child under seccomp's strict mode, which kills it at its first system
 * call other than read, write and exit, after warm(arg) outside it (an allocator's first use
 * may map memory): 1 when run made none (and returned true), 0 when it made one, -1 when this
 * cannot tell. */
static int runs_without_syscall(void (*warm)(void *), bool (*run)(void *), void *arg)
{
#if defined(__SANITIZE_ADDRESS__)
        /* The sanitizer's allocator maps memory at its own pace. */
        (void)warm;
        (void)run;
        (void)arg;
        return -1;
#endif
        pid_t pid = fork();
        if (pid < 0)
                die("fork: %m");
        if (pid == 0) {
                warm(arg);
                if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) < 0)
                        syscall(SYS_exit, 3);
                syscall(SYS_exit, run(arg) ? 0 : 2);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1 : 0;
}

/* A notify to a waiter asleep in epoll_wait() on a wait set's descriptor, in another
 * process, against an eventfd written to such a waiter (bench/wake.c). */
static void fig_waitset(void)
{
        const char *name = "bench-waitset";
        make_segment(name, 4 * KiB, 0);
        size_t n = (size_t)cfg.lat_rounds * cfg.lat_iters / 4;
        double *set = calloc(n, sizeof(double)), *flr = calloc(n, sizeof(double));
        if (!set || !flr)
                die("out of memory");
        check(shmv__bench_wake(consumer, sock_path, name, cfg.server_cpu, cfg.lat_rounds,
                               cfg.lat_iters / 4, set, flr),
              "waitset wake-ups");
        static const char *const series[] = {"wait set + epoll", "floor (eventfd + epoll)"};
        double *const all[] = {set, flr};
        write_samples("notify to a waiter through the wait set and epoll", series, all, 2, n);
        char a[48], b[80], r[16];
        double s50 = percentile(set, n, 50), f50 = percentile(flr, n, 50);
        double s99 = percentile(set, n, 99), f99 = percentile(flr, n, 99);
        snprintf(b, sizeof(b), "%s eventfd + epoll", fmt_time(a, sizeof(a), f50));
        add_row("notify to an epoll waiter via wait set, p50", fmt_time(a, sizeof(a), s50), b,
                fmt_ratio(r, sizeof(r), s50 / f50), "<= 1.5x");
        snprintf(b, sizeof(b), "%s eventfd + epoll", fmt_time(a, sizeof(a), f99));
        add_row("notify to an epoll waiter via wait set, p99", fmt_time(a, sizeof(a), s99), b,
                fmt_ratio(r, sizeof(r), s99 / f99), "reported");
        free(set);
        free(flr);
        check(shmv_segment_unlink(producer, name), "unlink");
}

static void slices_warm(void *arg)
{
        shmv_view *s;
        for (int i = 0; i < 100; i++) {
                if (shmv_view_slice(arg, 1, -1, 2, &s) < 0)
                        syscall(SYS_exit, 2);
                shmv_view_release(s);
        }
}

/* Slices, casts and item reads of arg, a view. */
static bool slices_run(void *arg)
{
        shmv_view *v = arg, *s, *c;
        uint64_t acc = 0;
        for (int i = 0; i < 10000; i++) {
                if (shmv_view_slice(v, i % 7, -1 - i % 5, 1 + i % 3, &s) < 0 ||
                    shmv_view_cast(v, "I", &c) < 0)
                        return false;
                shmv_item it;
                uint8_t byte;
                if (shmv_view_item(s, 0, &it) < 0 || shmv_view_get(v, -1, &byte) < 0)
                        return false;
                acc += it.u + byte + shmv_view_len(c);
                shmv_view_release(c);
                shmv_view_release(s);
        }
        sink = acc;
        return true;
}

static void fig_slice(void)
{
        progress("slice and item access");
        const char *name = "bench-slice";
        make_segment(name, 64 * KiB, 0);
        shmv_view *v;
        check(shmv_view_open(consumer, name, 0, SHMV_TO_END, SHMV_READ, &v), name);
        unsigned n = cfg.slice_iters;
        shmv_view *s;
        for (unsigned i = 0; i < n / 10; i++) {
                check(shmv_view_slice(v, 1, -1, 2, &s), "slice");
                shmv_view_release(s);
        }
        double t0 = now_ns();
        for (unsigned i = 0; i < n; i++) {
                shmv_view_slice(v, 1, -1, 2, &s);
                shmv_view_release(s);
        }
        double slice = (now_ns() - t0) / n;
        t0 = now_ns();
        for (unsigned i = 0; i < n / 10; i++)
                sink += (uint64_t)syscall(SYS_getppid);
        double sys = (now_ns() - t0) / (n / 10);

        size_t len = shmv_view_len(v);
        shmv_item it;
        t0 = now_ns();
        for (unsigned i = 0; i < n; i++) {
                shmv_view_item(v, (ptrdiff_t)(i & (len - 1)), &it);
                sink += it.u;
        }
        double item = (now_ns() - t0) / n;
        const volatile uint8_t *p = shmv_view_data(v);
        t0 = now_ns();
        for (unsigned i = 0; i < n; i++)
                sink += p[i & (len - 1)];
        double direct = (now_ns() - t0) / n;
        int none = runs_without_syscall(slices_warm, slices_run, v);
        shmv_view_release(v);
        check(shmv_segment_unlink(producer, name), name);

        char a[48], b[80], r[16];
        snprintf(a, sizeof(a), "%.1f ns", slice);
        snprintf(b, sizeof(b), "%.0f ns getppid() syscall", sys);
        add_row("slice + release", a, b, fmt_ratio(r, sizeof(r), slice / sys), "< 100 ns");
        snprintf(a, sizeof(a), "%.1f ns", item);
        snprintf(b, sizeof(b), "%.1f ns array read", direct);
        add_row("item (shmv_view_item)", a, b, fmt_ratio(r, sizeof(r), item / direct), "reported");
        add_row("system calls in slice/cast/item/get",
                none > 0   ? "0"
                : none < 0 ? "not checked (ASan)"
                           : "some",
                "seccomp strict", "-", "0");
        if (none == 0)
                die("a view operation made a system call");
}

/* Clients that each open count views of name, then wait for the bench to let them go. */
static pid_t view_holder(const char *name, unsigned count, atomic_uint *ready, const int hold[2])
{
        pid_t pid = fork();
        if (pid < 0)
                die("fork: %m");
        if (pid != 0)
                return pid;
        close(hold[1]);
        shmv_client *c;
        if (shmv_connect(sock_path, &c) < 0)
                _exit(1);
        for (unsigned i = 0; i < count; i++) {
                shmv_view *v;
                if (shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v) < 0)
                        _exit(1);
        }
        atomic_fetch_add(ready, 1);
        char b;
        while (read(hold[0], &b, 1) < 0 && errno == EINTR)
                ;
        _exit(0);
}

static void fig_memory(void)
{
        /* Views cost the daemon no descriptor; segments one each (the memfd), plus one more
         * once a read-only view of it has been opened: only m-views here, which the spare
         * 1024 cover with the connections. */
        unsigned nviews = cfg.mem_count, nsegs = cfg.mem_count, holders = 4;
        rlim_t fds = nofile_possible((rlim_t)nsegs + 1024);
        if ((rlim_t)nsegs + 1024 > fds) {
                nsegs = fds > 2048 ? (unsigned)(fds - 1024) : 1024;
                progress("descriptor limit %llu (hard, cannot be raised here): %u segments only",
                         (unsigned long long)fds, nsegs);
        }
        progress("daemon memory at %u segments and %u views", nsegs, nviews);
        /* A daemon of its own, so that nothing else shares its heap. */
        char path[128], segs[16], views[16];
        snprintf(path, sizeof(path), "%s/memory.sock", tmpdir);
        snprintf(segs, sizeof(segs), "%u", nsegs + 16);
        snprintf(views, sizeof(views), "%u", nviews / holders + 16);
        const char *extra[] = {"--max-segments", segs, "--max-views-per-client", views, NULL};
        pid_t pid = daemon_start(path, (rlim_t)nsegs + 1024, extra);
        char saved[108];
        memcpy(saved, sock_path, sizeof(saved));
        memcpy(sock_path, path, sizeof(sock_path));

        shmv_client *c;
        check(shmv_connect(path, &c), "connect");
        check(shmv_segment_create(c, "m-views", 4096, 0644), "create");
        uint64_t before = rss_anon(pid), half = 0;
        for (unsigned i = 0; i < nsegs; i++) {
                if (i == nsegs / 2)
                        half = rss_anon(pid);
                char name[32];
                snprintf(name, sizeof(name), "m%07u", i);
                int r = shmv_segment_create(c, name, 4096, 0644);
                if (r < 0)
                        die("create of segment %u of %u: %s (descriptor limit %llu?)", i, nsegs,
                            shmv_strerror(r), (unsigned long long)nofile());
        }
        uint64_t after_segs = rss_anon(pid);

        atomic_uint *ready = mmap(NULL, sizeof(*ready), PROT_READ | PROT_WRITE,
                                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (ready == MAP_FAILED)
                die("mmap: %m");
        atomic_init(ready, 0);
        int hold[2];
        if (pipe2(hold, O_CLOEXEC) < 0)
                die("pipe: %m");
        /* Several clients, since one process may have only vm.max_map_count mappings. */
        pid_t pids[4];
        for (unsigned i = 0; i < holders; i++)
                pids[i] = view_holder("m-views", nviews / holders, ready, hold);
        close(hold[0]);
        for (;;) {
                int status;
                for (unsigned i = 0; i < holders; i++)
                        if (waitpid(pids[i], &status, WNOHANG) == pids[i])
                                die("a view holder failed");
                if (atomic_load(ready) == holders)
                        break;
                usleep(1000);
        }
        uint64_t after_views = rss_anon(pid);
        close(hold[1]);
        for (unsigned i = 0; i < holders; i++)
                while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
                        ;
        munmap(ready, sizeof(*ready));
        shmv_disconnect(c);
        daemon_stop(pid);
        memcpy(sock_path, saved, sizeof(sock_path));

        char fig[96], a[48];
        double per_seg = (double)(after_segs - before) / nsegs;
        double per_view = (double)(after_views - after_segs) / (nviews / holders * holders);
        snprintf(fig, sizeof(fig), "daemon memory per segment (%u)", nsegs);
        snprintf(a, sizeof(a), "%.0f B", per_seg);
        add_row(fig, a, "-", "-", "< 1024 B");
        /* Where the count is capped below mem_count: whether the cost grows with the count. */
        char b[80], r[16];
        double first = (double)(half - before) / (nsegs / 2);
        double second = (double)(after_segs - half) / (nsegs - nsegs / 2);
        snprintf(fig, sizeof(fig), "daemon memory per segment, %u to %u", nsegs / 2, nsegs);
        snprintf(a, sizeof(a), "%.0f B", second);
        snprintf(b, sizeof(b), "%.0f B for the first %u", first, nsegs / 2);
        add_row(fig, a, b, fmt_ratio(r, sizeof(r), second / first), "reported");
        snprintf(fig, sizeof(fig), "daemon memory per open view (%u)", nviews / holders * holders);
        snprintf(a, sizeof(a), "%.0f B", per_view);
        add_row(fig, a, "-", "-", "< 256 B");
}

static void fig_many_clients(void)
{
        unsigned n = cfg.many_clients;
        rlim_t fds = nofile_possible((rlim_t)n + 1024);
        if ((rlim_t)n + 1024 > fds) {
                n = fds > 1536 ? (unsigned)(fds - 1024) : 512;
                progress("descriptor limit %llu: %u clients only (run as root for more)",
                         (unsigned long long)fds, n);
        }
        progress("%u connected clients", n);
        want_nofile(n + 1024);
        if (nofile() < n + 64)
                die("%u clients need %u descriptors; the limit is %llu", n, n + 64,
                    (unsigned long long)nofile());
        const char *name = "bench-many";
        make_segment(name, 4 * KiB, 0);
        uint64_t before = rss_anon(daemon_pid);
        shmv_client **cs = calloc(n, sizeof(*cs));
        if (!cs)
                die("out of memory");
        for (unsigned i = 0; i < n; i++) {
                int r = shmv_connect(sock_path, &cs[i]);
                if (r < 0)
                        die("client %u of %u: %s", i, n, shmv_strerror(r));
        }
        /* Every one of them is served. */
        for (unsigned i = 0; i < n; i++)
                shmview_open_release(cs[i], name);
        uint64_t after = rss_anon(daemon_pid);

        char what[96];
        snprintf(what, sizeof(what), "open + release, %u clients connected", n);
        latency_figure(what, cs[n / 2], name);
        for (unsigned i = 0; i < n; i++)
                shmv_disconnect(cs[i]);
        free(cs);
        check(shmv_segment_unlink(producer, name), name);

        char fig[96], a[48];
        snprintf(fig, sizeof(fig), "daemon memory per connected client");
        snprintf(a, sizeof(a), "%.0f B", (double)(after - before) / n);
        add_row(fig, a, "-", "-", "reported");
}

/* Notify to a waiter blocked in shmv_view_wait() in another process, against the futex floor:
 * this process and a peer take turns waking each other, LAT_BLOCK round trips through a
 * segment's doorbell, then LAT_BLOCK through a bare futex word in a shared mapping, and so
 * on. Every wake-up is a sample, from just before the notify (or FUTEX_WAKE) to just after
 * the wait returned in the other process: both run on one clock. */
typedef struct pingpong {
        _Atomic uint32_t word; /* the floor's futex */
        _Atomic uint32_t ready;
        _Atomic uint32_t failed;
        _Atomic double sent_ns; /* when the latest wake-up was sent */
        double samples[]; /* shmview's 2n, then the floor's 2n */
} pingpong;

#define PINGPONG_TIMEOUT_MS 10000

/* One side of n round trips of each kind, from turn first (0: this process sends first).
 * Records the wake-ups it receives: shmview's at shm[2i + side], the floor's likewise. */
static bool pingpong_side(pingpong *pp, shmv_view *v, size_t warm, size_t n, unsigned side)
{
        uint64_t gen = shmv_view_generation(v);
        uint32_t fw = atomic_load(&pp->word);
        double *shm = pp->samples, *flr = pp->samples + 2 * n;
        size_t total = warm + n;
        for (size_t k = 0; k < total; k += LAT_BLOCK) {
                size_t end = k + LAT_BLOCK < total ? k + LAT_BLOCK : total;
                for (size_t i = k; i < end; i++)
                        for (unsigned turn = 0; turn < 2; turn++) {
                                if (turn == side) {
                                        atomic_store(&pp->sent_ns, now_ns());
                                        if (shmv_view_notify(v) < 0)
                                                return false;
                                        gen++;
                                } else {
                                        if (shmv_view_wait(v, gen, PINGPONG_TIMEOUT_MS, &gen) < 0)
                                                return false;
                                        double t = now_ns();
                                        if (i >= warm)
                                                shm[2 * (i - warm) + side] =
                                                        t - atomic_load(&pp->sent_ns);
                                }
                        }
                for (size_t i = k; i < end; i++)
                        for (unsigned turn = 0; turn < 2; turn++) {
                                if (turn == side) {
                                        atomic_store(&pp->sent_ns, now_ns());
                                        fw = shmv__futex_wake(&pp->word);
                                } else {
                                        if (shmv__futex_wait(&pp->word, fw, PINGPONG_TIMEOUT_MS) <
                                            0)
                                                return false;
                                        double t = now_ns();
                                        fw++;
                                        if (i >= warm)
                                                flr[2 * (i - warm) + side] =
                                                        t - atomic_load(&pp->sent_ns);
                                }
                        }
        }
        return true;
}

static void fig_notify_latency(void)
{
        size_t n = cfg.wake_iters, warm = LAT_BLOCK;
        progress("notify to a waiter in another process, %zu round trips", n);
        const char *name = "bench-notify";
        check(shmv_segment_create(producer, name, 4 * KiB, 0600), name);
        size_t size = sizeof(pingpong) + 4 * n * sizeof(double);
        pingpong *pp = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (pp == MAP_FAILED)
                die("mmap: %m");
        pid_t pid = fork();
        if (pid < 0)
                die("fork: %m");
        if (pid == 0) {
                /* The peer, with a client of its own, on the other CPU. */
                (void)shmv__pin_cpu(cfg.server_cpu);
                shmv_client *c;
                shmv_view *v;
                if (shmv_connect(sock_path, &c) < 0 ||
                    shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &v) < 0)
                        _exit(1);
                atomic_store(&pp->ready, 1);
                _exit(pingpong_side(pp, v, warm, n, 1) ? 0 : 1);
        }
        shmv_view *v;
        check(shmv_view_open(producer, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &v), name);
        while (!atomic_load(&pp->ready)) {
                int status;
                if (waitpid(pid, &status, WNOHANG) == pid)
                        die("the ping-pong peer could not open %s", name);
                usleep(1000);
        }
        bool ok = pingpong_side(pp, v, warm, n, 0);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                die("ping-pong through %s failed (a wake-up lost?)", name);
        shmv_view_release(v);
        check(shmv_segment_unlink(producer, name), name);

        double *shm = pp->samples, *flr = pp->samples + 2 * n;
        static const char *const series[] = {"shmview", "futex floor"};
        double *const all[] = {shm, flr};
        write_samples("notify to a waiter in another process", series, all, 2, 2 * n);
        double s50 = percentile(shm, 2 * n, 50), s99 = percentile(shm, 2 * n, 99);
        double f50 = percentile(flr, 2 * n, 50), f99 = percentile(flr, 2 * n, 99);
        char a[48], b[80], r[16];
        snprintf(b, sizeof(b), "%s futex floor", fmt_time(a, sizeof(a), f50));
        add_row("notify to a waiter in shmv_view_wait, other process, p50",
                fmt_time(a, sizeof(a), s50), b, fmt_ratio(r, sizeof(r), s50 / f50), "<= 1.5x");
        snprintf(b, sizeof(b), "%s futex floor", fmt_time(a, sizeof(a), f99));
        add_row("notify to a waiter in shmv_view_wait, other process, p99",
                fmt_time(a, sizeof(a), s99), b, fmt_ratio(r, sizeof(r), s99 / f99), "reported");
        munmap(pp, size);
}

static void generation_warm(void *arg)
{
        sink += shmv_view_generation(arg);
}

static bool generation_run(void *arg)
{
        uint64_t acc = 0;
        for (int i = 0; i < 10000; i++)
                acc += shmv_view_generation(arg);
        sink = acc;
        return true;
}

static void notify_warm(void *arg)
{
        if (shmv_view_notify(arg) < 0)
                syscall(SYS_exit, 2);
}

static bool notify_run(void *arg)
{
        for (int i = 0; i < 10000; i++)
                if (shmv_view_notify(arg) < 0)
                        return false;
        return true;
}

/* The generation read when nothing changed, and a notify that nobody waits for: plain loads
 * and increments of the doorbell page, against the same on a word of a shared mapping. */
static void fig_notify_cost(void)
{
        progress("shmv_view_generation and shmv_view_notify with nobody waiting");
        const char *name = "bench-doorbell";
        check(shmv_segment_create(producer, name, 4 * KiB, 0600), name);
        shmv_view *w;
        check(shmv_view_open(producer, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w), name);
        _Atomic uint64_t *word =
                mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (word == MAP_FAILED)
                die("mmap: %m");
        /* Each against its floor in alternating blocks, and the median block of each: on a
         * shared machine the blocks in which another process had the CPU do not count. */
        enum { BLOCKS = 100 };
        double gen_ns[BLOCKS], load_ns[BLOCKS], notify_ns[BLOCKS], inc_ns[BLOCKS];
        unsigned n = cfg.slice_iters * 10 / BLOCKS, m = cfg.slice_iters / BLOCKS;
        uint64_t acc = 0;
        for (unsigned i = 0; i < n; i++)
                acc += shmv_view_generation(w);
        for (unsigned i = 0; i < m; i++)
                check(shmv_view_notify(w), "notify");
        for (unsigned k = 0; k < BLOCKS; k++) {
                double t0 = now_ns();
                for (unsigned i = 0; i < n; i++)
                        acc += shmv_view_generation(w);
                double t1 = now_ns();
                for (unsigned i = 0; i < n; i++)
                        acc += atomic_load_explicit(word, memory_order_acquire);
                double t2 = now_ns();
                for (unsigned i = 0; i < m; i++)
                        shmv_view_notify(w);
                double t3 = now_ns();
                for (unsigned i = 0; i < m; i++)
                        atomic_fetch_add(word, 1);
                double t4 = now_ns();
                gen_ns[k] = (t1 - t0) / n;
                load_ns[k] = (t2 - t1) / n;
                notify_ns[k] = (t3 - t2) / m;
                inc_ns[k] = (t4 - t3) / m;
        }
        sink += acc;
        double gen = median(gen_ns, BLOCKS), load = median(load_ns, BLOCKS);
        double notify = median(notify_ns, BLOCKS), inc = median(inc_ns, BLOCKS);
        /* Every notify counted, none lost. */
        m *= BLOCKS + 1;
        if (shmv_view_generation(w) != m)
                die("%u notifies made the generation %" PRIu64, m, shmv_view_generation(w));
        int gen_none = runs_without_syscall(generation_warm, generation_run, w);
        int notify_none = runs_without_syscall(notify_warm, notify_run, w);
        shmv_view_release(w);
        munmap(word, 4096);
        check(shmv_segment_unlink(producer, name), name);

        char a[48], b[80], r[16];
        snprintf(a, sizeof(a), "%.1f ns", gen);
        snprintf(b, sizeof(b), "%.1f ns atomic load, shared word", load);
        add_row("shmv_view_generation, nothing changed", a, b, fmt_ratio(r, sizeof(r), gen / load),
                "< 10 ns");
        snprintf(a, sizeof(a), "%.1f ns", notify);
        snprintf(b, sizeof(b), "%.1f ns atomic increment, shared word", inc);
        add_row("shmv_view_notify, nobody waiting", a, b, fmt_ratio(r, sizeof(r), notify / inc),
                "reported");
        const char *none = gen_none > 0 && notify_none > 0   ? "0"
                           : gen_none < 0 || notify_none < 0 ? "not checked (ASan)"
                                                             : "some";
        add_row("system calls in generation / notify (nobody waiting)", none, "seccomp strict", "-",
                "0");
        if (gen_none == 0 || notify_none == 0)
                die("shmv_view_%s made a system call", gen_none == 0 ? "generation" : "notify");
}

/* One notify waking many waiters: wake_procs processes of wake_threads threads, each thread
 * blocked in shmv_view_wait() on its process's read-only view (or, for the floor, in
 * FUTEX_WAIT on a shared word). */
typedef struct wakeall_shared {
        _Atomic uint32_t word; /* the floor's futex */
        _Atomic uint32_t opened; /* processes ready to start their waiters */
        _Atomic uint32_t ready; /* waiters about to wait */
        _Atomic uint32_t woken;
        _Atomic uint32_t failed;
        _Atomic double sent_ns;
        double lat[]; /* one per waiter */
} wakeall_shared;

typedef struct waiter {
        wakeall_shared *sh;
        shmv_view *v; /* NULL: the floor */
        uint64_t seen;
        uint32_t fseen;
        unsigned idx;
} waiter;

static void *waiter_thread(void *arg)
{
        waiter *w = arg;
        atomic_fetch_add(&w->sh->ready, 1);
        int r = w->v ? shmv_view_wait(w->v, w->seen, PINGPONG_TIMEOUT_MS, &(uint64_t){0})
                     : shmv__futex_wait(&w->sh->word, w->fseen, PINGPONG_TIMEOUT_MS);
        double t = now_ns();
        if (r < 0) {
                atomic_fetch_add(&w->sh->failed, 1);
        } else {
                w->sh->lat[w->idx] = t - atomic_load(&w->sh->sent_ns);
                atomic_fetch_add(&w->sh->woken, 1);
        }
        return NULL;
}

/* A waiting process (name NULL: the floor's): opens its view, says so, starts its threads
 * once go closes, then sits in read() on hold until the bench lets it go. */
static void wakeall_proc(wakeall_shared *sh, const char *name, unsigned first, unsigned nthreads,
                         int go, int hold)
{
        (void)shmv__pin_cpu(cfg.server_cpu);
        shmv_client *c = NULL;
        shmv_view *v = NULL;
        if (name && (shmv_connect(sock_path, &c) < 0 ||
                     shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v) < 0))
                _exit(1);
        atomic_fetch_add(&sh->opened, 1);
        char b;
        while (read(go, &b, 1) < 0 && errno == EINTR)
                ;
        waiter ws[64];
        pthread_t ts[64];
        for (unsigned i = 0; i < nthreads; i++) {
                ws[i] = (waiter){.sh = sh,
                                 .v = v,
                                 .seen = v ? shmv_view_generation(v) : 0,
                                 .fseen = atomic_load(&sh->word),
                                 .idx = first + i};
                if (pthread_create(&ts[i], NULL, waiter_thread, &ws[i]) != 0)
                        _exit(1);
        }
        while (read(hold, &b, 1) < 0 && errno == EINTR)
                ;
        for (unsigned i = 0; i < nthreads; i++)
                pthread_join(ts[i], NULL);
        shmv_view_release(v);
        shmv_disconnect(c);
        _exit(0);
}

/* Threads of process pid now in the futex system call. */
static unsigned threads_in_futex(pid_t pid)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
        DIR *d = opendir(path);
        unsigned n = 0;
        for (struct dirent *e; d && (e = readdir(d));) {
                if (e->d_name[0] == '.')
                        continue;
                char p[384];
                snprintf(p, sizeof(p), "/proc/%d/task/%s/syscall", (int)pid, e->d_name);
                FILE *f = fopen(p, "re");
                long nr = -1;
                if (f && fscanf(f, "%ld", &nr) == 1 && nr == SYS_futex)
                        n++;
                if (f)
                        fclose(f);
        }
        if (d)
                closedir(d);
        return n;
}

typedef struct wakeall_result {
        double p50, p99, max;
        double daemon_bytes; /* daemon heap grown while they waited */
} wakeall_result;

/* One round: every waiter blocked, one wake-up, all woken. w: the bench's writable view for
 * shmview, NULL for the floor. */
static wakeall_result wakeall_round(const char *name, shmv_view *w)
{
        unsigned np = cfg.wake_procs, nt = cfg.wake_threads, n = np * nt;
        size_t size = sizeof(wakeall_shared) + n * sizeof(double);
        wakeall_shared *sh =
                mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED)
                die("mmap: %m");
        int go[2], hold[2];
        if (pipe2(go, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0)
                die("pipe: %m");
        pid_t *pids = calloc(np, sizeof(pid_t));
        if (!pids)
                die("out of memory");
        for (unsigned i = 0; i < np; i++) {
                pids[i] = fork();
                if (pids[i] < 0)
                        die("fork: %m");
                if (pids[i] == 0) {
                        close(go[1]);
                        close(hold[1]);
                        wakeall_proc(sh, w ? name : NULL, i * nt, nt, go[0], hold[0]);
                }
        }
        close(go[0]);
        close(hold[0]);
        for (int i = 0; atomic_load(&sh->opened) < np; i++) {
                if (i == 10000)
                        die("%u of %u waiting processes opened their view",
                            atomic_load(&sh->opened), np);
                usleep(1000);
        }
        uint64_t before = rss_anon(daemon_pid);
        close(go[1]);
        /* Until every waiter sleeps in the kernel: each process's main thread is in read(). */
        for (int i = 0;; i++) {
                unsigned in = 0;
                if (atomic_load(&sh->ready) == n)
                        for (unsigned k = 0; k < np; k++)
                                in += threads_in_futex(pids[k]);
                if (in == n)
                        break;
                if (i == 2000 || atomic_load(&sh->failed))
                        die("%u of %u waiters asleep", in, n);
                usleep(5000);
        }
        uint64_t after = rss_anon(daemon_pid);
        atomic_store(&sh->sent_ns, now_ns());
        if (w)
                check(shmv_view_notify(w), "notify");
        else
                shmv__futex_wake(&sh->word);
        for (int i = 0; atomic_load(&sh->woken) + atomic_load(&sh->failed) < n; i++) {
                if (i == 10000)
                        break;
                usleep(1000);
        }
        if (atomic_load(&sh->woken) != n)
                die("one %s woke %u of %u waiters", w ? "notify" : "FUTEX_WAKE",
                    atomic_load(&sh->woken), n);
        close(hold[1]);
        for (unsigned i = 0; i < np; i++) {
                int status;
                while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR)
                        ;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        die("waiting process %u failed", i);
        }
        wakeall_result res = {
                .p50 = percentile(sh->lat, n, 50),
                .p99 = percentile(sh->lat, n, 99),
                .max = percentile(sh->lat, n, 100),
                .daemon_bytes = (double)after - (double)before,
        };
        free(pids);
        munmap(sh, size);
        return res;
}

static int cmp_result_p99(const void *a, const void *b)
{
        double x = ((const wakeall_result *)a)->p99, y = ((const wakeall_result *)b)->p99;
        return x < y ? -1 : x > y;
}

static void fig_wake_all(void)
{
        unsigned np = cfg.wake_procs, nt = cfg.wake_threads, n = np * nt, rounds = cfg.wake_rounds;
        progress("one notify waking %u waiters in %u processes, %u rounds", n, np, rounds);
        const char *name = "bench-wake-all";
        check(shmv_segment_create(producer, name, 4 * KiB, 0644), name);
        shmv_view *w;
        check(shmv_view_open(producer, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w), name);
        wakeall_result shm[16], flr[16];
        /* Each goes first in every other round, so that what the previous round left behind
         * (its processes' teardown) weighs on both alike. */
        for (unsigned i = 0; i < rounds; i++) {
                if (i % 2)
                        flr[i] = wakeall_round(name, NULL);
                shm[i] = wakeall_round(name, w);
                if (i % 2 == 0)
                        flr[i] = wakeall_round(name, NULL);
        }
        shmv_view_release(w);
        check(shmv_segment_unlink(producer, name), name);
        /* The median round by p99, for both. */
        qsort(shm, rounds, sizeof(shm[0]), cmp_result_p99);
        qsort(flr, rounds, sizeof(flr[0]), cmp_result_p99);
        wakeall_result s = shm[rounds / 2], f = flr[rounds / 2];
        double mem = 0;
        for (unsigned i = 0; i < rounds; i++)
                mem += shm[i].daemon_bytes;
        mem /= rounds;

        char fig[96], a[48], b[80], r[16];
        snprintf(fig, sizeof(fig), "one notify waking %u waiters in %u processes, p50", n, np);
        snprintf(b, sizeof(b), "%s futex floor", fmt_time(a, sizeof(a), f.p50));
        add_row(fig, fmt_time(a, sizeof(a), s.p50), b, fmt_ratio(r, sizeof(r), s.p50 / f.p50),
                "reported");
        snprintf(fig, sizeof(fig), "one notify waking %u waiters in %u processes, p99", n, np);
        snprintf(b, sizeof(b), "%s futex floor", fmt_time(a, sizeof(a), f.p99));
        add_row(fig, fmt_time(a, sizeof(a), s.p99), b, fmt_ratio(r, sizeof(r), s.p99 / f.p99),
                "all woken; reported");
        snprintf(fig, sizeof(fig), "daemon memory per waiter (%u)", n);
        snprintf(a, sizeof(a), "%.0f B", mem / n);
        snprintf(b, sizeof(b), "heap %+.0f KiB for %u waiters on %u views", mem / 1024, n, np);
        add_row(fig, a, b, "-", "reported");
}

/* The streaming example (examples/frames-*.c) as it is, its consumer on the other CPU:
 * as fast as the producer can go, and at 100 frames a second for the latency. */
typedef struct frames_run {
        unsigned long long published, publish_ns;
        unsigned long long seen, missed, torn, bad, bytes, read_ns, read_cpu_ns, lat_p50, lat_p99;
} frames_run;

static pid_t frames_start(const char *const *argv, int cpu, int *out)
{
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
                die("pipe: %m");
        pid_t pid = fork();
        if (pid < 0)
                die("fork: %m");
        if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                (void)shmv__pin_cpu(cpu);
                setenv("SHMVIEW_SOCKET", sock_path, 1);
                dup2(p[1], 1);
                execv(argv[0], (char *const *)(uintptr_t)argv);
                fprintf(stderr, "shmview-bench: %s: %m\n", argv[0]);
                _exit(127);
        }
        close(p[1]);
        *out = p[0];
        return pid;
}

/* The line of fd's output that starts with "frames: ", into line. */
static void frames_finish(pid_t pid, int fd, char *line, size_t len)
{
        char buf[4096];
        size_t n = 0;
        ssize_t k;
        while ((k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
                n += (size_t)k;
        buf[n] = '\0';
        close(fd);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        char *at = strstr(buf, "frames: ");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !at)
                die("frames example failed:\n%s", buf);
        snprintf(line, len, "%s", at);
}

/* The example, frames of 8 MiB at rate a second (0: as fast as it goes), count of them. With
 * keep the segment stays, for the bench to read. */
static frames_run frames_stream(unsigned frames, const char *rate, bool keep)
{
        char count[16];
        snprintf(count, sizeof(count), "%u", frames);
        const char *prod[] = {FRAMES_PRODUCER,
                              "--name",
                              "bench-frames",
                              "--frames",
                              count,
                              "--frame-size",
                              "8M",
                              "--slots",
                              "4",
                              "--rate",
                              rate,
                              "--readers",
                              "1",
                              keep ? "--keep" : NULL,
                              NULL};
        const char *cons[] = {FRAMES_CONSUMER, "--name", "bench-frames",
                              "--timeout",     "10000",  NULL};
        int cout, pout;
        pid_t c = frames_start(cons, cfg.server_cpu, &cout);
        pid_t p = frames_start(prod, cfg.client_cpu, &pout);
        char pl[512], cl[512];
        frames_finish(p, pout, pl, sizeof(pl));
        frames_finish(c, cout, cl, sizeof(cl));
        frames_run fr;
        if (sscanf(pl, "frames: published=%llu ns=%llu", &fr.published, &fr.publish_ns) != 2 ||
            sscanf(cl,
                   "frames: seen=%llu missed=%llu torn=%llu bad=%llu first=%*u end=%*u "
                   "bytes=%llu read_ns=%llu read_cpu_ns=%llu lat_p50_ns=%llu lat_p99_ns=%llu",
                   &fr.seen, &fr.missed, &fr.torn, &fr.bad, &fr.bytes, &fr.read_ns, &fr.read_cpu_ns,
                   &fr.lat_p50, &fr.lat_p99) != 9)
                die("frames example: cannot read '%s' and '%s'", pl, cl);
        if (fr.bad || fr.seen + fr.missed != fr.published)
                die("frames example: %llu seen + %llu missed of %llu, %llu damaged", fr.seen,
                    fr.missed, fr.published, fr.bad);
        return fr;
}

static double thread_cpu_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef struct copy_cost {
        double wall_ns;
        double cpu_ns;
} copy_cost;

/* memcpy of the frames the example left in its slots into private memory, on the consumer's
 * CPU (this process moves there for it): the medians of copying one frame. */
static copy_cost frames_memcpy(uint64_t frame)
{
        shmv_view *v;
        check(shmv_view_open(consumer, "bench-frames", 0, SHMV_TO_END, SHMV_READ, &v),
              "bench-frames");
        const uint8_t *base = shmv_view_data(v);
        uint64_t slot = frames_slot_size(frame);
        uint8_t *dst = malloc(frame);
        if (!dst)
                die("out of memory");
        memset(dst, 0, frame);
        (void)shmv__pin_cpu(cfg.server_cpu);
        enum { REPS = 12 };
        double wall[REPS], cpu[REPS];
        for (unsigned i = 0; i < REPS; i++) {
                const uint8_t *src = base + FRAMES_PAGE + i % 4 * slot + FRAMES_PAGE;
                double t0 = now_ns(), c0 = thread_cpu_ns();
                memcpy(dst, src, frame);
                cpu[i] = thread_cpu_ns() - c0;
                wall[i] = now_ns() - t0;
                sink += dst[i * 4096];
        }
        (void)shmv__pin_cpu(cfg.client_cpu);
        free(dst);
        shmv_view_release(v);
        return (copy_cost){median(wall, REPS), median(cpu, REPS)};
}

static void fig_frames(void)
{
        uint64_t size = 8 * MiB;
        progress("the frames example, 8 MiB frames");
        frames_run fast = frames_stream(cfg.frames_fast, "0", true);
        copy_cost copy = frames_memcpy(size);
        check(shmv_segment_unlink(producer, "bench-frames"), "bench-frames");
        frames_run paced = frames_stream(cfg.frames_paced, "100", false);

        char a[48], b[80], r[16], t[48];
        double copy_fps = 1e9 / copy.wall_ns;
        double fps = (double)fast.published / ((double)fast.publish_ns / 1e9);
        double read_fps = (double)fast.seen / ((double)fast.publish_ns / 1e9);
        snprintf(b, sizeof(b), "%.0f memcpy of 8 MiB/s", copy_fps);
        snprintf(a, sizeof(a), "%.0f", fps);
        add_row("frames example, 8 MiB: frames/s published", a, b,
                fmt_ratio(r, sizeof(r), fps / copy_fps), "reported");
        snprintf(a, sizeof(a), "%.0f (%llu of %llu missed)", read_fps, fast.missed, fast.published);
        add_row("frames example, 8 MiB: frames/s read", a, b,
                fmt_ratio(r, sizeof(r), read_fps / copy_fps), "reported");
        /* On CPU time, both: on a shared machine the wall clock also counts the time others
         * had the CPU. */
        double gbs = fast.read_cpu_ns ? (double)fast.bytes / (double)fast.read_cpu_ns : 0;
        double copy_gbs = (double)size / copy.cpu_ns;
        snprintf(a, sizeof(a), "%.1f GB/s", gbs);
        snprintf(b, sizeof(b), "%.1f GB/s memcpy of the same frames", copy_gbs);
        add_row("frames example, 8 MiB: consumer read bandwidth (CPU time)", a, b,
                fmt_ratio(r, sizeof(r), gbs / copy_gbs), "reported");
        gbs = fast.read_ns ? (double)fast.bytes / (double)fast.read_ns : 0;
        copy_gbs = (double)size / copy.wall_ns;
        snprintf(a, sizeof(a), "%.1f GB/s", gbs);
        snprintf(b, sizeof(b), "%.1f GB/s memcpy of the same frames", copy_gbs);
        add_row("frames example, 8 MiB: consumer read bandwidth (wall)", a, b,
                fmt_ratio(r, sizeof(r), gbs / copy_gbs), "reported");
        snprintf(a, sizeof(a), "%s", fmt_time(t, sizeof(t), (double)paced.lat_p50));
        snprintf(b, sizeof(b), "p99 %s, %llu of %llu missed",
                 fmt_time(t, sizeof(t), (double)paced.lat_p99), paced.missed, paced.published);
        add_row("frames example, 100 frames/s: publish to read p50", a, b, "-", "reported");
}

static void describe_machine(void)
{
        char model[256] = "unknown", line[512], thp[32];
        FILE *f = fopen("/proc/cpuinfo", "re");
        if (f) {
                while (fgets(line, sizeof(line), f))
                        if (sscanf(line, "model name : %255[^\n]", model) == 1)
                                break;
                fclose(f);
        }
        struct utsname u;
        uname(&u);
        long pages = sysconf(_SC_PHYS_PAGES), ps = sysconf(_SC_PAGESIZE);
        shmem_thp_on(thp, sizeof(thp));
        printf("shmview-bench %s (%s mode): %s, %ld CPUs, %.1f GiB RAM, Linux %s, "
               "shmem THP %s; client on CPU %d, server on CPU %d\n",
               SHMV_VERSION_STRING, cfg.full ? "full" : "quick", model,
               sysconf(_SC_NPROCESSORS_ONLN), (double)pages * (double)ps / (double)GiB, u.release,
               thp, cfg.client_cpu, cfg.server_cpu);
}

/* CPU time the whole machine has been busy, and this process with its reaped children (the
 * daemons, peers and clients it started), in seconds. */
static double machine_busy_s(void)
{
        unsigned long long v[10] = {0};
        FILE *f = fopen("/proc/stat", "re");
        if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                         &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
                v[0] = v[1] = v[2] = v[5] = v[6] = v[7] = 0;
        if (f)
                fclose(f);
        /* user nice system (idle iowait) irq softirq steal */
        return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static double own_busy_s(void)
{
        struct tms t;
        times(&t);
        return (double)(t.tms_utime + t.tms_stime + t.tms_cutime + t.tms_cstime) /
               (double)sysconf(_SC_CLK_TCK);
}

static double busy_start, own_start, wall_start;

/* Other work on the machine skews every figure: say how much there was. */
static void print_others(void)
{
        double busy = machine_busy_s() - busy_start, own = own_busy_s() - own_start;
        double wall = (now_ns() - wall_start) / 1e9;
        double others = busy > own ? busy - own : 0;
        printf("other processes used %.1f s of CPU during the %.0f s run (%.0f%% of one CPU)\n",
               others, wall, wall > 0 ? 100 * others / wall : 0);
}

static void print_table(void)
{
        printf("| figure | shmview | baseline | ratio | target |\n");
        printf("| --- | ---: | ---: | ---: | --- |\n");
        for (unsigned i = 0; i < nrows; i++)
                printf("| %s | %s | %s | %s | %s |\n", rows[i].figure, rows[i].shmview,
                       rows[i].baseline, rows[i].ratio, rows[i].target);
}

static void choose_cpus(void)
{
        cpu_set_t set;
        int found[2] = {-1, -1}, n = 0;
        if (sched_getaffinity(0, sizeof(set), &set) == 0)
                for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
                        if (CPU_ISSET(i, &set))
                                found[n++] = i;
        if (n == 0)
                found[0] = 0;
        cfg.client_cpu = found[0];
        cfg.server_cpu = n > 1 ? found[1] : found[0];
        if (n < 2)
                progress("only one CPU: client and server share it");
}

static void usage(FILE *f)
{
        fprintf(f, "Usage: shmview-bench --daemon PATH [--full] [--only FIGURE,...] "
                   "[--samples DIR]\n"
                   "Figures: latency load create handoff read slice memory clients waitset "
                   "notify wakeall frames\n");
}

static void configure(bool full)
{
        cfg.full = full;
        if (full) {
                cfg.lat_rounds = 10;
                cfg.lat_iters = 5000;
                cfg.load_seconds = 2.0;
                uint64_t sizes[] = {4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB, 256 * MiB, 1 * GiB};
                memcpy(cfg.handoff_sizes, sizes, sizeof(sizes));
                cfg.n_handoff_sizes = 6;
                cfg.read_size = 1 * GiB;
                cfg.mem_count = 100000;
                cfg.many_clients = 10000;
                cfg.slice_iters = 10000000;
                cfg.wake_iters = 20000;
                cfg.wake_rounds = 11;
                cfg.frames_fast = 600;
                cfg.frames_paced = 300;
        } else {
                cfg.lat_rounds = 4;
                cfg.lat_iters = 1000;
                cfg.load_seconds = 0.3;
                uint64_t sizes[] = {4 * KiB, 1 * MiB, 64 * MiB};
                memcpy(cfg.handoff_sizes, sizes, sizeof(sizes));
                cfg.n_handoff_sizes = 3;
                cfg.read_size = 64 * MiB;
                cfg.mem_count = 4000;
                cfg.many_clients = 1000;
                cfg.slice_iters = 1000000;
                cfg.wake_iters = 2000;
                cfg.wake_rounds = 3;
                cfg.frames_fast = 60;
                cfg.frames_paced = 50;
        }
        /* The 1,000 waiters in 100 processes, in both modes: it takes well under a
         * second. */
        cfg.wake_procs = 100;
        cfg.wake_threads = 10;
        unsigned counts[] = {1, 8, 64, 512};
        memcpy(cfg.load_counts, counts, sizeof(counts));
}

int main(int argc, char **argv)
{
        bool full = false;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--full") == 0) {
                        full = true;
                } else if (strcmp(argv[i], "--quick") == 0) {
                        full = false;
                } else if (strcmp(argv[i], "--daemon") == 0 && i + 1 < argc) {
                        cfg.daemon = argv[++i];
                } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
                        cfg.only = argv[++i];
                } else if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc) {
                        cfg.samples = argv[++i];
                } else if (strcmp(argv[i], "--help") == 0) {
                        usage(stdout);
                        return 0;
                } else {
                        usage(stderr);
                        return 2;
                }
        }
        if (!cfg.daemon) {
                usage(stderr);
                return 2;
        }
        configure(full);
        choose_cpus();
        if (shmv__pin_cpu(cfg.client_cpu) < 0)
                die("cannot pin to CPU %d: %m", cfg.client_cpu);
        signal(SIGPIPE, SIG_IGN);
        if (!mkdtemp(tmpdir))
                die("mkdtemp: %m");
        snprintf(sock_path, sizeof(sock_path), "%s/shmview.sock", tmpdir);

        char clients[16];
        snprintf(clients, sizeof(clients), "%u", cfg.many_clients + 600);
        const char *extra[] = {"--max-clients", clients, NULL};
        daemon_pid = daemon_start(sock_path, cfg.many_clients + 2048, extra);
        check(shmv_connect(sock_path, &producer), "connect");
        check(shmv_connect(sock_path, &consumer), "connect");
        describe_machine();
        busy_start = machine_busy_s();
        own_start = own_busy_s();
        wall_start = now_ns();

        if (wanted("latency"))
                fig_latency();
        if (wanted("load"))
                fig_load();
        if (wanted("create"))
                fig_create();
        if (wanted("handoff"))
                fig_handoff();
        if (wanted("read"))
                fig_read();
        if (wanted("slice"))
                fig_slice();
        if (wanted("clients"))
                fig_many_clients();
        if (wanted("memory"))
                fig_memory();
        if (wanted("waitset"))
                fig_waitset();
        if (wanted("notify")) {
                fig_notify_latency();
                fig_notify_cost();
        }
        if (wanted("wakeall"))
                fig_wake_all();
        if (wanted("frames"))
                fig_frames();

        shmv_disconnect(consumer);
        shmv_disconnect(producer);
        daemon_stop(daemon_pid);
        daemon_pid = -1;
        rmdir(tmpdir);
        print_others();
        printf("\n");
        print_table();
        return 0;
}

/* Load: many concurrent clients, each its own connection, each doing open / slice / read /
 * release cycles on shared segments against one shmviewd started for the run. Prints the
 * throughput against a baseline measured in the same run (one client alone doing the same
 * cycles), open latency percentiles, errors, and the daemon's descriptors and memory before,
 * after a warm-up round and after the main round. Exits 1 on any error, or when the daemon's
 * descriptors are not back at their start or its memory grew between the rounds.
 *
 *   shmview-load [--clients N] [--cycles M] [--daemon PATH]    (default 1000 x 1000)
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "shmview.h"

#ifndef SHMVIEWD_PATH
#define SHMVIEWD_PATH "shmviewd"
#endif

#define NSEGS 16
#define SEG_SIZE (1u << 20)
#define SLICE_LEN 256
/* Memory the daemon may gain between the rounds and still count as not growing: allocator
 * noise, not a leak (a leak per cycle would be megabytes here). */
#define RSS_SLACK (2u << 20)

static char dir[] = "/tmp/shmview-load-XXXXXX";
static char sock[108];
static pid_t daemon_pid;
static char seg_names[NSEGS][32];

static int daemon_fds(void)
{
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/fd", (int)daemon_pid);
        DIR *d = opendir(path);
        if (!d)
                return -1;
        int n = 0;
        for (struct dirent *e; (e = readdir(d));)
                if (e->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

static uint64_t daemon_rss(void)
{
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%d/status", (int)daemon_pid);
        FILE *f = fopen(path, "re");
        unsigned long long kb = 0;
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
                        break;
        if (f)
                fclose(f);
        return kb * 1024;
}

/* The daemon handles disconnects asynchronously: wait until its descriptors hold still at
 * want (or at anything, for want < 0). */
static int settle_fds(int want)
{
        int last = -1, same = 0;
        for (int i = 0; i < 1000; i++) {
                int n = daemon_fds();
                if (n == want)
                        return n;
                same = n == last ? same + 1 : 0;
                last = n;
                if (want < 0 && same >= 10)
                        return n;
                shmv__sleep_ms(10);
        }
        return last;
}

static void daemon_start(const char *path, unsigned clients)
{
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                exit(1);
        }
        snprintf(sock, sizeof(sock), "%s/s.sock", dir);
        char max_clients[16];
        snprintf(max_clients, sizeof(max_clients), "%u", clients + 16);
        daemon_pid = fork();
        if (daemon_pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGKILL);
                execl(path, "shmviewd", "--socket", sock, "--max-clients", max_clients,
                      "--max-clients-per-uid", max_clients, "--log-level", "warning", (char *)NULL);
                perror(path);
                _exit(127);
        }
        for (int i = 0; i < 500; i++) {
                shmv_client *c;
                if (shmv_connect(sock, &c) == 0) {
                        shmv_disconnect(c);
                        return;
                }
                shmv__sleep_ms(10);
        }
        fprintf(stderr, "shmview-load: %s did not start\n", path);
        exit(1);
}

static void daemon_stop(void)
{
        kill(daemon_pid, SIGTERM);
        waitpid(daemon_pid, NULL, 0);
        unlink(sock);
        rmdir(dir);
}

static uint8_t pattern(unsigned seg, size_t off)
{
        return (uint8_t)(off * 7 + seg);
}

/* Latency histogram in log2 buckets of nanoseconds. */
#define NBUCKETS 40

typedef struct worker {
        pthread_t thread;
        unsigned index;
        unsigned cycles;
        pthread_barrier_t *ready;
        pthread_barrier_t *go;
        uint64_t errors;
        uint64_t done;
        uint64_t hist[NBUCKETS];
        int first_error;
} worker;

static void record(worker *w, uint64_t ns)
{
        unsigned b = 0;
        while (b + 1 < NBUCKETS && ns >= (2ull << b))
                b++;
        w->hist[b]++;
}

static void fail(worker *w, int err)
{
        if (w->errors++ == 0)
                w->first_error = err;
}

static void *work(void *arg)
{
        worker *w = arg;
        shmv_client *c = NULL;
        int r = shmv_connect(sock, &c);
        if (r < 0)
                fail(w, r);
        pthread_barrier_wait(w->ready);
        pthread_barrier_wait(w->go);
        if (!c)
                return NULL;
        uint64_t seed = 0x9e3779b97f4a7c15ull * (w->index + 1);
        for (unsigned i = 0; i < w->cycles; i++) {
                seed = seed * 6364136223846793005ull + 1442695040888963407ull;
                unsigned seg = (unsigned)(seed >> 33) % NSEGS;
                size_t off = (size_t)(seed >> 40) % (SEG_SIZE - 4096);
                bool writable = i % 4 == 0;
                shmv_view *v = NULL, *s = NULL;
                uint64_t t0 = shmv__mono_nsec();
                r = shmv_view_open(c, seg_names[seg], off, 4096,
                                   SHMV_READ | (writable ? SHMV_WRITE : 0), &v);
                record(w, shmv__mono_nsec() - t0);
                if (r < 0) {
                        fail(w, r);
                        continue;
                }
                /* v[17:17+SLICE_LEN:3], read back and checked. */
                r = shmv_view_slice(v, 17, 17 + SLICE_LEN, 3, &s);
                if (r < 0) {
                        fail(w, r);
                } else {
                        uint8_t got[SLICE_LEN];
                        size_t n = shmv_view_len(s);
                        r = shmv_view_tobytes(s, got, sizeof(got));
                        for (size_t k = 0; r == 0 && k < n; k++)
                                if (got[k] != pattern(seg, off + 17 + 3 * k))
                                        r = -EIO;
                        if (r < 0)
                                fail(w, r);
                        shmv_view_release(s);
                }
                if (writable) {
                        /* Write back what is there: others read the same bytes. */
                        uint8_t b = pattern(seg, off);
                        if ((r = shmv_view_set(v, 0, &b)) < 0)
                                fail(w, r);
                }
                shmv_view_release(v);
                w->done++;
        }
        shmv_disconnect(c);
        return NULL;
}

typedef struct round_result {
        double seconds;
        uint64_t cycles;
        uint64_t errors;
        int first_error;
        uint64_t hist[NBUCKETS];
} round_result;

static round_result run_round(unsigned clients, unsigned cycles)
{
        worker *ws = calloc(clients, sizeof(*ws));
        pthread_barrier_t ready, go;
        pthread_barrier_init(&ready, NULL, clients + 1);
        pthread_barrier_init(&go, NULL, clients + 1);
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        for (unsigned i = 0; i < clients; i++) {
                ws[i] = (worker){.index = i, .cycles = cycles, .ready = &ready, .go = &go};
                if (pthread_create(&ws[i].thread, &attr, work, &ws[i]) != 0) {
                        fprintf(stderr, "shmview-load: pthread_create: %s\n", strerror(errno));
                        exit(1);
                }
        }
        pthread_barrier_wait(&ready); /* all connected */
        uint64_t t0 = shmv__mono_nsec();
        pthread_barrier_wait(&go);
        round_result rr = {0};
        for (unsigned i = 0; i < clients; i++) {
                pthread_join(ws[i].thread, NULL);
                rr.cycles += ws[i].done;
                if (ws[i].errors && !rr.errors)
                        rr.first_error = ws[i].first_error;
                rr.errors += ws[i].errors;
                for (int b = 0; b < NBUCKETS; b++)
                        rr.hist[b] += ws[i].hist[b];
        }
        rr.seconds = (double)(shmv__mono_nsec() - t0) / 1e9;
        pthread_attr_destroy(&attr);
        pthread_barrier_destroy(&ready);
        pthread_barrier_destroy(&go);
        free(ws);
        return rr;
}

/* Upper bound of the bucket holding the q-th quantile, in microseconds. */
static double quantile_us(const round_result *rr, double q)
{
        uint64_t total = 0, seen = 0;
        for (int b = 0; b < NBUCKETS; b++)
                total += rr->hist[b];
        for (int b = 0; b < NBUCKETS; b++) {
                seen += rr->hist[b];
                if (seen >= q * (double)total)
                        return (double)(2ull << b) / 1000.0;
        }
        return 0;
}

static void report(const char *what, unsigned clients, const round_result *rr)
{
        printf("%-10s %5u clients %9" PRIu64 " cycles %7.2f s %10.0f cycles/s  open p50 <%.0f us"
               "  p99 <%.0f us  errors %" PRIu64 "\n",
               what, clients, rr->cycles, rr->seconds, (double)rr->cycles / rr->seconds,
               quantile_us(rr, 0.5), quantile_us(rr, 0.99), rr->errors);
        if (rr->errors)
                printf("           first error: %s\n", shmv_strerror(rr->first_error));
}

int main(int argc, char **argv)
{
        unsigned clients = 1000, cycles = 1000;
        const char *daemon_path = SHMVIEWD_PATH;
        static const struct option options[] = {
                {"clients", required_argument, NULL, 'n'},
                {"cycles", required_argument, NULL, 'm'},
                {"daemon", required_argument, NULL, 'd'},
                {},
        };
        for (int opt; (opt = getopt_long(argc, argv, "", options, NULL)) != -1;) {
                if (opt == 'n')
                        clients = (unsigned)strtoul(optarg, NULL, 10);
                else if (opt == 'm')
                        cycles = (unsigned)strtoul(optarg, NULL, 10);
                else if (opt == 'd')
                        daemon_path = optarg;
                else
                        return 2;
        }
        if (clients == 0 || cycles == 0)
                return 2;
        signal(SIGPIPE, SIG_IGN);
        /* One descriptor per connection here, plus what a view holds while it opens. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
        }

        daemon_start(daemon_path, clients);
        shmv_client *owner;
        if (shmv_connect(sock, &owner) < 0)
                return 1;
        for (unsigned i = 0; i < NSEGS; i++) {
                snprintf(seg_names[i], sizeof(seg_names[i]), "load-%u", i);
                shmv_view *w;
                void *data;
                if (shmv_segment_create(owner, seg_names[i], SEG_SIZE, 0666) < 0 ||
                    shmv_view_open(owner, seg_names[i], 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE,
                                   &w) < 0 ||
                    shmv_view_data_mut(w, &data) < 0) {
                        fprintf(stderr, "shmview-load: cannot set up segment %u\n", i);
                        return 1;
                }
                uint8_t *p = data;
                for (size_t k = 0; k < SEG_SIZE; k++)
                        p[k] = pattern(i, k);
                shmv_view_release(w);
                /* The daemon opens a segment's read-only descriptor at its first read-only view
                 * and keeps it with the segment: open one now, so that the descriptors counted
                 * at the start are the segments' own. */
                shmv_view *r;
                if (shmv_view_open(owner, seg_names[i], 0, SHMV_TO_END, SHMV_READ, &r) < 0) {
                        fprintf(stderr, "shmview-load: cannot set up segment %u\n", i);
                        return 1;
                }
                shmv_view_release(r);
        }
        int fds_start = settle_fds(-1);
        uint64_t rss_start = daemon_rss();

        printf("shmview-load: %u clients x %u open/slice/read/release cycles, %d segments of "
               "%u KiB, views of 4 KiB (1 in 4 writable)\n",
               clients, cycles, NSEGS, SEG_SIZE / 1024);
        /* The baseline: one client alone, long enough to be measured well. */
        round_result base = run_round(1, cycles < 20000 ? 20000 : cycles);
        report("baseline", 1, &base);
        round_result warm = run_round(clients, cycles / 10 ? cycles / 10 : 1);
        report("warm-up", clients, &warm);
        int fds_warm = settle_fds(fds_start);
        uint64_t rss_warm = daemon_rss();
        round_result main_round = run_round(clients, cycles);
        report("load", clients, &main_round);
        int fds_end = settle_fds(fds_start);
        uint64_t rss_end = daemon_rss();

        double ratio = ((double)main_round.cycles / main_round.seconds) /
                       ((double)base.cycles / base.seconds);
        printf("throughput with %u clients: %.2fx that of one client alone\n", clients, ratio);
        printf("daemon descriptors: %d at start, %d after the warm-up, %d after the load\n",
               fds_start, fds_warm, fds_end);
        printf("daemon RSS: %.1f MiB at start, %.1f MiB after the warm-up, %.1f MiB after the "
               "load\n",
               rss_start / 1048576.0, rss_warm / 1048576.0, rss_end / 1048576.0);

        shmv_segment_info *all;
        size_t n;
        uint32_t views = 0;
        if (shmv_segment_list(owner, &all, &n) == 0) {
                for (size_t i = 0; i < n; i++)
                        views += all[i].views_ro + all[i].views_rw;
                shmv_segment_list_free(all);
        }
        printf("views still open: %" PRIu32 "\n", views);
        shmv_disconnect(owner);
        daemon_stop();

        uint64_t errors = base.errors + warm.errors + main_round.errors;
        bool ok = errors == 0 && fds_end == fds_start && fds_warm == fds_start && views == 0 &&
                  rss_end <= rss_warm + RSS_SLACK &&
                  main_round.cycles == (uint64_t)clients * cycles;
        printf("%s\n", ok ? "OK: no errors, descriptors back, memory flat"
                          : "FAILED: errors, or descriptors or memory not back");
        return ok ? 0 : 1;
}

/* The streaming example (examples/frames-producer.c, frames-consumer.c) against a real
 * daemon: the consumer, as uid 65534, sees every frame intact and in order, or counts it
 * missed; a consumer too slow for the ring sees its frames overwritten under it and says so
 * rather than taking them torn; a damaged frame is reported, not taken. */
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#include "../examples/frames.h"

typedef struct run {
        pid_t pid;
        int out; /* its stdout */
} run;

/* Starts path with argv, as uid (0: as we are), SHMVIEW_SOCKET set to the test daemon. */
static run start(const char *const *argv, uid_t uid)
{
        int p[2];
        CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
                if (uid)
                        th_become(uid, uid);
                setenv("SHMVIEW_SOCKET", th_socket_path(), 1);
                dup2(p[1], 1);
                execv(argv[0], (char *const *)(uintptr_t)argv);
                fprintf(stderr, "%s: %m\n", argv[0]);
                _exit(127);
        }
        close(p[1]);
        return (run){pid, p[0]};
}

/* Waits for r, keeps the last line of its stdout that starts with "frames: " in summary, and
 * returns its exit status (128 + signal when killed). */
static int finish(run r, char *summary, size_t len)
{
        char buf[8192];
        size_t n = 0;
        ssize_t k;
        while ((k = read(r.out, buf + n, sizeof(buf) - 1 - n)) > 0)
                n += (size_t)k;
        buf[n] = '\0';
        close(r.out);
        fputs(buf, stdout);
        fflush(stdout);
        if (summary) {
                summary[0] = '\0';
                for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                        if (strncmp(line, "frames: ", 8) == 0)
                                snprintf(summary, len, "%s", line);
        }
        int status;
        CHECK_EQ(waitpid(r.pid, &status, 0), r.pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

typedef struct summary {
        unsigned long long seen, missed, torn, bad, first, end, bytes, read_ns, read_cpu_ns;
        unsigned long long lat_p50_ns, lat_p99_ns, lat_max_ns;
} summary;

static summary parse(const char *line)
{
        summary s;
        int n = sscanf(line,
                       "frames: seen=%llu missed=%llu torn=%llu bad=%llu first=%llu end=%llu "
                       "bytes=%llu read_ns=%llu read_cpu_ns=%llu lat_p50_ns=%llu lat_p99_ns=%llu "
                       "lat_max_ns=%llu",
                       &s.seen, &s.missed, &s.torn, &s.bad, &s.first, &s.end, &s.bytes, &s.read_ns,
                       &s.read_cpu_ns, &s.lat_p50_ns, &s.lat_p99_ns, &s.lat_max_ns);
        if (n != 12)
                th_fail(__FILE__, __LINE__, "consumer's summary unreadable: '%s'", line);
        return s;
}

/* Producer and consumer (as uid) over segment name: the consumer's summary. */
static summary stream(const char *name, const char *frames, const char *size, const char *slots,
                      const char *rate, const char *hold_ms, uid_t uid)
{
        const char *prod[] = {FRAMES_PRODUCER,
                              "--name",
                              name,
                              "--frames",
                              frames,
                              "--frame-size",
                              size,
                              "--slots",
                              slots,
                              "--rate",
                              rate,
                              "--readers",
                              "1",
                              NULL};
        const char *cons[] = {FRAMES_CONSUMER, "--name",    name,    "--timeout",
                              "10000",         "--hold-ms", hold_ms, NULL};
        int64_t t0 = th_now_ms();
        run c = start(cons, uid);
        run p = start(prod, 0);
        char line[512];
        CHECK_EQ(finish(p, NULL, 0), 0);
        CHECK_EQ(finish(c, line, sizeof(line)), 0);
        th_note("producer and consumer took %lld ms", (long long)(th_now_ms() - t0));
        summary s = parse(line);
        /* Every frame is accounted for, from the first: the producer waited for the
         * consumer. */
        CHECK_EQ(s.first, 0);
        CHECK_EQ(s.end, strtoull(frames, NULL, 10));
        CHECK_EQ(s.seen + s.missed, s.end);
        CHECK_LE(s.torn, s.missed);
        CHECK_EQ(s.bad, 0);
        CHECK_EQ(s.bytes, s.seen * strtoull(size, NULL, 10));
        return s;
}

/* 8 MiB frames at 10 a second through 8 slots, read by uid 65534: a consumer that reads a
 * frame in a few milliseconds (tens under the sanitizers) keeps up, and all but a scheduling
 * hiccup's worth arrive (on a loaded machine a process may wait hundreds of milliseconds for a
 * CPU), most of them well within a second of their publication (a lost wake-up, found late,
 * would show there). */
static void test_frames_other_uid(void)
{
        if (geteuid() != 0)
                th_skip("needs root to run the consumer as uid 65534");
        const char *name = th_name("frames");
        summary s = stream(name, "24", "8388608", "8", "10", "0", 65534);
        CHECK_GE(s.seen, 12);
        CHECK_GT(s.read_ns, 0);
        CHECK_LT(s.lat_p50_ns, 500 * 1000000ull);
        shmv_client *c = th_connect();
        CHECK_RC(shmv_segment_stat(c, name, &(shmv_segment_info){0}), -ENOENT);
        shmv_disconnect(c);
}

/* A consumer that holds each frame 5 ms while the producer fills 2 slots as fast as it can:
 * frames are overwritten while read, which it sees (torn), and counts as missed. It still
 * gets the last ones, which nothing overwrites. */
static void test_frames_slow_consumer(void)
{
        summary s = stream(th_name("slow"), "300", "1048576", "2", "0", "5", 0);
        CHECK_GT(s.missed, 0);
        CHECK_GT(s.torn, 0);
        CHECK_GE(s.seen, 1);
        CHECK_LT(s.seen, 300);
}

/* Whether process pid is in the futex system call now (the first field of /proc/PID/syscall). */
static bool in_futex(pid_t pid)
{
        char path[64];
        long nr = -1;
        snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
        FILE *f = fopen(path, "re");
        if (f) {
                if (fscanf(f, "%ld", &nr) != 1)
                        nr = -1;
                fclose(f);
        }
        return nr == SYS_futex;
}

/* A frame whose bytes do not match its checksum is reported, not taken: the test plays a
 * broken producer. */
static void test_frames_damage_seen(void)
{
        const char *name = th_name("damaged");
        uint64_t frame_size = 64 * 1024;
        shmv_client *c = th_connect();
        shmv_view *w;
        CHECK_OK(
                shmv_segment_create_open(c, name, frames_segment_size(2, frame_size), 0644, 0, &w));
        void *data;
        CHECK_OK(shmv_view_data_mut(w, &data));
        char *base = data;
        struct frames_ring *ring = (struct frames_ring *)base;
        ring->version = FRAMES_VERSION;
        ring->slot_count = 2;
        ring->slot_size = frames_slot_size(frame_size);
        ring->frame_size = frame_size;
        atomic_store(&ring->magic, FRAMES_MAGIC);
        for (uint64_t n = 0; n < 2; n++) {
                struct frames_slot *s =
                        (struct frames_slot *)(base + frames_slot_offset(2, ring->slot_size, n));
                uint64_t *words = (uint64_t *)((char *)s + FRAMES_PAGE);
                atomic_store(&s->begin, n + 1);
                s->checksum = frames_fill(words, frame_size / 8, n);
                if (n == 1)
                        words[100] ^= 1; /* one bit of frame 1 */
                s->publish_ns = frames_now_ns();
                atomic_store(&s->done, n + 1);
        }
        /* The frames go out once the consumer has joined (at frame 0) and sleeps in its wait:
         * in the futex system call. */
        const char *cons[] = {FRAMES_CONSUMER, "--name", name, "--timeout", "10000", NULL};
        char line[512];
        run r = start(cons, 0);
        for (int i = 0; !in_futex(r.pid); i++) {
                CHECK_LT(i, 1000);
                th_sleep_ms(10);
        }
        atomic_store(&ring->head, 2);
        atomic_store(&ring->end, 1);
        CHECK_OK(shmv_view_notify(w));
        CHECK_EQ(finish(r, line, sizeof(line)), 1);
        summary s = parse(line);
        CHECK_EQ(s.first, 0);
        CHECK_EQ(s.seen, 1);
        CHECK_EQ(s.bad, 1);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static const th_test tests[] = {
        TH_TEST(test_frames_other_uid),
        TH_TEST(test_frames_slow_consumer),
        TH_TEST(test_frames_damage_seen),
};

int main(int argc, char **argv)
{
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), NULL);
}

/* The wait set's wake-up (bench/shmview-bench.c, figure "waitset"): a notify in one process
 * to a waiter in another that sleeps in epoll_wait() on a wait set's descriptor, against the
 * floor of the same through an eventfd the notifier writes, measured in the same run, rounds
 * of each in turn. Each sample is one wake-up: the notifier stamps the clock just before it
 * notifies (or writes the eventfd), the waiter reads it once epoll_wait() returned and the
 * event is taken. The notifier gives the waiter time to fall asleep first. */
#include "wake.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "baseline.h"

enum { MODE_FLOOR = 1, MODE_SET = 2, MODE_STOP = 3 };

typedef struct control {
        _Atomic uint32_t go; /* bumped by the waiter: one more wake-up, please */
        _Atomic uint32_t mode;
        _Atomic uint64_t stamp_ns;
        _Atomic uint32_t ready; /* the notifier is connected */
} control;

static uint64_t mono_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
        syscall(SYS_futex, w, FUTEX_WAIT, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
        syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static _Noreturn void notifier(control *ctl, const char *socket, const char *name, int evfd,
                               int cpu)
{
        (void)shmv__pin_cpu(cpu);
        shmv_client *c;
        shmv_view *w;
        if (shmv_connect(socket, &c) < 0 ||
            shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_WRITE, &w) < 0)
                _exit(1);
        atomic_store(&ctl->ready, 1);
        futex_wake(&ctl->ready);
        uint32_t seen = 0;
        for (;;) {
                uint32_t go;
                while ((go = atomic_load(&ctl->go)) == seen)
                        futex_wait(&ctl->go, seen);
                seen = go;
                uint32_t mode = atomic_load(&ctl->mode);
                if (mode == MODE_STOP)
                        break;
                /* Long enough for the waiter to be asleep in epoll_wait(). */
                uint64_t until = mono_ns() + 100000;
                while (mono_ns() < until)
                        ;
                atomic_store(&ctl->stamp_ns, mono_ns());
                if (mode == MODE_FLOOR) {
                        uint64_t one = 1;
                        if (write(evfd, &one, sizeof(one)) != sizeof(one))
                                _exit(1);
                } else if (shmv_view_notify(w) < 0) {
                        _exit(1);
                }
        }
        shmv_view_release(w);
        shmv_disconnect(c);
        _exit(0);
}

static int ask(control *ctl, uint32_t mode)
{
        atomic_store(&ctl->mode, mode);
        atomic_fetch_add(&ctl->go, 1);
        futex_wake(&ctl->go);
        return 0;
}

/* Waits for one readiness of ep. */
static int wait_ready(int ep)
{
        struct epoll_event e;
        int n;
        do
                n = epoll_wait(ep, &e, 1, 5000);
        while (n < 0 && errno == EINTR);
        return n == 1 ? 0 : -ETIMEDOUT;
}

int shmv__bench_wake(shmv_client *c, const char *socket, const char *name, int notifier_cpu,
                     unsigned rounds, unsigned iters, double *set_ns, double *floor_ns)
{
        int r = -EIO;
        control *ctl =
                mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (ctl == MAP_FAILED)
                return -errno;
        memset(ctl, 0, sizeof(*ctl));
        int evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        shmv_view *v = NULL;
        shmv_waitset *ws = NULL;
        int ep_set = -1, ep_floor = -1;
        pid_t pid = -1;
        if (evfd < 0 || shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &v) < 0 ||
            shmv_waitset_new(c, &ws) < 0)
                goto out;
        ep_set = epoll_create1(EPOLL_CLOEXEC);
        ep_floor = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN};
        if (ep_set < 0 || ep_floor < 0 ||
            epoll_ctl(ep_set, EPOLL_CTL_ADD, shmv_waitset_fd(ws), &ev) < 0 ||
            epoll_ctl(ep_floor, EPOLL_CTL_ADD, evfd, &ev) < 0)
                goto out;
        fflush(NULL);
        pid = fork();
        if (pid < 0)
                goto out;
        if (pid == 0)
                notifier(ctl, socket, name, evfd, notifier_cpu);
        while (!atomic_load(&ctl->ready))
                futex_wait(&ctl->ready, 0);
        uint64_t token = 0;
        for (unsigned round = 0; round < rounds; round++) {
                for (unsigned i = 0; i < iters; i++) {
                        /* The floor. */
                        ask(ctl, MODE_FLOOR);
                        if (wait_ready(ep_floor) < 0)
                                goto out;
                        uint64_t count;
                        if (read(evfd, &count, sizeof(count)) != sizeof(count))
                                goto out;
                        floor_ns[round * iters + i] =
                                (double)(mono_ns() - atomic_load(&ctl->stamp_ns));
                        /* The wait set. */
                        uint64_t g = shmv_view_generation(v);
                        if (shmv_waitset_add_generation(ws, v, g, -1, ++token) < 0)
                                goto out;
                        ask(ctl, MODE_SET);
                        if (wait_ready(ep_set) < 0)
                                goto out;
                        shmv_waitset_event e;
                        if (shmv_waitset_next(ws, &e) < 0 || e.token != token || e.status != 0)
                                goto out;
                        set_ns[round * iters + i] =
                                (double)(mono_ns() - atomic_load(&ctl->stamp_ns));
                }
        }
        r = 0;
out:
        if (pid > 0) {
                ask(ctl, MODE_STOP);
                int st;
                while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                        ;
                if (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
                        r = -EIO;
        }
        if (ep_set >= 0)
                close(ep_set);
        if (ep_floor >= 0)
                close(ep_floor);
        shmv_waitset_free(ws);
        shmv_view_release(v);
        if (evfd >= 0)
                close(evfd);
        munmap(ctl, sizeof(*ctl));
        return r;
}

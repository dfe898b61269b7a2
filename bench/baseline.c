/* Baseline peers for the bench: the socket floor and the copy peer. See baseline.h. */
#include "baseline.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The first payload byte tells the floor server what a frame is; the rest are zeros. */
#define KIND_OPEN 'O'
#define KIND_RELEASE 'R'
#define KIND_REPLY 'A'
/* Our frames are a few dozen bytes; this leaves room for several in one read. */
#define FRAME_MAX 512u
#define CONN_BUF 4096u

int shmv__pin_cpu(int cpu)
{
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

static int listen_on(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void)unlink(path);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int shmv__peer_connect(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        int r;
        do
                r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        while (r < 0 && errno == EINTR);
        if (r < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static int send_all(int sock, const void *buf, size_t len)
{
        const uint8_t *p = buf;
        while (len > 0) {
                ssize_t n = send(sock, p, len, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* A frame of payload length len whose first payload byte is kind, into buf. */
static size_t frame(uint8_t *buf, uint32_t len, char kind)
{
        memset(buf, 0, 4 + (size_t)len);
        buf[0] = (uint8_t)len;
        buf[1] = (uint8_t)(len >> 8);
        buf[2] = (uint8_t)(len >> 16);
        buf[3] = (uint8_t)(len >> 24);
        if (len > 0)
                buf[4] = (uint8_t)kind;
        return 4 + (size_t)len;
}

/* The reply, with the descriptor on its first byte, as shmviewd sends it. */
static int send_reply(int sock, const uint8_t *reply, size_t len, int fd)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } control;
        memset(&control, 0, sizeof(control));
        struct iovec iov = {.iov_base = (void *)(uintptr_t)reply, .iov_len = len};
        struct msghdr msg = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = control.buf,
                .msg_controllen = sizeof(control.buf),
        };
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
        ssize_t n;
        do
                n = sendmsg(sock, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if ((size_t)n < len)
                return send_all(sock, reply + n, len - (size_t)n);
        return 0;
}

/* Busy time the floor server spends on each open before it answers (0: none). */
static unsigned floor_work_ns;

static void busy_wait(unsigned ns)
{
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        do
                clock_gettime(CLOCK_MONOTONIC, &b);
        while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < (long)ns);
}

typedef struct floor_conn {
        int fd;
        size_t len;
        uint8_t buf[CONN_BUF];
} floor_conn;

/* Answers the complete frames in c's buffer. Returns -1 when the connection is to go. */
static int floor_frames(floor_conn *c, const uint8_t *reply, size_t reply_len, int memfd)
{
        size_t at = 0;
        while (c->len - at >= 4) {
                const uint8_t *p = c->buf + at;
                uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24;
                if (n > FRAME_MAX)
                        return -1;
                if (c->len - at - 4 < n)
                        break;
                if (n > 0 && p[4] == KIND_OPEN) {
                        if (floor_work_ns)
                                busy_wait(floor_work_ns);
                        if (send_reply(c->fd, reply, reply_len, memfd) < 0)
                                return -1;
                }
                at += 4 + n;
        }
        memmove(c->buf, c->buf + at, c->len - at);
        c->len -= at;
        return 0;
}

static void floor_one(int lfd, const uint8_t *reply, size_t reply_len, int memfd)
{
        floor_conn c = {.fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)};
        if (c.fd < 0)
                _exit(1);
        close(lfd);
        for (;;) {
                ssize_t n = recv(c.fd, c.buf + c.len, sizeof(c.buf) - c.len, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        _exit(0);
                c.len += (size_t)n;
                if (floor_frames(&c, reply, reply_len, memfd) < 0)
                        _exit(1);
        }
}

static void floor_many(int lfd, const uint8_t *reply, size_t reply_len, int memfd)
{
        int ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep < 0 || fcntl(lfd, F_SETFL, O_NONBLOCK) < 0)
                _exit(1);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
                _exit(1);
        struct epoll_event events[64];
        for (;;) {
                int n = epoll_wait(ep, events, 64, -1);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        _exit(1);
                for (int i = 0; i < n; i++) {
                        floor_conn *c = events[i].data.ptr;
                        if (!c) {
                                int fd;
                                while ((fd = accept4(lfd, NULL, NULL,
                                                     SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
                                        c = calloc(1, sizeof(*c));
                                        if (!c)
                                                _exit(1);
                                        c->fd = fd;
                                        struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
                                        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) < 0)
                                                _exit(1);
                                }
                                continue;
                        }
                        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
                        if (r < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        if (r > 0) {
                                c->len += (size_t)r;
                                if (floor_frames(c, reply, reply_len, memfd) == 0)
                                        continue;
                        }
                        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                        close(c->fd);
                        free(c);
                }
        }
}

/* Forks a peer pinned to cpu that dies with the bench. Returns 0 in the child. */
static pid_t fork_peer(int cpu)
{
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid != 0)
                return pid < 0 ? -errno : pid;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(1);
        (void)shmv__pin_cpu(cpu);
        return 0;
}

pid_t shmv__floor_start(const char *path, int cpu, int memfd, const shmv__floor_sizes *sizes,
                        bool multi, unsigned work_ns)
{
        if (sizes->open_request > FRAME_MAX || sizes->open_reply > FRAME_MAX ||
            sizes->release > FRAME_MAX)
                return -EMSGSIZE;
        int lfd = listen_on(path);
        if (lfd < 0)
                return lfd;
        if (multi) {
                /* As many connections as the bench may open. */
                struct rlimit rl;
                if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                        rl.rlim_cur = rl.rlim_max;
                        (void)setrlimit(RLIMIT_NOFILE, &rl);
                }
        }
        pid_t pid = fork_peer(cpu);
        if (pid != 0) {
                close(lfd);
                return pid;
        }
        floor_work_ns = work_ns;
        uint8_t reply[4 + FRAME_MAX];
        size_t reply_len = frame(reply, sizes->open_reply, KIND_REPLY);
        if (multi)
                floor_many(lfd, reply, reply_len, memfd);
        else
                floor_one(lfd, reply, reply_len, memfd);
        _exit(0);
}

pid_t shmv__copy_start(const char *path, int cpu, size_t size)
{
        int lfd = listen_on(path);
        if (lfd < 0)
                return lfd;
        pid_t pid = fork_peer(cpu);
        if (pid != 0) {
                close(lfd);
                return pid;
        }
        uint8_t *data = malloc(size);
        if (!data)
                _exit(1);
        memset(data, 0x5a, size);
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
                _exit(1);
        close(lfd);
        for (;;) {
                char b;
                ssize_t n = recv(c, &b, 1, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        _exit(0);
                if (send_all(c, data, size) < 0)
                        _exit(1);
        }
}

int shmv__floor_open(int sock, const shmv__floor_sizes *sizes, size_t map_len, void **ret)
{
        uint8_t req[4 + FRAME_MAX];
        int r = send_all(sock, req, frame(req, sizes->open_request, KIND_OPEN));
        if (r < 0)
                return r;

        uint8_t reply[4 + FRAME_MAX];
        size_t want = 4 + (size_t)sizes->open_reply, got = 0;
        int fd = -1;
        while (got < want) {
                union {
                        char buf[CMSG_SPACE(sizeof(int) * 4)];
                        struct cmsghdr align;
                } control;
                struct iovec iov = {.iov_base = reply + got, .iov_len = want - got};
                struct msghdr msg = {
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof(control.buf),
                };
                ssize_t n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n == 0 ? -ECONNRESET : -errno;
                        goto fail;
                }
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                            c->cmsg_len >= CMSG_LEN(sizeof(int)) && fd < 0)
                                memcpy(&fd, CMSG_DATA(c), sizeof(int));
                got += (size_t)n;
        }
        if (fd < 0) {
                r = -EPROTO;
                goto fail;
        }
        void *map = mmap(NULL, map_len, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
                r = -errno;
                goto fail;
        }
        close(fd);
        *ret = map;
        return 0;
fail:
        if (fd >= 0)
                close(fd);
        return r;
}

int shmv__floor_release(int sock, const shmv__floor_sizes *sizes, void *map, size_t map_len)
{
        munmap(map, map_len);
        uint8_t rel[4 + FRAME_MAX];
        return send_all(sock, rel, frame(rel, sizes->release, KIND_RELEASE));
}

int shmv__copy_fetch(int sock, void *dst, size_t size)
{
        int r = send_all(sock, "g", 1);
        if (r < 0)
                return r;
        uint8_t *p = dst;
        size_t got = 0;
        while (got < size) {
                ssize_t n = recv(sock, p + got, size - got, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n == 0 ? -ECONNRESET : -errno;
                got += (size_t)n;
        }
        return 0;
}

void shmv__peer_stop(pid_t pid)
{
        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

int shmv__futex_wait(_Atomic uint32_t *word, uint32_t seen, int timeout_ms)
{
        struct timespec deadline, left;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (deadline.tv_nsec >= 1000000000) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000;
        }
        while (atomic_load(word) == seen) {
                struct timespec *ts = NULL;
                if (timeout_ms >= 0) {
                        struct timespec now;
                        clock_gettime(CLOCK_MONOTONIC, &now);
                        left.tv_sec = deadline.tv_sec - now.tv_sec;
                        left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
                        if (left.tv_nsec < 0) {
                                left.tv_sec--;
                                left.tv_nsec += 1000000000;
                        }
                        if (left.tv_sec < 0)
                                return -ETIMEDOUT;
                        ts = &left;
                }
                if (syscall(SYS_futex, word, FUTEX_WAIT, seen, ts, NULL, 0) < 0 &&
                    errno != EAGAIN && errno != EINTR && errno != ETIMEDOUT)
                        return -errno;
        }
        return 0;
}

uint32_t shmv__futex_wake(_Atomic uint32_t *word)
{
        uint32_t v = atomic_fetch_add(word, 1) + 1;
        syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
        return v;
}

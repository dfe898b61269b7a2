/* libFuzzer target: bytes from a client into the daemon's frame decoder and request
 * dispatcher. The daemon code is the real one (server.c, dispatch.c, segment.c and the rest,
 * everything but main.c), serving a real socket on a real libuv loop with real memfds; each
 * input is one client connection that sends the input and then shuts down its side, while
 * the harness reads (and closes the descriptors of) whatever the daemon answers.
 *
 * Input layout: byte 0 holds flags, the rest is the byte stream the client sends.
 *   bit 0  send a valid hello frame first, so that the input reaches the requests behind it
 *   bit 1  connect as uid 65534 rather than root (when running as root), so that the
 *          permission checks refuse
 *   bit 2  split the stream into small writes, with the loop run between them
 *
 * Creates of CREATE_ASYNC_MIN bytes and more reserve their pages on libuv's threadpool, as
 * large ones do in shmviewd (the seeds' 8 KiB create does, their 1-byte ones do not), so the
 * inputs also reach a connection blocked behind a create, with frames waiting. While one is,
 * the loop is run until the threadpool's answer wakes it rather than turned without waiting.
 *
 * Segments of CREATE_ASYNC_MIN bytes and more are also freed there: their memfd is closed on
 * the threadpool when the last reference goes.
 *
 * After every input the harness checks that the connection was closed, waits for a create
 * still in progress and for the closes of freed segments, if any, checks that every
 * descriptor the daemon opened for it is closed again, and starts over with an empty
 * registry, so that an input means the same thing whatever ran before it. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "log.h"
#include "segment.h"
#include "server.h"
#include "wire.h"

#define FUZZ_NAME "fuzz-daemon"
#include "fuzz-common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_UID 65534
/* Loop turns an input may take before the connection must have been closed. */
#define MAX_TURNS 100000
/* The daemon's SHMV__CREATE_ASYNC_MIN, lowered so that creates within the small budget below
 * take the threadpool's path too. */
#define CREATE_ASYNC_MIN 8192u

static uv_loop_t loop;
static shmv__server server;
static shmv__registry_config registry_config = {
        .max_bytes = 1u << 20,
        .max_segments = 16,
        .max_bytes_per_uid = 1u << 19,
        .max_segments_per_uid = 8,
};
static char dir[] = "/tmp/shmview-fuzz-XXXXXX";
static uint8_t hello_frame[64];
static size_t hello_len;

/* Root's segments that every input finds: r600, r644, r666 and sealed (0644, sealed). */
static shmv__registry *fresh_registry(void)
{
        static const struct {
                const char *name;
                uint32_t mode;
        } segs[] = {{"r600", 0600}, {"r644", 0644}, {"r666", 0666}, {"sealed", 0644}};
        shmv__registry *r;
        if (shmv__registry_new(&registry_config, &r) < 0)
                die("shmv__registry_new");
        shmv__peer root = {.pid = getpid()};
        const char *why;
        for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
                if (shmv__segment_create(r, &root, segs[i].name, 4096, segs[i].mode, false, &why) <
                    0)
                        die(why);
        }
        if (shmv__segment_seal(r, &root, "sealed", &why) < 0)
                die("seal");
        /* As shmv__server_init() does for the first one. */
        shmv__registry_set_loop(r, &loop, CREATE_ASYNC_MIN);
        return r;
}

static void cleanup(void)
{
        shmv__server_stop(&server);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        shmv__registry_free(server.registry);
        rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        /* Every log line is formatted, since that is code under test too. They go to stderr,
         * which -close_fd_mask=2 sends to /dev/null while libFuzzer and the sanitizers keep
         * reporting on a copy (scripts/fuzz passes it). */
        shmv__log_set_level(SHMV__LOG_DEBUG);
        signal(SIGPIPE, SIG_IGN);
        if (!mkdtemp(dir))
                die("mkdtemp");
        chmod(dir, 0755); /* uid 65534 connects too */

        shmv__config cfg = {
                .socket_mode = 0666,
                .limits =
                        {
                                .max_bytes = registry_config.max_bytes,
                                .max_segments = registry_config.max_segments,
                                .max_clients = 4,
                                .max_views_per_client = 8,
                                .max_clients_per_uid = 2,
                                .max_bytes_per_uid = registry_config.max_bytes_per_uid,
                                .max_segments_per_uid = registry_config.max_segments_per_uid,
                                /* Below max_views_per_client, so that one connection of uid
                                 * 65534 reaches it. */
                                .max_views_per_uid = 6,
                                .max_frame = SHMV__MAX_FRAME,
                                .stall_timeout_ms = 0,
                        },
                .create_async_min = CREATE_ASYNC_MIN,
                .socket_group = (gid_t)-1,
                .listen_fd = -1,
        };
        snprintf(cfg.socket_path, sizeof(cfg.socket_path), "%s/s.sock", dir);

        if (uv_loop_init(&loop) < 0)
                die("uv_loop_init");
        if (shmv__server_init(&server, &loop, &cfg, fresh_registry()) < 0)
                die("shmv__server_init");
        atexit(cleanup);

        Shmview__Hello h = SHMVIEW__HELLO__INIT;
        h.protocol_version = SHMV__PROTOCOL_VERSION;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.id = 1;
        req.body_case = SHMVIEW__REQUEST__BODY_HELLO;
        req.hello = &h;
        uint8_t *buf;
        if (shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &buf, &hello_len) < 0 ||
            hello_len > sizeof(hello_frame))
                die("hello");
        memcpy(hello_frame, buf, hello_len);
        free(buf);
        return 0;
}

static int connect_as(bool nobody)
{
        bool switched = nobody && geteuid() == 0;
        if (switched && (setresgid((gid_t)-1, FUZZ_UID, (gid_t)-1) < 0 ||
                         setresuid((uid_t)-1, FUZZ_UID, (uid_t)-1) < 0))
                die("seteuid");
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", server.config.socket_path);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                die("connect");
        if (switched &&
            (setresuid((uid_t)-1, 0, (uid_t)-1) < 0 || setresgid((gid_t)-1, 0, (gid_t)-1) < 0))
                die("seteuid back");
        return fd;
}

/* Reads and drops what the daemon sent, closing any descriptor that came with it. Returns
 * false at end of stream. */
static bool drain(int fd)
{
        for (;;) {
                char buf[65536];
                union {
                        char buf[CMSG_SPACE(sizeof(int) * 8)];
                        struct cmsghdr align;
                } control;
                struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
                struct msghdr msg = {.msg_iov = &iov,
                                     .msg_iovlen = 1,
                                     .msg_control = control.buf,
                                     .msg_controllen = sizeof(control.buf)};
                ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
                if (n < 0)
                        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                                continue;
                        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        for (size_t i = 0; i < k; i++) {
                                int rfd;
                                memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                                close(rfd);
                        }
                }
                if (n == 0)
                        return false;
        }
}

/* One turn of the loop; while a create is in progress, one that waits for something to
 * happen (its end, at the latest), so that MAX_TURNS counts progress, not spinning. */
static void turn(int fd)
{
        uv_run(&loop, server.nblocked > 0 ? UV_RUN_ONCE : UV_RUN_NOWAIT);
        drain(fd);
}

/* Sends all of data, running the daemon's loop while the socket is full. */
static void send_all(int fd, const uint8_t *data, size_t size, size_t chunk)
{
        size_t turns = 0;
        while (size > 0) {
                size_t n = size < chunk ? size : chunk;
                ssize_t w = send(fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (w < 0) {
                        /* The daemon closed the connection: the rest is not read. */
                        if (errno == EPIPE || errno == ECONNRESET)
                                return;
                        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                                die("send");
                        w = 0;
                }
                data += w;
                size -= (size_t)w;
                if (w == 0) {
                        /* The daemon is not reading: it waits for something (its timer for
                         * replies held until their descriptors are taken backs off to a
                         * second), so wait with it rather than spin MAX_TURNS away first. */
                        drain(fd);
                        shmv__server_check_fds(&server);
                        uv_run(&loop, UV_RUN_ONCE);
                        drain(fd);
                } else if (chunk < 64) {
                        turn(fd);
                }
                if (++turns > MAX_TURNS) {
                        fprintf(stderr, "fuzz-daemon: the daemon stopped reading\n");
                        abort();
                }
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        uint8_t flags = data[0];
        data++;
        size--;

        int before = fd_count();
        int fd = connect_as(flags & 2);
        turn(fd); /* accept */
        if (flags & 1)
                send_all(fd, hello_frame, hello_len, hello_len);
        send_all(fd, data, size, flags & 4 ? 7 : 65536);
        shutdown(fd, SHUT_WR);

        /* The daemon answers what is complete and closes at end of stream. */
        int turns = 0;
        while (server.nconns + server.nrefused > 0) {
                turn(fd);
                if (++turns > MAX_TURNS) {
                        fprintf(stderr, "fuzz-daemon: connection not closed at end of stream\n");
                        abort();
                }
        }
        /* A connection closed with descriptors in flight lingers, its socket open, until the
         * stall timer finds them taken (up to a second later): look at every turn instead, so
         * that the end of stream comes as soon as they are read rather than the fuzzer spinning
         * for the timer. */
        while (drain(fd)) {
                shmv__server_check_fds(&server);
                uv_run(&loop, UV_RUN_NOWAIT);
        }
        close(fd);
        /* A connection closed with descriptors its peer had not read yet lingers until the
         * stall timer sees them taken: look now rather than wait for it. */
        shmv__server_check_fds(&server);
        if (server.nlingering > 0) {
                fprintf(stderr, "fuzz-daemon: connection still lingering after its peer went\n");
                abort();
        }
        uv_run(&loop, UV_RUN_NOWAIT); /* close callbacks */
        /* A create outlives its connection when the daemon closed that under it, and a close
         * job the segment it freed: both must end before the registry they update is freed
         * below, and the closes before the descriptors are counted. */
        for (turns = 0; server.nblocked > 0 || shmv__registry_closing(server.registry) > 0;
             turns++) {
                if (turns > MAX_TURNS) {
                        fprintf(stderr, "fuzz-daemon: a create or a close never ended\n");
                        abort();
                }
                uv_run(&loop, UV_RUN_ONCE);
        }

        /* A fresh registry: nothing references the old one once the connection is gone. */
        shmv__registry_free(server.registry);
        server.registry = fresh_registry();

        int after = fd_count();
        if (after != before) {
                fprintf(stderr, "fuzz-daemon: %d descriptors open after the input, %d before\n",
                        after, before);
                abort();
        }
        return 0;
}

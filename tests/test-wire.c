/* The wire layer over a socketpair(), without a daemon: framing, descriptor passing, limits. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "request.h"
#include "wire.h"

static void pair(int sv[2])
{
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
                perror("socketpair");
                exit(1);
        }
}

static Shmview__Request *make_open(Shmview__Request *req, Shmview__OpenRequest *o, const char *name)
{
        shmview__request__init(req);
        shmview__open_request__init(o);
        o->name.data = (uint8_t *)(uintptr_t)name;
        o->name.len = strlen(name);
        o->offset = 4096;
        o->length = 1 << 20;
        req->id = 42;
        req->body_case = SHMVIEW__REQUEST__BODY_OPEN;
        req->open = o;
        return req;
}

/* A frame goes through intact, and a descriptor sent with it arrives with it. */
static void test_roundtrip_with_fd(void)
{
        int sv[2], pipefd[2];
        pair(sv);
        CHECK_EQ(pipe2(pipefd, O_CLOEXEC), 0);
        Shmview__Request req;
        Shmview__OpenRequest o;
        make_open(&req, &o, "frames");
        uint8_t *buf;
        size_t len;
        CHECK_EQ(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &buf, &len), 0);
        CHECK_EQ(shmv__wire_send_all(sv[0], buf, len, pipefd[1]), 0);
        free(buf);

        shmv__wire_in in;
        CHECK_EQ(shmv__wire_in_init(&in, SHMV__MAX_FRAME, true), 0);
        CHECK_GT(shmv__wire_in_fill(&in, sv[1]), 0);
        const uint8_t *p;
        size_t n;
        CHECK_EQ(shmv__wire_in_frame(&in, &p, &n), 1);
        Shmview__Request *got = shmview__request__unpack(NULL, n, p);
        CHECK(got);
        CHECK_EQ(got->id, 42);
        CHECK_EQ(got->body_case, SHMVIEW__REQUEST__BODY_OPEN);
        CHECK_EQ(got->open->offset, 4096);
        CHECK_EQ(got->open->length, 1 << 20);
        CHECK_EQ(got->open->name.len, 6);
        CHECK_MEM(got->open->name.data, "frames", 6);
        shmview__request__free_unpacked(got, NULL);
        shmv__wire_in_consume(&in);
        int fd = shmv__wire_in_take_fd(&in);
        CHECK_GE(fd, 0);
        CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        CHECK_EQ(write(fd, "x", 1), 1); /* it is the pipe's write end */
        char c;
        CHECK_EQ(read(pipefd[0], &c, 1), 1);
        CHECK_EQ(c, 'x');
        CHECK_EQ(shmv__wire_in_take_fd(&in), -1);
        CHECK_EQ(shmv__wire_in_pending(&in), 0);
        close(fd);
        shmv__wire_in_free(&in);
        close(pipefd[0]);
        close(pipefd[1]);
        close(sv[0]);
        close(sv[1]);
}

/* A frame that arrives one byte at a time is only returned once whole; two frames sent in one
 * write come out as two. */
static void test_partial_and_batched(void)
{
        int sv[2];
        pair(sv);
        Shmview__Request req;
        Shmview__OpenRequest o;
        make_open(&req, &o, "a");
        uint8_t *buf;
        size_t len;
        CHECK_EQ(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &buf, &len), 0);
        shmv__wire_in in;
        CHECK_EQ(shmv__wire_in_init(&in, SHMV__MAX_FRAME, false), 0);
        const uint8_t *p;
        size_t n;
        for (size_t i = 0; i < len; i++) {
                CHECK_EQ(shmv__wire_in_frame(&in, &p, &n), 0);
                CHECK_EQ(shmv__wire_send_all(sv[0], buf + i, 1, -1), 0);
                CHECK_EQ(shmv__wire_in_fill(&in, sv[1]), 1);
        }
        CHECK_EQ(shmv__wire_in_frame(&in, &p, &n), 1);
        CHECK_EQ(n, len - SHMV__FRAME_HEADER);
        shmv__wire_in_consume(&in);

        uint8_t two[2 * 64];
        CHECK_LE(len, 64);
        memcpy(two, buf, len);
        memcpy(two + len, buf, len);
        CHECK_EQ(shmv__wire_send_all(sv[0], two, 2 * len, -1), 0);
        CHECK_EQ(shmv__wire_in_fill(&in, sv[1]), (ssize_t)(2 * len));
        CHECK_EQ(shmv__wire_in_frame(&in, &p, &n), 1);
        shmv__wire_in_consume(&in);
        CHECK_EQ(shmv__wire_in_frame(&in, &p, &n), 1);
        shmv__wire_in_consume(&in);
        CHECK_EQ(shmv__wire_in_frame(&in, &p, &n), 0);
        free(buf);
        shmv__wire_in_free(&in);
        close(sv[0]);
        close(sv[1]);
}

/* A large frame (bigger than the reader's initial buffer) is reassembled. */
static void test_large_frame(void)
{
        int sv[2];
        pair(sv);
        static char name[SHMV__MAX_FRAME / 2];
        memset(name, 'n', sizeof(name) - 1);
        Shmview__Request req;
        Shmview__OpenRequest o;
        make_open(&req, &o, name);
        uint8_t *buf;
        size_t len;
        CHECK_EQ(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &buf, &len), 0);
        shmv__wire_in in;
        CHECK_EQ(shmv__wire_in_init(&in, SHMV__MAX_FRAME, false), 0);
        size_t sent = 0;
        const uint8_t *p;
        size_t n;
        int r = 0;
        while (r == 0) {
                if (sent < len) {
                        size_t chunk = len - sent < 1000 ? len - sent : 1000;
                        CHECK_EQ(shmv__wire_send_all(sv[0], buf + sent, chunk, -1), 0);
                        sent += chunk;
                }
                CHECK_GT(shmv__wire_in_fill(&in, sv[1]), 0);
                r = shmv__wire_in_frame(&in, &p, &n);
        }
        CHECK_EQ(r, 1);
        CHECK_EQ(n, len - SHMV__FRAME_HEADER);
        CHECK_EQ(sent, len);
        Shmview__Request *got = shmview__request__unpack(NULL, n, p);
        CHECK(got);
        CHECK_EQ(got->open->name.len, sizeof(name) - 1);
        shmview__request__free_unpacked(got, NULL);
        free(buf);
        shmv__wire_in_free(&in);
        close(sv[0]);
        close(sv[1]);
}

/* A length prefix past the limit is refused before any of the payload is needed. */
static void test_oversized_prefix(void)
{
        int sv[2];
        pair(sv);
        uint8_t hdr[4] = {0xff, 0xff, 0xff, 0x7f};
        CHECK_EQ(shmv__wire_send_all(sv[0], hdr, 4, -1), 0);
        shmv__wire_in in;
        CHECK_EQ(shmv__wire_in_init(&in, SHMV__MAX_FRAME, false), 0);
        CHECK_EQ(shmv__wire_in_fill(&in, sv[1]), 4);
        const uint8_t *p;
        size_t n;
        CHECK_RC(shmv__wire_in_frame(&in, &p, &n), -EMSGSIZE);
        shmv__wire_in_free(&in);
        Shmview__Request req;
        Shmview__OpenRequest o;
        static char name[SHMV__MAX_FRAME + 1];
        memset(name, 'x', sizeof(name) - 1);
        make_open(&req, &o, name);
        uint8_t *buf = NULL;
        size_t len;
        CHECK_RC(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &buf, &len), -EMSGSIZE);
        close(sv[0]);
        close(sv[1]);
}

/* A reader that keeps no descriptors closes every one it receives, and one that does closes
 * what passes its queue. */
static void test_unwanted_fds_closed(void)
{
        int sv[2];
        pair(sv);
        int before = th_fd_count(0);
        for (int i = 0; i < 8; i++) {
                int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                CHECK_EQ(shmv__wire_send_all(sv[0], (const uint8_t *)"\0\0\0\0", 4, fd), 0);
                close(fd);
        }
        shmv__wire_in in;
        CHECK_EQ(shmv__wire_in_init(&in, SHMV__MAX_FRAME, false), 0);
        size_t got = 0;
        while (got < 32) {
                ssize_t n = shmv__wire_in_fill(&in, sv[1]);
                CHECK_GT(n, 0);
                got += (size_t)n;
        }
        CHECK_EQ(in.fds_dropped, 8);
        CHECK_EQ(in.nfds, 0);
        CHECK_EQ(th_fd_count(0), before);
        shmv__wire_in_free(&in);

        for (int i = 0; i < 8; i++) {
                int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                CHECK_EQ(shmv__wire_send_all(sv[0], (const uint8_t *)"\0\0\0\0", 4, fd), 0);
                close(fd);
        }
        CHECK_EQ(shmv__wire_in_init(&in, SHMV__MAX_FRAME, true), 0);
        got = 0;
        while (got < 32) {
                ssize_t n = shmv__wire_in_fill(&in, sv[1]);
                CHECK_GT(n, 0);
                got += (size_t)n;
        }
        CHECK_EQ(in.nfds, SHMV__WIRE_FD_QUEUE);
        CHECK_EQ(in.fds_dropped, 8 - SHMV__WIRE_FD_QUEUE);
        shmv__wire_in_free(&in);
        CHECK_EQ(th_fd_count(0), before);
        close(sv[0]);
        close(sv[1]);
}

/* The voluntary context switches of process pid so far, or -1. */
static long voluntary_switches(pid_t pid)
{
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
        FILE *f = fopen(path, "re");
        long n = -1;
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
                        break;
        fclose(f);
        return n;
}

/* A peek buffers the bytes and leaves them, and their descriptors, on the socket; the take
 * removes exactly those, with the descriptors. Only the take wakes a peer asleep in recvmsg()
 * on the other end, which is what shmviewd relies on to have the client awake for the reply. */
static void test_peek_take(void)
{
        int sv[2], pipefd[2];
        pair(sv);
        CHECK_EQ(pipe2(pipefd, O_CLOEXEC), 0);
        Shmview__Request req;
        Shmview__OpenRequest o;
        make_open(&req, &o, "peeked");
        uint8_t *buf;
        size_t len;
        CHECK_EQ(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &buf, &len), 0);
        CHECK_EQ(shmv__wire_send_all(sv[0], buf, len, pipefd[1]), 0);
        CHECK_EQ(shmv__wire_send_all(sv[0], buf, len, -1), 0);
        free(buf);

        /* The peer, asleep in recvmsg() for a reply that never comes. */
        pid_t child = fork();
        CHECK_GE(child, 0);
        if (child == 0) {
                char c;
                _exit(recv(sv[0], &c, 1, 0) == 1 ? 0 : 1);
        }
        usleep(100 * 1000);
        long asleep = voluntary_switches(child);
        CHECK_GT(asleep, 0);

        shmv__wire_in in;
        CHECK_EQ(shmv__wire_in_init(&in, SHMV__MAX_FRAME, true), 0);
        int queued = -1;
        /* A read stops after a message with descriptors: the first frame alone. */
        CHECK_EQ(shmv__wire_in_peek(&in, sv[1]), (ssize_t)len);
        CHECK_EQ(ioctl(sv[1], FIONREAD, &queued), 0);
        CHECK_EQ(queued, (int)(2 * len));
        CHECK_EQ(in.nfds, 0);
        CHECK_EQ(in.peeked, len);
        CHECK_RC(shmv__wire_in_peek(&in, sv[1]), -EBUSY);
        const uint8_t *p;
        size_t n;
        CHECK_EQ(shmv__wire_in_frame(&in, &p, &n), 1);
        CHECK_EQ(n, len - SHMV__FRAME_HEADER);
        shmv__wire_in_consume(&in);
        usleep(100 * 1000);
        CHECK_EQ(voluntary_switches(child), asleep);

        CHECK_EQ(shmv__wire_in_take(&in, sv[1]), 0);
        CHECK_EQ(ioctl(sv[1], FIONREAD, &queued), 0);
        CHECK_EQ(queued, (int)len);
        CHECK_EQ(in.peeked, 0);
        CHECK_EQ(in.nfds, 1);
        int fd = shmv__wire_in_take_fd(&in);
        CHECK_EQ(write(fd, "x", 1), 1); /* it is the pipe's write end */
        close(fd);
        usleep(100 * 1000);
        CHECK_GT(voluntary_switches(child), asleep);

        CHECK_EQ(shmv__wire_in_peek(&in, sv[1]), (ssize_t)len);
        CHECK_EQ(shmv__wire_in_take(&in, sv[1]), 0);
        CHECK_EQ(ioctl(sv[1], FIONREAD, &queued), 0);
        CHECK_EQ(queued, 0);
        CHECK_EQ(shmv__wire_in_frame(&in, &p, &n), 1);
        CHECK_EQ(n, len - SHMV__FRAME_HEADER);
        shmv__wire_in_consume(&in);
        CHECK_EQ(shmv__wire_in_pending(&in), 0);
        CHECK_EQ(in.nfds, 0);

        CHECK_EQ(send(sv[1], "r", 1, MSG_NOSIGNAL), 1);
        int status;
        CHECK_EQ(waitpid(child, &status, 0), child);
        CHECK(WIFEXITED(status));
        CHECK_EQ(WEXITSTATUS(status), 0);
        shmv__wire_in_free(&in);
        close(pipefd[0]);
        close(pipefd[1]);
        close(sv[0]);
        close(sv[1]);
}

/* A small frame of many repeated empty sub-messages would unpack into far more memory than
 * its size; the decode allocator refuses it. */
static void test_decode_limit(void)
{
        size_t count = SHMV__MAX_FRAME / 2;
        uint8_t *frame = malloc(count * 2);
        CHECK(frame);
        for (size_t i = 0; i < count; i++) {
                frame[2 * i] = (1 << 3) | 2; /* field 1 (segments), length-delimited */
                frame[2 * i + 1] = 0; /* empty SegmentInfo */
        }
        shmv__wire_arena arena;
        shmv__wire_arena_init(&arena, SHMV__DECODE_LIMIT);
        Shmview__ListReply *l = shmview__list_reply__unpack(&arena.allocator, count * 2, frame);
        CHECK_NULL(l);
        CHECK_EQ(arena.used, 0);
        /* The same thing, ten times smaller, decodes within the limit and gives back all. */
        l = shmview__list_reply__unpack(&arena.allocator, count / 10 * 2, frame);
        CHECK(l);
        CHECK_EQ(l->n_segments, count / 10);
        shmview__list_reply__free_unpacked(l, &arena.allocator);
        CHECK_EQ(arena.used, 0);
        free(frame);
}

/* An open request decodes inside the arena's own store; one too large for it goes to the
 * heap; either way everything is handed back. */
static void test_arena_store(void)
{
        Shmview__OpenRequest o = SHMVIEW__OPEN_REQUEST__INIT;
        o.name.data = (uint8_t *)"frames";
        o.name.len = 6;
        o.length = UINT64_MAX;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.id = 7;
        req.body_case = SHMVIEW__REQUEST__BODY_OPEN;
        req.open = &o;
        uint8_t buf[64];
        size_t n = shmview__request__pack(&req, buf);
        CHECK_LE(n, sizeof(buf));

        shmv__wire_arena arena;
        shmv__wire_arena_init(&arena, SHMV__DECODE_LIMIT);
        Shmview__Request *got = shmview__request__unpack(&arena.allocator, n, buf);
        CHECK(got);
        CHECK_EQ(got->body_case, SHMVIEW__REQUEST__BODY_OPEN);
        CHECK_EQ(got->open->name.len, 6);
        CHECK_MEM(got->open->name.data, "frames", 6);
        CHECK_EQ(got->open->length, UINT64_MAX);
        uintptr_t lo = (uintptr_t)arena.store, hi = lo + sizeof(arena.store);
        CHECK_GE((uintptr_t)got, lo);
        CHECK_LT((uintptr_t)got, hi);
        CHECK_GE((uintptr_t)got->open->name.data, lo);
        CHECK_LT((uintptr_t)got->open->name.data, hi);
        CHECK_GT(arena.used, 0);
        CHECK_GT(arena.store_used, 0);
        CHECK(!shmv__wire_arena_on_heap(&arena));
        shmview__request__free_unpacked(got, &arena.allocator);
        CHECK_EQ(arena.used, 0);

        /* A name longer than what is left of the store: from the heap. */
        uint8_t big[2 * SHMV__ARENA_INLINE];
        memset(big, 'x', sizeof(big));
        o.name.data = big;
        o.name.len = sizeof(big);
        uint8_t *frame = malloc(sizeof(big) + 64);
        CHECK(frame);
        n = shmview__request__pack(&req, frame);
        shmv__wire_arena_init(&arena, SHMV__DECODE_LIMIT);
        got = shmview__request__unpack(&arena.allocator, n, frame);
        CHECK(got);
        CHECK_EQ(got->open->name.len, sizeof(big));
        CHECK((uintptr_t)got->open->name.data < (uintptr_t)arena.store ||
              (uintptr_t)got->open->name.data >= (uintptr_t)arena.store + sizeof(arena.store));
        CHECK_MEM(got->open->name.data, big, sizeof(big));
        CHECK(shmv__wire_arena_on_heap(&arena));
        shmview__request__free_unpacked(got, &arena.allocator);
        CHECK_EQ(arena.used, 0);
        CHECK(!shmv__wire_arena_on_heap(&arena));
        free(frame);
}

/* Packing in two steps gives the same frame as shmv__wire_pack(), and the same limit. */
static void test_frame_in_place(void)
{
        Shmview__OpenReply o = SHMVIEW__OPEN_REPLY__INIT;
        o.view_id = 99;
        o.length = o.segment_size = 1 << 20;
        Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
        resp.id = 5;
        resp.body_case = SHMVIEW__RESPONSE__BODY_OPEN;
        resp.open = &o;
        uint8_t *packed;
        size_t len;
        CHECK_EQ(shmv__wire_pack(&resp.base, SHMV__MAX_FRAME, &packed, &len), 0);
        ssize_t size = shmv__wire_frame_size(&resp.base, SHMV__MAX_FRAME);
        CHECK_EQ(size, (ssize_t)len);
        CHECK_GT(len, SHMV__FRAME_HEADER);
        uint8_t buf[128];
        memset(buf, 0xee, sizeof(buf));
        shmv__wire_frame_write(&resp.base, (size_t)size, buf);
        CHECK_MEM(buf, packed, len);
        CHECK_EQ(buf[len], 0xee);
        CHECK_EQ(buf[0], len - SHMV__FRAME_HEADER);
        CHECK_EQ(buf[1], 0);
        CHECK_EQ(buf[2], 0);
        CHECK_EQ(buf[3], 0);
        free(packed);
        /* One byte of payload too many for max_frame. */
        CHECK_RC(shmv__wire_frame_size(&resp.base, (uint32_t)(len - SHMV__FRAME_HEADER - 1)),
                 -EMSGSIZE);
        CHECK_EQ(shmv__wire_frame_size(&resp.base, (uint32_t)(len - SHMV__FRAME_HEADER)),
                 (ssize_t)len);
}

static void test_names(void)
{
        char out[SHMV_NAME_MAX + 1];
        char longname[SHMV_NAME_MAX + 2];
        memset(longname, 'a', sizeof(longname));
        CHECK_EQ(shmv__name_check((const uint8_t *)"frames", 6, out), 0);
        CHECK_STR(out, "frames");
        CHECK_EQ(shmv__name_check((const uint8_t *)longname, SHMV_NAME_MAX, out), 0);
        CHECK_RC(shmv__name_check((const uint8_t *)longname, SHMV_NAME_MAX + 1, out), -EINVAL);
        CHECK_RC(shmv__name_check((const uint8_t *)"", 0, out), -EINVAL);
        CHECK_RC(shmv__name_check((const uint8_t *)"a/b", 3, out), -EINVAL);
        CHECK_RC(shmv__name_check((const uint8_t *)"a\0b", 3, out), -EINVAL);
        CHECK_RC(shmv__name_check((const uint8_t *)"a\nb", 3, out), -EINVAL);
        CHECK_RC(shmv__name_check((const uint8_t *)".", 1, out), -EINVAL);
        CHECK_RC(shmv__name_check((const uint8_t *)"..", 2, out), -EINVAL);
        CHECK_EQ(shmv__name_check((const uint8_t *)"...", 3, out), 0);
        CHECK_EQ(shmv__name_check((const uint8_t *)"caf\xc3\xa9", 5, out), 0);
}

static void test_socket_path_rule(void)
{
        char p[108];
        setenv("SHMVIEW_SOCKET", "/tmp/env.sock", 1);
        setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
        CHECK_EQ(shmv__socket_path("/tmp/arg.sock", p, sizeof(p)), 0);
        CHECK_STR(p, "/tmp/arg.sock");
        CHECK_EQ(shmv__socket_path(NULL, p, sizeof(p)), 0);
        CHECK_STR(p, "/tmp/env.sock");
        unsetenv("SHMVIEW_SOCKET");
        CHECK_EQ(shmv__socket_path(NULL, p, sizeof(p)), 0);
        if (geteuid() == 0)
                CHECK_STR(p, "/run/shmview/shmview.sock");
        else
                CHECK_STR(p, "/run/user/1000/shmview/shmview.sock");
        unsetenv("XDG_RUNTIME_DIR");
        CHECK_EQ(shmv__socket_path(NULL, p, sizeof(p)), 0);
        CHECK_STR(p, "/run/shmview/shmview.sock");
        char longpath[200];
        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[sizeof(longpath) - 1] = '\0';
        CHECK_RC(shmv__socket_path(longpath, p, sizeof(p)), -ENAMETOOLONG);
}

/* The request table (request.h) has a row for every request of the schema and nothing else,
 * and each row's reply is a body of the schema's Response: a request added to shmview.proto
 * without its row, or a row naming the wrong member, fails here. */
static void test_request_table(void)
{
        const ProtobufCMessageDescriptor *req = &shmview__request__descriptor;
        unsigned bodies = 0, rows = 0;
        for (unsigned i = 0; i < req->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &req->fields[i];
                if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
                        continue;
                bodies++;
                const shmv__request_spec *spec =
                        shmv__request_find((Shmview__Request__BodyCase)f->id);
                CHECK_PTR_NE(spec, NULL);
                CHECK_STR(spec->name, f->name);
                if (spec->reply != SHMVIEW__RESPONSE__BODY__NOT_SET)
                        CHECK_PTR_NE(protobuf_c_message_descriptor_get_field(
                                             &shmview__response__descriptor, spec->reply),
                                     NULL);
                /* A one-way request has no reply to carry a descriptor or a body. */
                if (spec->flags & SHMV__REQ_NO_REPLY)
                        CHECK_EQ(spec->reply | (spec->flags & SHMV__REQ_FD), 0);
        }
        for (unsigned body = 0; body < 64; body++)
                rows += shmv__request_find((Shmview__Request__BodyCase)body) != NULL;
        CHECK_EQ(rows, bodies);
        CHECK_PTR_EQ(shmv__request_find(SHMVIEW__REQUEST__BODY__NOT_SET), NULL);
}

int main(int argc, char **argv)
{
        static const th_test tests[] = {
                TH_TEST(test_roundtrip_with_fd),   TH_TEST(test_partial_and_batched),
                TH_TEST(test_large_frame),         TH_TEST(test_oversized_prefix),
                TH_TEST(test_unwanted_fds_closed), TH_TEST(test_peek_take),
                TH_TEST(test_decode_limit),        TH_TEST(test_arena_store),
                TH_TEST(test_frame_in_place),      TH_TEST(test_names),
                TH_TEST(test_socket_path_rule),    TH_TEST(test_request_table),
        };
        return th_main_no_daemon(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}

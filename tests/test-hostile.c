/* Hostile input against a running daemon, sent raw (tests/raw.c), bypassing every check the
 * library makes: broken framing, malformed and out-of-range requests, bad names, descriptors
 * nobody asked for, stalled and flooding clients, a thousand connections at once, decode
 * bombs. After each, another client must still be served, and the harness checks that the
 * daemon's descriptors are back at their baseline.
 *
 * And the other way round: a hostile daemon (whatever listens on the socket path) against the
 * library, with the replies tests/fuzz/fuzz-client.c found the library trusting. */
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "raw.h"

#define RW (SHMV_READ | SHMV_WRITE)
/* The test daemon's --stall-timeout, in milliseconds. */
#define STALL_MS 1000

/* Another client gets the whole service: create, open both ways, write, read, unlink. */
static void still_serves(void)
{
        shmv_client *c = th_connect();
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("alive"));
        CHECK_OK(shmv_segment_create(c, name, 4096, 0644));
        shmv_view *w = NULL, *r = NULL;
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, RW, &w));
        CHECK_OK(shmv_view_open(c, name, 0, SHMV_TO_END, SHMV_READ, &r));
        memcpy(th_data_mut(w), "alive", 5);
        CHECK_MEM(shmv_view_data(r), "alive", 5);
        shmv_view_release(r);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* VmRSS of the daemon, in bytes. */
static uint64_t daemon_rss(void)
{
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%d/status", (int)th_daemon_pid());
        FILE *f = fopen(path, "re");
        CHECK(f != NULL);
        unsigned long long kb = 0;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
                        break;
        fclose(f);
        CHECK_GT(kb, 0);
        return kb * 1024;
}

static void expect_status(th_raw *r, uint64_t id, int status)
{
        Shmview__Response *resp = th_raw_recv(r, NULL);
        if (!resp)
                th_fail(__FILE__, __LINE__, "connection closed, wanted status %d", status);
        if (resp->id != id || resp->status != status)
                th_fail(__FILE__, __LINE__, "reply id %llu status %d, wanted id %llu status %d",
                        (unsigned long long)resp->id, resp->status, (unsigned long long)id, status);
        shmview__response__free_unpacked(resp, NULL);
}

static void hello_request(Shmview__Request *req, Shmview__Hello *h, uint32_t version)
{
        shmview__hello__init(h);
        h->protocol_version = version;
        shmview__request__init(req);
        req->body_case = SHMVIEW__REQUEST__BODY_HELLO;
        req->hello = h;
}

/* Frames cut short at every point: the daemon drops the connection and nothing else. */
static void test_truncated_frames(void)
{
        static const uint8_t frame[] = {0x10, 0x00, 0x00, 0x00, 0x08, 0x01, 0x52, 0x02, 0x08, 0x01};
        for (size_t cut = 1; cut < sizeof(frame) + 4; cut++) {
                th_raw r;
                if (cut % 2)
                        th_raw_connect(&r);
                else
                        th_raw_connect_hello(&r);
                th_raw_send_bytes(&r, frame, cut < sizeof(frame) ? cut : sizeof(frame));
                shutdown(r.fd, SHUT_WR);
                CHECK(th_raw_wait_closed(&r, TH_RAW_TIMEOUT_MS));
                th_raw_close(&r);
        }
        still_serves();
}

/* A length prefix over max_frame ends the connection at once, whatever follows. */
static void test_oversized_prefix(void)
{
        static const uint8_t prefixes[][4] = {{0x01, 0x00, 0x02, 0x00}, /* max_frame + 1 */
                                              {0xff, 0xff, 0xff, 0xff},
                                              {0x00, 0x00, 0x00, 0x80}};
        for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
                th_raw r;
                th_raw_connect_hello(&r);
                th_raw_send_bytes(&r, prefixes[i], 4);
                /* May find the connection closed already. */
                (void)!send(r.fd, "more bytes that are never read", 30, MSG_NOSIGNAL);
                CHECK(th_raw_wait_closed(&r, TH_RAW_TIMEOUT_MS));
                th_raw_close(&r);
        }
        still_serves();
}

/* Bytes that are not a Request behind a valid prefix: EINVAL, then the connection ends. */
static void test_garbage(void)
{
        static const uint8_t garbage[][8] = {
                {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, /* a varint that never ends */
                {0x0a, 0x7f, 0x00}, /* a field longer than the frame */
                {0x07}, /* wire type 7 */
                {0x00, 0x00}, /* field 0 */
        };
        static const size_t lens[] = {8, 3, 1, 2};
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
                th_raw r;
                th_raw_connect_hello(&r);
                th_raw_send_payload(&r, garbage[i], lens[i]);
                expect_status(&r, 0, EINVAL);
                CHECK(th_raw_wait_closed(&r, TH_RAW_TIMEOUT_MS));
                th_raw_close(&r);
        }
        still_serves();
}

/* Well-formed protobuf the daemon does not expect: an unknown body (EOPNOTSUPP, the connection
 * goes on), no body, a request before hello or a wrong version (EPROTO, closed). */
static void test_unknown_and_unexpected(void)
{
        th_raw r;
        th_raw_connect_hello(&r);
        /* Request{id: 7, field 99: "zz"} */
        static const uint8_t unknown[] = {0x08, 0x07, 0x9a, 0x06, 0x02, 'z', 'z'};
        th_raw_send_payload(&r, unknown, sizeof(unknown));
        expect_status(&r, 7, EOPNOTSUPP);
        /* Request{id: 8}, no body at all. */
        static const uint8_t empty[] = {0x08, 0x08};
        th_raw_send_payload(&r, empty, sizeof(empty));
        expect_status(&r, 8, EOPNOTSUPP);
        th_raw_send_payload(&r, "", 0);
        expect_status(&r, 0, EOPNOTSUPP);
        CHECK_RC(th_raw_named(&r, SHMVIEW__REQUEST__BODY_STAT, "nothing", 7), -ENOENT);
        th_raw_close(&r);

        /* No hello first. */
        th_raw_connect(&r);
        th_raw_send_payload(&r, unknown, sizeof(unknown));
        expect_status(&r, 7, EPROTO);
        CHECK(th_raw_wait_closed(&r, TH_RAW_TIMEOUT_MS));
        th_raw_close(&r);
        th_raw_connect(&r);
        uint64_t id = 0;
        {
                Shmview__NameRequest nr = SHMVIEW__NAME_REQUEST__INIT;
                nr.name.data = (uint8_t *)"x";
                nr.name.len = 1;
                Shmview__Request req = SHMVIEW__REQUEST__INIT;
                req.body_case = SHMVIEW__REQUEST__BODY_STAT;
                req.stat = &nr;
                id = th_raw_send(&r, &req);
        }
        expect_status(&r, id, EPROTO);
        CHECK(th_raw_wait_closed(&r, TH_RAW_TIMEOUT_MS));
        th_raw_close(&r);

        /* Versions 0, 2 and UINT32_MAX. */
        static const uint32_t versions[] = {0, 2, UINT32_MAX};
        for (size_t i = 0; i < 3; i++) {
                th_raw_connect(&r);
                Shmview__Request req;
                Shmview__Hello h;
                hello_request(&req, &h, versions[i]);
                id = th_raw_send(&r, &req);
                expect_status(&r, id, EPROTO);
                CHECK(th_raw_wait_closed(&r, TH_RAW_TIMEOUT_MS));
                th_raw_close(&r);
        }
        /* A second hello is answered again. */
        th_raw_connect_hello(&r);
        Shmview__Request req;
        Shmview__Hello h;
        hello_request(&req, &h, SHMV__PROTOCOL_VERSION);
        CHECK_OK(th_raw_call(&r, &req, NULL, NULL));
        th_raw_close(&r);
        still_serves();
}

/* Bodies with fields left out: each is a clear EINVAL, or a default that makes sense. */
static void test_missing_fields(void)
{
        th_raw r;
        th_raw_connect_hello(&r);
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("fields"));
        CHECK_OK(th_raw_create(&r, name, strlen(name), 4096, 0));

        Shmview__CreateRequest cr = SHMVIEW__CREATE_REQUEST__INIT;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_CREATE;
        req.create = &cr;
        CHECK_RC(th_raw_call(&r, &req, NULL, NULL), -EINVAL); /* no name */
        cr.name.data = (uint8_t *)"nosize";
        cr.name.len = 6;
        CHECK_RC(th_raw_call(&r, &req, NULL, NULL), -EINVAL); /* no size */

        Shmview__OpenRequest o = SHMVIEW__OPEN_REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_OPEN;
        req.open = &o;
        CHECK_RC(th_raw_call(&r, &req, NULL, NULL), -EINVAL); /* no name */
        /* Only a name: offset 0, length 0, read-only: an empty view, with its descriptor. */
        o.name.data = (uint8_t *)name;
        o.name.len = strlen(name);
        Shmview__Response *resp;
        int fd = -1;
        CHECK_OK(th_raw_call(&r, &req, &resp, &fd));
        CHECK_GE(fd, 0);
        CHECK_EQ(resp->open->length, 0);
        CHECK(!resp->open->writable);
        uint64_t vid = resp->open->view_id;
        shmview__response__free_unpacked(resp, NULL);
        close(fd);

        /* release without a view id, and of ids never given: no reply, nothing released. */
        Shmview__ReleaseRequest rel = SHMVIEW__RELEASE_REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_RELEASE;
        req.release = &rel;
        th_raw_send(&r, &req);
        th_raw_release(&r, vid + 1000);
        th_raw_release(&r, UINT64_MAX);
        shmv_client *c = th_connect();
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_EQ(info.views_ro, 1);
        th_raw_release(&r, vid);
        CHECK_RC(th_raw_named(&r, SHMVIEW__REQUEST__BODY_STAT, "", 0), -EINVAL);
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_EQ(info.views_ro, 0);

        /* list without after; unlink, seal, stat without a name. */
        Shmview__ListRequest lr = SHMVIEW__LIST_REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_LIST;
        req.list = &lr;
        CHECK_OK(th_raw_call(&r, &req, NULL, NULL));
        Shmview__NameRequest nr = SHMVIEW__NAME_REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_UNLINK;
        req.unlink = &nr;
        CHECK_RC(th_raw_call(&r, &req, NULL, NULL), -EINVAL);
        req.body_case = SHMVIEW__REQUEST__BODY_SEAL;
        req.seal = &nr;
        CHECK_RC(th_raw_call(&r, &req, NULL, NULL), -EINVAL);
        CHECK_OK(th_raw_named(&r, SHMVIEW__REQUEST__BODY_UNLINK, name, strlen(name)));
        shmv_disconnect(c);
        th_raw_close(&r);
        still_serves();
}

/* Values out of range: modes, sizes, ranges, offset + length past 64 bits, huge ids. */
static void test_out_of_range(void)
{
        th_raw r;
        th_raw_connect_hello(&r);
        char name[64];
        snprintf(name, sizeof(name), "%s", th_name("range"));
        CHECK_RC(th_raw_create(&r, name, strlen(name), 4096, 010000), -EINVAL);
        CHECK_RC(th_raw_create(&r, name, strlen(name), 4096, UINT32_MAX), -EINVAL);
        CHECK_RC(th_raw_create(&r, name, strlen(name), UINT64_MAX, 0), -ENOSPC);
        CHECK_RC(th_raw_create(&r, name, strlen(name), UINT64_MAX - 4095, 0), -ENOSPC);
        CHECK_RC(th_raw_create(&r, name, strlen(name), (uint64_t)1 << 62, 0), -ENOSPC);
        CHECK_RC(th_raw_create(&r, name, strlen(name), 0, 0), -EINVAL);
        CHECK_OK(th_raw_create(&r, name, strlen(name), 4096, 07777));
        CHECK_RC(th_raw_create(&r, name, strlen(name), 4096, 0), -EEXIST);

        size_t n = strlen(name);
        /* offset + length past 2^64. */
        CHECK_RC(th_raw_open(&r, name, n, UINT64_MAX, 1, false, NULL, NULL), -EOVERFLOW);
        CHECK_RC(th_raw_open(&r, name, n, UINT64_MAX - 1, 2, false, NULL, NULL), -EOVERFLOW);
        CHECK_RC(th_raw_open(&r, name, n, 2, UINT64_MAX - 1, false, NULL, NULL), -EOVERFLOW);
        CHECK_RC(th_raw_open(&r, name, n, (uint64_t)1 << 63, (uint64_t)1 << 63, true, NULL, NULL),
                 -EOVERFLOW);
        /* Within 64 bits but past the segment. */
        CHECK_RC(th_raw_open(&r, name, n, 1, UINT64_MAX - 1, false, NULL, NULL), -EINVAL);
        CHECK_RC(th_raw_open(&r, name, n, UINT64_MAX, UINT64_MAX, false, NULL, NULL), -EINVAL);
        CHECK_RC(th_raw_open(&r, name, n, 4097, UINT64_MAX, false, NULL, NULL), -EINVAL);
        CHECK_RC(th_raw_open(&r, name, n, 4096, 1, false, NULL, NULL), -EINVAL);
        CHECK_RC(th_raw_open(&r, name, n, 0, 4097, false, NULL, NULL), -EINVAL);
        CHECK_OK(th_raw_open(&r, name, n, 4096, UINT64_MAX, false, NULL, NULL));
        CHECK_OK(th_raw_open(&r, name, n, 4095, 1, true, NULL, NULL));

        /* Any id is echoed, the largest too. */
        Shmview__NameRequest nr = SHMVIEW__NAME_REQUEST__INIT;
        nr.name.data = (uint8_t *)name;
        nr.name.len = n;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_STAT;
        req.stat = &nr;
        req.id = UINT64_MAX;
        uint8_t *buf;
        size_t len;
        CHECK_EQ(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &buf, &len), 0);
        th_raw_send_bytes(&r, buf, len);
        free(buf);
        expect_status(&r, UINT64_MAX, 0);

        /* A list cursor of 100000 bytes is cut, not refused. */
        static uint8_t after[100000];
        memset(after, 0xff, sizeof(after));
        Shmview__ListRequest lr = SHMVIEW__LIST_REQUEST__INIT;
        lr.after.data = after;
        lr.after.len = sizeof(after);
        req.body_case = SHMVIEW__REQUEST__BODY_LIST;
        req.list = &lr;
        Shmview__Response *resp;
        CHECK_OK(th_raw_call(&r, &req, &resp, NULL));
        CHECK_EQ(resp->list->n_segments, 0);
        CHECK(!resp->list->more);
        shmview__response__free_unpacked(resp, NULL);
        /* A client name of 100000 bytes in a second hello. */
        Shmview__Hello h;
        hello_request(&req, &h, SHMV__PROTOCOL_VERSION);
        h.client_name.data = after;
        h.client_name.len = sizeof(after);
        CHECK_OK(th_raw_call(&r, &req, NULL, NULL));

        CHECK_OK(th_raw_named(&r, SHMVIEW__REQUEST__BODY_UNLINK, name, n));
        th_raw_close(&r);
        still_serves();
}

/* Names the library would refuse, sent anyway: EINVAL for every request that takes one. */
static void test_bad_names(void)
{
        static char long_name[300];
        memset(long_name, 'a', sizeof(long_name));
        static const struct {
                const char *name;
                size_t len;
        } bad[] = {
                {"", 0},     {long_name, 256}, {long_name, 300}, {"a/b", 3},   {"/", 1},
                {"a\0b", 3}, {"\0", 1},        {"tab\t", 4},     {"\x01x", 2}, {"del\x7f", 4},
                {".", 1},    {"..", 2},        {"new\nline", 8},
        };
        static const Shmview__Request__BodyCase named[] = {SHMVIEW__REQUEST__BODY_STAT,
                                                           SHMVIEW__REQUEST__BODY_UNLINK,
                                                           SHMVIEW__REQUEST__BODY_SEAL};
        th_raw r;
        th_raw_connect_hello(&r);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                CHECK_RC(th_raw_create(&r, bad[i].name, bad[i].len, 4096, 0), -EINVAL);
                CHECK_RC(th_raw_open(&r, bad[i].name, bad[i].len, 0, UINT64_MAX, false, NULL, NULL),
                         -EINVAL);
                for (size_t k = 0; k < 3; k++)
                        CHECK_RC(th_raw_named(&r, named[k], bad[i].name, bad[i].len), -EINVAL);
        }
        /* 255 bytes, and bytes from 0x80 up, are fine. */
        char name[256];
        snprintf(name, sizeof(name), "%s", th_name("\xc3\xa9t\xc3\xa9"));
        size_t n = strlen(name);
        memset(name + n, 'z', 255 - n);
        CHECK_OK(th_raw_create(&r, name, 255, 4096, 0));
        CHECK_OK(th_raw_named(&r, SHMVIEW__REQUEST__BODY_UNLINK, name, 255));
        th_raw_close(&r);
        still_serves();
}

/* True once every copy of the pipe's write end is closed. */
static bool write_end_closed(int read_end, int timeout_ms)
{
        struct pollfd p = {.fd = read_end, .events = POLLIN};
        return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLHUP);
}

/* Descriptors sent to the daemon are closed unread, however many, with whatever frame. */
static void test_unwanted_fds(void)
{
        static const size_t counts[] = {1, 3, 16, 60};
        for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
                int p[2];
                CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
                int fds[64];
                for (size_t k = 0; k < counts[i]; k++)
                        fds[k] = p[1];
                th_raw r;
                th_raw_connect(&r);
                Shmview__Request req;
                Shmview__Hello h;
                hello_request(&req, &h, SHMV__PROTOCOL_VERSION);
                req.id = 1;
                uint8_t *buf;
                size_t len;
                CHECK_EQ(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &buf, &len), 0);
                /* With the hello, then in the middle of a frame. */
                th_raw_send_with_fds(&r, buf, len, fds, counts[i]);
                expect_status(&r, 1, 0);
                th_raw_send_with_fds(&r, buf, 2, fds, counts[i]);
                th_raw_send_with_fds(&r, buf + 2, len - 2, fds, counts[i]);
                expect_status(&r, 1, 0);
                free(buf);
                close(p[1]);
                CHECK(write_end_closed(p[0], TH_RAW_TIMEOUT_MS));
                close(p[0]);
                th_raw_close(&r);
        }
        still_serves();
}

/* A client that sends half a frame and stalls holds up nobody; its frame is answered when
 * the rest comes. */
static void test_half_frame_stall(void)
{
        th_raw slow;
        th_raw_connect_hello(&slow);
        Shmview__NameRequest nr = SHMVIEW__NAME_REQUEST__INIT;
        nr.name.data = (uint8_t *)"nothing-here";
        nr.name.len = 12;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.id = 42;
        req.body_case = SHMVIEW__REQUEST__BODY_STAT;
        req.stat = &nr;
        uint8_t *buf;
        size_t len;
        CHECK_EQ(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &buf, &len), 0);
        th_raw_send_bytes(&slow, buf, 2); /* half a length prefix */
        still_serves();
        th_raw_send_bytes(&slow, buf + 2, len / 2);
        /* Many stalled clients, each with part of a frame. */
        th_raw many[50];
        for (int i = 0; i < 50; i++) {
                th_raw_connect_hello(&many[i]);
                th_raw_send_bytes(&many[i], buf, 1 + (size_t)i % (len - 1));
        }
        for (int i = 0; i < 10; i++)
                still_serves();
        th_raw_send_bytes(&slow, buf + 2 + len / 2, len - 2 - len / 2);
        expect_status(&slow, 42, ENOENT);
        for (int i = 0; i < 50; i++)
                th_raw_close(&many[i]);
        th_raw_close(&slow);
        free(buf);
}

/* Sends until the socket has stayed full for idle_ms; returns the bytes sent, or stops early
 * (setting *ret_closed) when the daemon closes the connection. */
static size_t flood(th_raw *r, const uint8_t *chunk, size_t chunk_len, int idle_ms,
                    bool *ret_closed)
{
        size_t sent = 0;
        *ret_closed = false;
        for (;;) {
                ssize_t n = send(r->fd, chunk, chunk_len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0) {
                        sent += (size_t)n;
                        continue;
                }
                if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
                        *ret_closed = true;
                        return sent;
                }
                CHECK_LT(n, 0);
                CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
                struct pollfd p = {.fd = r->fd, .events = POLLOUT};
                if (poll(&p, 1, idle_ms) == 0)
                        return sent;
                if (p.revents & (POLLHUP | POLLERR)) {
                        *ret_closed = true;
                        return sent;
                }
        }
}

/* A client that floods requests and never reads: the daemon stops reading it once its replies
 * back up (its memory stays flat), serves others meanwhile, and disconnects it when they have
 * not drained for stall_timeout_ms. */
static void test_flood_never_reads(void)
{
        uint64_t rss_before = daemon_rss();
        th_raw r;
        th_raw_connect_hello(&r);
        /* 64 KiB of pipelined stat requests. */
        Shmview__NameRequest nr = SHMVIEW__NAME_REQUEST__INIT;
        nr.name.data = (uint8_t *)"flood";
        nr.name.len = 5;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_STAT;
        req.stat = &nr;
        uint8_t *one;
        size_t one_len;
        CHECK_EQ(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &one, &one_len), 0);
        static uint8_t chunk[65536];
        size_t chunk_len = sizeof(chunk) / one_len * one_len;
        for (size_t off = 0; off < chunk_len; off += one_len)
                memcpy(chunk + off, one, one_len);
        free(one);

        bool closed;
        int64_t start = th_now_ms();
        size_t sent = flood(&r, chunk, chunk_len, 200, &closed);
        CHECK(!closed);
        uint64_t rss_full = daemon_rss();
        th_note("flood: %zu bytes (%zu requests) accepted before the socket stayed full; daemon "
                "RSS %.1f MiB before, %.1f MiB with the flood held\n",
                sent, sent / one_len, rss_before / 1048576.0, rss_full / 1048576.0);
        /* Bounded: replies queued up to OUT_HIGH (256 KiB) plus the kernel's buffers. */
        CHECK_LT(sent, 16 * 1048576);
        CHECK_LT(rss_full, rss_before + 16 * 1048576);
        still_serves();
        /* Not reading for longer than the stall timeout ends the connection. */
        while (!closed && th_now_ms() - start < 10 * STALL_MS)
                flood(&r, chunk, chunk_len, 100, &closed);
        CHECK(closed || th_raw_wait_closed(&r, 0));
        th_note("flood: disconnected %llu ms after the flood started (stall timeout %d ms)\n",
                (unsigned long long)(th_now_ms() - start), STALL_MS);
        th_raw_close(&r);
        still_serves();
        CHECK_LT(daemon_rss(), rss_before + 16 * 1048576);
}

/* A client that pipelines thousands of requests and then reads is served in full. */
static void test_pipelined_reader(void)
{
        th_raw r;
        th_raw_connect_hello(&r);
        enum { N = 20000 };
        Shmview__NameRequest nr = SHMVIEW__NAME_REQUEST__INIT;
        nr.name.data = (uint8_t *)"pipelined";
        nr.name.len = 9;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_STAT;
        req.stat = &nr;
        uint64_t next = 1;
        size_t got = 0;
        CHECK_EQ(fcntl(r.fd, F_SETFL, O_NONBLOCK), 0);
        uint8_t *buf = NULL;
        size_t len = 0, off = 0;
        while (got < N) {
                if (!buf && next <= N) {
                        req.id = next++;
                        CHECK_EQ(shmv__wire_pack(&req.base, SHMV__MAX_FRAME, &buf, &len), 0);
                        off = 0;
                }
                if (buf) {
                        ssize_t n = send(r.fd, buf + off, len - off, MSG_NOSIGNAL);
                        if (n > 0) {
                                off += (size_t)n;
                                if (off == len) {
                                        free(buf);
                                        buf = NULL;
                                }
                                continue;
                        }
                        CHECK_EQ(errno, EAGAIN);
                }
                /* The socket is full, or everything is sent: read what has come. */
                struct pollfd p = {.fd = r.fd, .events = POLLIN};
                CHECK_EQ(poll(&p, 1, TH_RAW_TIMEOUT_MS), 1);
                ssize_t n = shmv__wire_in_fill(&r.in, r.fd);
                CHECK(n > 0 || n == -EAGAIN);
                const uint8_t *payload;
                size_t plen;
                while (shmv__wire_in_frame(&r.in, &payload, &plen) == 1) {
                        Shmview__Response *resp = shmview__response__unpack(NULL, plen, payload);
                        shmv__wire_in_consume(&r.in);
                        CHECK(resp);
                        CHECK_EQ(resp->id, got + 1);
                        CHECK_EQ(resp->status, ENOENT);
                        shmview__response__free_unpacked(resp, NULL);
                        got++;
                }
        }
        th_raw_close(&r);
        still_serves();
}

/* A thousand connections opened at once, some greeting, some mid-frame, all dropped at
 * once: the daemon serves on and gives every descriptor back. */
static void test_thousand_connections(void)
{
        enum { N = 1000 };
        struct rlimit rl;
        CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
        if (rl.rlim_cur < N + 100) {
                rl.rlim_cur = rl.rlim_max;
                CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
                CHECK_GE(rl.rlim_cur, N + 100);
        }
        uint64_t rss_before = daemon_rss();
        static th_raw conns[N];
        for (int i = 0; i < N; i++) {
                th_raw_connect(&conns[i]);
                if (i % 3 == 0) {
                        Shmview__Request req;
                        Shmview__Hello h;
                        hello_request(&req, &h, SHMV__PROTOCOL_VERSION);
                        th_raw_send(&conns[i], &req);
                } else if (i % 3 == 1) {
                        th_raw_send_bytes(&conns[i], "\x40\x00\x00\x00\x08", 5);
                }
        }
        for (int i = 0; i < N; i += 3) {
                Shmview__Response *resp = th_raw_recv(&conns[i], NULL);
                CHECK(resp);
                CHECK_EQ(resp->status, 0);
                shmview__response__free_unpacked(resp, NULL);
        }
        int fds_all = th_daemon_fd_count();
        uint64_t rss_all = daemon_rss();
        still_serves();
        for (int i = 0; i < N; i++)
                th_raw_close(&conns[i]);
        still_serves();
        th_note("thousand: daemon %d descriptors with all connected; RSS %.1f MiB before, %.1f "
                "MiB with all connected, %.1f MiB after\n",
                fds_all, rss_before / 1048576.0, rss_all / 1048576.0, daemon_rss() / 1048576.0);
        CHECK_GE(fds_all, N);
}

/* Frames small enough to be read that would unpack into far more memory than their size:
 * refused like malformed ones, within the decode limit. */
static void test_decode_bombs(void)
{
        static uint8_t bomb[SHMV__MAX_FRAME];
        uint64_t rss_before = daemon_rss();
        /* 65536 unknown varint fields of two bytes each: 1.5 MiB of bookkeeping. */
        for (size_t i = 0; i < sizeof(bomb); i += 2) {
                bomb[i] = 0x48; /* field 9, varint */
                bomb[i + 1] = 0x00;
        }
        th_raw r;
        th_raw_connect_hello(&r);
        th_raw_send_payload(&r, bomb, sizeof(bomb));
        expect_status(&r, 0, EINVAL);
        CHECK(th_raw_wait_closed(&r, TH_RAW_TIMEOUT_MS));
        th_raw_close(&r);

        /* The same field, a message, 65536 times over: the last one counts, each is freed. */
        for (size_t i = 0; i < sizeof(bomb); i += 2) {
                bomb[i] = 0x72; /* field 14 (stat), length-delimited, empty */
                bomb[i + 1] = 0x00;
        }
        th_raw_connect_hello(&r);
        th_raw_send_payload(&r, bomb, sizeof(bomb));
        Shmview__Response *resp = th_raw_recv(&r, NULL);
        CHECK(resp);
        CHECK_EQ(resp->status, EINVAL);
        shmview__response__free_unpacked(resp, NULL);
        th_raw_close(&r);

        /* Unknown length-delimited fields whose data must be copied. */
        size_t len = sizeof(bomb) / 3 * 3;
        for (size_t i = 0; i < len; i += 3) {
                bomb[i] = 0x4a; /* field 9, length-delimited */
                bomb[i + 1] = 0x01;
                bomb[i + 2] = 'x';
        }
        th_raw_connect_hello(&r);
        th_raw_send_payload(&r, bomb, len);
        expect_status(&r, 0, EINVAL);
        CHECK(th_raw_wait_closed(&r, TH_RAW_TIMEOUT_MS));
        th_raw_close(&r);

        /* Many connections sending bombs at once. */
        th_raw many[20];
        for (int i = 0; i < 20; i++) {
                th_raw_connect_hello(&many[i]);
                th_raw_send_payload(&many[i], bomb, len);
        }
        for (int i = 0; i < 20; i++) {
                CHECK(th_raw_wait_closed(&many[i], TH_RAW_TIMEOUT_MS));
                th_raw_close(&many[i]);
        }
        still_serves();
        th_note("bombs: daemon RSS %.1f MiB before, %.1f MiB after\n", rss_before / 1048576.0,
                daemon_rss() / 1048576.0);
        CHECK_LT(daemon_rss(), rss_before + 32 * 1048576);
}

/* ---- A hostile daemon against the library ---- */

/* Fills the reply to req (its id is set): a body, or an error status, and *ret_fd (-1 when
 * called) for a descriptor to pass with it, which the fake daemon then closes. */
typedef void fake_reply_fn(const Shmview__Request *req, Shmview__Response *resp, int *ret_fd);

/* A frame the fake daemon pushes right after its next reply, as shmviewd pushes events to a
 * watcher: set by a reply function, with the id of the request it answers; sent once. */
static Shmview__Response *fake_push;

/* A thread listening on a socket of its own that answers every request of the library with
 * reply(), one connection at a time, and notes what it was asked. */
typedef struct fake_daemon {
        char dir[32];
        char path[108];
        int listen_fd;
        int stop[2];
        pthread_t thread;
        fake_reply_fn *reply;
        unsigned requests[32]; /* by body case */
        uint64_t released[16]; /* view ids of release requests */
        size_t nreleased;
        int busy; /* 1 from a request's arrival until its reply and push are freed (atomic) */
} fake_daemon;

/* Waits for fd or the stop pipe; true when fd is ready (its end of stream included). */
static bool fake_wait(fake_daemon *f, int fd)
{
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = f->stop[0], .events = POLLIN}};
        while (poll(p, 2, -1) < 0)
                CHECK_EQ(errno, EINTR);
        return p[0].revents != 0;
}

static void fake_serve(fake_daemon *f, int fd)
{
        shmv__wire_in in;
        CHECK_OK(shmv__wire_in_init(&in, SHMV__MAX_FRAME, false));
        for (;;) {
                const uint8_t *payload;
                size_t len;
                int r = shmv__wire_in_frame(&in, &payload, &len);
                CHECK_GE(r, 0);
                if (r == 0) {
                        if (!fake_wait(f, fd) || shmv__wire_in_fill(&in, fd) <= 0)
                                break;
                        continue;
                }
                __atomic_store_n(&f->busy, 1, __ATOMIC_SEQ_CST);
                Shmview__Request *req = shmview__request__unpack(NULL, len, payload);
                shmv__wire_in_consume(&in);
                CHECK(req != NULL);
                if ((unsigned)req->body_case < 32)
                        f->requests[req->body_case]++;
                if (req->body_case == SHMVIEW__REQUEST__BODY_RELEASE) {
                        if (f->nreleased < 16)
                                f->released[f->nreleased++] = req->release->view_id;
                        shmview__request__free_unpacked(req, NULL);
                        __atomic_store_n(&f->busy, 0, __ATOMIC_SEQ_CST);
                        continue;
                }
                Shmview__Response resp = SHMVIEW__RESPONSE__INIT;
                resp.id = req->id;
                int pass = -1;
                f->reply(req, &resp, &pass);
                shmview__request__free_unpacked(req, NULL);
                uint8_t *buf;
                CHECK_OK(shmv__wire_pack(&resp.base, SHMV__MAX_FRAME, &buf, &len));
                (void)shmv__wire_send_all(fd, buf, len, pass);
                free(buf);
                if (pass >= 0)
                        close(pass);
                if (fake_push) {
                        CHECK_OK(shmv__wire_pack(&fake_push->base, SHMV__MAX_FRAME, &buf, &len));
                        (void)shmv__wire_send_all(fd, buf, len, -1);
                        free(buf);
                        fake_push = NULL;
                }
                __atomic_store_n(&f->busy, 0, __ATOMIC_SEQ_CST);
        }
        shmv__wire_in_free(&in);
}

static void *fake_daemon_main(void *arg)
{
        fake_daemon *f = arg;
        while (fake_wait(f, f->listen_fd)) {
                int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
                CHECK_GE(fd, 0);
                fake_serve(f, fd);
                close(fd);
        }
        return NULL;
}

static void fake_start(fake_daemon *f, fake_reply_fn *reply)
{
        memset(f, 0, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/shmview-fake-XXXXXX");
        CHECK(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/fake.sock", f->dir);
        f->reply = reply;
        f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
        CHECK_EQ(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        CHECK_EQ(listen(f->listen_fd, 4), 0);
        CHECK_EQ(pipe2(f->stop, O_CLOEXEC), 0);
        CHECK_EQ(pthread_create(&f->thread, NULL, fake_daemon_main, f), 0);
}

/* Call once the library has disconnected: the connection is read to its end first, so that
 * every release it sent is counted. */
static void fake_stop(fake_daemon *f)
{
        CHECK_EQ(write(f->stop[1], "", 1), 1);
        pthread_join(f->thread, NULL);
        close(f->stop[0]);
        close(f->stop[1]);
        close(f->listen_fd);
        unlink(f->path);
        rmdir(f->dir);
}

static bool fake_released(const fake_daemon *f, uint64_t view_id)
{
        for (size_t i = 0; i < f->nreleased; i++)
                if (f->released[i] == view_id)
                        return true;
        return false;
}

/* A valid hello reply; true when req was a hello. */
static bool fake_hello(const Shmview__Request *req, Shmview__Response *resp)
{
        static Shmview__HelloReply h = SHMVIEW__HELLO_REPLY__INIT;
        if (req->body_case != SHMVIEW__REQUEST__BODY_HELLO)
                return false;
        h.protocol_version = SHMV__PROTOCOL_VERSION;
        resp->body_case = SHMVIEW__RESPONSE__BODY_HELLO;
        resp->hello = &h;
        return true;
}

static int memfd_sized(uint64_t size, unsigned seals)
{
        int fd = memfd_create("fake-segment", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        CHECK_GE(fd, 0);
        CHECK_EQ(ftruncate(fd, (off_t)size), 0);
        CHECK(seals == 0 || fcntl(fd, F_ADD_SEALS, seals) == 0);
        return fd;
}

/* What the fake daemon's next open reply says and passes. */
static struct {
        uint64_t length; /* the range's, UINT64_MAX: the one asked for */
        uint64_t segment_size;
        int kind; /* of descriptor: see open_reply */
        uint64_t fd_size;
        uint64_t view_id;
} next_open;

static void open_reply(const Shmview__Request *req, Shmview__Response *resp, int *ret_fd)
{
        static Shmview__OpenReply o;
        if (fake_hello(req, resp))
                return;
        CHECK_EQ(req->body_case, SHMVIEW__REQUEST__BODY_OPEN);
        shmview__open_reply__init(&o);
        o.view_id = ++next_open.view_id;
        o.offset = req->open->offset;
        o.length = next_open.length == UINT64_MAX ? req->open->length : next_open.length;
        o.segment_size = next_open.segment_size;
        o.writable = req->open->writable;
        o.segment_id = 1;
        resp->body_case = SHMVIEW__RESPONSE__BODY_OPEN;
        resp->open = &o;
        int p[2];
        switch (next_open.kind) {
        case 0: /* as shmviewd: sealed against shrinking and growing */
                *ret_fd = memfd_sized(next_open.fd_size, F_SEAL_SHRINK | F_SEAL_GROW);
                break;
        case 1: /* the right size, but any holder may shrink it under the mapping */
                *ret_fd = memfd_sized(next_open.fd_size, 0);
                break;
        case 2:
                CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
                close(p[1]);
                *ret_fd = p[0];
                break;
        default: /* mappable, but no segment */
                *ret_fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
                break;
        }
}

/* Opens [offset, offset + length) against the fake daemon's next reply. */
static int open_against(shmv_client *c, uint64_t offset, uint64_t length, uint64_t reply_length,
                        uint64_t segment_size, int kind, uint64_t fd_size, shmv_view **ret)
{
        next_open.length = reply_length;
        next_open.segment_size = segment_size;
        next_open.kind = kind;
        next_open.fd_size = fd_size;
        return shmv_view_open(c, "seg", offset, length, SHMV_READ | SHMV_WRITE, ret);
}

/* An open reply is mapped only when the range is the one asked for and the descriptor holds
 * it for good: a regular file at least that long, sealed against shrinking. The library used
 * to map whatever the reply said, and a page past the end of the file raised SIGBUS in the
 * program when touched (found by fuzz-client: a 512-byte memfd for a page at offset 4096). */
static void test_hostile_daemon_open(void)
{
        int fds = th_fd_count(0);
        fake_daemon f;
        fake_start(&f, open_reply);
        shmv_client *c;
        CHECK_OK(shmv_connect(f.path, &c));
        shmv_view *v = NULL;

        /* What shmviewd sends: mapped, every byte there. */
        CHECK_OK(open_against(c, 4096, 4096, UINT64_MAX, 8192, 0, 8192, &v));
        uint8_t *p = th_data_mut(v);
        p[0] = 1;
        p[4095] = 2;
        shmv_view_release(v);

        static const struct {
                uint64_t offset, length, reply_length, segment_size;
                int kind;
                uint64_t fd_size;
        } bad[] = {
                {4096, 4096, UINT64_MAX, 8192, 0, 512}, /* the file ends before the range */
                {4096, 4096, UINT64_MAX, 8192, 0, 4097}, /* ... inside its last page */
                {0, 8192, UINT64_MAX, 8192, 1, 8192}, /* not sealed against shrinking */
                {0, 4096, UINT64_MAX, 4096, 2, 0}, /* a pipe */
                {0, 4096, UINT64_MAX, 4096, 3, 0}, /* /dev/zero */
                {0, 4096, 8192, 8192, 0, 8192}, /* longer than asked */
                {0, 4096, 100, 8192, 0, 8192}, /* shorter than asked */
                {0, SHMV_TO_END, 4096, 8192, 0, 8192}, /* "to the end" that stops short */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint64_t id = next_open.view_id + 1;
                CHECK_RC(open_against(c, bad[i].offset, bad[i].length, bad[i].reply_length,
                                      bad[i].segment_size, bad[i].kind, bad[i].fd_size, &v),
                         -EPROTO);
                CHECK_NULL(shmv_last_error_message());
                CHECK_EQ(next_open.view_id, id);
        }
        shmv_disconnect(c);
        fake_stop(&f);
        /* The daemon was told of every view it granted and the library refused. */
        for (uint64_t id = 1; id <= next_open.view_id; id++)
                CHECK(fake_released(&f, id));
        CHECK_EQ(th_fd_count(0), fds);
}

static unsigned list_mode;

static void list_reply(const Shmview__Request *req, Shmview__Response *resp, int *ret_fd)
{
        static Shmview__SegmentInfo seg;
        static Shmview__SegmentInfo *segs[] = {&seg};
        static Shmview__ListReply list;
        if (fake_hello(req, resp))
                return;
        CHECK_EQ(req->body_case, SHMVIEW__REQUEST__BODY_LIST);
        shmview__segment_info__init(&seg);
        shmview__list_reply__init(&list);
        if (list_mode == 0) {
                /* The same page again and again, always with more to come. */
                seg.name.data = (uint8_t *)"same";
                seg.name.len = 4;
                list.more = true;
        }
        /* else: one segment without a name (no data pointer), and the end */
        list.segments = segs;
        list.n_segments = 1;
        resp->body_case = SHMVIEW__RESPONSE__BODY_LIST;
        resp->list = &list;
}

/* A list ends once a page does not move past the cursor (it looped for ever on a daemon that
 * sent the same page with more set), and a segment without a name is an empty name (the
 * library passed memcpy() a NULL pointer for it: undefined, reported by UBSan). */
static void test_hostile_daemon_list(void)
{
        int fds = th_fd_count(0);
        fake_daemon f;
        fake_start(&f, list_reply);
        shmv_client *c;
        CHECK_OK(shmv_connect(f.path, &c));
        shmv_segment_info *all;
        size_t n;
        list_mode = 0;
        CHECK_OK(shmv_segment_list(c, &all, &n));
        CHECK_EQ(n, 2);
        CHECK_STR(all[0].name, "same");
        shmv_segment_list_free(all);

        list_mode = 1;
        CHECK_OK(shmv_segment_list(c, &all, &n));
        CHECK_EQ(n, 1);
        CHECK_STR(all[0].name, "");
        shmv_segment_list_free(all);
        shmv_disconnect(c);
        fake_stop(&f);
        /* Two pages for the first list, one for the second. */
        CHECK_EQ(f.requests[SHMVIEW__REQUEST__BODY_LIST], 3);
        CHECK_EQ(th_fd_count(0), fds);
}

static int32_t error_status;
static bool error_hello; /* the hello gets the error too */

static void error_reply(const Shmview__Request *req, Shmview__Response *resp, int *ret_fd)
{
        static char message[] = "a message";
        if (!error_hello && fake_hello(req, resp))
                return;
        resp->status = error_status;
        resp->message.data = (uint8_t *)message;
        resp->message.len = strlen(message);
}

/* A status outside Linux's errno values (1 to 4095) is a malformed reply, -EPROTO without a
 * daemon message, not a return value that no caller can tell from a result (the library
 * returned -268435384 for status 0x0ffffff8). */
static void test_hostile_daemon_status(void)
{
        fake_daemon f;
        fake_start(&f, error_reply);
        shmv_client *c;
        error_hello = false;
        CHECK_OK(shmv_connect(f.path, &c));
        shmv_segment_info info;
        static const int32_t bad[] = {0x0ffffff8, 4096, INT32_MAX, -1, INT32_MIN};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                error_status = bad[i];
                CHECK_RC(shmv_segment_stat(c, "seg", &info), -EPROTO);
                CHECK_NULL(shmv_last_error_message());
        }
        error_status = 4095;
        CHECK_RC(shmv_segment_stat(c, "seg", &info), -4095);
        CHECK_STR(shmv_last_error_message(), "a message");
        error_status = EACCES;
        CHECK_RC(shmv_segment_seal(c, "seg"), -EACCES);
        CHECK_STR(shmv_last_error_message(), "a message");
        shmv_disconnect(c);

        /* The same for the hello's. */
        shmv_client *c2 = NULL;
        error_hello = true;
        error_status = 0x0ffffff8;
        CHECK_RC(shmv_connect(f.path, &c2), -EPROTO);
        CHECK_NULL(shmv_last_error_message());
        CHECK_NULL(c2);
        error_status = EUSERS;
        CHECK_RC(shmv_connect(f.path, &c2), -EUSERS);
        CHECK_STR(shmv_last_error_message(), "a message");
        fake_stop(&f);
}

/* ---- A daemon that does not answer ---- */

/* A listening socket nobody accepts on, as when systemd holds the socket of a daemon that
 * cannot start; backlog as for listen(). */
static int silent_listener(const char *path, int backlog)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        CHECK_GE(fd, 0);
        CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        CHECK_EQ(listen(fd, backlog), 0);
        return fd;
}

static bool slow_next; /* the next request other than the hello is answered 600 ms late */

static void slow_reply(const Shmview__Request *req, Shmview__Response *resp, int *ret_fd)
{
        (void)ret_fd;
        if (fake_hello(req, resp))
                return;
        if (slow_next) {
                slow_next = false;
                usleep(600 * 1000);
        }
        resp->status = ENOENT;
}

/* Every call waits for the daemon at most the client's timeout, then fails with -ETIMEDOUT
 * and drops the connection: a connect whose hello nobody answers, a connect that finds the
 * backlog full (nobody accepts), a call whose reply is late. The next call connects again.
 * (Calls waited forever.) */
static void test_daemon_never_answers(void)
{
        char dir[] = "/tmp/shmview-silent-XXXXXX";
        CHECK(mkdtemp(dir) != NULL);
        char path[108];
        snprintf(path, sizeof(path), "%s/silent.sock", dir);
        shmv_client *c = NULL;

        CHECK_EQ(setenv("SHMVIEW_TIMEOUT_MS", "x", 1), 0);
        CHECK_RC(shmv_connect(path, &c), -EINVAL);
        CHECK_EQ(setenv("SHMVIEW_TIMEOUT_MS", "0", 1), 0);
        CHECK_RC(shmv_connect(path, &c), -EINVAL);
        CHECK_EQ(setenv("SHMVIEW_TIMEOUT_MS", "200", 1), 0);

        /* Accepted into the backlog, the hello never answered. */
        int lfd = silent_listener(path, 4);
        int64_t t0 = th_now_ms();
        CHECK_RC(shmv_connect(path, &c), -ETIMEDOUT);
        int64_t took = th_now_ms() - t0;
        th_note("hello unanswered: -ETIMEDOUT after %lld ms (timeout 200 ms)\n", (long long)took);
        CHECK_GE(took, 190);
        CHECK_LT(took, 3000);
        CHECK_NULL(c);
        close(lfd);
        unlink(path);

        /* The backlog full: connect() itself waits, and gives up. */
        lfd = silent_listener(path, 0);
        int filler = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        CHECK_EQ(connect(filler, (struct sockaddr *)&sa, sizeof(sa)), 0);
        t0 = th_now_ms();
        CHECK_RC(shmv_connect(path, &c), -ETIMEDOUT);
        took = th_now_ms() - t0;
        th_note("backlog full: -ETIMEDOUT after %lld ms (timeout 200 ms)\n", (long long)took);
        CHECK_GE(took, 190);
        CHECK_LT(took, 3000);
        CHECK_NULL(c);
        close(filler);
        close(lfd);
        unlink(path);
        rmdir(dir);
        CHECK_EQ(unsetenv("SHMVIEW_TIMEOUT_MS"), 0);

        /* A late reply, on a client connected with the default timeout. */
        fake_daemon f;
        fake_start(&f, slow_reply);
        CHECK_OK(shmv_connect(f.path, &c));
        CHECK_RC(shmv_set_timeout(c, 0), -EINVAL);
        CHECK_RC(shmv_set_timeout(c, -2), -EINVAL);
        CHECK_RC(shmv_set_timeout(NULL, 100), -EINVAL);
        CHECK_OK(shmv_set_timeout(c, 200));
        shmv_segment_info info;
        slow_next = true;
        t0 = th_now_ms();
        CHECK_RC(shmv_segment_stat(c, "seg", &info), -ETIMEDOUT);
        took = th_now_ms() - t0;
        CHECK_GE(took, 190);
        CHECK_LT(took, 3000);
        /* The connection went with it; the next call connects again and is answered. */
        CHECK_OK(shmv_set_timeout(c, -1));
        CHECK_RC(shmv_segment_stat(c, "seg", &info), -ENOENT);
        shmv_disconnect(c);
        fake_stop(&f);
        CHECK_EQ(f.requests[SHMVIEW__REQUEST__BODY_HELLO], 2);
        CHECK_EQ(f.requests[SHMVIEW__REQUEST__BODY_STAT], 2);
}

/* ---- Replies that would unpack into far more memory than their frame ---- */

/* Empty entries in a bomb page: two bytes each (a tag, a zero length), as many as one frame of
 * SHMV__MAX_FRAME holds. protobuf-c makes each a struct of its own (80 bytes for a SegmentInfo,
 * its pointer, 32 bytes of scratch while it scans): about 9 MiB with malloc() for the frame.
 * The library decodes within SHMV__DECODE_LIMIT (1 MiB, in the wire layer's arena),
 * which a page of about 8,000 empty entries passes. */
#define BOMB_ENTRIES 65000u
/* Well within the limit: 8 times the longest page shmviewd sends (256). */
#define SMALL_ENTRIES 2048u
/* How far one refused bomb may raise the peak RSS of this process (the library's decoding,
 * up to the 1 MiB limit and malloc()'s or ASan's overhead on it, plus both ends' 128 KiB frame
 * buffers), where decoding it whole took 10 MiB (19 MiB under ASan). */
#define BOMB_PEAK_MAX (4u << 20)

static size_t bomb_entries; /* in the next list, views or clients reply, or unknown fields */
static bool bomb_long_names; /* every list entry with a 255-byte name and all fields set */
/* Every entry of a reply is the same message: the arrays of pointers to them are filled before
 * the test measures, so that only the library's memory shows. */
static Shmview__SegmentInfo bomb_seg;
static Shmview__ViewInfo bomb_view;
static Shmview__ClientInfo bomb_client;
static Shmview__SegmentInfo **bomb_segs;
static Shmview__ViewInfo **bomb_views;
static Shmview__ClientInfo **bomb_clients;
static ProtobufCMessageUnknownField *bomb_unknown;

static void bomb_reply(const Shmview__Request *req, Shmview__Response *resp, int *ret_fd)
{
        static Shmview__ListReply list;
        static Shmview__ViewsReply views;
        static Shmview__ClientsReply clients;
        static Shmview__WatchReply watch;
        static Shmview__Event event;
        static Shmview__Response push;
        static uint8_t long_name[SHMV_NAME_MAX];
        if (fake_hello(req, resp))
                return;
        switch (req->body_case) {
        case SHMVIEW__REQUEST__BODY_LIST:
                shmview__segment_info__init(&bomb_seg);
                if (bomb_long_names) {
                        memset(long_name, 'x', sizeof(long_name));
                        bomb_seg.name.data = long_name;
                        bomb_seg.name.len = sizeof(long_name);
                        bomb_seg.size = bomb_seg.created_usec = UINT64_MAX;
                        bomb_seg.uid = bomb_seg.gid = bomb_seg.mode = UINT32_MAX;
                        bomb_seg.views_ro = bomb_seg.views_rw = UINT32_MAX;
                        bomb_seg.sealed = true;
                }
                shmview__list_reply__init(&list);
                list.segments = bomb_segs;
                list.n_segments = bomb_entries;
                resp->body_case = SHMVIEW__RESPONSE__BODY_LIST;
                resp->list = &list;
                break;
        case SHMVIEW__REQUEST__BODY_VIEWS:
                shmview__view_info__init(&bomb_view);
                shmview__views_reply__init(&views);
                views.views = bomb_views;
                views.n_views = bomb_entries;
                resp->body_case = SHMVIEW__RESPONSE__BODY_VIEWS;
                resp->views = &views;
                break;
        case SHMVIEW__REQUEST__BODY_CLIENTS:
                shmview__client_info__init(&bomb_client);
                shmview__clients_reply__init(&clients);
                clients.clients = bomb_clients;
                clients.n_clients = bomb_entries;
                resp->body_case = SHMVIEW__RESPONSE__BODY_CLIENTS;
                resp->clients = &clients;
                break;
        case SHMVIEW__REQUEST__BODY_WATCH:
                /* The watch is granted; the first event carries bomb_entries unknown fields. */
                shmview__watch_reply__init(&watch);
                resp->body_case = SHMVIEW__RESPONSE__BODY_WATCH;
                resp->watch = &watch;
                shmview__event__init(&event);
                event.kind = SHMVIEW__EVENT__KIND__CREATED;
                shmview__response__init(&push);
                push.id = req->id;
                push.body_case = SHMVIEW__RESPONSE__BODY_EVENT;
                push.event = &event;
                push.base.n_unknown_fields = (unsigned)bomb_entries;
                push.base.unknown_fields = bomb_unknown;
                fake_push = &push;
                break;
        default:
                th_fail(__FILE__, __LINE__, "unexpected request %d", (int)req->body_case);
        }
}

static void bomb_setup(void)
{
        static uint8_t zero;
        bomb_segs = calloc(BOMB_ENTRIES, sizeof(*bomb_segs));
        bomb_views = calloc(BOMB_ENTRIES, sizeof(*bomb_views));
        bomb_clients = calloc(BOMB_ENTRIES, sizeof(*bomb_clients));
        bomb_unknown = calloc(BOMB_ENTRIES, sizeof(*bomb_unknown));
        CHECK(bomb_segs && bomb_views && bomb_clients && bomb_unknown);
        for (size_t i = 0; i < BOMB_ENTRIES; i++) {
                bomb_segs[i] = &bomb_seg;
                bomb_views[i] = &bomb_view;
                bomb_clients[i] = &bomb_client;
                /* Field 9, unknown to Response: a varint 0, two bytes on the wire. */
                bomb_unknown[i].tag = 9;
                bomb_unknown[i].wire_type = PROTOBUF_C_WIRE_TYPE_VARINT;
                bomb_unknown[i].len = 1;
                bomb_unknown[i].data = &zero;
        }
}

static void bomb_teardown(void)
{
        free(bomb_segs);
        free(bomb_views);
        free(bomb_clients);
        free(bomb_unknown);
}

/* "VmRSS" or "VmHWM" of this process, in bytes. */
static uint64_t self_status(const char *key)
{
        char line[256];
        FILE *f = fopen("/proc/self/status", "re");
        CHECK(f != NULL);
        uint64_t kb = 0;
        size_t klen = strlen(key);
        while (fgets(line, sizeof(line), f))
                if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
                        kb = strtoull(line + klen + 1, NULL, 10);
                        break;
                }
        fclose(f);
        CHECK_GT(kb, 0);
        return kb * 1024;
}

/* Where a call's memory starts: the peak RSS is reset to the RSS now (clear_refs 5), so that
 * it shows afterwards how high the call went, however briefly; and the bytes malloc() holds. */
typedef struct mem_mark {
        uint64_t rss;
        size_t heap;
} mem_mark;

static size_t heap_in_use(void)
{
        struct mallinfo2 mi = mallinfo2();
        return mi.uordblks + mi.hblkhd;
}

static mem_mark mem_start(void)
{
        int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
        CHECK_GE(fd, 0);
        CHECK_EQ(write(fd, "5", 1), 1);
        close(fd);
        return (mem_mark){.rss = self_status("VmRSS"), .heap = heap_in_use()};
}

/* How far the peak RSS rose since m; fails when the heap did not come back to within 64 KiB
 * of where it was (under ASan, mallinfo2() does not see the heap: LeakSanitizer does). The
 * fake daemon is a thread of this process, so its heap counts too: it is waited for until it
 * has freed the frame it sent (the library may have read the frame before then). */
static uint64_t mem_peak(fake_daemon *f, const char *what, mem_mark m)
{
        while (__atomic_load_n(&f->busy, __ATOMIC_SEQ_CST))
                usleep(1000);
        uint64_t peak = self_status("VmHWM");
        size_t heap = heap_in_use();
        uint64_t rise = peak > m.rss ? peak - m.rss : 0;
        th_note("%s: peak RSS +%.2f MiB, heap %+ld bytes after\n", what, rise / 1048576.0,
                (long)heap - (long)m.heap);
        CHECK_LE(heap, m.heap + 65536);
        return rise;
}

/* The library decodes every reply within a byte limit, as the daemon decodes requests: a list,
 * views or clients page, or an event, of one frame that would unpack into about 10 MiB is
 * refused as malformed (-EPROTO), the connection dropped, and the process's peak memory rises
 * by a bounded amount, not by the bomb's size; nothing leaks (LeakSanitizer), no descriptor
 * stays open. Pages of the sizes shmviewd sends, and far larger ones, still decode. (The
 * library decoded every reply but an open's with malloc() and no limit.) */
static void test_hostile_daemon_bombs(void)
{
        int fds = th_fd_count(0);
        bomb_setup();
        fake_daemon f;
        fake_start(&f, bomb_reply);
        shmv_client *c;
        CHECK_OK(shmv_connect(f.path, &c));
        shmv_segment_info *segs;
        shmv_view_info *views;
        shmv_client_info *clients;
        size_t n;

        /* Within the limit, and warming up whatever the library sets up once. */
        bomb_entries = SMALL_ENTRIES;
        CHECK_OK(shmv_segment_list(c, &segs, &n));
        CHECK_EQ(n, SMALL_ENTRIES);
        CHECK_EQ(segs[SMALL_ENTRIES - 1].name[0], '\0');
        shmv_segment_list_free(segs);
        CHECK_OK(shmv_segment_views(c, "seg", &views, &n));
        CHECK_EQ(n, SMALL_ENTRIES);
        shmv_segment_views_free(views);
        CHECK_OK(shmv_client_list(c, &clients, &n));
        CHECK_EQ(n, SMALL_ENTRIES);
        shmv_client_list_free(clients);
        /* The heaviest page shmviewd sends: 256 segments of 255-byte names. */
        bomb_entries = 256;
        bomb_long_names = true;
        CHECK_OK(shmv_segment_list(c, &segs, &n));
        CHECK_EQ(n, 256);
        CHECK_EQ(strlen(segs[255].name), SHMV_NAME_MAX);
        CHECK(segs[255].sealed);
        CHECK_EQ(segs[255].size, UINT64_MAX);
        shmv_segment_list_free(segs);
        bomb_long_names = false;

        /* The bombs: each refused, each dropping the connection (the next call connects and
         * greets again). */
        bomb_entries = BOMB_ENTRIES;
        mem_mark m = mem_start();
        CHECK_RC(shmv_segment_list(c, &segs, &n), -EPROTO);
        CHECK_LT(mem_peak(&f, "list bomb", m), BOMB_PEAK_MAX);
        m = mem_start();
        CHECK_RC(shmv_segment_views(c, "seg", &views, &n), -EPROTO);
        CHECK_LT(mem_peak(&f, "views bomb", m), BOMB_PEAK_MAX);
        m = mem_start();
        CHECK_RC(shmv_client_list(c, &clients, &n), -EPROTO);
        CHECK_LT(mem_peak(&f, "clients bomb", m), BOMB_PEAK_MAX);
        CHECK_NULL(shmv_last_error_message());
        bomb_entries = 1;
        CHECK_OK(shmv_segment_list(c, &segs, &n));
        CHECK_EQ(n, 1);
        shmv_segment_list_free(segs);
        shmv_disconnect(c);

        /* An event pushed to a watcher, with 65000 unknown fields. */
        bomb_entries = BOMB_ENTRIES;
        shmv_watch *w;
        CHECK_OK(shmv_watch_open(f.path, &w));
        shmv_event ev;
        m = mem_start();
        CHECK_RC(shmv_watch_next(w, TH_RAW_TIMEOUT_MS, &ev), -EPROTO);
        CHECK_LT(mem_peak(&f, "event bomb", m), BOMB_PEAK_MAX);
        CHECK_RC(shmv_watch_next(w, 0, &ev), -ENOTCONN);
        shmv_watch_close(w);
        fake_stop(&f);
        /* The first connection, one after each of the three bombs, the watcher's. */
        CHECK_EQ(f.requests[SHMVIEW__REQUEST__BODY_HELLO], 5);
        bomb_teardown();
        CHECK_EQ(th_fd_count(0), fds);
}

/* A real daemon's long list still decodes: 700 segments of names near the longest, in pages
 * of up to 256 (test_list_pages in test-segment.c does the same with short names). */
static void test_long_list(void)
{
        enum { N = 700 };
        shmv_client *c = th_connect();
        char prefix[SHMV_NAME_MAX + 1];
        snprintf(prefix, sizeof(prefix), "%s-", th_name("long"));
        size_t plen = strlen(prefix);
        memset(prefix + plen, 'x', SHMV_NAME_MAX - 5 - plen);
        prefix[SHMV_NAME_MAX - 5] = '\0';
        plen = strlen(prefix);
        char name[SHMV_NAME_MAX + 16];
        for (int i = 0; i < N; i++) {
                snprintf(name, sizeof(name), "%s%04d", prefix, i);
                CHECK_OK(shmv_segment_create(c, name, 4096, 0600));
        }
        shmv_segment_info *list;
        size_t n;
        CHECK_OK(shmv_segment_list(c, &list, &n));
        int found = 0;
        for (size_t i = 0; i < n; i++) {
                if (strncmp(list[i].name, prefix, plen) != 0)
                        continue;
                CHECK_EQ(strlen(list[i].name), SHMV_NAME_MAX - 1);
                CHECK_EQ(atoi(list[i].name + plen), found);
                found++;
        }
        CHECK_EQ(found, N);
        shmv_segment_list_free(list);
        for (int i = 0; i < N; i++) {
                snprintf(name, sizeof(name), "%s%04d", prefix, i);
                CHECK_OK(shmv_segment_unlink(c, name));
        }
        shmv_disconnect(c);
}

int main(int argc, char **argv)
{
        static const th_test tests[] = {
                TH_TEST(test_truncated_frames),
                TH_TEST(test_oversized_prefix),
                TH_TEST(test_garbage),
                TH_TEST(test_unknown_and_unexpected),
                TH_TEST(test_missing_fields),
                TH_TEST(test_out_of_range),
                TH_TEST(test_bad_names),
                TH_TEST(test_unwanted_fds),
                TH_TEST(test_half_frame_stall),
                TH_TEST(test_flood_never_reads),
                TH_TEST(test_pipelined_reader),
                TH_TEST(test_thousand_connections),
                TH_TEST(test_decode_bombs),
                TH_TEST(test_hostile_daemon_open),
                TH_TEST(test_hostile_daemon_list),
                TH_TEST(test_hostile_daemon_status),
                TH_TEST(test_daemon_never_answers),
                TH_TEST(test_hostile_daemon_bombs),
                TH_TEST(test_long_list),
        };
        static const char *const args[] = {
                "--max-clients", "1100", "--stall-timeout", "1000", "--log-level", "error", NULL};
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), args);
}

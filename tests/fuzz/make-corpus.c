/* Writes the seed corpus of fuzz-daemon into a directory: valid conversations and a few
 * known-bad ones, in fuzz-daemon's input layout (a flags byte, then the client's bytes).
 * The seeds in tests/fuzz/corpus/ were made with it: make-corpus tests/fuzz/corpus */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define HELLO 1u /* fuzz-daemon prepends a hello frame */
#define NOBODY 2u /* connects as uid 65534 */
#define SPLIT 4u /* sent in small pieces */

typedef struct seed {
        uint8_t buf[1 << 18];
        size_t len;
        uint64_t next_id;
} seed;

static const char *outdir;

static void seed_start(seed *s, uint8_t flags)
{
        s->buf[0] = flags;
        s->len = 1;
        s->next_id = 2;
}

static void raw(seed *s, const void *data, size_t len)
{
        if (len > sizeof(s->buf) - s->len) {
                fprintf(stderr, "make-corpus: seed too large\n");
                exit(1);
        }
        memcpy(s->buf + s->len, data, len);
        s->len += len;
}

/* A frame around raw protobuf bytes. */
static void frame_raw(seed *s, const uint8_t *payload, size_t len)
{
        uint8_t hdr[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                          (uint8_t)(len >> 24)};
        raw(s, hdr, 4);
        raw(s, payload, len);
}

static void frame(seed *s, Shmview__Request *req)
{
        req->id = s->next_id++;
        uint8_t *buf;
        size_t len;
        if (shmv__wire_pack(&req->base, SHMV__MAX_FRAME, &buf, &len) < 0) {
                fprintf(stderr, "make-corpus: pack failed\n");
                exit(1);
        }
        raw(s, buf, len);
        free(buf);
}

static void seed_write(const seed *s, const char *name)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", outdir, name);
        FILE *f = fopen(path, "wbe");
        if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0) {
                fprintf(stderr, "make-corpus: %s: %s\n", path, strerror(errno));
                exit(1);
        }
}

static ProtobufCBinaryData bytes(const char *str)
{
        return (ProtobufCBinaryData){.len = strlen(str), .data = (uint8_t *)(uintptr_t)str};
}

static void hello(seed *s, uint32_t version)
{
        Shmview__Hello h = SHMVIEW__HELLO__INIT;
        h.protocol_version = version;
        h.client_name = bytes("make-corpus");
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_HELLO;
        req.hello = &h;
        frame(s, &req);
}

static void create(seed *s, const char *name, uint64_t size, uint32_t mode)
{
        Shmview__CreateRequest b = SHMVIEW__CREATE_REQUEST__INIT;
        b.name = bytes(name);
        b.size = size;
        b.mode = mode;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_CREATE;
        req.create = &b;
        frame(s, &req);
}

static void named(seed *s, Shmview__Request__BodyCase which, const char *name)
{
        Shmview__NameRequest b = SHMVIEW__NAME_REQUEST__INIT;
        b.name = bytes(name);
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = which;
        if (which == SHMVIEW__REQUEST__BODY_UNLINK)
                req.unlink = &b;
        else if (which == SHMVIEW__REQUEST__BODY_SEAL)
                req.seal = &b;
        else
                req.stat = &b;
        frame(s, &req);
}

static void wait_req(seed *s, const char *name, uint32_t what, int32_t timeout_ms)
{
        Shmview__WaitRequest b = SHMVIEW__WAIT_REQUEST__INIT;
        b.name = bytes(name);
        b.what = what;
        b.timeout_ms = timeout_ms;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_WAIT;
        req.wait = &b;
        frame(s, &req);
}

static void open_view(seed *s, const char *name, uint64_t offset, uint64_t length, bool writable)
{
        Shmview__OpenRequest b = SHMVIEW__OPEN_REQUEST__INIT;
        b.name = bytes(name);
        b.offset = offset;
        b.length = length;
        b.writable = writable;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_OPEN;
        req.open = &b;
        frame(s, &req);
}

static void release(seed *s, uint64_t view_id)
{
        Shmview__ReleaseRequest b = SHMVIEW__RELEASE_REQUEST__INIT;
        b.view_id = view_id;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_RELEASE;
        req.release = &b;
        frame(s, &req);
}

static void arm(seed *s, uint64_t view_id, uint64_t segment_id)
{
        Shmview__DoorbellArmRequest b = SHMVIEW__DOORBELL_ARM_REQUEST__INIT;
        b.view_id = view_id;
        b.segment_id = segment_id;
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_DOORBELL_ARM;
        req.doorbell_arm = &b;
        frame(s, &req);
}

static void list(seed *s, const char *after)
{
        Shmview__ListRequest b = SHMVIEW__LIST_REQUEST__INIT;
        b.after = bytes(after);
        Shmview__Request req = SHMVIEW__REQUEST__INIT;
        req.body_case = SHMVIEW__REQUEST__BODY_LIST;
        req.list = &b;
        frame(s, &req);
}

/* A Request whose body is field `field`, an empty or given sub-message, encoded by hand so
 * that the corpus also reaches request kinds newer than this program. */
static void body_raw(seed *s, unsigned field, const uint8_t *sub, size_t sub_len)
{
        uint8_t p[64] = {0x08, (uint8_t)s->next_id++}; /* id */
        size_t n = 2;
        unsigned key = field << 3 | 2;
        p[n++] = (uint8_t)(key | 0x80);
        p[n++] = (uint8_t)(key >> 7);
        p[n++] = (uint8_t)sub_len;
        memcpy(p + n, sub, sub_len);
        n += sub_len;
        frame_raw(s, p, n);
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: make-corpus DIR\n");
                return 2;
        }
        outdir = argv[1];
        static seed s;

        /* A whole life: create, open both ways, stat, list, release, seal, unlink. */
        seed_start(&s, HELLO);
        create(&s, "x", 8192, 0644);
        open_view(&s, "x", 0, UINT64_MAX, true);
        open_view(&s, "x", 4096, 100, false);
        named(&s, SHMVIEW__REQUEST__BODY_STAT, "x");
        list(&s, "");
        release(&s, 1);
        named(&s, SHMVIEW__REQUEST__BODY_SEAL, "x");
        release(&s, 2);
        named(&s, SHMVIEW__REQUEST__BODY_SEAL, "x");
        open_view(&s, "x", 0, UINT64_MAX, true);
        named(&s, SHMVIEW__REQUEST__BODY_UNLINK, "x");
        seed_write(&s, "life");

        /* The same with its own hello, in small pieces. */
        seed_start(&s, SPLIT);
        hello(&s, 1);
        create(&s, "y", 1, 0);
        open_view(&s, "y", 1, UINT64_MAX, false);
        list(&s, "r");
        seed_write(&s, "split");

        /* As uid 65534 on root's segments (fuzz-daemon creates r600, r644, r666, sealed). */
        seed_start(&s, HELLO | NOBODY);
        open_view(&s, "r600", 0, UINT64_MAX, false);
        open_view(&s, "r644", 0, UINT64_MAX, false);
        open_view(&s, "r644", 0, UINT64_MAX, true);
        open_view(&s, "r666", 0, 4096, true);
        open_view(&s, "sealed", 0, UINT64_MAX, true);
        named(&s, SHMVIEW__REQUEST__BODY_UNLINK, "r644");
        named(&s, SHMVIEW__REQUEST__BODY_SEAL, "r666");
        create(&s, "mine", 300000, 0600);
        create(&s, "mine2", 600000, 0600);
        seed_write(&s, "nobody");

        /* Limits and bad values. */
        seed_start(&s, HELLO);
        create(&s, "", 1, 0);
        create(&s, "a/b", 1, 0);
        create(&s, "..", 1, 0);
        create(&s, "big", UINT64_MAX, 0);
        create(&s, "mode", 1, 0170000);
        create(&s, "zero", 0, 0);
        open_view(&s, "r644", UINT64_MAX, 2, false);
        open_view(&s, "r644", 4097, UINT64_MAX, false);
        open_view(&s, "r644", 1, 4096, false);
        release(&s, UINT64_MAX);
        for (int i = 0; i < 10; i++)
                open_view(&s, "r666", 0, 1, i & 1);
        seed_write(&s, "limits");

        /* No hello, and a wrong version. */
        seed_start(&s, 0);
        named(&s, SHMVIEW__REQUEST__BODY_STAT, "r644");
        seed_write(&s, "no-hello");
        seed_start(&s, 0);
        hello(&s, 2);
        seed_write(&s, "version");

        /* Requests beyond the core: views, clients, status, watch, reattach. */
        seed_start(&s, HELLO);
        static const uint8_t views[] = {0x0a, 0x04, 'r', '6', '4', '4'};
        body_raw(&s, 20, views, sizeof(views));
        body_raw(&s, 21, NULL, 0);
        body_raw(&s, 22, NULL, 0);
        static const uint8_t reattach[] = {0x0a, 0x04, 'r',  '6',  '4',  '4',
                                           0x10, 0x01, 0x18, 0x00, 0x20, 0x10};
        body_raw(&s, 30, reattach, sizeof(reattach));
        body_raw(&s, 99, NULL, 0);
        body_raw(&s, 23, NULL, 0);
        seed_write(&s, "extra");

        /* Waits: at once, one that times out, one answered by a create and a seal, one left
         * pending when the connection ends, a bad `what`. */
        seed_start(&s, HELLO);
        wait_req(&s, "w", 1, 0);
        wait_req(&s, "w", 2, 5);
        wait_req(&s, "w", 1, -1);
        wait_req(&s, "w", 2, 100000);
        wait_req(&s, "v", 2, -1);
        wait_req(&s, "w", 7, 1);
        create(&s, "w", 1, 0);
        named(&s, SHMVIEW__REQUEST__BODY_SEAL, "w");
        named(&s, SHMVIEW__REQUEST__BODY_UNLINK, "w");
        seed_write(&s, "wait");

        /* The doorbell: arming a writable view and a read-only one (twice, a view of another
         * connection, one named with another segment's id), releases that disarm, a seal
         * that rings it (and arms refused after it), a reattach that arms again. */
        seed_start(&s, HELLO);
        create(&s, "d", 4096, 0644);
        open_view(&s, "d", 0, UINT64_MAX, true);
        arm(&s, 1, 0);
        arm(&s, 1, 0);
        open_view(&s, "d", 0, 0, false);
        arm(&s, 2, 0);
        arm(&s, 2, 12345);
        arm(&s, 77, 0);
        release(&s, 1);
        named(&s, SHMVIEW__REQUEST__BODY_SEAL, "d");
        arm(&s, 2, 0);
        static const uint8_t reattach_armed[] = {0x0a, 0x01, 'd',  0x10, 0x00, 0x18,
                                                 0x00, 0x20, 0x10, 0x30, 0x01};
        body_raw(&s, 30, reattach_armed, sizeof(reattach_armed));
        arm(&s, 3, 0);
        release(&s, 2);
        named(&s, SHMVIEW__REQUEST__BODY_UNLINK, "d");
        seed_write(&s, "doorbell");
        seed_start(&s, HELLO | NOBODY);
        create(&s, "n", 100, 0600);
        open_view(&s, "n", 0, 100, false);
        arm(&s, 1, 0);
        release(&s, 1);
        arm(&s, 1, 0);
        seed_write(&s, "doorbell-nobody");

        /* Framing: a prefix over the maximum, a truncated frame, garbage. */
        seed_start(&s, HELLO);
        static const uint8_t huge[] = {0xff, 0xff, 0xff, 0x7f, 1, 2, 3};
        raw(&s, huge, sizeof(huge));
        seed_write(&s, "huge-prefix");
        seed_start(&s, HELLO);
        static const uint8_t cut[] = {0x40, 0x00, 0x00, 0x00, 0x08, 0x01};
        raw(&s, cut, sizeof(cut));
        seed_write(&s, "truncated");
        seed_start(&s, HELLO);
        static const uint8_t junk[] = {0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff};
        raw(&s, junk, sizeof(junk));
        seed_write(&s, "garbage");

        /* A decode bomb: a frame of unknown empty fields. */
        seed_start(&s, HELLO);
        static uint8_t bomb[SHMV__MAX_FRAME / 3 * 3];
        for (size_t i = 0; i < sizeof(bomb); i += 3) {
                bomb[i] = 0xfa; /* field 31, length-delimited, empty */
                bomb[i + 1] = 0x01;
                bomb[i + 2] = 0x00;
        }
        frame_raw(&s, bomb, sizeof(bomb));
        seed_write(&s, "bomb");
        return 0;
}

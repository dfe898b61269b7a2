/* Writes the seed corpus of fuzz-client into a directory: conversations in fuzz-client's input
 * layout (an op stream, then the fake daemon's reply records; fuzz-client.c describes both),
 * most of them valid, a few with the replies a broken daemon sends. The seeds in
 * tests/fuzz/corpus-client/ were made with it: make-corpus-client tests/fuzz/corpus-client */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

/* Ops (fuzz-client.c, run_op): the kind in the low 4 bits, an argument in the high ones. For
 * calls on a client, argument bit 0 picks the client and bits 1-3 the segment name. */
enum {
        OP_CONNECT,
        OP_DISCONNECT,
        OP_CREATE, /* + 1 byte */
        OP_UNLINK,
        OP_SEAL,
        OP_STAT,
        OP_LIST,
        OP_OPEN, /* + 2 bytes: offset and length indices, flags */
        OP_RELEASE, /* argument: the view slot */
        OP_VIEWS,
        OP_CLIENTS,
        OP_STATUS,
        OP_WATCH, /* argument: how many events to wait for, less one */
        OP_TOUCH,
        OP_SLICE,
        OP_WAIT, /* argument bit 3: for the seal, at once; else exists, 5 ms; with bit 2, the
                  * doorbell of view slot (bit 1 | bit 3 << 1): notify, wait (bit 0: at once) */
};
#define ARG(client, name) ((unsigned)(client) | (unsigned)(name) << 1)
/* Indices into fuzz-client's tables. */
#define NAME_A 0
#define NAME_LONG 3
#define OFF_0 0
#define OFF_4096 4
#define OFF_100 2
#define LEN_TO_END 0
#define LEN_100 3
#define LEN_4096 5
#define SIZE_4096 1
#define OPEN_RW 1

/* Reply record bits. */
enum { CANNED, ID, FRAMED, RAW };
#define FDS(n) ((unsigned)(n) << 2)
#define SPLIT 0x10u
#define CLOSE 0x20u
#define STICKY 0x40u
/* Descriptor kinds (fuzz-client.c, make_fd). */
#define FD_MEMFD 0
#define FD_MEMFD_UNSEALED 1
#define FD_PIPE 4
#define FD_DEVNULL 5

typedef struct seed {
        uint8_t ops[256];
        size_t nops;
        uint8_t replies[1 << 17];
        size_t len;
} seed;

static const char *outdir;

static void op(seed *s, unsigned kind, unsigned arg)
{
        if (s->nops >= 255) {
                fprintf(stderr, "make-corpus-client: too many ops\n");
                exit(1);
        }
        s->ops[s->nops++] = (uint8_t)(kind | arg << 4);
}

static void op_byte(seed *s, uint8_t b)
{
        s->ops[s->nops++] = b;
}

static void open_op(seed *s, unsigned client, unsigned name, unsigned off, unsigned len,
                    unsigned flags, unsigned slot)
{
        op(s, OP_OPEN, ARG(client, name));
        op_byte(s, (uint8_t)(off | len << 4));
        op_byte(s, (uint8_t)(flags | slot << 2));
}

static void put(seed *s, const void *p, size_t len)
{
        if (len > sizeof(s->replies) - s->len) {
                fprintf(stderr, "make-corpus-client: seed too large\n");
                exit(1);
        }
        memcpy(s->replies + s->len, p, len);
        s->len += len;
}

static void put_byte(seed *s, uint8_t b)
{
        put(s, &b, 1);
}

/* A record with its payload; descriptors, when ctl asks for them, follow with fd_spec(). */
static void record(seed *s, unsigned ctl, const void *payload, size_t len)
{
        put_byte(s, (uint8_t)ctl);
        if (len < 255) {
                put_byte(s, (uint8_t)len);
        } else {
                put_byte(s, 255);
                put_byte(s, (uint8_t)len);
                put_byte(s, (uint8_t)(len >> 8));
        }
        put(s, payload, len);
}

static void fd_spec(seed *s, uint8_t kind, uint8_t size)
{
        put_byte(s, kind);
        put_byte(s, size);
}

/* A valid reply to whatever the library asked. */
static void canned(seed *s)
{
        record(s, CANNED, NULL, 0);
}

/* A Response packed without its id, for a record that the fake daemon gives the id to (ID)
 * or appends to a canned reply (CANNED), where its fields override the canned ones. */
static void response(seed *s, unsigned ctl, const Shmview__Response *r)
{
        uint8_t buf[4096];
        size_t n = shmview__response__get_packed_size(r);
        if (n > sizeof(buf)) {
                fprintf(stderr, "make-corpus-client: response too large\n");
                exit(1);
        }
        shmview__response__pack(r, buf);
        record(s, ctl, buf, n);
}

static void error_reply(seed *s, int status, const char *message)
{
        Shmview__Response r = SHMVIEW__RESPONSE__INIT;
        r.status = status;
        r.message.data = (uint8_t *)(uintptr_t)message;
        r.message.len = strlen(message);
        response(s, ID, &r);
}

static void seed_write(seed *s, const char *name)
{
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", outdir, name);
        FILE *f = fopen(path, "wbe");
        uint8_t n = (uint8_t)s->nops;
        if (!f || fwrite(&n, 1, 1, f) != 1 || fwrite(s->ops, 1, s->nops, f) != s->nops ||
            fwrite(s->replies, 1, s->len, f) != s->len || fclose(f) != 0) {
                fprintf(stderr, "make-corpus-client: %s: %s\n", path, strerror(errno));
                exit(1);
        }
        memset(s, 0, sizeof(*s));
}

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: make-corpus-client DIR\n");
                return 2;
        }
        outdir = argv[1];
        static seed s;

        /* A whole life with a daemon that answers everything well. */
        op(&s, OP_CONNECT, ARG(0, 0));
        op(&s, OP_CREATE, ARG(0, NAME_A));
        op_byte(&s, SIZE_4096 | 0x40);
        op(&s, OP_STAT, ARG(0, NAME_A));
        op(&s, OP_LIST, ARG(0, 0));
        open_op(&s, 0, NAME_A, OFF_0, LEN_TO_END, OPEN_RW, 0);
        open_op(&s, 0, NAME_A, OFF_100, LEN_4096, 0, 1);
        op(&s, OP_SLICE, 0);
        op(&s, OP_VIEWS, ARG(0, NAME_A));
        op(&s, OP_CLIENTS, ARG(0, 0));
        op(&s, OP_STATUS, ARG(0, 0));
        op(&s, OP_RELEASE, 0);
        op(&s, OP_SEAL, ARG(0, NAME_A));
        op(&s, OP_UNLINK, ARG(0, NAME_A));
        op(&s, OP_RELEASE, 1);
        op(&s, OP_DISCONNECT, 0);
        for (int i = 0; i < 11; i++)
                canned(&s);
        seed_write(&s, "life");

        /* Two clients, views kept across a disconnect, the long name. */
        op(&s, OP_CONNECT, ARG(0, 0));
        op(&s, OP_CONNECT, ARG(1, 1)); /* NULL path: $SHMVIEW_SOCKET */
        open_op(&s, 1, NAME_LONG, OFF_4096, LEN_100, OPEN_RW | 2, 2);
        op(&s, OP_DISCONNECT, 1);
        op(&s, OP_TOUCH, 0);
        op(&s, OP_STAT, ARG(0, NAME_LONG));
        for (int i = 0; i < 4; i++)
                canned(&s);
        seed_write(&s, "two-clients");

        /* A list of two pages: the first says more. */
        op(&s, OP_CONNECT, ARG(0, 0));
        op(&s, OP_LIST, ARG(0, 0));
        canned(&s);
        Shmview__ListReply more = SHMVIEW__LIST_REPLY__INIT;
        more.more = true;
        Shmview__Response r = SHMVIEW__RESPONSE__INIT;
        r.body_case = SHMVIEW__RESPONSE__BODY_LIST;
        r.list = &more;
        response(&s, CANNED, &r);
        canned(&s);
        seed_write(&s, "list-pages");

        /* The same page again and again, with more set: the library must stop asking. */
        op(&s, OP_CONNECT, ARG(0, 0));
        op(&s, OP_LIST, ARG(0, 0));
        canned(&s);
        Shmview__SegmentInfo seg = SHMVIEW__SEGMENT_INFO__INIT;
        Shmview__SegmentInfo *segs[] = {&seg};
        seg.name.data = (uint8_t *)"same";
        seg.name.len = 4;
        more.segments = segs;
        more.n_segments = 1;
        response(&s, ID | STICKY, &r);
        seed_write(&s, "list-stuck");

        /* A watcher that gets three events, then the end. */
        op(&s, OP_WATCH, 3);
        canned(&s);
        canned(&s);
        put_byte(&s, 3);
        for (int i = 0; i < 3; i++)
                canned(&s);
        seed_write(&s, "watch");

        /* Errors with messages, safe and not. */
        op(&s, OP_CONNECT, ARG(0, 0));
        op(&s, OP_CREATE, ARG(0, NAME_A));
        op_byte(&s, SIZE_4096);
        op(&s, OP_STAT, ARG(0, NAME_A));
        open_op(&s, 0, NAME_A, OFF_0, LEN_TO_END, 0, 0);
        op(&s, OP_CONNECT, ARG(1, 0));
        canned(&s);
        error_reply(&s, EEXIST, "segment a exists");
        error_reply(&s, ENOENT, "no \x1b[31msuch\x1b[0m segment: caf\xc3\xa9 \xc2\x9b\xff");
        error_reply(&s, EACCES, "");
        error_reply(&s, EUSERS, "max_clients (1024) reached");
        seed_write(&s, "errors");

        /* The connection drops after an open: the next call connects again and registers the
         * view again (reattach). */
        op(&s, OP_CONNECT, ARG(0, 0));
        open_op(&s, 0, NAME_A, OFF_0, LEN_4096, OPEN_RW, 0);
        op(&s, OP_STAT, ARG(0, NAME_A));
        op(&s, OP_TOUCH, 0);
        canned(&s);
        record(&s, CANNED | CLOSE, NULL, 0);
        canned(&s); /* hello */
        canned(&s); /* reattach */
        canned(&s); /* stat */
        seed_write(&s, "reconnect");

        /* Opens with descriptors that are not what the reply says: an unsealed memfd shorter
         * than the range, several at once, a pipe, /dev/null, none at all. */
        op(&s, OP_CONNECT, ARG(0, 0));
        for (unsigned i = 0; i < 5; i++)
                open_op(&s, 0, NAME_A, i == 0 ? OFF_4096 : OFF_0, LEN_4096, i & 1, i);
        op(&s, OP_TOUCH, 0);
        canned(&s);
        record(&s, CANNED | FDS(1), NULL, 0);
        fd_spec(&s, FD_MEMFD_UNSEALED, 1);
        record(&s, CANNED | FDS(3), NULL, 0);
        put_byte(&s, 17);
        for (unsigned i = 0; i < 20; i++)
                fd_spec(&s, FD_MEMFD, 16);
        record(&s, CANNED | FDS(1), NULL, 0);
        fd_spec(&s, FD_PIPE, 0);
        record(&s, CANNED | FDS(1) | SPLIT, NULL, 0);
        fd_spec(&s, FD_DEVNULL, 0);
        Shmview__OpenReply o = SHMVIEW__OPEN_REPLY__INIT;
        o.view_id = 9;
        o.length = 4096;
        o.segment_size = 4096;
        o.writable = true;
        r.body_case = SHMVIEW__RESPONSE__BODY_OPEN;
        r.open = &o;
        response(&s, ID, &r);
        seed_write(&s, "fds");

        /* Framing: a cut frame, a prefix over the limit, two frames for one request, an empty
         * frame, bytes in pieces. */
        op(&s, OP_CONNECT, ARG(0, 0));
        op(&s, OP_STAT, ARG(0, NAME_A));
        op(&s, OP_STAT, ARG(0, NAME_A));
        op(&s, OP_STATUS, ARG(0, 0));
        op(&s, OP_STATUS, ARG(0, 0));
        op(&s, OP_CLIENTS, ARG(0, 0));
        canned(&s);
        static const uint8_t cut[] = {0x40, 0, 0, 0, 0x08, 0x02};
        record(&s, RAW, cut, sizeof(cut));
        canned(&s);
        static const uint8_t huge[] = {0xff, 0xff, 0xff, 0x7f, 1, 2, 3};
        record(&s, RAW, huge, sizeof(huge));
        canned(&s);
        static const uint8_t two[] = {2, 0, 0, 0, 0x08, 0x03, 2, 0, 0, 0, 0x08, 0x04};
        record(&s, RAW | SPLIT, two, sizeof(two));
        record(&s, FRAMED, NULL, 0);
        seed_write(&s, "framing");

        /* What the fuzzer found the library trusting (docs/security.md, "Fuzzing"): statuses
         * that are no errno, a list entry without a name. */
        op(&s, OP_CONNECT, ARG(0, 0));
        op(&s, OP_STAT, ARG(0, NAME_A));
        op(&s, OP_SEAL, ARG(0, NAME_A));
        op(&s, OP_LIST, ARG(0, 0));
        canned(&s);
        error_reply(&s, 0x0ffffff8, "no errno");
        error_reply(&s, -1, "negative");
        Shmview__SegmentInfo nameless = SHMVIEW__SEGMENT_INFO__INIT;
        Shmview__SegmentInfo *nameless_segs[] = {&nameless};
        Shmview__ListReply nameless_list = SHMVIEW__LIST_REPLY__INIT;
        nameless_list.segments = nameless_segs;
        nameless_list.n_segments = 1;
        r.body_case = SHMVIEW__RESPONSE__BODY_LIST;
        r.list = &nameless_list;
        response(&s, ID, &r);
        seed_write(&s, "malformed");

        /* A hello of another protocol version, then one that lowers max_frame below any
         * request (and sees the client under a pid of another namespace). */
        op(&s, OP_CONNECT, ARG(0, 0));
        op(&s, OP_CONNECT, ARG(0, 0));
        op(&s, OP_STAT, ARG(0, NAME_A));
        Shmview__HelloReply h = SHMVIEW__HELLO_REPLY__INIT;
        Shmview__Limits lim = SHMVIEW__LIMITS__INIT;
        h.protocol_version = 2;
        r.body_case = SHMVIEW__RESPONSE__BODY_HELLO;
        r.hello = &h;
        response(&s, CANNED, &r);
        h.protocol_version = SHMV__PROTOCOL_VERSION;
        h.client_pid = 12345;
        lim.max_frame = 4;
        h.limits = &lim;
        response(&s, CANNED, &r);
        canned(&s);
        seed_write(&s, "hello");

        /* A list page that would unpack into far more memory than its frame: 32000 empty
         * entries, two bytes each. The library refuses it within its decode limit (EPROTO, the
         * connection dropped) and connects again for the next list. */
        op(&s, OP_CONNECT, ARG(0, 0));
        op(&s, OP_LIST, ARG(0, 0));
        op(&s, OP_LIST, ARG(0, 0));
        canned(&s);
        enum { BOMB = 32000 };
        static uint8_t bomb[4 + 2 * BOMB];
        size_t inner = 2 * BOMB;
        bomb[0] = 0x62; /* Response field 12 (list), length-delimited */
        bomb[1] = (uint8_t)((inner & 0x7f) | 0x80); /* its length, a 3-byte varint */
        bomb[2] = (uint8_t)((inner >> 7 & 0x7f) | 0x80);
        bomb[3] = (uint8_t)(inner >> 14);
        for (size_t i = 0; i < BOMB; i++) {
                bomb[4 + 2 * i] = 0x0a; /* ListReply field 1 (segments), empty */
                bomb[4 + 2 * i + 1] = 0x00;
        }
        record(&s, ID, bomb, sizeof(bomb));
        canned(&s);
        canned(&s);
        seed_write(&s, "list-bomb");

        /* Waits: answered at once on a connection of their own (its hello first), then one the
         * daemon says timed out, then one whose reply is cut. */
        op(&s, OP_CONNECT, ARG(0, 0));
        op(&s, OP_WAIT, ARG(0, NAME_A));
        op(&s, OP_WAIT, ARG(0, NAME_A) | 8);
        op(&s, OP_WAIT, ARG(0, NAME_A));
        canned(&s); /* the client's hello */
        canned(&s); /* the wait connection's hello */
        canned(&s); /* the first wait */
        Shmview__Response timed_out = SHMVIEW__RESPONSE__INIT;
        timed_out.status = ETIMEDOUT;
        response(&s, CANNED, &timed_out);
        static const uint8_t cut_wait[] = {0x10, 0x00, 0x00, 0x00, 0x08};
        record(&s, RAW, cut_wait, sizeof(cut_wait));
        seed_write(&s, "wait");

        /* The doorbell: a writable view and a read-only one, each notified (the read-only
         * one refused) and waited on; the first wait on each arms it: once answered, once
         * refused as sealed. */
        op(&s, OP_CONNECT, ARG(0, 0));
        open_op(&s, 0, NAME_A, OFF_0, LEN_TO_END, OPEN_RW, 0);
        open_op(&s, 0, NAME_A, OFF_100, LEN_4096, 0, 1);
        op(&s, OP_WAIT, 4);
        op(&s, OP_WAIT, 4);
        op(&s, OP_WAIT, 4 | 2);
        op(&s, OP_WAIT, 4 | 2 | 1);
        canned(&s); /* hello */
        canned(&s); /* open */
        canned(&s); /* open */
        canned(&s); /* the first arm */
        error_reply(&s, EROFS, "segment a is sealed: its generation will not change again");
        seed_write(&s, "doorbell");
        return 0;
}

/* libshmview: decoding the daemon's replies within a byte limit, as the daemon decodes
 * requests (wire.h, SHMV__DECODE_LIMIT). A reply frame is at most max_frame bytes, but
 * protobuf-c turns each two-byte empty sub-message of a repeated field into a struct of its
 * own, so a hostile or broken peer could make one frame cost tens of MB; under the limit the
 * unpack fails instead, like a malformed reply.
 *
 * The open's reply, on the hot path, is decoded into a stack arena instead (client.c). */
#include <stdalign.h>
#include <stdlib.h>

#include "private.h"
#include "wire.h"

/* What one reply holds: counted while protobuf-c allocates (its scratch included) and frees. */
typedef struct reply_ctx {
        ProtobufCAllocator allocator;
        size_t used; /* bytes held, block headers included */
        size_t limit;
} reply_ctx;

/* In front of every block: the reply it belongs to, so that shmv__reply_free() finds the
 * context from the message alone, and the block's size, which protobuf-c's free() does not
 * pass. */
typedef struct reply_block {
        alignas(max_align_t) reply_ctx *ctx;
        size_t size;
} reply_block;

static void *reply_alloc(void *data, size_t size)
{
        reply_ctx *ctx = data;
        size_t room = ctx->limit - ctx->used;
        if (room < sizeof(reply_block) || size > room - sizeof(reply_block))
                return NULL;
        reply_block *b = malloc(sizeof(*b) + size);
        if (!b)
                return NULL;
        b->ctx = ctx;
        b->size = sizeof(*b) + size;
        ctx->used += b->size;
        return b + 1;
}

static void reply_release(void *data, void *p)
{
        reply_ctx *ctx = data;
        if (!p)
                return;
        reply_block *b = (reply_block *)p - 1;
        ctx->used -= b->size;
        free(b);
}

Shmview__Response *shmv__reply_unpack(const uint8_t *data, size_t len)
{
        reply_ctx *ctx = malloc(sizeof(*ctx));
        if (!ctx)
                return NULL;
        ctx->allocator.alloc = reply_alloc;
        ctx->allocator.free = reply_release;
        ctx->allocator.allocator_data = ctx;
        ctx->used = 0;
        ctx->limit = SHMV__DECODE_LIMIT;
        Shmview__Response *resp = shmview__response__unpack(&ctx->allocator, len, data);
        /* A failed unpack has freed every block it made. */
        if (!resp)
                free(ctx);
        return resp;
}

void shmv__reply_free(Shmview__Response *resp)
{
        if (!resp)
                return;
        /* The message unpack() returns is one of the blocks it allocated (free_unpacked()
         * frees it with the same allocator), so its header names the context. */
        reply_ctx *ctx = ((reply_block *)(void *)resp - 1)->ctx;
        shmview__response__free_unpacked(resp, &ctx->allocator);
        free(ctx);
}

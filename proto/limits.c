/* The fields of shmv_limits, once: the daemon's hello and status replies, the library's
 * copy of them, `shmview status` and Python's Limits walk this table instead of naming each
 * field. Its names are the members of shmv_limits and the fields of the Limits message. */
#include <stddef.h>
#include <string.h>

#include "wire.h"

#define FIELD(name, unit, help)                                                                  \
        {                                                                                        \
#name, help, offsetof(shmv_limits, name), sizeof(((shmv_limits *)0)->name), unit \
        }

/* In the order of shmv_limits, which is the order of Python's Limits tuple. */
static const shmv_limits_field fields[] = {
        FIELD(max_frame, SHMV_LIMIT_BYTES, "bytes in one protocol frame"),
        FIELD(max_fds_per_message, SHMV_LIMIT_COUNT, "descriptors in one message"),
        FIELD(max_clients, SHMV_LIMIT_COUNT, "connections at once"),
        FIELD(max_views_per_client, SHMV_LIMIT_COUNT, "views one connection may hold open"),
        FIELD(max_segments, SHMV_LIMIT_COUNT, "segments at once"),
        FIELD(max_bytes, SHMV_LIMIT_BYTES, "bytes in all segments together"),
        FIELD(max_name_len, SHMV_LIMIT_COUNT, "bytes in a segment name"),
        FIELD(list_page_size, SHMV_LIMIT_COUNT, "records in one page of a listing"),
        FIELD(max_clients_per_uid, SHMV_LIMIT_COUNT, "connections of one uid"),
        FIELD(max_bytes_per_uid, SHMV_LIMIT_BYTES, "bytes in the segments of one uid"),
        FIELD(stall_timeout_ms, SHMV_LIMIT_MS,
              "how long a client may leave its replies unread, in milliseconds"),
        FIELD(max_segments_per_uid, SHMV_LIMIT_COUNT, "segments of one uid"),
        FIELD(max_views_per_uid, SHMV_LIMIT_COUNT,
              "views of one uid on all its connections together"),
};

const shmv_limits_field *shmv__limits_fields(size_t *ret_count)
{
        *ret_count = sizeof(fields) / sizeof(fields[0]);
        return fields;
}

uint64_t shmv__limits_get(const shmv_limits *l, const shmv_limits_field *f)
{
        const char *p = (const char *)l + f->offset;
        if (f->size == sizeof(uint64_t)) {
                uint64_t v;
                memcpy(&v, p, sizeof(v));
                return v;
        }
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

/* The Limits message's field of the same name, or NULL (a field the proto lacks). */
static const ProtobufCFieldDescriptor *wire_field(const shmv_limits_field *f)
{
        return protobuf_c_message_descriptor_get_field_by_name(&shmview__limits__descriptor,
                                                               f->name);
}

void shmv__limits_to_wire(const shmv_limits *src, Shmview__Limits *ret)
{
        shmview__limits__init(ret);
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                const ProtobufCFieldDescriptor *w = wire_field(&fields[i]);
                uint64_t v = shmv__limits_get(src, &fields[i]);
                char *dst = (char *)ret + w->offset;
                if (w->type == PROTOBUF_C_TYPE_UINT64) {
                        memcpy(dst, &v, sizeof(v));
                } else {
                        uint32_t v32 = (uint32_t)v;
                        memcpy(dst, &v32, sizeof(v32));
                }
        }
}

void shmv__limits_from_wire(const Shmview__Limits *src, shmv_limits *ret)
{
        memset(ret, 0, sizeof(*ret));
        if (!src)
                return;
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                const ProtobufCFieldDescriptor *w = wire_field(&fields[i]);
                const char *from = (const char *)src + w->offset;
                uint64_t v;
                if (w->type == PROTOBUF_C_TYPE_UINT64) {
                        memcpy(&v, from, sizeof(v));
                } else {
                        uint32_t v32;
                        memcpy(&v32, from, sizeof(v32));
                        v = v32;
                }
                char *to = (char *)ret + fields[i].offset;
                if (fields[i].size == sizeof(uint64_t)) {
                        memcpy(to, &v, sizeof(v));
                } else {
                        uint32_t v32 = (uint32_t)v;
                        memcpy(to, &v32, sizeof(v32));
                }
        }
}

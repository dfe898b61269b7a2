/* Views: Python memoryview semantics (Objects/memoryobject.c) over mappings of segments.
 *
 * A view handle is a small malloc'd struct describing a strided window (buf, shape, strides,
 * itemsize, format) into one shmv__mapping: one dimension as opened, up to SHMV_MAX_NDIM after
 * a cast with a shape. Slices, casts and read-only copies are new handles
 * over the same mapping; only the mapping is reference counted, so none of these operations
 * makes a system call or talks to the daemon. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "private.h"

struct shmv_view {
        shmv__mapping *mapping;
        uint8_t *buf; /* address of item 0 */
        size_t len; /* shape[0]: items along the first dimension, len() in Python; 1 in 0-D */
        ptrdiff_t stride; /* strides[0]: bytes from one to the next; negative for reversed slices */
        size_t itemsize;
        char format[3]; /* as the cast named it: "B" or "@B" */
        bool readonly;
        unsigned ndim; /* 0 to SHMV_MAX_NDIM */
        size_t inner; /* items under one index of the first dimension: shape[1] * ... (1 in 1-D) */
        /* ndim > 1: shape[1..ndim-1], then strides[1..ndim-1]. */
        ptrdiff_t dims[];
};

/* The format character of v, without the optional '@'. */
static char fmtchar(const shmv_view *v)
{
        return v->format[0] == '@' ? v->format[1] : v->format[0];
}

/* Items in all dimensions together. */
static size_t nitems(const shmv_view *v)
{
        return v->len * v->inner;
}

static size_t dim_shape(const shmv_view *v, unsigned d)
{
        return d == 0 ? v->len : (size_t)v->dims[d - 1];
}

static ptrdiff_t dim_stride(const shmv_view *v, unsigned d)
{
        return d == 0 ? v->stride : v->dims[v->ndim - 1 + d - 1];
}

static size_t view_size(unsigned ndim)
{
        return sizeof(shmv_view) + 2 * (ndim > 1 ? ndim - 1 : 0) * sizeof(ptrdiff_t);
}

/* Where an empty view points: never read or written, but data() must not return NULL. */
static uint8_t empty_byte;

/* The system's page size, asked once: mmap() offsets are rounded to it. */
uint64_t shmv__page_size(void)
{
        static _Atomic uint64_t cached;
        uint64_t page = atomic_load_explicit(&cached, memory_order_relaxed);
        if (page == 0) {
                long ps = sysconf(_SC_PAGESIZE);
                page = ps > 0 ? (uint64_t)ps : 4096;
                atomic_store_explicit(&cached, page, memory_order_relaxed);
        }
        return page;
}

static void mapping_unref(shmv__mapping *m)
{
        if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
                return;
        /* A read-only mapping is told released before it is unmapped, so that the daemon
         * does that work while this process unmaps, rather than before its next request. No one
         * can tell: a segment the release frees stays charged until the unmap, and no longer
         * (the daemon hears of it from inotify, docs/design.md "Memory held after unlink"), and
         * a read-only mapping does not stop a seal. A writable one is unmapped first, so that
         * once the daemon has the release it no longer blocks a seal. */
        if (!m->writable)
                shmv__client_remove_mapping(m->client, m);
        if (m->size > 0)
                (void)munmap(m->base, m->size);
        /* The doorbell page too, mapped writable with a writable view. */
        if (m->doorbell_map)
                (void)munmap(m->doorbell_map, (size_t)shmv__page_size());
        if (m->writable)
                shmv__client_remove_mapping(m->client, m);
        shmv__client_unref(m->client);
        free(m);
}

int shmv__view_new(shmv_client *c, const shmv__view_origin *origin, int fd, uint64_t offset,
                   uint64_t length, bool writable, bool prefault, shmv_view **ret)
{
        shmv__mapping *m = NULL;
        shmv_view *v = NULL;
        void *base = NULL, *bell = NULL;
        uint64_t page, start = 0, end = 0, map_end = 0, bell_off = 0;
        int r;

        if (!c || !ret || !origin) {
                r = -EINVAL;
                goto fail;
        }

        page = shmv__page_size();
        if (length > UINT64_MAX - offset) {
                r = -EOVERFLOW;
                goto fail;
        }
        if (length > 0) {
                start = offset & ~(page - 1);
                end = offset + length;
                if (end > UINT64_MAX - (page - 1)) {
                        r = -EOVERFLOW;
                        goto fail;
                }
                end = (end + page - 1) & ~(page - 1);
                /* The mmap offset is an off_t and the length a size_t. */
                if (start > (uint64_t)INT64_MAX || end - start > SIZE_MAX) {
                        r = -EOVERFLOW;
                        goto fail;
                }
        }

        /* The doorbell page, when the descriptor has one after the segment's bytes. */
        if (origin->segment_size > 0 && origin->segment_size <= INT64_MAX - 2 * page &&
            origin->memfd_size >= shmv__doorbell_memfd_size(origin->segment_size, page))
                bell_off = shmv__doorbell_offset(origin->segment_size, page);
        /* A view that reaches the segment's last page maps the doorbell page with it, in the
         * same mmap: no system call more for the usual view of a whole segment. */
        map_end = end;
        if (bell_off && length > 0 && end == bell_off)
                map_end = end + page;

        m = calloc(1, sizeof(*m) + strlen(origin->name) + 1);
        v = calloc(1, sizeof(*v));
        if (!m || !v) {
                r = -ENOMEM;
                goto fail;
        }

        if (length > 0) {
                base = mmap(NULL, (size_t)(map_end - start),
                            PROT_READ | (writable ? PROT_WRITE : 0),
                            MAP_SHARED | (prefault ? MAP_POPULATE : 0), fd, (off_t)start);
                if (base == MAP_FAILED) {
                        r = -errno;
                        goto fail;
                }
        }
        if (bell_off && map_end == end) {
                bell = mmap(NULL, (size_t)page, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED,
                            fd, (off_t)bell_off);
                if (bell == MAP_FAILED) {
                        r = -errno;
                        if (base)
                                (void)munmap(base, (size_t)(map_end - start));
                        goto fail;
                }
                m->doorbell_map = bell;
        }
        if (fd >= 0)
                close(fd);

        atomic_init(&m->refs, 1);
        m->base = base;
        m->size = (size_t)(map_end - start);
        m->doorbell = bell       ? (struct shmv__doorbell *)bell
                      : bell_off ? (struct shmv__doorbell *)((uint8_t *)base + (end - start))
                                 : NULL;
        m->client = c;
        m->view_id = origin->view_id;
        m->conn_gen = origin->conn_gen;
        m->writable = writable;
        m->segment_id = origin->segment_id;
        m->offset = offset;
        m->length = length;
        strcpy(m->name, origin->name);
        shmv__client_ref(c);
        shmv__client_add_mapping(c, m);

        v->mapping = m;
        v->buf = length > 0 ? (uint8_t *)base + (offset - start) : &empty_byte;
        v->len = (size_t)length;
        v->stride = 1;
        v->itemsize = 1;
        v->format[0] = 'B';
        v->readonly = !writable;
        v->ndim = 1;
        v->inner = 1;
        *ret = v;
        return 0;

fail:
        free(v);
        free(m);
        return r;
}

shmv__mapping *shmv__view_mapping(const shmv_view *v)
{
        return v->mapping;
}

struct shmv__doorbell *shmv__view_doorbell(const shmv_view *v)
{
        return v->mapping->doorbell;
}

void shmv_view_release(shmv_view *view)
{
        if (!view)
                return;
        mapping_unref(view->mapping);
        free(view);
}

/* A new handle over v's memory with ndim dimensions, holding its own reference on the mapping:
 * v's copy when ndim is v's, else with only v's first-dimension fields (the caller sets the
 * others). */
static shmv_view *view_derive(const shmv_view *v, unsigned ndim)
{
        shmv_view *n = malloc(view_size(ndim));

        if (!n)
                return NULL;
        memcpy(n, v, view_size(ndim == v->ndim ? ndim : 1));
        n->ndim = ndim;
        atomic_fetch_add_explicit(&v->mapping->refs, 1, memory_order_relaxed);
        return n;
}

static shmv_view *view_dup(const shmv_view *v)
{
        return view_derive(v, v->ndim);
}

const char *shmv_view_name(const shmv_view *v)
{
        if (!v) {
                errno = EINVAL;
                return NULL;
        }
        return v->mapping->name;
}

size_t shmv_view_len(const shmv_view *v)
{
        return v && v->ndim > 0 ? v->len : 0;
}

size_t shmv_view_nbytes(const shmv_view *v)
{
        return v ? nitems(v) * v->itemsize : 0;
}

size_t shmv_view_itemsize(const shmv_view *v)
{
        return v ? v->itemsize : 0;
}

const char *shmv_view_format(const shmv_view *v)
{
        return v ? v->format : NULL;
}

ptrdiff_t shmv_view_stride(const shmv_view *v)
{
        return v ? v->stride : 0;
}

size_t shmv_view_ndim(const shmv_view *v)
{
        return v ? v->ndim : 0;
}

size_t shmv_view_shape(const shmv_view *v, size_t dim)
{
        return v && dim < v->ndim ? dim_shape(v, (unsigned)dim) : 0;
}

ptrdiff_t shmv_view_strides(const shmv_view *v, size_t dim)
{
        return v && dim < v->ndim ? dim_stride(v, (unsigned)dim) : 0;
}

bool shmv_view_readonly(const shmv_view *v)
{
        return v ? v->readonly : true;
}

/* memoryview's C-contiguity flag (init_flags()): in one dimension, one item or adjacent items
 * (so an empty stepped slice is not contiguous); in more, PyBuffer_IsContiguous(, 'C'), for
 * which no items at all is contiguous. */
static bool is_contiguous(const shmv_view *v)
{
        ptrdiff_t expect = (ptrdiff_t)v->itemsize;

        if (v->ndim == 1)
                return v->len == 1 || v->stride == expect;
        if (nitems(v) == 0)
                return true;
        for (unsigned d = v->ndim; d-- > 0;) {
                size_t n = dim_shape(v, d);
                if (n > 1 && dim_stride(v, d) != expect)
                        return false;
                expect *= (ptrdiff_t)n;
        }
        return true;
}

/* The same in Fortran order (memoryview.f_contiguous). */
static bool is_f_contiguous(const shmv_view *v)
{
        ptrdiff_t expect = (ptrdiff_t)v->itemsize;

        if (v->ndim == 1)
                return is_contiguous(v);
        if (nitems(v) == 0)
                return true;
        for (unsigned d = 0; d < v->ndim; d++) {
                size_t n = dim_shape(v, d);
                if (n > 1 && dim_stride(v, d) != expect)
                        return false;
                expect *= (ptrdiff_t)n;
        }
        return true;
}

bool shmv_view_f_contiguous(const shmv_view *v)
{
        return v ? is_f_contiguous(v) : false;
}

/* Walks the items of a view in C order (last index fastest): cursor_next() returns the
 * address of one item after another, nitems() times. Addresses are computed as integers:
 * one step past the last item may point outside the mapping. */
typedef struct cursor {
        const shmv_view *v;
        uintptr_t p;
        size_t idx[SHMV_MAX_NDIM];
} cursor;

static void cursor_init(cursor *c, const shmv_view *v)
{
        c->v = v;
        c->p = (uintptr_t)v->buf;
        memset(c->idx, 0, v->ndim * sizeof(c->idx[0]));
}

static uint8_t *cursor_next(cursor *c)
{
        const shmv_view *v = c->v;
        uintptr_t cur = c->p;

        for (unsigned d = v->ndim; d-- > 0;) {
                ptrdiff_t st = dim_stride(v, d);
                if (++c->idx[d] < dim_shape(v, d)) {
                        c->p += (uintptr_t)st;
                        break;
                }
                c->p -= (uintptr_t)(st * (ptrdiff_t)(c->idx[d] - 1));
                c->idx[d] = 0;
        }
        return (uint8_t *)cur;
}

bool shmv_view_contiguous(const shmv_view *v)
{
        return v ? is_contiguous(v) : false;
}

const void *shmv_view_data(const shmv_view *v)
{
        if (!v) {
                errno = EINVAL;
                return NULL;
        }
        return v->buf;
}

/* -EROFS for a write through read-only v, with a message that says which view and why. */
static int refuse_write(const shmv_view *v)
{
        const shmv__mapping *m = v->mapping;

        return shmv__error_setf(-EROFS,
                                "cannot write through a read-only view of '%s' [%" PRIu64
                                ", %" PRIu64 "): %s",
                                m->name, m->offset, m->offset + m->length,
                                m->writable ? "made by toreadonly()" : "opened without SHMV_WRITE");
}

int shmv_view_data_mut(shmv_view *v, void **ret)
{
        if (!v || !ret)
                return -EINVAL;
        if (v->readonly)
                return refuse_write(v);
        *ret = v->buf;
        return 0;
}

/* Resolves one index per dimension, possibly negative, to the address of its item: -ERANGE
 * when one is out of range, -ENOTSUP for fewer indices than dimensions (memoryview's
 * "sub-views are not implemented"), -EINVAL for more. */
static int item_ptr(const shmv_view *v, const ptrdiff_t *index, size_t n, uint8_t **ret)
{
        uintptr_t p = (uintptr_t)v->buf;

        if (n < v->ndim)
                return -ENOTSUP;
        if (n > v->ndim)
                return -EINVAL;
        for (unsigned d = 0; d < v->ndim; d++) {
                ptrdiff_t i = index[d], len = (ptrdiff_t)dim_shape(v, d);
                if (i < 0)
                        i += len;
                if (i < 0 || i >= len)
                        return -ERANGE;
                p += (uintptr_t)(i * dim_stride(v, d));
        }
        *ret = (uint8_t *)p;
        return 0;
}

int shmv_view_get_at(const shmv_view *v, const ptrdiff_t *index, size_t n, void *ret_item)
{
        uint8_t *p;
        int r;

        if (!v || !ret_item || (!index && n > 0))
                return -EINVAL;
        r = item_ptr(v, index, n, &p);
        if (r < 0)
                return r;
        memcpy(ret_item, p, v->itemsize);
        return 0;
}

int shmv_view_get(const shmv_view *v, ptrdiff_t index, void *ret_item)
{
        return shmv_view_get_at(v, &index, 1, ret_item);
}

int shmv_view_set_at(shmv_view *v, const ptrdiff_t *index, size_t n, const void *item)
{
        uint8_t *p;
        int r;

        if (!v || !item || (!index && n > 0))
                return -EINVAL;
        /* As memory_ass_sub(): read-only is reported before the index is looked at. */
        if (v->readonly)
                return refuse_write(v);
        r = item_ptr(v, index, n, &p);
        if (r < 0)
                return r;
        memcpy(p, item, v->itemsize);
        return 0;
}

int shmv_view_set(shmv_view *v, ptrdiff_t index, const void *item)
{
        return shmv_view_set_at(v, &index, 1, item);
}

/* PySlice_AdjustIndices(): clamps start and stop to length and returns the slice length. */
static ptrdiff_t adjust_indices(ptrdiff_t length, ptrdiff_t *start, ptrdiff_t *stop, ptrdiff_t step)
{
        if (*start < 0) {
                *start += length;
                if (*start < 0)
                        *start = step < 0 ? -1 : 0;
        } else if (*start >= length) {
                *start = step < 0 ? length - 1 : length;
        }

        if (*stop < 0) {
                *stop += length;
                if (*stop < 0)
                        *stop = step < 0 ? -1 : 0;
        } else if (*stop >= length) {
                *stop = step < 0 ? length - 1 : length;
        }

        if (step < 0) {
                if (*stop < *start)
                        return (*start - *stop - 1) / -step + 1;
        } else if (*start < *stop) {
                return (*stop - *start - 1) / step + 1;
        }
        return 0;
}

int shmv_view_slice(const shmv_view *v, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step,
                    shmv_view **ret)
{
        shmv_view *n;
        ptrdiff_t len, stride;

        /* A zero-dimensional view has nothing to slice (memoryview: "invalid indexing"). */
        if (!v || !ret || v->ndim == 0)
                return -EINVAL;

        /* PySlice_Unpack(). SHMV_NONE is PTRDIFF_MIN, so step is never -PTRDIFF_MAX - 1. */
        if (step == SHMV_NONE)
                step = 1;
        else if (step == 0)
                return -EINVAL;
        if (start == SHMV_NONE)
                start = step < 0 ? PTRDIFF_MAX : 0;
        if (stop == SHMV_NONE)
                stop = step < 0 ? PTRDIFF_MIN : PTRDIFF_MAX;

        len = adjust_indices((ptrdiff_t)v->len, &start, &stop, step);

        /* stride * step cannot overflow when two or more items are selected: both items lie in
         * the mapping. With fewer the stride means nothing (CPython multiplies regardless, with
         * undefined overflow); keep the parent's, with the step's sign. */
        if (__builtin_mul_overflow(v->stride, step, &stride))
                stride = step < 0 ? -v->stride : v->stride;

        n = view_dup(v);
        if (!n)
                return -ENOMEM;
        /* An empty slice may start one item before or after the parent's range, as in CPython;
         * that address is never dereferenced, so compute it without pointer arithmetic. */
        n->buf = (uint8_t *)((uintptr_t)v->buf + (uintptr_t)(start * v->stride));
        n->len = (size_t)len;
        n->stride = stride;
        *ret = n;
        return 0;
}

/* Lowest and one past the highest byte address the items of v occupy (nitems > 0). */
static void view_extent(const shmv_view *v, uintptr_t *ret_lo, uintptr_t *ret_hi)
{
        uintptr_t lo = (uintptr_t)v->buf, hi = lo;

        for (unsigned d = 0; d < v->ndim; d++) {
                ptrdiff_t span = (ptrdiff_t)(dim_shape(v, d) - 1) * dim_stride(v, d);
                if (span < 0)
                        lo -= (uintptr_t)-span;
                else
                        hi += (uintptr_t)span;
        }
        *ret_lo = lo;
        *ret_hi = hi + v->itemsize;
}

int shmv_view_write(shmv_view *v, const void *src, size_t len)
{
        const uint8_t *s = src;
        uint8_t *tmp = NULL;
        uintptr_t lo, hi;

        if (!v || (!src && len > 0))
                return -EINVAL;
        if (v->readonly)
                return refuse_write(v);
        if (len != nitems(v) * v->itemsize)
                return -EINVAL;
        if (len == 0)
                return 0;

        if (is_contiguous(v)) {
                memmove(v->buf, src, len);
                return 0;
        }

        /* Scattering item by item would read source bytes already overwritten: copy first. */
        view_extent(v, &lo, &hi);
        if ((uintptr_t)s < hi && lo < (uintptr_t)s + len) {
                tmp = malloc(len);
                if (!tmp)
                        return -ENOMEM;
                memcpy(tmp, src, len);
                s = tmp;
        }
        if (v->ndim == 1) {
                for (size_t i = 0; i < v->len; i++, s += v->itemsize)
                        memcpy(v->buf + (ptrdiff_t)i * v->stride, s, v->itemsize);
        } else {
                cursor cur;
                cursor_init(&cur, v);
                for (size_t i = nitems(v); i > 0; i--, s += v->itemsize)
                        memcpy(cursor_next(&cur), s, v->itemsize);
        }
        free(tmp);
        return 0;
}

/* Copies the items of v in logical order to dst, which holds nbytes. */
static void gather(const shmv_view *v, uint8_t *dst)
{
        cursor cur;

        if (is_contiguous(v)) {
                memmove(dst, v->buf, nitems(v) * v->itemsize);
                return;
        }
        if (v->ndim > 1) {
                cursor_init(&cur, v);
                for (size_t i = nitems(v); i > 0; i--, dst += v->itemsize)
                        memcpy(dst, cursor_next(&cur), v->itemsize);
                return;
        }
        if (v->itemsize == 1) {
                for (size_t i = 0; i < v->len; i++)
                        dst[i] = v->buf[(ptrdiff_t)i * v->stride];
                return;
        }
        for (size_t i = 0; i < v->len; i++, dst += v->itemsize)
                memcpy(dst, v->buf + (ptrdiff_t)i * v->stride, v->itemsize);
}

int shmv_view_tobytes(const shmv_view *v, void *dst, size_t dst_len)
{
        if (!v || (!dst && dst_len > 0))
                return -EINVAL;
        if (dst_len < nitems(v) * v->itemsize)
                return -ENOBUFS;
        if (nitems(v) > 0)
                gather(v, dst);
        return 0;
}

/* The group size of bytes.hex(sep, bytes_per_sep): 0 for no separators. */
static size_t hex_group(char sep, int bytes_per_sep)
{
        if (sep == '\0' || bytes_per_sep == 0)
                return 0;
        /* Through unsigned arithmetic, so that INT_MIN has a magnitude too. */
        return bytes_per_sep < 0 ? 0u - (unsigned)bytes_per_sep : (unsigned)bytes_per_sep;
}

size_t shmv_view_hex_size(const shmv_view *v, char sep, int bytes_per_sep)
{
        size_t n, group;

        if (!v)
                return 0;
        n = nitems(v) * v->itemsize;
        group = hex_group(sep, bytes_per_sep);
        return 2 * n + (group > 0 && n > 0 ? (n - 1) / group : 0) + 1;
}

int shmv_view_hex(const shmv_view *v, char *dst, size_t dst_len, char sep, int bytes_per_sep)
{
        static const char digits[] = "0123456789abcdef";
        size_t n, group, k = 0;
        char *p = dst;
        cursor cur;

        if (!v || (!dst && dst_len > 0))
                return -EINVAL;
        /* bytes.hex() returns str: its separator must be ASCII. */
        if ((unsigned char)sep > 127)
                return -EINVAL;
        if (dst_len < shmv_view_hex_size(v, sep, bytes_per_sep))
                return -ENOBUFS;

        n = nitems(v) * v->itemsize;
        group = hex_group(sep, bytes_per_sep);
        cursor_init(&cur, v);
        /* Groups count from the right for a positive bytes_per_sep, from the left otherwise. */
        for (size_t i = nitems(v); i > 0; i--) {
                const uint8_t *item = cursor_next(&cur);
                for (size_t b = 0; b < v->itemsize; b++, k++) {
                        if (group > 0 && k > 0 &&
                            (bytes_per_sep > 0 ? (n - k) % group : k % group) == 0)
                                *p++ = sep;
                        *p++ = digits[item[b] >> 4];
                        *p++ = digits[item[b] & 15];
                }
        }
        *p = '\0';
        return 0;
}

/* sizeof the native type of a struct format character, 0 when unsupported. */
static size_t native_itemsize(char c)
{
        switch (c) {
        case 'b':
        case 'B':
        case 'c':
                return sizeof(char);
        case '?':
                return sizeof(_Bool);
        case 'h':
        case 'H':
                return sizeof(short);
        case 'i':
        case 'I':
                return sizeof(int);
        case 'l':
        case 'L':
                return sizeof(long);
        case 'q':
        case 'Q':
                return sizeof(long long);
        case 'n':
        case 'N':
                return sizeof(ssize_t);
        case 'f':
                return sizeof(float);
        case 'd':
                return sizeof(double);
        case 'P':
                return sizeof(void *);
        default:
                return 0;
        }
}

static bool is_byte_format(char c)
{
        return c == 'b' || c == 'B' || c == 'c';
}

/* memory_cast(), cast_to_1D() and cast_to_ND(): their checks in their order. Without
 * with_shape a cast to one dimension; with it, to ndim (0 for a single item, shape unread). */
static int cast(const shmv_view *v, const char *format, const size_t *shape, size_t ndim,
                bool with_shape, shmv_view **ret)
{
        shmv_view *n;
        size_t itemsize, nbytes, product = 1;
        const char *f;

        if (!v || !format || !ret || (with_shape && !shape && ndim > 0))
                return -EINVAL;
        if (!is_contiguous(v))
                return -EINVAL;
        if ((with_shape || v->ndim != 1) && nitems(v) == 0)
                return -EINVAL; /* zeros in the shape */
        if (!with_shape)
                ndim = 1;
        if (ndim > SHMV_MAX_NDIM || (v->ndim != 1 && ndim != 1))
                return -EINVAL;
        f = format[0] == '@' ? format + 1 : format;
        itemsize = native_itemsize(f[0]);
        if (itemsize == 0 || f[1] != '\0')
                return -EINVAL;
        if (!is_byte_format(fmtchar(v)) && !is_byte_format(f[0]))
                return -EINVAL;
        nbytes = nitems(v) * v->itemsize;
        if (nbytes % itemsize != 0)
                return -EINVAL;
        for (size_t d = 0; with_shape && d < ndim; d++)
                if (shape[d] == 0 || __builtin_mul_overflow(product, shape[d], &product) ||
                    product > PTRDIFF_MAX)
                        return -EINVAL;
        if (with_shape && product * itemsize != nbytes)
                return -EINVAL;

        n = view_derive(v, (unsigned)ndim);
        if (!n)
                return -ENOMEM;
        n->itemsize = itemsize;
        strcpy(n->format, format);
        n->len = !with_shape ? nbytes / itemsize : ndim > 0 ? shape[0] : 1;
        n->inner = 1;
        /* C order: the last index moves by one item. */
        for (size_t d = ndim; d-- > 1;) {
                n->dims[d - 1] = (ptrdiff_t)shape[d];
                n->dims[ndim - 1 + d - 1] = (ptrdiff_t)(n->inner * itemsize);
                n->inner *= shape[d];
        }
        n->stride = (ptrdiff_t)(n->inner * itemsize);
        *ret = n;
        return 0;
}

int shmv_view_cast(const shmv_view *v, const char *format, shmv_view **ret)
{
        return cast(v, format, NULL, 0, false, ret);
}

int shmv_view_cast_shape(const shmv_view *v, const char *format, const size_t *shape, size_t ndim,
                         shmv_view **ret)
{
        return cast(v, format, shape, ndim, true, ret);
}

int shmv_view_toreadonly(const shmv_view *v, shmv_view **ret)
{
        shmv_view *n;

        if (!v || !ret)
                return -EINVAL;
        n = view_dup(v);
        if (!n)
                return -ENOMEM;
        n->readonly = true;
        *ret = n;
        return 0;
}

/* struct.unpack() of one native item; the pointer may be unaligned. */
static shmv_item unpack(char format, const uint8_t *p)
{
        shmv_item it = {.format = format};

#define LOAD(type, field)                   \
        do {                                \
                type x_;                    \
                memcpy(&x_, p, sizeof(x_)); \
                it.field = x_;              \
        } while (0)

        switch (format) {
        case 'b':
                LOAD(signed char, i);
                break;
        case 'B':
                LOAD(unsigned char, u);
                break;
        case 'h':
                LOAD(short, i);
                break;
        case 'H':
                LOAD(unsigned short, u);
                break;
        case 'i':
                LOAD(int, i);
                break;
        case 'I':
                LOAD(unsigned int, u);
                break;
        case 'l':
                LOAD(long, i);
                break;
        case 'L':
                LOAD(unsigned long, u);
                break;
        case 'q':
                LOAD(long long, i);
                break;
        case 'Q':
                LOAD(unsigned long long, u);
                break;
        case 'n':
                LOAD(ssize_t, i);
                break;
        case 'N':
                LOAD(size_t, u);
                break;
        case 'f':
                LOAD(float, f);
                break;
        case 'd':
                LOAD(double, f);
                break;
        case 'P':
                LOAD(uintptr_t, u);
                break;
        /* Any non-zero byte is True, as struct's native '?' unpacking; read as a byte since
         * loading other values into a _Bool is undefined. */
        case '?':
                it.b = *p != 0;
                break;
        case 'c':
                it.c = (char)*p;
                break;
        }
#undef LOAD
        return it;
}

enum kind { KIND_INT, KIND_UINT, KIND_FLOAT, KIND_BYTES };

static enum kind item_kind(const shmv_item *it)
{
        switch (it->format) {
        case 'B':
        case 'H':
        case 'I':
        case 'L':
        case 'Q':
        case 'N':
        case 'P':
                return KIND_UINT;
        case 'f':
        case 'd':
                return KIND_FLOAT;
        case 'c':
                return KIND_BYTES;
        default: /* b h i l q n, and ? as Python's bool is an int */
                return KIND_INT;
        }
}

static int64_t item_int(const shmv_item *it)
{
        return it->format == '?' ? (int64_t)it->b : it->i;
}

/* Python's exact comparison of a float with an int: 2**64 - 1 != 2.0**64. */
static bool float_eq_int(double d, int64_t i)
{
        /* [-2**63, 2**63): the doubles that convert to int64_t without overflow. */
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
                return false;
        return (int64_t)d == i && (double)(int64_t)d == d;
}

static bool float_eq_uint(double d, uint64_t u)
{
        if (!(d >= 0.0 && d < 18446744073709551616.0))
                return false;
        return (uint64_t)d == u && (double)(uint64_t)d == d;
}

/* Python's == between the objects two items unpack to. */
static bool item_equal(const shmv_item *a, const shmv_item *b)
{
        enum kind ka = item_kind(a), kb = item_kind(b);

        /* Order the pair so that ka <= kb. */
        if (ka > kb) {
                const shmv_item *t = a;
                enum kind kt = ka;
                a = b;
                b = t;
                ka = kb;
                kb = kt;
        }
        /* A 'c' item is a bytes object of length 1: equal only to another one. */
        if (kb == KIND_BYTES)
                return ka == KIND_BYTES && a->c == b->c;
        switch (ka) {
        case KIND_INT:
                switch (kb) {
                case KIND_INT:
                        return item_int(a) == item_int(b);
                case KIND_UINT:
                        return item_int(a) >= 0 && (uint64_t)item_int(a) == b->u;
                default:
                        return float_eq_int(b->f, item_int(a));
                }
        case KIND_UINT:
                if (kb == KIND_UINT)
                        return a->u == b->u;
                return float_eq_uint(b->f, a->u);
        default:
                return a->f == b->f;
        }
}

int shmv_view_equal(const shmv_view *a, const shmv_view *b)
{
        cursor ca, cb;
        char fa, fb;
        bool raw;

        if (!a || !b)
                return -EINVAL;
        /* memoryview's equiv_shape(): the same dimensions, up to the first empty one. */
        if (a->ndim != b->ndim)
                return 0;
        for (unsigned d = 0; d < a->ndim; d++) {
                if (dim_shape(a, d) != dim_shape(b, d))
                        return 0;
                if (dim_shape(a, d) == 0)
                        break;
        }
        fa = fmtchar(a);
        fb = fmtchar(b);
        /* Equal integer or 'c' items are equal exactly when their bytes are; floats (NaN, -0.0)
         * and '?' (any non-zero byte is True) need unpacking. */
        raw = fa == fb && fa != 'f' && fa != 'd' && fa != '?';
        if (raw && is_contiguous(a) && is_contiguous(b))
                return memcmp(a->buf, b->buf, nitems(a) * a->itemsize) == 0;
        cursor_init(&ca, a);
        cursor_init(&cb, b);
        for (size_t i = nitems(a); i > 0; i--) {
                const uint8_t *x = cursor_next(&ca), *y = cursor_next(&cb);
                if (raw) {
                        if (memcmp(x, y, a->itemsize) != 0)
                                return 0;
                } else {
                        shmv_item ix = unpack(fa, x), iy = unpack(fb, y);
                        if (!item_equal(&ix, &iy))
                                return 0;
                }
        }
        return 1;
}

int shmv_view_item_at(const shmv_view *v, const ptrdiff_t *index, size_t n, shmv_item *ret)
{
        uint8_t *p;
        int r;

        if (!v || !ret || (!index && n > 0))
                return -EINVAL;
        r = item_ptr(v, index, n, &p);
        if (r < 0)
                return r;
        *ret = unpack(fmtchar(v), p);
        return 0;
}

int shmv_view_item(const shmv_view *v, ptrdiff_t index, shmv_item *ret)
{
        return shmv_view_item_at(v, &index, 1, ret);
}

int shmv_view_tolist(const shmv_view *v, shmv_item *ret, size_t ret_len)
{
        cursor cur;

        if (!v || (!ret && ret_len > 0))
                return -EINVAL;
        if (ret_len < nitems(v))
                return -ENOBUFS;
        cursor_init(&cur, v);
        for (size_t i = 0; i < nitems(v); i++)
                ret[i] = unpack(fmtchar(v), cursor_next(&cur));
        return 0;
}

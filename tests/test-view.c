/* Views against a real daemon: Python memoryview semantics (indexing, slicing, slice
 * assignment, tobytes, hex, cast, casts with a shape, toreadonly, ==, tolist), mapping lifetimes,
 * page-unaligned ranges and the kernel's refusal to write through a read-only view. */
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/seccomp.h>

#include "harness.h"

#define RW (SHMV_READ | SHMV_WRITE)

static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

static size_t page_size(void)
{
        return (size_t)sysconf(_SC_PAGESIZE);
}

/* Creates a segment with a unique name (name holds 64 bytes). */
static void seg_create(shmv_client *c, char *name, const char *prefix, uint64_t size, uint32_t mode)
{
        snprintf(name, 64, "%s", th_name(prefix));
        CHECK_OK(shmv_segment_create(c, name, size, mode));
}

static shmv_view *view_open(shmv_client *c, const char *name, uint64_t offset, uint64_t length,
                            int flags)
{
        shmv_view *v = NULL;
        CHECK_OK(shmv_view_open(c, name, offset, length, flags, &v));
        CHECK(v != NULL);
        return v;
}

static shmv_view *slice(const shmv_view *v, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step)
{
        shmv_view *s = NULL;
        CHECK_OK(shmv_view_slice(v, start, stop, step, &s));
        return s;
}

static shmv_view *cast(const shmv_view *v, const char *format)
{
        shmv_view *s = NULL;
        CHECK_OK(shmv_view_cast(v, format, &s));
        return s;
}

static shmv_view *readonly_copy(const shmv_view *v)
{
        shmv_view *s = NULL;
        CHECK_OK(shmv_view_toreadonly(v, &s));
        return s;
}

static uint8_t get_byte(const shmv_view *v, ptrdiff_t i)
{
        uint8_t b = 0;
        CHECK_EQ(shmv_view_itemsize(v), 1);
        CHECK_OK(shmv_view_get(v, i, &b));
        return b;
}

static uint32_t views_open(shmv_client *c, const char *name, bool writable)
{
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info));
        return writable ? info.views_rw : info.views_ro;
}

/* The bounds of the mapping of this process that contains addr; false when none does. */
static bool mapping_range(const void *addr, unsigned long *ret_lo, unsigned long *ret_hi)
{
        FILE *f = fopen("/proc/self/maps", "re");
        char line[512];
        bool found = false;
        CHECK(f != NULL);
        while (!found && fgets(line, sizeof(line), f)) {
                unsigned long lo, hi;
                if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && (uintptr_t)addr >= lo &&
                    (uintptr_t)addr < hi) {
                        *ret_lo = lo;
                        *ret_hi = hi;
                        found = true;
                }
        }
        fclose(f);
        return found;
}

/* Size of the mapping of this process that contains addr, 0 when none does. */
static size_t mapping_size(const void *addr)
{
        unsigned long lo, hi;
        return mapping_range(addr, &lo, &hi) ? hi - lo : 0;
}

/* Whether the page holding addr is mapped: mincore() fails with ENOMEM on unmapped pages. */
static bool page_mapped(const void *addr)
{
        unsigned char vec;
        void *page = (void *)((uintptr_t)addr & ~(uintptr_t)(page_size() - 1));
        if (mincore(page, page_size(), &vec) == 0)
                return true;
        CHECK_EQ(errno, ENOMEM);
        return false;
}

/* The seed: Python 2.7's memoryview session, with a segment for the string and the bytearray. */
static void seed_child(void *arg)
{
        const char *name = arg;
        shmv_client *c = th_connect();
        shmv_view *v = view_open(c, name, 0, 5, SHMV_READ);
        char buf[5];
        CHECK_OK(shmv_view_tobytes(v, buf, sizeof(buf)));
        CHECK_MEM(buf, "*bcde", 5);
        shmv_view_release(v);
        shmv_disconnect(c);
}

static void test_seed_session(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "seed", 52, 0);
        shmv_view *w = view_open(c, name, 0, SHMV_TO_END, RW);
        CHECK_OK(shmv_view_write(w, letters, 52));

        shmv_view *m = view_open(c, name, 0, SHMV_TO_END, SHMV_READ);
        CHECK_EQ(shmv_view_len(m), 52);
        CHECK(shmv_view_readonly(m));
        CHECK_STR(shmv_view_format(m), "B");
        CHECK_EQ(get_byte(m, 0), 'a');
        CHECK_EQ(get_byte(m, 25), 'z');
        CHECK_EQ(get_byte(m, 26), 'A');

        shmv_view *m2 = slice(m, 0, 26, SHMV_NONE);
        char bytes[26];
        CHECK_OK(shmv_view_tobytes(m2, bytes, sizeof(bytes)));
        CHECK_MEM(bytes, "abcdefghijklmnopqrstuvwxyz", 26);
        shmv_item list[26];
        CHECK_OK(shmv_view_tolist(m2, list, 26));
        for (int i = 0; i < 26; i++) {
                CHECK_EQ(list[i].format, 'B');
                CHECK_EQ(list[i].u, (uint64_t)(97 + i));
        }

        uint8_t b = 75;
        CHECK_RC(shmv_view_set(m2, 0, &b), -EROFS);
        CHECK_STR(shmv_strerror(-EROFS), "cannot modify read-only memory");
        CHECK_EQ(get_byte(m, 0), 'a');

        b = '*';
        CHECK_OK(shmv_view_set(w, 0, &b));
        CHECK_EQ(th_in_child(seed_child, name), 0);
        /* MAP_SHARED: the read-only views of this process see it too. */
        CHECK_EQ(get_byte(m2, 0), '*');

        shmv_view_release(m2);
        shmv_view_release(m);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static void test_index(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "index", 10, 0);
        shmv_view *v = view_open(c, name, 0, SHMV_TO_END, RW);
        CHECK_OK(shmv_view_write(v, "0123456789", 10));

        CHECK_EQ(get_byte(v, 0), '0');
        CHECK_EQ(get_byte(v, 9), '9');
        CHECK_EQ(get_byte(v, -1), '9');
        CHECK_EQ(get_byte(v, -10), '0');
        CHECK_EQ(get_byte(v, -3), '7');
        uint8_t b = 'x';
        const ptrdiff_t bad[] = {10, 11, -11, -12, PTRDIFF_MAX, PTRDIFF_MIN, PTRDIFF_MIN + 1};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                shmv_item it;
                CHECK_RC(shmv_view_get(v, bad[i], &b), -ERANGE);
                CHECK_RC(shmv_view_set(v, bad[i], &b), -ERANGE);
                CHECK_RC(shmv_view_item(v, bad[i], &it), -ERANGE);
        }
        CHECK_EQ(b, 'x');
        CHECK_STR(shmv_strerror(-ERANGE), "index out of range");

        CHECK_OK(shmv_view_set(v, -1, &b));
        CHECK_OK(shmv_view_set(v, -10, &b));
        CHECK_OK(shmv_view_set(v, 4, &b));
        CHECK_MEM(shmv_view_data(v), "x123x5678x", 10);

        shmv_item it;
        CHECK_OK(shmv_view_item(v, -2, &it));
        CHECK_EQ(it.format, 'B');
        CHECK_EQ(it.u, '8');

        /* Read-only: refused before the index is looked at, as memory_ass_sub() does. */
        shmv_view *r = view_open(c, name, 0, SHMV_TO_END, SHMV_READ);
        CHECK_RC(shmv_view_set(r, 0, &b), -EROFS);
        CHECK_RC(shmv_view_set(r, 100, &b), -EROFS);
        CHECK_EQ(get_byte(r, 1), '1');

        /* A one-item view and an empty one. */
        shmv_view *one = slice(v, 3, 4, SHMV_NONE);
        CHECK_EQ(get_byte(one, 0), '3');
        CHECK_EQ(get_byte(one, -1), '3');
        CHECK_RC(shmv_view_get(one, 1, &b), -ERANGE);
        CHECK_RC(shmv_view_get(one, -2, &b), -ERANGE);
        shmv_view *none = slice(v, 5, 5, SHMV_NONE);
        CHECK_EQ(shmv_view_len(none), 0);
        CHECK_RC(shmv_view_get(none, 0, &b), -ERANGE);
        CHECK_RC(shmv_view_get(none, -1, &b), -ERANGE);
        CHECK_RC(shmv_view_set(none, 0, &b), -ERANGE);

        shmv_view_release(none);
        shmv_view_release(one);
        shmv_view_release(r);
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* Python's slice rules, from the language reference rather than from CPython's code: the
 * indices of range(n)[start:stop:step] into out. Returns how many. */
static size_t ref_slice(size_t n, ptrdiff_t start, ptrdiff_t stop, ptrdiff_t step, ptrdiff_t *out)
{
        ptrdiff_t len = (ptrdiff_t)n;
        ptrdiff_t k = step == SHMV_NONE ? 1 : step;
        /* The bounds "reduced" to: [0, len] going forwards, [-1, len - 1] going backwards. */
        ptrdiff_t lo = k > 0 ? 0 : -1, hi = k > 0 ? len : len - 1;
        ptrdiff_t i, j;
        size_t count = 0;

        if (start == SHMV_NONE) {
                i = k > 0 ? lo : hi;
        } else {
                i = start < 0 ? start + len : start;
                i = i < lo ? lo : i > hi ? hi : i;
        }
        if (stop == SHMV_NONE) {
                j = k > 0 ? hi : lo;
        } else {
                j = stop < 0 ? stop + len : stop;
                j = j < lo ? lo : j > hi ? hi : j;
        }
        for (ptrdiff_t x = i; k > 0 ? x < j : x > j;) {
                out[count++] = x;
                /* Stop before x + k could overflow. */
                if (k > 0 ? j - x <= k : x - j <= -k)
                        break;
                x += k;
        }
        return count;
}

/* The value a test view holds at each logical index. */
static int64_t item_value(const shmv_view *v, size_t i)
{
        shmv_item it;
        CHECK_OK(shmv_view_item(v, (ptrdiff_t)i, &it));
        switch (it.format) {
        case 'B':
                return (int64_t)it.u;
        case 'i':
                return it.i;
        default:
                th_fail(__FILE__, __LINE__, "unexpected format %c", it.format);
        }
}

/* clang-format off */
static const ptrdiff_t bounds[] = {
        SHMV_NONE, PTRDIFF_MIN + 1, PTRDIFF_MIN + 2, -PTRDIFF_MAX / 2, -100, -13, -12, -11, -10, -9,
        -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 100,
        PTRDIFF_MAX / 2, PTRDIFF_MAX - 1, PTRDIFF_MAX,
};
/* clang-format on */

/* clang-format off */
static const ptrdiff_t steps[] = {
        SHMV_NONE, PTRDIFF_MIN + 1, -PTRDIFF_MAX / 3, -100, -12, -11, -10, -9, -8, -7, -6, -5, -4,
        -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 100, PTRDIFF_MAX / 3, PTRDIFF_MAX,
};
/* clang-format on */

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Checks one slice of v (whose items are vals[0..n)) against the reference. */
static void check_one_slice(const shmv_view *v, const int64_t *vals, size_t n, ptrdiff_t start,
                            ptrdiff_t stop, ptrdiff_t step, bool nest);

/* Every start/stop/step combination on v against the reference; nest: also slice the results. */
static void check_all_slices(const shmv_view *v, bool nest)
{
        size_t n = shmv_view_len(v);
        int64_t vals[64];
        CHECK_LE(n, 64);
        for (size_t i = 0; i < n; i++)
                vals[i] = item_value(v, i);
        for (size_t a = 0; a < NELEM(bounds); a++)
                for (size_t b = 0; b < NELEM(bounds); b++)
                        for (size_t s = 0; s < NELEM(steps); s++)
                                check_one_slice(v, vals, n, bounds[a], bounds[b], steps[s],
                                                nest && (a + b + s) % 193 == 0);
}

static void check_one_slice(const shmv_view *v, const int64_t *vals, size_t n, ptrdiff_t start,
                            ptrdiff_t stop, ptrdiff_t step, bool nest)
{
        ptrdiff_t idx[64];
        size_t count = ref_slice(n, start, stop, step, idx);
        shmv_view *s = slice(v, start, stop, step);
        size_t isz = shmv_view_itemsize(v);

        if (shmv_view_len(s) != count)
                th_fail(__FILE__, __LINE__, "len %zu [%td:%td:%td] is %zu, wanted %zu", n, start,
                        stop, step, shmv_view_len(s), count);
        CHECK_EQ(shmv_view_itemsize(s), isz);
        CHECK_EQ(shmv_view_nbytes(s), count * isz);
        CHECK_STR(shmv_view_format(s), shmv_view_format(v));
        CHECK_EQ(shmv_view_readonly(s), shmv_view_readonly(v));
        for (size_t m = 0; m < count; m++)
                CHECK_EQ(item_value(s, m), vals[idx[m]]);
        if (count > 0) {
                const uint8_t *d0 = shmv_view_data(v);
                CHECK_PTR_EQ(shmv_view_data(s), d0 + idx[0] * shmv_view_stride(v));
        }
        if (count > 1) {
                ptrdiff_t k = step == SHMV_NONE ? 1 : step;
                CHECK_EQ(shmv_view_stride(s), shmv_view_stride(v) * k);
                CHECK_EQ(shmv_view_contiguous(s), (shmv_view_stride(s) == (ptrdiff_t)isz));
        } else {
                /* memoryview's flag: one item is contiguous, none only with the item stride. */
                CHECK(shmv_view_contiguous(s) ==
                      (count == 1 || shmv_view_stride(s) == (ptrdiff_t)isz));
        }
        uint8_t bytes[64 * 4], want[64 * 4];
        CHECK_LE(count * isz, sizeof(bytes));
        CHECK_OK(shmv_view_tobytes(s, bytes, sizeof(bytes)));
        for (size_t m = 0; m < count; m++)
                CHECK_OK(shmv_view_get(v, idx[m], want + m * isz));
        CHECK_MEM(bytes, want, count * isz);
        if (nest) {
                int64_t svals[64];
                for (size_t m = 0; m < count; m++)
                        svals[m] = vals[idx[m]];
                for (size_t a = 0; a < NELEM(bounds); a += 3)
                        for (size_t b = 1; b < NELEM(bounds); b += 3)
                                for (size_t t = 0; t < NELEM(steps); t += 2)
                                        check_one_slice(s, svals, count, bounds[a], bounds[b],
                                                        steps[t], false);
        }
        shmv_view_release(s);
}

/* Slices computed by Python 3.11 (list(range(10))[start:stop:step]). */
static const struct {
        ptrdiff_t start, stop, step;
        const char *want;
} python_slices[] = {
        {SHMV_NONE, SHMV_NONE, SHMV_NONE, "0123456789"},
        {SHMV_NONE, SHMV_NONE, -1, "9876543210"},
        {SHMV_NONE, SHMV_NONE, 2, "02468"},
        {SHMV_NONE, SHMV_NONE, -2, "97531"},
        {0, 26, SHMV_NONE, "0123456789"},
        {2, 8, 3, "25"},
        {8, 2, -3, "85"},
        {-3, SHMV_NONE, SHMV_NONE, "789"},
        {SHMV_NONE, -3, SHMV_NONE, "0123456"},
        {-100, 100, SHMV_NONE, "0123456789"},
        {100, -100, -1, "9876543210"},
        {-100, 100, -1, ""},
        {100, -100, 1, ""},
        {PTRDIFF_MAX, SHMV_NONE, -1, "9876543210"},
        {-PTRDIFF_MAX, SHMV_NONE, SHMV_NONE, "0123456789"},
        {PTRDIFF_MAX, -PTRDIFF_MAX, -1, "9876543210"},
        {-PTRDIFF_MAX, PTRDIFF_MAX, 3, "0369"},
        {PTRDIFF_MAX, -PTRDIFF_MAX, -4, "951"},
        {5, 5, SHMV_NONE, ""},
        {5, 4, SHMV_NONE, ""},
        {4, 5, -1, ""},
        {3, SHMV_NONE, PTRDIFF_MAX, "3"},
        {SHMV_NONE, SHMV_NONE, PTRDIFF_MAX, "0"},
        {SHMV_NONE, SHMV_NONE, -PTRDIFF_MAX, "9"},
        {-1, SHMV_NONE, -PTRDIFF_MAX, "9"},
        {0, SHMV_NONE, -PTRDIFF_MAX, "0"},
        {-11, SHMV_NONE, -1, ""},
        {-10, SHMV_NONE, -1, "0"},
        {-11, SHMV_NONE, 1, "0123456789"},
        {9, SHMV_NONE, SHMV_NONE, "9"},
        {10, SHMV_NONE, SHMV_NONE, ""},
        {10, SHMV_NONE, -1, "9876543210"},
        {11, SHMV_NONE, -1, "9876543210"},
        {SHMV_NONE, -11, -1, "9876543210"},
        {SHMV_NONE, -10, -1, "987654321"},
        {SHMV_NONE, -9, -1, "98765432"},
        {SHMV_NONE, -11, 1, ""},
        {1, -1, SHMV_NONE, "12345678"},
        {-2, 1, -1, "8765432"},
        {SHMV_NONE, SHMV_NONE, 7, "07"},
        {SHMV_NONE, SHMV_NONE, -7, "92"},
        {SHMV_NONE, SHMV_NONE, 10, "0"},
        {SHMV_NONE, SHMV_NONE, -10, "9"},
        {SHMV_NONE, SHMV_NONE, 11, "0"},
};

static void test_slice_python(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "pyslice", 4096, 0);
        shmv_view *w = view_open(c, name, 0, 10, RW);
        CHECK_OK(shmv_view_write(w, "0123456789", 10));
        shmv_view *v = readonly_copy(w);
        for (size_t i = 0; i < NELEM(python_slices); i++) {
                shmv_view *s = slice(v, python_slices[i].start, python_slices[i].stop,
                                     python_slices[i].step);
                char got[16] = "";
                CHECK_OK(shmv_view_tobytes(s, got, sizeof(got) - 1));
                if (strcmp(got, python_slices[i].want) != 0)
                        th_fail(__FILE__, __LINE__, "[%td:%td:%td] gave \"%s\", wanted \"%s\"",
                                python_slices[i].start, python_slices[i].stop,
                                python_slices[i].step, got, python_slices[i].want);
                shmv_view_release(s);
        }
        shmv_view_release(v);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* Every slice of several views against the reference: lengths 0 to 12, read-only and writable,
 * one-byte and four-byte items (at an unaligned address), bases that are themselves reversed
 * or strided, and slices of slices. */
static void test_slice_reference(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "slices", 4096, 0);
        shmv_view *w = view_open(c, name, 0, SHMV_TO_END, RW);
        uint8_t pattern[256];
        for (int i = 0; i < 256; i++)
                pattern[i] = (uint8_t)i;
        shmv_view *head = slice(w, 0, 256, SHMV_NONE);
        CHECK_OK(shmv_view_write(head, pattern, sizeof(pattern)));
        shmv_view_release(head);

        const size_t lengths[] = {0, 1, 2, 3, 10};
        for (size_t i = 0; i < NELEM(lengths); i++) {
                shmv_view *v = view_open(c, name, 7, lengths[i], SHMV_READ);
                check_all_slices(v, lengths[i] == 10);
                shmv_view_release(v);
        }
        shmv_view *v = view_open(c, name, 0, 12, RW);
        check_all_slices(v, false);
        shmv_view *rev = slice(v, SHMV_NONE, SHMV_NONE, -1);
        check_all_slices(rev, false);
        shmv_view *odd = slice(v, 1, SHMV_NONE, 3);
        check_all_slices(odd, false);
        shmv_view_release(odd);
        shmv_view_release(rev);
        shmv_view_release(v);

        /* Twelve ints at an odd offset: items are copied with memcpy, never loaded in place. */
        int ints[12];
        for (int i = 0; i < 12; i++)
                ints[i] = 1000 + i;
        v = view_open(c, name, 1025, sizeof(ints), RW);
        CHECK_NE(((uintptr_t)shmv_view_data(v) & 3), 0);
        shmv_view *iv = cast(v, "i");
        CHECK_OK(shmv_view_write(iv, ints, sizeof(ints)));
        check_all_slices(iv, true);
        rev = slice(iv, -2, 0, -2);
        check_all_slices(rev, false);
        shmv_view_release(rev);
        shmv_view_release(iv);
        shmv_view_release(v);

        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static void test_slice_edges(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "sliceedge", 100, 0);
        shmv_view *v = view_open(c, name, 0, SHMV_TO_END, RW);
        shmv_view *s = NULL;

        CHECK_RC(shmv_view_slice(v, 0, 10, 0, &s), -EINVAL);
        CHECK_RC(shmv_view_slice(v, SHMV_NONE, SHMV_NONE, 0, &s), -EINVAL);
        CHECK_RC(shmv_view_slice(NULL, 0, 1, 1, &s), -EINVAL);
        CHECK_RC(shmv_view_slice(v, 0, 1, 1, NULL), -EINVAL);
        CHECK_NULL(s);

        const uint8_t *d = shmv_view_data(v);
        s = slice(v, SHMV_NONE, SHMV_NONE, -1);
        CHECK_EQ(shmv_view_len(s), 100);
        CHECK_EQ(shmv_view_stride(s), -1);
        CHECK_PTR_EQ(shmv_view_data(s), d + 99);
        CHECK(!shmv_view_contiguous(s));
        shmv_view_release(s);

        s = slice(v, SHMV_NONE, SHMV_NONE, 2);
        CHECK_EQ(shmv_view_len(s), 50);
        CHECK_EQ(shmv_view_stride(s), 2);
        CHECK(!shmv_view_contiguous(s));
        CHECK_PTR_EQ(shmv_view_data(s), d);
        shmv_view_release(s);

        /* Empty slices in all the ways Python makes them; each is an ordinary view. */
        const ptrdiff_t empty[][3] = {
                {5, 5, SHMV_NONE},
                {50, 10, SHMV_NONE},
                {10, 50, -1},
                {100, SHMV_NONE, 1},
                {PTRDIFF_MAX, PTRDIFF_MAX, 1},
                {-PTRDIFF_MAX, -PTRDIFF_MAX, -1},
                {-PTRDIFF_MAX, SHMV_NONE, -1},
                {SHMV_NONE, -PTRDIFF_MAX, 1},
                {PTRDIFF_MAX, SHMV_NONE, PTRDIFF_MAX},
        };
        for (size_t i = 0; i < NELEM(empty); i++) {
                s = slice(v, empty[i][0], empty[i][1], empty[i][2]);
                CHECK_EQ(shmv_view_len(s), 0);
                CHECK_EQ(shmv_view_nbytes(s), 0);
                CHECK_EQ(shmv_view_contiguous(s),
                         shmv_view_stride(s) == (ptrdiff_t)shmv_view_itemsize(s));
                CHECK(shmv_view_data(s) != NULL);
                CHECK_OK(shmv_view_tobytes(s, NULL, 0));
                CHECK_OK(shmv_view_write(s, NULL, 0));
                CHECK_RC(shmv_view_write(s, "x", 1), -EINVAL);
                char hex[4];
                CHECK_EQ(shmv_view_hex_size(s, ':', 1), 1);
                CHECK_OK(shmv_view_hex(s, hex, sizeof(hex), ':', 1));
                CHECK_STR(hex, "");
                shmv_view *t = slice(s, SHMV_NONE, SHMV_NONE, -1);
                CHECK_EQ(shmv_view_len(t), 0);
                shmv_view_release(t);
                shmv_view_release(s);
        }

        /* Huge steps select one item, whose stride means nothing but must not overflow. */
        shmv_view *v96 = slice(v, 0, 96, SHMV_NONE);
        shmv_view *q = cast(v96, "q");
        shmv_view_release(v96);
        CHECK_EQ(shmv_view_len(q), 12);
        s = slice(q, 3, SHMV_NONE, PTRDIFF_MAX);
        CHECK_EQ(shmv_view_len(s), 1);
        CHECK(shmv_view_contiguous(s));
        CHECK_PTR_EQ(shmv_view_data(s), d + 24);
        /* CPython would multiply regardless (overflowing); this library keeps the item stride,
         * signed as the step. */
        CHECK_EQ(shmv_view_stride(s), 8);
        shmv_view_release(s);
        s = slice(q, SHMV_NONE, SHMV_NONE, -PTRDIFF_MAX);
        CHECK_EQ(shmv_view_len(s), 1);
        CHECK_PTR_EQ(shmv_view_data(s), d + 88);
        CHECK_EQ(shmv_view_stride(s), -8);
        CHECK(shmv_view_contiguous(s));
        shmv_view *t = cast(s, "B");
        CHECK_EQ(shmv_view_len(t), 8);
        CHECK_PTR_EQ(shmv_view_data(t), d + 88);
        shmv_view_release(t);
        shmv_view_release(s);
        shmv_view_release(q);

        /* Slices of slices compose: v[10:90][::-3][1:-1][::2]. */
        uint8_t pattern[100];
        for (int i = 0; i < 100; i++)
                pattern[i] = (uint8_t)(i * 3 + 1);
        CHECK_OK(shmv_view_write(v, pattern, sizeof(pattern)));
        shmv_view *a = slice(v, 10, 90, SHMV_NONE);
        shmv_view *b = slice(a, SHMV_NONE, SHMV_NONE, -3);
        shmv_view *e = slice(b, 1, -1, SHMV_NONE);
        shmv_view *f = slice(e, SHMV_NONE, SHMV_NONE, 2);
        /* a = 10..89; b = 89, 86, ..., 11 (27 items); e = 86..14 (25); f = 86, 80, ..., 14. */
        CHECK_EQ(shmv_view_len(b), 27);
        CHECK_EQ(shmv_view_len(e), 25);
        CHECK_EQ(shmv_view_len(f), 13);
        CHECK_EQ(shmv_view_stride(f), -6);
        for (size_t i = 0; i < 13; i++)
                CHECK_EQ(get_byte(f, (ptrdiff_t)i), pattern[86 - 6 * i]);
        shmv_view_release(a);
        shmv_view_release(b);
        shmv_view_release(e);
        CHECK_EQ(get_byte(f, -1), pattern[14]);
        shmv_view_release(f);

        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* Writes src through dst (a slice of v), with src possibly inside v, and checks v against what
 * Python's m[...] = bytes(src) gives: the source is read as it was before the write. */
static void check_write(shmv_view *v, shmv_view *dst, const uint8_t *src)
{
        size_t n = shmv_view_nbytes(v), dn = shmv_view_nbytes(dst), isz = shmv_view_itemsize(dst);
        uint8_t before[256], snapshot[256], after[256];
        CHECK_LE(n, sizeof(before));
        CHECK_LE(dn, sizeof(snapshot));
        CHECK_OK(shmv_view_tobytes(v, before, sizeof(before)));
        memcpy(snapshot, src, dn);

        /* Expected: each item of dst, at its byte offset within v, gets the next source item. */
        const uint8_t *base = shmv_view_data(v);
        const uint8_t *d0 = shmv_view_data(dst);
        for (size_t i = 0; i < shmv_view_len(dst); i++) {
                ptrdiff_t off = d0 - base + (ptrdiff_t)i * shmv_view_stride(dst);
                CHECK_GE(off, 0);
                CHECK_LE((size_t)off + isz, n);
                memcpy(before + off, snapshot + i * isz, isz);
        }
        CHECK_OK(shmv_view_write(dst, src, dn));
        CHECK_OK(shmv_view_tobytes(v, after, sizeof(after)));
        CHECK_MEM(after, before, n);
}

static void test_write(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "write", 64, 0644);
        shmv_view *v = view_open(c, name, 0, SHMV_TO_END, RW);
        void *dm = NULL;
        CHECK_OK(shmv_view_data_mut(v, &dm));
        uint8_t *d = dm;
        CHECK_PTR_EQ(d, shmv_view_data(v));
        uint8_t src[64];
        for (int i = 0; i < 64; i++)
                src[i] = (uint8_t)(0x40 + i);

        CHECK_RC(shmv_view_write(v, src, 63), -EINVAL);
        CHECK_RC(shmv_view_write(v, src, 65), -EINVAL);
        CHECK_RC(shmv_view_write(v, NULL, 64), -EINVAL);
        CHECK_RC(shmv_view_write(NULL, src, 64), -EINVAL);
        CHECK_OK(shmv_view_write(v, src, 64));
        CHECK_MEM(d, src, 64);

        /* Read-only handles refuse, whatever the length, and change nothing. */
        shmv_view *r = view_open(c, name, 0, SHMV_TO_END, SHMV_READ);
        shmv_view *rs = slice(r, SHMV_NONE, SHMV_NONE, -2);
        CHECK_RC(shmv_view_write(r, "zz", 2), -EROFS);
        CHECK_RC(shmv_view_write(r, src, 64), -EROFS);
        CHECK_RC(shmv_view_write(rs, src, 32), -EROFS);
        /* data_mut refuses as they do, with a message that names the view, and leaves *ret. */
        char want[160];
        snprintf(want, sizeof(want),
                 "cannot write through a read-only view of '%s' [0, 64): opened without "
                 "SHMV_WRITE",
                 name);
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info)); /* clears the message */
        CHECK_NULL(shmv_last_error_message());
        void *untouched = &info;
        CHECK_RC(shmv_view_data_mut(r, &untouched), -EROFS);
        CHECK_PTR_EQ(untouched, &info);
        CHECK_STR(shmv_last_error_message(), want);
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_RC(shmv_view_data_mut(rs, &untouched), -EROFS);
        CHECK_STR(shmv_last_error_message(), want);
        CHECK_OK(shmv_segment_stat(c, name, &info));
        CHECK_RC(shmv_view_write(rs, src, 32), -EROFS);
        CHECK_STR(shmv_last_error_message(), want);
        CHECK(shmv_view_data(r) != NULL);
        CHECK_MEM(d, src, 64);
        shmv_view_release(rs);
        shmv_view_release(r);

        /* Strided and reversed destinations, from outside memory and from the view itself. */
        const ptrdiff_t shapes[][3] = {
                {SHMV_NONE, SHMV_NONE, SHMV_NONE},
                {1, SHMV_NONE, SHMV_NONE},
                {SHMV_NONE, -1, SHMV_NONE},
                {SHMV_NONE, SHMV_NONE, 2},
                {1, SHMV_NONE, 2},
                {SHMV_NONE, SHMV_NONE, -1},
                {SHMV_NONE, SHMV_NONE, -2},
                {-2, 3, -3},
                {5, 6, SHMV_NONE},
                {10, 50, 7},
        };
        for (size_t i = 0; i < NELEM(shapes); i++) {
                shmv_view *s = slice(v, shapes[i][0], shapes[i][1], shapes[i][2]);
                size_t n = shmv_view_nbytes(s);
                for (size_t shift = 0; shift + n <= 64; shift += (64 - n) / 3 + 1) {
                        check_write(v, s, src + shift);
                        check_write(v, s, d + shift); /* overlapping */
                        check_write(v, s, d + 64 - n - shift);
                }
                shmv_view_release(s);
        }

        /* In place: v[0:63] = v[1:64] and v[1:64] = v[0:63] move like memmove. */
        CHECK_OK(shmv_view_write(v, src, 64));
        shmv_view *lo = slice(v, 0, 63, SHMV_NONE), *hi = slice(v, 1, 64, SHMV_NONE);
        CHECK_OK(shmv_view_write(lo, d + 1, 63));
        CHECK_MEM(d, src + 1, 63);
        CHECK_OK(shmv_view_write(v, src, 64));
        CHECK_OK(shmv_view_write(hi, d, 63));
        CHECK_EQ(d[0], src[0]);
        CHECK_MEM(d + 1, src, 63);
        shmv_view_release(lo);
        shmv_view_release(hi);

        /* A reversed view written from its own memory reverses it. */
        CHECK_OK(shmv_view_write(v, src, 64));
        shmv_view *rev = slice(v, SHMV_NONE, SHMV_NONE, -1);
        CHECK_OK(shmv_view_write(rev, d, 64));
        for (int i = 0; i < 64; i++)
                CHECK_EQ(d[i], src[63 - i]);
        shmv_view_release(rev);

        /* Multi-byte items: a strided, reversed int view keeps each item's bytes in order. */
        CHECK_OK(shmv_view_write(v, src, 64));
        shmv_view *iv = cast(v, "i");
        shmv_view *irev = slice(iv, SHMV_NONE, SHMV_NONE, -2);
        CHECK_EQ(shmv_view_len(irev), 8);
        CHECK_EQ(shmv_view_stride(irev), -8);
        check_write(v, irev, src);
        check_write(v, irev, d);
        check_write(v, irev, d + 32);
        int vals[8] = {1, -2, 3, -4, 5, -6, 7, -8};
        CHECK_OK(shmv_view_write(irev, vals, sizeof(vals)));
        for (int i = 0; i < 8; i++) {
                int x;
                CHECK_OK(shmv_view_get(iv, 15 - 2 * i, &x));
                CHECK_EQ(x, vals[i]);
        }
        CHECK_RC(shmv_view_write(irev, vals, sizeof(vals) - 1), -EINVAL);
        shmv_view_release(irev);
        shmv_view_release(iv);

        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* bytes.hex(sep, bytes_per_sep) of bytes 0xa0..0xa6, computed by Python 3.11. */
static const struct {
        size_t n;
        char sep;
        int bytes_per_sep;
        const char *want;
} python_hex[] = {
        {0, ':', 1, ""},
        {0, ':', -2, ""},
        {0, 0, 2, ""},
        {1, ':', 1, "a0"},
        {1, ':', -2, "a0"},
        {2, ':', 1, "a0:a1"},
        {2, ':', 2, "a0a1"},
        {2, ' ', -1, "a0 a1"},
        {3, ':', 1, "a0:a1:a2"},
        {3, ':', 2, "a0:a1a2"},
        {3, ':', -2, "a0a1:a2"},
        {3, ':', 3, "a0a1a2"},
        {3, ':', -3, "a0a1a2"},
        {3, ':', 0, "a0a1a2"},
        {3, 0, 2, "a0a1a2"},
        {7, ':', 1, "a0:a1:a2:a3:a4:a5:a6"},
        {7, ':', 2, "a0:a1a2:a3a4:a5a6"},
        {7, ':', -2, "a0a1:a2a3:a4a5:a6"},
        {7, ':', 3, "a0:a1a2a3:a4a5a6"},
        {7, ':', -3, "a0a1a2:a3a4a5:a6"},
        {7, '-', 6, "a0-a1a2a3a4a5a6"},
        {7, '-', -6, "a0a1a2a3a4a5-a6"},
        {7, '-', 7, "a0a1a2a3a4a5a6"},
        {7, '-', -7, "a0a1a2a3a4a5a6"},
        {7, '-', 8, "a0a1a2a3a4a5a6"},
        {7, ' ', -1, "a0 a1 a2 a3 a4 a5 a6"},
        {7, ':', 0, "a0a1a2a3a4a5a6"},
        {7, 0, 2, "a0a1a2a3a4a5a6"},
        {7, '-', INT_MAX, "a0a1a2a3a4a5a6"},
        {7, '-', INT_MIN, "a0a1a2a3a4a5a6"},
};

static void test_tobytes_hex(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "hex", 16, 0);
        shmv_view *v = view_open(c, name, 0, SHMV_TO_END, RW);
        const uint8_t bytes[7] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6};
        shmv_view *head = slice(v, 0, 7, SHMV_NONE);
        CHECK_OK(shmv_view_write(head, bytes, 7));
        shmv_view_release(head);

        char out[64];
        for (size_t i = 0; i < NELEM(python_hex); i++) {
                shmv_view *s = slice(v, 0, (ptrdiff_t)python_hex[i].n, SHMV_NONE);
                size_t need = shmv_view_hex_size(s, python_hex[i].sep, python_hex[i].bytes_per_sep);
                CHECK_EQ(need, strlen(python_hex[i].want) + 1);
                CHECK_RC(shmv_view_hex(s, out, need - 1, python_hex[i].sep,
                                       python_hex[i].bytes_per_sep),
                         -ENOBUFS);
                memset(out, 'X', sizeof(out));
                CHECK_OK(shmv_view_hex(s, out, need, python_hex[i].sep,
                                       python_hex[i].bytes_per_sep));
                CHECK_STR(out, python_hex[i].want);
                shmv_view_release(s);
        }
        CHECK_RC(shmv_view_hex(v, NULL, 0, 0, 0), -ENOBUFS);
        CHECK_RC(shmv_view_hex(v, NULL, 10, 0, 0), -EINVAL);
        CHECK_RC(shmv_view_hex(NULL, out, sizeof(out), 0, 0), -EINVAL);
        /* bytes.hex() returns str, so its separator must be ASCII. */
        CHECK_RC(shmv_view_hex(v, out, sizeof(out), (char)0xe9, 1), -EINVAL);

        /* Logical order: b'abcdef'[::-1].tobytes() and .hex(':', 2). */
        CHECK_OK(shmv_view_write(v, "abcdefghijklmnop", 16));
        shmv_view *rev = slice(v, 5, SHMV_NONE, -1);
        CHECK_OK(shmv_view_tobytes(rev, out, 6));
        CHECK_MEM(out, "fedcba", 6);
        CHECK_RC(shmv_view_tobytes(rev, out, 5), -ENOBUFS);
        CHECK_RC(shmv_view_tobytes(rev, NULL, 0), -ENOBUFS);
        CHECK_RC(shmv_view_tobytes(rev, NULL, 6), -EINVAL);
        CHECK_EQ(shmv_view_hex_size(rev, ':', 2), 15);
        CHECK_OK(shmv_view_hex(rev, out, 15, ':', 2));
        CHECK_STR(out, "6665:6463:6261");
        shmv_view *odd = slice(v, 1, SHMV_NONE, 3);
        CHECK_OK(shmv_view_tobytes(odd, out, sizeof(out)));
        CHECK_MEM(out, "behkn", 5);
        CHECK_OK(shmv_view_hex(odd, out, sizeof(out), 0, 0));
        CHECK_STR(out, "6265686b6e");

        /* Multi-byte items in reverse: the bytes of each item stay in memory order. */
        shmv_view *h = cast(v, "H");
        shmv_view *hrev = slice(h, SHMV_NONE, SHMV_NONE, -3);
        CHECK_EQ(shmv_view_nbytes(hrev), 6);
        CHECK_OK(shmv_view_tobytes(hrev, out, 6));
        CHECK_MEM(out, "opijcd", 6);
        CHECK_OK(shmv_view_hex(hrev, out, sizeof(out), '.', -4));
        CHECK_STR(out, "6f70696a.6364");

        shmv_view_release(hrev);
        shmv_view_release(h);
        shmv_view_release(odd);
        shmv_view_release(rev);
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static void test_cast(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "cast", 64, 0644);
        shmv_view *v = view_open(c, name, 0, 64, RW);
        shmv_view *r = view_open(c, name, 0, 63, SHMV_READ);
        shmv_view *s = NULL;

        /* Refusals. */
        shmv_view *strided = slice(v, SHMV_NONE, SHMV_NONE, 2);
        shmv_view *reversed = slice(v, SHMV_NONE, SHMV_NONE, -1);
        CHECK_RC(shmv_view_cast(strided, "B", &s), -EINVAL);
        CHECK_RC(shmv_view_cast(reversed, "c", &s), -EINVAL);
        const char *bad[] = {"",   "@",  "@@B", "BB", "x", "<i", ">i",  "=i", "!i", "2B",
                             "i ", " i", "e",   "s",  "p", "u",  "@BB", "Bx", "@P@"};
        for (size_t i = 0; i < NELEM(bad); i++)
                CHECK_RC(shmv_view_cast(v, bad[i], &s), -EINVAL);
        CHECK_RC(shmv_view_cast(v, NULL, &s), -EINVAL);
        CHECK_RC(shmv_view_cast(NULL, "B", &s), -EINVAL);
        CHECK_RC(shmv_view_cast(v, "B", NULL), -EINVAL);
        /* 63 bytes: no multiple of 2, 4 or 8. */
        CHECK_RC(shmv_view_cast(r, "i", &s), -EINVAL);
        CHECK_RC(shmv_view_cast(r, "h", &s), -EINVAL);
        CHECK_RC(shmv_view_cast(r, "d", &s), -EINVAL);
        /* Between two non-byte formats. */
        shmv_view *iv = cast(v, "i");
        CHECK_RC(shmv_view_cast(iv, "I", &s), -EINVAL);
        CHECK_RC(shmv_view_cast(iv, "h", &s), -EINVAL);
        CHECK_RC(shmv_view_cast(iv, "?", &s), -EINVAL);
        CHECK_NULL(s);

        /* Every native format, with its C size; results are contiguous and share the memory. */
        const struct {
                const char *fmt;
                size_t size;
        } formats[] = {
                {"b", sizeof(signed char)},
                {"B", sizeof(unsigned char)},
                {"c", 1},
                {"h", sizeof(short)},
                {"H", sizeof(unsigned short)},
                {"i", sizeof(int)},
                {"I", sizeof(unsigned)},
                {"l", sizeof(long)},
                {"L", sizeof(unsigned long)},
                {"q", sizeof(long long)},
                {"Q", sizeof(unsigned long long)},
                {"n", sizeof(ssize_t)},
                {"N", sizeof(size_t)},
                {"f", sizeof(float)},
                {"d", sizeof(double)},
                {"?", sizeof(_Bool)},
                {"P", sizeof(void *)},
        };
        for (size_t i = 0; i < NELEM(formats); i++) {
                char at[4];
                snprintf(at, sizeof(at), "@%s", formats[i].fmt);
                for (int k = 0; k < 2; k++) {
                        s = cast(v, k ? at : formats[i].fmt);
                        /* The format keeps its '@', as memoryview's does. */
                        CHECK_STR(shmv_view_format(s), k ? at : formats[i].fmt);
                        CHECK_EQ(shmv_view_itemsize(s), formats[i].size);
                        CHECK_EQ(shmv_view_len(s), 64 / formats[i].size);
                        CHECK_EQ(shmv_view_stride(s), (ptrdiff_t)formats[i].size);
                        CHECK_EQ(shmv_view_nbytes(s), 64);
                        CHECK(shmv_view_contiguous(s));
                        CHECK_PTR_EQ(shmv_view_data(s), shmv_view_data(v));
                        CHECK(!shmv_view_readonly(s));
                        /* And back to bytes, from a non-byte format. */
                        shmv_view *back = cast(s, k ? "@c" : "b");
                        CHECK_EQ(shmv_view_len(back), 64);
                        CHECK_EQ(shmv_view_itemsize(back), 1);
                        shmv_view_release(back);
                        shmv_view_release(s);
                }
        }

        /* B -> i -> B round trip; ints written through the cast view land in the bytes. */
        int ints[16];
        for (int i = 0; i < 16; i++)
                ints[i] = i * 0x01010101 - 7;
        CHECK_OK(shmv_view_write(iv, ints, sizeof(ints)));
        CHECK_MEM(shmv_view_data(v), ints, sizeof(ints));
        int x = 12345;
        CHECK_OK(shmv_view_set(iv, -1, &x));
        CHECK_OK(shmv_view_get(iv, 15, &x));
        CHECK_EQ(x, 12345);
        shmv_view *bv = cast(iv, "B");
        CHECK_EQ(shmv_view_equal(bv, v), 1);
        CHECK_STR(shmv_view_format(bv), "B");
        CHECK_EQ(shmv_view_len(bv), 64);
        shmv_view_release(bv);

        /* A cast keeps read-only; a read-only cast refuses writes. */
        shmv_view *rro = slice(r, 0, 32, SHMV_NONE);
        s = cast(rro, "@q");
        CHECK(shmv_view_readonly(s));
        CHECK_EQ(shmv_view_len(s), 4);
        long long q = 1;
        CHECK_RC(shmv_view_set(s, 0, &q), -EROFS);
        shmv_view_release(s);
        shmv_view_release(rro);

        /* One-item views are contiguous whatever their stride; empty ones only with the item
         * stride (memoryview's flags). */
        shmv_view *one = slice(v, 9, 7, -2);
        CHECK_EQ(shmv_view_len(one), 1);
        CHECK_EQ(shmv_view_stride(one), -2);
        s = cast(one, "c");
        CHECK_EQ(shmv_view_len(s), 1);
        CHECK_PTR_EQ(shmv_view_data(s), (const uint8_t *)shmv_view_data(v) + 9);
        shmv_view_release(s);
        shmv_view_release(one);
        shmv_view *none = slice(v, 9, 9, 5);
        CHECK(!shmv_view_contiguous(none));
        CHECK_RC(shmv_view_cast(none, "d", &s), -EINVAL);
        shmv_view_release(none);
        none = slice(v, 9, 9, SHMV_NONE);
        s = cast(none, "d");
        CHECK_EQ(shmv_view_len(s), 0);
        CHECK(shmv_view_contiguous(s));
        shmv_view_release(s);
        shmv_view_release(none);
        one = slice(iv, 3, 4, SHMV_NONE);
        s = cast(one, "B");
        CHECK_EQ(shmv_view_len(s), sizeof(int));
        shmv_view_release(s);
        shmv_view_release(one);

        shmv_view_release(iv);
        shmv_view_release(reversed);
        shmv_view_release(strided);
        shmv_view_release(r);
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static shmv_view *cast_shape(const shmv_view *v, const char *format, const size_t *shape,
                             size_t ndim)
{
        shmv_view *s = NULL;
        CHECK_OK(shmv_view_cast_shape(v, format, shape, ndim, &s));
        return s;
}

/* memoryview.cast(format, shape): dimensions, item access by one index per dimension, C-order
 * copies, == by shape, slicing of the first dimension and memoryview's refusals. The expected
 * values are what CPython's memoryview gives for the same bytes. */
static void test_ndim(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "ndim", 4096, 0600);
        shmv_view *v = view_open(c, name, 0, 24, RW);
        shmv_view *s = NULL;
        uint8_t bytes[24];
        for (int i = 0; i < 24; i++)
                bytes[i] = (uint8_t)i;
        CHECK_OK(shmv_view_write(v, bytes, sizeof(bytes)));

        /* memoryview(bytes(range(24))).cast('h', (2, 3, 2)) */
        const size_t shape[] = {2, 3, 2};
        shmv_view *m = cast_shape(v, "h", shape, 3);
        CHECK_EQ(shmv_view_ndim(m), 3);
        CHECK_EQ(shmv_view_len(m), 2);
        CHECK_EQ(shmv_view_nbytes(m), 24);
        CHECK_EQ(shmv_view_shape(m, 0), 2);
        CHECK_EQ(shmv_view_shape(m, 1), 3);
        CHECK_EQ(shmv_view_shape(m, 2), 2);
        CHECK_EQ(shmv_view_shape(m, 3), 0);
        CHECK_EQ(shmv_view_strides(m, 0), 12);
        CHECK_EQ(shmv_view_strides(m, 1), 4);
        CHECK_EQ(shmv_view_strides(m, 2), 2);
        CHECK_EQ(shmv_view_strides(m, 3), 0);
        CHECK_EQ(shmv_view_stride(m), 12);
        CHECK_PTR_EQ(shmv_view_data(m), shmv_view_data(v));
        CHECK(shmv_view_contiguous(m));
        CHECK(!shmv_view_f_contiguous(m));
        CHECK_STR(shmv_view_format(m), "h");

        /* m[1, -1, 0] is bytes 20, 21: 0x1514 little-endian. */
        short h = 0;
        const ptrdiff_t at[] = {1, -1, 0};
        CHECK_OK(shmv_view_get_at(m, at, 3, &h));
        short want;
        memcpy(&want, bytes + 20, 2);
        CHECK_EQ(h, want);
        shmv_item it;
        CHECK_OK(shmv_view_item_at(m, at, 3, &it));
        CHECK_EQ(it.format, 'h');
        CHECK_EQ(it.i, want);
        const ptrdiff_t out[][3] = {{2, 0, 0}, {0, 3, 0}, {0, 0, -3}, {-3, 0, 0}};
        for (size_t i = 0; i < NELEM(out); i++)
                CHECK_RC(shmv_view_get_at(m, out[i], 3, &h), -ERANGE);
        CHECK_RC(shmv_view_get_at(m, at, 2, &h), -ENOTSUP);
        CHECK_RC(shmv_view_get_at(m, at, 4, &h), -EINVAL);
        CHECK_RC(shmv_view_get(m, 0, &h), -ENOTSUP);
        CHECK_RC(shmv_view_item(m, 0, &it), -ENOTSUP);
        h = -2;
        CHECK_OK(shmv_view_set_at(m, at, 3, &h));
        CHECK_MEM((const uint8_t *)shmv_view_data(v) + 20, &h, 2);
        CHECK_RC(shmv_view_set(m, 0, &h), -ENOTSUP);
        CHECK_OK(shmv_view_set_at(m, at, 3, &want));

        /* tolist, flattened in C order; tobytes of the contiguous view is the bytes. */
        shmv_item items[12];
        CHECK_RC(shmv_view_tolist(m, items, 11), -ENOBUFS);
        CHECK_OK(shmv_view_tolist(m, items, 12));
        for (int i = 0; i < 12; i++) {
                memcpy(&want, bytes + 2 * i, 2);
                CHECK_EQ(items[i].i, want);
        }
        uint8_t got[24];
        CHECK_OK(shmv_view_tobytes(m, got, sizeof(got)));
        CHECK_MEM(got, bytes, 24);

        /* m[::-1]: the first dimension reversed; tobytes in C order gives the second block of
         * 12 bytes, then the first; hex likewise; not contiguous either way. */
        shmv_view *r = slice(m, SHMV_NONE, SHMV_NONE, -1);
        CHECK_EQ(shmv_view_ndim(r), 3);
        CHECK_EQ(shmv_view_len(r), 2);
        CHECK_EQ(shmv_view_strides(r, 0), -12);
        CHECK_EQ(shmv_view_strides(r, 1), 4);
        CHECK_EQ(shmv_view_shape(r, 2), 2);
        CHECK(!shmv_view_contiguous(r));
        CHECK(!shmv_view_f_contiguous(r));
        CHECK_OK(shmv_view_tobytes(r, got, sizeof(got)));
        CHECK_MEM(got, bytes + 12, 12);
        CHECK_MEM(got + 12, bytes, 12);
        char hex[49];
        CHECK_OK(shmv_view_hex(r, hex, sizeof(hex), 0, 0));
        CHECK_STR(hex, "0c0d0e0f101112131415161700010203040506070809"
                       "0a0b");
        CHECK_EQ(shmv_view_equal(r, m), 0);
        CHECK_RC(shmv_view_cast(r, "B", &s), -EINVAL);
        /* Writing through it scatters in C order. */
        uint8_t rev[24];
        memcpy(rev, bytes + 12, 12);
        memcpy(rev + 12, bytes, 12);
        CHECK_OK(shmv_view_write(r, rev, sizeof(rev)));
        CHECK_MEM(shmv_view_data(v), bytes, 24);
        /* Even from its own memory: r[:] = m.tobytes() order through the overlap. */
        CHECK_OK(shmv_view_write(r, shmv_view_data(v), 24));
        CHECK_MEM(shmv_view_data(v), rev, 24);
        CHECK_OK(shmv_view_write(v, bytes, sizeof(bytes)));

        /* == compares shapes, then items as values. */
        shmv_view *m2 = cast_shape(v, "h", shape, 3);
        const size_t flat[] = {12}, other[] = {3, 2, 2};
        shmv_view *f = cast_shape(v, "h", flat, 1);
        shmv_view *o = cast_shape(v, "h", other, 3);
        CHECK_EQ(shmv_view_equal(m, m2), 1);
        CHECK_EQ(shmv_view_equal(m, f), 0);
        CHECK_EQ(shmv_view_equal(m, o), 0);
        CHECK_EQ(shmv_view_ndim(f), 1);
        CHECK_EQ(shmv_view_len(f), 12);
        shmv_view *s0 = slice(m, 1, 2, SHMV_NONE);
        CHECK_EQ(shmv_view_len(s0), 1);
        CHECK(shmv_view_contiguous(s0));
        CHECK_EQ(shmv_view_nbytes(s0), 12);

        /* Back to one dimension: cast without a shape, or with one of one dimension. */
        shmv_view *b = cast(m, "B");
        CHECK_EQ(shmv_view_ndim(b), 1);
        CHECK_EQ(shmv_view_len(b), 24);
        CHECK_EQ(shmv_view_equal(b, v), 1);
        shmv_view_release(b);
        const size_t b24[] = {24};
        b = cast_shape(m, "@c", b24, 1);
        CHECK_EQ(shmv_view_ndim(b), 1);
        CHECK_EQ(shmv_view_len(b), 24);
        CHECK_STR(shmv_view_format(b), "@c");
        shmv_view_release(b);

        /* Refusals, as memoryview's. */
        const size_t bad_product[] = {5, 5}, zero[] = {0, 24}, two[] = {2, 12};
        CHECK_RC(shmv_view_cast_shape(v, "B", bad_product, 2, &s), -EINVAL);
        CHECK_RC(shmv_view_cast_shape(v, "B", zero, 2, &s), -EINVAL);
        CHECK_RC(shmv_view_cast_shape(m, "B", two, 2, &s), -EINVAL); /* ND -> ND */
        CHECK_RC(shmv_view_cast_shape(v, "h", two, 2, &s), -EINVAL); /* 2 * 12 * 2 != 24 */
        CHECK_RC(shmv_view_cast_shape(f, "i", flat, 1, &s), -EINVAL); /* two non-byte */
        CHECK_RC(shmv_view_cast_shape(v, "B", NULL, 1, &s), -EINVAL);
        CHECK_RC(shmv_view_cast_shape(v, "B", two, 0, &s), -EINVAL);
        size_t many[SHMV_MAX_NDIM + 1];
        for (size_t i = 0; i < NELEM(many); i++)
                many[i] = 1;
        many[0] = 24;
        CHECK_RC(shmv_view_cast_shape(v, "B", many, SHMV_MAX_NDIM + 1, &s), -EINVAL);
        CHECK_NULL(s);
        /* A view with a zero in its shape casts to nothing, not even one dimension. */
        shmv_view *e = slice(m, 0, 0, SHMV_NONE);
        CHECK(shmv_view_contiguous(e));
        CHECK_EQ(shmv_view_nbytes(e), 0);
        CHECK_RC(shmv_view_cast(e, "B", &s), -EINVAL);
        shmv_view_release(e);

        /* Zero dimensions: one item, reached with no index; nothing to slice. */
        CHECK_RC(shmv_view_cast_shape(v, "B", NULL, 0, &s), -EINVAL); /* 24 bytes, not 1 */
        shmv_view *one = slice(v, 5, 7, SHMV_NONE);
        shmv_view *z = cast_shape(one, "h", NULL, 0);
        CHECK_EQ(shmv_view_ndim(z), 0);
        CHECK_EQ(shmv_view_len(z), 0);
        CHECK_EQ(shmv_view_nbytes(z), 2);
        CHECK_EQ(shmv_view_shape(z, 0), 0);
        CHECK(shmv_view_contiguous(z));
        CHECK(shmv_view_f_contiguous(z));
        CHECK_OK(shmv_view_get_at(z, NULL, 0, &h));
        memcpy(&want, bytes + 5, 2);
        CHECK_EQ(h, want);
        CHECK_RC(shmv_view_get(z, 0, &h), -EINVAL);
        CHECK_RC(shmv_view_slice(z, SHMV_NONE, SHMV_NONE, SHMV_NONE, &s), -EINVAL);
        CHECK_OK(shmv_view_tolist(z, items, 1));
        CHECK_EQ(items[0].i, want);
        h = 7;
        CHECK_OK(shmv_view_set_at(z, NULL, 0, &h));
        CHECK_MEM((const uint8_t *)shmv_view_data(v) + 5, &h, 2);
        shmv_view *back = cast(z, "B");
        CHECK_EQ(shmv_view_ndim(back), 1);
        CHECK_EQ(shmv_view_len(back), 2);
        CHECK_RC(shmv_view_cast_shape(z, "B", two, 2, &s), -EINVAL); /* 0-D -> 2-D */
        shmv_view_release(back);
        shmv_view_release(z);
        shmv_view_release(one);
        CHECK_OK(shmv_view_write(v, bytes, sizeof(bytes)));

        /* SHMV_MAX_NDIM dimensions: the limit itself works. */
        shmv_view *deep = cast_shape(v, "B", many, SHMV_MAX_NDIM);
        CHECK_EQ(shmv_view_ndim(deep), SHMV_MAX_NDIM);
        CHECK_EQ(shmv_view_len(deep), 24);
        CHECK_EQ(shmv_view_strides(deep, SHMV_MAX_NDIM - 1), 1);
        CHECK_EQ(shmv_view_strides(deep, 0), 1);
        ptrdiff_t idx[SHMV_MAX_NDIM] = {23};
        uint8_t byte = 0;
        CHECK_OK(shmv_view_get_at(deep, idx, SHMV_MAX_NDIM, &byte));
        CHECK_EQ(byte, 23);
        shmv_view *dr = readonly_copy(deep);
        CHECK_EQ(shmv_view_ndim(dr), SHMV_MAX_NDIM);
        CHECK(shmv_view_readonly(dr));
        CHECK_RC(shmv_view_set_at(dr, idx, SHMV_MAX_NDIM, &byte), -EROFS);
        shmv_view_release(dr);
        shmv_view_release(deep);

        shmv_view_release(s0);
        shmv_view_release(o);
        shmv_view_release(f);
        shmv_view_release(m2);
        shmv_view_release(r);
        shmv_view_release(m);
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static void test_toreadonly(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "ro", 32, 0);
        shmv_view *v = view_open(c, name, 0, SHMV_TO_END, RW);
        shmv_view *rev = slice(v, SHMV_NONE, SHMV_NONE, -1);
        shmv_view *ro = readonly_copy(rev);
        CHECK(shmv_view_readonly(ro) && !shmv_view_readonly(rev) && !shmv_view_readonly(v));
        CHECK_PTR_EQ(shmv_view_data(ro), shmv_view_data(rev));
        CHECK_EQ(shmv_view_len(ro), 32);
        CHECK_EQ(shmv_view_stride(ro), -1);
        void *p = NULL;
        CHECK_RC(shmv_view_data_mut(ro, &p), -EROFS);
        CHECK_NULL(p);
        char want[160];
        snprintf(want, sizeof(want),
                 "cannot write through a read-only view of '%s' [0, 32): made by toreadonly()",
                 name);
        CHECK_STR(shmv_last_error_message(), want);
        CHECK_OK(shmv_view_data_mut(rev, &p));
        CHECK_PTR_EQ(p, shmv_view_data(rev));
        uint8_t b = 'q';
        shmv_segment_info info;
        CHECK_OK(shmv_segment_stat(c, name, &info)); /* clears the message */
        CHECK_RC(shmv_view_set(ro, 0, &b), -EROFS);
        CHECK_STR(shmv_last_error_message(), want);
        CHECK_OK(shmv_view_set(rev, 0, &b));
        CHECK_EQ(get_byte(ro, 0), 'q');
        CHECK_EQ(get_byte(v, 31), 'q');
        /* Read-only is for good: slices, casts and copies of it stay read-only. */
        shmv_view *s = slice(ro, SHMV_NONE, SHMV_NONE, -1);
        CHECK(shmv_view_readonly(s));
        shmv_view *again = readonly_copy(s);
        CHECK(shmv_view_readonly(again));
        shmv_view *cs = cast(again, "c");
        CHECK(shmv_view_readonly(cs));
        CHECK_RC(shmv_view_toreadonly(NULL, &s), -EINVAL);
        CHECK_RC(shmv_view_toreadonly(v, NULL), -EINVAL);
        shmv_view_release(v);
        shmv_view_release(rev);
        CHECK_EQ(get_byte(cs, 31), 'q');
        shmv_view_release(cs);
        shmv_view_release(again);
        shmv_view_release(s);
        shmv_view_release(ro);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* A view of the given values, cast to format: writes them at offset of the segment seen by w. */
static shmv_view *values_view(shmv_view *w, size_t offset, const void *vals, size_t nbytes,
                              const char *format)
{
        shmv_view *bytes = slice(w, (ptrdiff_t)offset, (ptrdiff_t)(offset + nbytes), SHMV_NONE);
        CHECK_OK(shmv_view_write(bytes, vals, nbytes));
        shmv_view *v = cast(bytes, format);
        shmv_view_release(bytes);
        return v;
}

static void test_equal(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "equal", 4096, 0);
        shmv_view *w = view_open(c, name, 0, SHMV_TO_END, RW);
        size_t off = 0;
#define VIEW(fmt, type, ...)                                                    \
        ({                                                                      \
                const type vals_[] = {__VA_ARGS__};                             \
                shmv_view *v_ = values_view(w, off, vals_, sizeof(vals_), fmt); \
                off += sizeof(vals_) + 3; /* and unaligned for the next */      \
                v_;                                                             \
        })
        shmv_view *u8 = VIEW("B", uint8_t, 1, 0, 200, 127);
        shmv_view *u8b = VIEW("B", uint8_t, 1, 0, 200, 127);
        shmv_view *s8 = VIEW("b", int8_t, 1, 0, -56, 127);
        shmv_view *s8pos = VIEW("b", int8_t, 1, 0, 100, 127);
        shmv_view *u8pos = VIEW("B", uint8_t, 1, 0, 100, 127);
        shmv_view *i32 = VIEW("i", int32_t, 1, 0, 200, 127);
        shmv_view *q64 = VIEW("q", int64_t, 1, 0, 200, 127);
        shmv_view *d64 = VIEW("d", double, 1.0, 0.0, 200.0, 127.0);
        shmv_view *f32 = VIEW("f", float, 1.0f, -0.0f, 200.0f, 127.0f);
        shmv_view *dfrac = VIEW("d", double, 1.0, 0.0, 200.5, 127.0);
        shmv_view *bools = VIEW("?", uint8_t, 1, 0, 1, 1);
        shmv_view *bools2 = VIEW("?", uint8_t, 2, 0, 255, 1);
        shmv_view *ones = VIEW("B", uint8_t, 1, 0, 1, 1);
        shmv_view *chars = VIEW("c", uint8_t, 1, 0, 200, 127);
        shmv_view *chars2 = VIEW("c", uint8_t, 1, 0, 200, 127);
        shmv_view *nan = VIEW("d", double, 1.0, NAN);
        shmv_view *nanf = VIEW("f", float, 1.0f, NAN);
        shmv_view *umax = VIEW("Q", uint64_t, UINT64_MAX);
        shmv_view *two64 = VIEW("d", double, 18446744073709551616.0);
        shmv_view *minus1 = VIEW("q", int64_t, -1);
        shmv_view *big = VIEW("q", int64_t, (1ll << 53) + 1);
        shmv_view *big_d = VIEW("d", double, 9007199254740992.0);
        shmv_view *big_n = VIEW("N", size_t, (1ull << 53) + 1);
        shmv_view *huge_d = VIEW("d", double, 9223372036854775808.0);
        shmv_view *huge_q = VIEW("Q", uint64_t, 1ull << 63);
        shmv_view *huge_l = VIEW("l", long, LONG_MIN);
        shmv_view *huge_nd = VIEW("d", double, -9223372036854775808.0);
#undef VIEW
        CHECK_LT(off, 4096);

        CHECK_EQ(shmv_view_equal(u8, u8), 1);
        CHECK_EQ(shmv_view_equal(u8, u8b), 1);
        /* Integers compare as values across sizes and signedness. */
        CHECK_EQ(shmv_view_equal(u8, s8), 0);
        CHECK_EQ(shmv_view_equal(s8, u8), 0);
        CHECK_EQ(shmv_view_equal(u8pos, s8pos), 1);
        CHECK_EQ(shmv_view_equal(u8, i32), 1);
        CHECK_EQ(shmv_view_equal(i32, q64), 1);
        CHECK_EQ(shmv_view_equal(q64, u8), 1);
        CHECK_EQ(shmv_view_equal(umax, minus1), 0);
        /* Floats against integers exactly, as Python: 2**64 - 1 != 2.0**64. */
        CHECK_EQ(shmv_view_equal(d64, u8), 1);
        CHECK_EQ(shmv_view_equal(u8, d64), 1);
        CHECK_EQ(shmv_view_equal(f32, d64), 1);
        CHECK_EQ(shmv_view_equal(f32, q64), 1);
        CHECK_EQ(shmv_view_equal(dfrac, d64), 0);
        CHECK_EQ(shmv_view_equal(i32, dfrac), 0);
        CHECK_EQ(shmv_view_equal(umax, two64), 0);
        CHECK_EQ(shmv_view_equal(two64, umax), 0);
        CHECK_EQ(shmv_view_equal(big, big_d), 0);
        CHECK_EQ(shmv_view_equal(big_n, big_d), 0);
        CHECK_EQ(shmv_view_equal(big, big_n), 1);
        CHECK_EQ(shmv_view_equal(huge_d, huge_q), 1);
        CHECK_EQ(shmv_view_equal(huge_q, huge_d), 1);
        CHECK_EQ(shmv_view_equal(huge_l, huge_nd), 1);
        CHECK_EQ(shmv_view_equal(huge_d, huge_l), 0);
        CHECK_EQ(shmv_view_equal(huge_nd, huge_q), 0);
        /* NaN is unequal to itself, so a view holding one is unequal to itself. */
        CHECK_EQ(shmv_view_equal(nan, nan), 0);
        CHECK_EQ(shmv_view_equal(nanf, nanf), 0);
        CHECK_EQ(shmv_view_equal(nan, nanf), 0);
        shmv_view *nan1 = slice(nan, 0, 1, SHMV_NONE), *nanf1 = slice(nanf, 0, 1, SHMV_NONE);
        CHECK_EQ(shmv_view_equal(nan1, nanf1), 1);
        shmv_view_release(nan1);
        shmv_view_release(nanf1);
        /* '?' is a bool, and True == 1; any non-zero byte is True. */
        CHECK_EQ(shmv_view_equal(bools, ones), 1);
        CHECK_EQ(shmv_view_equal(ones, bools), 1);
        CHECK_EQ(shmv_view_equal(bools, d64), 0);
        CHECK_EQ(shmv_view_equal(bools2, bools), 1);
        CHECK_EQ(shmv_view_equal(bools2, ones), 1);
        /* 'c' items are bytes objects: equal only to 'c' items. */
        CHECK_EQ(shmv_view_equal(chars, chars2), 1);
        CHECK_EQ(shmv_view_equal(chars, u8), 0);
        CHECK_EQ(shmv_view_equal(u8, chars), 0);
        CHECK_EQ(shmv_view_equal(chars, bools), 0);
        CHECK_EQ(shmv_view_equal(d64, chars), 0);
        /* Lengths first. Empty views are equal whatever their formats. */
        shmv_view *head = slice(u8, 0, 3, SHMV_NONE);
        CHECK_EQ(shmv_view_equal(head, u8), 0);
        CHECK_EQ(shmv_view_equal(u8, head), 0);
        shmv_view *e1 = slice(chars, 2, 2, SHMV_NONE), *e2 = slice(d64, 3, 0, SHMV_NONE);
        CHECK_EQ(shmv_view_equal(e1, e2), 1);
        shmv_view_release(e1);
        shmv_view_release(e2);
        shmv_view_release(head);
        /* Strided and reversed against contiguous. */
        shmv_view *r1 = slice(u8, SHMV_NONE, SHMV_NONE, -1);
        shmv_view *r2 = slice(r1, SHMV_NONE, SHMV_NONE, -1);
        CHECK_EQ(shmv_view_equal(r2, u8b), 1);
        CHECK_EQ(shmv_view_equal(r1, u8b), 0);
        shmv_view *ev = slice(d64, SHMV_NONE, SHMV_NONE, 2), *eq = slice(q64, 0, 3, 2);
        CHECK_EQ(shmv_view_equal(ev, eq), 1);
        shmv_view_release(ev);
        shmv_view_release(eq);
        shmv_view_release(r1);
        shmv_view_release(r2);
        /* -0.0 == 0.0 although the bytes differ. */
        shmv_view *fz = slice(f32, 1, 2, SHMV_NONE), *dz = slice(d64, 1, 2, SHMV_NONE);
        CHECK_EQ(shmv_view_equal(fz, dz), 1);
        shmv_view_release(fz);
        shmv_view_release(dz);

        CHECK_RC(shmv_view_equal(NULL, u8), -EINVAL);
        CHECK_RC(shmv_view_equal(u8, NULL), -EINVAL);

        shmv_view *all[] = {u8,    u8b,    s8,     s8pos, u8pos, i32,    q64,    d64,    f32,
                            dfrac, bools,  bools2, ones,  chars, chars2, nan,    nanf,   umax,
                            two64, minus1, big,    big_d, big_n, huge_d, huge_q, huge_l, huge_nd};
        for (size_t i = 0; i < NELEM(all); i++)
                shmv_view_release(all[i]);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static void test_item_tolist(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "tolist", 4096, 0);
        shmv_view *w = view_open(c, name, 0, SHMV_TO_END, RW);
        shmv_item items[8];

        const int16_t shorts[] = {-1, 2, -32768, 32767};
        shmv_view *h = values_view(w, 1, shorts, sizeof(shorts), "h");
        CHECK_OK(shmv_view_tolist(h, items, 4));
        for (int i = 0; i < 4; i++) {
                CHECK_EQ(items[i].format, 'h');
                CHECK_EQ(items[i].i, shorts[i]);
        }
        CHECK_RC(shmv_view_tolist(h, items, 3), -ENOBUFS);
        CHECK_RC(shmv_view_tolist(h, NULL, 4), -EINVAL);
        CHECK_RC(shmv_view_tolist(NULL, items, 4), -EINVAL);
        shmv_view *hrev = slice(h, SHMV_NONE, SHMV_NONE, -1);
        CHECK_OK(shmv_view_tolist(hrev, items, 8));
        for (int i = 0; i < 4; i++)
                CHECK_EQ(items[i].i, shorts[3 - i]);
        shmv_view *hb = cast(h, "B");
        CHECK_OK(shmv_view_tolist(hb, items, 8));
        CHECK_EQ(items[0].format, 'B');
        CHECK_EQ(items[0].u, 0xff);
        CHECK_EQ(items[1].u, 0xff);
        CHECK_EQ(items[2].u, 2);
        CHECK_EQ(items[3].u, 0);
        shmv_view_release(hb);
        shmv_view_release(hrev);
        shmv_view_release(h);

        const uint16_t ushorts[] = {65535, 1};
        shmv_view *hu = values_view(w, 20, ushorts, sizeof(ushorts), "H");
        CHECK_OK(shmv_view_item(hu, 0, &items[0]));
        CHECK_EQ(items[0].format, 'H');
        CHECK_EQ(items[0].u, 65535);
        shmv_view_release(hu);

        const int32_t i32[] = {INT32_MIN, -1};
        const uint32_t u32[] = {UINT32_MAX, 7};
        const long l[] = {LONG_MIN, LONG_MAX};
        const unsigned long ul[] = {ULONG_MAX, 0};
        const long long ll[] = {LLONG_MIN, 5};
        const unsigned long long ull[] = {ULLONG_MAX, 6};
        const ssize_t n[] = {-3, SSIZE_MAX};
        const size_t un[] = {SIZE_MAX, 9};
        const float f[] = {1.5f, -INFINITY};
        const double d[] = {-2.25, 1e300};
        const uint8_t bools[] = {0, 3};
        const char chars[] = {'x', '\xff'};
        const int8_t s8[] = {-128, 127};
        shmv_view *v;
#define TWO(fmt, arr, field)                                                   \
        do {                                                                   \
                v = values_view(w, 100, arr, sizeof(arr), fmt);                \
                CHECK_EQ(shmv_view_len(v), 2);                                 \
                CHECK_OK(shmv_view_tolist(v, items, 2));                       \
                CHECK(items[0].format == fmt[0] && items[1].format == fmt[0]); \
                CHECK(items[0].field == arr[0] && items[1].field == arr[1]);   \
                CHECK_OK(shmv_view_item(v, -1, &items[2]));                    \
                CHECK(items[2].field == arr[1]);                               \
                shmv_view_release(v);                                          \
        } while (0)
        TWO("i", i32, i);
        TWO("I", u32, u);
        TWO("l", l, i);
        TWO("L", ul, u);
        TWO("q", ll, i);
        TWO("Q", ull, u);
        TWO("n", n, i);
        TWO("N", un, u);
        TWO("f", f, f);
        TWO("d", d, f);
        TWO("c", chars, c);
        TWO("b", s8, i);
#undef TWO
        v = values_view(w, 100, bools, sizeof(bools), "?");
        CHECK_OK(shmv_view_tolist(v, items, 2));
        CHECK_EQ(items[0].format, '?');
        CHECK(!items[0].b);
        CHECK(items[1].b);
        shmv_view_release(v);

        /* Nothing to unpack: NULL is fine for an empty view. */
        shmv_view *e = slice(w, 0, 0, SHMV_NONE);
        CHECK_OK(shmv_view_tolist(e, NULL, 0));
        CHECK_RC(shmv_view_item(e, 0, &items[0]), -ERANGE);
        CHECK_RC(shmv_view_item(w, 0, NULL), -EINVAL);
        shmv_view_release(e);

        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* The mapping lives as long as any handle over it; the daemon counts the view open as long. */
static void test_release_order(void)
{
        shmv_client *c = th_connect();
        char name[64];
        size_t ps = page_size();
        seg_create(c, name, "order", 3 * ps, 0);
        shmv_view *w = view_open(c, name, 0, SHMV_TO_END, RW);
        for (size_t i = 0; i < 3 * ps; i += 97) {
                uint8_t b = (uint8_t)(i / 97);
                CHECK_OK(shmv_view_set(w, (ptrdiff_t)i, &b));
        }
        CHECK_EQ(views_open(c, name, true), 1);
        CHECK_EQ(views_open(c, name, false), 0);

        shmv_view *v = view_open(c, name, 0, SHMV_TO_END, SHMV_READ);
        const uint8_t *base = shmv_view_data(v);
        /* The segment's pages and, after them, its doorbell page (docs/views.md). */
        CHECK_EQ(mapping_size(base), 4 * ps);
        CHECK(page_mapped(base));
        CHECK_EQ(views_open(c, name, false), 1);
        shmv_view *s = slice(v, 97, SHMV_NONE, 97);
        shmv_view *cv = cast(v, "q");
        shmv_view *ro = readonly_copy(s);
        shmv_view *ss = slice(s, SHMV_NONE, SHMV_NONE, -1);

        shmv_view_release(v);
        /* The slice outlives its parent. */
        for (size_t i = 0; i < shmv_view_len(s); i++)
                CHECK_EQ(get_byte(s, (ptrdiff_t)i), (uint8_t)(i + 1));
        CHECK_EQ(mapping_size(base), 4 * ps);
        CHECK_EQ(views_open(c, name, false), 1);
        shmv_view_release(s);
        CHECK_EQ(get_byte(ss, -1), 1);
        CHECK_EQ(get_byte(ro, 0), 1);
        shmv_view_release(ss);
        shmv_view_release(ro);
        CHECK(page_mapped(base + 2 * ps));
        CHECK_EQ(views_open(c, name, false), 1);
        int64_t q;
        CHECK_OK(shmv_view_get(cv, 0, &q));
        shmv_view_release(cv);
        /* The last handle: the pages go, and the daemon hears of it (requests are answered in
         * order, so the release is processed before the stat). */
        CHECK(!page_mapped(base));
        CHECK(!page_mapped(base + 2 * ps));
        CHECK_EQ(mapping_size(base), 0);
        CHECK_EQ(views_open(c, name, false), 0);
        CHECK_EQ(views_open(c, name, true), 1);

        /* The same for a writable view, released child-first this time. */
        const uint8_t *wbase = shmv_view_data(w);
        shmv_view *ws = slice(w, 1, 2, SHMV_NONE);
        shmv_view_release(ws);
        CHECK_EQ(mapping_size(wbase), 4 * ps);
        CHECK_EQ(views_open(c, name, true), 1);
        ws = slice(w, 1, 2, SHMV_NONE);
        shmv_view_release(w);
        CHECK_EQ(views_open(c, name, true), 1);
        CHECK(page_mapped(wbase));
        uint8_t b = 0x5a;
        CHECK_OK(shmv_view_set(ws, 0, &b));
        shmv_view_release(ws);
        CHECK(!page_mapped(wbase));
        CHECK_EQ(views_open(c, name, true), 0);

        shmv_view_release(NULL);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* Views stay usable after shmv_disconnect(); the daemon released them when the connection
 * ended, and the late release is dropped. */
static void test_views_outlive_client(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "outlive", 4096, 0);
        shmv_view *v = view_open(c, name, 0, SHMV_TO_END, RW);
        shmv_view *s = slice(v, 10, 20, SHMV_NONE);
        shmv_disconnect(c);
        CHECK_OK(shmv_view_write(s, "0123456789", 10));
        shmv_view_release(v);
        CHECK_EQ(get_byte(s, 9), '9');

        c = th_connect();
        uint32_t n = 1;
        for (int i = 0; i < 200 && (n = views_open(c, name, true)) != 0; i++)
                usleep(5000);
        CHECK_EQ(n, 0);
        shmv_view *r = view_open(c, name, 10, 10, SHMV_READ);
        CHECK_EQ(shmv_view_equal(r, s), 1);
        shmv_view_release(s);
        shmv_view_release(r);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static uint8_t pattern_at(size_t p)
{
        return (uint8_t)(p * 131 + (p >> 8));
}

static void test_unaligned_ranges(void)
{
        shmv_client *c = th_connect();
        char name[64];
        size_t ps = page_size();
        uint64_t size = 3 * ps;
        seg_create(c, name, "range", size, 0);
        shmv_view *w = view_open(c, name, 0, SHMV_TO_END, RW);
        CHECK_EQ(shmv_view_len(w), size);
        uint8_t *d = th_data_mut(w);
        for (size_t p = 0; p < size; p++)
                d[p] = pattern_at(p);

        /* Only the pages holding the range are mapped, and item 0 is at the offset; a range
         * that reaches the last page maps the doorbell page after it in the same mapping. */
        const struct {
                uint64_t offset, length;
                size_t len, pages;
        } ranges[] = {
                {ps + 13, 100, 100, 1},
                {ps - 10, 20, 20, 2},
                {ps + 13, SHMV_TO_END, 2 * ps - 13, 2 + 1},
                {1, SHMV_TO_END, 3 * ps - 1, 3 + 1},
                {2 * ps, ps, ps, 1 + 1},
                {3 * ps - 1, 1, 1, 1 + 1},
                {0, 1, 1, 1},
        };
        for (size_t i = 0; i < NELEM(ranges); i++) {
                shmv_view *v = view_open(c, name, ranges[i].offset, ranges[i].length, SHMV_READ);
                const uint8_t *data = shmv_view_data(v);
                CHECK_EQ(shmv_view_len(v), ranges[i].len);
                CHECK_EQ(((uintptr_t)data & (ps - 1)), ranges[i].offset % ps);
                CHECK_EQ(mapping_size(data), ranges[i].pages * ps);
                for (size_t k = 0; k < ranges[i].len; k++)
                        CHECK_EQ(data[k], pattern_at(ranges[i].offset + k));
                shmv_view_release(v);
                CHECK(!page_mapped(data));
        }

        /* Empty views, at the end or anywhere inside: no mapping, but counted by the daemon. */
        shmv_view *e1 = view_open(c, name, size, SHMV_TO_END, SHMV_READ);
        shmv_view *e2 = view_open(c, name, size, 0, SHMV_READ);
        shmv_view *e3 = view_open(c, name, ps + 5, 0, RW);
        CHECK_EQ(shmv_view_len(e1), 0);
        CHECK_EQ(shmv_view_len(e2), 0);
        CHECK_EQ(shmv_view_len(e3), 0);
        void *e3_data = NULL;
        CHECK_OK(shmv_view_data_mut(e3, &e3_data));
        CHECK(shmv_view_data(e1) != NULL && e3_data != NULL);
        CHECK_EQ(views_open(c, name, false), 2);
        CHECK_EQ(views_open(c, name, true), 2);
        shmv_view *es = slice(e3, SHMV_NONE, SHMV_NONE, -1);
        CHECK_OK(shmv_view_write(es, "", 0));
        /* Empty with a stride of -1: not contiguous, as memoryview's flag says. */
        shmv_view *ec = NULL;
        CHECK_RC(shmv_view_cast(es, "d", &ec), -EINVAL);
        ec = cast(e3, "d");
        CHECK_EQ(shmv_view_len(ec), 0);
        CHECK_EQ(shmv_view_equal(ec, e1), 1);
        shmv_view_release(e1);
        shmv_view_release(e2);
        shmv_view_release(e3);
        CHECK_EQ(views_open(c, name, false), 0);
        CHECK_EQ(views_open(c, name, true), 2);
        shmv_view_release(es);
        shmv_view_release(ec);
        CHECK_EQ(views_open(c, name, true), 1);

        /* Range errors. */
        shmv_view *v = NULL;
        CHECK_RC(shmv_view_open(c, name, size + 1, 0, SHMV_READ, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, size + 1, SHMV_TO_END, SHMV_READ, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, 0, size + 1, SHMV_READ, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, ps, 2 * ps + 1, SHMV_READ, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, size, 1, SHMV_READ, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, UINT64_MAX - 5, 10, SHMV_READ, &v), -EOVERFLOW);
        CHECK_RC(shmv_view_open(c, name, 2, UINT64_MAX - 1, SHMV_READ, &v), -EOVERFLOW);
        CHECK_RC(shmv_view_open(c, name, UINT64_MAX, SHMV_TO_END, SHMV_READ, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, 0, 1, 0, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, 0, 1, SHMV_WRITE, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, 0, 1, SHMV_READ | 8, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, "no-such-segment", 0, 1, SHMV_READ, &v), -ENOENT);
        CHECK_RC(shmv_view_open(c, NULL, 0, 1, SHMV_READ, &v), -EINVAL);
        CHECK_RC(shmv_view_open(c, name, 0, 1, SHMV_READ, NULL), -EINVAL);
        CHECK_RC(shmv_view_open(NULL, name, 0, 1, SHMV_READ, &v), -EINVAL);
        CHECK_NULL(v);
        CHECK_EQ(views_open(c, name, false), 0);
        CHECK_EQ(views_open(c, name, true), 1);

        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static sigjmp_buf segv_jump;

static void on_segv(int sig)
{
        siglongjmp(segv_jump, 1);
}

/* Whether writing one byte at p faults. */
static bool write_faults(const void *p)
{
        struct sigaction sa = {.sa_handler = on_segv}, old;
        volatile bool faulted = false;
        sigemptyset(&sa.sa_mask);
        CHECK_EQ(sigaction(SIGSEGV, &sa, &old), 0);
        if (sigsetjmp(segv_jump, 1) == 0)
                *(volatile uint8_t *)(uintptr_t)p = 0x77;
        else
                faulted = true;
        sigaction(SIGSEGV, &old, NULL);
        return faulted;
}

/* The kernel refuses to make a read-only view's pages writable. */
static void check_kernel_readonly(const shmv_view *v)
{
        void *page = (void *)((uintptr_t)shmv_view_data(v) & ~(uintptr_t)(page_size() - 1));
        errno = 0;
        CHECK_LT(mprotect(page, page_size(), PROT_READ | PROT_WRITE), 0);
        CHECK_EQ(errno, EACCES);
        CHECK_LT(mprotect(page, page_size(), PROT_READ | PROT_WRITE | PROT_EXEC), 0);
        CHECK(write_faults(shmv_view_data(v)));
        CHECK_EQ(get_byte(v, 0), 'k');
}

static void nobody_child(void *arg)
{
        const char *name = arg;
        th_become(65534, 65534);
        shmv_client *c = th_connect();
        shmv_view *v = NULL;
        CHECK_RC(shmv_view_open(c, name, 0, SHMV_TO_END, RW, &v), -EACCES);
        v = view_open(c, name, 13, SHMV_TO_END, SHMV_READ);
        check_kernel_readonly(v);
        /* The descriptor was closed after mapping, and the mapped file cannot be reopened
         * through /proc for a writable mapping. */
        unsigned long lo, hi;
        char path[128];
        CHECK(mapping_range(shmv_view_data(v), &lo, &hi));
        snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", lo, hi);
        errno = 0;
        CHECK_LT(open(path, O_RDWR | O_CLOEXEC), 0);
        CHECK(errno == EPERM || errno == EACCES);
        shmv_view_release(v);
        shmv_disconnect(c);
}

static void test_kernel_readonly(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "kernel", 2 * page_size(), 0644);
        shmv_view *w = view_open(c, name, 0, SHMV_TO_END, RW);
        memset(th_data_mut(w), 'k', 2 * page_size());
        /* A writable view really is writable. */
        CHECK(!write_faults(shmv_view_data(w)));
        CHECK_EQ(get_byte(w, 0), 0x77);
        memset(th_data_mut(w), 'k', 2 * page_size());
        CHECK_EQ(th_in_child(nobody_child, name), 0);
        /* Root too: the descriptor behind a read-only view was opened read-only. */
        shmv_view *r = view_open(c, name, 0, SHMV_TO_END, SHMV_READ);
        check_kernel_readonly(r);
        shmv_view_release(r);
        shmv_view_release(w);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

static void test_bad_arguments(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "args", 16, 0);
        shmv_view *v = view_open(c, name, 0, SHMV_TO_END, RW);
        uint8_t b = 0;
        shmv_item it;

        CHECK_EQ(shmv_view_len(NULL), 0);
        CHECK_EQ(shmv_view_nbytes(NULL), 0);
        CHECK_EQ(shmv_view_itemsize(NULL), 0);
        CHECK_EQ(shmv_view_stride(NULL), 0);
        CHECK_NULL(shmv_view_format(NULL));
        CHECK_EQ(shmv_view_hex_size(NULL, 0, 0), 0);
        errno = 0;
        CHECK_NULL(shmv_view_data(NULL));
        CHECK_EQ(errno, EINVAL);
        void *p = &b;
        CHECK_RC(shmv_view_data_mut(NULL, &p), -EINVAL);
        CHECK_RC(shmv_view_data_mut(v, NULL), -EINVAL);
        CHECK_PTR_EQ(p, &b);
        CHECK_RC(shmv_view_get(NULL, 0, &b), -EINVAL);
        CHECK_RC(shmv_view_get(v, 0, NULL), -EINVAL);
        CHECK_RC(shmv_view_set(NULL, 0, &b), -EINVAL);
        CHECK_RC(shmv_view_set(v, 0, NULL), -EINVAL);
        CHECK_RC(shmv_view_item(NULL, 0, &it), -EINVAL);
        CHECK_RC(shmv_view_tobytes(NULL, &b, 1), -EINVAL);
        CHECK_RC(shmv_view_cast(NULL, "B", &v), -EINVAL);
        CHECK(v != NULL);
        CHECK_EQ(shmv_view_len(v), 16);
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

struct churn {
        shmv_view *v;
        unsigned long sum;
};

static void *churn_thread(void *arg)
{
        struct churn *ch = arg;
        for (int i = 0; i < 20000; i++) {
                shmv_view *s = NULL, *t = NULL;
                if (shmv_view_slice(ch->v, i % 7, SHMV_NONE, -1 - i % 3, &s) < 0)
                        return NULL;
                if (shmv_view_toreadonly(s, &t) < 0)
                        return NULL;
                shmv_view_release(s);
                uint8_t b;
                if (shmv_view_get(t, 0, &b) == 0)
                        ch->sum += b;
                shmv_view_release(t);
        }
        return ch;
}

/* Handles derived from one view, made and released in several threads at once: the mapping's
 * reference count stays exact. */
static void test_threads(void)
{
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "threads", 64, 0);
        shmv_view *v = view_open(c, name, 0, SHMV_TO_END, RW);
        memset(th_data_mut(v), 1, 64);
        pthread_t th[4];
        struct churn ch[4];
        for (int i = 0; i < 4; i++) {
                ch[i] = (struct churn){.v = v};
                CHECK_EQ(pthread_create(&th[i], NULL, churn_thread, &ch[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
                void *ret;
                CHECK_EQ(pthread_join(th[i], &ret), 0);
                CHECK_PTR_EQ(ret, &ch[i]);
                CHECK_EQ(ch[i].sum, 20000);
        }
        const void *base = shmv_view_data(v);
        CHECK(page_mapped(base));
        CHECK_EQ(views_open(c, name, true), 1);
        shmv_view_release(v);
        CHECK(!page_mapped(base));
        CHECK_EQ(views_open(c, name, true), 0);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

/* How many of the pages of [addr, addr + len) this process has mapped in its page tables:
 * the "present" bit of /proc/self/pagemap, which any process may read for itself. */
static size_t pages_present(const void *addr, size_t len)
{
        size_t ps = page_size();
        uintptr_t first = (uintptr_t)addr / ps, last = ((uintptr_t)addr + len - 1) / ps;
        int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        CHECK_GE(fd, 0);
        size_t n = 0;
        for (uintptr_t p = first; p <= last; p++) {
                uint64_t e;
                CHECK_EQ(pread(fd, &e, sizeof(e), (off_t)(p * sizeof(e))), sizeof(e));
                n += (e >> 63) & 1;
        }
        close(fd);
        return n;
}

/* SHMV_PREFAULT maps every page of the range at open; without it nothing is mapped before it
 * is touched. Either way the bytes are the same. */
static void test_prefault(void)
{
        shmv_client *c = th_connect();
        char name[64];
        size_t ps = page_size(), pages = 64;
        seg_create(c, name, "prefault", pages * ps, 0600);
        shmv_view *w = view_open(c, name, 0, SHMV_TO_END, RW);
        uint8_t *p = th_data_mut(w);
        for (size_t i = 0; i < pages * ps; i++)
                p[i] = (uint8_t)(i * 7);
        shmv_view_release(w);

        shmv_view *lazy = view_open(c, name, 0, SHMV_TO_END, SHMV_READ);
        CHECK_EQ(pages_present(shmv_view_data(lazy), pages * ps), 0);
        shmv_view *eager = view_open(c, name, 0, SHMV_TO_END, SHMV_READ | SHMV_PREFAULT);
        CHECK_EQ(pages_present(shmv_view_data(eager), pages * ps), pages);
        CHECK(shmv_view_readonly(eager));
        CHECK_EQ(shmv_view_nbytes(eager), pages * ps);
        CHECK_EQ(shmv_view_equal(lazy, eager), 1);
        CHECK_EQ(pages_present(shmv_view_data(lazy), pages * ps), pages);

        /* A range that does not start on a page: the pages holding it, all of them. */
        shmv_view *mid = view_open(c, name, 100, 3 * ps, SHMV_READ | SHMV_PREFAULT);
        CHECK_EQ(pages_present((const uint8_t *)shmv_view_data(mid) - 100, 4 * ps), 4);
        CHECK_EQ(get_byte(mid, 0), (uint8_t)(100 * 7));

        /* Writable too, and the writes reach the other views. */
        w = view_open(c, name, 0, SHMV_TO_END, RW | SHMV_PREFAULT);
        CHECK(!shmv_view_readonly(w));
        CHECK_EQ(pages_present(shmv_view_data(w), pages * ps), pages);
        uint8_t x = 0xee;
        CHECK_OK(shmv_view_set(w, 100, &x));
        CHECK_EQ(get_byte(mid, 0), 0xee);
        CHECK_EQ(get_byte(eager, 100), 0xee);
        CHECK_EQ(views_open(c, name, true), 1);
        CHECK_EQ(views_open(c, name, false), 3);

        shmv_view_release(w);
        shmv_view_release(mid);
        shmv_view_release(eager);
        shmv_view_release(lazy);
        CHECK_EQ(views_open(c, name, false), 0);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
}

#if !defined(__SANITIZE_ADDRESS__)
/* Item access and slicing make no system call: run them under seccomp's strict mode, which
 * kills the process on anything but read, write, exit and sigreturn. */
static void strict_child(void *arg)
{
        shmv_view *v = arg;
        /* Warm the allocator up so that it has the memory it will hand out. */
        shmv_view *warm[64];
        for (int i = 0; i < 64; i++)
                CHECK_OK(shmv_view_slice(v, 1, 2, 1, &warm[i]));
        for (int i = 0; i < 64; i++)
                shmv_view_release(warm[i]);
        uint8_t buf[64];
        char hex[256];
        shmv_item items[64];
        uint8_t b = 3;
        CHECK_EQ(prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT), 0);
        for (int i = 0; i < 1000; i++) {
                shmv_view *s, *t, *r;
                if (shmv_view_slice(v, i % 5, SHMV_NONE, -1, &s) < 0 ||
                    shmv_view_cast(v, "i", &t) < 0 || shmv_view_toreadonly(s, &r) < 0)
                        syscall(SYS_exit, 2);
                if (shmv_view_get(s, 0, &b) < 0 || shmv_view_set(s, 0, &b) < 0 ||
                    shmv_view_tobytes(s, buf, sizeof(buf)) < 0 ||
                    shmv_view_hex(s, hex, sizeof(hex), ':', 2) < 0 ||
                    shmv_view_tolist(t, items, 64) < 0 ||
                    shmv_view_write(s, buf, shmv_view_nbytes(s)) < 0 || shmv_view_equal(s, r) != 1)
                        syscall(SYS_exit, 3);
                shmv_view_release(r);
                shmv_view_release(t);
                shmv_view_release(s);
        }
        syscall(SYS_exit, 0);
}
#endif

static void test_no_syscalls(void)
{
#if defined(__SANITIZE_ADDRESS__)
        /* The sanitizer's allocator maps memory at its own pace. */
        return;
#else
        shmv_client *c = th_connect();
        char name[64];
        seg_create(c, name, "strict", 64, 0);
        shmv_view *v = view_open(c, name, 0, SHMV_TO_END, RW);
        int st = th_in_child(strict_child, v);
        if (st != 0)
                th_fail(__FILE__, __LINE__, "the strict-mode child ended with %d", st);
        shmv_view_release(v);
        CHECK_OK(shmv_segment_unlink(c, name));
        shmv_disconnect(c);
#endif
}

int main(int argc, char **argv)
{
        static const th_test tests[] = {
                TH_TEST(test_seed_session),
                TH_TEST(test_index),
                TH_TEST(test_slice_python),
                TH_TEST(test_slice_reference),
                TH_TEST(test_slice_edges),
                TH_TEST(test_write),
                TH_TEST(test_tobytes_hex),
                TH_TEST(test_cast),
                TH_TEST(test_ndim),
                TH_TEST(test_toreadonly),
                TH_TEST(test_equal),
                TH_TEST(test_item_tolist),
                TH_TEST(test_release_order),
                TH_TEST(test_views_outlive_client),
                TH_TEST(test_unaligned_ranges),
                TH_TEST(test_kernel_readonly),
                TH_TEST(test_bad_arguments),
                TH_TEST(test_threads),
                TH_TEST(test_no_syscalls),
                TH_TEST(test_prefault),
        };
        return th_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]), NULL);
}

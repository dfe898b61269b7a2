/* shmview.View: one libshmview view handle, exported through the buffer protocol, with
 * memoryview's semantics (Objects/memoryobject.c).
 *
 * A handle never changes once made (slices, casts and read-only copies are new handles), so
 * the shape and strides an export points at are filled in once, in the object. Exports are
 * counted: release() refuses while any is alive, as bytearray refuses to resize, and since
 * every export holds a reference to the View, the mapping outlives them all.
 *
 * Python code can run in the middle of an operation (an index's __index__, a stored value's
 * __float__ or __bool__) and release the view there. As memoryview does, every argument is
 * converted before the handle is used, and the handle is looked up again (live()) after any
 * conversion: a view released meanwhile raises ValueError and nothing is written. */
#include "binding.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>

typedef struct {
        PyObject_VAR_HEAD /* ob_size: the number of dimensions */
        shmv_view *view; /* NULL once released */
        PyObject *name; /* str: the segment's name */
        Py_ssize_t exports; /* live Py_buffers */
        Py_hash_t hash; /* -1 until first hashed */
        PyObject *weakreflist;
        Py_ssize_t dims[]; /* shape[ndim], then strides[ndim] */
} ViewObject;

#define View_Check(o) PyObject_TypeCheck(o, &shmv__py_view_type)
#define NDIM(self) Py_SIZE(self)
#define SHAPE(self) ((self)->dims)
#define STRIDES(self) ((self)->dims + Py_SIZE(self))

/* Libshmview's const accessors hand out addresses Py_buffer wants without const. */
#define UNCONST(p) ((void *)(uintptr_t)(p))

static const char released_msg[] = "operation forbidden on released shmview.View object";

PyObject *shmv__py_view_new(shmv_view *v, PyObject *name)
{
        Py_ssize_t ndim = (Py_ssize_t)shmv_view_ndim(v);
        ViewObject *self = PyObject_NewVar(ViewObject, &shmv__py_view_type, ndim);

        if (!self) {
                Py_BEGIN_ALLOW_THREADS
                shmv_view_release(v);
                Py_END_ALLOW_THREADS
                return NULL;
        }
        self->view = v;
        self->name = Py_NewRef(name);
        self->exports = 0;
        self->hash = -1;
        self->weakreflist = NULL;
        for (Py_ssize_t d = 0; d < ndim; d++) {
                SHAPE(self)[d] = (Py_ssize_t)shmv_view_shape(v, (size_t)d);
                STRIDES(self)[d] = (Py_ssize_t)shmv_view_strides(v, (size_t)d);
        }
        return (PyObject *)self;
}

shmv_view *shmv__py_view_handle(PyObject *o)
{
        if (!View_Check(o)) {
                PyErr_SetString(PyExc_TypeError, "a shmview.View is wanted");
                return NULL;
        }
        if (!((ViewObject *)o)->view) {
                PyErr_SetString(PyExc_ValueError, released_msg);
                return NULL;
        }
        return ((ViewObject *)o)->view;
}

/* A new View over a handle derived from self's. */
static PyObject *view_derived(ViewObject *self, int r, shmv_view *v)
{
        if (r < 0)
                return shmv__py_set_error(r, NULL);
        return shmv__py_view_new(v, self->name);
}

/* Releases a handle that may be the last over its mapping: unmapping and telling the daemon
 * may wait on the connection's lock, which another thread can hold across a whole request, so
 * the GIL is let go meanwhile. */
static void handle_release(shmv_view *v)
{
        if (!v)
                return;
        Py_BEGIN_ALLOW_THREADS
        shmv_view_release(v);
        Py_END_ALLOW_THREADS
}

static void view_drop(ViewObject *self)
{
        shmv_view *v = self->view;

        self->view = NULL;
        handle_release(v);
}

static void view_dealloc(ViewObject *self)
{
        if (self->weakreflist)
                PyObject_ClearWeakRefs((PyObject *)self);
        view_drop(self);
        Py_XDECREF(self->name);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The handle of a live view, or NULL with memoryview's ValueError once released: at the
 * start of every operation, and again after any Python code it ran (memoryview's
 * CHECK_RELEASED and CHECK_RELEASED_AGAIN). */
static shmv_view *live(ViewObject *self)
{
        if (!self->view)
                PyErr_SetString(PyExc_ValueError, released_msg);
        return self->view;
}

/* The format character, without memoryview's optional '@'. */
static char format_char(shmv_view *v)
{
        const char *f = shmv_view_format(v);
        return f[0] == '@' ? f[1] : f[0];
}

static PyObject *view_repr(ViewObject *self)
{
        shmv_view *v = self->view;
        PyObject *shape, *r;

        if (!v)
                return PyUnicode_FromFormat("<released memory: shmview.View of %R>", self->name);
        if (NDIM(self) == 1)
                return PyUnicode_FromFormat("<shmview.View of %R: %zd items of '%s'%s%s>",
                                            self->name, SHAPE(self)[0], shmv_view_format(v),
                                            shmv_view_readonly(v) ? ", read-only" : "",
                                            shmv_view_contiguous(v) ? "" : ", strided");
        shape = PyObject_GetAttrString((PyObject *)self, "shape");
        if (!shape)
                return NULL;
        r = PyUnicode_FromFormat("<shmview.View of %R: shape %R of '%s'%s%s>", self->name, shape,
                                 shmv_view_format(v), shmv_view_readonly(v) ? ", read-only" : "",
                                 shmv_view_contiguous(v) ? "" : ", strided");
        Py_DECREF(shape);
        return r;
}

/* The buffer protocol, with memory_getbuf()'s rules and order. */

static int buffer_error(const char *msg)
{
        PyErr_SetString(PyExc_BufferError, msg);
        return -1;
}

static int view_getbuffer(ViewObject *self, Py_buffer *b, int flags)
{
        shmv_view *v = live(self);
        bool c_contig, f_contig;

        if (!v)
                return -1;
        c_contig = shmv_view_contiguous(v);
        f_contig = shmv_view_f_contiguous(v);
        if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE && shmv_view_readonly(v))
                return buffer_error("shmview.View is read-only");
        if ((flags & PyBUF_C_CONTIGUOUS) == PyBUF_C_CONTIGUOUS && !c_contig)
                return buffer_error("shmview.View is not contiguous (C)");
        if ((flags & PyBUF_F_CONTIGUOUS) == PyBUF_F_CONTIGUOUS && !f_contig)
                return buffer_error("shmview.View is not contiguous (Fortran)");
        if ((flags & PyBUF_ANY_CONTIGUOUS) == PyBUF_ANY_CONTIGUOUS && !c_contig && !f_contig)
                return buffer_error("shmview.View is not contiguous");
        if ((flags & PyBUF_STRIDES) != PyBUF_STRIDES && !c_contig)
                return buffer_error("shmview.View is not contiguous: the consumer must accept "
                                    "strides (PyBUF_STRIDES)");
        if ((flags & PyBUF_ND) != PyBUF_ND && (flags & PyBUF_FORMAT))
                return buffer_error("shmview.View: cannot cast to unsigned bytes if the format "
                                    "flag is present");

        b->buf = UNCONST(shmv_view_data(v));
        b->obj = Py_NewRef(self);
        b->len = (Py_ssize_t)shmv_view_nbytes(v);
        b->itemsize = (Py_ssize_t)shmv_view_itemsize(v);
        b->readonly = shmv_view_readonly(v);
        /* Without PyBUF_FORMAT the consumer reads unsigned bytes ("B"); without PyBUF_ND, as
         * one dimension of len bytes. */
        b->format = (flags & PyBUF_FORMAT) ? UNCONST(shmv_view_format(v)) : NULL;
        b->ndim = (flags & PyBUF_ND) == PyBUF_ND ? (int)NDIM(self) : 1;
        b->shape = (flags & PyBUF_ND) == PyBUF_ND ? SHAPE(self) : NULL;
        b->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? STRIDES(self) : NULL;
        b->suboffsets = NULL;
        b->internal = NULL;
        self->exports++;
        return 0;
}

static void view_releasebuffer(ViewObject *self, Py_buffer *b)
{
        self->exports--;
}

static PyBufferProcs view_as_buffer = {
        .bf_getbuffer = (getbufferproc)view_getbuffer,
        .bf_releasebuffer = (releasebufferproc)view_releasebuffer,
};

/* Items. */

static PyObject *item_to_object(const shmv_item *it)
{
        switch (it->format) {
        case 'B':
        case 'H':
        case 'I':
        case 'L':
        case 'Q':
        case 'N':
        case 'P':
                return PyLong_FromUnsignedLongLong(it->u);
        case 'f':
        case 'd':
                return PyFloat_FromDouble(it->f);
        case '?':
                return PyBool_FromLong(it->b);
        case 'c':
                return PyBytes_FromStringAndSize(&it->c, 1);
        default:
                return PyLong_FromLongLong(it->i);
        }
}

static PyObject *item_object(const void *it)
{
        return item_to_object(it);
}

static int bad_item(PyObject *exc, char fmt)
{
        PyErr_Format(exc, "shmview.View: invalid %s for format '%c'",
                     exc == PyExc_TypeError ? "type" : "value", fmt);
        return -1;
}

/* memoryview's fix_error_int(): a failed conversion is TypeError "invalid type" or ValueError
 * "invalid value"; other exceptions go through. */
static int conversion_error(char fmt)
{
        if (PyErr_ExceptionMatches(PyExc_TypeError)) {
                PyErr_Clear();
                return bad_item(PyExc_TypeError, fmt);
        }
        if (PyErr_ExceptionMatches(PyExc_OverflowError) ||
            PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                return bad_item(PyExc_ValueError, fmt);
        }
        return -1;
}

/* struct.pack() of one native item into out, with memoryview's pack_single() errors. May run
 * Python code (__index__, __float__, __bool__): the caller looks the view up again after. */
static int pack_item(char fmt, PyObject *value, unsigned char *out)
{
        PyObject *n;
        long long s;
        unsigned long long u;
        double d;
        void *p;
        int t;

        switch (fmt) {
        case 'c':
                if (!PyBytes_Check(value))
                        return bad_item(PyExc_TypeError, fmt);
                if (PyBytes_GET_SIZE(value) != 1)
                        return bad_item(PyExc_ValueError, fmt);
                out[0] = (unsigned char)PyBytes_AS_STRING(value)[0];
                return 0;
        case '?':
                t = PyObject_IsTrue(value);
                if (t < 0)
                        return -1;
                out[0] = (unsigned char)t;
                return 0;
        case 'f':
        case 'd':
                d = PyFloat_AsDouble(value);
                if (d == -1.0 && PyErr_Occurred())
                        return conversion_error(fmt);
                if (fmt == 'd') {
                        memcpy(out, &d, sizeof(d));
                } else {
                        /* Out of float's range is +-inf, as memoryview's C cast (IEEE 754). */
                        float f = (float)d;
                        memcpy(out, &f, sizeof(f));
                }
                return 0;
        case 'P':
                p = PyLong_AsVoidPtr(value);
                if (!p && PyErr_Occurred())
                        return conversion_error(fmt);
                memcpy(out, &p, sizeof(p));
                return 0;
        }

        n = PyNumber_Index(value);
        if (!n)
                return conversion_error(fmt);
        if (strchr("BHILQN", fmt)) {
                u = PyLong_AsUnsignedLongLong(n);
                Py_DECREF(n);
                if (u == (unsigned long long)-1 && PyErr_Occurred())
                        return conversion_error(fmt);
#define PUT(type, max)                        \
        do {                                  \
                type x_ = (type)u;            \
                if (u > (max))                \
                        goto range;           \
                memcpy(out, &x_, sizeof(x_)); \
        } while (0)
                switch (fmt) {
                case 'B':
                        PUT(unsigned char, UCHAR_MAX);
                        break;
                case 'H':
                        PUT(unsigned short, USHRT_MAX);
                        break;
                case 'I':
                        PUT(unsigned int, UINT_MAX);
                        break;
                case 'L':
                        PUT(unsigned long, ULONG_MAX);
                        break;
                case 'Q':
                        PUT(unsigned long long, ULLONG_MAX);
                        break;
                default:
                        PUT(size_t, SIZE_MAX);
                        break;
                }
#undef PUT
                return 0;
        }
        s = PyLong_AsLongLong(n);
        Py_DECREF(n);
        if (s == -1 && PyErr_Occurred())
                return conversion_error(fmt);
#define PUT(type, min, max)                   \
        do {                                  \
                type x_ = (type)s;            \
                if (s < (min) || s > (max))   \
                        goto range;           \
                memcpy(out, &x_, sizeof(x_)); \
        } while (0)
        switch (fmt) {
        case 'b':
                PUT(signed char, SCHAR_MIN, SCHAR_MAX);
                break;
        case 'h':
                PUT(short, SHRT_MIN, SHRT_MAX);
                break;
        case 'i':
                PUT(int, INT_MIN, INT_MAX);
                break;
        case 'l':
                PUT(long, LONG_MIN, LONG_MAX);
                break;
        case 'q':
                PUT(long long, LLONG_MIN, LLONG_MAX);
                break;
        default:
                PUT(ssize_t, PY_SSIZE_T_MIN, PY_SSIZE_T_MAX);
                break;
        }
#undef PUT
        return 0;
range:
        return bad_item(PyExc_ValueError, fmt);
}

/* Keys, as memory_subscript() and memory_ass_sub() tell them apart. */

/* A tuple of indices, one per dimension (memoryview's is_multiindex()). */
static bool is_multiindex(PyObject *key)
{
        if (!PyTuple_Check(key))
                return false;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(key); i++)
                if (!PyIndex_Check(PyTuple_GET_ITEM(key, i)))
                        return false;
        return true;
}

/* A non-empty tuple of slices (is_multislice()). */
static bool is_multislice(PyObject *key)
{
        if (!PyTuple_Check(key) || PyTuple_GET_SIZE(key) == 0)
                return false;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(key); i++)
                if (!PySlice_Check(PyTuple_GET_ITEM(key, i)))
                        return false;
        return true;
}

static int index_error(Py_ssize_t dim)
{
        PyErr_Format(PyExc_IndexError, "index out of bounds on dimension %zd", dim + 1);
        return -1;
}

static bool out_of_bounds(Py_ssize_t i, Py_ssize_t len)
{
        return i < -len || i >= len;
}

/* The indices of key, an index or a tuple of them (one per dimension), into idx: their count,
 * or -1 with memoryview's exception. A tuple's indices are checked against the shape (which
 * the object keeps after a release) as they are converted, as ptr_from_tuple() does; a single
 * index is left to the caller. Runs Python code (__index__). */
static Py_ssize_t key_indices(ViewObject *self, PyObject *key, Py_ssize_t *idx)
{
        Py_ssize_t n;

        if (PyIndex_Check(key)) {
                idx[0] = PyNumber_AsSsize_t(key, PyExc_IndexError);
                return idx[0] == -1 && PyErr_Occurred() ? -1 : 1;
        }
        n = PyTuple_GET_SIZE(key);
        if (n < NDIM(self)) {
                PyErr_SetString(PyExc_NotImplementedError, "sub-views are not implemented");
                return -1;
        }
        if (n > NDIM(self)) {
                PyErr_Format(PyExc_TypeError,
                             "cannot index %zd-dimension view with %zd-element tuple", NDIM(self),
                             n);
                return -1;
        }
        for (Py_ssize_t d = 0; d < n; d++) {
                idx[d] = PyNumber_AsSsize_t(PyTuple_GET_ITEM(key, d), PyExc_IndexError);
                if (idx[d] == -1 && PyErr_Occurred())
                        return -1;
                if (out_of_bounds(idx[d], SHAPE(self)[d]))
                        return index_error(d);
        }
        return n;
}

static PyObject *zero_dim_error(void)
{
        PyErr_SetString(PyExc_TypeError, "invalid indexing of 0-dim memory");
        return NULL;
}

static PyObject *sub_views_error(void)
{
        PyErr_SetString(PyExc_NotImplementedError,
                        "multi-dimensional sub-views are not implemented");
        return NULL;
}

/* The item at idx[0..n) of v, or NULL with memoryview's exception. */
static PyObject *item_at(shmv_view *v, const Py_ssize_t *idx, Py_ssize_t n)
{
        shmv_item it;
        int r = shmv_view_item_at(v, idx, (size_t)n, &it);

        if (r == -ENOTSUP)
                return sub_views_error();
        if (r == -ERANGE) {
                /* IndexError, not ValueError: iteration and sequence code rely on it. */
                index_error(0);
                return NULL;
        }
        if (r < 0)
                return shmv__py_set_error(r, NULL);
        return item_to_object(&it);
}

/* view[i] and view[i, j, ...]. */
static PyObject *view_get(ViewObject *self, PyObject *key)
{
        Py_ssize_t idx[SHMV_MAX_NDIM], n = key_indices(self, key, idx);
        shmv_view *v;

        if (n < 0 || !(v = live(self)))
                return NULL;
        return item_at(v, idx, n);
}

static PyObject *view_item(ViewObject *self, Py_ssize_t index)
{
        shmv_view *v = live(self);

        if (!v)
                return NULL;
        if (NDIM(self) == 0)
                return zero_dim_error();
        return item_at(v, &index, 1);
}

/* A zero-dimensional view's key: () for its item, ... for the view itself. */
static bool is_zero_dim_key(PyObject *key)
{
        return key == Py_Ellipsis || (PyTuple_Check(key) && PyTuple_GET_SIZE(key) == 0);
}

/* Resolves a slice to arguments shmv_view_slice() reads as Python would: PySlice_Unpack()
 * clamps huge bounds to PY_SSIZE_T_MIN, which is also the library's "omitted" (SHMV_NONE),
 * so the bounds are adjusted to the length here and only the one value that can still be
 * negative, the stop of a backward slice running to the start, is passed as omitted. Runs
 * Python code (__index__ of the bounds). */
static int slice_args(PyObject *key, Py_ssize_t len, Py_ssize_t *start, Py_ssize_t *stop,
                      Py_ssize_t *step)
{
        if (PySlice_Unpack(key, start, stop, step) < 0)
                return -1;
        if (PySlice_AdjustIndices(len, start, stop, *step) == 0)
                *start = *stop = 0;
        else if (*stop < 0)
                *stop = SHMV_NONE;
        return 0;
}

/* Whether unpacking the slice runs Python code: a part neither None nor an int. */
static bool slice_runs_code(PyObject *key)
{
        PySliceObject *s = (PySliceObject *)key;
        PyObject *parts[] = {s->start, s->stop, s->step};

        for (size_t i = 0; i < 3; i++)
                if (parts[i] != Py_None && !PyLong_CheckExact(parts[i]))
                        return true;
        return false;
}

/* view[a:b:c], on the first dimension. memoryview slices its managed buffer, which a release
 * by a bound's __index__ leaves alive: a handle of this call's own keeps the mapping the same
 * way while the bounds are converted. */
static PyObject *view_slice(ViewObject *self, shmv_view *v, PyObject *key)
{
        Py_ssize_t start, stop, step;
        shmv_view *base = v, *n = NULL;
        bool own = slice_runs_code(key);
        PyObject *res = NULL;
        int r;

        if (own) {
                r = shmv_view_slice(v, SHMV_NONE, SHMV_NONE, SHMV_NONE, &base);
                if (r < 0)
                        return shmv__py_set_error(r, NULL);
        }
        if (slice_args(key, SHAPE(self)[0], &start, &stop, &step) == 0) {
                r = shmv_view_slice(base, start, stop, step, &n);
                res = view_derived(self, r, n);
        }
        if (own)
                handle_release(base);
        return res;
}

static PyObject *view_subscript(ViewObject *self, PyObject *key)
{
        shmv_view *v = live(self);

        if (!v)
                return NULL;
        if (NDIM(self) == 0) {
                if (key == Py_Ellipsis)
                        return Py_NewRef(self);
                return is_zero_dim_key(key) ? item_at(v, NULL, 0) : zero_dim_error();
        }
        if (PyIndex_Check(key) || is_multiindex(key))
                return view_get(self, key);
        if (PySlice_Check(key))
                return view_slice(self, v, key);
        if (is_multislice(key)) {
                PyErr_SetString(PyExc_NotImplementedError,
                                "multi-dimensional slicing is not implemented");
                return NULL;
        }
        PyErr_SetString(PyExc_TypeError, "shmview.View: invalid slice key");
        return NULL;
}

/* Strips the optional '@' of a native format; NULL (a consumer's "unsigned bytes") is "B". */
static const char *native_format(const char *f)
{
        if (!f)
                return "B";
        return f[0] == '@' ? f + 1 : f;
}

/* view[slice] = buffer (one dimension): the same item count, itemsize and format, as
 * memoryview's copy_single() wants. */
static int assign_slice(ViewObject *self, PyObject *key, PyObject *value)
{
        Py_ssize_t start, stop, step;
        shmv_view *v, *n = NULL;
        Py_buffer src;
        void *tmp = NULL;
        const void *data;
        int r = -1;

        if (PyObject_GetBuffer(value, &src, PyBUF_FULL_RO) < 0)
                return -1;
        if (slice_args(key, SHAPE(self)[0], &start, &stop, &step) < 0 || !(v = live(self)))
                goto out;
        r = shmv_view_slice(v, start, stop, step, &n);
        if (r < 0) {
                shmv__py_set_error(r, NULL);
                goto out;
        }
        r = -1;
        if (src.ndim != 1 || (Py_ssize_t)shmv_view_len(n) != src.shape[0] ||
            (size_t)src.itemsize != shmv_view_itemsize(n) ||
            strcmp(native_format(src.format), native_format(shmv_view_format(n))) != 0) {
                PyErr_SetString(PyExc_ValueError, "shmview.View assignment: left and right "
                                                  "sides have different structures");
                goto out;
        }
        data = src.buf;
        if (!PyBuffer_IsContiguous(&src, 'C')) {
                tmp = PyMem_Malloc(src.len ? (size_t)src.len : 1);
                if (!tmp) {
                        PyErr_NoMemory();
                        goto out;
                }
                if (PyBuffer_ToContiguous(tmp, &src, src.len, 'C') < 0)
                        goto out;
                data = tmp;
        }
        /* The source may overlap the view (v[1:] = v[:-1]); shmv_view_write() allows that. */
        r = shmv_view_write(n, data, (size_t)src.len);
        if (r < 0)
                shmv__py_set_error(r, NULL);
out:
        PyMem_Free(tmp);
        shmv_view_release(n); /* a slice of a live view: never the last handle of the mapping */
        PyBuffer_Release(&src);
        return r < 0 ? -1 : 0;
}

/* view[i] = x and view[i, j, ...] = x: the index first (IndexError before any complaint
 * about the value), then the value, then the view looked up again. */
static int assign_item(ViewObject *self, char fmt, PyObject *key, PyObject *value)
{
        Py_ssize_t idx[SHMV_MAX_NDIM], n;
        unsigned char item[16];
        shmv_view *v;
        int r;

        if (PyIndex_Check(key) && NDIM(self) > 1) {
                PyErr_SetString(PyExc_NotImplementedError, "sub-views are not implemented");
                return -1;
        }
        n = key == Py_Ellipsis ? 0 : key_indices(self, key, idx);
        if (n < 0)
                return -1;
        if (n == 1 && out_of_bounds(idx[0], SHAPE(self)[0]))
                return index_error(0);
        if (pack_item(fmt, value, item) < 0 || !(v = live(self)))
                return -1;
        r = shmv_view_set_at(v, idx, (size_t)n, item);
        if (r < 0) {
                shmv__py_set_error(r, NULL);
                return -1;
        }
        return 0;
}

static int view_ass_subscript(ViewObject *self, PyObject *key, PyObject *value)
{
        shmv_view *v = live(self);

        if (!v)
                return -1;
        /* As memoryview: read-only first, whatever the key. */
        if (shmv_view_readonly(v)) {
                shmv__py_set_error(-EROFS, NULL);
                return -1;
        }
        if (!value) {
                PyErr_SetString(PyExc_TypeError, "cannot delete shmview.View items");
                return -1;
        }
        if (NDIM(self) == 0) {
                if (is_zero_dim_key(key))
                        return assign_item(self, format_char(v), key, value);
                zero_dim_error();
                return -1;
        }
        if (PyIndex_Check(key) || is_multiindex(key))
                return assign_item(self, format_char(v), key, value);
        if (PySlice_Check(key) && NDIM(self) == 1)
                return assign_slice(self, key, value);
        if (PySlice_Check(key) || is_multislice(key)) {
                PyErr_SetString(PyExc_NotImplementedError,
                                "shmview.View slice assignments are restricted to ndim = 1");
                return -1;
        }
        PyErr_SetString(PyExc_TypeError, "shmview.View: invalid slice key");
        return -1;
}

static Py_ssize_t view_length(ViewObject *self)
{
        if (!live(self))
                return -1;
        /* 3.11's memoryview: a zero-dimensional view has one item. */
        return NDIM(self) == 0 ? 1 : SHAPE(self)[0];
}

/* iter(view): memory_iter()'s refusals at once, then the items by index. */
static PyObject *view_iter(ViewObject *self)
{
        if (!live(self))
                return NULL;
        if (NDIM(self) == 0)
                return zero_dim_error();
        if (NDIM(self) != 1)
                return sub_views_error();
        return PySeqIter_New((PyObject *)self);
}

static PySequenceMethods view_as_sequence = {
        .sq_length = (lenfunc)view_length,
        .sq_item = (ssizeargfunc)view_item,
};

static PyMappingMethods view_as_mapping = {
        .mp_length = (lenfunc)view_length,
        .mp_subscript = (binaryfunc)view_subscript,
        .mp_ass_subscript = (objobjargproc)view_ass_subscript,
};

/* == as memoryview's: shapes, then items compared as values by their formats. A released
 * view equals only itself; a live one is compared by value even with itself, so that a view
 * holding a NaN is unequal to itself, as memoryview is. */
static PyObject *view_richcompare(ViewObject *self, PyObject *other, int op)
{
        PyObject *mv, *res;
        int eq;

        if (op != Py_EQ && op != Py_NE)
                Py_RETURN_NOTIMPLEMENTED;
        if (!self->view || (View_Check(other) && !((ViewObject *)other)->view)) {
                eq = (PyObject *)self == other;
        } else if (View_Check(other)) {
                eq = shmv_view_equal(self->view, ((ViewObject *)other)->view);
                if (eq < 0)
                        return shmv__py_set_error(eq, NULL);
        } else if (PyObject_CheckBuffer(other)) {
                mv = PyMemoryView_FromObject((PyObject *)self);
                if (!mv)
                        return NULL;
                res = PyObject_RichCompare(mv, other, op);
                Py_XDECREF(PyObject_CallMethod(mv, "release", NULL));
                Py_DECREF(mv);
                return res;
        } else {
                Py_RETURN_NOTIMPLEMENTED;
        }
        return PyBool_FromLong(op == Py_EQ ? eq : !eq);
}

/* hash() as memoryview's: read-only views of a byte format hash as their bytes do; the value
 * is kept, so a view released after its first hash still hashes. */
static Py_hash_t view_hash(ViewObject *self)
{
        shmv_view *v;
        PyObject *b;
        char f;

        if (self->hash != -1)
                return self->hash;
        if (!(v = live(self)))
                return -1;
        if (!shmv_view_readonly(v)) {
                PyErr_SetString(PyExc_ValueError, "cannot hash writable shmview.View object");
                return -1;
        }
        f = format_char(v);
        if (f != 'B' && f != 'b' && f != 'c') {
                PyErr_SetString(PyExc_ValueError,
                                "shmview.View: hashing is restricted to formats 'B', 'b' or 'c'");
                return -1;
        }
        b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)shmv_view_nbytes(v));
        if (!b)
                return -1;
        (void)shmv_view_tobytes(v, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
        self->hash = PyObject_Hash(b);
        Py_DECREF(b);
        return self->hash;
}

/* Methods. */

PyDoc_STRVAR(
        release_doc,
        "release($self, /)\n"
        "--\n"
        "\n"
        "Releases the view: when it is the last one over its mapping, the memory is unmapped and\n"
        "the daemon told. Raises BufferError while a buffer export (a memoryview, a numpy array)\n"
        "of it is alive. Releasing twice is fine; any other use of a released view raises\n"
        "ValueError.");

static PyObject *view_release(ViewObject *self, PyObject *unused)
{
        if (self->exports > 0) {
                PyErr_Format(PyExc_BufferError,
                             "cannot release shmview.View while %zd buffer export%s "
                             "(memoryview, numpy array, ...) alive",
                             self->exports, self->exports == 1 ? " is" : "s are");
                return NULL;
        }
        view_drop(self);
        Py_RETURN_NONE;
}

static PyObject *view_enter(ViewObject *self, PyObject *unused)
{
        if (!live(self))
                return NULL;
        return Py_NewRef(self);
}

static PyObject *view_exit(ViewObject *self, PyObject *args)
{
        return view_release(self, NULL);
}

PyDoc_STRVAR(tobytes_doc,
             "tobytes($self, /, order=None)\n"
             "--\n"
             "\n"
             "The bytes of the view's items, in logical order (a copy): C order (last index\n"
             "fastest) for order 'C' or None, Fortran order (first index fastest) for 'F', and\n"
             "for 'A' Fortran order when the view is Fortran- but not C-contiguous, else C.");

/* The items of a view of more than one dimension in Fortran order (first index fastest). */
static void fortran_copy(ViewObject *self, shmv_view *v, char *dst)
{
        Py_ssize_t idx[SHMV_MAX_NDIM] = {0}, itemsize = (Py_ssize_t)shmv_view_itemsize(v);
        size_t n = shmv_view_nbytes(v) / (size_t)itemsize;
        const char *base = shmv_view_data(v);

        for (size_t k = 0; k < n; k++, dst += itemsize) {
                const char *p = base;
                for (Py_ssize_t d = 0; d < NDIM(self); d++)
                        p += idx[d] * STRIDES(self)[d];
                memcpy(dst, p, (size_t)itemsize);
                for (Py_ssize_t d = 0; d < NDIM(self); d++) {
                        if (++idx[d] < SHAPE(self)[d])
                                break;
                        idx[d] = 0;
                }
        }
}

static PyObject *view_tobytes(ViewObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"order", NULL};
        const char *order = NULL;
        shmv_view *v;
        PyObject *b;
        bool fortran;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|z:tobytes", kwlist, &order))
                return NULL;
        if (!(v = live(self)))
                return NULL;
        if (order && (strlen(order) != 1 || !strchr("CFA", order[0]))) {
                PyErr_SetString(PyExc_ValueError, "order must be 'C', 'F' or 'A'");
                return NULL;
        }
        fortran = order && NDIM(self) > 1 &&
                  (order[0] == 'F' ||
                   (order[0] == 'A' && shmv_view_f_contiguous(v) && !shmv_view_contiguous(v)));
        b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)shmv_view_nbytes(v));
        if (!b)
                return NULL;
        if (fortran)
                fortran_copy(self, v, PyBytes_AS_STRING(b));
        else
                (void)shmv_view_tobytes(v, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
        return b;
}

PyDoc_STRVAR(hex_doc, "hex($self, /, sep=None, bytes_per_sep=1)\n"
                      "--\n"
                      "\n"
                      "The bytes of the view in hexadecimal, as bytes.hex(sep, bytes_per_sep).");

static PyObject *view_hex(ViewObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"sep", "bytes_per_sep", NULL};
        PyObject *sep = NULL, *s;
        int bytes_per_sep = 1, r;
        char c = '\0';
        size_t size;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|Oi:hex", kwlist, &sep, &bytes_per_sep))
                return NULL;
        if (!live(self))
                return NULL;
        if (sep && sep != Py_None) {
                if (PyUnicode_Check(sep)) {
                        if (PyUnicode_GET_LENGTH(sep) != 1) {
                                PyErr_SetString(PyExc_ValueError, "sep must be length 1.");
                                return NULL;
                        }
                        if (PyUnicode_READ_CHAR(sep, 0) > 127) {
                                PyErr_SetString(PyExc_ValueError, "sep must be ASCII.");
                                return NULL;
                        }
                        c = (char)PyUnicode_READ_CHAR(sep, 0);
                } else if (PyBytes_Check(sep)) {
                        if (PyBytes_GET_SIZE(sep) != 1) {
                                PyErr_SetString(PyExc_ValueError, "sep must be length 1.");
                                return NULL;
                        }
                        c = PyBytes_AS_STRING(sep)[0];
                        if ((unsigned char)c > 127) {
                                PyErr_SetString(PyExc_ValueError, "sep must be ASCII.");
                                return NULL;
                        }
                } else {
                        PyErr_SetString(PyExc_TypeError, "sep must be str or bytes.");
                        return NULL;
                }
        }
        size = shmv_view_hex_size(self->view, c, bytes_per_sep);
        s = PyUnicode_New((Py_ssize_t)size - 1, 127);
        if (!s)
                return NULL;
        /* The string's buffer holds size - 1 characters and a NUL: exactly what is written. */
        r = shmv_view_hex(self->view, PyUnicode_DATA(s), size, c, bytes_per_sep);
        if (r < 0) {
                Py_DECREF(s);
                return shmv__py_set_error(r, NULL);
        }
        return s;
}

PyDoc_STRVAR(tolist_doc,
             "tolist($self, /)\n"
             "--\n"
             "\n"
             "The items as a list of Python values (int, float, bool or bytes, by format); with\n"
             "more than one dimension, nested lists, one level per dimension; with none, the\n"
             "item itself.");

/* The nested lists of tolist() for dimensions shape[0..ndim), from the items at *items on
 * (in C order), which it moves past. */
static PyObject *nested_list(const Py_ssize_t *shape, Py_ssize_t ndim, const shmv_item **items)
{
        PyObject *list;

        if (ndim == 0)
                return item_object(*items);
        if (ndim == 1) {
                list = shmv__py_list_new(*items, (size_t)shape[0], sizeof(**items), item_object);
                *items += shape[0];
                return list;
        }
        list = PyList_New(shape[0]);
        for (Py_ssize_t i = 0; list && i < shape[0]; i++) {
                PyObject *sub = nested_list(shape + 1, ndim - 1, items);
                if (!sub)
                        Py_CLEAR(list);
                else
                        PyList_SET_ITEM(list, i, sub);
        }
        return list;
}

static PyObject *view_tolist(ViewObject *self, PyObject *unused)
{
        shmv_view *v = live(self);
        shmv_item *items;
        const shmv_item *it;
        PyObject *list;
        size_t n;

        if (!v)
                return NULL;
        n = shmv_view_nbytes(v) / shmv_view_itemsize(v);
        items = PyMem_New(shmv_item, n ? n : 1);
        if (!items)
                return PyErr_NoMemory();
        (void)shmv_view_tolist(v, items, n);
        it = items;
        list = nested_list(SHAPE(self), NDIM(self), &it);
        PyMem_Free(items);
        return list;
}

PyDoc_STRVAR(
        cast_doc,
        "cast($self, /, format, shape=None)\n"
        "--\n"
        "\n"
        "A new View of the same memory with another item format, and with shape (a list or\n"
        "tuple of up to 64 integers > 0) that many dimensions in C order (none: one item), as\n"
        "memoryview.cast(format, shape): a native single-character struct format\n"
        "(b B h H i I l L q Q n N f d ? c P, optionally prefixed with '@', which format then\n"
        "keeps), one of the two formats a byte format (b B c), the view C-contiguous, one side\n"
        "of the cast one-dimensional, and the bytes the same. ValueError for a bad format or\n"
        "shape values, TypeError for the rest, as memoryview. No request is made to the daemon.");

static PyObject *cast_error(PyObject *type, const char *msg)
{
        PyErr_SetString(type, msg);
        return NULL;
}

/* memory_cast()'s checks that come before the format's, in its order. */
static int cast_check_view(ViewObject *self, shmv_view *v, PyObject *shape)
{
        Py_ssize_t n;

        if (!shmv_view_contiguous(v)) {
                cast_error(PyExc_TypeError, "shmview.View: casts are restricted to "
                                            "C-contiguous views");
                return -1;
        }
        if ((shape || NDIM(self) != 1) && shmv_view_nbytes(v) == 0) {
                cast_error(PyExc_TypeError, "shmview.View: cannot cast view with zeros in "
                                            "shape or strides");
                return -1;
        }
        if (!shape)
                return 0;
        if (!PyList_Check(shape) && !PyTuple_Check(shape)) {
                cast_error(PyExc_TypeError, "shape must be a list or a tuple");
                return -1;
        }
        n = PySequence_Fast_GET_SIZE(shape);
        if (n > SHMV_MAX_NDIM) {
                cast_error(PyExc_ValueError, "shmview.View: number of dimensions must not "
                                             "exceed 64");
                return -1;
        }
        if (NDIM(self) != 1 && n != 1) {
                cast_error(PyExc_TypeError, "shmview.View: cast must be 1D -> ND or ND -> 1D");
                return -1;
        }
        return 0;
}

/* Why a one-dimensional cast to format failed, in memoryview's words and exception types. */
static PyObject *cast_format_error(shmv_view *v, const char *format)
{
        static const char formats[] = "bBhHiIlLqQnNfd?cP";
        const char *f = native_format(format);

        if (!f[0] || f[1] || !strchr(formats, f[0]))
                return cast_error(PyExc_ValueError,
                                  "shmview.View: destination format must be a native single "
                                  "character format prefixed with an optional '@'");
        if (!strchr("bBc", f[0]) && !strchr("bBc", format_char(v)))
                return cast_error(PyExc_TypeError,
                                  "shmview.View: cannot cast between two non-byte formats");
        return cast_error(PyExc_TypeError, "shmview.View: length is not a multiple of itemsize");
}

/* cast_to_ND()'s checks of the shape's values, into dims. */
static int cast_shape(PyObject *shape, size_t itemsize, size_t nbytes, size_t *dims)
{
        Py_ssize_t n = PySequence_Fast_GET_SIZE(shape);
        size_t len = itemsize;

        for (Py_ssize_t i = 0; i < n; i++) {
                PyObject *o = PySequence_Fast_GET_ITEM(shape, i);
                Py_ssize_t x;
                /* PyLong_Check, not __index__, as memoryview: no Python code runs here. */
                if (!PyLong_Check(o)) {
                        cast_error(PyExc_TypeError, "shmview.View.cast(): elements of shape "
                                                    "must be integers");
                        return -1;
                }
                x = PyLong_AsSsize_t(o);
                if (x == -1 && PyErr_Occurred())
                        return -1;
                if (x <= 0) {
                        cast_error(PyExc_ValueError, "shmview.View.cast(): elements of shape "
                                                     "must be integers > 0");
                        return -1;
                }
                if ((size_t)x > (size_t)PY_SSIZE_T_MAX / len) {
                        cast_error(PyExc_ValueError, "shmview.View.cast(): product(shape) > "
                                                     "SSIZE_MAX");
                        return -1;
                }
                len *= (size_t)x;
                dims[i] = (size_t)x;
        }
        if (len != nbytes) {
                cast_error(PyExc_TypeError,
                           "shmview.View: product(shape) * itemsize != buffer size");
                return -1;
        }
        return 0;
}

static PyObject *view_cast(ViewObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"format", "shape", NULL};
        PyObject *fmt, *shape = NULL;
        size_t dims[SHMV_MAX_NDIM];
        shmv_view *v, *flat = NULL, *n = NULL;
        const char *format;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:cast", kwlist, &fmt, &shape))
                return NULL;
        if (!(v = live(self)))
                return NULL;
        if (!PyUnicode_Check(fmt))
                return cast_error(PyExc_TypeError,
                                  "shmview.View: format argument must be a string");
        if (cast_check_view(self, v, shape) < 0)
                return NULL;
        format = PyUnicode_AsUTF8(fmt);
        if (!format)
                return NULL;
        /* The cast to one dimension first: memoryview's cast_to_1D(), whose refusals come
         * before the shape's. */
        r = shmv_view_cast(v, format, &flat);
        if (r == -EINVAL)
                return cast_format_error(v, format);
        if (r < 0 || !shape)
                return view_derived(self, r, flat);
        if (cast_shape(shape, shmv_view_itemsize(flat), shmv_view_nbytes(flat), dims) < 0) {
                shmv_view_release(flat);
                return NULL;
        }
        shmv_view_release(flat);
        r = shmv_view_cast_shape(v, format, dims, (size_t)PySequence_Fast_GET_SIZE(shape), &n);
        return view_derived(self, r, n);
}

PyDoc_STRVAR(toreadonly_doc,
             "toreadonly($self, /)\n"
             "--\n"
             "\n"
             "A read-only View of the same memory (a new handle; no request to the daemon).");

static PyObject *view_toreadonly(ViewObject *self, PyObject *unused)
{
        shmv_view *v = live(self), *n = NULL;
        int r;

        if (!v)
                return NULL;
        r = shmv_view_toreadonly(v, &n);
        return view_derived(self, r, n);
}

/* The change doorbell (docs/views.md, "The change doorbell"). */

PyDoc_STRVAR(
        notify_doc,
        "notify($self, /)\n"
        "--\n"
        "\n"
        "Rings the segment's change doorbell: its generation grows by one and every\n"
        "View.wait() on it, in any process, wakes. Through a writable view (or a slice or cast\n"
        "of one) only: TypeError for a read-only one, as for a write. No system call while\n"
        "nobody waits.");

static PyObject *view_notify(ViewObject *self, PyObject *unused)
{
        shmv_view *v = live(self);
        if (!v)
                return NULL;
        int r = shmv_view_notify(v);
        if (r < 0)
                return shmv__py_set_daemon_error(r, NULL);
        Py_RETURN_NONE;
}

/* A wait looks for Python's signals (KeyboardInterrupt) this often. */
#define WAIT_SLICE_MS 100

/* Microseconds, so that whole milliseconds of a slice rounded up never end a wait early. */
static int64_t mono_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

PyDoc_STRVAR(
        wait_doc,
        "wait($self, /, seen, timeout=None)\n"
        "--\n"
        "\n"
        "Waits until the segment's generation differs from seen and returns it (at once when it\n"
        "already does). timeout is in seconds (None: no deadline; 0: look once); raises\n"
        "TimeoutError at the deadline. Raises OSError(EROFS) when the segment is sealed and its\n"
        "generation is seen: nothing will change again (a seal is itself a change, so a wait from\n"
        "before it returns the seal's generation first). Any view will do, read-only too. The GIL\n"
        "is released meanwhile; other threads' calls go on, and Ctrl-C interrupts it.");

static PyObject *view_wait(ViewObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"seen", "timeout", NULL};
        uint64_t seen;
        int timeout_ms = -1;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O&|O&:wait", kwlist, shmv__py_u64_converter,
                                         &seen, shmv__py_timeout_converter, &timeout_ms))
                return NULL;
        shmv_view *v = live(self), *own = NULL;
        if (!v)
                return NULL;
        /* A handle of its own over the same mapping: another thread may release this View
         * while this one waits without the GIL. */
        int r = shmv_view_toreadonly(v, &own);
        if (r < 0)
                return shmv__py_set_error(r, NULL);
        int64_t deadline = timeout_ms < 0 ? -1 : mono_us() + (int64_t)timeout_ms * 1000;
        uint64_t gen = 0;
        for (;;) {
                int slice = WAIT_SLICE_MS;
                if (deadline >= 0) {
                        int64_t left = (deadline - mono_us() + 999) / 1000;
                        slice = left <= 0 ? 0 : left < slice ? (int)left : slice;
                }
                Py_BEGIN_ALLOW_THREADS
                r = shmv_view_wait(own, seen, slice, &gen);
                Py_END_ALLOW_THREADS
                if (r != -ETIMEDOUT || (deadline >= 0 && mono_us() >= deadline))
                        break;
                if (PyErr_CheckSignals() < 0) {
                        handle_release(own);
                        return NULL;
                }
        }
        handle_release(own);
        if (r == -EROFS) {
                /* Not memoryview's TypeError for a write: nothing was written. */
                const char *msg = shmv_last_error_message();
                PyObject *exc = PyObject_CallFunction(PyExc_OSError, "is", EROFS,
                                                      msg ? msg : shmv_strerror(r));
                if (exc) {
                        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
                        Py_DECREF(exc);
                }
                return NULL;
        }
        if (r == -ETIMEDOUT)
                return shmv__py_set_error_msg(r, "timed out waiting for a change of the generation",
                                              NULL);
        if (r < 0)
                return shmv__py_set_daemon_error(r, NULL);
        return PyLong_FromUnsignedLongLong(gen);
}

PyDoc_STRVAR(wait_async_doc,
             "wait_async($self, /, seen, timeout=None)\n"
             "--\n"
             "\n"
             "View.wait() for asyncio: a coroutine that returns the generation once it differs\n"
             "from seen, raising TimeoutError at the deadline (timeout in seconds, None for\n"
             "none). It holds no thread of its own: the waits of an event loop share one\n"
             "WaitSet, whose descriptor the loop polls with add_reader(). Cancelling it removes\n"
             "the wait.");

static PyObject *view_wait_async(PyObject *self, PyObject *args, PyObject *kwds)
{
        return shmv__py_aio_call("view_wait", self, args, kwds);
}

static PyMethodDef view_methods[] = {
        {"notify", SHMV__PY_FN(view_notify), METH_NOARGS, notify_doc},
        {"wait", SHMV__PY_FN(view_wait), METH_VARARGS | METH_KEYWORDS, wait_doc},
        {"wait_async", SHMV__PY_FN(view_wait_async), METH_VARARGS | METH_KEYWORDS, wait_async_doc},
        {"release", SHMV__PY_FN(view_release), METH_NOARGS, release_doc},
        {"tobytes", SHMV__PY_FN(view_tobytes), METH_VARARGS | METH_KEYWORDS, tobytes_doc},
        {"hex", SHMV__PY_FN(view_hex), METH_VARARGS | METH_KEYWORDS, hex_doc},
        {"tolist", SHMV__PY_FN(view_tolist), METH_NOARGS, tolist_doc},
        {"cast", SHMV__PY_FN(view_cast), METH_VARARGS | METH_KEYWORDS, cast_doc},
        {"toreadonly", SHMV__PY_FN(view_toreadonly), METH_NOARGS, toreadonly_doc},
        {"__enter__", SHMV__PY_FN(view_enter), METH_NOARGS, NULL},
        {"__exit__", SHMV__PY_FN(view_exit), METH_VARARGS, NULL},
        {NULL, NULL, 0, NULL},
};

/* Attributes, as memoryview's. */

static PyObject *get_name(ViewObject *self, void *closure)
{
        return Py_NewRef(self->name);
}

static PyObject *get_generation(ViewObject *self, void *closure)
{
        shmv_view *v = live(self);
        return v ? PyLong_FromUnsignedLongLong(shmv_view_generation(v)) : NULL;
}

static PyObject *get_released(ViewObject *self, void *closure)
{
        return PyBool_FromLong(self->view == NULL);
}

static PyObject *get_obj(ViewObject *self, void *closure)
{
        /* No Python object owns the memory, as for a memoryview of raw memory. */
        if (!live(self))
                return NULL;
        Py_RETURN_NONE;
}

static PyObject *get_format(ViewObject *self, void *closure)
{
        shmv_view *v = live(self);
        return v ? PyUnicode_FromString(shmv_view_format(v)) : NULL;
}

static PyObject *get_itemsize(ViewObject *self, void *closure)
{
        shmv_view *v = live(self);
        return v ? PyLong_FromSize_t(shmv_view_itemsize(v)) : NULL;
}

static PyObject *get_nbytes(ViewObject *self, void *closure)
{
        shmv_view *v = live(self);
        return v ? PyLong_FromSize_t(shmv_view_nbytes(v)) : NULL;
}

static PyObject *get_readonly(ViewObject *self, void *closure)
{
        shmv_view *v = live(self);
        return v ? PyBool_FromLong(shmv_view_readonly(v)) : NULL;
}

static PyObject *get_ndim(ViewObject *self, void *closure)
{
        return live(self) ? PyLong_FromSsize_t(NDIM(self)) : NULL;
}

static PyObject *ssize_tuple(const Py_ssize_t *values, Py_ssize_t n)
{
        PyObject *t = PyTuple_New(n);

        for (Py_ssize_t i = 0; t && i < n; i++) {
                PyObject *o = PyLong_FromSsize_t(values[i]);
                if (!o)
                        Py_CLEAR(t);
                else
                        PyTuple_SET_ITEM(t, i, o);
        }
        return t;
}

static PyObject *get_shape(ViewObject *self, void *closure)
{
        return live(self) ? ssize_tuple(SHAPE(self), NDIM(self)) : NULL;
}

static PyObject *get_strides(ViewObject *self, void *closure)
{
        return live(self) ? ssize_tuple(STRIDES(self), NDIM(self)) : NULL;
}

static PyObject *get_suboffsets(ViewObject *self, void *closure)
{
        return live(self) ? PyTuple_New(0) : NULL;
}

static PyObject *get_c_contiguous(ViewObject *self, void *closure)
{
        shmv_view *v = live(self);
        return v ? PyBool_FromLong(shmv_view_contiguous(v)) : NULL;
}

static PyObject *get_f_contiguous(ViewObject *self, void *closure)
{
        shmv_view *v = live(self);
        return v ? PyBool_FromLong(shmv_view_f_contiguous(v)) : NULL;
}

static PyObject *get_contiguous(ViewObject *self, void *closure)
{
        shmv_view *v = live(self);
        return v ? PyBool_FromLong(shmv_view_contiguous(v) || shmv_view_f_contiguous(v)) : NULL;
}

static PyGetSetDef view_getset[] = {
        {"name", (getter)get_name, NULL, "the segment's name", NULL},
        {"released", (getter)get_released, NULL, "True once released", NULL},
        {"generation", (getter)get_generation, NULL,
         "the segment's change doorbell generation (no system call); see notify() and wait()",
         NULL},
        {"obj", (getter)get_obj, NULL, "None: no Python object owns the memory", NULL},
        {"format", (getter)get_format, NULL, "struct format of an item", NULL},
        {"itemsize", (getter)get_itemsize, NULL, "bytes in an item", NULL},
        {"nbytes", (getter)get_nbytes, NULL, "product(shape) * itemsize", NULL},
        {"readonly", (getter)get_readonly, NULL, "True when the view refuses writes", NULL},
        {"ndim", (getter)get_ndim, NULL, "the number of dimensions (1 unless cast)", NULL},
        {"shape", (getter)get_shape, NULL, "items along each dimension", NULL},
        {"strides", (getter)get_strides, NULL, "bytes from one item to the next, per dimension",
         NULL},
        {"suboffsets", (getter)get_suboffsets, NULL, "always ()", NULL},
        {"contiguous", (getter)get_contiguous, NULL, "c_contiguous or f_contiguous", NULL},
        {"c_contiguous", (getter)get_c_contiguous, NULL, "True when C-contiguous", NULL},
        {"f_contiguous", (getter)get_f_contiguous, NULL, "True when Fortran-contiguous", NULL},
        {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(
        view_doc,
        "A view of part of a shared-memory segment, made by Client.open().\n"
        "\n"
        "A buffer: memoryview(view), numpy.frombuffer(view), bytes(view) and friends read (and, "
        "when\n"
        "the view is writable, write) the shared memory itself. Read-only views export read-only\n"
        "buffers. Also a sequence of its items like memoryview: len(), indexing (v[i, j] once\n"
        "cast with a shape), slicing (v[a:b:c] is a new View; no request to the daemon), item\n"
        "and slice assignment, ==, hash() (read-only byte views), tobytes(), hex(), tolist(),\n"
        "cast(), toreadonly(). A context manager: leaving the with block releases it.\n"
        "\n"
        "The mapping lives as long as any View or buffer export over it, even after the Client is\n"
        "closed or the segment unlinked. release() raises BufferError while exports are alive.");

PyTypeObject shmv__py_view_type = {
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmview.View",
        .tp_basicsize = offsetof(ViewObject, dims),
        .tp_itemsize = 2 * sizeof(Py_ssize_t),
        .tp_dealloc = (destructor)view_dealloc,
        .tp_repr = (reprfunc)view_repr,
        .tp_as_sequence = &view_as_sequence,
        .tp_as_mapping = &view_as_mapping,
        .tp_hash = (hashfunc)view_hash,
        .tp_as_buffer = &view_as_buffer,
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
        .tp_doc = view_doc,
        .tp_richcompare = (richcmpfunc)view_richcompare,
        .tp_weaklistoffset = offsetof(ViewObject, weakreflist),
        .tp_iter = (getiterfunc)view_iter,
        .tp_methods = view_methods,
        .tp_getset = view_getset,
};

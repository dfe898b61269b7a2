/* shmview.View: one libshmview view handle, exported through the buffer protocol.
 *
 * A handle never changes once made (slices, casts and read-only copies are new handles), so
 * the shape and strides an export points at are filled in once, in the object. Exports are
 * counted: release() refuses while any is alive, as bytearray refuses to resize, and since
 * every export holds a reference to the View, the mapping outlives them all. */
#include "binding.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

typedef struct {
        PyObject_HEAD
        shmv_view *view; /* NULL once released */
        PyObject *name; /* str: the segment's name */
        Py_ssize_t exports; /* live Py_buffers */
        Py_ssize_t shape[1];
        Py_ssize_t strides[1];
        PyObject *weakreflist;
} ViewObject;

#define View_Check(o) PyObject_TypeCheck(o, &shmv__py_view_type)

/* Libshmview's const accessors hand out addresses Py_buffer wants without const. */
#define UNCONST(p) ((void *)(uintptr_t)(p))

PyObject *shmv__py_view_new(shmv_view *v, PyObject *name)
{
        ViewObject *self = PyObject_New(ViewObject, &shmv__py_view_type);

        if (!self) {
                Py_BEGIN_ALLOW_THREADS
                shmv_view_release(v);
                Py_END_ALLOW_THREADS
                return NULL;
        }
        self->view = v;
        self->name = Py_NewRef(name);
        self->exports = 0;
        self->shape[0] = (Py_ssize_t)shmv_view_len(v);
        self->strides[0] = (Py_ssize_t)shmv_view_stride(v);
        self->weakreflist = NULL;
        return (PyObject *)self;
}

/* A new View over a handle derived from self's. */
static PyObject *view_derived(ViewObject *self, int r, shmv_view *v)
{
        if (r < 0)
                return shmv__py_set_error(r, NULL);
        return shmv__py_view_new(v, self->name);
}

/* Unmapping and telling the daemon may wait on the connection's lock, which another thread
 * can hold across a whole request: the GIL is let go meanwhile. */
static void view_drop(ViewObject *self)
{
        shmv_view *v = self->view;

        self->view = NULL;
        if (!v)
                return;
        Py_BEGIN_ALLOW_THREADS
        shmv_view_release(v);
        Py_END_ALLOW_THREADS
}

static void view_dealloc(ViewObject *self)
{
        if (self->weakreflist)
                PyObject_ClearWeakRefs((PyObject *)self);
        view_drop(self);
        Py_XDECREF(self->name);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

static int check_live(ViewObject *self)
{
        if (self->view)
                return 0;
        PyErr_SetString(PyExc_ValueError, "operation forbidden on a released shmview.View");
        return -1;
}

#define CHECK_LIVE(self, ret)             \
        do {                              \
                if (check_live(self) < 0) \
                        return ret;       \
        } while (0)

static PyObject *view_repr(ViewObject *self)
{
        if (!self->view)
                return PyUnicode_FromFormat("<released shmview.View of %R>", self->name);
        return PyUnicode_FromFormat("<shmview.View of %R: %zd items of '%s'%s%s>", self->name,
                                    self->shape[0], shmv_view_format(self->view),
                                    shmv_view_readonly(self->view) ? ", read-only" : "",
                                    shmv_view_contiguous(self->view) ? "" : ", strided");
}

/* The buffer protocol. */

static int view_getbuffer(ViewObject *self, Py_buffer *b, int flags)
{
        shmv_view *v = self->view;

        if (check_live(self) < 0)
                return -1;
        if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE && shmv_view_readonly(v)) {
                PyErr_SetString(PyExc_BufferError, "shmview.View is read-only");
                return -1;
        }
        if (!shmv_view_contiguous(v)) {
                if ((flags & PyBUF_STRIDES) != PyBUF_STRIDES) {
                        PyErr_SetString(PyExc_BufferError,
                                        "shmview.View is not contiguous: the consumer must "
                                        "accept strides (PyBUF_STRIDES)");
                        return -1;
                }
                if ((flags & PyBUF_C_CONTIGUOUS) == PyBUF_C_CONTIGUOUS ||
                    (flags & PyBUF_F_CONTIGUOUS) == PyBUF_F_CONTIGUOUS ||
                    (flags & PyBUF_ANY_CONTIGUOUS) == PyBUF_ANY_CONTIGUOUS) {
                        PyErr_SetString(PyExc_BufferError, "shmview.View is not contiguous");
                        return -1;
                }
        }

        b->buf = UNCONST(shmv_view_data(v));
        b->obj = Py_NewRef(self);
        b->len = (Py_ssize_t)shmv_view_nbytes(v);
        b->itemsize = (Py_ssize_t)shmv_view_itemsize(v);
        b->readonly = shmv_view_readonly(v);
        b->ndim = 1;
        /* Without PyBUF_FORMAT the consumer reads unsigned bytes ("B"). */
        b->format = (flags & PyBUF_FORMAT) ? UNCONST(shmv_view_format(v)) : NULL;
        b->shape = (flags & PyBUF_ND) == PyBUF_ND ? self->shape : NULL;
        b->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? self->strides : NULL;
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

static PyObject *view_item(ViewObject *self, Py_ssize_t index)
{
        shmv_item it;
        int r;

        CHECK_LIVE(self, NULL);
        r = shmv_view_item(self->view, index, &it);
        if (r == -ERANGE) {
                /* IndexError, not ValueError: iteration and sequence code rely on it. */
                PyErr_SetString(PyExc_IndexError, "shmview.View index out of range");
                return NULL;
        }
        if (r < 0)
                return shmv__py_set_error(r, NULL);
        return item_to_object(&it);
}

static int bad_item(PyObject *exc, char fmt)
{
        PyErr_Format(exc, "shmview.View: invalid %s for format '%c'",
                     exc == PyExc_TypeError ? "type" : "value", fmt);
        return -1;
}

/* struct.pack() of one native item, with memoryview's errors. */
static int pack_item(char fmt, PyObject *value, unsigned char *out)
{
        PyObject *n;
        long long s;
        unsigned long long u;
        double d;
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
                        return -1;
                if (fmt == 'd') {
                        memcpy(out, &d, sizeof(d));
                        return 0;
                }
                return PyFloat_Pack4(d, (char *)out, PY_LITTLE_ENDIAN);
        }

        if (!PyIndex_Check(value))
                return bad_item(PyExc_TypeError, fmt);
        n = PyNumber_Index(value);
        if (!n)
                return -1;
        if (strchr("BHILQN", fmt)) {
                u = PyLong_AsUnsignedLongLong(n);
                Py_DECREF(n);
                if (u == (unsigned long long)-1 && PyErr_Occurred())
                        goto range;
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
                goto range;
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
        if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_OverflowError))
                return -1;
        PyErr_Clear();
        return bad_item(PyExc_ValueError, fmt);
}

/* Resolves a slice to arguments shmv_view_slice() reads as Python would: PySlice_Unpack()
 * clamps huge bounds to PY_SSIZE_T_MIN, which is also the library's "omitted" (SHMV_NONE),
 * so the bounds are adjusted to the length here and only the one value that can still be
 * negative, the stop of a backward slice running to the start, is passed as omitted. */
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

static PyObject *view_subscript(ViewObject *self, PyObject *key)
{
        Py_ssize_t start, stop, step;
        shmv_view *n = NULL;
        int r;

        CHECK_LIVE(self, NULL);
        if (PyIndex_Check(key)) {
                Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
                if (i == -1 && PyErr_Occurred())
                        return NULL;
                return view_item(self, i);
        }
        if (PySlice_Check(key)) {
                if (slice_args(key, self->shape[0], &start, &stop, &step) < 0)
                        return NULL;
                r = shmv_view_slice(self->view, start, stop, step, &n);
                return view_derived(self, r, n);
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

/* view[slice] = buffer: same item count, itemsize and format, as memoryview wants. */
static int assign_slice(ViewObject *self, PyObject *key, PyObject *value)
{
        Py_ssize_t start, stop, step;
        shmv_view *n = NULL;
        Py_buffer src;
        void *tmp = NULL;
        const void *data;
        int r;

        if (slice_args(key, self->shape[0], &start, &stop, &step) < 0)
                return -1;
        if (PyObject_GetBuffer(value, &src, PyBUF_FULL_RO) < 0)
                return -1;
        r = shmv_view_slice(self->view, start, stop, step, &n);
        if (r < 0) {
                shmv__py_set_error(r, NULL);
                goto out;
        }
        if (src.ndim > 1 || (Py_ssize_t)shmv_view_len(n) != (src.ndim ? src.shape[0] : 1) ||
            (size_t)src.itemsize != shmv_view_itemsize(n) ||
            strcmp(native_format(src.format), shmv_view_format(n)) != 0) {
                PyErr_SetString(PyExc_ValueError, "shmview.View assignment: left and right "
                                                  "sides have different structures");
                r = -1;
                goto out;
        }
        data = src.buf;
        if (!PyBuffer_IsContiguous(&src, 'C')) {
                tmp = PyMem_Malloc(src.len ? (size_t)src.len : 1);
                if (!tmp) {
                        PyErr_NoMemory();
                        r = -1;
                        goto out;
                }
                if (PyBuffer_ToContiguous(tmp, &src, src.len, 'C') < 0) {
                        r = -1;
                        goto out;
                }
                data = tmp;
        }
        /* The source may overlap the view (v[1:] = v[:-1]); shmv_view_write() allows that. */
        r = shmv_view_write(n, data, (size_t)src.len);
        if (r < 0)
                shmv__py_set_error(r, NULL);
out:
        PyMem_Free(tmp);
        shmv_view_release(n); /* a slice: never the last handle of the mapping */
        PyBuffer_Release(&src);
        return r < 0 ? -1 : 0;
}

static int view_ass_subscript(ViewObject *self, PyObject *key, PyObject *value)
{
        unsigned char item[16];
        int r;

        CHECK_LIVE(self, -1);
        /* As memoryview: read-only first, whatever the key. */
        if (shmv_view_readonly(self->view)) {
                shmv__py_set_error(-EROFS, NULL);
                return -1;
        }
        if (!value) {
                PyErr_SetString(PyExc_TypeError, "cannot delete shmview.View items");
                return -1;
        }
        if (PyIndex_Check(key)) {
                Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
                if (i == -1 && PyErr_Occurred())
                        return -1;
                if (pack_item(shmv_view_format(self->view)[0], value, item) < 0)
                        return -1;
                r = shmv_view_set(self->view, i, item);
                if (r == -ERANGE) {
                        PyErr_SetString(PyExc_IndexError, "shmview.View index out of range");
                        return -1;
                }
                if (r < 0) {
                        shmv__py_set_error(r, NULL);
                        return -1;
                }
                return 0;
        }
        if (PySlice_Check(key))
                return assign_slice(self, key, value);
        PyErr_SetString(PyExc_TypeError, "shmview.View: invalid slice key");
        return -1;
}

static Py_ssize_t view_length(ViewObject *self)
{
        CHECK_LIVE(self, -1);
        return self->shape[0];
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

/* == as memoryview's: items compared as values by their formats. */
static PyObject *view_richcompare(ViewObject *self, PyObject *other, int op)
{
        PyObject *mv, *res;
        int eq;

        if (op != Py_EQ && op != Py_NE)
                Py_RETURN_NOTIMPLEMENTED;
        if ((PyObject *)self == other) {
                eq = 1;
        } else if (!self->view) {
                eq = 0; /* a released view equals only itself, as memoryview */
        } else if (View_Check(other)) {
                ViewObject *o = (ViewObject *)other;
                eq = o->view ? shmv_view_equal(self->view, o->view) : 0;
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
        CHECK_LIVE(self, NULL);
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
             "The bytes of the view's items, in logical order (a copy). order is accepted for\n"
             "memoryview's sake: with one dimension every order is the same.");

static PyObject *view_tobytes(ViewObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"order", NULL};
        const char *order = NULL;
        PyObject *b;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|z:tobytes", kwlist, &order))
                return NULL;
        CHECK_LIVE(self, NULL);
        if (order && (strlen(order) != 1 || !strchr("CFA", order[0]))) {
                PyErr_SetString(PyExc_ValueError, "order must be 'C', 'F', 'A' or None");
                return NULL;
        }
        b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)shmv_view_nbytes(self->view));
        if (!b)
                return NULL;
        r = shmv_view_tobytes(self->view, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
        if (r < 0) {
                Py_DECREF(b);
                return shmv__py_set_error(r, NULL);
        }
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
        CHECK_LIVE(self, NULL);
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
             "The items as a list of Python values (int, float, bool or bytes, by format).");

static PyObject *view_tolist(ViewObject *self, PyObject *unused)
{
        shmv_item *items;
        PyObject *list;
        size_t n;
        int r;

        CHECK_LIVE(self, NULL);
        n = shmv_view_len(self->view);
        items = PyMem_New(shmv_item, n ? n : 1);
        if (!items)
                return PyErr_NoMemory();
        r = shmv_view_tolist(self->view, items, n);
        if (r < 0) {
                PyMem_Free(items);
                return shmv__py_set_error(r, NULL);
        }
        list = PyList_New((Py_ssize_t)n);
        for (size_t i = 0; list && i < n; i++) {
                PyObject *o = item_to_object(&items[i]);
                if (!o)
                        Py_CLEAR(list);
                else
                        PyList_SET_ITEM(list, (Py_ssize_t)i, o);
        }
        PyMem_Free(items);
        return list;
}

PyDoc_STRVAR(
        cast_doc,
        "cast($self, format, /)\n"
        "--\n"
        "\n"
        "A new View of the same memory with another item format, as memoryview.cast(format):\n"
        "a native single-character struct format (b B h H i I l L q Q n N f d ? c, optionally\n"
        "prefixed with '@'), one of the two formats a byte format (b B c), the view C-contiguous\n"
        "and its size a multiple of the new itemsize; otherwise ValueError. No request is made to\n"
        "the daemon.");

/* Why shmv_view_cast() said EINVAL, in memoryview's words. */
static const char *cast_error(shmv_view *v, const char *format)
{
        const char *f = native_format(format);
        static const char formats[] = "bBhHiIlLqQnNfd?c";

        if (!shmv_view_contiguous(v))
                return "casts are restricted to C-contiguous views";
        if (!f[0] || f[1] || !strchr(formats, f[0]))
                return "destination format must be a native single character format "
                       "prefixed with an optional '@'";
        if (!strchr("bBc", f[0]) && !strchr("bBc", shmv_view_format(v)[0]))
                return "cannot cast between two non-byte formats";
        return "length is not a multiple of itemsize";
}

static PyObject *view_cast(ViewObject *self, PyObject *arg)
{
        const char *format;
        shmv_view *n = NULL;
        int r;

        CHECK_LIVE(self, NULL);
        if (!PyUnicode_Check(arg)) {
                PyErr_SetString(PyExc_TypeError, "cast() argument must be str");
                return NULL;
        }
        format = PyUnicode_AsUTF8(arg);
        if (!format)
                return NULL;
        r = shmv_view_cast(self->view, format, &n);
        if (r == -EINVAL)
                return shmv__py_set_error_msg(r, cast_error(self->view, format), arg);
        return view_derived(self, r, n);
}

PyDoc_STRVAR(toreadonly_doc,
             "toreadonly($self, /)\n"
             "--\n"
             "\n"
             "A read-only View of the same memory (a new handle; no request to the daemon).");

static PyObject *view_toreadonly(ViewObject *self, PyObject *unused)
{
        shmv_view *n = NULL;
        int r;

        CHECK_LIVE(self, NULL);
        r = shmv_view_toreadonly(self->view, &n);
        return view_derived(self, r, n);
}

static PyMethodDef view_methods[] = {
        {"release", SHMV__PY_FN(view_release), METH_NOARGS, release_doc},
        {"tobytes", SHMV__PY_FN(view_tobytes), METH_VARARGS | METH_KEYWORDS, tobytes_doc},
        {"hex", SHMV__PY_FN(view_hex), METH_VARARGS | METH_KEYWORDS, hex_doc},
        {"tolist", SHMV__PY_FN(view_tolist), METH_NOARGS, tolist_doc},
        {"cast", SHMV__PY_FN(view_cast), METH_O, cast_doc},
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

static PyObject *get_released(ViewObject *self, void *closure)
{
        return PyBool_FromLong(self->view == NULL);
}

static PyObject *get_format(ViewObject *self, void *closure)
{
        CHECK_LIVE(self, NULL);
        return PyUnicode_FromString(shmv_view_format(self->view));
}

static PyObject *get_itemsize(ViewObject *self, void *closure)
{
        CHECK_LIVE(self, NULL);
        return PyLong_FromSize_t(shmv_view_itemsize(self->view));
}

static PyObject *get_nbytes(ViewObject *self, void *closure)
{
        CHECK_LIVE(self, NULL);
        return PyLong_FromSize_t(shmv_view_nbytes(self->view));
}

static PyObject *get_readonly(ViewObject *self, void *closure)
{
        CHECK_LIVE(self, NULL);
        return PyBool_FromLong(shmv_view_readonly(self->view));
}

static PyObject *get_ndim(ViewObject *self, void *closure)
{
        CHECK_LIVE(self, NULL);
        return PyLong_FromLong(1);
}

static PyObject *get_shape(ViewObject *self, void *closure)
{
        CHECK_LIVE(self, NULL);
        return Py_BuildValue("(n)", self->shape[0]);
}

static PyObject *get_strides(ViewObject *self, void *closure)
{
        CHECK_LIVE(self, NULL);
        return Py_BuildValue("(n)", self->strides[0]);
}

static PyObject *get_contiguous(ViewObject *self, void *closure)
{
        CHECK_LIVE(self, NULL);
        return PyBool_FromLong(shmv_view_contiguous(self->view));
}

static PyGetSetDef view_getset[] = {
        {"name", (getter)get_name, NULL, "the segment's name", NULL},
        {"released", (getter)get_released, NULL, "True once released", NULL},
        {"format", (getter)get_format, NULL, "struct format of an item", NULL},
        {"itemsize", (getter)get_itemsize, NULL, "bytes in an item", NULL},
        {"nbytes", (getter)get_nbytes, NULL, "len(view) * itemsize", NULL},
        {"readonly", (getter)get_readonly, NULL, "True when the view refuses writes", NULL},
        {"ndim", (getter)get_ndim, NULL, "always 1", NULL},
        {"shape", (getter)get_shape, NULL, "(len(view),)", NULL},
        {"strides", (getter)get_strides, NULL, "(bytes from one item to the next,)", NULL},
        {"contiguous", (getter)get_contiguous, NULL, "True when the items are adjacent", NULL},
        {"c_contiguous", (getter)get_contiguous, NULL, "the same as contiguous", NULL},
        {"f_contiguous", (getter)get_contiguous, NULL, "the same as contiguous", NULL},
        {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(
        view_doc,
        "A view of part of a shared-memory segment, made by Client.open().\n"
        "\n"
        "A buffer: memoryview(view), numpy.frombuffer(view), bytes(view) and friends read (and, "
        "when\n"
        "the view is writable, write) the shared memory itself. Read-only views export read-only\n"
        "buffers. Also a sequence of its items like memoryview: len(), indexing, slicing "
        "(v[a:b:c]\n"
        "is a new View; no request to the daemon), item and slice assignment, ==, tobytes(),\n"
        "hex(), tolist(), cast(), toreadonly(). A context manager: leaving the with block\n"
        "releases it.\n"
        "\n"
        "The mapping lives as long as any View or buffer export over it, even after the Client is\n"
        "closed or the segment unlinked. release() raises BufferError while exports are alive.");

PyTypeObject shmv__py_view_type = {
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmview.View",
        .tp_basicsize = sizeof(ViewObject),
        .tp_dealloc = (destructor)view_dealloc,
        .tp_repr = (reprfunc)view_repr,
        .tp_as_sequence = &view_as_sequence,
        .tp_as_mapping = &view_as_mapping,
        .tp_hash = PyObject_HashNotImplemented,
        .tp_as_buffer = &view_as_buffer,
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
        .tp_doc = view_doc,
        .tp_richcompare = (richcmpfunc)view_richcompare,
        .tp_weaklistoffset = offsetof(ViewObject, weakreflist),
        .tp_methods = view_methods,
        .tp_getset = view_getset,
};

/* shmview for Python: the module, the mapping from errno values to exceptions, argument
 * converters and the SegmentInfo record. The Client type lives in client.c, View in view.c,
 * Watch in watch.c, the other records in inspect.c. */
#include "binding.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sys/un.h>

PyObject *shmv__py_set_error_msg(int err, const char *msg, PyObject *what)
{
        PyObject *type, *args, *exc;

        if (err < 0)
                err = -err;
        switch (err) {
        case EINVAL:
        case ERANGE:
        case EOVERFLOW:
                if (what)
                        PyErr_Format(PyExc_ValueError, "%s: %R", msg, what);
                else
                        PyErr_SetString(PyExc_ValueError, msg);
                return NULL;
        case ENOMEM:
                return PyErr_NoMemory();
        case EROFS:
                /* What memoryview raises for a write to read-only memory. */
                PyErr_SetString(PyExc_TypeError, msg);
                return NULL;
        case ENOTCONN:
                type = PyExc_ConnectionError;
                break;
        default:
                /* OSError's constructor picks the subclass for errno itself: FileNotFoundError,
                 * FileExistsError, PermissionError, ConnectionRefusedError, ConnectionResetError,
                 * BrokenPipeError, ... */
                type = PyExc_OSError;
                break;
        }
        if (what)
                args = Py_BuildValue("(isO)", err, msg, what);
        else
                args = Py_BuildValue("(is)", err, msg);
        if (!args)
                return NULL;
        /* Instantiated here rather than left to lazy normalization, so that the exception's
         * type is already the subclass when C code (or PyErr_ExceptionMatches) looks at it. */
        exc = PyObject_Call(type, args, NULL);
        Py_DECREF(args);
        if (!exc)
                return NULL;
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
        return NULL;
}

PyObject *shmv__py_set_error(int err, PyObject *what)
{
        return shmv__py_set_error_msg(err, shmv_strerror(err), what);
}

PyObject *shmv__py_set_daemon_error(int err, PyObject *what)
{
        /* The library hands it over as valid UTF-8, so "s" in Py_BuildValue() decodes it. */
        const char *msg = shmv_last_error_message();

        return shmv__py_set_error_msg(err, msg ? msg : shmv_strerror(err), what);
}

PyObject *shmv__py_list_new(const void *items, size_t n, size_t size,
                            PyObject *(*make)(const void *item))
{
        PyObject *list = PyList_New((Py_ssize_t)n);

        for (size_t i = 0; list && i < n; i++) {
                PyObject *o = make((const char *)items + i * size);
                if (!o)
                        Py_CLEAR(list);
                else
                        PyList_SET_ITEM(list, (Py_ssize_t)i, o);
        }
        return list;
}

PyObject *shmv__py_aio_call(const char *fn_name, PyObject *self, PyObject *args, PyObject *kwds)
{
        PyObject *aio = PyImport_ImportModule("shmview._aio");
        PyObject *fn, *all, *r = NULL;

        if (!aio)
                return NULL;
        fn = PyObject_GetAttrString(aio, fn_name);
        Py_DECREF(aio);
        if (!fn)
                return NULL;
        all = PyTuple_New(PyTuple_GET_SIZE(args) + 1);
        if (all) {
                PyTuple_SET_ITEM(all, 0, Py_NewRef(self));
                for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++)
                        PyTuple_SET_ITEM(all, i + 1, Py_NewRef(PyTuple_GET_ITEM(args, i)));
                r = PyObject_Call(fn, all, kwds);
                Py_DECREF(all);
        }
        Py_DECREF(fn);
        return r;
}

int shmv__py_timeout_converter(PyObject *o, void *ret)
{
        int *ms = ret;
        double t;

        if (o == Py_None) {
                *ms = -1;
                return 1;
        }
        t = PyFloat_AsDouble(o);
        if (t == -1 && PyErr_Occurred())
                return 0;
        if (!(t >= 0)) {
                PyErr_SetString(PyExc_ValueError, "timeout must be None or a number >= 0");
                return 0;
        }
        *ms = t >= INT_MAX / 1000.0 ? INT_MAX : (int)ceil(t * 1000);
        return 1;
}

static int to_unsigned(PyObject *o, uint64_t max, uint64_t *ret)
{
        PyObject *n;
        long long s;
        unsigned long long u;
        int overflow;

        n = PyNumber_Index(o);
        if (!n)
                return 0;
        s = PyLong_AsLongLongAndOverflow(n, &overflow);
        if (s == -1 && PyErr_Occurred())
                goto fail;
        if (overflow < 0 || (overflow == 0 && s < 0)) {
                PyErr_Format(PyExc_ValueError, "%R is negative", n);
                goto fail;
        }
        u = PyLong_AsUnsignedLongLong(n);
        if (u == (unsigned long long)-1 && PyErr_Occurred())
                goto fail;
        if (u > max) {
                PyErr_Format(PyExc_OverflowError, "%R is greater than %llu", n,
                             (unsigned long long)max);
                goto fail;
        }
        Py_DECREF(n);
        *ret = u;
        return 1;
fail:
        Py_DECREF(n);
        return 0;
}

int shmv__py_u64_converter(PyObject *o, void *ret)
{
        return to_unsigned(o, UINT64_MAX, ret);
}

int shmv__py_u32_converter(PyObject *o, void *ret)
{
        uint64_t v;

        if (!to_unsigned(o, UINT32_MAX, &v))
                return 0;
        *(uint32_t *)ret = (uint32_t)v;
        return 1;
}

int shmv__py_length_converter(PyObject *o, void *ret)
{
        if (o == Py_None) {
                *(uint64_t *)ret = SHMV_TO_END;
                return 1;
        }
        return to_unsigned(o, UINT64_MAX, ret);
}

/* SegmentInfo: a named tuple of the daemon's record of a segment, like os.stat_result. */
static PyStructSequence_Field segment_info_fields[] = {
        {"name", "segment name (str)"},
        {"size", "size in bytes, fixed at creation"},
        {"uid", "owner: the creating client's uid"},
        {"gid", "group: the creating client's gid"},
        {"mode", "permission bits, as for a file"},
        {"sealed", "True when the segment is immutable"},
        {"views_ro", "read-only views open on it, all clients together"},
        {"views_rw", "writable views open on it, all clients together"},
        {"created_usec", "creation time, microseconds since the epoch (int)"},
        {"created", "creation time, seconds since the epoch (float)"},
        {"generation", "its change doorbell's generation (int; see View.wait)"},
        {NULL, NULL},
};

static PyStructSequence_Desc segment_info_desc = {
        "shmview.SegmentInfo",
        "SegmentInfo(name, size, uid, gid, mode, sealed, views_ro, views_rw, created_usec)\n"
        "\n"
        "What shmviewd knows of a segment, as returned by Client.stat() and Client.list().\n"
        "A tuple of nine fields; 'created' (float seconds) and 'generation' (the change\n"
        "doorbell's, see View.wait) are attributes only.",
        segment_info_fields,
        9,
};

PyTypeObject shmv__py_segment_info_type;

PyObject *shmv__py_record_new(PyTypeObject *type, PyObject **items, size_t n)
{
        PyObject *r = NULL;
        size_t i;

        for (i = 0; i < n; i++)
                if (!items[i])
                        goto fail;
        r = PyStructSequence_New(type);
        if (!r)
                goto fail;
        for (i = 0; i < n; i++)
                PyStructSequence_SET_ITEM(r, (Py_ssize_t)i, items[i]);
        return r;
fail:
        for (i = 0; i < n; i++)
                Py_XDECREF(items[i]);
        return NULL;
}

PyObject *shmv__py_segment_info_new(const shmv_segment_info *info)
{
        PyObject *items[] = {
                PyUnicode_DecodeFSDefault(info->name),
                PyLong_FromUnsignedLongLong(info->size),
                PyLong_FromUnsignedLong(info->uid),
                PyLong_FromUnsignedLong(info->gid),
                PyLong_FromUnsignedLong(info->mode),
                PyBool_FromLong(info->sealed),
                PyLong_FromUnsignedLong(info->views_ro),
                PyLong_FromUnsignedLong(info->views_rw),
                PyLong_FromUnsignedLongLong(info->created_usec),
                PyFloat_FromDouble((double)info->created_usec / 1e6),
                PyLong_FromUnsignedLongLong(info->generation),
        };

        return SHMV__PY_RECORD_NEW(&shmv__py_segment_info_type, items);
}

PyDoc_STRVAR(
        connect_doc,
        "connect($module, /, socket=None)\n"
        "--\n"
        "\n"
        "Connects to shmviewd and returns a Client.\n"
        "\n"
        "socket is the path of the daemon's Unix socket (str, bytes or os.PathLike). When it is\n"
        "None the library's rule applies: $SHMVIEW_SOCKET, else\n"
        "$XDG_RUNTIME_DIR/shmview/shmview.sock when not root, else /run/shmview/shmview.sock.\n"
        "Raises ConnectionRefusedError or FileNotFoundError when no daemon listens there.");

static PyObject *module_connect(PyObject *module, PyObject *args, PyObject *kwds)
{
        return PyObject_Call((PyObject *)&shmv__py_client_type, args, kwds);
}

PyDoc_STRVAR(
        default_socket_path_doc,
        "default_socket_path($module, /)\n"
        "--\n"
        "\n"
        "The socket path connect() uses when given none: $SHMVIEW_SOCKET, else\n"
        "$XDG_RUNTIME_DIR/shmview/shmview.sock when not root, else /run/shmview/shmview.sock.");

static PyObject *module_default_socket_path(PyObject *module, PyObject *unused)
{
        char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
        int r = shmv_default_socket_path(path, sizeof(path));

        if (r < 0)
                return shmv__py_set_error(r, NULL);
        return PyUnicode_DecodeFSDefault(path);
}

static PyMethodDef module_methods[] = {
        {"connect", SHMV__PY_FN(module_connect), METH_VARARGS | METH_KEYWORDS, connect_doc},
        {"default_socket_path", module_default_socket_path, METH_NOARGS, default_socket_path_doc},
        {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(
        module_doc,
        "Shared-memory segments served by shmviewd, as Python buffers.\n"
        "\n"
        "    c = shmview.connect()\n"
        "    c.create('frames', 1 << 20, mode=0o644)\n"
        "    with c.open('frames', write=True) as w:\n"
        "        memoryview(w)[:5] = b'hello'\n"
        "    with c.open('frames') as v:           # read-only\n"
        "        print(bytes(memoryview(v)[:5]))\n"
        "\n"
        "A View is a buffer: memoryview(view) and numpy.frombuffer(view) point straight at the\n"
        "shared memory, with no copy.");

static struct PyModuleDef module_def = {
        PyModuleDef_HEAD_INIT, .m_name = "shmview._shmview", .m_doc = module_doc,
        .m_size = -1,          .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__shmview(void);

PyMODINIT_FUNC PyInit__shmview(void)
{
        PyObject *m;

        if (PyType_Ready(&shmv__py_client_type) < 0 || PyType_Ready(&shmv__py_view_type) < 0 ||
            PyType_Ready(&shmv__py_watch_type) < 0 || PyType_Ready(&shmv__py_waitset_type) < 0)
                return NULL;
        if (!shmv__py_segment_info_type.tp_name &&
            PyStructSequence_InitType2(&shmv__py_segment_info_type, &segment_info_desc) < 0)
                return NULL;

        m = PyModule_Create(&module_def);
        if (!m)
                return NULL;
        if (PyModule_AddType(m, &shmv__py_client_type) < 0 ||
            PyModule_AddType(m, &shmv__py_view_type) < 0 ||
            PyModule_AddType(m, &shmv__py_segment_info_type) < 0 ||
            PyModule_AddType(m, &shmv__py_watch_type) < 0 ||
            PyModule_AddType(m, &shmv__py_waitset_type) < 0 || shmv__py_inspect_init(m) < 0 ||
            PyModule_AddStringConstant(m, "__version__", SHMV_VERSION_STRING) < 0 ||
            PyModule_AddIntConstant(m, "NAME_MAX", SHMV_NAME_MAX) < 0) {
                Py_DECREF(m);
                return NULL;
        }
        return m;
}

/* shmview.WaitSet: many one-shot waits behind one descriptor (shmv_waitset), for selectors and
 * event loops; shmview._aio builds Client.wait_async() and View.wait_async() on it.
 *
 * The calls that may talk to the daemon (adding a wait) run with the GIL released and are
 * counted as in flight, so that a close() from another thread meanwhile leaves the freeing to
 * the last of them, as Client does. */
#include "binding.h"

#include <errno.h>

typedef struct {
        PyObject_HEAD
        shmv_waitset *ws; /* NULL once freed */
        Py_ssize_t busy; /* calls in flight with the GIL released */
        bool closed;
} WaitSetObject;

static void waitset_free(WaitSetObject *self)
{
        shmv_waitset *ws = self->ws;

        self->ws = NULL;
        if (!ws)
                return;
        Py_BEGIN_ALLOW_THREADS
        shmv_waitset_free(ws);
        Py_END_ALLOW_THREADS
}

static shmv_waitset *waitset_enter(WaitSetObject *self)
{
        if (self->closed || !self->ws) {
                PyErr_SetString(PyExc_ValueError, "operation on a closed shmview.WaitSet");
                return NULL;
        }
        self->busy++;
        return self->ws;
}

static void waitset_leave(WaitSetObject *self)
{
        if (--self->busy == 0 && self->closed)
                waitset_free(self);
}

static int waitset_init(WaitSetObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"client", NULL};
        PyObject *client = Py_None;
        shmv_client *c = NULL;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:WaitSet", kwlist, &client))
                return -1;
        if (self->ws || self->closed) {
                PyErr_SetString(PyExc_TypeError, "shmview.WaitSet is already initialised");
                return -1;
        }
        if (client != Py_None && !(c = shmv__py_client_handle(client)))
                return -1;
        r = shmv_waitset_new(c, &self->ws);
        if (r < 0) {
                shmv__py_set_error(r, NULL);
                return -1;
        }
        return 0;
}

static void waitset_dealloc(WaitSetObject *self)
{
        waitset_free(self);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

static uint64_t token_of(PyObject *o, bool *ok)
{
        uint64_t t = 0;

        *ok = shmv__py_u64_converter(o, &t) != 0;
        return t;
}

PyDoc_STRVAR(add_segment_doc,
             "add_segment($self, /, name, token, sealed=False, timeout=None)\n"
             "--\n"
             "\n"
             "Adds a wait for a segment of that name to exist (sealed: to exist and be sealed),\n"
             "ended by an event carrying token (an int from 0 to 2**64-1, unique in the set:\n"
             "FileExistsError otherwise). timeout in seconds, None for no deadline.");

struct add_segment_args {
        const char *name;
        int what;
        int timeout_ms;
        uint64_t token;
};

static PyObject *waitset_add_segment(WaitSetObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"name", "token", "sealed", "timeout", NULL};
        PyObject *name, *token, *b = NULL;
        int sealed = 0, timeout_ms = -1, r;
        shmv_waitset *ws;
        bool ok;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|pO&:add_segment", kwlist, &name, &token,
                                         &sealed, shmv__py_timeout_converter, &timeout_ms))
                return NULL;
        uint64_t t = token_of(token, &ok);
        if (!ok || !PyUnicode_FSConverter(name, &b))
                return NULL;
        if (!(ws = waitset_enter(self))) {
                Py_DECREF(b);
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS
        r = shmv_waitset_add_segment(ws, PyBytes_AS_STRING(b),
                                     sealed ? SHMV_WAIT_SEALED : SHMV_WAIT_EXISTS, timeout_ms, t);
        Py_END_ALLOW_THREADS
        waitset_leave(self);
        Py_DECREF(b);
        if (r < 0)
                return shmv__py_set_daemon_error(r, name);
        Py_RETURN_NONE;
}

PyDoc_STRVAR(add_generation_doc,
             "add_generation($self, /, view, seen, token, timeout=None)\n"
             "--\n"
             "\n"
             "Adds a wait for view's generation to differ from seen, ended by an event carrying\n"
             "token and the generation then. The set keeps its own hold on the view's mapping.");

static PyObject *waitset_add_generation(WaitSetObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"view", "seen", "token", "timeout", NULL};
        PyObject *view, *token;
        uint64_t seen = 0;
        int timeout_ms = -1, r;
        shmv_view *v, *own;
        shmv_waitset *ws;
        bool ok;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO&O|O&:add_generation", kwlist, &view,
                                         shmv__py_u64_converter, &seen, &token,
                                         shmv__py_timeout_converter, &timeout_ms))
                return NULL;
        uint64_t t = token_of(token, &ok);
        if (!ok || !(v = shmv__py_view_handle(view)))
                return NULL;
        /* A handle of our own: another thread may release the View while the GIL is out. */
        r = shmv_view_toreadonly(v, &own);
        if (r < 0)
                return shmv__py_set_error(r, NULL);
        if (!(ws = waitset_enter(self))) {
                shmv_view_release(own);
                return NULL;
        }
        Py_BEGIN_ALLOW_THREADS
        r = shmv_waitset_add_generation(ws, own, seen, timeout_ms, t);
        shmv_view_release(own);
        Py_END_ALLOW_THREADS
        waitset_leave(self);
        if (r < 0)
                return shmv__py_set_daemon_error(r, NULL);
        Py_RETURN_NONE;
}

PyDoc_STRVAR(remove_doc, "remove($self, token, /)\n"
                         "--\n"
                         "\n"
                         "Removes the wait of token, pending or ended and not yet taken: its\n"
                         "event never comes. Returns whether the set had it.");

static PyObject *waitset_remove(WaitSetObject *self, PyObject *token)
{
        bool ok;
        uint64_t t = token_of(token, &ok);

        if (!ok)
                return NULL;
        if (self->closed || !self->ws)
                Py_RETURN_FALSE;
        return PyBool_FromLong(shmv_waitset_remove(self->ws, t) == 0);
}

PyDoc_STRVAR(next_doc, "next($self, /)\n"
                       "--\n"
                       "\n"
                       "Takes one ended wait without blocking: (token, error, generation),\n"
                       "error None when its condition holds, else the exception it ended with\n"
                       "(TimeoutError at its deadline or when the daemon stopped answering,\n"
                       "ConnectionResetError when the daemon went away...); generation is a\n"
                       "generation wait's generation then, 0 for a segment wait. None when no\n"
                       "wait has ended: call it until None each time fileno() is readable.");

static PyObject *waitset_next(WaitSetObject *self, PyObject *unused)
{
        shmv_waitset_event ev;
        PyObject *err = Py_None, *r;
        int rc;

        if (self->closed || !self->ws) {
                PyErr_SetString(PyExc_ValueError, "operation on a closed shmview.WaitSet");
                return NULL;
        }
        rc = shmv_waitset_next(self->ws, &ev);
        if (rc == -EAGAIN)
                Py_RETURN_NONE;
        if (rc < 0)
                return shmv__py_set_error(rc, NULL);
        if (ev.status < 0) {
                PyObject *type, *value, *tb;
                shmv__py_set_daemon_error(ev.status, NULL);
                PyErr_Fetch(&type, &value, &tb);
                PyErr_NormalizeException(&type, &value, &tb);
                Py_XDECREF(type);
                Py_XDECREF(tb);
                if (!value)
                        return NULL;
                err = value;
        } else {
                Py_INCREF(err);
        }
        r = Py_BuildValue("(KNK)", (unsigned long long)ev.token, err,
                          (unsigned long long)ev.generation);
        return r;
}

PyDoc_STRVAR(fileno_doc, "fileno($self, /)\n"
                         "--\n"
                         "\n"
                         "The descriptor to poll for reading (selectors, loop.add_reader()).\n"
                         "Readable while next() has something to take; quiet after next()\n"
                         "returned None until something new happens.");

static PyObject *waitset_fileno(WaitSetObject *self, PyObject *unused)
{
        if (self->closed || !self->ws) {
                PyErr_SetString(PyExc_ValueError, "operation on a closed shmview.WaitSet");
                return NULL;
        }
        return PyLong_FromLong(shmv_waitset_fd(self->ws));
}

PyDoc_STRVAR(close_doc, "close($self, /)\n"
                        "--\n"
                        "\n"
                        "Drops every wait and frees the set: its connections, threads and\n"
                        "descriptor. Unregister fileno() from selectors and loops first.");

static PyObject *waitset_close(WaitSetObject *self, PyObject *unused)
{
        self->closed = true;
        if (self->busy == 0)
                waitset_free(self);
        Py_RETURN_NONE;
}

static PyObject *waitset_enter_ctx(WaitSetObject *self, PyObject *unused)
{
        return Py_NewRef(self);
}

static PyObject *waitset_exit_ctx(WaitSetObject *self, PyObject *args)
{
        return waitset_close(self, NULL);
}

static PyObject *waitset_get_closed(WaitSetObject *self, void *closure)
{
        return PyBool_FromLong(self->closed);
}

static PyMethodDef waitset_methods[] = {
        {"add_segment", SHMV__PY_FN(waitset_add_segment), METH_VARARGS | METH_KEYWORDS,
         add_segment_doc},
        {"add_generation", SHMV__PY_FN(waitset_add_generation), METH_VARARGS | METH_KEYWORDS,
         add_generation_doc},
        {"remove", SHMV__PY_FN(waitset_remove), METH_O, remove_doc},
        {"next", SHMV__PY_FN(waitset_next), METH_NOARGS, next_doc},
        {"fileno", SHMV__PY_FN(waitset_fileno), METH_NOARGS, fileno_doc},
        {"close", SHMV__PY_FN(waitset_close), METH_NOARGS, close_doc},
        {"__enter__", SHMV__PY_FN(waitset_enter_ctx), METH_NOARGS, NULL},
        {"__exit__", SHMV__PY_FN(waitset_exit_ctx), METH_VARARGS, NULL},
        {NULL, NULL, 0, NULL},
};

static PyGetSetDef waitset_getset[] = {
        {"closed", (getter)waitset_get_closed, NULL, "True once close() was called", NULL},
        {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(waitset_doc,
             "WaitSet(client=None)\n"
             "--\n"
             "\n"
             "Many one-shot waits behind one descriptor, for selectors and event loops: for a\n"
             "segment to exist or be sealed (through client's daemon) and for a view's\n"
             "generation to move (client may be None for those only). Each wait carries a\n"
             "token of yours; when fileno() is readable, next() hands back the ended ones.\n"
             "\n"
             "    ws = shmview.WaitSet(c)\n"
             "    ws.add_segment('frames', 1, sealed=True, timeout=5)\n"
             "    sel.register(ws, selectors.EVENT_READ)\n"
             "    ...\n"
             "    while (ev := ws.next()) is not None:\n"
             "        token, error, generation = ev\n"
             "\n"
             "Client.wait_async() and View.wait_async() are the asyncio way. A context manager.");

PyTypeObject shmv__py_waitset_type = {
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmview.WaitSet",
        .tp_basicsize = sizeof(WaitSetObject),
        .tp_dealloc = (destructor)waitset_dealloc,
        .tp_flags = Py_TPFLAGS_DEFAULT,
        .tp_doc = waitset_doc,
        .tp_methods = waitset_methods,
        .tp_getset = waitset_getset,
        .tp_init = (initproc)waitset_init,
        .tp_new = PyType_GenericNew,
};

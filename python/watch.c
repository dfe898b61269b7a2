/* shmview.Watch: a watching connection to shmviewd (shmv_watch), read one Event at a time.
 *
 * libshmview's watch handle is for one thread at a time, and next() waits with the GIL
 * released, so a Watch lets one next() run at once (another raises RuntimeError) and a close()
 * that arrives meanwhile cannot free the handle: it marks the Watch closed and shuts the socket
 * down, which wakes the waiting call, and that call frees the handle when it returns.
 *
 * The Watch keeps a duplicate of the handle's socket descriptor, for fileno() and for that
 * shutdown(): the library closes its own descriptor when the connection ends, but the number
 * fileno() returned must not be reused while a selector or event loop may still hold it, and
 * a shutdown() from another thread must never reach a descriptor that was closed and reused.
 * The duplicate is closed with the Watch. */
#include "binding.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
        PyObject_HEAD
        shmv_watch *watch; /* NULL once closed */
        int fd; /* the duplicate of the watch's socket; -1 once closed */
        PyObject *socket; /* str: the daemon's socket path */
        bool reading; /* a next() is running, perhaps with the GIL released */
        bool closed; /* close() was called */
        bool ended; /* the daemon closed the watch (after OVERFLOW, or when it stopped) */
} WatchObject;

/* How a next() that raised came to an end, for iteration. */
enum end {
        END_NONE, /* an error: raise it */
        END_DAEMON, /* the daemon closed the watch */
        END_CLOSED, /* close() was called while the call waited */
};

PyObject *shmv__py_watch_new(shmv_watch *w, PyObject *socket)
{
        WatchObject *self;
        int fd = fcntl(shmv_watch_fd(w), F_DUPFD_CLOEXEC, 3);

        if (fd < 0) {
                PyErr_SetFromErrno(PyExc_OSError);
                goto fail;
        }
        self = PyObject_New(WatchObject, &shmv__py_watch_type);
        if (!self) {
                close(fd);
                goto fail;
        }
        self->watch = w;
        self->fd = fd;
        self->socket = Py_NewRef(socket);
        self->reading = false;
        self->closed = false;
        self->ended = false;
        return (PyObject *)self;
fail:
        Py_BEGIN_ALLOW_THREADS
        shmv_watch_close(w);
        Py_END_ALLOW_THREADS
        return NULL;
}

static void watch_free(WatchObject *self)
{
        shmv_watch *w = self->watch;
        int fd = self->fd;

        self->watch = NULL;
        self->fd = -1;
        if (!w)
                return;
        Py_BEGIN_ALLOW_THREADS
        shmv_watch_close(w);
        close(fd);
        Py_END_ALLOW_THREADS
}

static void watch_dealloc(WatchObject *self)
{
        /* A next() in progress holds a reference: reading is false here. */
        watch_free(self);
        Py_XDECREF(self->socket);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *watch_repr(WatchObject *self)
{
        return PyUnicode_FromFormat("<shmview.Watch socket=%R%s>", self->socket,
                                    self->closed  ? " closed"
                                    : self->ended ? " ended"
                                                  : "");
}

static int check_open(WatchObject *self)
{
        if (!self->closed)
                return 0;
        PyErr_SetString(PyExc_ValueError, "operation on a closed shmview.Watch");
        return -1;
}

/* The timeout argument in seconds; -1 for None (no limit). */
static int parse_timeout(PyObject *o, double *ret)
{
        double t;

        if (o == Py_None) {
                *ret = -1;
                return 0;
        }
        t = PyFloat_AsDouble(o);
        if (t == -1 && PyErr_Occurred())
                return -1;
        if (isnan(t) || t < 0) {
                PyErr_SetString(PyExc_ValueError, "timeout must be None or a number >= 0");
                return -1;
        }
        *ret = t;
        return 0;
}

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds left until deadline, rounded up so that a wait never ends early. */
static int ms_left(double deadline)
{
        double left = ceil((deadline - now()) * 1000);

        if (left <= 0)
                return 0;
        return left >= INT_MAX ? INT_MAX : (int)left;
}

/* The next Event, None when timeout (seconds, or None) passed first; NULL with an exception,
 * and *ret_end saying whether it only means that the watch has ended. */
static PyObject *next_event(WatchObject *self, PyObject *timeout_obj, enum end *ret_end)
{
        double timeout, deadline = 0;
        shmv_event ev;
        int r;

        *ret_end = END_NONE;
        /* The timeout first: its __float__ may close the Watch. */
        if (parse_timeout(timeout_obj, &timeout) < 0 || check_open(self) < 0)
                return NULL;
        if (self->reading) {
                PyErr_SetString(PyExc_RuntimeError,
                                "another shmview.Watch.next() is in progress on this Watch");
                return NULL;
        }
        if (self->ended) {
                *ret_end = END_DAEMON;
                return shmv__py_set_error(-ECONNRESET, self->socket);
        }
        if (timeout > 0)
                deadline = now() + timeout;

        self->reading = true;
        for (;;) {
                shmv_watch *w = self->watch;
                int ms = timeout < 0 ? -1 : timeout == 0 ? 0 : ms_left(deadline);

                Py_BEGIN_ALLOW_THREADS
                r = shmv_watch_next(w, ms, &ev);
                Py_END_ALLOW_THREADS
                if (self->closed)
                        break;
                /* PEP 475: run the signal handlers, and wait on unless one raised. */
                if (r == -EINTR) {
                        if (PyErr_CheckSignals() < 0)
                                break;
                        if (self->closed)
                                break;
                        continue;
                }
                /* A wait cut at INT_MAX milliseconds goes on. */
                if (r == -EAGAIN && timeout > 0 && ms_left(deadline) > 0)
                        continue;
                break;
        }
        self->reading = false;

        if (self->closed) {
                /* Closed by another thread, or a signal handler, while this call waited. */
                watch_free(self);
                if (PyErr_Occurred())
                        return NULL;
                check_open(self); /* ValueError */
                *ret_end = END_CLOSED;
                return NULL;
        }
        if (PyErr_Occurred())
                return NULL;
        if (r == 0)
                return shmv__py_event_new(&ev);
        if (r == -EAGAIN)
                Py_RETURN_NONE;
        /* The library has closed its connection, except for ENOTCONN (in a forked child,
         * whose parent's watch this is): tell the daemon now rather than at close(). */
        if (r != -ENOTCONN)
                shutdown(self->fd, SHUT_RDWR);
        if (r == -ECONNRESET) {
                self->ended = true;
                *ret_end = END_DAEMON;
        }
        return shmv__py_set_daemon_error(r, self->socket);
}

PyDoc_STRVAR(
        next_doc,
        "next($self, /, timeout=None)\n"
        "--\n"
        "\n"
        "Returns the next Event, waiting up to timeout seconds (None: without limit, 0: not at\n"
        "all), with the GIL released; None when none came in time.\n"
        "\n"
        "The daemon drops a watch that reads too slowly: its last event is then an OVERFLOW\n"
        "Event. Once the daemon has closed the watch (after OVERFLOW, or because it stopped),\n"
        "next() raises ConnectionResetError. One next() runs at a time: another, from another\n"
        "thread or a signal handler, raises RuntimeError. A close() from another thread while\n"
        "next() waits makes it raise ValueError, as any call on a closed Watch does.");

static PyObject *watch_next(WatchObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"timeout", NULL};
        PyObject *timeout = Py_None;
        enum end end;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:next", kwlist, &timeout))
                return NULL;
        return next_event(self, timeout, &end);
}

/* for ev in watch: blocks for each event; ends when the watch does. */
static PyObject *watch_iternext(WatchObject *self)
{
        enum end end;
        PyObject *ev;

        if (check_open(self) < 0)
                return NULL;
        ev = next_event(self, Py_None, &end);
        if (!ev && end != END_NONE)
                PyErr_Clear();
        return ev;
}

static PyObject *watch_iter(WatchObject *self)
{
        if (check_open(self) < 0)
                return NULL;
        return Py_NewRef(self);
}

PyDoc_STRVAR(fileno_doc,
             "fileno($self, /)\n"
             "--\n"
             "\n"
             "The watch's socket, for select(), selectors or loop.add_reader(): readable when\n"
             "next() may have an event. Events next() has already buffered do not make it\n"
             "readable, so once it is, call next(0) until it returns None. The number stays\n"
             "valid until close(); once the daemon has closed the watch it is always readable,\n"
             "and next() raises ConnectionResetError.");

static PyObject *watch_fileno(WatchObject *self, PyObject *unused)
{
        if (check_open(self) < 0)
                return NULL;
        return PyLong_FromLong(self->fd);
}

PyDoc_STRVAR(
        close_doc,
        "close($self, /)\n"
        "--\n"
        "\n"
        "Stops watching and closes the connection. A next() waiting in another thread returns\n"
        "(raising ValueError; a for loop over the Watch ends). Closing twice is fine.");

static PyObject *watch_close(WatchObject *self, PyObject *unused)
{
        if (self->closed)
                Py_RETURN_NONE;
        self->closed = true;
        if (self->reading)
                shutdown(self->fd, SHUT_RDWR); /* the reader wakes up and frees the handle */
        else
                watch_free(self);
        Py_RETURN_NONE;
}

static PyObject *watch_enter(WatchObject *self, PyObject *unused)
{
        if (check_open(self) < 0)
                return NULL;
        return Py_NewRef(self);
}

static PyObject *watch_exit(WatchObject *self, PyObject *args)
{
        return watch_close(self, NULL);
}

static PyObject *watch_get_closed(WatchObject *self, void *closure)
{
        return PyBool_FromLong(self->closed);
}

static PyObject *watch_get_socket(WatchObject *self, void *closure)
{
        return Py_NewRef(self->socket);
}

static PyObject *watch_get_pids_shared(WatchObject *self, void *closure)
{
        if (check_open(self) < 0)
                return NULL;
        return PyBool_FromLong(shmv_watch_pids_shared(self->watch) == 1);
}

static PyMethodDef watch_methods[] = {
        {"next", SHMV__PY_FN(watch_next), METH_VARARGS | METH_KEYWORDS, next_doc},
        {"fileno", SHMV__PY_FN(watch_fileno), METH_NOARGS, fileno_doc},
        {"close", SHMV__PY_FN(watch_close), METH_NOARGS, close_doc},
        {"__enter__", SHMV__PY_FN(watch_enter), METH_NOARGS, NULL},
        {"__exit__", SHMV__PY_FN(watch_exit), METH_VARARGS, NULL},
        {NULL, NULL, 0, NULL},
};

static PyGetSetDef watch_getset[] = {
        {"closed", (getter)watch_get_closed, NULL, "True once close() was called", NULL},
        {"socket", (getter)watch_get_socket, NULL, "the daemon's socket path (str)", NULL},
        {"pids_shared", (getter)watch_get_pids_shared, NULL,
         "True when the pids of the events (ClientRef.pid) are this pid namespace's", NULL},
        {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(watch_doc,
             "A watching connection to shmviewd, made by Client.watch(): one Event per change\n"
             "in the daemon, in the order the daemon made them.\n"
             "\n"
             "    with c.watch() as w:\n"
             "        for ev in w:            # ends when the daemon closes the watch\n"
             "            print(ev.kind_name, ev.name, ev.client.pid)\n"
             "\n"
             "next(timeout) waits for one event; fileno() is for select() and event loops.\n"
             "A watch that reads too slowly gets an OVERFLOW event, then is closed by the\n"
             "daemon. A context manager: leaving the with block closes it. It has a connection\n"
             "of its own, and outlives the Client that made it.");

PyTypeObject shmv__py_watch_type = {
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmview.Watch",
        .tp_basicsize = sizeof(WatchObject),
        .tp_dealloc = (destructor)watch_dealloc,
        .tp_repr = (reprfunc)watch_repr,
        .tp_flags = Py_TPFLAGS_DEFAULT,
        .tp_doc = watch_doc,
        .tp_iter = (getiterfunc)watch_iter,
        .tp_iternext = (iternextfunc)watch_iternext,
        .tp_methods = watch_methods,
        .tp_getset = watch_getset,
};

/* shmview.Client: one connection to shmviewd.
 *
 * Every request is made with the GIL released, so other threads run while this one waits on
 * the daemon, and several threads may share a Client (libshmview serialises the exchanges).
 * Such a call keeps using the C handle after letting go of the GIL, so close() cannot free it
 * under its feet: calls in flight are counted, and a close() that arrives meanwhile only marks
 * the Client closed; the last call to finish disconnects. */
#include "binding.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sys/un.h>

typedef struct {
        PyObject_HEAD
        shmv_client *client; /* NULL once disconnected */
        PyObject *socket; /* str: the path connected to */
        Py_ssize_t busy; /* calls in flight with the GIL released */
        bool closed; /* close() was called */
        PyObject *weakreflist;
} ClientObject;

/* The handle for one call, counted as in flight; NULL with ValueError once closed. Pair with
 * client_leave(). Both run with the GIL held. */
static shmv_client *client_enter(ClientObject *self)
{
        if (self->closed || !self->client) {
                PyErr_SetString(PyExc_ValueError, "operation on a closed shmview.Client");
                return NULL;
        }
        self->busy++;
        return self->client;
}

static void client_disconnect(ClientObject *self)
{
        shmv_client *c = self->client;

        self->client = NULL;
        if (!c)
                return;
        Py_BEGIN_ALLOW_THREADS
        shmv_disconnect(c);
        Py_END_ALLOW_THREADS
}

static void client_leave(ClientObject *self)
{
        if (--self->busy == 0 && self->closed)
                client_disconnect(self);
}

/* The segment name as the library wants it: bytes, encoded as file names are. */
static PyObject *name_bytes(PyObject *name)
{
        PyObject *b = NULL;

        if (!PyUnicode_FSConverter(name, &b))
                return NULL;
        return b;
}

/* What client_call() returns when it raised itself (a closed Client, a bad name). */
#define CALL_RAISED INT_MIN

/* One library call on self's handle with the GIL released: r = fn(c, name, args), name the
 * segment name encoded as file names are (NULL for a call without one, name NULL). The call
 * is counted as in flight meanwhile, so that a close() from another thread waits for it.
 * Every argument that can run Python code (a name's __fspath__, a number's __index__) is
 * converted before: the closed check comes after them. Returns fn's result, or CALL_RAISED
 * with ValueError once closed (or the name's conversion error). */
static int client_call(ClientObject *self, PyObject *name,
                       int (*fn)(shmv_client *c, const char *name, void *args), void *args)
{
        PyObject *b = NULL;
        shmv_client *c;
        int r;

        if (name && !(b = name_bytes(name)))
                return CALL_RAISED;
        c = client_enter(self);
        if (!c) {
                Py_XDECREF(b);
                return CALL_RAISED;
        }
        Py_BEGIN_ALLOW_THREADS
        r = fn(c, b ? PyBytes_AS_STRING(b) : NULL, args);
        Py_END_ALLOW_THREADS
        client_leave(self);
        Py_XDECREF(b);
        return r;
}

/* The exception for client_call()'s result r < 0: the daemon's error, naming what. */
static PyObject *call_error(int r, PyObject *what)
{
        return r == CALL_RAISED ? NULL : shmv__py_set_daemon_error(r, what);
}

static int client_init(ClientObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"socket", NULL};
        PyObject *socket = Py_None, *path = NULL;
        char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
        const char *p = NULL;
        shmv_client *c = NULL;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:Client", kwlist, &socket))
                return -1;
        if (self->client || self->closed) {
                PyErr_SetString(PyExc_TypeError, "shmview.Client is already initialised");
                return -1;
        }
        if (socket != Py_None) {
                if (!PyUnicode_FSConverter(socket, &path))
                        return -1;
                p = PyBytes_AS_STRING(path);
        } else {
                /* Only to name the path in errors and repr(); shmv_connect() applies the same
                 * rule itself. */
                r = shmv_default_socket_path(buf, sizeof(buf));
                if (r < 0) {
                        shmv__py_set_error(r, NULL);
                        return -1;
                }
                path = PyBytes_FromString(buf);
                if (!path)
                        return -1;
        }
        Py_XSETREF(self->socket, PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(path)));
        if (!self->socket) {
                Py_DECREF(path);
                return -1;
        }

        Py_BEGIN_ALLOW_THREADS
        r = shmv_connect(p, &c);
        Py_END_ALLOW_THREADS
        Py_DECREF(path);
        if (r < 0) {
                shmv__py_set_daemon_error(r, self->socket);
                return -1;
        }
        self->client = c;
        return 0;
}

static void client_dealloc(ClientObject *self)
{
        /* Calls in flight hold a reference: busy is 0 here. */
        if (self->weakreflist)
                PyObject_ClearWeakRefs((PyObject *)self);
        client_disconnect(self);
        Py_XDECREF(self->socket);
        Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *client_repr(ClientObject *self)
{
        return PyUnicode_FromFormat("<shmview.Client socket=%R%s>",
                                    self->socket ? self->socket : Py_None,
                                    self->closed ? " closed" : "");
}

PyDoc_STRVAR(
        create_doc,
        "create($self, /, name, size, mode=0o600, *, huge_pages=False)\n"
        "--\n"
        "\n"
        "Creates segment name of size bytes (> 0), owned by this process's uid and gid, with\n"
        "permission bits mode. Its memory is reserved at once.\n"
        "\n"
        "huge_pages true asks the daemon to back the segment with 2 MiB transparent huge pages\n"
        "(SHMV_SEGMENT_HUGE_PAGES): a first read of a large view then takes one page fault per\n"
        "2 MiB instead of one per 4 KiB, and open(..., prefault=True) stays cheap. It takes\n"
        "effect only where /sys/kernel/mm/transparent_hugepage/shmem_enabled allows huge pages\n"
        "(advise, within_size, always or force); elsewhere the segment gets normal pages.\n"
        "\n"
        "Raises FileExistsError when the name is taken, ValueError for a bad name, size or mode,\n"
        "OSError(ENOSPC) when the daemon's limits or the memory available would be exceeded.");

/* create() and create_open(). */
struct create_args {
        uint64_t size;
        uint32_t mode;
        unsigned flags;
        shmv_view *view; /* create_open() */
};

static int do_create(shmv_client *c, const char *name, void *args)
{
        const struct create_args *a = args;
        return shmv_segment_create_with_flags(c, name, a->size, a->mode, a->flags);
}

static PyObject *client_create(ClientObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"name", "size", "mode", "huge_pages", NULL};
        struct create_args a = {.mode = 0600};
        PyObject *name;
        int huge_pages = 0, r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO&|O&$p:create", kwlist, &name,
                                         shmv__py_u64_converter, &a.size, shmv__py_u32_converter,
                                         &a.mode, &huge_pages))
                return NULL;
        a.flags = huge_pages ? SHMV_SEGMENT_HUGE_PAGES : 0;
        r = client_call(self, name, do_create, &a);
        if (r < 0)
                return call_error(r, name);
        Py_RETURN_NONE;
}

/* unlink() and seal(): a name in, nothing out. */
static int do_name_call(shmv_client *c, const char *name, void *args)
{
        int (*const *fn)(shmv_client *, const char *) = args;
        return (*fn)(c, name);
}

static PyObject *name_call(ClientObject *self, PyObject *args, PyObject *kwds, const char *fmt,
                           int (*fn)(shmv_client *, const char *))
{
        static char *kwlist[] = {"name", NULL};
        PyObject *name;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, fmt, kwlist, &name))
                return NULL;
        r = client_call(self, name, do_name_call, &fn);
        if (r < 0)
                return call_error(r, name);
        Py_RETURN_NONE;
}

PyDoc_STRVAR(unlink_doc,
             "unlink($self, /, name)\n"
             "--\n"
             "\n"
             "Removes the name of a segment; its memory lives on until the last view of it is\n"
             "released. Only the owner (or root) may. Raises FileNotFoundError, PermissionError.");

static PyObject *client_unlink(ClientObject *self, PyObject *args, PyObject *kwds)
{
        return name_call(self, args, kwds, "O:unlink", shmv_segment_unlink);
}

PyDoc_STRVAR(seal_doc,
             "seal($self, /, name)\n"
             "--\n"
             "\n"
             "Makes a segment immutable for good: no writable view can be opened on it any more.\n"
             "Only the owner (or root) may. Raises OSError(EBUSY) while writable views are open,\n"
             "FileNotFoundError, PermissionError.");

static PyObject *client_seal(ClientObject *self, PyObject *args, PyObject *kwds)
{
        return name_call(self, args, kwds, "O:seal", shmv_segment_seal);
}

PyDoc_STRVAR(
        wait_doc,
        "wait($self, /, name, sealed=False, timeout=None)\n"
        "--\n"
        "\n"
        "Returns once a segment of that name exists (sealed: exists and is sealed), at once\n"
        "when it already does. timeout is in seconds (None: no deadline; 0: check once);\n"
        "raises TimeoutError at the deadline. It waits for the name: a segment removed before\n"
        "it was sealed does not end the wait. Other threads' calls on the client go on\n"
        "meanwhile, and the client's own timeout (set_timeout) does not cut it short.");

struct wait_args {
        int what;
        int timeout_ms;
};

static int do_wait(shmv_client *c, const char *name, void *args)
{
        const struct wait_args *a = args;
        return shmv_segment_wait(c, name, a->what, a->timeout_ms);
}

static PyObject *client_wait(ClientObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"name", "sealed", "timeout", NULL};
        PyObject *name;
        int sealed = 0;
        struct wait_args a = {.timeout_ms = -1};
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|pO&:wait", kwlist, &name, &sealed,
                                         shmv__py_timeout_converter, &a.timeout_ms))
                return NULL;
        a.what = sealed ? SHMV_WAIT_SEALED : SHMV_WAIT_EXISTS;
        r = client_call(self, name, do_wait, &a);
        if (r < 0)
                return call_error(r, name);
        Py_RETURN_NONE;
}

PyDoc_STRVAR(
        wait_async_doc,
        "wait_async($self, /, name, sealed=False, timeout=None)\n"
        "--\n"
        "\n"
        "wait() for asyncio: a coroutine that returns once the segment exists (sealed: and is\n"
        "sealed), raising TimeoutError at the deadline. It holds no thread: the waits of a\n"
        "client and event loop share one WaitSet, whose descriptor the loop polls with\n"
        "add_reader(). Cancelling it removes the wait.");

static PyObject *client_wait_async(PyObject *self, PyObject *args, PyObject *kwds)
{
        return shmv__py_aio_call("client_wait", self, args, kwds);
}

shmv_client *shmv__py_client_handle(PyObject *o)
{
        ClientObject *self = (ClientObject *)o;

        if (!PyObject_TypeCheck(o, &shmv__py_client_type)) {
                PyErr_SetString(PyExc_TypeError, "a shmview.Client is wanted");
                return NULL;
        }
        if (self->closed || !self->client) {
                PyErr_SetString(PyExc_ValueError, "operation on a closed shmview.Client");
                return NULL;
        }
        return self->client;
}

PyDoc_STRVAR(stat_doc, "stat($self, /, name)\n"
                       "--\n"
                       "\n"
                       "Returns the SegmentInfo of segment name. Raises FileNotFoundError.");

static int do_stat(shmv_client *c, const char *name, void *args)
{
        return shmv_segment_stat(c, name, args);
}

static PyObject *client_stat(ClientObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"name", NULL};
        shmv_segment_info info;
        PyObject *name;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:stat", kwlist, &name))
                return NULL;
        r = client_call(self, name, do_stat, &info);
        if (r < 0)
                return call_error(r, name);
        return shmv__py_segment_info_new(&info);
}

PyDoc_STRVAR(list_doc, "list($self, /)\n"
                       "--\n"
                       "\n"
                       "Returns the SegmentInfo of every segment, sorted by name.");

/* The records of list(), views() and clients(): an array and its length. */
struct records {
        void *all;
        size_t n;
};

static int do_list(shmv_client *c, const char *unused, void *args)
{
        struct records *rec = args;
        return shmv_segment_list(c, (shmv_segment_info **)&rec->all, &rec->n);
}

static PyObject *segment_info_item(const void *info)
{
        return shmv__py_segment_info_new(info);
}

static PyObject *client_list(ClientObject *self, PyObject *unused)
{
        struct records rec = {NULL, 0};
        PyObject *list;
        int r;

        r = client_call(self, NULL, do_list, &rec);
        if (r < 0)
                return call_error(r, NULL);
        list = shmv__py_list_new(rec.all, rec.n, sizeof(shmv_segment_info), segment_info_item);
        shmv_segment_list_free(rec.all);
        return list;
}

/* The str a View is named by: name itself, or the bytes (or path) given, decoded. Made
 * before the call, so that a path's __fspath__ runs once. */
static PyObject *view_name(PyObject *name)
{
        PyObject *b, *str;

        if (PyUnicode_Check(name))
                return Py_NewRef(name);
        b = name_bytes(name);
        if (!b)
                return NULL;
        str = PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(b));
        Py_DECREF(b);
        return str;
}

/* The end of open() and create_open(): the View over v named str (which it takes), or the
 * exception for client_call()'s r, naming the segment as the caller named it. */
static PyObject *view_result(int r, shmv_view *v, PyObject *name, PyObject *str)
{
        PyObject *view;

        if (r < 0) {
                Py_DECREF(str);
                return call_error(r, name);
        }
        view = shmv__py_view_new(v, str);
        Py_DECREF(str);
        return view;
}

PyDoc_STRVAR(create_open_doc,
             "create_open($self, /, name, size, mode=0o600, *, huge_pages=False, prefault=False)\n"
             "--\n"
             "\n"
             "Creates segment name as create() does and returns a writable View of all of it, as\n"
             "multiprocessing.shared_memory.SharedMemory(create=True).buf is ready to write\n"
             "(shmv_segment_create_open). When the open fails the segment is unlinked again.\n"
             "prefault as for open(). Raises as create() and open() do.");

static int do_create_open(shmv_client *c, const char *name, void *args)
{
        struct create_args *a = args;
        return shmv_segment_create_open(c, name, a->size, a->mode, a->flags, &a->view);
}

static PyObject *client_create_open(ClientObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"name", "size", "mode", "huge_pages", "prefault", NULL};
        struct create_args a = {.mode = 0600};
        PyObject *name, *str;
        int huge_pages = 0, prefault = 0, r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO&|O&$pp:create_open", kwlist, &name,
                                         shmv__py_u64_converter, &a.size, shmv__py_u32_converter,
                                         &a.mode, &huge_pages, &prefault))
                return NULL;
        a.flags = (huge_pages ? SHMV_SEGMENT_HUGE_PAGES : 0) | (prefault ? SHMV_PREFAULT : 0);
        str = view_name(name);
        if (!str)
                return NULL;
        r = client_call(self, str, do_create_open, &a);
        return view_result(r, a.view, name, str);
}

PyDoc_STRVAR(
        open_doc,
        "open($self, /, name, offset=0, length=None, write=False, *, prefault=False)\n"
        "--\n"
        "\n"
        "Opens a View of bytes [offset, offset + length) of segment name; length None means to\n"
        "the end. The view is read-only unless write is true, in which case it needs the write\n"
        "permission and an unsealed segment.\n"
        "\n"
        "prefault true maps every page of the view at open (MAP_POPULATE, SHMV_PREFAULT), so\n"
        "that reading it takes no page faults; open then takes time that grows with the view's\n"
        "size (about 50 ms per GiB of normal pages), with the GIL released.\n"
        "\n"
        "Raises FileNotFoundError, PermissionError (mode bits, or a writable open of a sealed\n"
        "segment), ValueError (range outside the segment), OSError(EMFILE) past the daemon's view\n"
        "limit.");

struct open_args {
        uint64_t offset, length;
        int flags;
        shmv_view *view;
};

static int do_open(shmv_client *c, const char *name, void *args)
{
        struct open_args *a = args;
        return shmv_view_open(c, name, a->offset, a->length, a->flags, &a->view);
}

static PyObject *client_open(ClientObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"name", "offset", "length", "write", "prefault", NULL};
        struct open_args a = {.offset = 0, .length = SHMV_TO_END};
        PyObject *name, *str;
        int write = 0, prefault = 0, r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O&O&p$p:open", kwlist, &name,
                                         shmv__py_u64_converter, &a.offset,
                                         shmv__py_length_converter, &a.length, &write, &prefault))
                return NULL;
        a.flags = (write ? SHMV_READ | SHMV_WRITE : SHMV_READ) | (prefault ? SHMV_PREFAULT : 0);
        str = view_name(name);
        if (!str)
                return NULL;
        r = client_call(self, str, do_open, &a);
        return view_result(r, a.view, name, str);
}

PyDoc_STRVAR(views_doc,
             "views($self, /, name)\n"
             "--\n"
             "\n"
             "Returns the ViewInfo of every view open on segment name, all clients together, in\n"
             "the order they were opened: who holds it (a ClientRef: id, pid, uid, gid, command\n"
             "name), its id on that client's connection, offset, length and whether it is\n"
             "writable. Raises FileNotFoundError, ValueError for a bad name.");

static int do_views(shmv_client *c, const char *name, void *args)
{
        struct records *rec = args;
        return shmv_segment_views(c, name, (shmv_view_info **)&rec->all, &rec->n);
}

static PyObject *view_info_item(const void *info)
{
        return shmv__py_view_info_new(info);
}

static PyObject *client_views(ClientObject *self, PyObject *args, PyObject *kwds)
{
        static char *kwlist[] = {"name", NULL};
        struct records rec = {NULL, 0};
        PyObject *name, *list;
        int r;

        if (!PyArg_ParseTupleAndKeywords(args, kwds, "O:views", kwlist, &name))
                return NULL;
        r = client_call(self, name, do_views, &rec);
        if (r < 0)
                return call_error(r, name);
        list = shmv__py_list_new(rec.all, rec.n, sizeof(shmv_view_info), view_info_item);
        shmv_segment_views_free(rec.all);
        return list;
}

PyDoc_STRVAR(clients_doc,
             "clients($self, /)\n"
             "--\n"
             "\n"
             "Returns the ClientInfo of every client connected to the daemon, by client id:\n"
             "who (a ClientRef), since when, its views and the bytes they map, whether it is\n"
             "a Watch, and whether it is this Client ('self').");

static int do_clients(shmv_client *c, const char *unused, void *args)
{
        struct records *rec = args;
        return shmv_client_list(c, (shmv_client_info **)&rec->all, &rec->n);
}

static PyObject *client_info_item(const void *info)
{
        return shmv__py_client_info_new(info);
}

static PyObject *client_clients(ClientObject *self, PyObject *unused)
{
        struct records rec = {NULL, 0};
        PyObject *list;
        int r;

        r = client_call(self, NULL, do_clients, &rec);
        if (r < 0)
                return call_error(r, NULL);
        list = shmv__py_list_new(rec.all, rec.n, sizeof(shmv_client_info), client_info_item);
        shmv_client_list_free(rec.all);
        return list;
}

PyDoc_STRVAR(status_doc,
             "status($self, /)\n"
             "--\n"
             "\n"
             "Returns the DaemonInfo of the daemon: its version, socket and uptime, how many\n"
             "clients, watchers, segments and views it has and the bytes in use, and its Limits.");

static int do_status(shmv_client *c, const char *unused, void *args)
{
        return shmv_daemon_status(c, args);
}

static PyObject *client_status(ClientObject *self, PyObject *unused)
{
        shmv_daemon_info info;
        int r;

        r = client_call(self, NULL, do_status, &info);
        if (r < 0)
                return call_error(r, NULL);
        return shmv__py_daemon_info_new(&info);
}

PyDoc_STRVAR(
        watch_doc,
        "watch($self, /)\n"
        "--\n"
        "\n"
        "Starts watching the daemon: returns a Watch, a connection of its own to the same\n"
        "socket that receives one Event per change (segments created, unlinked, sealed, views\n"
        "opened and released, clients connecting and leaving). The Watch outlives this Client.\n"
        "Raises OSError(EUSERS) past the daemon's watcher limits (64, 8 per uid but root's).");

/* The Watch has its own connection (to the socket path, given as the name), but a closed
 * Client refuses as for any call. */
static int do_watch(shmv_client *unused, const char *socket, void *args)
{
        return shmv_watch_open(socket, args);
}

static PyObject *client_watch(ClientObject *self, PyObject *unused)
{
        shmv_watch *w = NULL;
        int r;

        r = client_call(self, self->socket, do_watch, &w);
        if (r < 0)
                return call_error(r, self->socket);
        return shmv__py_watch_new(w, self->socket);
}

PyDoc_STRVAR(
        close_doc,
        "close($self, /)\n"
        "--\n"
        "\n"
        "Closes the connection. Views and Watches opened through it stay usable. Calls other\n"
        "threads are making with this Client finish first; new calls raise ValueError. Closing\n"
        "twice is fine.");

static PyObject *client_close(ClientObject *self, PyObject *unused)
{
        self->closed = true;
        if (self->busy == 0)
                client_disconnect(self);
        Py_RETURN_NONE;
}

PyDoc_STRVAR(set_timeout_doc,
             "set_timeout($self, seconds, /)\n"
             "--\n"
             "\n"
             "How long each later call waits for the daemon before it raises TimeoutError\n"
             "(None: without limit). A client starts with $SHMVIEW_TIMEOUT_MS milliseconds when\n"
             "set, else 30 seconds.");

static int do_set_timeout(shmv_client *c, const char *unused, void *args)
{
        return shmv_set_timeout(c, *(const int *)args);
}

static PyObject *client_set_timeout(ClientObject *self, PyObject *arg)
{
        int ms = -1, r;

        if (arg != Py_None) {
                double t = PyFloat_AsDouble(arg);
                if (t == -1 && PyErr_Occurred())
                        return NULL;
                if (!(t > 0)) {
                        PyErr_SetString(PyExc_ValueError, "timeout must be None or a number > 0");
                        return NULL;
                }
                /* Whole milliseconds, rounded up: a timeout never ends early or at 0. */
                ms = t >= INT_MAX / 1000.0 ? INT_MAX : (int)ceil(t * 1000);
        }
        r = client_call(self, NULL, do_set_timeout, &ms);
        /* shmv_set_timeout() asks nothing of the daemon: the sentence, not its message. */
        if (r < 0)
                return r == CALL_RAISED ? NULL : shmv__py_set_error(r, NULL);
        Py_RETURN_NONE;
}

static PyObject *client_enter_ctx(ClientObject *self, PyObject *unused)
{
        if (self->closed || !self->client) {
                PyErr_SetString(PyExc_ValueError, "operation on a closed shmview.Client");
                return NULL;
        }
        return Py_NewRef(self);
}

static PyObject *client_exit_ctx(ClientObject *self, PyObject *args)
{
        return client_close(self, NULL);
}

static PyObject *client_get_closed(ClientObject *self, void *closure)
{
        return PyBool_FromLong(self->closed || !self->client);
}

static PyObject *client_get_socket(ClientObject *self, void *closure)
{
        return Py_NewRef(self->socket ? self->socket : Py_None);
}

static PyObject *client_get_pids_shared(ClientObject *self, void *closure)
{
        shmv_client *c = client_enter(self);
        if (!c)
                return NULL;
        int r = shmv_client_pids_shared(c);
        client_leave(self);
        return PyBool_FromLong(r == 1);
}

static PyMethodDef client_methods[] = {
        {"create", SHMV__PY_FN(client_create), METH_VARARGS | METH_KEYWORDS, create_doc},
        {"unlink", SHMV__PY_FN(client_unlink), METH_VARARGS | METH_KEYWORDS, unlink_doc},
        {"seal", SHMV__PY_FN(client_seal), METH_VARARGS | METH_KEYWORDS, seal_doc},
        {"stat", SHMV__PY_FN(client_stat), METH_VARARGS | METH_KEYWORDS, stat_doc},
        {"wait", SHMV__PY_FN(client_wait), METH_VARARGS | METH_KEYWORDS, wait_doc},
        {"wait_async", SHMV__PY_FN(client_wait_async), METH_VARARGS | METH_KEYWORDS,
         wait_async_doc},
        {"list", SHMV__PY_FN(client_list), METH_NOARGS, list_doc},
        {"open", SHMV__PY_FN(client_open), METH_VARARGS | METH_KEYWORDS, open_doc},
        {"create_open", SHMV__PY_FN(client_create_open), METH_VARARGS | METH_KEYWORDS,
         create_open_doc},
        {"views", SHMV__PY_FN(client_views), METH_VARARGS | METH_KEYWORDS, views_doc},
        {"clients", SHMV__PY_FN(client_clients), METH_NOARGS, clients_doc},
        {"status", SHMV__PY_FN(client_status), METH_NOARGS, status_doc},
        {"watch", SHMV__PY_FN(client_watch), METH_NOARGS, watch_doc},
        {"set_timeout", SHMV__PY_FN(client_set_timeout), METH_O, set_timeout_doc},
        {"close", SHMV__PY_FN(client_close), METH_NOARGS, close_doc},
        {"__enter__", SHMV__PY_FN(client_enter_ctx), METH_NOARGS, NULL},
        {"__exit__", SHMV__PY_FN(client_exit_ctx), METH_VARARGS, NULL},
        {NULL, NULL, 0, NULL},
};

static PyGetSetDef client_getset[] = {
        {"closed", (getter)client_get_closed, NULL, "True once close() was called", NULL},
        {"socket", (getter)client_get_socket, NULL, "the socket path connected to (str)", NULL},
        {"pids_shared", (getter)client_get_pids_shared, NULL,
         "True when the daemon sees this process under its own pid, so that the pids it "
         "reports (ClientRef.pid) are this pid namespace's; said at the handshake",
         NULL},
        {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(
        client_doc,
        "Client(socket=None)\n"
        "--\n"
        "\n"
        "A connection to shmviewd; shmview.connect(socket) makes one. See connect() for the\n"
        "socket-path rule. Safe to share between threads; each call releases the GIL while it\n"
        "waits on the daemon. A context manager: leaving the with block closes it. In a child\n"
        "after fork() an inherited Client raises ConnectionError; connect again there.\n"
        "\n"
        "An error the daemon answers is raised with the daemon's own message as its text (for\n"
        "an OSError, its strerror), which names the limit, rule or segment at stake, e.g.\n"
        "OSError: [Errno 28] out of memory budget: max_bytes would be passed (...): 'big'.");

PyTypeObject shmv__py_client_type = {
        PyVarObject_HEAD_INIT(NULL, 0).tp_name = "shmview.Client",
        .tp_basicsize = sizeof(ClientObject),
        .tp_dealloc = (destructor)client_dealloc,
        .tp_repr = (reprfunc)client_repr,
        .tp_flags = Py_TPFLAGS_DEFAULT,
        .tp_doc = client_doc,
        .tp_methods = client_methods,
        .tp_getset = client_getset,
        .tp_weaklistoffset = offsetof(ClientObject, weakreflist),
        .tp_init = (initproc)client_init,
        .tp_new = PyType_GenericNew,
};

/* shmview for Python: the records of inspection and watching (ClientRef, ViewInfo, ClientInfo,
 * Limits, DaemonInfo, Event) and the EventKind enumeration. Each record is a struct sequence
 * mirroring the libshmview struct of the same name, as SegmentInfo mirrors shmv_segment_info. */
#include "binding.h"

#include <string.h>

static PyTypeObject client_ref_type;
static PyTypeObject view_info_type;
static PyTypeObject client_info_type;
static PyTypeObject limits_type;
static PyTypeObject daemon_info_type;
static PyTypeObject event_type;
/* shmview.EventKind, an enum.IntEnum made at module initialisation. */
static PyObject *event_kind;

static PyObject *u64(uint64_t v)
{
        return PyLong_FromUnsignedLongLong(v);
}

static PyObject *seconds(uint64_t usec)
{
        return PyFloat_FromDouble((double)usec / 1e6);
}

static PyStructSequence_Field client_ref_fields[] = {
        {"client_id", "the daemon's number for the connection, from 1"},
        {"pid", "process id; 0 when not visible in the daemon's pid namespace"},
        {"uid", "user id of the process when it connected"},
        {"gid", "group id of the process when it connected"},
        {"comm", "its command name (/proc/PID/comm) when it connected (str, may be empty)"},
        {NULL, NULL},
};

static PyStructSequence_Desc client_ref_desc = {
        "shmview.ClientRef",
        "ClientRef(client_id, pid, uid, gid, comm)\n"
        "\n"
        "A client connection as shmviewd saw it when it accepted it (shmv_client_ref).",
        client_ref_fields,
        5,
};

static PyObject *client_ref_new(const shmv_client_ref *ref)
{
        PyObject *items[] = {
                u64(ref->client_id),
                PyLong_FromUnsignedLong(ref->pid),
                PyLong_FromUnsignedLong(ref->uid),
                PyLong_FromUnsignedLong(ref->gid),
                PyUnicode_DecodeFSDefault(ref->comm),
        };

        return SHMV__PY_RECORD_NEW(&client_ref_type, items);
}

static PyStructSequence_Field view_info_fields[] = {
        {"client", "the ClientRef of the client holding the view"},
        {"view_id", "the view's id on that client's connection"},
        {"offset", "first byte of the segment in the view"},
        {"length", "bytes in the view"},
        {"writable", "True for a writable view"},
        {NULL, NULL},
};

static PyStructSequence_Desc view_info_desc = {
        "shmview.ViewInfo",
        "ViewInfo(client, view_id, offset, length, writable)\n"
        "\n"
        "One view open on a segment (shmv_view_info), as returned by Client.views().",
        view_info_fields,
        5,
};

PyObject *shmv__py_view_info_new(const shmv_view_info *info)
{
        PyObject *items[] = {
                client_ref_new(&info->client),
                u64(info->view_id),
                u64(info->offset),
                u64(info->length),
                PyBool_FromLong(info->writable),
        };

        return SHMV__PY_RECORD_NEW(&view_info_type, items);
}

static PyStructSequence_Field client_info_fields[] = {
        {"client", "the ClientRef of the connection"},
        {"connected_usec", "when it connected, microseconds since the epoch (int)"},
        {"views", "views it holds open"},
        {"bytes_mapped", "the sum of their lengths"},
        {"watching", "True for a watching connection (a Watch)"},
        {"self", "True for the connection of the Client that asked"},
        {"connected", "when it connected, seconds since the epoch (float)"},
        {"waits", "Client.wait() calls pending on it"},
        {NULL, NULL},
};

static PyStructSequence_Desc client_info_desc = {
        "shmview.ClientInfo",
        "ClientInfo(client, connected_usec, views, bytes_mapped, watching, self)\n"
        "\n"
        "One client connected to shmviewd (shmv_client_info), as returned by Client.clients().\n"
        "A tuple of six fields; 'connected' (float seconds) and 'waits' are attributes only.",
        client_info_fields,
        6,
};

PyObject *shmv__py_client_info_new(const shmv_client_info *info)
{
        PyObject *items[] = {
                client_ref_new(&info->client),        u64(info->connected_usec),
                PyLong_FromUnsignedLong(info->views), u64(info->bytes_mapped),
                PyBool_FromLong(info->watching),      PyBool_FromLong(info->self),
                seconds(info->connected_usec),        PyLong_FromUnsignedLong(info->waits),
        };

        return SHMV__PY_RECORD_NEW(&client_info_type, items);
}

/* Filled from shmv_limits_fields() by shmv__py_inspect_init(): one field per member of
 * shmv_limits, in its order. */
#define LIMITS_MAX 64
static PyStructSequence_Field limits_fields[LIMITS_MAX + 1];

static PyStructSequence_Desc limits_desc = {
        "shmview.Limits",
        "Limits(max_frame, max_fds_per_message, max_clients, ...)\n"
        "\n"
        "The daemon's limits (shmv_limits), as DaemonInfo.limits: one field per member of\n"
        "shmv_limits, in its order; 0 where the daemon announces none.",
        limits_fields,
        0,
};

static int limits_desc_init(void)
{
        size_t n;
        const shmv_limits_field *f = shmv_limits_fields(&n);
        if (n > LIMITS_MAX) {
                PyErr_SetString(PyExc_SystemError, "shmview: more limits than LIMITS_MAX");
                return -1;
        }
        for (size_t i = 0; i < n; i++)
                limits_fields[i] = (PyStructSequence_Field){f[i].name, f[i].help};
        limits_desc.n_in_sequence = (int)n;
        return 0;
}

static PyObject *limits_new(const shmv_limits *l)
{
        size_t n;
        const shmv_limits_field *f = shmv_limits_fields(&n);
        PyObject *items[LIMITS_MAX];
        for (size_t i = 0; i < n; i++)
                items[i] = PyLong_FromUnsignedLongLong(shmv_limits_get(l, &f[i]));
        return shmv__py_record_new(&limits_type, items, n);
}

static PyStructSequence_Field daemon_info_fields[] = {
        {"version", "the daemon's version (str)"},
        {"protocol_version", "the protocol version it speaks"},
        {"started_usec", "when it started, microseconds since the epoch (int)"},
        {"uptime_usec", "microseconds since it started (monotonic clock)"},
        {"socket_path", "where it listens (str)"},
        {"clients", "connections, the asking one and watchers included"},
        {"watchers", "watching connections"},
        {"segments", "segments with a name"},
        {"segments_unlinked", "segments unlinked but still held by views"},
        {"views", "views open, all clients together"},
        {"bytes_used", "bytes in all segments, unlinked ones included"},
        {"watch_queue_bytes", "unread events a watcher may have before it is dropped, in bytes"},
        {"limits", "the daemon's Limits"},
        {"started", "when it started, seconds since the epoch (float)"},
        {"uptime", "seconds since it started (float)"},
        {"waits", "Client.wait() calls pending, all clients together"},
        {NULL, NULL},
};

static PyStructSequence_Desc daemon_info_desc = {
        "shmview.DaemonInfo",
        "DaemonInfo(version, protocol_version, started_usec, uptime_usec, socket_path, clients,\n"
        "           watchers, segments, segments_unlinked, views, bytes_used,\n"
        "           watch_queue_bytes, limits)\n"
        "\n"
        "The state of shmviewd (shmv_daemon_info), as returned by Client.status(). A tuple of\n"
        "thirteen fields; 'started' and 'uptime' (float seconds) and 'waits' are attributes\n"
        "only.",
        daemon_info_fields,
        13,
};

PyObject *shmv__py_daemon_info_new(const shmv_daemon_info *info)
{
        PyObject *items[] = {
                PyUnicode_DecodeUTF8(info->version, (Py_ssize_t)strlen(info->version), "replace"),
                PyLong_FromUnsignedLong(info->protocol_version),
                u64(info->started_usec),
                u64(info->uptime_usec),
                PyUnicode_DecodeFSDefault(info->socket_path),
                PyLong_FromUnsignedLong(info->clients),
                PyLong_FromUnsignedLong(info->watchers),
                PyLong_FromUnsignedLong(info->segments),
                PyLong_FromUnsignedLong(info->segments_unlinked),
                u64(info->views),
                u64(info->bytes_used),
                PyLong_FromUnsignedLong(info->watch_queue_bytes),
                limits_new(&info->limits),
                seconds(info->started_usec),
                seconds(info->uptime_usec),
                PyLong_FromUnsignedLong(info->waits),
        };

        return SHMV__PY_RECORD_NEW(&daemon_info_type, items);
}

static PyStructSequence_Field event_fields[] = {
        {"kind", "an EventKind; a plain int for a kind this module does not know"},
        {"time_usec", "when it happened, microseconds since the epoch (int)"},
        {"client", "the ClientRef of who caused it (for OVERFLOW: the watcher itself)"},
        {"name", "the segment (str); None for client events and OVERFLOW"},
        {"size", "CREATED: the segment's size; else None"},
        {"mode", "CREATED: the segment's permission bits; else None"},
        {"view_id", "VIEW_OPENED, VIEW_RELEASED: the view's id on its client's connection"},
        {"offset", "VIEW_OPENED, VIEW_RELEASED: the view's first byte"},
        {"length", "VIEW_OPENED, VIEW_RELEASED: the view's length"},
        {"writable", "VIEW_OPENED, VIEW_RELEASED: True for a writable view"},
        {"views", "CLIENT_GONE: views the client still held, released with it"},
        {"time", "when it happened, seconds since the epoch (float)"},
        {"kind_name", "the kind as shmview watch prints it: 'created', 'view-opened', ..."},
        {NULL, NULL},
};

static PyStructSequence_Desc event_desc = {
        "shmview.Event",
        "Event(kind, time_usec, client, name, size, mode, view_id, offset, length, writable,\n"
        "      views)\n"
        "\n"
        "One change in shmviewd (shmv_event), as returned by Watch.next(). The fields that\n"
        "the kind does not carry are None (all are given for a kind from a newer daemon).\n"
        "A tuple of eleven fields; 'time' (float seconds) and 'kind_name' (str) are\n"
        "attributes only.",
        event_fields,
        11,
};

/* The fields each kind carries, beyond kind, time and client. */
enum {
        F_NAME = 1 << 0,
        F_SIZE = 1 << 1,
        F_MODE = 1 << 2,
        F_VIEW = 1 << 3, /* view_id, offset, length, writable */
        F_VIEWS = 1 << 4,
        F_ALL = F_NAME | F_SIZE | F_MODE | F_VIEW | F_VIEWS,
};

static unsigned event_fields_of(int kind)
{
        switch (kind) {
        case SHMV_EVENT_CREATED:
                return F_NAME | F_SIZE | F_MODE;
        case SHMV_EVENT_UNLINKED:
        case SHMV_EVENT_SEALED:
                return F_NAME;
        case SHMV_EVENT_VIEW_OPENED:
        case SHMV_EVENT_VIEW_RELEASED:
                return F_NAME | F_VIEW;
        case SHMV_EVENT_CLIENT_CONNECTED:
        case SHMV_EVENT_OVERFLOW:
                return 0;
        case SHMV_EVENT_CLIENT_GONE:
                return F_VIEWS;
        default:
                return F_ALL;
        }
}

/* o when the kind carries field f, else None; o is taken over either way. */
static PyObject *if_field(unsigned fields, unsigned f, PyObject *o)
{
        if (!o || (fields & f))
                return o;
        Py_DECREF(o);
        Py_RETURN_NONE;
}

/* ev->kind as an EventKind, or as an int when EventKind has no such member. */
static PyObject *event_kind_new(int kind)
{
        PyObject *n = PyLong_FromLong(kind), *k;

        if (!n)
                return NULL;
        k = PyObject_CallOneArg(event_kind, n);
        if (!k && PyErr_ExceptionMatches(PyExc_ValueError)) {
                PyErr_Clear();
                return n;
        }
        Py_DECREF(n);
        return k;
}

PyObject *shmv__py_event_new(const shmv_event *ev)
{
        unsigned f = event_fields_of(ev->kind);
        PyObject *items[] = {
                event_kind_new(ev->kind),
                u64(ev->time_usec),
                client_ref_new(&ev->client),
                if_field(f, F_NAME, PyUnicode_DecodeFSDefault(ev->name)),
                if_field(f, F_SIZE, u64(ev->size)),
                if_field(f, F_MODE, PyLong_FromUnsignedLong(ev->mode)),
                if_field(f, F_VIEW, u64(ev->view_id)),
                if_field(f, F_VIEW, u64(ev->offset)),
                if_field(f, F_VIEW, u64(ev->length)),
                if_field(f, F_VIEW, PyBool_FromLong(ev->writable)),
                if_field(f, F_VIEWS, PyLong_FromUnsignedLong(ev->views)),
                seconds(ev->time_usec),
                PyUnicode_FromString(shmv_event_kind_name(ev->kind)),
        };

        return SHMV__PY_RECORD_NEW(&event_type, items);
}

static PyObject *event_kind_make(void)
{
        PyObject *enum_mod, *int_enum, *args = NULL, *kwds = NULL, *cls = NULL, *doc;

        enum_mod = PyImport_ImportModule("enum");
        if (!enum_mod)
                return NULL;
        int_enum = PyObject_GetAttrString(enum_mod, "IntEnum");
        Py_DECREF(enum_mod);
        if (!int_enum)
                return NULL;
        args = Py_BuildValue("(s[(si)(si)(si)(si)(si)(si)(si)(si)])", "EventKind", "CREATED",
                             SHMV_EVENT_CREATED, "UNLINKED", SHMV_EVENT_UNLINKED, "SEALED",
                             SHMV_EVENT_SEALED, "VIEW_OPENED", SHMV_EVENT_VIEW_OPENED,
                             "VIEW_RELEASED", SHMV_EVENT_VIEW_RELEASED, "CLIENT_CONNECTED",
                             SHMV_EVENT_CLIENT_CONNECTED, "CLIENT_GONE", SHMV_EVENT_CLIENT_GONE,
                             "OVERFLOW", SHMV_EVENT_OVERFLOW);
        kwds = Py_BuildValue("{ss}", "module", "shmview");
        if (args && kwds)
                cls = PyObject_Call(int_enum, args, kwds);
        Py_DECREF(int_enum);
        Py_XDECREF(args);
        Py_XDECREF(kwds);
        if (!cls)
                return NULL;
        doc = PyUnicode_FromString(
                "The kind of an Event: the SHMV_EVENT_* values of libshmview.\n"
                "\n"
                "CREATED, UNLINKED, SEALED, VIEW_OPENED, VIEW_RELEASED, CLIENT_CONNECTED,\n"
                "CLIENT_GONE, and OVERFLOW: the watch read too slowly and the daemon dropped\n"
                "it; OVERFLOW is the last event of its watch.");
        if (!doc || PyObject_SetAttrString(cls, "__doc__", doc) < 0) {
                Py_XDECREF(doc);
                Py_DECREF(cls);
                return NULL;
        }
        Py_DECREF(doc);
        return cls;
}

int shmv__py_inspect_init(PyObject *module)
{
        struct {
                PyTypeObject *type;
                PyStructSequence_Desc *desc;
        } records[] = {
                {&client_ref_type, &client_ref_desc},   {&view_info_type, &view_info_desc},
                {&client_info_type, &client_info_desc}, {&limits_type, &limits_desc},
                {&daemon_info_type, &daemon_info_desc}, {&event_type, &event_desc},
        };

        if (!limits_type.tp_name && limits_desc_init() < 0)
                return -1;
        for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
                if (!records[i].type->tp_name &&
                    PyStructSequence_InitType2(records[i].type, records[i].desc) < 0)
                        return -1;
                if (PyModule_AddType(module, records[i].type) < 0)
                        return -1;
        }
        if (!event_kind) {
                event_kind = event_kind_make();
                if (!event_kind)
                        return -1;
        }
        return PyModule_AddObjectRef(module, "EventKind", event_kind);
}

/* The Python binding's internals, shared by module.c (module, errors, argument converters,
 * SegmentInfo), client.c (the Client type), view.c (the View type), inspect.c (the records of
 * inspection and watching, EventKind) and watch.c (the Watch type). */
#ifndef SHMVIEW_PYTHON_BINDING_H
#define SHMVIEW_PYTHON_BINDING_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdbool.h>
#include <stdint.h>

#include "shmview.h"

/* Method tables want a PyCFunction whatever the real signature; the detour through a generic
 * function pointer keeps -Wcast-function-type quiet. */
#define SHMV__PY_FN(f) ((PyCFunction)(void (*)(void))(f))

extern PyTypeObject shmv__py_client_type;
extern PyTypeObject shmv__py_view_type;
extern PyTypeObject shmv__py_segment_info_type;
extern PyTypeObject shmv__py_watch_type;
extern PyTypeObject shmv__py_waitset_type;

/* Raises the exception a Python user expects for the negative errno err (see docs/python.md)
 * and returns NULL. The message is shmv_strerror()'s; what, when not NULL, is the segment name
 * or socket path the error is about and becomes the exception's filename (OSError family) or
 * ends its message (ValueError). */
PyObject *shmv__py_set_error(int err, PyObject *what);

/* As shmv__py_set_error(), with a message of the caller's instead of shmv_strerror()'s. */
PyObject *shmv__py_set_error_msg(int err, const char *msg, PyObject *what);

/* As shmv__py_set_error(), for err just returned by a libshmview call that talks to the
 * daemon, made by this thread: the message is the daemon's own when it refused the request
 * (shmv_last_error_message(), which names the limit or segment at stake), else
 * shmv_strerror()'s. No other such call may come in between, in this thread. */
PyObject *shmv__py_set_daemon_error(int err, PyObject *what);

/* A new record (struct sequence) of type with the n items given, which it takes over: on
 * failure (one of them NULL, or no memory for the record) the others are released and NULL
 * returned. SHMV__PY_RECORD_NEW counts the items of an array. */
PyObject *shmv__py_record_new(PyTypeObject *type, PyObject **items, size_t n);
#define SHMV__PY_RECORD_NEW(type, items) \
        shmv__py_record_new(type, items, sizeof(items) / sizeof((items)[0]))

/* A new list of the n records at items (each size bytes), each made into a Python object by
 * make(); NULL with an exception when one fails. */
PyObject *shmv__py_list_new(const void *items, size_t n, size_t size,
                            PyObject *(*make)(const void *item));

/* A new SegmentInfo from the library's record. */
PyObject *shmv__py_segment_info_new(const shmv_segment_info *info);

/* A new View owning handle v (released on failure too); name is the segment name (str). */
PyObject *shmv__py_view_new(shmv_view *v, PyObject *name);

/* New records from the library's (inspect.c). */
PyObject *shmv__py_view_info_new(const shmv_view_info *info);
PyObject *shmv__py_client_info_new(const shmv_client_info *info);
PyObject *shmv__py_daemon_info_new(const shmv_daemon_info *info);
PyObject *shmv__py_event_new(const shmv_event *ev);

/* Readies the record types and EventKind and adds them to module; -1 with an exception. */
int shmv__py_inspect_init(PyObject *module);

/* A new Watch owning handle w (closed on failure too); socket is the daemon's path (str). */
PyObject *shmv__py_watch_new(shmv_watch *w, PyObject *socket);

/* The library's handle of a Client (borrowed: take a reference of the library's own to keep
 * it) or of a View; NULL with TypeError for another object, ValueError once closed/released. */
shmv_client *shmv__py_client_handle(PyObject *o);
shmv_view *shmv__py_view_handle(PyObject *o);

/* fn_name(self, *args, **kwds) of the pure-Python module shmview._aio, where the asyncio
 * awaitables (Client.wait_async(), View.wait_async()) live. */
PyObject *shmv__py_aio_call(const char *fn_name, PyObject *self, PyObject *args, PyObject *kwds);

/* PyArg "O&" converter of a timeout in seconds to the library's milliseconds: None gives -1
 * (no deadline), a number >= 0 whole milliseconds rounded up, so that the deadline never
 * comes early; ValueError otherwise. */
int shmv__py_timeout_converter(PyObject *o, void *ret);

/* PyArg "O&" converters. Negative values raise ValueError, too large ones OverflowError. */
int shmv__py_u64_converter(PyObject *o, void *ret);
int shmv__py_u32_converter(PyObject *o, void *ret);
/* As shmv__py_u64_converter(), None giving SHMV_TO_END. */
int shmv__py_length_converter(PyObject *o, void *ret);

#endif

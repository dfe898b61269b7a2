"""Shared-memory segments served by shmviewd, as Python buffers.

    import shmview
    c = shmview.connect()                  # $SHMVIEW_SOCKET, else the default socket
    c.create("frames", 1 << 20, mode=0o644)
    with c.open("frames", write=True) as w:
        memoryview(w)[:5] = b"hello"
    with c.open("frames") as v:            # read-only
        print(bytes(memoryview(v)[:5]))

A View is a buffer: memoryview(view) and numpy.frombuffer(view) point straight at the shared
memory, with no copy. c.views(name), c.clients() and c.status() inspect the daemon, and
c.watch() follows its changes as Events. A WaitSet waits for many segments and
generations behind one descriptor, and c.wait_async() and view.wait_async() await them
from asyncio. See docs/python.md.
"""
from shmview._shmview import (
    NAME_MAX,
    Client,
    ClientInfo,
    ClientRef,
    DaemonInfo,
    Event,
    EventKind,
    Limits,
    SegmentInfo,
    View,
    ViewInfo,
    WaitSet,
    Watch,
    __version__,
    connect,
    default_socket_path,
)

__all__ = [
    "NAME_MAX",
    "Client",
    "ClientInfo",
    "ClientRef",
    "DaemonInfo",
    "Event",
    "EventKind",
    "Limits",
    "SegmentInfo",
    "View",
    "ViewInfo",
    "WaitSet",
    "Watch",
    "connect",
    "default_socket_path",
]

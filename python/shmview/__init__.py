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
c.watch() follows its changes as Events. See docs/python.md.
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
    "Watch",
    "connect",
    "default_socket_path",
]

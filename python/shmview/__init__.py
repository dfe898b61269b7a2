"""Shared-memory segments served by shmviewd, as Python buffers.

    import shmview
    c = shmview.connect()                  # $SHMVIEW_SOCKET, else the default socket
    c.create("frames", 1 << 20, mode=0o644)
    with c.open("frames", write=True) as w:
        memoryview(w)[:5] = b"hello"
    with c.open("frames") as v:            # read-only
        print(bytes(memoryview(v)[:5]))

A View is a buffer: memoryview(view) and numpy.frombuffer(view) point straight at the shared
memory, with no copy. See docs/python.md.
"""
from shmview._shmview import (
    NAME_MAX,
    Client,
    SegmentInfo,
    View,
    __version__,
    connect,
    default_socket_path,
)

__all__ = [
    "NAME_MAX",
    "Client",
    "SegmentInfo",
    "View",
    "connect",
    "default_socket_path",
]

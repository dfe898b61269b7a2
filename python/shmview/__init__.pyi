"""Type stubs for shmview, the Python binding of libshmview (see docs/python.md)."""

import builtins
import enum
import os
from types import TracebackType
from typing import Any, Final, Iterator, overload, final

from _typeshed import ReadableBuffer, StrOrBytesPath, structseq
from typing_extensions import Self, TypeAlias

__version__: Final[str]
NAME_MAX: Final[int]

# A segment name: str (encoded as file names are), bytes, or os.PathLike.
_Name: TypeAlias = str | bytes | os.PathLike[str] | os.PathLike[bytes]
# What an item unpacks to, by format: int (b B h H i I l L q Q n N), float (f d),
# bool (?), bytes of length 1 (c).
_Item: TypeAlias = int | float | bool | bytes

@final
class SegmentInfo(structseq[object], tuple[str, int, int, int, int, bool, int, int, int]):
    """What shmviewd knows of a segment (Client.stat(), Client.list())."""

    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...
    @property
    def mode(self) -> int: ...
    @property
    def sealed(self) -> bool: ...
    @property
    def views_ro(self) -> int: ...
    @property
    def views_rw(self) -> int: ...
    @property
    def created_usec(self) -> int: ...
    @property
    def created(self) -> float:
        """Creation time in seconds since the epoch (attribute only, not in the tuple)."""
    @property
    def generation(self) -> int:
        """The change doorbell's generation (attribute only, not in the tuple)."""

@final
class ClientRef(structseq[object], tuple[int, int, int, int, str]):
    """A client connection as shmviewd saw it when it accepted it."""

    @property
    def client_id(self) -> int: ...
    @property
    def pid(self) -> int:
        """0 when the process is not visible in the daemon's pid namespace."""
    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...
    @property
    def comm(self) -> str:
        """/proc/PID/comm when it connected; may be empty."""

@final
class ViewInfo(structseq[object], tuple[ClientRef, int, int, int, bool]):
    """One view open on a segment (Client.views())."""

    @property
    def client(self) -> ClientRef: ...
    @property
    def view_id(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def length(self) -> int: ...
    @property
    def writable(self) -> bool: ...

@final
class ClientInfo(structseq[object], tuple[ClientRef, int, int, int, bool, bool]):
    """One connected client (Client.clients())."""

    @property
    def client(self) -> ClientRef: ...
    @property
    def connected_usec(self) -> int: ...
    @property
    def views(self) -> int: ...
    @property
    def bytes_mapped(self) -> int: ...
    @property
    def watching(self) -> bool: ...
    @property
    def self(self) -> bool:
        """True for the connection of the Client that asked."""
    @property
    def connected(self) -> float:
        """Connection time in seconds since the epoch (attribute only, not in the tuple)."""
    @property
    def waits(self) -> int:
        """Client.wait() calls pending on the connection (attribute only)."""

@final
class Limits(
    structseq[int], tuple[int, int, int, int, int, int, int, int, int, int, int, int, int]
):
    """The daemon's limits (DaemonInfo.limits); 0 where the daemon announces none."""

    @property
    def max_frame(self) -> int: ...
    @property
    def max_fds_per_message(self) -> int: ...
    @property
    def max_clients(self) -> int: ...
    @property
    def max_views_per_client(self) -> int: ...
    @property
    def max_segments(self) -> int: ...
    @property
    def max_bytes(self) -> int: ...
    @property
    def max_name_len(self) -> int: ...
    @property
    def list_page_size(self) -> int: ...
    @property
    def max_clients_per_uid(self) -> int: ...
    @property
    def max_bytes_per_uid(self) -> int: ...
    @property
    def stall_timeout_ms(self) -> int: ...
    @property
    def max_segments_per_uid(self) -> int: ...
    @property
    def max_views_per_uid(self) -> int: ...

@final
class DaemonInfo(
    structseq[object],
    tuple[str, int, int, int, str, int, int, int, int, int, int, int, Limits],
):
    """The state of shmviewd (Client.status())."""

    @property
    def version(self) -> str: ...
    @property
    def protocol_version(self) -> int: ...
    @property
    def started_usec(self) -> int: ...
    @property
    def uptime_usec(self) -> int: ...
    @property
    def socket_path(self) -> str: ...
    @property
    def clients(self) -> int: ...
    @property
    def watchers(self) -> int: ...
    @property
    def segments(self) -> int: ...
    @property
    def segments_unlinked(self) -> int: ...
    @property
    def views(self) -> int: ...
    @property
    def bytes_used(self) -> int: ...
    @property
    def watch_queue_bytes(self) -> int:
        """Bytes of unread events a watch may have before the daemon drops it."""
    @property
    def limits(self) -> Limits: ...
    @property
    def started(self) -> float:
        """Start time in seconds since the epoch (attribute only, not in the tuple)."""
    @property
    def uptime(self) -> float:
        """Seconds since the daemon started (attribute only, not in the tuple)."""
    @property
    def waits(self) -> int:
        """Client.wait() calls pending, all clients together (attribute only)."""

class EventKind(enum.IntEnum):
    """The kind of an Event (libshmview's SHMV_EVENT_*)."""

    CREATED = 1
    UNLINKED = 2
    SEALED = 3
    VIEW_OPENED = 4
    VIEW_RELEASED = 5
    CLIENT_CONNECTED = 6
    CLIENT_GONE = 7
    OVERFLOW = 8

@final
class Event(
    structseq[object],
    tuple[
        EventKind | int,
        int,
        ClientRef,
        str | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        bool | None,
        int | None,
    ],
):
    """One change in shmviewd (Watch.next()); fields the kind does not carry are None."""

    @property
    def kind(self) -> EventKind | int:
        """An EventKind; a plain int for a kind from a newer daemon."""
    @property
    def time_usec(self) -> int: ...
    @property
    def client(self) -> ClientRef:
        """Who caused it; for OVERFLOW, the watch itself."""
    @property
    def name(self) -> str | None:
        """CREATED, UNLINKED, SEALED, VIEW_OPENED, VIEW_RELEASED: the segment."""
    @property
    def size(self) -> int | None:
        """CREATED."""
    @property
    def mode(self) -> int | None:
        """CREATED."""
    @property
    def view_id(self) -> int | None:
        """VIEW_OPENED, VIEW_RELEASED."""
    @property
    def offset(self) -> int | None:
        """VIEW_OPENED, VIEW_RELEASED."""
    @property
    def length(self) -> int | None:
        """VIEW_OPENED, VIEW_RELEASED."""
    @property
    def writable(self) -> bool | None:
        """VIEW_OPENED, VIEW_RELEASED."""
    @property
    def views(self) -> int | None:
        """CLIENT_GONE: the views the client still held, released with it."""
    @property
    def time(self) -> float:
        """Seconds since the epoch (attribute only, not in the tuple)."""
    @property
    def kind_name(self) -> str:
        """'created', 'view-opened', ..., 'overflow', 'unknown' (attribute only)."""

@final
class Watch:
    """A watching connection to shmviewd (Client.watch()), one Event per change.

    Iteration blocks for each event and ends when the daemon closes the watch (after an
    OVERFLOW event, or when it stops) or when close() is called from another thread.
    """

    @property
    def closed(self) -> bool: ...
    @property
    def socket(self) -> str: ...
    @property
    def pids_shared(self) -> bool:
        """True when the pids of the events (ClientRef.pid) are this pid namespace's."""
    def next(self, timeout: float | None = None) -> Event | None:
        """The next Event, or None when none came within timeout seconds."""
    def fileno(self) -> int:
        """The socket, for select() and event loops; drain with next(0) once readable."""
    def close(self) -> None: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Event: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...

@final
class View:
    """A view of part of a shared-memory segment; a buffer over the shared memory itself."""

    @property
    def name(self) -> str: ...
    @property
    def released(self) -> bool: ...
    @property
    def generation(self) -> int:
        """The segment's change doorbell generation, read with no system call."""
    @property
    def obj(self) -> None:
        """None: no Python object owns the memory."""
    @property
    def format(self) -> str: ...
    @property
    def itemsize(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    @property
    def readonly(self) -> bool: ...
    @property
    def ndim(self) -> int: ...
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def strides(self) -> tuple[int, ...]: ...
    @property
    def suboffsets(self) -> tuple[()]: ...
    @property
    def contiguous(self) -> bool: ...
    @property
    def c_contiguous(self) -> bool: ...
    @property
    def f_contiguous(self) -> bool: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, key: int | tuple[int, ...], /) -> _Item: ...
    @overload
    def __getitem__(self, key: slice, /) -> View: ...
    @overload
    def __setitem__(self, key: int | tuple[int, ...], value: _Item, /) -> None: ...
    @overload
    def __setitem__(self, key: slice, value: ReadableBuffer, /) -> None: ...
    def __iter__(self) -> Iterator[_Item]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int:
        """As memoryview's: read-only views of format B, b or c only (else ValueError)."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...
    def release(self) -> None:
        """Releases the view; BufferError while a buffer export of it is alive."""
    def tobytes(self, order: str | None = None) -> bytes: ...
    def hex(self, sep: str | bytes | None = None, bytes_per_sep: int = 1) -> str: ...
    def tolist(self) -> Any:
        """A list of items; nested lists with more than one dimension; the item with none."""
    def cast(self, format: str, shape: list[int] | tuple[int, ...] | None = None) -> View: ...
    def toreadonly(self) -> View: ...
    def notify(self) -> None:
        """Grows the generation by one and wakes every waiter; TypeError if read-only."""
    def wait(self, seen: int, timeout: float | None = None) -> int:
        """The generation once it differs from seen; TimeoutError at the deadline, OSError
        (EROFS) when sealed and nothing will change again."""
    async def wait_async(self, seen: int, timeout: float | None = None) -> int:
        """The generation once it differs from seen, for asyncio; TimeoutError at the deadline.
        No thread per await: the loop polls one WaitSet (docs/python.md)."""

@final
class WaitSet:
    """Many one-shot waits behind one descriptor, for selectors and event loops."""

    def __init__(self, client: Client | None = None) -> None: ...
    @property
    def closed(self) -> bool: ...
    def add_segment(
        self, name: _Name, token: int, sealed: bool = False, timeout: float | None = None
    ) -> None: ...
    def add_generation(
        self, view: View, seen: int, token: int, timeout: float | None = None
    ) -> None: ...
    def remove(self, token: int, /) -> bool: ...
    def next(self) -> tuple[int, OSError | None, int] | None:
        """(token, error, generation) of one ended wait, None when none has ended."""
    def fileno(self) -> int: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...

@final
class Client:
    """A connection to shmviewd, safe to share between threads.

    An error the daemon answers is raised with the daemon's own message (the limit, rule or
    segment at stake) as its text; see docs/python.md, "Errors".
    """

    def __init__(self, socket: StrOrBytesPath | None = None) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def socket(self) -> str: ...
    @property
    def pids_shared(self) -> bool:
        """True when the daemon sees this process under its own pid: the pids it reports
        (ClientRef.pid) are this pid namespace's. Said at the handshake, no round trip."""
    def create(
        self, name: _Name, size: int, mode: int = 0o600, *, huge_pages: bool = False
    ) -> None:
        """Creates a segment; huge_pages: back it with transparent huge pages if allowed."""
    def unlink(self, name: _Name) -> None: ...
    def seal(self, name: _Name) -> None: ...
    def stat(self, name: _Name) -> SegmentInfo: ...
    def wait(self, name: _Name, sealed: bool = False, timeout: float | None = None) -> None:
        """Returns once the segment exists (sealed: and is sealed); TimeoutError at the
        deadline (seconds; None: none)."""
    async def wait_async(
        self, name: _Name, sealed: bool = False, timeout: float | None = None
    ) -> None:
        """wait() for asyncio, with no thread per await (docs/python.md)."""
    def list(self) -> builtins.list[SegmentInfo]: ...
    def open(
        self,
        name: _Name,
        offset: int = 0,
        length: int | None = None,
        write: bool = False,
        *,
        prefault: bool = False,
    ) -> View:
        """Opens a View; prefault: map every page at open (no page faults when reading)."""
    def create_open(
        self,
        name: _Name,
        size: int,
        mode: int = 0o600,
        *,
        huge_pages: bool = False,
        prefault: bool = False,
    ) -> View:
        """Creates a segment and returns a writable View of all of it."""
    def views(self, name: _Name) -> builtins.list[ViewInfo]:
        """The views open on a segment, all clients together, in opening order."""
    def clients(self) -> builtins.list[ClientInfo]:
        """The connected clients, by client id."""
    def status(self) -> DaemonInfo:
        """The daemon's version, counts, bytes in use and limits."""
    def watch(self) -> Watch:
        """A Watch: a connection of its own receiving one Event per change."""
    def set_timeout(self, seconds: float | None, /) -> None:
        """How long later calls wait for the daemon before TimeoutError (None: no limit)."""
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> None: ...

def connect(socket: StrOrBytesPath | None = None) -> Client:
    """Connects to shmviewd (socket None: $SHMVIEW_SOCKET, else the default path)."""

def default_socket_path() -> str:
    """The socket path connect() uses when given none."""

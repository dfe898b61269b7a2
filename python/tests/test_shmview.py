"""Tests of the shmview Python binding against a real shmviewd.

Run by CTest (python/CMakeLists.txt) with PYTHONPATH naming the build tree's package and
SHMVIEWD the daemon binary; each TestCase class starts its own daemon on a temporary socket.
By hand:

    PYTHONPATH=build/python SHMVIEWD=build/daemon/shmviewd \
        /usr/bin/python3 python/tests/test_shmview.py -v [SessionTest ...]

Permission tests switch to uid 65534 in a forked child, so run them as root.
"""
import asyncio
import ctypes
import errno
import gc
import hashlib
import inspect
import itertools
import json
import mmap
import os
import pathlib
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
import unittest

import shmview

try:
    import numpy
except ImportError:  # Debian: python3-numpy
    numpy = None

SHMVIEWD = os.environ.get("SHMVIEWD", "shmviewd")
NOBODY = 65534


class Daemon:
    """A shmviewd of our own on a temporary socket, as tests/harness.c starts one."""

    def __init__(self, *extra, log=False):
        self.dir = tempfile.mkdtemp(prefix="shmview-pytest-")
        os.chmod(self.dir, 0o755)  # other uids must reach the socket
        self.socket = os.path.join(self.dir, "shmview.sock")
        # log: the daemon's stderr goes to a file, for log_text(), instead of ours.
        self.log = os.path.join(self.dir, "shmviewd.log") if log else None
        # Under a sanitizer build the interpreter runs with libasan preloaded and leak
        # checking off; the daemon, instrumented itself, gets its own options.
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        if "SHMVIEWD_ASAN_OPTIONS" in env:
            env["ASAN_OPTIONS"] = env["SHMVIEWD_ASAN_OPTIONS"]
        stderr = open(self.log, "wb") if self.log else None
        try:
            self.proc = subprocess.Popen(
                [SHMVIEWD, "--socket", self.socket, "--socket-mode", "0666", *extra], env=env,
                stderr=stderr)
        finally:
            if stderr:
                stderr.close()
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("shmviewd exited during start-up")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.socket)
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"shmviewd did not answer on {self.socket}")
                time.sleep(0.01)
            finally:
                s.close()

    @property
    def pid(self):
        return self.proc.pid

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def log_text(self):
        """What the daemon has written to stderr so far (started with log=True)."""
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self):
        """SIGTERM; returns the exit status (0 unless a crash or a sanitizer report)."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGCONT)
            self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        if self.log and rc != 0:
            sys.stderr.write(self.log_text())  # a sanitizer's report, say
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)
        return rc


class DaemonTestCase(unittest.TestCase):
    """Starts a daemon per class; checks after each test that the daemon's descriptors are
    back where they were (every connection closed, every segment gone)."""

    daemon_args = ()
    daemon_log = False  # True: the daemon's stderr is kept for cls.daemon.log_text()
    counter = itertools.count()

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(*cls.daemon_args, log=cls.daemon_log)
        os.environ["SHMVIEW_SOCKET"] = cls.daemon.socket
        # The daemon's descriptors once it has settled (the start-up probe's connection gone).
        samples = []
        while len(samples) < 5 or len(set(samples[-5:])) != 1:
            samples.append(cls.daemon.fd_count())
            time.sleep(0.02)
        cls.baseline = samples[-1]

    @classmethod
    def tearDownClass(cls):
        rc = cls.daemon.stop()
        if rc != 0:
            raise AssertionError(f"shmviewd exited with status {rc}")

    def setUp(self):
        # Cleanups run last-in first-out: this one runs after all others.
        self.addCleanup(self.check_daemon_fds)

    def check_daemon_fds(self):
        gc.collect()
        deadline = time.monotonic() + 10
        while (n := self.daemon.fd_count()) != self.baseline:
            if time.monotonic() > deadline:
                self.fail(f"daemon has {n} descriptors open, {self.baseline} before the test")
            time.sleep(0.01)

    def connect(self, *args):
        c = shmview.connect(*args)
        self.addCleanup(c.close)
        return c

    def name(self, prefix="seg"):
        return f"{prefix}-{os.getpid()}-{next(self.counter)}"

    def segment(self, size, mode=0o600, data=None, prefix="seg"):
        """A new segment, unlinked at the end of the test; data fills its start."""
        name = self.name(prefix)
        c = self.connect()
        c.create(name, size, mode=mode)
        self.addCleanup(self.unlink_quietly, name)
        if data is not None:
            with c.open(name, write=True) as w:
                memoryview(w)[: len(data)] = data
        return name

    @staticmethod
    def unlink_quietly(name):
        with shmview.connect() as c:
            try:
                c.unlink(name)
            except FileNotFoundError:
                pass

    def run_python(self, code, **kw):
        """Runs code in a new interpreter (same PYTHONPATH and daemon); returns stdout."""
        p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                           text=True, timeout=120, **kw)
        if p.returncode != 0:
            self.fail(f"child failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p.stdout

    def run_as(self, uid, fn, *args):
        """Runs fn(*args) in a forked child as uid (gid too, no supplementary groups) and
        returns what it returns (JSON), or fails with the child's traceback."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            # Objects of the parent (its Clients, Views) must not be touched here: they share
            # the parent's connection.
            gc.disable()
            os.close(r)
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                out = {"ok": fn(*args)}
            except BaseException:
                out = {"error": traceback.format_exc()}
            os.write(w, json.dumps(out).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            data = f.read()
        _, status = os.waitpid(pid, 0)
        self.assertEqual(status, 0)
        out = json.loads(data)
        if "error" in out:
            self.fail(f"child as uid {uid} failed:\n{out['error']}")
        return out["ok"]


# PyObject_GetBuffer with chosen flags, to check what the View exports for each request.
class Py_buffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p),
                ("len", ctypes.c_ssize_t), ("itemsize", ctypes.c_ssize_t),
                ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.POINTER(ctypes.c_ssize_t)),
                ("strides", ctypes.POINTER(ctypes.c_ssize_t)),
                ("suboffsets", ctypes.POINTER(ctypes.c_ssize_t)),
                ("internal", ctypes.c_void_p)]


_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = [ctypes.py_object, ctypes.POINTER(Py_buffer), ctypes.c_int]
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = [ctypes.POINTER(Py_buffer)]
_release_buffer.restype = None

PyBUF_SIMPLE = 0
PyBUF_WRITABLE = 0x0001
PyBUF_FORMAT = 0x0004
PyBUF_ND = 0x0008
PyBUF_STRIDES = 0x0010 | PyBUF_ND
PyBUF_C_CONTIGUOUS = 0x0020 | PyBUF_STRIDES
PyBUF_F_CONTIGUOUS = 0x0040 | PyBUF_STRIDES
PyBUF_ANY_CONTIGUOUS = 0x0080 | PyBUF_STRIDES
PyBUF_FULL_RO = PyBUF_STRIDES | PyBUF_FORMAT


def get_buffer(obj, flags):
    """What obj exports for flags: (address, len, itemsize, readonly, format, shape,
    strides), None for what was not exported."""
    b = Py_buffer()
    _get_buffer(obj, ctypes.byref(b), flags)
    try:
        return (b.buf, b.len, b.itemsize, bool(b.readonly),
                b.format.decode() if b.format is not None else None,
                (b.shape[0],) if b.shape else None,
                (b.strides[0],) if b.strides else None)
    finally:
        _release_buffer(ctypes.byref(b))


def mapping_of(address):
    """The /proc/self/smaps entry of the mapping that holds address: its sizes in bytes by
    field (Rss, ShmemPmdMapped, ...), and start, end and path."""
    entry = None
    with open("/proc/self/smaps") as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            if not fields[0].endswith(":"):  # a mapping's first line: start-end perms ...
                if entry is not None:
                    break
                start, end = (int(x, 16) for x in fields[0].split("-"))
                if start <= address < end:
                    entry = {"start": start, "end": end, "path": " ".join(fields[5:])}
            elif entry is not None and fields[-1] == "kB":
                entry[fields[0][:-1]] = int(fields[1]) * 1024
    if entry is None:
        raise AssertionError(f"no mapping holds {address:#x}")
    return entry


def view_mapping(v):
    """The smaps entry of the mapping behind View v (see mapping_of)."""
    return mapping_of(get_buffer(v, PyBUF_SIMPLE)[0])


class SessionTest(DaemonTestCase):
    """The seed's memoryview session over shared memory, and the Client API."""

    def test_seed_session_writer_and_reader_in_two_processes(self):
        # The writer, exactly as the issue writes it, in its own process.
        self.run_python("""
            import string
            import shmview
            c = shmview.connect()
            c.create("letters", 52, mode=0o644)
            with c.open("letters", write=True) as w:
                memoryview(w)[:] = string.ascii_letters.encode()
        """)
        self.addCleanup(self.unlink_quietly, "letters")
        # The reader, here, in another process.
        c = self.connect()
        v = c.open("letters")                      # read-only by default
        m = memoryview(v)
        self.assertEqual((len(m), m[0], m[25], m[26]), (52, 97, 122, 65))
        self.assertEqual(m[0:26].tobytes(), b"abcdefghijklmnopqrstuvwxyz")
        m2 = m[0:26]
        self.assertEqual(m2.tolist(), list(range(97, 123)))
        with self.assertRaises(TypeError) as cm:
            m[0:26][0] = 75
        self.assertEqual(str(cm.exception), "cannot modify read-only memory")
        self.assertEqual(m.tobytes(), b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        m2.release()
        m.release()
        v.release()

    def test_seed_session_on_the_view_itself(self):
        name = self.segment(52, 0o644, b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        out = self.run_python(f"""
            import shmview
            c = shmview.connect()
            with c.open({name!r}) as v:
                m2 = v[0:26]
                print(len(v), v[0], v[25], v[26], m2.tobytes().decode(), v[-1])
                try:
                    m2[0] = 75
                except TypeError as e:
                    print(e)
                m2.release()
        """)
        self.assertEqual(out.splitlines(), [
            "52 97 122 65 abcdefghijklmnopqrstuvwxyz 90", "cannot modify read-only memory"])

    def test_client_basics(self):
        self.assertEqual(shmview.default_socket_path(), self.daemon.socket)
        with shmview.connect() as c:
            self.assertEqual(c.socket, self.daemon.socket)
            self.assertFalse(c.closed)
            self.assertIn(repr(self.daemon.socket), repr(c))
            # The daemon runs in this pid namespace: its hello said it sees us as ourselves.
            self.assertIs(c.pids_shared, True)
            with c.watch() as w:
                self.assertIs(w.pids_shared, True)
            with self.assertRaisesRegex(ValueError, "closed"):
                w.pids_shared
        self.assertTrue(c.closed)
        c.close()  # twice is fine
        with self.assertRaisesRegex(ValueError, "closed"):
            c.pids_shared
        with self.assertRaisesRegex(ValueError, "closed"):
            c.list()
        with self.assertRaisesRegex(ValueError, "closed"):
            with c:
                pass
        # An explicit path, as str, bytes or os.PathLike, wins over $SHMVIEW_SOCKET.
        for path in (self.daemon.socket, os.fsencode(self.daemon.socket),
                     pathlib.Path(self.daemon.socket)):
            with shmview.Client(path) as c2:
                self.assertEqual(c2.socket, self.daemon.socket)
                self.assertIsInstance(c2.list(), list)

    def test_create_stat_list_unlink(self):
        c = self.connect()
        before = time.time()
        a, b = self.name("b-second"), self.name("a-first")
        c.create(a, 4096, mode=0o640)
        c.create(b, 10)
        self.addCleanup(self.unlink_quietly, a)
        self.addCleanup(self.unlink_quietly, b)
        st = c.stat(a)
        self.assertIsInstance(st, shmview.SegmentInfo)
        self.assertIsInstance(st, tuple)
        self.assertEqual(len(st), 9)
        self.assertEqual((st.name, st.size, st.uid, st.gid, st.mode, st.sealed),
                         (a, 4096, os.getuid(), os.getgid(), 0o640, False))
        self.assertEqual((st.views_ro, st.views_rw), (0, 0))
        self.assertEqual(st.created_usec // 1000000, int(st.created))
        self.assertLess(abs(st.created - before), 60)
        self.assertEqual(tuple(st)[:6], (a, 4096, os.getuid(), os.getgid(), 0o640, False))
        self.assertEqual(c.stat(b).mode, 0o600)  # the default

        with c.open(a) as v, c.open(a) as v2, c.open(a, write=True) as w:
            st = c.stat(a)
            self.assertEqual((st.views_ro, st.views_rw), (2, 1))
            self.assertTrue(w.readonly is False and v.readonly and v2.readonly)
        # Releases are one-way but ordered before the next request on the same connection.
        st = c.stat(a)
        self.assertEqual((st.views_ro, st.views_rw), (0, 0))

        names = [s.name for s in c.list()]
        self.assertLess(names.index(b), names.index(a))  # sorted
        self.assertEqual(names, sorted(names, key=os.fsencode))
        c.unlink(a)
        self.assertNotIn(a, [s.name for s in c.list()])
        # Names as bytes and os.PathLike.
        c.unlink(os.fsencode(b))
        c.create(pathlib.Path(b), 1)
        self.assertEqual(c.stat(os.fsencode(b)).size, 1)

    def test_open_ranges(self):
        data = bytes(range(256)) * 64  # 16 KiB: several pages
        name = self.segment(len(data), data=data)
        c = self.connect()
        for offset, length in ((0, None), (1, 10), (4095, 2), (5000, 8000), (16383, 1),
                               (16384, 0), (16384, None), (100, 0)):
            with c.open(name, offset, length) as v:
                want = data[offset:] if length is None else data[offset:offset + length]
                self.assertEqual(len(v), len(want))
                self.assertEqual(v.tobytes(), want)
                self.assertEqual(bytes(v), want)
                self.assertEqual(memoryview(v).tobytes(), want)
                self.assertEqual(v.name, name)

    def test_seal(self):
        name = self.segment(100, data=b"fixed")
        c = self.connect()
        c.seal(name)
        self.assertTrue(c.stat(name).sealed)
        with self.assertRaises(PermissionError) as cm:
            c.open(name, write=True)
        self.assertEqual(cm.exception.errno, errno.EPERM)
        with c.open(name) as v:
            self.assertEqual(v[:5].tobytes(), b"fixed")

    def test_views_outlive_client_and_name(self):
        name = self.segment(64, data=b"still here")
        c = shmview.connect()
        v = c.open(name)
        w = c.open(name, write=True)
        c.close()
        self.unlink_quietly(name)
        self.assertEqual(v[:10].tobytes(), b"still here")
        w[0] = ord("S")
        self.assertEqual(bytes(v[:10]), b"Still here")
        v.release()
        w.release()

    def test_docstrings_signatures_and_stub(self):
        for obj in (shmview, shmview.Client, shmview.View, shmview.SegmentInfo,
                    shmview.connect, shmview.default_socket_path, shmview.Watch,
                    shmview.ClientRef, shmview.ViewInfo, shmview.ClientInfo, shmview.Limits,
                    shmview.DaemonInfo, shmview.Event, shmview.EventKind):
            self.assertTrue(obj.__doc__, obj)
        for name in ("create", "unlink", "seal", "stat", "list", "open", "close"):
            self.assertTrue(getattr(shmview.Client, name).__doc__, name)
        for name in ("release", "tobytes", "hex", "tolist", "cast", "toreadonly"):
            self.assertTrue(getattr(shmview.View, name).__doc__, name)
        sig = inspect.signature(shmview.Client.open)
        self.assertEqual(list(sig.parameters),
                         ["self", "name", "offset", "length", "write", "prefault"])
        self.assertEqual(sig.parameters["length"].default, None)
        self.assertEqual(sig.parameters["write"].kind, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self.assertEqual(sig.parameters["prefault"].kind, inspect.Parameter.KEYWORD_ONLY)
        self.assertIs(sig.parameters["prefault"].default, False)
        sig = inspect.signature(shmview.Client.create)
        self.assertEqual(list(sig.parameters), ["self", "name", "size", "mode", "huge_pages"])
        self.assertEqual(sig.parameters["mode"].default, 0o600)
        self.assertEqual(sig.parameters["huge_pages"].kind, inspect.Parameter.KEYWORD_ONLY)
        self.assertIs(sig.parameters["huge_pages"].default, False)
        self.assertEqual(list(inspect.signature(shmview.connect).parameters), ["socket"])
        # The stub sits beside the module and names what the module has.
        import ast
        stub = pathlib.Path(shmview.__file__).with_suffix(".pyi")
        tree = ast.parse(stub.read_text())
        stubbed = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
        self.assertEqual(stubbed, {"SegmentInfo", "View", "Client", "connect",
                                   "default_socket_path", "ClientRef", "ViewInfo", "ClientInfo",
                                   "Limits", "DaemonInfo", "EventKind", "Event", "Watch",
                                   "WaitSet"})
        self.assertEqual(stubbed - {"connect", "default_socket_path"},
                         {n for n in shmview.__all__ if n != "NAME_MAX"} -
                         {"connect", "default_socket_path"})
        classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        for cls, names in (("Client", ("open", "create", "views", "clients", "status", "watch",
                                       "close")),
                           ("Watch", ("next", "fileno", "close")),
                           ("View", ("cast", "tobytes", "hex", "tolist", "toreadonly",
                                     "release"))):
            methods = {n.name: n.args for n in classes[cls].body
                       if isinstance(n, ast.FunctionDef)}
            for method in names:
                sig = inspect.signature(getattr(getattr(shmview, cls), method))
                args = methods[method]
                self.assertEqual([a.arg for a in args.args + args.kwonlyargs],
                                 list(sig.parameters), method)
                self.assertEqual([a.arg for a in args.kwonlyargs],
                                 [p.name for p in sig.parameters.values()
                                  if p.kind == inspect.Parameter.KEYWORD_ONLY], method)
                defaults = [d.value for d in args.defaults if isinstance(d, ast.Constant)]
                self.assertEqual(defaults, [p.default for p in sig.parameters.values()
                                            if p.default is not inspect.Parameter.empty
                                            and p.kind != inspect.Parameter.KEYWORD_ONLY],
                                 method)
        # Each record's fields, in the stub's order, are the struct sequence's.
        for cls in ("SegmentInfo", "ClientRef", "ViewInfo", "ClientInfo", "Limits",
                    "DaemonInfo", "Event"):
            props = [n.name for n in classes[cls].body if isinstance(n, ast.FunctionDef)]
            t = getattr(shmview, cls)
            self.assertEqual(props[:t.n_sequence_fields], list(t.__match_args__), cls)
            self.assertEqual(len(props), t.n_fields, cls)
        kinds = [n.targets[0].id for n in classes["EventKind"].body if isinstance(n, ast.Assign)]
        self.assertEqual(kinds, [k.name for k in shmview.EventKind])
        for name in ("views", "clients", "status", "watch"):
            self.assertTrue(getattr(shmview.Client, name).__doc__, name)
        for name in ("next", "fileno", "close"):
            self.assertTrue(getattr(shmview.Watch, name).__doc__, name)
        self.assertEqual(list(inspect.signature(shmview.Watch.next).parameters),
                         ["self", "timeout"])
        self.assertIsNone(inspect.signature(shmview.Watch.next).parameters["timeout"].default)
        self.assertEqual(list(inspect.signature(shmview.Client.views).parameters),
                         ["self", "name"])
        with self.assertRaises(TypeError):
            shmview.Watch()
        self.assertTrue((stub.parent / "py.typed").exists())
        self.assertEqual(shmview.__version__, "0.1.0")
        self.assertEqual(shmview.NAME_MAX, 255)
        with self.assertRaises(TypeError):
            shmview.View()


class BufferTest(DaemonTestCase):
    """The buffer protocol: exports, release rules, read-only, formats, strides."""

    def test_release_refused_while_exported(self):
        name = self.segment(16, data=b"0123456789abcdef")
        c = self.connect()
        v = c.open(name)
        m = memoryview(v)
        with self.assertRaisesRegex(BufferError, "while 1 buffer export is"):
            v.release()
        s = m[2:4]  # a slice of the memoryview shares its export
        with self.assertRaises(BufferError):
            v.release()
        m.release()
        self.assertEqual(s.tobytes(), b"23")
        with self.assertRaises(BufferError):
            v.release()
        s.release()
        v.release()
        self.assertTrue(v.released)
        v.release()  # twice is fine
        for op in (lambda: memoryview(v), lambda: len(v), lambda: v[0], lambda: v.tobytes(),
                   lambda: v.format, lambda: v.cast("B"), lambda: bytes(v)):
            with self.assertRaisesRegex(ValueError, "released"):
                op()
        self.assertIn("released", repr(v))

    def test_with_block(self):
        name = self.segment(16)
        c = self.connect()
        with c.open(name, write=True) as w:
            memoryview(w)[:4] = b"abcd"  # the temporary memoryview is gone at once
        self.assertTrue(w.released)
        with self.assertRaises(BufferError):
            with c.open(name) as v:
                m = memoryview(v)
        self.assertFalse(v.released)
        self.assertEqual(m[:4], b"abcd")
        m.release()
        v.release()
        with self.assertRaisesRegex(ValueError, "released"):
            with v:
                pass

    def test_mapping_lives_as_long_as_an_export(self):
        name = self.segment(8192, data=b"x" * 8192)
        c = self.connect()
        m = memoryview(c.open(name))  # no other reference to the View
        gc.collect()
        c.close()
        self.unlink_quietly(name)
        self.assertEqual(m[8191], ord("x"))
        self.assertEqual(m.obj.name, name)
        m.release()

    def test_read_only_exports(self):
        name = self.segment(8, data=b"abcdefgh")
        c = self.connect()
        with c.open(name) as v:
            self.assertTrue(memoryview(v).readonly)
            with self.assertRaisesRegex(BufferError, "read-only"):
                get_buffer(v, PyBUF_WRITABLE)
            with self.assertRaisesRegex(TypeError, "cannot modify read-only memory"):
                memoryview(v)[0] = 1
            with self.assertRaises((TypeError, BufferError)):
                (ctypes.c_char * 8).from_buffer(v)
            self.assertTrue(get_buffer(v, PyBUF_SIMPLE)[3])
        with c.open(name, write=True) as w:
            m = memoryview(w)
            self.assertFalse(m.readonly)
            m[0] = ord("A")
            self.assertFalse(get_buffer(w, PyBUF_WRITABLE)[3])
            arr = (ctypes.c_char * 8).from_buffer(w)
            arr[1] = b"B"
            del arr
            m.release()
            r = w.toreadonly()
            self.assertTrue(r.readonly and memoryview(r).readonly)
            with self.assertRaisesRegex(TypeError, "cannot modify read-only memory"):
                r[0] = 1
            w[2] = ord("C")
            self.assertEqual(r.tobytes(), b"ABCdefgh")
            r.release()

    def test_what_each_request_gets(self):
        name = self.segment(16, data=bytes(range(16)))
        c = self.connect()
        with c.open(name) as v:
            base = get_buffer(v, PyBUF_SIMPLE)[0]
            self.assertEqual(get_buffer(v, PyBUF_SIMPLE), (base, 16, 1, True, None, None, None))
            self.assertEqual(get_buffer(v, PyBUF_ND), (base, 16, 1, True, None, (16,), None))
            self.assertEqual(get_buffer(v, PyBUF_FULL_RO), (base, 16, 1, True, "B", (16,), (1,)))
            for flags in (PyBUF_C_CONTIGUOUS, PyBUF_F_CONTIGUOUS, PyBUF_ANY_CONTIGUOUS):
                self.assertEqual(get_buffer(v, flags)[:3], (base, 16, 1))

            # Negative strides go to consumers that accept strides, and only to them.
            r = v[::-1]
            self.assertFalse(r.contiguous)
            self.assertEqual(r.strides, (-1,))
            self.assertEqual(get_buffer(r, PyBUF_FULL_RO), (base + 15, 16, 1, True, "B", (16,), (-1,)))
            self.assertEqual(get_buffer(r, PyBUF_STRIDES)[6], (-1,))
            for flags in (PyBUF_SIMPLE, PyBUF_ND, PyBUF_C_CONTIGUOUS, PyBUF_F_CONTIGUOUS,
                          PyBUF_ANY_CONTIGUOUS, PyBUF_FORMAT):
                with self.assertRaisesRegex(BufferError, "not contiguous"):
                    get_buffer(r, flags)
            with self.assertRaises(BufferError):
                hashlib.sha256(r)  # wants a simple buffer
            self.assertEqual(hashlib.sha256(v).digest(), hashlib.sha256(bytes(range(16))).digest())
            m = memoryview(r)
            self.assertEqual((m.strides, m.c_contiguous), ((-1,), False))
            self.assertEqual(m.tobytes(), bytes(range(15, -1, -1)))
            self.assertEqual(bytes(r), bytes(range(15, -1, -1)))
            self.assertEqual(m[::-1].tobytes(), bytes(range(16)))  # no request: memoryview slicing
            m.release()
            e = v[::2]
            self.assertEqual((e.strides, e.shape), ((2,), (8,)))
            self.assertEqual(memoryview(e).tolist(), list(range(0, 16, 2)))
            one = v[3::100]  # one item: contiguous whatever the stride
            self.assertTrue(one.contiguous)
            self.assertEqual(get_buffer(one, PyBUF_SIMPLE)[:2], (base + 3, 1))
            empty = v[5:5]
            self.assertEqual((len(empty), bytes(empty), memoryview(empty).tolist()), (0, b"", []))
            for x in (r, e, one, empty):
                x.release()
            self.assertEqual(get_buffer(v, PyBUF_SIMPLE)[0], base)

    def test_cast_formats(self):
        values = [1, -2, 70000, -(2**31)]
        raw = struct.pack("=4i", *values)
        name = self.segment(16, data=raw)
        c = self.connect()
        with c.open(name, write=True) as w:
            i = w.cast("i")
            self.assertEqual((i.format, i.itemsize, len(i), i.nbytes), ("i", 4, 4, 16))
            m = memoryview(i)
            self.assertEqual((m.format, m.itemsize, m.shape, m.strides), ("i", 4, (4,), (4,)))
            self.assertEqual(m.tolist(), values)
            self.assertEqual(i.tolist(), values)
            self.assertEqual(list(i), values)
            self.assertEqual(i[-1], -(2**31))
            self.assertEqual(get_buffer(i, PyBUF_SIMPLE)[1:5], (16, 4, False, None))
            i[1] = 12345
            m[2] = -7
            self.assertEqual(w.cast("i").tolist(), [1, 12345, -7, -(2**31)])
            self.assertEqual(i[::-1].tolist(), [-(2**31), -7, 12345, 1])
            self.assertEqual(memoryview(i[::-2]).tolist(), [-(2**31), 12345])
            m.release()
            self.assertEqual(i.cast("B").tobytes(), struct.pack("=4i", 1, 12345, -7, -(2**31)))
            self.assertEqual(w.cast("@I").format, "@I")  # as memoryview: the '@' is kept
            for bad in ("x", "ii", "<i", "Z", ""):
                with self.assertRaisesRegex(ValueError, "native single character"):
                    w.cast(bad)
            with self.assertRaisesRegex(TypeError, "non-byte"):
                i.cast("h")
            with self.assertRaisesRegex(TypeError, "C-contiguous"):
                w[::2].cast("h")
            with self.assertRaisesRegex(TypeError, "multiple"):
                w[:6].cast("i")
            with self.assertRaises(TypeError):
                w.cast(b"i")
            i.release()

    def test_tolist_every_format(self):
        raw = bytes(range(1, 17)) + struct.pack("=dd", 1.5, -0.25)
        name = self.segment(len(raw), data=raw)
        c = self.connect()
        with c.open(name) as v:
            ref = memoryview(raw)
            for f in "bBhHiIlLqQnNfd?c":
                with self.subTest(format=f):
                    size = struct.calcsize(f)
                    n = len(raw) // size * size
                    cv = v[:n].cast(f)
                    self.assertEqual(cv.tolist(), ref[:n].cast(f).tolist())
                    self.assertEqual(cv[0], ref[:n].cast(f)[0])
                    self.assertEqual(cv, ref[:n].cast(f))
                    self.assertEqual(memoryview(cv).tolist(), ref[:n].cast(f).tolist())
                    cv.release()

    def test_item_and_slice_assignment(self):
        name = self.segment(8)
        c = self.connect()
        with c.open(name, write=True) as w:
            w[:] = b"abcdefgh"
            w[0] = ord("A")
            w[-1] = ord("H")
            w[1:3] = b"BC"
            w[3:7:2] = memoryview(b"DF")
            self.assertEqual(w.tobytes(), b"ABCDeFgH")
            w[::-1] = b"12345678"
            self.assertEqual(w.tobytes(), b"87654321")
            w[1:] = w[:-1]  # overlapping
            self.assertEqual(w.tobytes(), b"88765432")
            w[::2] = memoryview(b"abcdefgh")[::2]  # strided source
            self.assertEqual(w.tobytes(), b"a8c6e4g2")
            with self.assertRaisesRegex(ValueError, "invalid value"):
                w[0] = 256
            with self.assertRaisesRegex(ValueError, "invalid value"):
                w[0] = -1
            with self.assertRaisesRegex(TypeError, "invalid type"):
                w[0] = "x"
            with self.assertRaises(IndexError):
                w[8] = 0
            with self.assertRaises(ValueError):
                w[0:2] = b"abc"
            with self.assertRaises(ValueError):
                w[0:2] = memoryview(b"ab").cast("b")  # other format
            with self.assertRaises(TypeError):
                del w[0]
            with self.assertRaises(TypeError):
                w["a"] = 1
            q = w.cast("d")
            q[0] = 2.5
            self.assertEqual(q[0], 2.5)
            f = w.cast("f")
            f[1] = 0.5
            self.assertEqual(f[1], 0.5)
            f[0] = 1e300  # out of float's range: inf, as memoryview stores it
            self.assertEqual(f[0], float("inf"))
            with self.assertRaisesRegex(ValueError, "invalid value"):
                q[0] = 10**400
            b = w.cast("?")
            b[0] = []
            b[1] = "yes"
            self.assertEqual(b.tolist()[:2], [False, True])
            ch = w.cast("c")
            ch[2] = b"z"
            self.assertEqual(ch[2], b"z")
            with self.assertRaises(ValueError):
                ch[2] = b"zz"
            s = w.cast("b")
            s[0] = -128
            self.assertEqual(s[0], -128)
            with self.assertRaises(ValueError):
                s[0] = 128
            for x in (q, f, b, ch, s):
                x.release()

    def test_indexing_len_eq_hex(self):
        data = bytes(range(10, 30))
        name = self.segment(len(data), data=data)
        c = self.connect()
        with c.open(name) as v:
            self.assertEqual(len(v), 20)
            self.assertEqual([v[i] for i in range(-20, 20)], list(data) * 2)
            for i in (20, -21, 2**70):
                with self.assertRaises(IndexError):
                    v[i]
            for sl in (slice(None), slice(3, 7), slice(None, None, -1), slice(-3, None),
                       slice(-2**70, 2**70), slice(2**70, -2**70, -1), slice(-2**70, None, -1),
                       slice(None, -2**70, -1), slice(5, 1, -2), slice(1, 5, -1),
                       slice(None, None, 7), slice(19, -21, -3)):
                with self.subTest(slice=sl):
                    s = v[sl]
                    self.assertEqual(s.tobytes(), data[sl])
                    self.assertEqual(len(s), len(data[sl]))
                    s.release()
            with self.assertRaises(ValueError):
                v[::0]
            with self.assertRaises(TypeError):
                v[1, 2]
            self.assertEqual(list(v), list(data))
            self.assertTrue(v == data and v == bytearray(data) and v == memoryview(data))
            self.assertTrue(v != data[::-1])
            self.assertTrue(v[::-1] == data[::-1])
            self.assertEqual(v, v[:])
            self.assertNotEqual(v, v[1:])
            self.assertFalse(v == "not a buffer")
            self.assertEqual(hash(v), hash(data))  # read-only bytes: as memoryview
            for args in ((), (":",), ("-", 2), (b" ", -3), (":", 100)):
                self.assertEqual(v.hex(*args), data.hex(*args))
                self.assertEqual(v[::-1].hex(*args), data[::-1].hex(*args))
            for bad in ("ab", "é", b"\xff"):
                with self.assertRaises(ValueError):
                    v.hex(bad)
            self.assertEqual(v.tobytes(order="C"), data)
            with self.assertRaises(ValueError):
                v.tobytes(order="X")
            self.assertRegex(repr(v), r"<shmview\.View of '.*': 20 items of 'B', read-only>")

    def test_slicing_costs_no_request(self):
        """With the daemon stopped, anything that asked it something would hang."""
        name = self.segment(52, data=b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        c = self.connect()
        v = c.open(name)
        m = memoryview(v)
        results = []

        def work():
            results.append(m[0:26].tobytes())
            results.append(m[::-1][:3].tobytes())
            s = v[26:][::-1]
            results.append(s.tobytes())
            ro = s.toreadonly()
            results.append(ro[::-1].cast("c")[0])
            for x in (ro, s):
                x.release()
            results.append(bytes(memoryview(v[:3])))

        os.kill(self.daemon.pid, signal.SIGSTOP)
        try:
            t = threading.Thread(target=work)
            t.start()
            t.join(10)
            alive = t.is_alive()
        finally:
            os.kill(self.daemon.pid, signal.SIGCONT)
        t.join()
        self.assertFalse(alive, "a slice waited on the daemon")
        self.assertEqual(results, [b"abcdefghijklmnopqrstuvwxyz", b"ZYX",
                                   b"ZYXWVUTSRQPONMLKJIHGFEDCBA", b"A", b"abc"])
        # The daemon saw one view, however many slices were made.
        self.assertEqual(c.stat(name).views_ro, 1)
        m.release()
        v.release()

    def test_weakref_and_gc(self):
        import weakref
        name = self.segment(4)
        c = self.connect()
        v = c.open(name)
        r = weakref.ref(v)
        self.assertIs(r(), v)
        del v
        self.assertIsNone(r())
        # Dropping the last reference released the view.
        self.assertEqual(c.stat(name).views_ro, 0)


@unittest.skipIf(numpy is None, "numpy is not installed (Debian: python3-numpy)")
class NumpyTest(DaemonTestCase):
    """Zero copy: numpy arrays over views in two processes see each other's writes."""

    READER = """
        import sys
        import numpy, shmview
        c = shmview.connect()
        v = c.open(sys.argv[1])                    # read-only
        a = numpy.frombuffer(v, dtype=numpy.uint32)
        assert not a.flags.writeable
        try:
            a[0] = 1
            print("wrote to a read-only array")
        except ValueError:
            pass
        print("ready", flush=True)
        for line in sys.stdin:                     # the same array every time: no reopen
            i = int(line)
            print(int(a.sum()), int(a[i]), flush=True)
    """

    def test_numpy_writer_and_reader_processes(self):
        n = 1 << 18  # 1 MiB of uint32
        name = self.segment(4 * n, mode=0o644)
        c = self.connect()
        w = c.open(name, write=True)
        a = numpy.frombuffer(w, dtype=numpy.uint32)
        self.assertTrue(a.flags.writeable)
        # The array's memory is the View's own: no copy on this side either.
        self.assertEqual(a.__array_interface__["data"][0], get_buffer(w, PyBUF_SIMPLE)[0])

        reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(self.READER), name],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(reader.stdout.readline(), "ready\n")

            def ask(i):
                reader.stdin.write(f"{i}\n")
                reader.stdin.flush()
                return tuple(map(int, reader.stdout.readline().split()))

            self.assertEqual(ask(5), (0, 0))
            a[:] = numpy.arange(n, dtype=numpy.uint32)
            self.assertEqual(ask(5), (n * (n - 1) // 2, 5))
            a[::2] = 0
            self.assertEqual(ask(7), (sum(range(1, n, 2)), 7))
            # Through a plain memoryview too.
            m = memoryview(w).cast("I")
            m[7] = 4242
            self.assertEqual(ask(7)[1], 4242)
            m.release()
            a[:] = 1
            self.assertEqual(ask(n - 1), (n, 1))
            reader.stdin.close()
            self.assertEqual(reader.stdout.read(), "")
            self.assertEqual(reader.wait(30), 0)
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.wait()
            reader.stdin.close()
            reader.stdout.close()
        with self.assertRaises(BufferError):
            w.release()  # the array still holds an export
        del a
        w.release()

    def test_numpy_formats_strides_and_lifetime(self):
        name = self.segment(64, data=struct.pack("=16I", *range(16)))
        c = self.connect()
        v = c.open(name)
        i = v.cast("I")
        arr = numpy.asarray(i)
        self.assertEqual((arr.dtype, arr.shape, arr.flags.writeable),
                         (numpy.dtype(numpy.uint32), (16,), False))
        self.assertEqual(arr.tolist(), list(range(16)))
        rev = numpy.asarray(i[::-1])
        self.assertEqual(rev.strides, (-4,))
        self.assertEqual(rev.tolist(), list(range(15, -1, -1)))
        with self.assertRaises(ValueError):
            rev[0] = 1
        i_rev = i[::-3]
        self.assertEqual(numpy.asarray(i_rev).tolist(), list(range(15, -1, -3)))
        self.assertEqual(numpy.frombuffer(v, dtype=numpy.uint8).size, 64)
        with self.assertRaises(BufferError):
            i.release()
        del arr
        i.release()
        i_rev.release()
        # The array alone keeps the mapping: drop every other reference.
        del v, i, i_rev
        c.close()
        gc.collect()
        self.assertEqual(rev.tolist(), list(range(15, -1, -1)))
        del rev


    def test_numpy_two_dimensions_no_copy(self):
        h, w = 3, 4
        values = [float(x) / 4 for x in range(h * w)]
        name = self.segment(4 * h * w, data=struct.pack(f"={h * w}f", *values))
        c = self.connect()
        with c.open(name, write=True) as v:
            f = v.cast("f", (h, w))
            arr = numpy.asarray(f)
            self.assertEqual((arr.dtype, arr.shape, arr.strides, arr.flags.writeable),
                             (numpy.dtype(numpy.float32), (h, w), (4 * w, 4), True))
            # At the segment's address: the View's memory itself, not a copy.
            self.assertEqual(arr.__array_interface__["data"][0], get_buffer(v, PyBUF_SIMPLE)[0])
            self.assertEqual(arr.tolist(), f.tolist())
            arr[2, 1] = 100.5
            self.assertEqual(f[2, 1], 100.5)
            f[0, 3] = -1.0
            self.assertEqual(arr[0, 3], -1.0)
            self.assertEqual(numpy.asarray(f[::-1]).tolist(), arr[::-1].tolist())
            del arr
            f.release()


class ErrorsTest(DaemonTestCase):
    """Every errno the library returns becomes the exception a Python user expects."""

    daemon_args = ("--max-views-per-client", "3", "--max-bytes", str(1 << 20))

    def assertOSError(self, cm, cls, err, name):
        e = cm.exception
        self.assertIs(type(e), cls)
        self.assertEqual(e.errno, err)
        self.assertEqual(e.filename, name)
        self.assertIn(repr(name), str(e))

    def test_enoent(self):
        c = self.connect()
        missing = self.name("missing")
        for call in (c.stat, c.unlink, c.seal, c.open, lambda n: c.open(n, write=True)):
            with self.assertRaises(FileNotFoundError) as cm:
                call(missing)
            self.assertOSError(cm, FileNotFoundError, errno.ENOENT, missing)
            # The daemon's own message (shmv_last_error_message()), not the generic sentence.
            self.assertEqual(cm.exception.strerror, f"no such segment: {missing}")

    def test_eexist(self):
        name = self.segment(10)
        c = self.connect()
        with self.assertRaises(FileExistsError) as cm:
            c.create(name, 10)
        self.assertOSError(cm, FileExistsError, errno.EEXIST, name)
        self.assertEqual(cm.exception.strerror, f"segment exists: {name}")

    def test_eperm_sealed(self):
        name = self.segment(10)
        c = self.connect()
        c.seal(name)
        with self.assertRaises(PermissionError) as cm:
            c.open(name, write=True)
        self.assertOSError(cm, PermissionError, errno.EPERM, name)
        self.assertEqual(cm.exception.strerror, f"cannot open a sealed segment writable: {name}")
        self.assertEqual(str(cm.exception),
                         f"[Errno 1] cannot open a sealed segment writable: {name}: '{name}'")

    def test_ebusy(self):
        name = self.segment(10)
        c = self.connect()
        with c.open(name, write=True):
            with self.assertRaises(OSError) as cm:
                c.seal(name)
        self.assertOSError(cm, OSError, errno.EBUSY, name)
        self.assertEqual(cm.exception.strerror, f"writable views are open: {name}")

    def test_einval_erange_eoverflow(self):
        c = self.connect()
        for bad in ("a/b", ".", "..", "tab\there", "x" * 256, ""):
            with self.subTest(name=bad):
                # The library's own message, not "invalid argument".
                with self.assertRaisesRegex(ValueError, r"^not a segment name \(1 to 255 bytes, "
                                            r"no '/', no control characters, not '\.' or "
                                            r"'\.\.'\): "):
                    c.create(bad, 10)
        # Refused by the daemon, which says what is wrong; bad names never leave the library.
        with self.assertRaisesRegex(ValueError, r"^size must be greater than 0: zero: 'zero'$"):
            c.create("zero", 0)
        with self.assertRaises(ValueError):
            c.create(self.name(), 10, mode=0o10000)
        with self.assertRaisesRegex(ValueError, "embedded null"):
            c.create("nul\0", 10)
        name = self.segment(100)
        for offset, length in ((101, 0), (0, 101), (50, 51), (101, None)):
            with self.subTest(offset=offset, length=length):
                with self.assertRaisesRegex(
                        ValueError, f"^range past the end of the segment: {name}: '{name}'$"):
                    c.open(name, offset, length)
        # A call refused before any request carries the library's message, never the message
        # of an earlier refusal.
        with self.assertRaisesRegex(ValueError, r"^not a segment name \(.*\): 'a/b'$"):
            c.create("a/b", 10)
        with self.assertRaisesRegex(ValueError, "offset \\+ length overflows"):
            c.open(name, 2**64 - 1, 2)
        # ERANGE comes from indexing, which raises IndexError as sequences must.
        with c.open(name) as v:
            with self.assertRaisesRegex(IndexError, "out of bounds"):
                v[100]
        # Arguments Python itself rejects.
        with self.assertRaisesRegex(ValueError, "negative"):
            c.create(self.name(), -1)
        with self.assertRaisesRegex(ValueError, "negative"):
            c.open(name, -1)
        with self.assertRaises(OverflowError):
            c.create(self.name(), 2**64)
        with self.assertRaises(OverflowError):
            c.create(self.name(), 1, mode=2**32)
        with self.assertRaises(TypeError):
            c.create(42, 1)
        with self.assertRaises(TypeError):
            c.create("x", 1.5)

    def test_enospc_emfile(self):
        c = self.connect()
        big = self.name("big")
        with self.assertRaises(OSError) as cm:
            c.create(big, 2 << 20)  # the daemon allows 1 MiB
        self.assertOSError(cm, OSError, errno.ENOSPC, big)
        # The daemon says which limit: the text of the exception is its message.
        self.assertEqual(cm.exception.strerror, "out of memory budget: max_bytes would be passed "
                         f"({2 << 20} bytes for {big})")
        self.assertIn("max_bytes would be passed", str(cm.exception))
        name = self.segment(10)
        views = [c.open(name) for _ in range(3)]
        with self.assertRaises(OSError) as cm:
            c.open(name)
        self.assertOSError(cm, OSError, errno.EMFILE, name)
        self.assertEqual(cm.exception.strerror, "too many views open (max_views_per_client 3)")
        for v in views:
            v.release()
        c.open(name).release()

    def test_create_open(self):
        c = self.connect()
        name = self.name()
        v = c.create_open(name, 5000, 0o640)
        self.assertFalse(v.readonly)
        self.assertEqual((v.nbytes, v.name), (5000, name))
        v[4990:] = b"0123456789"
        with c.open(name, 4990) as r:
            self.assertEqual(bytes(r), b"0123456789")
        self.assertEqual(c.stat(name).mode, 0o640)
        with self.assertRaises(FileExistsError):
            c.create_open(name, 10)
        v.release()
        c.unlink(name)

    def test_connection_refused_and_missing_socket(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "dead.sock")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)  # bound, never listening: connections are refused
            with self.assertRaises(ConnectionRefusedError) as cm:
                shmview.connect(path)
            s.close()
            self.assertOSError(cm, ConnectionRefusedError, errno.ECONNREFUSED, path)
            self.assertIsInstance(cm.exception, ConnectionError)
            self.assertEqual(cm.exception.strerror, "nobody is listening on %s (a daemon that "
                             "stopped left its socket?)" % path)
            # No socket file at all: FileNotFoundError, as docs/python.md says.
            gone = os.path.join(d, "none.sock")
            with self.assertRaises(FileNotFoundError) as cm:
                shmview.connect(gone)
            self.assertOSError(cm, FileNotFoundError, errno.ENOENT, gone)
            self.assertEqual(cm.exception.strerror, "no socket at %s (is shmviewd running?)" % gone)
            # Something else at the path, and a socket we may not use.
            with self.assertRaises(OSError) as cm:
                shmview.connect(d)
            self.assertOSError(cm, OSError, errno.ENOTSOCK, d)
            self.assertEqual(cm.exception.strerror, "%s is not a socket but a directory" % d)
            if os.getuid() == 0:
                private = os.path.join(d, "private.sock")
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
                    srv.bind(private)
                    srv.listen(1)
                    os.chmod(private, 0o600)
                    os.chmod(d, 0o755)
                    pid = os.fork()
                    if pid == 0:
                        code = 1
                        try:
                            os.setgroups([])
                            os.setresgid(65534, 65534, 65534)
                            os.setresuid(65534, 65534, 65534)
                            shmview.connect(private)
                        except PermissionError as e:
                            code = 0 if e.errno == errno.EACCES else 2
                        finally:
                            os._exit(code)
                    self.assertEqual(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), 0)
            with self.assertRaises(OSError) as cm:
                shmview.connect("/tmp/" + "x" * 200)
            self.assertEqual(cm.exception.errno, errno.ENAMETOOLONG)

    def fake_daemon(self, reply):
        """A socket whose one peer gets reply (bytes) after its first request, then EOF."""
        d = tempfile.mkdtemp(prefix="shmview-fake-")
        self.addCleanup(os.rmdir, d)
        path = os.path.join(d, "fake.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        self.addCleanup(os.unlink, path)
        srv.listen(1)

        def serve():
            conn, _ = srv.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(reply)
            srv.close()

        t = threading.Thread(target=serve)
        t.start()
        self.addCleanup(t.join)
        return path

    def test_protocol_error_and_reset_during_handshake(self):
        path = self.fake_daemon(b"\x03\x00\x00\x00\xff\xff\xff")  # not a Response
        with self.assertRaises(OSError) as cm:
            shmview.connect(path)
        self.assertOSError(cm, OSError, errno.EPROTO, path)
        self.assertEqual(cm.exception.strerror, "protocol error")
        path = self.fake_daemon(b"")  # hangs up without a word
        with self.assertRaises(ConnectionError) as cm:
            shmview.connect(path)
        self.assertIn(cm.exception.errno, (errno.ECONNRESET, errno.EPIPE))
        self.assertEqual(cm.exception.filename, path)
        self.assertEqual(cm.exception.strerror, "the daemon closed the connection")

    def test_connection_lost(self):
        d = Daemon()
        try:
            c = shmview.connect(d.socket)
            c.create("s", 10)
            v = c.open("s")
        finally:
            self.assertEqual(d.stop(), 0)
        # Each call connects again (a restarted daemon would answer: docs/systemd.md) and,
        # with none listening, fails at once.
        for call in (lambda: c.stat("s"), c.list):
            with self.assertRaises(ConnectionRefusedError) as cm:
                call()
            self.assertEqual(cm.exception.errno, errno.ECONNREFUSED)
        self.assertEqual(v.tobytes(), bytes(10))  # the view is ours
        v.release()
        c.close()

    def test_timeout(self):
        # A daemon that does not answer costs a call the client's timeout, then TimeoutError.
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "silent.sock")
            srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            srv.bind(path)
            srv.listen(4)  # never accepts: the hello goes unanswered
            old = os.environ.get("SHMVIEW_TIMEOUT_MS")
            os.environ["SHMVIEW_TIMEOUT_MS"] = "200"
            try:
                t0 = time.monotonic()
                with self.assertRaises(TimeoutError) as cm:
                    shmview.connect(path)
                took = time.monotonic() - t0
            finally:
                if old is None:
                    del os.environ["SHMVIEW_TIMEOUT_MS"]
                else:
                    os.environ["SHMVIEW_TIMEOUT_MS"] = old
                srv.close()
            self.assertOSError(cm, TimeoutError, errno.ETIMEDOUT, path)
            self.assertGreaterEqual(took, 0.19)
            self.assertLess(took, 3)
        d = Daemon()
        try:
            c = shmview.connect(d.socket)
            for bad in (0, -1, float("nan"), "1"):
                with self.assertRaises((ValueError, TypeError)):
                    c.set_timeout(bad)
            c.set_timeout(0.2)
            c.create("s", 10)
            os.kill(d.pid, signal.SIGSTOP)
            try:
                t0 = time.monotonic()
                with self.assertRaises(TimeoutError):
                    c.stat("s")
                took = time.monotonic() - t0
            finally:
                os.kill(d.pid, signal.SIGCONT)
            self.assertGreaterEqual(took, 0.19)
            self.assertLess(took, 3)
            c.set_timeout(None)
            self.assertEqual(c.stat("s").size, 10)  # connected again
            c.close()
            with self.assertRaises(ValueError):
                c.set_timeout(1)
        finally:
            self.assertEqual(d.stop(), 0)

    def test_buffer_and_closed_errors(self):
        name = self.segment(4)
        c = shmview.connect()
        v = c.open(name)
        m = memoryview(v)
        with self.assertRaises(BufferError):
            v.release()
        m.release()
        v.release()
        with self.assertRaises(ValueError):
            v.tolist()
        c.close()
        with self.assertRaisesRegex(ValueError, "closed"):
            c.open(name)


class NdimTest(DaemonTestCase):
    """memoryview.cast(format, shape): every result checked against memoryview's own for the
    same bytes."""

    def pair(self, data, write=False):
        """A View over a segment holding data, and a memoryview over the same bytes."""
        name = self.segment(len(data), data=data)
        v = self.connect().open(name, write=write)
        self.addCleanup(v.release)
        return v, memoryview(bytearray(data) if write else bytes(data))

    def same(self, v, m):
        for attr in ("format", "itemsize", "ndim", "shape", "strides", "suboffsets", "nbytes",
                     "readonly", "c_contiguous", "f_contiguous", "contiguous"):
            self.assertEqual(getattr(v, attr), getattr(m, attr), attr)
        self.assertEqual(len(v), len(m))
        self.assertEqual(v.tolist(), m.tolist())
        for order in (None, "C", "F", "A"):
            self.assertEqual(v.tobytes(order), m.tobytes(order), order)
        self.assertEqual(v.hex(), m.hex())
        self.assertEqual(v, m)
        mv = memoryview(v)
        self.assertEqual((mv.shape, mv.strides, mv.format, mv.tolist()),
                         (m.shape, m.strides, m.format, m.tolist()))
        mv.release()

    def test_casts_like_memoryview(self):
        data = bytes(range(48))
        v, m = self.pair(data)
        for fmt, shape in (("B", (48,)), ("B", (6, 8)), ("B", [2, 3, 8]), ("h", (4, 6)),
                           ("i", (2, 2, 3)), ("@f", (3, 4)), ("d", (6,)), ("c", (4, 12)),
                           ("q", (1, 6)), ("?", (48, 1)), ("B", (1,) * 10 + (48,))):
            with self.subTest(fmt=fmt, shape=shape):
                cv, cm = v.cast(fmt, shape), m.cast(fmt, shape)
                self.same(cv, cm)
                # Back to one dimension, and slices of the first dimension.
                self.same(cv.cast("B"), cm.cast("B"))
                for sl in (slice(None, None, -1), slice(1, None), slice(None, None, 2),
                           slice(0, 0)):
                    self.same(cv[sl], cm[sl])
        # Items by one index per dimension, negative ones too.
        cv, cm = v.cast("h", (4, 6)), m.cast("h", (4, 6))
        for i in range(-4, 4):
            for j in range(-6, 6):
                self.assertEqual(cv[i, j], cm[i, j])
        self.assertEqual(repr(cv)[:-1].split(": ")[1], "shape (4, 6) of 'h', read-only")

    def test_zero_dimensions_like_memoryview(self):
        v, m = self.pair(struct.pack("=d", 2.5), write=True)
        z, zm = v.cast("d", ()), m.cast("d", [])
        for attr in ("format", "itemsize", "ndim", "shape", "strides", "nbytes", "c_contiguous",
                     "f_contiguous", "contiguous"):
            self.assertEqual(getattr(z, attr), getattr(zm, attr), attr)
        self.assertEqual((z.tolist(), z[()], z.tobytes(), z.hex()),
                         (zm.tolist(), zm[()], zm.tobytes(), zm.hex()))
        self.assertIs(z[...], z)
        self.assertEqual(z, zm)
        z[()] = -1.5
        zm[()] = -1.5
        self.assertEqual(v.tobytes(), m.tobytes())
        z[...] = 4.0
        zm[...] = 4.0
        self.assertEqual(v.tobytes(), m.tobytes())
        mv = memoryview(z)
        self.assertEqual((mv.ndim, mv.shape, mv.tolist()), (0, (), 4.0))
        mv.release()
        self.assertEqual(z.cast("B").tolist(), zm.cast("B").tolist())
        self.assertEqual(z.cast("B", (8,)).tolist(), zm.cast("B", (8,)).tolist())
        self.assertEqual(len(z), len(zm))
        for fn in (iter, lambda x: x[0], lambda x: x[0:1], lambda x: x[0, ],
                   lambda x: x.__setitem__(0, 1.0), lambda x: x.cast("B", (2, 4)),
                   lambda x: v.cast("B", ()), lambda x: x.__setitem__((), "x")):
            with self.subTest(fn=fn):
                errors = []
                for x in (z, zm):
                    with self.assertRaises(Exception) as cm:
                        fn(x)
                    errors.append(type(cm.exception))
                self.assertEqual(errors[0], errors[1])
        z.release()

    def test_refusals_like_memoryview(self):
        v, m = self.pair(bytes(range(24)), write=True)
        two_v, two_m = v.cast("B", (4, 6)), m.cast("B", (4, 6))

        def both(fn, x, y):
            """fn on the View and on the memoryview: the same exception type."""
            errors = []
            for z in (x, y):
                try:
                    fn(z)
                    errors.append(None)
                except Exception as e:
                    errors.append(type(e))
            self.assertIsNotNone(errors[1])
            self.assertEqual(errors[0], errors[1])

        for args in ((("B", (5, 5)),), (("B", (0, 24)),), (("B", (24, -1)),),
                     (("B", (2.0, 12)),), (("B", {2, 12}),), (("B", (1,) * 65),),
                     (("h", (12, 2)),), (("i", (2, 2)),), (("x", (24,)),),
                     (("B", (6, 4)), ("i", (2, 3)))):
            def cast_all(x, args=args):
                for a in args:
                    x = x.cast(*a)
            with self.subTest(args=args):
                both(cast_all, v, m)
        # A two-dimensional view: ND -> ND, indexing with too few or too many indices,
        # multi-dimensional slices, sub-views, slice assignment, out of bounds.
        for i, fn in enumerate((
                lambda x: x.cast("B", (6, 4)), lambda x: x[0], lambda x: x[0, ],
                lambda x: x[0, 0, 0], lambda x: x[0:1, 0:1], lambda x: x[...],
                lambda x: x[4, 0], lambda x: x[0, -7], lambda x: x[::-1].cast("B"),
                lambda x: x.__setitem__((0, 6), 1), lambda x: x.__setitem__(0, 1),
                lambda x: x.__setitem__(slice(0, 1), b"abcdef"),
                lambda x: x.__setitem__((slice(0, 1), slice(0, 1)), b"a"),
                lambda x: x.__setitem__((0, 0), 256), lambda x: x[0:0].cast("B"), iter)):
            with self.subTest(case=i):
                both(fn, two_v, two_m)
        # Writes by index land where memoryview's would.
        two_v[2, 3] = 77
        two_m[2, 3] = 77
        two_v[-1, -1] = 1
        two_m[-1, -1] = 1
        self.assertEqual(v.tobytes(), m.tobytes())
        # A read-only byte view hashes as its bytes, whatever its shape (as memoryview).
        self.assertEqual(hash(v.toreadonly().cast("B", (2, 12))), hash(m.tobytes()))
        self.assertEqual(hash(memoryview(m.tobytes()).cast("B", (2, 12))), hash(m.tobytes()))
        two_v.release()

    def test_nan_and_formats(self):
        nan = struct.pack("=dd", float("nan"), 1.0)
        v, m = self.pair(nan)
        d = v.cast("d")
        # As memoryview: no identity shortcut, a NaN is unequal to itself.
        self.assertFalse(m.cast("d") == m.cast("d"))
        self.assertFalse(d == d)
        self.assertTrue(d != d)
        self.assertEqual(v.cast("@B").format, m.cast("@B").format)
        p, pm = v.cast("P"), m.cast("P")
        self.assertEqual((p.format, p.itemsize, p.tolist()), (pm.format, pm.itemsize, pm.tolist()))
        e, em = v[3:3:2], m[3:3:2]
        self.assertEqual((e.c_contiguous, e.f_contiguous, e.contiguous),
                         (em.c_contiguous, em.f_contiguous, em.contiguous))
        self.assertIsNone(v.obj)
        self.assertEqual(v.suboffsets, ())


class ReentryTest(DaemonTestCase):
    """Python code run in the middle of an operation (an index's __index__, a value's
    __float__ or __bool__, a name's __fspath__) releases the View or closes the Client or
    Watch: memoryview's ValueError, and nothing written, never a crash."""

    SIZE = 64

    def setUp(self):
        super().setUp()
        self.name_ = self.segment(self.SIZE, data=b"\xff" * self.SIZE)
        self.c = self.connect()
        self.reader = self.c.open(self.name_)  # a mapping of its own, to see what was written
        self.addCleanup(self.reader.release)

    def fresh(self, *cast):
        self.v = self.c.open(self.name_, write=True)
        self.addCleanup(self.v.release)
        return self.v.cast(*cast) if cast else self.v

    def hooks(self, victim):
        """Objects whose conversions run victim.release() (or close())."""
        stop = victim.close if hasattr(victim, "close") else victim.release

        class I:
            def __index__(self):
                stop()
                return 4

        class F:
            def __float__(self):
                stop()
                return 4.25

        class B:
            def __bool__(self):
                stop()
                return True

        class P:
            def __init__(self, path):
                self.path = path

            def __fspath__(self):
                stop()
                return self.path
        return I, F, B, P

    def assert_released(self, fn):
        with self.assertRaisesRegex(ValueError, "operation forbidden on released"):
            fn()
        self.assertEqual(self.reader.tobytes(), b"\xff" * self.SIZE)

    def test_index_and_slice_keys(self):
        for cast, key in (((), lambda I: I()), (("B", (16, 4)), lambda I: (I(), 0)),
                          (("B", (4, 16)), lambda I: (0, I()))):
            with self.subTest(cast=cast):
                v = self.fresh(*cast)
                self.assert_released(lambda: v[key(self.hooks(v)[0])])
                v = self.fresh(*cast)

                def store():
                    v[key(self.hooks(v)[0])] = 42
                self.assert_released(store)
        for i, key in enumerate((lambda I: slice(I(), 8), lambda I: slice(None, I()),
                                 lambda I: slice(0, 8, I()))):
            with self.subTest(slice=i):
                v = self.fresh()

                def store():
                    v[key(self.hooks(v)[0])] = bytes(len(range(self.SIZE)[key(lambda: 4)]))
                self.assert_released(store)
                # Read, a slice is made as memoryview's is: over memory held meanwhile.
                v = self.fresh()
                s = v[key(self.hooks(v)[0])]
                self.assertTrue(v.released)
                self.assertEqual(set(s.tolist()), {255})
                s.release()

    def test_stored_values(self):
        for fmt in "bhilqnBHILQNfd?":
            with self.subTest(fmt=fmt):
                v = self.fresh(fmt)
                I, F, B, _ = self.hooks(v)
                value = F() if fmt in "fd" else B() if fmt == "?" else I()

                def store():
                    v[0] = value
                self.assert_released(store)
        v = self.fresh("B", (4, 16))
        I = self.hooks(v)[0]

        def store():
            v[1, 1] = I()
        self.assert_released(store)

    def test_method_arguments(self):
        v = self.fresh()
        I = self.hooks(v)[0]
        self.assert_released(lambda: v.hex(":", I()))

    def test_closing_the_client_leaves_views_working(self):
        v = self.fresh()
        I = self.hooks(self.c)[0]
        v[I()] = 7  # views outlive their client
        self.assertTrue(self.c.closed)
        self.assertEqual(self.reader[4], 7)

    def test_client_arguments(self):
        name = self.name_
        calls = (("create", lambda P, I: ((P("new-" + name), 16), {})),
                 ("create", lambda P, I: (("new-" + name, I()), {})),
                 ("open", lambda P, I: ((P(name),), {})),
                 ("open", lambda P, I: ((name, I()), {})),
                 ("open", lambda P, I: ((name, 0, I()), {})),
                 ("stat", lambda P, I: ((P(name),), {})),
                 ("views", lambda P, I: ((P(name),), {})),
                 ("seal", lambda P, I: ((P(name),), {})),
                 ("unlink", lambda P, I: ((P(name),), {})))
        for method, make in calls:
            with self.subTest(method=method):
                c = self.connect()
                I, F, B, P = self.hooks(c)
                args, kw = make(P, I)
                with self.assertRaisesRegex(ValueError, "closed"):
                    getattr(c, method)(*args, **kw)
        c = self.connect()
        F = self.hooks(c)[1]
        with self.assertRaisesRegex(ValueError, "closed"):
            c.set_timeout(F())
        self.assertEqual(self.c.stat(name).size, self.SIZE)  # nothing was done

    def test_watch_timeout(self):
        w = self.c.watch()
        F = self.hooks(w)[1]
        with self.assertRaisesRegex(ValueError, "closed"):
            w.next(F())


class ThreadsTest(DaemonTestCase):
    """One Client shared by threads; the GIL let go while the daemon is waited on."""

    def test_threads_share_one_client(self):
        c = self.connect()
        errors = []
        nthreads, rounds = 8, 40

        def worker(k):
            try:
                for i in range(rounds):
                    name = f"thr-{os.getpid()}-{k}-{i}"
                    payload = bytes([k, i]) * 2048
                    c.create(name, len(payload))
                    with c.open(name, write=True) as w:
                        memoryview(w)[:] = payload
                    with c.open(name, 1, 100) as v:
                        assert v.tobytes() == payload[1:101], name
                    assert c.stat(name).size == len(payload)
                    assert name in [s.name for s in c.list()]
                    c.unlink(name)
            except Exception:
                errors.append(traceback.format_exc())

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(errors, "\n".join(errors))
        self.assertFalse([s for s in c.list() if s.name.startswith("thr-")])

    def test_threads_see_their_own_daemon_messages(self):
        """The daemon's message is the calling thread's (libshmview keeps it per thread), so
        threads sharing a Client never get each other's in their exceptions."""
        c = self.connect()
        existing = self.segment(10)
        errors = []
        barrier = threading.Barrier(4)

        def worker(k):
            missing = self.name(f"missing{k}")
            try:
                for _ in range(100):
                    barrier.wait(30)
                    if k % 2:
                        try:
                            c.create(existing, 10)
                        except FileExistsError as e:
                            assert e.strerror == f"segment exists: {existing}", e.strerror
                    else:
                        try:
                            c.stat(missing)
                        except FileNotFoundError as e:
                            assert e.strerror == f"no such segment: {missing}", e.strerror
            except Exception:
                barrier.abort()
                errors.append(traceback.format_exc())

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertFalse(errors, "\n".join(errors))

    def test_views_shared_between_threads(self):
        name = self.segment(1 << 16)
        c = self.connect()
        w = c.open(name, write=True)
        u = w.cast("I")
        errors = []

        def worker(k):
            try:
                mine = u[k::4]  # each thread its own items, its own handle
                for i in range(len(mine)):
                    mine[i] = k * 1000000 + i
                mine.release()
                for _ in range(50):
                    c.open(name).release()
            except Exception:
                errors.append(traceback.format_exc())

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertFalse(errors, "\n".join(errors))
        got = u.tolist()
        self.assertEqual(got, [(j % 4) * 1000000 + j // 4 for j in range(len(got))])
        u.release()
        w.release()

    def test_gil_released_while_waiting(self):
        name = self.segment(10)
        c = self.connect()
        result = []
        # Safety net: should the GIL be held during the call, nothing here could run to
        # resume the daemon, so a separate process does it after a while.
        rescue = subprocess.Popen(["sh", "-c", f"sleep 8; kill -CONT {self.daemon.pid}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)
        self.addCleanup(rescue.wait)
        self.addCleanup(os.killpg, rescue.pid, signal.SIGKILL)
        os.kill(self.daemon.pid, signal.SIGSTOP)
        start = time.monotonic()
        t = threading.Thread(target=lambda: result.append(c.stat(name).size))
        t.start()
        # This thread keeps running Python while the other waits on the stopped daemon.
        spins = 0
        while time.monotonic() - start < 0.3:
            spins += 1
        self.assertFalse(result)
        # close() now only marks the Client; the call in flight still completes.
        c.close()
        with self.assertRaisesRegex(ValueError, "closed"):
            c.stat(name)
        elapsed = time.monotonic() - start
        os.kill(self.daemon.pid, signal.SIGCONT)
        t.join(10)
        self.assertLess(elapsed, 5, "the main thread was blocked: GIL held during a request")
        self.assertGreater(spins, 1000)
        self.assertEqual(result, [10])
        self.assertTrue(c.closed)

    def test_gil_released_with_prefault_and_huge_pages(self):
        name = self.segment(1 << 20, data=b"prefaulted")
        c = self.connect()
        created = self.name("huge")
        self.addCleanup(self.unlink_quietly, created)
        for call in (lambda: c.open(name, prefault=True),
                     lambda: c.create(created, 1 << 20, huge_pages=True)):
            result = []
            rescue = subprocess.Popen(["sh", "-c", f"sleep 8; kill -CONT {self.daemon.pid}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
            try:
                os.kill(self.daemon.pid, signal.SIGSTOP)
                start = time.monotonic()
                t = threading.Thread(target=lambda: result.append(call()))
                t.start()
                spins = 0
                while time.monotonic() - start < 0.3:
                    spins += 1
                self.assertFalse(result)
                elapsed = time.monotonic() - start
                os.kill(self.daemon.pid, signal.SIGCONT)
                t.join(10)
            finally:
                os.kill(self.daemon.pid, signal.SIGCONT)
                os.killpg(rescue.pid, signal.SIGKILL)
                rescue.wait()
            self.assertLess(elapsed, 5, "the main thread was blocked: GIL held during a request")
            self.assertGreater(spins, 1000)
            self.assertEqual(len(result), 1)
            if isinstance(result[0], shmview.View):
                self.assertEqual(result[0][:10].tobytes(), b"prefaulted")
                result[0].release()
        self.assertEqual(c.stat(created).size, 1 << 20)


class Undecidable:
    """Neither true nor false: what a flag taken by truthiness ("p") must refuse."""

    def __bool__(self):
        raise TypeError("neither true nor false")


def shmem_huge_pages_allowed():
    """Whether the system lets shared memory that asks for huge pages have them, as the
    daemon reads it (docs/performance.md). The tests never change the setting."""
    try:
        with open("/sys/kernel/mm/transparent_hugepage/shmem_enabled") as f:
            setting = f.read()
    except OSError:
        return False
    return any(f"[{s}]" in setting for s in ("advise", "within_size", "always", "force"))


class FlagsTest(DaemonTestCase):
    """The performance opt-ins: open(prefault=True) and create(huge_pages=True)."""

    daemon_log = True
    SIZE = 8 << 20  # large and untouched: a lazily mapped view of it is not resident
    # A view that reaches the segment's last page maps its doorbell page too, in the same
    # mapping, after the segment's pages (docs/views.md, "The change doorbell").
    BELL = mmap.PAGESIZE

    def test_prefault_maps_every_page_at_open(self):
        name = self.segment(self.SIZE)
        c = self.connect()
        # Rss counts the pages mapped into this process's page tables. (mincore() would not
        # tell: it reports the segment's pages in memory, whichever process touched them.)
        for write in (False, True):
            with self.subTest(write=write):
                with c.open(name, write=write) as lazy:
                    m = view_mapping(lazy)
                    self.assertEqual(m["end"] - m["start"], self.SIZE + self.BELL)
                    self.assertEqual(m["Rss"], 0)
                    lazy[0]  # one fault maps a few pages, not the view
                    self.assertGreater(view_mapping(lazy)["Rss"], 0)
                    self.assertLess(view_mapping(lazy)["Rss"], self.SIZE // 2)
                    self.assertEqual(len(lazy.tobytes()), self.SIZE)  # reading maps the rest
                    # (and the kernel's fault-around may map the doorbell page with the last)
                    self.assertIn(view_mapping(lazy)["Rss"], (self.SIZE, self.SIZE + self.BELL))
                with c.open(name, write=write, prefault=True) as v:
                    m = view_mapping(v)
                    self.assertEqual(m["end"] - m["start"], self.SIZE + self.BELL)
                    self.assertEqual(m["Rss"], self.SIZE + self.BELL)  # before any access
                    self.assertEqual(v.readonly, not write)
        # A range that is not page-aligned: every page of its mapping, and only those.
        offset, length = 3 * 4096 + 100, (1 << 20) + 5
        with c.open(name, offset, length, prefault=True) as v:
            m = view_mapping(v)
            self.assertEqual(len(v), length)
            self.assertGreaterEqual(m["end"] - m["start"], length)
            self.assertLess(m["end"] - m["start"], length + 2 * 4096)
            self.assertEqual(m["Rss"], m["end"] - m["start"])
        # An empty view maps nothing, prefaulted or not.
        with c.open(name, self.SIZE, 0, prefault=True) as v:
            self.assertEqual((len(v), v.tobytes()), (0, b""))

    def test_prefault_views_share_the_memory(self):
        name = self.segment(1 << 20)
        c = self.connect()
        with c.open(name, write=True, prefault=True) as w, c.open(name, prefault=True) as r:
            self.assertEqual(r.tobytes(), bytes(1 << 20))
            memoryview(w)[4096:4101] = b"hello"
            self.assertEqual(r[4096:4101].tobytes(), b"hello")
            with self.assertRaisesRegex(TypeError, "cannot modify read-only memory"):
                r[0] = 1
            st = c.stat(name)
            self.assertEqual((st.views_ro, st.views_rw), (1, 1))
        with c.open(name, 4096, 5, prefault=True) as v:
            self.assertEqual(bytes(v), b"hello")

    def test_prefault_argument(self):
        name = self.segment(1 << 20)
        c = self.connect()
        with self.assertRaises(TypeError):
            c.open(name, 0, None, False, True)  # keyword-only
        # Taken by truthiness, as write= is.
        for flag, resident in ((True, True), (1, True), ("yes", True), (False, False),
                               (0, False), (None, False), ("", False)):
            with self.subTest(prefault=flag):
                with c.open(name, prefault=flag) as v:
                    self.assertEqual(view_mapping(v)["Rss"],
                                     (1 << 20) + self.BELL if resident else 0)
        for kw in ("write", "prefault"):
            with self.assertRaisesRegex(TypeError, "neither true nor false"):
                c.open(name, **{kw: Undecidable()})
        st = c.stat(name)
        self.assertEqual((st.views_ro, st.views_rw), (0, 0))  # nothing opened on the way
        with self.assertRaisesRegex(TypeError, "unexpected keyword|invalid keyword"):
            c.open(name, populate=True)
        c.close()
        with self.assertRaisesRegex(ValueError, "closed"):
            c.open(name, prefault=True)

    def test_huge_pages(self):
        # The only test of this class that asks for huge pages for 2 MiB or more: the daemon
        # says once per run when the system gives it none.
        said = "huge pages asked for"
        allowed = shmem_huge_pages_allowed()
        c = self.connect()
        self.segment(self.SIZE)  # without the flag the daemon has nothing to say
        self.assertNotIn(said, self.daemon.log_text())
        name = self.name("huge")
        c.create(name, self.SIZE, mode=0o640, huge_pages=True)
        self.addCleanup(self.unlink_quietly, name)
        st = c.stat(name)
        self.assertEqual((st.size, st.mode, st.sealed), (self.SIZE, 0o640, False))
        pattern = bytes(range(256)) * (self.SIZE // 256)
        with c.open(name, write=True, prefault=True) as w:
            memoryview(w)[:] = pattern
            self.assertEqual(view_mapping(w)["Rss"], self.SIZE + self.BELL)
        with c.open(name) as v:
            self.assertEqual(hashlib.sha256(v).digest(), hashlib.sha256(pattern).digest())
        with c.open(name, self.SIZE - 300, 300) as v:
            self.assertEqual(v.tobytes(), pattern[-300:])
        if allowed:
            # The daemon asked for huge pages and got them: a prefaulted view maps them
            # with 2 MiB page-table entries.
            self.assertNotIn(said, self.daemon.log_text())
            with c.open(name, prefault=True) as v:
                m = view_mapping(v)
                self.assertGreater(m.get("ShmemPmdMapped", 0) + m.get("FilePmdMapped", 0), 0,
                                   m)
        else:
            # shmem_enabled is never (Debian's default): normal pages, and the daemon says so,
            # which it does only for a segment created with the flag.
            self.assertEqual(self.daemon.log_text().count(said), 1)
        # Below 2 MiB the flag changes nothing, and is fine.
        small = self.name("huge-small")
        c.create(small, 5, huge_pages=True)
        self.addCleanup(self.unlink_quietly, small)
        with c.open(small, write=True) as w:
            w[:] = b"small"
        with c.open(small) as v:
            self.assertEqual(bytes(v), b"small")
        # Seal and unlink as for any segment.
        c.seal(name)
        self.assertTrue(c.stat(name).sealed)
        c.unlink(name)
        with self.assertRaises(FileNotFoundError):
            c.stat(name)

    def test_huge_pages_argument(self):
        c = self.connect()
        name = self.name("huge-arg")
        self.addCleanup(self.unlink_quietly, name)
        with self.assertRaises(TypeError):
            c.create(name, 10, 0o600, True)  # keyword-only
        with self.assertRaisesRegex(TypeError, "neither true nor false"):
            c.create(name, 10, huge_pages=Undecidable())
        with self.assertRaises(FileNotFoundError):
            c.stat(name)  # nothing was created on the way
        # Truthiness, as for open(write=...); errors as without the flag.
        c.create(name, 10, huge_pages=1)
        with self.assertRaises(FileExistsError):
            c.create(name, 10, huge_pages=True)
        c.unlink(name)
        c.create(name, 10, huge_pages=[])
        self.assertEqual(c.stat(name).size, 10)
        with self.assertRaisesRegex(ValueError, "size must be greater than 0"):
            c.create(self.name(), 0, huge_pages=True)
        with self.assertRaisesRegex(ValueError, "not a segment name"):
            c.create("a/b", 10, huge_pages=True)


class PermissionsTest(DaemonTestCase):
    """Another uid, as the daemon checks mode bits against the peer's credentials."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to switch to uid 65534")
        super().setUp()

    @staticmethod
    def try_open(name, write=False):
        with shmview.connect() as c:
            try:
                with c.open(name, write=write) as v:
                    return ["ok", v.tobytes().decode()]
            except OSError as e:
                return [type(e).__name__, e.errno, e.strerror, e.filename]

    def test_nobody_denied_a_0600_segment(self):
        name = self.segment(6, 0o600, b"secret")
        got = self.run_as(NOBODY, self.try_open, name)
        self.assertEqual(got, ["PermissionError", errno.EACCES, f"permission denied: {name}",
                               name])

    def test_nobody_reads_but_cannot_write_0644(self):
        name = self.segment(6, 0o644, b"public")
        self.assertEqual(self.run_as(NOBODY, self.try_open, name), ["ok", "public"])
        got = self.run_as(NOBODY, self.try_open, name, True)
        self.assertEqual(got[:2], ["PermissionError", errno.EACCES])

    def test_nobody_cannot_unlink_or_seal_root_segment(self):
        name = self.segment(6, 0o666)

        def attempt(n):
            out = []
            with shmview.connect() as c:
                for call in (c.unlink, c.seal):
                    try:
                        call(n)
                        out.append("ok")
                    except PermissionError as e:
                        out.append(e.errno)
                st = c.stat(n)  # stat is open to everybody
                out.append(st.uid)
                mine = f"{n}-nobody"
                c.create(mine, 1)
                out.append(c.stat(mine).uid)
                c.unlink(mine)
            return out

        self.assertEqual(self.run_as(NOBODY, attempt, name),
                         [errno.EPERM, errno.EPERM, 0, NOBODY])


# A process of its own holding views (Inspect) or making changes (Watch), named by its
# command name (/proc/PID/comm, as the daemon records it at connect).
SET_COMM = """
import ctypes
ctypes.CDLL(None).prctl(15, {comm!r}.encode(), 0, 0, 0)  # PR_SET_NAME
"""

HOLDER = SET_COMM.format(comm="pyw-holder") + """
import sys
import shmview
c = shmview.connect()
name, size = sys.argv[1], int(sys.argv[2])
views = [c.open(name, 4096, 100, write=True), c.open(name), c.open(name, 10, 5)]
print("ready", flush=True)
sys.stdin.readline()
"""

PAGE = os.sysconf("SC_PAGE_SIZE")


def pages(size):
    return -(-size // PAGE) * PAGE


class InspectTest(DaemonTestCase):
    """Client.views(), clients() and status() against what other processes hold."""

    LIMITS = dict(max_bytes=64 << 20, max_segments=40, max_clients=50, max_views_per_client=30,
                  max_clients_per_uid=45, max_bytes_per_uid=48 << 20, max_segments_per_uid=35,
                  max_views_per_uid=70, max_frame=65536, stall_timeout_ms=7000)
    daemon_args = ("--max-bytes", str(LIMITS["max_bytes"]),
                   "--max-segments", str(LIMITS["max_segments"]),
                   "--max-clients", str(LIMITS["max_clients"]),
                   "--max-views-per-client", str(LIMITS["max_views_per_client"]),
                   "--max-clients-per-uid", str(LIMITS["max_clients_per_uid"]),
                   "--max-bytes-per-uid", str(LIMITS["max_bytes_per_uid"]),
                   "--max-segments-per-uid", str(LIMITS["max_segments_per_uid"]),
                   "--max-views-per-uid", str(LIMITS["max_views_per_uid"]),
                   "--max-frame", str(LIMITS["max_frame"]),
                   "--stall-timeout", str(LIMITS["stall_timeout_ms"]))

    def start_holder(self, name, size):
        """HOLDER in another process (as uid 65534 when we are root), once its views are
        open; it exits when its stdin is closed."""
        uid = NOBODY if os.geteuid() == 0 else os.getuid()
        kw = dict(user=uid, group=uid, extra_groups=[]) if uid != os.getuid() else {}
        p = subprocess.Popen([sys.executable, "-c", HOLDER, name, str(size)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, **kw)
        self.addCleanup(self.stop_holder, p)
        self.assertEqual(p.stdout.readline(), "ready\n")
        return p, uid

    @staticmethod
    def stop_holder(p):
        if p.poll() is None:
            p.stdin.close()
            p.wait(30)
        p.stdout.close()

    def until(self, fn, what):
        """fn()'s first true value, within 10 seconds (the daemon sees a process go on its
        own time)."""
        deadline = time.monotonic() + 10
        while not (r := fn()):
            if time.monotonic() > deadline:
                self.fail(f"still not {what}")
            time.sleep(0.01)
        return r

    def test_views_of_another_process(self):
        size = 3 * 4096
        name = self.segment(size, 0o666)
        c = self.connect()
        self.assertEqual(c.views(name), [])
        p, uid = self.start_holder(name, size)
        with c.open(name, 1, 2) as mine:
            views = c.views(name)
            self.assertIsInstance(views, list)
            self.assertEqual(len(views), 4)
            self.assertTrue(all(isinstance(v, shmview.ViewInfo) for v in views))
            # In the order they were opened, with the ranges and modes asked for.
            self.assertEqual([(v.offset, v.length, v.writable) for v in views],
                             [(4096, 100, True), (0, size, False), (10, 5, False), (1, 2, False)])
            theirs, ours = views[:3], views[3]
            for v in theirs:
                self.assertIsInstance(v.client, shmview.ClientRef)
                self.assertEqual((v.client.pid, v.client.uid, v.client.gid, v.client.comm),
                                 (p.pid, uid, uid, "pyw-holder"))
            self.assertEqual(len({v.client.client_id for v in theirs}), 1)
            ids = [v.view_id for v in theirs]
            self.assertEqual(ids, sorted(set(ids)))
            self.assertEqual((ours.client.pid, ours.client.uid), (os.getpid(), os.getuid()))
            self.assertNotEqual(ours.client.client_id, theirs[0].client.client_id)
            me = [ci for ci in c.clients() if ci.self]
            self.assertEqual(ours.client, me[0].client)
            # A record is a tuple too, the ClientRef first.
            self.assertEqual(tuple(views[0])[1:], (views[0].view_id, 4096, 100, True))
            self.assertEqual(views[0][0], views[0].client)
            # When the process goes, so do its views.
            self.stop_holder(p)
            self.until(lambda: len(c.views(name)) == 1, "released with their process")
            self.assertEqual(c.views(name)[0].client.pid, os.getpid())
        self.assertEqual(c.views(name), [])
        # Names as for stat().
        self.assertEqual(c.views(os.fsencode(name)), [])
        self.assertEqual(c.views(name=pathlib.Path(name)), [])

    def test_clients(self):
        size = 8192
        name = self.segment(size, 0o666)
        c = self.connect()
        p, uid = self.start_holder(name, size)
        before = time.time()
        with c.watch() as w:
            clients = c.clients()
            self.assertTrue(all(isinstance(ci, shmview.ClientInfo) for ci in clients))
            ids = [ci.client.client_id for ci in clients]
            self.assertEqual(ids, sorted(set(ids)))
            holder = [ci for ci in clients if ci.client.pid == p.pid]
            self.assertEqual(len(holder), 1)
            h = holder[0]
            self.assertEqual((h.client.uid, h.client.gid, h.client.comm), (uid, uid, "pyw-holder"))
            self.assertEqual((h.views, h.bytes_mapped, h.watching, h.self),
                             (3, 100 + size + 5, False, False))
            self.assertLess(h.connected, before + 1)
            self.assertGreater(h.connected, before - 60)
            self.assertEqual(h.connected_usec // 1000000, int(h.connected))
            me = [ci for ci in clients if ci.self]
            self.assertEqual(len(me), 1)
            self.assertEqual((me[0].client.pid, me[0].client.uid, me[0].views, me[0].watching),
                             (os.getpid(), os.getuid(), 0, False))
            comm = pathlib.Path("/proc/self/comm").read_text().rstrip("\n")
            self.assertEqual(me[0].client.comm, comm)
            watching = [ci for ci in clients if ci.watching]
            self.assertEqual(len(watching), 1)
            self.assertEqual(watching[0].client.pid, os.getpid())
            self.assertFalse(watching[0].self)
            self.assertGreater(watching[0].client.client_id, me[0].client.client_id)
            with c.open(name, 0, 7) as v:
                me = [ci for ci in c.clients() if ci.self][0]
                self.assertEqual((me.views, me.bytes_mapped), (1, 7))
        self.stop_holder(p)
        self.until(lambda: all(ci.client.pid != p.pid and not ci.watching
                               for ci in c.clients()), "gone from clients()")

    def test_status(self):
        c = self.connect()
        st = c.status()
        self.assertIsInstance(st, shmview.DaemonInfo)
        self.assertIsInstance(st.limits, shmview.Limits)
        self.assertEqual(len(st), 13)
        for key, value in self.LIMITS.items():
            self.assertEqual(getattr(st.limits, key), value, key)
        self.assertEqual((st.limits.max_name_len, st.limits.max_fds_per_message), (255, 1))
        self.assertEqual((st.version, st.socket_path), (shmview.__version__, self.daemon.socket))
        self.assertGreaterEqual(st.protocol_version, 1)
        self.assertEqual(st.watch_queue_bytes, 65536)
        self.assertEqual((st.clients, st.watchers, st.segments, st.segments_unlinked, st.views,
                          st.bytes_used), (1, 0, 0, 0, 0, 0))
        # started + uptime is now, by the two clocks.
        self.assertLess(abs(st.started + st.uptime - time.time()), 5)
        self.assertEqual(st.started_usec // 1000000, int(st.started))
        time.sleep(0.01)
        self.assertGreater(c.status().uptime_usec, st.uptime_usec)

        a, b = self.name("a"), self.name("b")
        c.create(a, 4096)
        c.create(b, 10000)
        self.addCleanup(self.unlink_quietly, a)
        self.addCleanup(self.unlink_quietly, b)
        st = c.status()
        self.assertEqual((st.segments, st.segments_unlinked, st.views, st.bytes_used),
                         (2, 0, 0, pages(4096) + pages(10000)))
        va, vb, vb2 = c.open(a), c.open(b, write=True), c.open(b, 5, 5)
        self.assertEqual(c.status().views, 3)
        c.unlink(b)  # its memory lives while views hold it
        st = c.status()
        self.assertEqual((st.segments, st.segments_unlinked, st.views, st.bytes_used),
                         (1, 1, 3, pages(4096) + pages(10000)))
        vb.release()
        self.assertEqual(c.status().segments_unlinked, 1)
        vb2.release()
        st = c.status()
        self.assertEqual((st.segments, st.segments_unlinked, st.views, st.bytes_used),
                         (1, 0, 1, pages(4096)))
        with shmview.connect() as c2, c2.watch() as w:
            st = c.status()
            self.assertEqual((st.clients, st.watchers), (3, 1))
        self.until(lambda: c.status().clients == 1, "disconnected")
        self.assertEqual(c.status().watchers, 0)
        va.release()
        c.unlink(a)
        st = c.status()
        self.assertEqual((st.segments, st.views, st.bytes_used), (0, 0, 0))

    def test_errors_and_closed_client(self):
        c = self.connect()
        missing = self.name("missing")
        with self.assertRaises(FileNotFoundError) as cm:
            c.views(missing)
        e = cm.exception
        self.assertEqual((e.errno, e.filename), (errno.ENOENT, missing))
        self.assertEqual(e.strerror, f"no such segment: {missing}")  # the daemon's message
        with self.assertRaisesRegex(ValueError, r"^not a segment name \(.*\): 'a/b'$"):
            c.views("a/b")
        with self.assertRaises(TypeError):
            c.views(42)
        with self.assertRaises(TypeError):
            c.clients(1)
        c.close()
        for call in (lambda: c.views("x"), c.clients, c.status, c.watch):
            with self.assertRaisesRegex(ValueError, "closed shmview.Client"):
                call()

    def test_gil_released(self):
        """A thread in views(), clients() or status() on a stopped daemon lets others run."""
        name = self.segment(10)
        c = self.connect()
        for call in (lambda: c.views(name), c.clients, c.status, c.watch):
            result = []
            rescue = subprocess.Popen(["sh", "-c", f"sleep 8; kill -CONT {self.daemon.pid}"],
                                      start_new_session=True)
            try:
                os.kill(self.daemon.pid, signal.SIGSTOP)
                start = time.monotonic()
                t = threading.Thread(target=lambda: result.append(call()))
                t.start()
                spins = 0
                while time.monotonic() - start < 0.3:
                    spins += 1
                self.assertFalse(result)
                elapsed = time.monotonic() - start
                os.kill(self.daemon.pid, signal.SIGCONT)
                t.join(10)
            finally:
                os.kill(self.daemon.pid, signal.SIGCONT)
                os.killpg(rescue.pid, signal.SIGKILL)
                rescue.wait()
            self.assertLess(elapsed, 5, "the main thread was blocked: GIL held during a request")
            self.assertGreater(spins, 1000)
            self.assertEqual(len(result), 1)
            if isinstance(result[0], shmview.Watch):
                result[0].close()


ACTOR = SET_COMM.format(comm="pyw-actor") + """
import sys
import shmview
name = sys.argv[1]
c = shmview.connect()
c.create(name, 8192, mode=0o640)
v = c.open(name, 4096, 16, write=True)
v.release()
c.seal(name)
kept = c.open(name)
c.unlink(name)
print(kept.name)
# Exits holding kept: its CLIENT_GONE counts it.
"""

K = shmview.EventKind


class WaitTest(DaemonTestCase):
    """Client.wait(): at once, across processes and uids, deadlines, threads."""

    def test_wait_at_once_and_deadline(self):
        c = self.connect()
        name = self.name("waited")
        for timeout in (0, 0.05, 0.3):
            t0 = time.monotonic()
            with self.assertRaises(TimeoutError) as cm:
                c.wait(name, timeout=timeout)
            took = time.monotonic() - t0
            self.assertEqual(cm.exception.errno, errno.ETIMEDOUT)
            self.assertGreaterEqual(took, timeout)
            self.assertLess(took, timeout + 0.05)
        c.create(name, 4096)
        self.addCleanup(self.unlink_quietly, name)
        c.wait(name)
        c.wait(name, timeout=0)
        with self.assertRaises(TimeoutError):
            c.wait(name, sealed=True, timeout=0)
        c.seal(name)
        c.wait(name, sealed=True)
        with self.assertRaises(ValueError):
            c.wait(name, timeout=-1)
        with self.assertRaises(ValueError):
            c.wait("a/b")
        sig = inspect.signature(shmview.Client.wait)
        self.assertEqual(list(sig.parameters), ["self", "name", "sealed", "timeout"])

    def test_wait_for_another_uid_while_other_threads_call(self):
        c = self.connect()
        name = self.name("other")
        self.addCleanup(self.unlink_quietly, name)
        done = []
        t = threading.Thread(target=lambda: done.append(c.wait(name, sealed=True, timeout=30)))
        t.start()
        # The wait holds up no other call on the client.
        for _ in range(500):
            t0 = time.monotonic()
            st = c.status()
            self.assertLess(time.monotonic() - t0, 0.5)
            if st.waits == 1:
                break
            time.sleep(0.01)
        self.assertEqual(st.waits, 1)
        self.assertEqual(sum(ci.waits for ci in c.clients()), 1)

        def create_and_seal(name):
            with shmview.connect() as c2:
                c2.create(name, 4096, mode=0o644)
                c2.seal(name)
            return True

        self.assertTrue(self.run_as(65534, create_and_seal, name))
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual(done, [None])
        self.assertEqual(c.stat(name).uid, 65534)


class WaitSetTest(DaemonTestCase):
    """WaitSet with selectors, and Client.wait_async() on asyncio: many waits, one
    descriptor, no thread per wait."""

    def collect(self, ws, want, timeout):
        """Up to want events of ws, polled with a selector for at most timeout seconds; and
        how many times the selector woke."""
        got, wakeups = [], 0
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(ws, selectors.EVENT_READ)
            while len(got) < want:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    break
                wakeups += 1
                while (ev := ws.next()) is not None:
                    got.append(ev)
        return got, wakeups

    def test_selectors_many_waits_another_uid(self):
        c = self.connect()
        names = [self.name("ws") for _ in range(80)]  # past one connection's 64
        for n in names:
            self.addCleanup(self.unlink_quietly, n)
        with shmview.WaitSet(c) as ws:
            for i, n in enumerate(names):
                ws.add_segment(n, i, sealed=(i % 2 == 1))
            ws.add_segment(self.name("never"), 1000, timeout=0.1)
            with self.assertRaises(FileExistsError):
                ws.add_segment(self.name("dup"), 1000)
            self.assertEqual(c.status().waits, len(names) + 1)

            # Idle: the descriptor wakes nobody but for the deadline.
            got, wakeups = self.collect(ws, 2, 0.5)
            self.assertEqual(wakeups, 1)
            self.assertEqual(len(got), 1)
            token, error, generation = got[0]
            self.assertEqual(token, 1000)
            self.assertIsInstance(error, TimeoutError)
            self.assertEqual(generation, 0)

            def create_and_seal(names):
                with shmview.connect() as c2:
                    for n in names:
                        c2.create(n, 4096, mode=0o644)
                    for n in names[1::2]:
                        c2.seal(n)
                return True

            if os.geteuid() == 0:
                self.assertTrue(self.run_as(NOBODY, create_and_seal, names))
            else:
                create_and_seal(names)
            got, _ = self.collect(ws, len(names), 10)
            self.assertEqual(sorted(t for t, _, _ in got), list(range(len(names))))
            self.assertTrue(all(e is None for _, e, _ in got))
            self.assertIsNone(ws.next())
            self.assertFalse(ws.remove(0))
        self.assertTrue(ws.closed)
        with self.assertRaises(ValueError):
            ws.fileno()

    def test_remove(self):
        c = self.connect()
        a, b = self.name("rm"), self.name("rm")
        self.addCleanup(self.unlink_quietly, a)
        self.addCleanup(self.unlink_quietly, b)
        with shmview.WaitSet(c) as ws:
            ws.add_segment(a, 1)
            ws.add_segment(b, 2)
            self.assertTrue(ws.remove(1))
            self.assertFalse(ws.remove(1))
            c.create(a, 4096)
            c.create(b, 4096)
            got, _ = self.collect(ws, 2, 0.5)
            self.assertEqual([t for t, _, _ in got], [2])

    def test_wait_async(self):
        c = self.connect()
        c2 = self.connect()
        names = [self.name("aio") for _ in range(50)]
        for n in names:
            self.addCleanup(self.unlink_quietly, n)
        threads = threading.active_count()

        async def main():
            loop = asyncio.get_running_loop()
            waits = [asyncio.ensure_future(c.wait_async(n, sealed=True)) for n in names]
            late = asyncio.ensure_future(c.wait_async(self.name("never"), timeout=0.2))
            cancelled = asyncio.ensure_future(c.wait_async(self.name("never")))
            await asyncio.sleep(0.1)
            # Fifty waits pending, no thread for them.
            self.assertEqual(threading.active_count(), threads)
            self.assertEqual(c.status().waits, 52)
            cancelled.cancel()
            t0 = time.monotonic()
            with self.assertRaises(TimeoutError):
                await late
            self.assertLess(time.monotonic() - t0, 0.5)
            for n in names:
                c2.create(n, 4096)
                c2.seal(n)
            self.assertEqual(await asyncio.wait_for(asyncio.gather(*waits), 10),
                             [None] * len(names))
            with self.assertRaises(asyncio.CancelledError):
                await cancelled
            # Nothing pending: the loop no longer polls the set.
            from shmview import _aio
            self.assertFalse(loop.remove_reader(_aio._by_loop[loop][c].ws.fileno()))
            await c.wait_async(names[0], timeout=0)

        asyncio.run(main())
        with self.assertRaises(ValueError):
            asyncio.run(c.wait_async("a/b"))

    def test_generations_selectors_and_asyncio(self):
        c = self.connect()
        names = [self.segment(4096, mode=0o644, prefix="gen") for _ in range(3)]
        writers = [c.open(n, write=True) for n in names]
        readers = [c.open(n) for n in names]
        for v in writers + readers:
            self.addCleanup(v.release)
        seen = [r.generation for r in readers]

        # Selectors, a set without a client: 150 waits (two library threads), notified from
        # another process.
        with shmview.WaitSet() as ws:
            for i in range(150):
                ws.add_generation(readers[i % 3], seen[i % 3], i)
            with self.assertRaises(ValueError):
                ws.add_segment(names[0], 1000)
            got, wakeups = self.collect(ws, 1, 0.3)
            self.assertEqual((got, wakeups), ([], 0))
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    with shmview.connect() as c2:
                        for n in names:
                            with c2.open(n, write=True) as w:
                                w.notify()
                    code = 0
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(status, 0)
            got, _ = self.collect(ws, 150, 10)
            self.assertEqual(sorted(t for t, _, _ in got), list(range(150)))
            for token, error, generation in got:
                self.assertIsNone(error)
                self.assertEqual(generation, seen[token % 3] + 1)

        async def main():
            g = readers[0].generation
            first = asyncio.ensure_future(readers[0].wait_async(g))
            await asyncio.sleep(0.05)
            self.assertFalse(first.done())
            writers[0].notify()
            t0 = time.monotonic()
            self.assertEqual(await asyncio.wait_for(first, 5), g + 1)
            self.assertLess(time.monotonic() - t0, 0.5)  # woken, not found a second later
            t0 = time.monotonic()
            with self.assertRaises(TimeoutError):
                await readers[1].wait_async(readers[1].generation, timeout=0.1)
            self.assertGreaterEqual(time.monotonic() - t0, 0.1)
            # Already moved: at once.
            self.assertEqual(await readers[0].wait_async(g), g + 1)

        asyncio.run(main())
class DoorbellTest(DaemonTestCase):
    """View.notify(), View.generation, View.wait(): across processes and uids, deadlines,
    threads, seals, released views."""

    def test_notify_generation_wait(self):
        name = self.segment(4096, mode=0o644)
        c = self.connect()
        with c.open(name, write=True) as w, c.open(name) as r:
            self.assertEqual((w.generation, r.generation), (0, 0))
            w.notify()
            w[100:200].cast("I").notify()  # any slice or cast of a writable view
            self.assertEqual((w.generation, r.generation), (2, 2))
            with self.assertRaisesRegex(TypeError, "read-only"):
                r.notify()
            with self.assertRaisesRegex(TypeError, "read-only"):
                w.toreadonly().notify()
            self.assertEqual(r.wait(0), 2)  # already past: at once
            self.assertEqual(r.wait(1, timeout=None), 2)
            for timeout in (0, 0.05, 0.3):
                t0 = time.monotonic()
                with self.assertRaises(TimeoutError) as cm:
                    r.wait(2, timeout=timeout)
                took = time.monotonic() - t0
                self.assertEqual(cm.exception.errno, errno.ETIMEDOUT)
                self.assertGreaterEqual(took, timeout)
                self.assertLess(took, timeout + 0.05)
            with self.assertRaises(ValueError):
                r.wait(2, timeout=-1)
            self.assertEqual(c.stat(name).generation, 2)
            self.assertEqual(len(c.stat(name)), 9)  # an attribute, not in the tuple
            sig = inspect.signature(shmview.View.wait)
            self.assertEqual(list(sig.parameters), ["self", "seen", "timeout"])
        for op in (lambda: r.generation, lambda: r.wait(0), lambda: w.notify()):
            with self.assertRaisesRegex(ValueError, "released"):
                op()

    def test_wait_other_uid_while_other_threads_call(self):
        name = self.segment(4096, mode=0o644)
        c = self.connect()
        w = c.open(name, write=True)
        self.addCleanup(w.release)

        def waiter(name):
            with shmview.connect() as c2, c2.open(name) as v:
                t0 = time.monotonic()
                gen = v.wait(0, timeout=30)
                return [gen, time.monotonic() - t0, v.readonly]

        # The owner notifies while the other uid waits; its own other calls go on meanwhile.
        timer = threading.Timer(0.3, w.notify)
        timer.start()
        gen, took, readonly = self.run_as(NOBODY, waiter, name)
        timer.join()
        # Generation 1 exists only once the owner notified: the waiter waited for it (the
        # child's start, slow under the sanitizers, may eat most of the 0.3 s).
        self.assertEqual((gen, readonly), (1, True))
        self.assertLess(took, 5)

        # A thread blocked in wait() holds nothing: the client and the GIL are free.
        with c.open(name) as r:
            got = []
            t = threading.Thread(target=lambda: got.append(r.wait(1)))
            t.start()
            time.sleep(0.05)
            t0 = time.monotonic()
            for _ in range(100):
                c.stat(name)
            self.assertLess(time.monotonic() - t0, 5)
            self.assertEqual(got, [])
            w.notify()
            t.join(10)
            self.assertEqual(got, [2])

    def test_release_while_waiting(self):
        name = self.segment(4096)
        c = self.connect()
        w = c.open(name, write=True)
        r = c.open(name)
        got = []
        t = threading.Thread(target=lambda: got.append(r.wait(0, timeout=10)))
        t.start()
        time.sleep(0.05)
        r.release()  # from another thread: the wait keeps the mapping meanwhile
        w.notify()
        t.join(10)
        self.assertEqual(got, [1])
        w.release()

    def test_sealed(self):
        name = self.segment(4096)
        c = self.connect()
        with c.open(name, write=True) as w:
            w.notify()
        c.seal(name)
        with c.open(name) as r:
            self.assertEqual(r.generation, 2)  # the seal is a change
            self.assertEqual(r.wait(1), 2)
            t0 = time.monotonic()
            with self.assertRaises(OSError) as cm:
                r.wait(2)  # no deadline: it would never change
            self.assertEqual(cm.exception.errno, errno.EROFS)
            self.assertIn("sealed", str(cm.exception))
            self.assertLess(time.monotonic() - t0, 1)


class WatchTest(DaemonTestCase):
    """Client.watch(): events of other processes, timeouts, select, overflow, the end."""

    def events_of(self, w, pid, last_kind, timeout=10):
        """Events from w caused by process pid, up to the first of last_kind."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            ev = w.next(timeout=max(0, deadline - time.monotonic()))
            if ev is None:
                self.fail(f"no {last_kind!r} event within {timeout}s; got {out}")
            if ev.client.pid != pid:
                continue
            out.append(ev)
            if ev.kind == last_kind:
                return out

    def test_events_of_another_process_in_order(self):
        c = self.connect()
        w = c.watch()
        self.addCleanup(w.close)
        self.assertIsInstance(w, shmview.Watch)
        self.assertEqual(w.socket, self.daemon.socket)
        name = self.name("watched")
        p = subprocess.Popen([sys.executable, "-c", ACTOR, name], stdout=subprocess.PIPE,
                             text=True)
        out, _ = p.communicate(timeout=60)
        self.assertEqual((p.returncode, out), (0, name + "\n"))
        events = self.events_of(w, p.pid, K.CLIENT_GONE)
        self.assertEqual([e.kind for e in events],
                         [K.CLIENT_CONNECTED, K.CREATED, K.VIEW_OPENED, K.VIEW_RELEASED,
                          K.SEALED, K.VIEW_OPENED, K.UNLINKED, K.CLIENT_GONE])
        self.assertEqual([e.kind_name for e in events],
                         ["client-connected", "created", "view-opened", "view-released",
                          "sealed", "view-opened", "unlinked", "client-gone"])
        for e in events:
            self.assertIsInstance(e, shmview.Event)
            self.assertIsInstance(e.kind, shmview.EventKind)
            self.assertEqual((e.client.pid, e.client.uid, e.client.comm),
                             (p.pid, os.getuid(), "pyw-actor"))
            self.assertEqual(e.client.client_id, events[0].client.client_id)
        times = [e.time_usec for e in events]
        self.assertEqual(times, sorted(times))
        self.assertLess(abs(events[0].time - time.time()), 60)
        connected, created, opened, released, sealed, opened2, unlinked, gone = events
        self.assertEqual(tuple(connected)[3:], (None,) * 8)
        self.assertEqual(tuple(created)[3:], (name, 8192, 0o640, None, None, None, None, None))
        self.assertEqual(tuple(opened)[3:],
                         (name, None, None, opened.view_id, 4096, 16, True, None))
        self.assertEqual(tuple(released)[3:], tuple(opened)[3:])
        self.assertEqual(tuple(sealed)[3:], (name,) + (None,) * 7)
        self.assertEqual(tuple(opened2)[3:],
                         (name, None, None, opened2.view_id, 0, 8192, False, None))
        self.assertNotEqual(opened2.view_id, opened.view_id)
        self.assertEqual(tuple(unlinked)[3:], (name,) + (None,) * 7)
        self.assertEqual(tuple(gone)[3:], (None,) * 7 + (1,))
        # Idle: None after the timeout, not before.
        start = time.monotonic()
        self.assertIsNone(w.next(timeout=0.05))
        self.assertGreaterEqual(time.monotonic() - start, 0.05)
        self.assertIsNone(w.next(0))

    def test_fileno_select_selectors_asyncio(self):
        c = self.connect()
        w = c.watch()
        self.addCleanup(w.close)
        fd = w.fileno()
        self.assertIsInstance(fd, int)
        self.assertEqual(select.select([w], [], [], 0)[0], [])
        name = self.segment(10)  # created on another connection
        # The poll loop of the docs: wait until readable, then drain.
        kinds = []
        while (K.CREATED, name) not in kinds:
            self.assertEqual(select.select([w], [], [], 5)[0], [w])
            while (ev := w.next(0)) is not None:
                kinds.append((ev.kind, ev.name))
        self.assertEqual(kinds, [(K.CLIENT_CONNECTED, None), (K.CREATED, name)])
        self.assertEqual(select.select([fd], [], [], 0.05)[0], [])

        with selectors.DefaultSelector() as sel:
            sel.register(w, selectors.EVENT_READ)
            self.assertEqual(sel.select(0), [])
            c.seal(name)
            ready = sel.select(5)
            self.assertEqual([key.fileobj for key, _ in ready], [w])
            ev = w.next(0)
            self.assertEqual((ev.kind, ev.name), (K.SEALED, name))
            self.assertIsNone(w.next(0))
            sel.unregister(w)

        async def one_event():
            loop = asyncio.get_running_loop()
            got = loop.create_future()

            def readable():
                while (ev := w.next(0)) is not None:
                    if not got.done():
                        got.set_result(ev)

            loop.add_reader(w, readable)
            try:
                with c.open(name):
                    return await asyncio.wait_for(got, 5)
            finally:
                loop.remove_reader(w)

        ev = asyncio.run(one_event())
        self.assertEqual((ev.kind, ev.name, ev.writable), (K.VIEW_OPENED, name, False))
        self.assertEqual(w.next(timeout=5).kind, K.VIEW_RELEASED)

    def test_next_timeout_and_signals(self):
        c = self.connect()
        w = c.watch()
        self.addCleanup(w.close)
        for bad in (-1, -0.001, float("nan")):
            with self.assertRaisesRegex(ValueError, "timeout"):
                w.next(bad)
        for bad in ("1", [1]):
            with self.assertRaises(TypeError):
                w.next(bad)
        start = time.monotonic()
        self.assertIsNone(w.next(timeout=0.2))
        self.assertGreaterEqual(time.monotonic() - start, 0.2)
        self.assertIsNone(w.next(1 // 2))  # an int is fine

        # PEP 475: a signal whose handler returns does not cut the wait short ...
        caught = []
        old = signal.signal(signal.SIGALRM, lambda *a: caught.append(1))
        self.addCleanup(signal.signal, signal.SIGALRM, old)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        start = time.monotonic()
        self.assertIsNone(w.next(timeout=0.3))
        self.assertGreaterEqual(time.monotonic() - start, 0.3)
        self.assertEqual(caught, [1])

        # ... and one whose handler raises ends it with that exception.
        class Alarm(Exception):
            pass

        def raise_alarm(*a):
            raise Alarm

        signal.signal(signal.SIGALRM, raise_alarm)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        start = time.monotonic()
        with self.assertRaises(Alarm):
            w.next()
        self.assertLess(time.monotonic() - start, 5)
        # The watch still works.
        name = self.segment(1)
        self.assertEqual(self.events_of(w, os.getpid(), K.CREATED)[-1].name, name)

    def test_overflow(self):
        """A watch that does not read gets the events that fit, in order, then OVERFLOW, then
        its end; the daemon serves on."""
        c = self.connect()
        w = c.watch()
        self.addCleanup(w.close)
        me = [ci for ci in c.clients() if ci.watching]
        self.assertEqual(len(me), 1)
        name = self.name("flood")
        self.addCleanup(self.unlink_quietly, name)
        rounds = 6000  # 12000 events, far more than the socket and 64 KiB hold
        self.assertEqual(c.status().watch_queue_bytes, 65536)
        for _ in range(rounds):
            c.create(name, 4096)
            c.unlink(name)
        events = list(w)  # blocks for each; ends with the watch
        self.assertGreater(len(events), 100)
        self.assertLess(len(events), 2 * rounds)
        last = events[-1]
        self.assertEqual((last.kind, last.kind_name), (K.OVERFLOW, "overflow"))
        self.assertEqual(last.client, me[0].client)  # the watch itself
        self.assertEqual(tuple(last)[3:], (None,) * 8)
        body = events[:-1]
        self.assertEqual([e.kind for e in body],
                         [K.CREATED if i % 2 == 0 else K.UNLINKED for i in range(len(body))])
        self.assertTrue(all(e.name == name for e in body))
        # Ended: next() says so, iteration stays over, the descriptor stays valid.
        for timeout in (None, 0):
            with self.assertRaises(ConnectionResetError) as cm:
                w.next(timeout)
            self.assertEqual((cm.exception.errno, cm.exception.filename),
                             (errno.ECONNRESET, self.daemon.socket))
        self.assertEqual(list(w), [])
        self.assertIn("ended", repr(w))
        self.assertEqual(select.select([w], [], [], 0)[0], [w])
        self.assertFalse(w.closed)
        w.close()
        self.assertEqual(c.status().watchers, 0)
        # Watching again works.
        with c.watch() as w2:
            c.create(name, 1)
            self.assertEqual(w2.next(5).kind, K.CREATED)

    def test_iteration_ends_when_the_daemon_stops(self):
        d = Daemon()
        try:
            c = shmview.connect(d.socket)
            w = c.watch()
            self.assertEqual(w.socket, d.socket)
            c.create("x", 1)
            c.close()
        finally:
            rc = d.stop()
        self.assertEqual(rc, 0)
        events = []
        t = threading.Thread(target=lambda: events.extend(w))
        t.start()
        t.join(20)
        self.assertFalse(t.is_alive(), "iteration did not end when the daemon stopped")
        self.assertEqual([(e.kind, e.name) for e in events][:1], [(K.CREATED, "x")])
        self.assertNotIn(K.OVERFLOW, [e.kind for e in events])
        with self.assertRaises(ConnectionResetError):
            w.next(0)
        w.close()

    def test_use_after_close_and_lifetime(self):
        c = self.connect()
        with c.watch() as w:
            self.assertFalse(w.closed)
            self.assertIs(iter(w), w)
        self.assertTrue(w.closed)
        self.assertIn("closed", repr(w))
        w.close()  # twice is fine
        for call in (w.next, lambda: w.next(0), w.fileno, lambda: iter(w), lambda: next(w),
                     w.__enter__):
            with self.assertRaisesRegex(ValueError, "closed shmview.Watch"):
                call()
        # A Watch outlives its Client; a closed Client makes none.
        w = c.watch()
        c.close()
        with self.assertRaisesRegex(ValueError, "closed shmview.Client"):
            c.watch()
        name = self.segment(1)
        self.assertEqual(self.events_of(w, os.getpid(), K.CREATED)[-1].name, name)
        # Dropping the last reference closes it (the daemon's descriptors are checked after
        # the test).
        c2 = self.connect()
        self.assertEqual(c2.status().watchers, 1)
        del w
        gc.collect()
        deadline = time.monotonic() + 10
        while c2.status().watchers != 0:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)

    def test_threads(self):
        c = self.connect()
        w = c.watch()
        self.addCleanup(w.close)
        # A thread waits in next() without a timeout while this one makes a segment.
        got = []
        t = threading.Thread(target=lambda: got.append(w.next()))
        t.start()
        time.sleep(0.1)
        self.assertTrue(t.is_alive())
        # One next() at a time.
        with self.assertRaisesRegex(RuntimeError, "in progress"):
            w.next(0)
        start = time.monotonic()
        spins = 0
        while time.monotonic() - start < 0.2:
            spins += 1
        self.assertGreater(spins, 1000, "the GIL was held during next()")
        name = self.segment(1)
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual(got[0].kind, K.CLIENT_CONNECTED)  # self.segment's connection
        self.assertEqual(self.events_of(w, os.getpid(), K.CREATED)[-1].name, name)

        # close() from another thread wakes a next() waiting without limit: ValueError ...
        errors = []

        def wait():
            try:
                w.next()
            except ValueError as e:
                errors.append(e)

        t = threading.Thread(target=wait)
        t.start()
        time.sleep(0.1)
        w.close()
        t.join(10)
        self.assertFalse(t.is_alive(), "close() did not wake next()")
        self.assertRegex(str(errors[0]), "closed shmview.Watch")
        # ... and ends a for loop.
        w2 = c.watch()
        seen = []
        t = threading.Thread(target=lambda: seen.extend(w2))
        t.start()
        name2 = self.segment(1)
        deadline = time.monotonic() + 10
        while name2 not in [e.name for e in seen]:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)
        w2.close()
        t.join(10)
        self.assertFalse(t.is_alive(), "close() did not end the loop")
        self.assertTrue(w2.closed)

    def test_watcher_limit_per_uid(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to switch to uid 65534")

        def attempt():
            with shmview.connect() as c:
                watches = [c.watch() for _ in range(8)]
                try:
                    c.watch()
                except OSError as e:
                    return [type(e).__name__, e.errno, e.strerror, e.filename]
                finally:
                    for w in watches:
                        w.close()
            return "ok"

        self.assertEqual(self.run_as(NOBODY, attempt),
                         ["OSError", errno.EUSERS, "too many watchers for this uid (at most 8)",
                          self.daemon.socket])


class ExampleTest(DaemonTestCase):
    """examples/python_producer_consumer.py runs against the daemon."""

    def test_example(self):
        examples = os.environ.get("SHMVIEW_EXAMPLES",
                                  os.path.join(os.path.dirname(__file__), "../../examples"))
        script = os.path.join(examples, "python_producer_consumer.py")
        p = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("[0:26][::-1] = zyxwvutsrqponmlkjihgfedcba\n", p.stdout)
        self.assertIn('writing gives "cannot modify read-only memory"\n', p.stdout)
        self.assertIn("consumer: now [0:5] = HELLO\n", p.stdout)

    @unittest.skipIf(numpy is None, "needs numpy (Debian: python3-numpy)")
    def test_frames_numpy(self):
        """examples/frames_consumer.py, as uid 65534 when we are root, reads the C producer's
        8 MiB frames in place with numpy as they are published: every frame from the first is
        seen intact and in order, or counted missed."""
        producer = os.environ.get("SHMVIEW_FRAMES_PRODUCER")
        if not producer:
            self.skipTest("SHMVIEW_FRAMES_PRODUCER not set (run through CTest)")
        examples = os.environ.get("SHMVIEW_EXAMPLES",
                                  os.path.join(os.path.dirname(__file__), "../../examples"))
        name = self.name("frames")
        kw = dict(user=NOBODY, group=NOBODY, extra_groups=[]) if os.geteuid() == 0 else {}
        t0 = time.monotonic()
        consumer = subprocess.Popen(
            [sys.executable, os.path.join(examples, "frames_consumer.py"), "--name", name,
             "--timeout", "10000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            **kw)
        p = subprocess.run([producer, "--name", name, "--frames", "24", "--slots", "8",
                            "--rate", "10", "--readers", "1"],
                           capture_output=True, text=True, timeout=60)
        out, err = consumer.communicate(timeout=60)
        took = time.monotonic() - t0
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(consumer.returncode, 0, out + err)
        print(out, f"took {took:.2f} s", file=sys.stderr)
        summary = dict(kv.split("=") for kv in out.splitlines()[-1].split()[1:])
        r = {k: int(v) for k, v in summary.items()}
        self.assertEqual((r["first"], r["end"], r["bad"]), (0, 24, 0))
        self.assertEqual(r["seen"] + r["missed"], 24)
        self.assertLessEqual(r["torn"], r["missed"])
        self.assertGreaterEqual(r["seen"], 12)
        self.assertEqual(r["bytes"], r["seen"] * (8 << 20))
        self.assertLess(r["lat_p50_ns"], 500_000_000)


class InstallTest(unittest.TestCase):
    """`cmake --install --prefix DIR` puts an importable package under DIR, nowhere else."""

    def test_install_into_prefix(self):
        build = os.environ.get("SHMVIEW_BUILD_DIR")
        if not build:
            self.skipTest("SHMVIEW_BUILD_DIR not set (run through CTest)")
        cmake = os.environ.get("SHMVIEW_CMAKE", "cmake")
        rel = os.environ["SHMVIEW_PYTHON_INSTALL_DIR"]
        self.assertFalse(os.path.isabs(rel), rel)
        with tempfile.TemporaryDirectory() as prefix:
            subprocess.run([cmake, "--install", build, "--prefix", prefix,
                            "--component", "python"], check=True, capture_output=True)
            files = sorted(str(p.relative_to(prefix)) for p in pathlib.Path(prefix).rglob("*")
                           if p.is_file())
            pkg = os.path.join(rel, "shmview")
            self.assertEqual([f for f in files if not f.startswith(pkg + "/")], [])
            names = sorted(os.path.basename(f) for f in files)
            self.assertEqual(names[:3], ["__init__.py", "__init__.pyi", "_shmview" +
                                         __import__("sysconfig").get_config_var("EXT_SUFFIX")])
            self.assertEqual(names[3:], ["py.typed"])
            so = os.path.join(prefix, pkg, names[2])
            dyn = subprocess.run(["readelf", "-d", so], capture_output=True, text=True).stdout
            self.assertNotIn("RPATH", dyn)
            self.assertNotIn("RUNPATH", dyn)
            self.assertNotIn("libshmview", dyn)
            out = subprocess.run(
                [sys.executable, "-c", "import shmview; print(shmview.__file__)"],
                env=dict(os.environ, PYTHONPATH=os.path.join(prefix, rel)), cwd=prefix,
                capture_output=True, text=True, check=True).stdout.strip()
            self.assertEqual(out, os.path.join(prefix, pkg, "__init__.py"))


if __name__ == "__main__":
    unittest.main()

"""CPython's memoryview tests, with a shmview.View as the memoryview.

Modelled on Lib/test/test_memoryview.py of CPython 3.11.7: the same test classes and test
methods, each making the same checks, with the object under test a View over a segment of a
real shmviewd holding the bytes the original's source object holds. A bytes source gives a
read-only View, a bytearray or array source a writable one (cast to the array's format), and
what the original reads back from its source object is read back from the segment.

Run twice by CTest (python/CMakeLists.txt): as is, the object under test is the View itself;
with --memoryview it is memoryview(View), so CPython's own memoryview runs over the View's
buffer export. By hand:

    PYTHONPATH=build/python SHMVIEWD=build/daemon/shmviewd \\
        /usr/bin/python3 python/tests/test_memoryview_suite.py [--memoryview] -v

Left out, each for being about the exporting Python object itself rather than the view:
  - test_gc (every class): reference cycles through the source object (a bytes or bytearray
    subclass holding its own memoryview) that the garbage collector must break; a View's
    memory belongs to no Python object.
  - test_constructor (BytesMemoryviewTest): memoryview()'s constructor arguments; a View is
    made by Client.open().
  - test_getbuf_fail (every class): memoryview({}) refusing an object without the buffer
    protocol, the constructor again.
"""
import array
import copy
import ctypes
import gc
import io
import os
import pickle
import struct
import sys
import unittest
import weakref

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_shmview import Daemon  # noqa: E402

import shmview  # noqa: E402

WRAP = "--memoryview" in sys.argv
if WRAP:
    sys.argv.remove("--memoryview")

daemon = None
client = None
counter = 0
# id(source object) -> a read-only View of its segment, to read back what was written.
readers = {}


def setUpModule():
    global daemon, client
    daemon = Daemon()
    client = shmview.connect(daemon.socket)


def tearDownModule():
    readers.clear()
    gc.collect()
    client.close()
    rc = daemon.stop()
    if rc != 0:
        raise AssertionError(f"shmviewd exited with status {rc}")


def exported(obj):
    """A View over a new segment holding obj's bytes: read-only when obj is, writable
    otherwise, with obj's format. The segment is unlinked at once: its memory lives as long
    as the View (and the reader kept to check what was written)."""
    global counter
    src = memoryview(obj)
    data, fmt, writable = src.tobytes(), src.format, not src.readonly
    src.release()
    counter += 1
    name = f"mv-{os.getpid()}-{counter}"
    client.create(name, max(len(data), 1))
    with client.open(name, write=True) as w:
        w[: len(data)] = data
    v = client.open(name, 0, len(data), write=writable)
    readers[id(obj)] = client.open(name, 0, len(data))
    client.unlink(name)
    return v.cast(fmt) if fmt != "B" else v


def wrap(v):
    """The object under test: the View, or with --memoryview CPython's memoryview of it."""
    return memoryview(v) if WRAP else v


def view_of(obj):
    return wrap(exported(obj))


def contents(obj):
    """What obj's segment holds now, as obj's type."""
    raw = readers[id(obj)].tobytes()
    if isinstance(obj, array.array):
        a = array.array(obj.typecode)
        a.frombytes(raw)
        return a
    return type(obj)(raw)


class AbstractMemoryTests:
    source_bytes = b"abcdef"

    @property
    def _source(self):
        return self.source_bytes

    @property
    def _types(self):
        return filter(None, [self.ro_type, self.rw_type])

    def check_getitem_with_type(self, tp):
        b = tp(self._source)
        refs = sys.getrefcount(b)
        m = self._view(b)
        self.assertEqual(m[0], ord(b"a"))
        self.assertIsInstance(m[0], int)
        self.assertEqual(m[5], ord(b"f"))
        self.assertEqual(m[-1], ord(b"f"))
        self.assertEqual(m[-6], ord(b"a"))
        for i in (6, -7, sys.maxsize, -sys.maxsize):
            self.assertRaises(IndexError, lambda: m[i])
        for key in (None, 0.0, "a"):
            self.assertRaises(TypeError, lambda: m[key])
        m = None
        self.assertEqual(sys.getrefcount(b), refs)

    def test_getitem(self):
        for tp in self._types:
            self.check_getitem_with_type(tp)

    def test_iter(self):
        for tp in self._types:
            m = self._view(tp(self._source))
            self.assertEqual(list(m), [m[i] for i in range(len(m))])

    def test_setitem_readonly(self):
        if not self.ro_type:
            self.skipTest("no read-only type to test")
        b = self.ro_type(self._source)
        refs = sys.getrefcount(b)
        m = self._view(b)

        def setitem(value):
            m[0] = value
        for value in (b"a", 65, memoryview(b"a")):
            self.assertRaises(TypeError, setitem, value)
        m = None
        self.assertEqual(sys.getrefcount(b), refs)

    def test_setitem_writable(self):
        if not self.rw_type:
            self.skipTest("no writable type to test")
        tp = self.rw_type
        b = tp(self._source)
        refs = sys.getrefcount(b)
        m = self._view(b)
        m[0] = ord(b"1")
        self._check_contents(tp, b, b"1bcdef")
        m[0:1] = tp(b"0")
        self._check_contents(tp, b, b"0bcdef")
        m[1:3] = tp(b"12")
        self._check_contents(tp, b, b"012def")
        m[1:1] = tp(b"")
        self._check_contents(tp, b, b"012def")
        m[:] = tp(b"abcdef")
        self._check_contents(tp, b, b"abcdef")
        # The view copied into itself, overlapping both ways.
        m[0:3] = m[2:5]
        self._check_contents(tp, b, b"cdedef")
        m[:] = tp(b"abcdef")
        m[2:5] = m[0:3]
        self._check_contents(tp, b, b"ababcf")

        def setitem(key, value):
            m[key] = tp(value)
        for key in (6, -7, sys.maxsize, -sys.maxsize):
            self.assertRaises(IndexError, setitem, key, b"a")
        for key in (0.0, (0,), (slice(0, 1, 1), 0), (0, slice(0, 1, 1)), "a"):
            self.assertRaises(TypeError, setitem, key, b"a")
        self.assertRaises(NotImplementedError, setitem, (slice(0, 1, 1), slice(0, 1, 2)), b"a")
        # Resizing.
        exc = ValueError if m.format == "c" else TypeError
        self.assertRaises(exc, setitem, 0, b"")
        self.assertRaises(exc, setitem, 0, b"ab")
        self.assertRaises(ValueError, setitem, slice(1, 1), b"a")
        self.assertRaises(ValueError, setitem, slice(0, 2), b"a")
        m = None
        self.assertEqual(sys.getrefcount(b), refs)

    def test_delitem(self):
        for tp in self._types:
            m = self._view(tp(self._source))
            with self.assertRaises(TypeError):
                del m[1]
            with self.assertRaises(TypeError):
                del m[1:4]

    def test_tobytes(self):
        for tp in self._types:
            m = self._view(tp(self._source))
            b = m.tobytes()
            self.assertEqual(b, b"".join(self.getitem_type(bytes([c])) for c in b"abcdef"))
            self.assertIsInstance(b, bytes)

    def test_tolist(self):
        for tp in self._types:
            m = self._view(tp(self._source))
            self.assertEqual(m.tolist(), list(b"abcdef"))

    def test_compare(self):
        for tp in self._types:
            m = self._view(tp(self._source))
            for tp_comp in self._types:
                self.assertTrue(m == tp_comp(b"abcdef"))
                self.assertFalse(m != tp_comp(b"abcdef"))
                for other in (b"abcde", b"abcde1"):
                    self.assertFalse(m == tp_comp(other))
                    self.assertTrue(m != tp_comp(other))
            self.assertTrue(m == m)
            self.assertTrue(m == m[:])
            self.assertTrue(m[0:6] == m[:])
            self.assertFalse(m[0:5] == m)
            # Objects without the buffer protocol.
            self.assertFalse(m == "abcdef")
            self.assertTrue(m != "abcdef")
            self.assertFalse("abcdef" == m)
            self.assertTrue("abcdef" != m)
            # No ordering.
            for c in (m, b"abcdef"):
                self.assertRaises(TypeError, lambda: m < c)
                self.assertRaises(TypeError, lambda: c <= m)
                self.assertRaises(TypeError, lambda: m >= c)
                self.assertRaises(TypeError, lambda: c > m)

    def check_attributes_with_type(self, tp):
        m = self._view(tp(self._source))
        self.assertEqual(m.format, self.format)
        self.assertEqual(m.itemsize, self.itemsize)
        self.assertEqual(m.ndim, 1)
        self.assertEqual(m.shape, (6,))
        self.assertEqual(len(m), 6)
        self.assertEqual(m.strides, (self.itemsize,))
        self.assertEqual(m.suboffsets, ())
        return m

    def test_attributes_readonly(self):
        if not self.ro_type:
            self.skipTest("no read-only type to test")
        self.assertEqual(self.check_attributes_with_type(self.ro_type).readonly, True)

    def test_attributes_writable(self):
        if not self.rw_type:
            self.skipTest("no writable type to test")
        self.assertEqual(self.check_attributes_with_type(self.rw_type).readonly, False)

    def test_getbuffer(self):
        for tp in self._types:
            b = tp(self._source)
            refs = sys.getrefcount(b)
            m = self._view(b)
            view_refs = sys.getrefcount(m)
            s = str(m, "utf-8")  # PyObject_GetBuffer() on the object under test
            self._check_contents(tp, b, s.encode("utf-8"))
            self.assertEqual(sys.getrefcount(m), view_refs)
            m = None
            self.assertEqual(sys.getrefcount(b), refs)

    def _check_released(self, m, tp):
        check = self.assertRaisesRegex(ValueError, "released")
        for op in (lambda: bytes(m), m.tobytes, m.tolist, lambda: m[0], lambda: len(m),
                   lambda: m.format, lambda: m.itemsize, lambda: m.ndim, lambda: m.readonly,
                   lambda: m.shape, lambda: m.strides):
            with check:
                op()
        with check:
            m[0] = b"x"
        with check:
            with m:
                pass
        # str() and repr() still work.
        self.assertIn("released memory", str(m))
        self.assertIn("released memory", repr(m))
        self.assertEqual(m, m)
        self.assertNotEqual(m, memoryview(tp(self._source)))
        self.assertNotEqual(m, tp(self._source))

    def test_contextmanager(self):
        for tp in self._types:
            b = tp(self._source)
            m = self._view(b)
            with m as cm:
                self.assertIs(cm, m)
            self._check_released(m, tp)
            m = self._view(b)
            with m:
                m.release()  # inside the block too

    def test_release(self):
        for tp in self._types:
            m = self._view(tp(self._source))
            m.release()
            self._check_released(m, tp)
            m.release()  # again: nothing happens
            self._check_released(m, tp)

    def test_writable_readonly(self):
        # bpo-10451: a read-only view must not be exported as writable.
        if self.ro_type is None:
            self.skipTest("no read-only type to test")
        m = self._view(self.ro_type(self._source))
        self.assertRaises(TypeError, io.BytesIO(b"ZZZZ").readinto, m)

    def test_hash(self):
        # Read-only views hash as their bytes do.
        if self.ro_type is None:
            self.skipTest("no read-only type to test")
        b = self.ro_type(self._source)
        m = self._view(b)
        self.assertEqual(hash(m), hash(b"abcdef"))
        m.release()  # the hash is kept
        self.assertEqual(hash(m), hash(b"abcdef"))
        m = self._view(b)
        m.release()  # first hashed once released: an error
        self.assertRaises(ValueError, hash, m)

    def test_hash_writable(self):
        if self.rw_type is None:
            self.skipTest("no writable type to test")
        self.assertRaises(ValueError, hash, self._view(self.rw_type(self._source)))

    def test_weakref(self):
        for tp in self._types:
            b = tp(self._source)
            m = self._view(b)
            called = []

            def callback(wr, b=b):
                called.append(b)
            wr = weakref.ref(m, callback)
            self.assertIs(wr(), m)
            del m
            gc.collect()
            self.assertIs(wr(), None)
            self.assertIs(called[0], b)

    def test_reversed(self):
        for tp in self._types:
            m = self._view(tp(self._source))
            backwards = list(reversed(m.tolist()))
            self.assertEqual(list(reversed(m)), backwards)
            self.assertEqual(list(reversed(m)), list(m[::-1]))

    def test_toreadonly(self):
        for tp in self._types:
            m = self._view(tp(self._source))
            mm = m.toreadonly()
            self.assertTrue(mm.readonly)
            self.assertTrue(memoryview(mm).readonly)
            self.assertEqual(mm.tolist(), m.tolist())
            mm.release()
            m.tolist()

    def test_issue22668(self):
        x = view_of(array.array("H", [256, 256, 256, 256]))
        m = x.cast("B")
        b = m.cast("H")
        c = b[0:2]
        d = memoryview(b)
        del b
        self.assertEqual((c[0], d[0], c.format, d.format), (256, 256, "H", "H"))
        _ = m.cast("I")
        self.assertEqual((c[0], d[0], c.format, d.format), (256, 256, "H", "H"))


# The sources: bytes-like objects, then arrays of itemsize > 1.

class BaseBytesMemoryTests(AbstractMemoryTests):
    ro_type = bytes
    rw_type = bytearray
    getitem_type = bytes
    itemsize = 1
    format = "B"


class BaseArrayMemoryTests(AbstractMemoryTests):
    ro_type = None
    rw_type = lambda self, b: array.array("i", list(b))  # noqa: E731
    getitem_type = lambda self, b: array.array("i", list(b)).tobytes()  # noqa: E731
    itemsize = array.array("i").itemsize
    format = "i"

    @unittest.skip("as in CPython: the test is for byte buffers")
    def test_getbuffer(self):
        pass

    @unittest.skip("as in CPython: the test is for byte buffers")
    def test_tolist(self):
        pass


# The levels of indirection: the view, a slice of it, a slice of a slice.

class BaseMemoryviewTests:
    def _view(self, obj):
        return wrap(exported(obj))

    def _check_contents(self, tp, obj, data):
        self.assertEqual(contents(obj), tp(data))


class BaseMemorySliceTests:
    source_bytes = b"XabcdefY"

    def _view(self, obj):
        return wrap(exported(obj)[1:7])

    def _check_contents(self, tp, obj, data):
        self.assertEqual(contents(obj)[1:7], tp(data))

    def test_refs(self):
        for tp in self._types:
            m = wrap(exported(tp(self._source)))
            refs = sys.getrefcount(m)
            m[1:2]
            self.assertEqual(sys.getrefcount(m), refs)


class BaseMemorySliceSliceTests:
    source_bytes = b"XabcdefY"

    def _view(self, obj):
        return wrap(exported(obj)[:7][1:])

    def _check_contents(self, tp, obj, data):
        self.assertEqual(contents(obj)[1:7], tp(data))


class BytesMemoryviewTest(unittest.TestCase, BaseMemoryviewTests, BaseBytesMemoryTests):
    pass


class ArrayMemoryviewTest(unittest.TestCase, BaseMemoryviewTests, BaseArrayMemoryTests):

    def test_array_assign(self):
        # bpo-4569: assigning to a view of itemsize > 1.
        a = array.array("i", range(10))
        m = view_of(a)
        new_a = array.array("i", range(9, -1, -1))
        m[:] = new_a
        self.assertEqual(contents(a), new_a)


class BytesMemorySliceTest(unittest.TestCase, BaseMemorySliceTests, BaseBytesMemoryTests):
    pass


class ArrayMemorySliceTest(unittest.TestCase, BaseMemorySliceTests, BaseArrayMemoryTests):
    pass


class BytesMemorySliceSliceTest(unittest.TestCase, BaseMemorySliceSliceTests,
                                BaseBytesMemoryTests):
    pass


class ArrayMemorySliceSliceTest(unittest.TestCase, BaseMemorySliceSliceTests,
                                BaseArrayMemoryTests):
    pass


class OtherTest(unittest.TestCase):
    def test_ctypes_cast(self):
        # bpo-15944: every source format casts to bytes. The double is the segment's 8 bytes.
        p6 = bytes(ctypes.c_double(0.6))
        d = bytearray(8)
        m = view_of(d).cast("B")
        m[:2] = p6[:2]
        m[2:] = p6[2:]
        self.assertEqual(struct.unpack("d", contents(d))[0], 0.6)
        for format in "Bbc":
            with self.subTest(format):
                d = bytearray(8)
                m = view_of(d).cast(format)
                m[:2] = memoryview(p6).cast(format)[:2]
                m[2:] = memoryview(p6).cast(format)[2:]
                self.assertEqual(struct.unpack("d", contents(d))[0], 0.6)

    def test_memoryview_hex(self):
        # bpo-9951: hex() of a non-contiguous view.
        m1 = view_of(b"0" * 200000)
        m2 = m1[::-1]
        self.assertEqual(m2.hex(), "30" * 200000)

    def test_copy(self):
        with self.assertRaises(TypeError):
            copy.copy(view_of(b"abc"))

    def test_pickle(self):
        m = view_of(b"abc")
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            with self.assertRaises(TypeError):
                pickle.dumps(m, proto)

    def test_use_released_memory(self):
        # gh-92888: Python code run in the middle of an operation (an index's __index__, a
        # stored value's __float__ or __bool__) releases the view; the operation must then
        # raise, or work on memory still held, and write nothing. The original replaces its
        # bytearray to catch a write to freed memory; here the segment is read back through
        # a view of its own, which must still hold what it held.
        size = 128

        def release():
            m.release()

        class MyIndex:
            def __index__(self):
                release()
                return 4

        class MyFloat:
            def __float__(self):
                release()
                return 4.25

        class MyBool:
            def __bool__(self):
                release()
                return True

        def fresh(*cast):
            nonlocal source
            source = bytearray(b"\xff" * size)
            v = view_of(source)
            return v.cast(*cast) if cast else v

        def unchanged():
            self.assertEqual(contents(source), b"\xff" * size)

        source = None
        m = fresh()
        with self.assertRaises(ValueError):
            m[MyIndex()]
        m = fresh()
        self.assertEqual(list(m[:MyIndex()]), [255] * 4)
        m = fresh()
        self.assertEqual(list(m[MyIndex():8]), [255] * 4)
        m = fresh("B", (64, 2))
        with self.assertRaisesRegex(ValueError, "operation forbidden"):
            m[MyIndex(), 0]
        m = fresh("B", (2, 64))
        with self.assertRaisesRegex(ValueError, "operation forbidden"):
            m[0, MyIndex()]
        m = fresh()
        with self.assertRaisesRegex(ValueError, "operation forbidden"):
            m[MyIndex()] = 42
        unchanged()
        m = fresh()
        with self.assertRaisesRegex(ValueError, "operation forbidden"):
            m[:MyIndex()] = b"spam"
        unchanged()
        m = fresh()
        with self.assertRaisesRegex(ValueError, "operation forbidden"):
            m[MyIndex():8] = b"spam"
        unchanged()
        m = fresh("B", (64, 2))
        with self.assertRaisesRegex(ValueError, "operation forbidden"):
            m[MyIndex(), 0] = 42
        unchanged()
        m = fresh("B", (2, 64))
        with self.assertRaisesRegex(ValueError, "operation forbidden"):
            m[0, MyIndex()] = 42
        unchanged()
        m = fresh()
        with self.assertRaisesRegex(ValueError, "operation forbidden"):
            m[0] = MyIndex()
        unchanged()
        for fmt in "bhilqnBHILQN":
            with self.subTest(fmt=fmt):
                m = fresh(fmt)
                with self.assertRaisesRegex(ValueError, "operation forbidden"):
                    m[0] = MyIndex()
                unchanged()
        for fmt in "fd":
            with self.subTest(fmt=fmt):
                m = fresh(fmt)
                with self.assertRaisesRegex(ValueError, "operation forbidden"):
                    m[0] = MyFloat()
                unchanged()
        m = fresh("?")
        with self.assertRaisesRegex(ValueError, "operation forbidden"):
            m[0] = MyBool()
        unchanged()


if __name__ == "__main__":
    unittest.main()

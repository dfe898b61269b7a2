#!/usr/bin/python3
"""shmview(1) end to end, against a real shmviewd on a temporary socket.

Every command's human and JSON output (the JSON parsed), exit statuses, the error message
for each kind of bad input, dump and write of large segments in bounded memory (the child's
peak resident size), watch seeing events that other processes cause, and what another uid may
and may not do. The paths come from CTest: SHMVIEW_CLI, SHMVIEWD, SHMVIEW_VIEW_HOLDER (a
small libshmview client that holds views) and SHMVIEW_SOURCE_DIR.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

CLI = os.environ["SHMVIEW_CLI"]
DAEMON = os.environ["SHMVIEWD"]
HOLDER = os.environ["SHMVIEW_VIEW_HOLDER"]
SOURCE = os.environ["SHMVIEW_SOURCE_DIR"]

MiB = 1 << 20
NOBODY = 65534

daemon = None
daemon_log = None
tmpdir = None
sock = None


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def daemon_fds():
    return len(os.listdir("/proc/%d/fd" % daemon.pid))


def setUpModule():
    global daemon, daemon_log, tmpdir, sock
    tmpdir = tempfile.mkdtemp(prefix="shmview-cli-")
    os.chmod(tmpdir, 0o755)  # other uids reach the socket
    sock = os.path.join(tmpdir, "shmview.sock")
    daemon_log = open(os.path.join(tmpdir, "daemon.log"), "w+")
    daemon = subprocess.Popen(
        [DAEMON, "--socket", sock, "--socket-mode", "0666", "--max-bytes", "1536M"],
        stdout=daemon_log, stderr=daemon_log)
    os.environ["SHMVIEW_SOCKET"] = sock
    wait_listening(daemon, sock)


def wait_listening(proc, path):
    """Until the daemon proc accepts connections on path (the socket file exists a moment
    before it listens)."""
    for _ in range(500):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("shmviewd exited during start-up")
            time.sleep(0.01)
    raise RuntimeError("shmviewd does not answer on " + path)


def tearDownModule():
    daemon.send_signal(signal.SIGTERM)
    status = daemon.wait(30)
    daemon_log.seek(0)
    log = daemon_log.read()
    daemon_log.close()
    shutil.rmtree(tmpdir, ignore_errors=True)
    if status != 0:
        sys.stderr.write(log)
        raise RuntimeError("shmviewd exited with status %d on SIGTERM" % status)


def run(*args, input=None, user=None, env=None, check=None):
    """Runs shmview with args; returns (exit status, stdout, stderr) as text."""
    kw = {}
    if user is not None:
        kw = dict(user=user, group=user, extra_groups=[])
    p = subprocess.run([CLI] + list(args), input=input, capture_output=True, env=env,
                       timeout=120, **kw)
    out = p.stdout.decode("utf-8", "surrogateescape")
    err = p.stderr.decode("utf-8", "surrogateescape")
    if check is not None and p.returncode != check:
        raise AssertionError("shmview %s: exit %d, wanted %d\nstdout: %s\nstderr: %s"
                             % (" ".join(args), p.returncode, check, out, err))
    return p.returncode, out, err


def ok(*args, **kw):
    return run(*args, check=0, **kw)[1]


def run_bytes(*args, input=None):
    p = subprocess.run([CLI] + list(args), input=input, capture_output=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def xxd(data, offset=0):
    """What xxd prints for data starting at offset."""
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        groups = [chunk[j:j + 2].hex() for j in range(0, 16, 2)]
        hexpart = " ".join(groups).ljust(39)
        text = "".join(chr(b) if 0x20 <= b < 0x7f else "." for b in chunk)
        lines.append("%08x: %s  %s\n" % (offset + i, hexpart, text))
    return "".join(lines)


class Holder:
    """view-holder holding views until closed (or killed)."""

    def __init__(self, *views, user=None):
        args = [HOLDER, "hold"]
        for v in views:
            args += [str(x) for x in v]
        kw = dict(user=user, group=user, extra_groups=[]) if user is not None else {}
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, **kw)
        line = self.p.stdout.readline()
        if line != b"ready\n":
            self.p.kill()
            raise AssertionError("view-holder: " + self.p.stderr.read().decode())
        self.pid = self.p.pid

    def close(self):
        self.p.stdin.close()
        self.p.wait(30)
        self.p.stdout.close()
        self.p.stderr.close()

    def kill(self):
        self.p.kill()
        self.p.wait(30)
        self.p.stdin.close()
        self.p.stdout.close()
        self.p.stderr.close()


class CliTest(unittest.TestCase):
    counter = 0

    def setUp(self):
        # The daemon settles after the previous test's clients went away.
        self.baseline = self.settled_fds()
        self.names = []

    def tearDown(self):
        for n in self.names:
            run("rm", n)
        for _ in range(300):
            if daemon_fds() == self.baseline:
                break
            time.sleep(0.01)
        self.assertEqual(daemon_fds(), self.baseline, "the daemon leaked descriptors")
        self.assertIsNone(daemon.poll(), "the daemon died")

    @staticmethod
    def settled_fds():
        last, same = -1, 0
        for _ in range(200):
            now = daemon_fds()
            same = same + 1 if now == last else 0
            if same >= 3:
                break
            last = now
            time.sleep(0.01)
        return last

    def name(self, prefix="seg"):
        CliTest.counter += 1
        n = "%s-%d-%d" % (prefix, os.getpid(), CliTest.counter)
        self.names.append(n)
        return n

    def wait_watching(self, pid):
        for _ in range(500):
            if any(c["watching"] and c["pid"] == pid
                   for c in json.loads(ok("clients", "--json"))):
                return
            time.sleep(0.01)
        self.fail("the watch never started")

    def assertFails(self, args, status, message, **kw):
        """shmview args exits with status, and stderr is exactly message (a regex for the
        first line) in the shmview: COMMAND: WHAT: WHY form."""
        code, out, err = run(*args, **kw)
        self.assertEqual(code, status, "shmview %s: stderr %r" % (" ".join(args), err))
        first = err.split("\n")[0]
        self.assertRegex(first, "^" + message + "$")
        if status == 2:
            self.assertRegex(err, r"\nTry 'shmview( \w+)? --help'\.\n$")
        self.assertEqual(out, "")
        return err


class TestHelp(CliTest):
    def test_version(self):
        self.assertRegex(ok("--version"), r"^shmview \d+\.\d+\.\d+\n$")

    def test_help(self):
        out = ok("--help")
        self.assertTrue(out.startswith("Usage: shmview "))
        for cmd in ("ls", "stat", "create", "rm", "seal", "wait", "notify", "dump", "write", "clients",
                    "status", "watch"):
            self.assertRegex(out, r"\n  %s +\w" % cmd)
            sub = ok(cmd, "--help")
            self.assertTrue(sub.startswith("Usage: shmview %s" % cmd), sub)
            self.assertIn("--socket PATH", sub)
            self.assertEqual(ok("help", cmd), sub)
        self.assertIn("--format FORMAT", ok("dump", "-h"))
        self.assertEqual(ok("help"), out)

    def test_usage_errors(self):
        code, out, err = run()
        self.assertEqual(code, 2)
        self.assertTrue(err.startswith("Usage: shmview "))
        self.assertFails(["frobnicate"], 2, "shmview: frobnicate: unknown command")
        self.assertFails(["--frob"], 2, "shmview: --frob: unknown option")
        self.assertFails(["help", "frob"], 2, "shmview: frob: unknown command")
        self.assertFails(["ls", "--frob"], 2, "shmview: ls: --frob: unknown option")
        self.assertFails(["ls", "-x"], 2, "shmview: ls: -x: unknown option")
        self.assertFails(["ls", "extra"], 2, "shmview: ls: extra: unexpected argument")
        self.assertFails(["stat"], 2, "shmview: stat: NAME: missing argument")
        self.assertFails(["stat", "a", "b"], 2, "shmview: stat: b: unexpected argument")
        self.assertFails(["create", "a"], 2, "shmview: create: SIZE: missing argument")
        self.assertFails(["rm"], 2, r"shmview: rm: NAME\.\.\.: missing argument")
        self.assertFails(["dump", "x", "--offset"], 2, "shmview: dump: --offset: wants an argument")
        # Options a command does not take.
        self.assertFails(["rm", "x", "--json"], 2, "shmview: rm: --json: unknown option")
        self.assertFails(["create", "x", "4K", "--offset", "1"], 2,
                         "shmview: create: --offset: unknown option")
        self.assertFails(["ls", "--names", "--json"], 2,
                         "shmview: ls: --names: goes with neither --json nor --bytes")


class TestSegments(CliTest):
    def ls_json(self, *args):
        data = json.loads(ok("ls", "--json", *args))
        self.assertIsInstance(data, list)
        return {s["name"]: s for s in data}

    def test_sizes(self):
        cases = [("4096", 4096), ("64K", 64 << 10), ("64k", 64 << 10), ("1M", 1 << 20),
                 ("3MiB", 3 << 20), ("0x1000", 4096), ("100B", 100), ("64M", 64 << 20)]
        if mem_available() > 3 << 30:
            cases += [("1G", 1 << 30), ("1GiB", 1 << 30)]
        for text, size in cases:
            n = self.name("size")
            ok("create", n, text)
            self.assertEqual(self.ls_json()[n]["size"], size, text)
            ok("rm", n)

    def test_create_ls_stat(self):
        a, b = self.name("alpha"), self.name("beta")
        self.assertEqual(ok("create", a, "64K", "--mode", "0640"), "")
        ok("create", b, "100")
        self.assertEqual(ok("ls", "--names").split("\n").count(a), 1)

        out = ok("ls")
        lines = out.rstrip("\n").split("\n")
        self.assertRegex(lines[0],
                         r"^NAME +SIZE  MODE +OWNER +GROUP +RO  RW  SEALED  AGE$")
        row = next(l for l in lines if l.startswith(a + " "))
        self.assertRegex(row, r"^%s +64K  rw-r-----  root +root +0 +0  no +\d+s$" % a)
        row = next(l for l in lines if l.startswith(b + " "))
        self.assertRegex(row, r"^%s +100B  rw------- .* no " % b)
        # Columns line up: SIZE is right-aligned, so every row ends it where the header does.
        end = lines[0].index("SIZE") + 4
        for l in lines[1:]:
            self.assertEqual(l[end - 1], l[end - 1].strip() or "x", l)
            self.assertEqual(l[end], " ")
        self.assertRegex(ok("ls", "--bytes"), r"\n%s +65536  rw-r-----" % a)

        seg = self.ls_json()[a]
        self.assertEqual(set(seg), {"name", "size", "mode", "uid", "user", "gid", "group",
                                    "sealed", "views_ro", "views_rw", "created_usec",
                                    "created", "generation"})
        self.assertEqual((seg["size"], seg["mode"], seg["uid"], seg["gid"], seg["sealed"]),
                         (65536, "0640", os.getuid(), os.getgid(), False))
        self.assertEqual((seg["views_ro"], seg["views_rw"]), (0, 0))
        self.assertLess(abs(seg["created_usec"] / 1e6 - time.time()), 60)
        self.assertRegex(seg["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertEqual(seg["user"], "root" if os.getuid() == 0 else seg["user"])

        out = ok("stat", a)
        self.assertRegex(out, r"^name: +%s\n" % a)
        self.assertIn("\nsize:     64K (65536 bytes)\n", out)
        self.assertIn("\nmode:     0640 (rw-r-----)\n", out)
        self.assertRegex(out, r"\nowner: +\S+ \(uid %d\)\n" % os.getuid())
        self.assertIn("\nsealed:   no\n", out)
        self.assertRegex(out, r"\ncreated: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \(\d+s ago\)\n")
        self.assertIn("\nviews:    0 read-only, 0 writable\n", out)
        st = json.loads(ok("stat", a, "--json"))
        self.assertEqual(st["views"], [])
        self.assertEqual({k: v for k, v in st.items() if k != "views"}, seg)

    def test_stat_views(self):
        n = self.name("viewed")
        ok("create", n, "2M", "--mode", "0644")
        h1 = Holder((n, 4096, 100, "ro"), (n, 0, 2 * MiB, "rw"))
        h2 = Holder((n, MiB, MiB, "ro"))
        try:
            out = ok("stat", n)
            self.assertIn("\nviews:    2 read-only, 1 writable\n", out)
            table = out.split("\n\n", 1)[1].rstrip("\n").split("\n")
            self.assertRegex(table[0], r"^CLIENT +PID +USER +COMMAND +MODE +OFFSET +LENGTH$")
            self.assertEqual(len(table), 4)
            self.assertRegex(table[1], r"^ *\d+ +%d +\S+ +view-holder +ro +4K +100B$" % h1.pid)
            self.assertRegex(table[2], r"^ *\d+ +%d +\S+ +view-holder +rw +0B +2M$" % h1.pid)
            self.assertRegex(table[3], r"^ *\d+ +%d +\S+ +view-holder +ro +1M +1M$" % h2.pid)
            self.assertRegex(ok("stat", n, "--bytes"), r"\n.* ro +4096 +100\n")

            st = json.loads(ok("stat", n, "--json"))
            self.assertEqual((st["views_ro"], st["views_rw"]), (2, 1))
            views = st["views"]
            self.assertEqual([(v["offset"], v["length"], v["writable"]) for v in views],
                             [(4096, 100, False), (0, 2 * MiB, True), (MiB, MiB, False)])
            for v, pid in zip(views, (h1.pid, h1.pid, h2.pid)):
                self.assertEqual(set(v), {"client", "view_id", "offset", "length", "writable"})
                self.assertEqual(set(v["client"]), {"client_id", "pid", "uid", "user", "gid",
                                                    "group", "command"})
                self.assertEqual((v["client"]["pid"], v["client"]["uid"], v["client"]["command"]),
                                 (pid, os.getuid(), "view-holder"))
            self.assertEqual(views[0]["client"]["client_id"], views[1]["client"]["client_id"])
            self.assertNotEqual(views[0]["client"]["client_id"], views[2]["client"]["client_id"])
            seg = self.ls_json()[n]
            self.assertEqual((seg["views_ro"], seg["views_rw"]), (2, 1))
        finally:
            h1.close()
            h2.close()
        self.assertIn("\nviews:    0 read-only, 0 writable\n", ok("stat", n))

    def test_rm_seal(self):
        a, b, c = self.name("rm"), self.name("rm"), self.name("rm")
        for n in (a, b, c):
            ok("create", n, "4K")
        self.assertEqual(ok("rm", a, b), "")
        names = ok("ls", "--names").split("\n")
        self.assertNotIn(a, names)
        self.assertNotIn(b, names)
        # One missing name fails that one, not the others.
        d = self.name("rm")
        ok("create", d, "4K")
        # The daemon's own message is the WHY.
        self.assertFails(["rm", a, d], 1, "shmview: rm: %s: no such segment: %s" % (a, a))
        self.assertNotIn(d, ok("ls", "--names").split("\n"))
        # A bad name is refused before anything is unlinked.
        self.assertFails(["rm", c, "x/y"], 2,
                         r"shmview: rm: x/y: not a segment name \(1 to 255 bytes, no '/', no "
                         r"control or invisible characters, not '\.' or '\.\.'\)")
        self.assertIn(c, ok("ls", "--names").split("\n"))

        h = Holder((c, 0, 10, "rw"))
        try:
            self.assertFails(["seal", c], 1,
                             "shmview: seal: %s: writable views are open: %s" % (c, c))
        finally:
            h.close()
        self.assertEqual(ok("seal", c), "")
        self.assertEqual(ok("seal", c), "")
        self.assertTrue(json.loads(ok("stat", c, "--json"))["sealed"])
        self.assertIn("\nsealed:   yes\n", ok("stat", c))
        self.assertFails(["write", c], 1,
                         "shmview: write: %s: cannot open a sealed segment writable: %s" % (c, c),
                         input=b"x")
        self.assertEqual(run_bytes("dump", c, "--format", "raw", "--length", "2")[1], b"\0\0")
        self.assertFails(["seal", "nothing-here"], 1,
                         "shmview: seal: nothing-here: no such segment: nothing-here")

    def test_bad_input(self):
        n = self.name("bad")
        ok("create", n, "4K")
        bad_name = (r"not a segment name \(1 to 255 bytes, no '/', no control or invisible "
                    r"characters, not '\.' or '\.\.'\)")
        self.assertFails(["create", "a/b", "4K"], 2, "shmview: create: a/b: " + bad_name)
        self.assertFails(["create", "..", "4K"], 2, r"shmview: create: \.\.: " + bad_name)
        self.assertFails(["create", "", "4K"], 2, "shmview: create: '': " + bad_name)
        self.assertFails(["create", "tab\there", "4K"], 2,
                         r"shmview: create: tab\\x09here: " + bad_name)
        self.assertFails(["create", "x" * 256, "4K"], 2, "shmview: create: x{256}: " + bad_name)
        # Characters that show as nothing (issue 13): refused, and shown escaped.
        self.assertFails(["create", "frames\u200b", "4K"], 2,
                         r"shmview: create: frames\\xe2\\x80\\x8b: " + bad_name)
        self.assertFails(["stat", "\u202eframes"], 2,
                         r"shmview: stat: \\xe2\\x80\\xaeframes: " + bad_name)
        self.assertFails(["create", "a\u00a0b", "4K"], 2, r"shmview: create: a\\xc2\\xa0b: " + bad_name)
        self.assertFails(["stat", "a/b"], 2, "shmview: stat: a/b: " + bad_name)
        self.assertFails(["dump", "a/b"], 2, "shmview: dump: a/b: " + bad_name)
        sizes = r"\(bytes, or with K, M, G, T, P, E: 4096, 64K, 1G, 1GiB, 0x1000\)"
        for size in ("12Q", "64KB", "1.5G", "", "K", "0x", "4 K", "0x1G"):
            self.assertFails(["create", self.name(), size], 2,
                             "shmview: create: size: '%s' is not a size %s" % (re.escape(size), sizes))
        self.assertFails(["create", self.name(), "0"], 2,
                         "shmview: create: size: '0': a segment holds at least 1 byte")
        self.assertFails(["create", self.name(), "99999999999999999999"], 2,
                         "shmview: create: size: '99999999999999999999' is too large")
        self.assertFails(["create", self.name(), "16E"], 2, "shmview: create: size: '16E' is too large")
        modes = r"is not a mode \(octal permission bits up to 7777, e.g. 0640\)"
        for mode in ("9", "0999", "rw", "17777", "", "-1"):
            self.assertFails(["create", self.name(), "4K", "--mode", mode], 2,
                             "shmview: create: --mode: '%s' %s" % (mode, modes))
        self.assertFails(["create", self.name(), "4K", "--mode", "0"], 2,
                         "shmview: create: --mode: '0' grants nothing; a segment needs some permission")
        # What the daemon refuses, it says why in its own words, naming the limit.
        self.assertFails(["create", n, "4K"], 1, "shmview: create: %s: segment exists: %s" % (n, n))
        big = self.name("big")
        self.assertFails(["create", big, "1E"], 1,
                         r"shmview: create: %s: out of memory budget: max_bytes would be passed "
                         r"\(1152921504606846976 bytes for %s\)" % (big, big))
        self.assertFails(["create", big, "2G"], 1,
                         r"shmview: create: %s: out of memory budget: max_bytes would be passed "
                         r"\(2147483648 bytes for %s\)" % (big, big))
        self.assertFails(["stat", "nothing-here"], 1,
                         "shmview: stat: nothing-here: no such segment: nothing-here")
        self.assertFails(["dump", "nothing-here"], 1,
                         "shmview: dump: nothing-here: no such segment: nothing-here")
        self.assertFails(["write", "nothing-here"], 1,
                         "shmview: write: nothing-here: no such segment: nothing-here", input=b"")
        self.assertFails(["dump", n, "--offset", "4097"], 1,
                         "shmview: dump: %s: offset 4097 is past the end of the segment "
                         r"\(4096 bytes\)" % n)
        # A length past the end prints what there is, as xxd -s -l does.
        self.assertEqual(ok("dump", n, "--offset", "4K", "--length", "1"), "")
        self.assertEqual(ok("dump", n, "--length", "8K"), xxd(bytes(4096)))
        self.assertFails(["dump", n, "--offset", "x"], 2,
                         r"shmview: dump: --offset: 'x' is not an offset \(bytes, or with K, M, "
                         r"G, T, P, E: 4096, 64K, 1G, 1GiB, 0x1000\)")
        self.assertFails(["dump", n, "--length", "1Z"], 2,
                         r"shmview: dump: --length: '1Z' is not a length \(bytes, or with K, M, "
                         r"G, T, P, E: 4096, 64K, 1G, 1GiB, 0x1000\)")
        self.assertFails(["dump", n, "--format", "octal"], 2,
                         r"shmview: dump: --format: 'octal' is not a format \(hex or raw\)")
        self.assertFails(["write", n, "--offset", "5000"], 1,
                         "shmview: write: %s: offset 5000 is past the end of the segment "
                         r"\(4096 bytes\)" % n, input=b"")
        self.assertFails(["write", n, "--offset", "-4"], 2,
                         r"shmview: write: --offset: '-4' is not an offset .*", input=b"")
        # Nothing above harmed the daemon or the segment.
        self.assertEqual(json.loads(ok("stat", n, "--json"))["size"], 4096)

    def test_socket(self):
        n = self.name("sock")
        ok("create", n, "4K")
        env = dict(os.environ)
        del env["SHMVIEW_SOCKET"]
        env["XDG_RUNTIME_DIR"] = tmpdir  # not where the daemon listens
        self.assertIn(n, ok("--socket", sock, "ls", "--names", env=env).split("\n"))
        self.assertIn(n, ok("ls", "--names", "--socket", sock, env=env).split("\n"))
        missing = os.path.join(tmpdir, "nobody-here.sock")
        msg = r"no socket at %s \(is shmviewd running\?\)"
        for cmd in (["ls"], ["stat", n], ["create", "x", "4K"], ["rm", n], ["seal", n],
                    ["dump", n], ["write", n], ["clients"], ["status"], ["watch"]):
            self.assertFails(cmd + ["--socket", missing], 1,
                             "shmview: %s: %s" % (cmd[0], msg % re.escape(missing)), input=b"")
        self.assertFails(["ls", "--json", "--socket", "/nonexistent/x.sock"], 1,
                         "shmview: ls: %s" % (msg % "/nonexistent/x.sock"))
        if os.getuid() == 0:
            default = "/run/shmview/shmview.sock"
            env = {k: v for k, v in env.items() if k != "XDG_RUNTIME_DIR"}
            if not os.path.exists(default):
                self.assertFails(["ls"], 1, "shmview: ls: %s" % (msg % default), env=env)
        # Something that is not a socket, a socket nobody listens on, one we may not use.
        self.assertFails(["ls", "--socket", "/etc/passwd"], 1,
                         "shmview: ls: /etc/passwd is not a socket but a regular file")
        self.assertFails(["status", "--socket", tmpdir], 1,
                         "shmview: status: %s is not a socket but a directory" % re.escape(tmpdir))
        self.assertFails(["ls", "--socket", "/etc/passwd/x.sock"], 1,
                         "shmview: ls: no socket at /etc/passwd/x.sock: a component of the path "
                         "is not a directory")
        stale = os.path.join(tmpdir, "stale.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(stale)
        try:
            self.assertFails(["ls", "--socket", stale], 1,
                             r"shmview: ls: nobody is listening on %s \(a daemon that stopped "
                             r"left its socket\?\)" % re.escape(stale))
        finally:
            os.unlink(stale)
        if os.getuid() == 0:
            private = os.path.join(tmpdir, "private.sock")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.bind(private)
                os.chmod(private, 0o600)
                s.listen(1)
                self.assertFails(["ls", "--socket", private], 1,
                                 r"shmview: ls: permission denied to connect to %s \(the "
                                 r"socket's mode or group, or a directory on the way\)"
                                 % re.escape(private), user=NOBODY)
            os.unlink(private)
        # A socket nobody accepts on (a socket-activated daemon that cannot start): the
        # command fails after $SHMVIEW_TIMEOUT_MS instead of waiting forever.
        silent = os.path.join(tmpdir, "silent.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(silent)
        srv.listen(8)
        try:
            env = dict(os.environ, SHMVIEW_TIMEOUT_MS="200")
            self.assertFails(["ls", "--socket", silent], 1,
                             "shmview: ls: %s: the daemon did not answer in time \\(the "
                             "client's timeout\\)" % re.escape(silent), env=env)
            env["SHMVIEW_TIMEOUT_MS"] = "soon"
            self.assertFails(["ls", "--socket", silent], 1,
                             r"shmview: ls: SHMVIEW_TIMEOUT_MS is 'soon', not a timeout "
                             r"\(milliseconds above 0, or -1 for none\)", env=env)
        finally:
            srv.close()
            os.unlink(silent)
        self.assertFails(["ls", "--socket", ""], 2, "shmview: ls: --socket: wants a path")
        self.assertFails(["--socket", "", "ls"], 2, "shmview: --socket: wants a path")
        self.assertFails(["ls", "--socket", "x" * 200], 1,
                         r"shmview: ls: x{200}: socket path too long \(at most 107 bytes\)")

    def test_names_shown_safely(self):
        utf8 = "caf\u00e9-%d" % os.getpid()
        raw = b"bad\xff-%d" % os.getpid()
        self.names += [utf8, raw.decode("utf-8", "surrogateescape")]
        ok("create", utf8, "4K")
        subprocess.run([CLI, "create", raw, "4K"], check=True)
        out = ok("ls")
        self.assertRegex(out, r"\n%s +4K " % utf8)
        self.assertRegex(out, r"\nbad\\xff-%d +4K " % os.getpid())
        names = run_bytes("ls", "--names")[1].split(b"\n")
        self.assertIn(raw, names)
        self.assertIn(utf8.encode(), names)
        segs = self.ls_json()
        self.assertIn(utf8, segs)
        self.assertIn("bad\ufffd-%d" % os.getpid(), segs)
        code, _, _ = run_bytes("rm", raw)
        self.assertEqual(code, 0)


class TestData(CliTest):
    def test_write_dump(self):
        n = self.name("data")
        ok("create", n, "100")
        payload = bytes(range(256))[:70]
        self.assertEqual(ok("write", n, "--offset", "10", input=payload), "")
        expected = bytes(10) + payload + bytes(20)
        code, out, err = run_bytes("dump", n, "--format", "raw")
        self.assertEqual((code, out, err), (0, expected, b""))
        self.assertEqual(ok("dump", n), xxd(expected))
        self.assertEqual(ok("dump", n, "--format", "hex"), xxd(expected))
        self.assertEqual(ok("dump", n, "--offset", "13", "--length", "33"),
                         xxd(expected[13:46], 13))
        self.assertEqual(run_bytes("dump", n, "--format", "raw", "--offset", "0x10",
                                   "--length", "5")[1], expected[16:21])
        self.assertEqual(ok("dump", n, "--offset", "100"), "")
        self.assertEqual(ok("dump", n, "--length", "0"), "")
        if shutil.which("xxd"):
            real = subprocess.run(["xxd"], input=expected, capture_output=True).stdout.decode()
            self.assertEqual(ok("dump", n), real)
            real = subprocess.run(["xxd", "-o", "13"], input=expected[13:46],
                                  capture_output=True).stdout.decode()
            self.assertEqual(ok("dump", n, "--offset", "13", "--length", "33"), real)

        # From a regular file, and from a file read partly already.
        path = os.path.join(tmpdir, "input")
        with open(path, "wb") as f:
            f.write(b"0123456789")
        with open(path, "rb") as f:
            self.assertEqual(subprocess.run([CLI, "write", n, "--offset", "90"], stdin=f).returncode, 0)
        self.assertEqual(run_bytes("dump", n, "--format", "raw", "--offset", "90")[1], b"0123456789")
        with open(path, "rb") as f:
            f.seek(4)
            self.assertEqual(subprocess.run([CLI, "write", n], stdin=f).returncode, 0)
        self.assertEqual(run_bytes("dump", n, "--format", "raw", "--length", "6")[1], b"456789")
        # Empty input at the very end is fine and writes nothing.
        self.assertEqual(ok("write", n, "--offset", "100", input=b""), "")

    def test_write_too_long(self):
        n = self.name("long")
        ok("create", n, "4K")
        ok("write", n, input=b"A" * 4096)
        before = run_bytes("dump", n, "--format", "raw")[1]
        msg = ("shmview: write: %s: the input is longer than the %d bytes from offset %d to "
               "the end of the segment; nothing written")
        # From a pipe: the input is read, up to one byte past the room, before any write.
        self.assertFails(["write", n], 1, msg % (n, 4096, 0), input=b"B" * 4097)
        self.assertFails(["write", n, "--offset", "4000"], 1, msg % (n, 96, 4000),
                         input=b"B" * 10 * MiB)
        self.assertFails(["write", n, "--offset", "4096"], 1, msg % (n, 0, 4096), input=b"B")
        # From a file: its length says so at once.
        path = os.path.join(tmpdir, "too-long")
        with open(path, "wb") as f:
            f.write(b"C" * 97)
        with open(path, "rb") as f:
            p = subprocess.run([CLI, "write", n, "--offset", "4000"], stdin=f,
                               capture_output=True)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stderr.decode(), msg % (n, 96, 4000) + "\n")
        self.assertEqual(run_bytes("dump", n, "--format", "raw")[1], before)
        # Exactly the room left is fine.
        ok("write", n, "--offset", "4000", input=b"D" * 96)
        self.assertEqual(run_bytes("dump", n, "--format", "raw")[1], b"A" * 4000 + b"D" * 96)

    @staticmethod
    def peak_rss(pid):
        """The peak resident size of a running process (VmHWM; its own since its exec), or 0
        once it is gone. Not ru_maxrss: that includes the forked test process before exec."""
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def run_sampled(self, args, step, **kw):
        """Runs shmview args; step(proc) is called until it returns False, and the child's
        peak resident size sampled after each call. Returns (exit status, peak bytes)."""
        p = subprocess.Popen([CLI] + args, **kw)
        peak = 0
        while step(p):
            peak = max(peak, self.peak_rss(p.pid))
        # The rest of its work (write maps the segment once its input has ended).
        while p.poll() is None:
            peak = max(peak, self.peak_rss(p.pid))
            time.sleep(0.001)
        return p.wait(60), peak

    def idle_rss(self):
        """The peak resident size of an idle shmview (a watch), measured in this same run: the
        baseline the bounded commands are held to."""
        w = subprocess.Popen([CLI, "watch"], stdout=subprocess.DEVNULL)
        try:
            self.wait_watching(w.pid)
            return self.peak_rss(w.pid)
        finally:
            w.send_signal(signal.SIGINT)
            w.wait(30)

    def test_large_bounded_memory(self):
        size = 512 * MiB if mem_available() > 2 << 30 else 256 * MiB
        n = self.name("large")
        ok("create", n, str(size))
        # Marks at known places; zeros elsewhere.
        marks = {0: b"first", size // 3: b"third" * 1000, size - 5: b"last!"}
        for off, data in marks.items():
            ok("write", n, "--offset", str(off), input=data)

        idle = self.idle_rss()
        self.assertGreater(idle, 0)

        got, zeros, found = [0], [0], []

        def check(p):
            buf = p.stdout.read(4 * MiB)
            if not buf:
                p.stdout.close()
                return False
            for off, data in marks.items():
                if got[0] <= off < got[0] + len(buf):
                    found.append((off, buf[off - got[0]:off - got[0] + len(data)]))
            zeros[0] += buf.count(0)
            got[0] += len(buf)
            return True

        code, rss = self.run_sampled(["dump", n, "--format", "raw"], check,
                                     stdout=subprocess.PIPE)
        self.assertEqual(code, 0)
        self.assertEqual(got[0], size)
        self.assertEqual(zeros[0], size - sum(len(d) for d in marks.values()))
        self.assertEqual(len(found), len(marks))
        for off, data in found:
            self.assertEqual(data, marks[off][:len(data)])
        print("\nidle shmview: peak RSS %.1f MiB; dump --format raw of %d MiB: %.1f MiB"
              % (idle / MiB, size // MiB, rss / MiB), file=sys.stderr)
        self.assertLess(rss, idle + 32 * MiB)

        # Hex reads every byte too.
        length = 64 * MiB
        lines = [0]

        def count_lines(p):
            buf = p.stdout.read(4 * MiB)
            if not buf:
                p.stdout.close()
                return False
            lines[0] += buf.count(b"\n")
            return True

        code, rss = self.run_sampled(["dump", n, "--length", str(length)], count_lines,
                                     stdout=subprocess.PIPE)
        self.assertEqual((code, lines[0]), (0, length // 16))
        print("dump (hex) of %d MiB: peak RSS %.1f MiB" % (length // MiB, rss / MiB),
              file=sys.stderr)
        self.assertLess(rss, idle + 32 * MiB)

        # write from a pipe, as large as the segment.
        pattern = hashlib.sha256(b"shmview").digest() * (MiB // 32)
        left = [size // MiB]

        def feed(p):
            if left[0] == 0:
                p.stdin.close()
                return False
            p.stdin.write(pattern)
            left[0] -= 1
            return True

        code, rss = self.run_sampled(["write", n], feed, stdin=subprocess.PIPE)
        self.assertEqual(code, 0)
        print("write of %d MiB from a pipe: peak RSS %.1f MiB" % (size // MiB, rss / MiB),
              file=sys.stderr)
        self.assertLess(rss, idle + 32 * MiB)
        h = hashlib.sha256()
        p = subprocess.Popen([CLI, "dump", n, "--format", "raw"], stdout=subprocess.PIPE)
        while True:
            buf = p.stdout.read(4 * MiB)
            if not buf:
                break
            h.update(buf)
        p.stdout.close()
        self.assertEqual(p.wait(), 0)
        self.assertEqual(h.hexdigest(), hashlib.sha256(pattern * (size // MiB)).hexdigest())


class TestDaemon(CliTest):
    def test_clients(self):
        n = self.name("cl")
        ok("create", n, "1M")
        h = Holder((n, 0, 1000, "ro"), (n, 4096, 8192, "rw"))
        try:
            data = json.loads(ok("clients", "--json"))
            self.assertIsInstance(data, list)
            for c in data:
                self.assertEqual(set(c), {"client_id", "pid", "uid", "user", "gid", "group",
                                          "command", "views", "bytes_mapped", "connected_usec",
                                          "watching", "self", "waits", "armed"})
            ids = [c["client_id"] for c in data]
            self.assertEqual(ids, sorted(ids))
            holder = [c for c in data if c["pid"] == h.pid]
            self.assertEqual(len(holder), 1)
            self.assertEqual((holder[0]["command"], holder[0]["views"],
                              holder[0]["bytes_mapped"], holder[0]["watching"],
                              holder[0]["self"], holder[0]["uid"]),
                             ("view-holder", 2, 9192, False, False, os.getuid()))
            me = [c for c in data if c["self"]]
            self.assertEqual(len(me), 1)
            self.assertEqual((me[0]["command"], me[0]["views"]), ("shmview", 0))

            out = ok("clients")
            lines = out.rstrip("\n").split("\n")
            self.assertRegex(lines[0], r"^ *ID +PID +USER +COMMAND +VIEWS +MAPPED +AGE +NOTE$")
            row = next(l for l in lines if re.search(r" %d +\S+ +view-holder " % h.pid, l))
            self.assertRegex(row, r" view-holder +2 +9\.0K +\d+s *$")
            self.assertRegex(ok("clients", "--bytes"), r" view-holder +2 +9192 +\d+s")
            self.assertRegex(out, r" shmview +0 +0B +\d+s  this command\n")
        finally:
            h.close()

    def test_status(self):
        before = json.loads(ok("status", "--json"))
        self.assertEqual(set(before), {"version", "protocol_version", "socket", "started_usec",
                                       "started", "uptime_usec", "clients", "watchers",
                                       "segments", "segments_unlinked", "views", "bytes_used",
                                       "watch_queue_bytes", "waits", "armed", "limits"})
        self.assertEqual(set(before["limits"]), {
            "max_bytes", "max_segments", "max_clients", "max_views_per_client",
            "max_clients_per_uid", "max_bytes_per_uid", "max_segments_per_uid",
            "max_views_per_uid", "stall_timeout_ms", "max_frame",
            "max_fds_per_message", "max_name_len", "list_page_size"})
        self.assertEqual(before["version"], ok("--version").split()[1])
        self.assertEqual(before["protocol_version"], 1)
        self.assertEqual(before["socket"], sock)
        self.assertEqual(before["limits"]["max_bytes"], 1536 * MiB)
        self.assertEqual(before["limits"]["max_name_len"], 255)
        self.assertGreaterEqual(before["clients"], 1)
        self.assertGreater(before["uptime_usec"], 0)
        self.assertRegex(before["started"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

        a, b = self.name("st"), self.name("st")
        ok("create", a, "1M")
        ok("create", b, "2M")
        h = Holder((b, 0, 10, "ro"))
        try:
            ok("rm", b)  # held by the view: unlinked, still there
            # Connections of the commands above may still be closing at the daemon.
            for _ in range(300):
                st = json.loads(ok("status", "--json"))
                if st["clients"] == before["clients"] + 1:
                    break
                time.sleep(0.01)
            self.assertEqual(st["segments"], before["segments"] + 1)
            self.assertEqual(st["segments_unlinked"], before["segments_unlinked"] + 1)
            self.assertEqual(st["bytes_used"], before["bytes_used"] + 3 * MiB)
            self.assertEqual(st["views"], before["views"] + 1)
            self.assertEqual(st["clients"], before["clients"] + 1)
            out = ok("status")
            self.assertRegex(out, r"^daemon: +shmviewd \S+, protocol 1\n")
            self.assertIn("\nsocket:    %s\n" % sock, out)
            self.assertRegex(out, r"\nuptime: +\d+[smhd].* \(since \d{4}-\d\d-\d\d ")
            self.assertRegex(out, r"\nclients: +%d \(0 watching\)\n" % st["clients"])
            self.assertRegex(out, r"\nsegments: +%d \(and %d unlinked, still held by views\)\n"
                             % (st["segments"], st["segments_unlinked"]))
            self.assertRegex(out, r"\nviews: +%d\n" % st["views"])
            self.assertIn(" of 1.5G (max_bytes)\n", out)
            self.assertRegex(out, r"\n  max_bytes +1\.5G\n")
            self.assertRegex(ok("status", "--bytes"), r"\n  max_bytes +%d\n" % (1536 * MiB))
        finally:
            h.close()
        # The last view gone, the unlinked segment goes too.
        for _ in range(300):
            after = json.loads(ok("status", "--json"))
            if after["segments_unlinked"] == before["segments_unlinked"]:
                break
            time.sleep(0.01)
        self.assertEqual(after["segments_unlinked"], before["segments_unlinked"])
        self.assertEqual(after["bytes_used"], before["bytes_used"] + 1 * MiB)

    def test_wait(self):
        n = self.name("waited")
        # Nothing there: exit 1 at the deadline, within a few milliseconds of it.
        t0 = time.monotonic()
        self.assertFails(["wait", n, "--timeout", "300ms"], 1,
                         "shmview: wait: %s: no such segment after 300ms" % n)
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.3)
        self.assertLess(took, 1.0)
        self.assertFails(["wait", n, "--timeout", "soon"], 2,
                         "shmview: wait: --timeout: wants a duration .*")
        self.assertFails(["wait", "a/b"], 2, "shmview: wait: .*")
        # Another uid creates it, then seals it: each wait ends as it happens.
        exists = subprocess.Popen([CLI, "wait", n, "--timeout", "20"])
        sealed = subprocess.Popen([CLI, "wait", n, "--sealed"])
        for _ in range(500):
            if json.loads(ok("status", "--json"))["waits"] == 2:
                break
            time.sleep(0.01)
        clients = json.loads(ok("clients", "--json"))
        self.assertEqual(sum(c["waits"] for c in clients), 2)
        self.assertIn("waiting (1)", ok("clients"))
        self.assertRegex(ok("status"), r"\nwaits: +2\n")
        ok("create", n, "4K", "--mode", "0644", user=NOBODY)
        self.assertEqual(exists.wait(timeout=10), 0)
        time.sleep(0.1)
        self.assertIsNone(sealed.poll())
        ok("seal", n, user=NOBODY)
        self.assertEqual(sealed.wait(timeout=10), 0)
        ok("wait", n, "--sealed", "--timeout", "0")
        ok("rm", n)

    def test_notify(self):
        n = self.name("rung")
        ok("create", n, "4K", "--mode", "0644")
        self.assertEqual(json.loads(ok("stat", n, "--json"))["generation"], 0)
        self.assertIn("\ndoorbell: generation 0\n", ok("stat", n))
        self.assertEqual(ok("notify", n), "")
        self.assertEqual(ok("notify", n), "")
        self.assertEqual(json.loads(ok("stat", n, "--json"))["generation"], 2)
        ls = {s["name"]: s for s in json.loads(ok("ls", "--json"))}
        self.assertEqual(ls[n]["generation"], 2)
        self.assertIn("\ndoorbell: generation 2\n", ok("stat", n))
        # Only those who may write ring it.
        self.assertFails(["notify", n], 1, "shmview: notify: %s: permission denied: %s" % (n, n),
                         user=NOBODY)
        self.assertFails(["notify", "nothing-here"], 1,
                         "shmview: notify: nothing-here: no such segment: nothing-here")
        self.assertFails(["notify"], 2, "shmview: notify: NAME: missing argument")
        self.assertFails(["notify", "a/b"], 2, "shmview: notify: .*")
        # The seal is a change too, and the last one.
        ok("seal", n)
        self.assertEqual(json.loads(ok("stat", n, "--json"))["generation"], 3)
        self.assertFails(["notify", n], 1,
                         "shmview: notify: %s: cannot open a sealed segment writable: %s" % (n, n))
        ok("rm", n)

    def test_watch(self):
        n = self.name("watched")
        jw = subprocess.Popen([CLI, "watch", "--json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        hw = subprocess.Popen([CLI, "watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.wait_watching(jw.pid)
            self.wait_watching(hw.pid)
            create = subprocess.Popen([CLI, "create", n, "8K", "--mode", "640"])
            self.assertEqual(create.wait(30), 0)
            h = Holder((n, 4096, 16, "rw"))
            h.close()
            h = Holder((n, 0, 8192, "ro"))
            h.kill()  # gone with its view open
            ok("seal", n)
            ok("rm", n)
            time.sleep(0.2)
        finally:
            jw.send_signal(signal.SIGINT)
            hw.send_signal(signal.SIGINT)
            jout, jerr = jw.communicate(30)
            hout, herr = hw.communicate(30)
        self.assertEqual((jw.returncode, jerr), (0, b""))
        self.assertEqual((hw.returncode, herr), (0, b""))
        events = [json.loads(l) for l in jout.decode().splitlines()]
        for e in events:
            self.assertLessEqual({"event", "time_usec", "time", "client"}, set(e))
        mine = [e for e in events if e.get("name") == n]
        self.assertEqual([e["event"] for e in mine],
                         ["created", "view-opened", "view-released", "view-opened", "sealed",
                          "unlinked"])
        created = mine[0]
        self.assertEqual((created["size"], created["mode"], created["client"]["pid"],
                          created["client"]["command"]), (8192, "0640", create.pid, "shmview"))
        opened, released, opened2 = mine[1], mine[2], mine[3]
        self.assertEqual((opened["offset"], opened["length"], opened["writable"],
                          opened["client"]["command"]), (4096, 16, True, "view-holder"))
        self.assertEqual(released["view_id"], opened["view_id"])
        self.assertEqual(released["client"], opened["client"])
        self.assertEqual((opened2["offset"], opened2["length"], opened2["writable"]),
                         (0, 8192, False))
        self.assertEqual(set(opened), {"event", "time_usec", "time", "client", "name",
                                       "view_id", "offset", "length", "writable"})
        # The killed holder's connection went with its view still open.
        gone = [e for e in events if e["event"] == "client-gone"
                and e["client"]["client_id"] == opened2["client"]["client_id"]]
        self.assertEqual(len(gone), 1)
        self.assertEqual(gone[0]["views"], 1)
        connected = [e for e in events if e["event"] == "client-connected"
                     and e["client"]["client_id"] == opened["client"]["client_id"]]
        self.assertEqual(len(connected), 1)
        self.assertEqual(connected[0]["client"]["pid"], opened["client"]["pid"])
        times = [e["time_usec"] for e in events]
        self.assertEqual(times, sorted(times))

        lines = hout.decode().splitlines()
        self.assertEqual(len([l for l in lines if " name=%s " % n in l]), len(mine))
        ts = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
        client = r"client=\d+ pid=\d+ user=\S+ command=%s"
        self.assertTrue(any(re.match(r"^%s created name=%s size=8K mode=0640 %s$"
                                     % (ts, n, client % "shmview"), l) for l in lines), lines)
        self.assertTrue(any(re.match(r"^%s view-opened name=%s view=\d+ offset=4096 length=16 rw "
                                     r"%s$" % (ts, n, client % "view-holder"), l)
                            for l in lines), lines)
        self.assertTrue(any(re.match(r"^%s client-gone views=1 %s$" % (ts, client % "view-holder"),
                                     l) for l in lines), lines)
        self.assertTrue(any(re.match(r"^%s sealed name=%s %s$" % (ts, n, client % "shmview"), l)
                            for l in lines), lines)

    def test_watch_falls_behind(self):
        """A watch that stops reading is dropped by the daemon, which says so last; the CLI
        prints that and fails. The daemon keeps serving."""
        w = subprocess.Popen([CLI, "watch", "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            self.wait_watching(w.pid)
            w.send_signal(signal.SIGSTOP)
            flood = subprocess.run([HOLDER, "flood", self.name("flood"), "6000"],
                                   capture_output=True)
            self.assertEqual(flood.returncode, 0, flood.stderr)
            w.send_signal(signal.SIGCONT)
            out, err = w.communicate(60)
        finally:
            if w.poll() is None:
                w.kill()
                w.wait()
        self.assertEqual(w.returncode, 1)
        self.assertEqual(err.decode(), "shmview: watch: events: the daemon dropped this watch: "
                         "it read events too slowly, and some were lost\n")
        events = [json.loads(l) for l in out.decode().splitlines()]
        self.assertEqual(events[-1]["event"], "overflow")
        self.assertEqual(events[-1]["client"]["pid"], w.pid)
        self.assertLess(len(events), 12000)
        st = json.loads(ok("status", "--json"))
        self.assertEqual(st["watchers"], 0)

    def test_watch_daemon_gone(self):
        """The watch ends with status 1 when its daemon stops."""
        d = tempfile.mkdtemp(prefix="shmview-cli-")
        path = os.path.join(d, "s.sock")
        other = subprocess.Popen([DAEMON, "--socket", path], stderr=subprocess.DEVNULL)
        try:
            wait_listening(other, path)
            w = subprocess.Popen([CLI, "watch", "--socket", path], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            for _ in range(500):
                code, out, _ = run("clients", "--json", "--socket", path)
                if code == 0 and any(c["watching"] for c in json.loads(out)):
                    break
                time.sleep(0.01)
            other.send_signal(signal.SIGTERM)
            other.wait(30)
            out, err = w.communicate(30)
            self.assertEqual(w.returncode, 1)
            self.assertEqual(err.decode(), "shmview: watch: %s: the daemon closed the connection\n"
                             % path)
        finally:
            if other.poll() is None:
                other.kill()
                other.wait()
            shutil.rmtree(d, ignore_errors=True)

    def test_daemon_message_shown_safely(self):
        """What a peer on the socket says is shown as the WHY, but it cannot drive the
        terminal: libshmview replaces control characters and invalid UTF-8 with '?'."""
        d = tempfile.mkdtemp(prefix="shmview-cli-")
        path = os.path.join(d, "fake.sock")
        message = (b"too many \x1b[31mclients\x1b[0m\r\nfake\x07\x00\x7f\xc2\x9b2J "
                   b"caf\xc3\xa9 \xff end")
        # Response {id: 1, status: EUSERS, message}, hand-encoded: the answer to the hello.
        payload = bytes([0x08, 1, 0x10, 87, 0x1a, len(message)]) + message
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)

        def serve():
            conn, _ = srv.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(len(payload).to_bytes(4, "little") + payload)

        t = threading.Thread(target=serve)
        t.start()
        try:
            code, out, err = run_bytes("ls", "--socket", path)
        finally:
            t.join(30)
            srv.close()
            shutil.rmtree(d, ignore_errors=True)
        self.assertEqual((code, out), (1, b""))
        self.assertEqual(err, b"shmview: ls: " + path.encode() +
                         b": too many ?[31mclients?[0m??fake????2J caf\xc3\xa9 ? end\n")


@unittest.skipUnless(os.getuid() == 0, "needs root to run as another uid")
class TestOtherUid(CliTest):
    def test_unprivileged(self):
        mine, shared = self.name("root-only"), self.name("root-shared")
        ok("create", mine, "4K")
        ok("create", shared, "4K", "--mode", "0644")
        ok("write", shared, input=b"shared bytes")
        h = Holder((mine, 0, 100, "ro"))
        try:
            # Listing and inspecting are open to everyone who may connect.
            names = ok("ls", "--names", user=NOBODY).split("\n")
            self.assertIn(mine, names)
            st = json.loads(ok("stat", mine, "--json", user=NOBODY))
            self.assertEqual(st["views"][0]["client"]["pid"], h.pid)
            self.assertTrue(any(c["pid"] == h.pid for c in
                                json.loads(ok("clients", "--json", user=NOBODY))))
            ok("status", user=NOBODY)
        finally:
            h.close()
        # The bytes are not.
        # The daemon's message names the segment it refused.
        self.assertFails(["dump", mine], 1,
                         "shmview: dump: %s: permission denied: %s" % (mine, mine), user=NOBODY)
        self.assertFails(["write", shared], 1,
                         "shmview: write: %s: permission denied: %s" % (shared, shared),
                         user=NOBODY, input=b"x")
        self.assertEqual(run_bytes("dump", shared, "--format", "raw", "--length", "12")[1],
                         b"shared bytes")
        self.assertEqual(ok("dump", shared, "--length", "12", user=NOBODY),
                         xxd(b"shared bytes"))
        self.assertFails(["rm", mine], 1, "shmview: rm: %s: permission denied: %s" % (mine, mine),
                         user=NOBODY)
        self.assertFails(["seal", shared], 1,
                         "shmview: seal: %s: permission denied: %s" % (shared, shared), user=NOBODY)
        # Past its uid's share of the budget (max_bytes_per_uid: half of --max-bytes 1536M),
        # the daemon names that limit, not max_bytes.
        over = self.name("nobody-big")
        self.assertFails(["create", over, "1G"], 1,
                         r"shmview: create: %s: over the quota of uid %d: max_bytes_per_uid would "
                         r"be passed \(max_bytes_per_uid 805306368 .*\)" % (over, NOBODY),
                         user=NOBODY)
        self.assertIn(mine, ok("ls", "--names").split("\n"))
        # Its own segment, it may do anything with.
        own = self.name("nobody")
        ok("create", own, "8K", "--mode", "0600", user=NOBODY)
        seg = json.loads(ok("stat", own, "--json"))
        self.assertEqual((seg["uid"], seg["gid"]), (NOBODY, NOBODY))
        ok("write", own, "--offset", "4K", user=NOBODY, input=b"mine")
        self.assertEqual(run_bytes("dump", own, "--format", "raw", "--offset", "4K",
                                   "--length", "4")[1], b"mine")
        ok("seal", own, user=NOBODY)
        ok("rm", own, user=NOBODY)


class TestHabits(CliTest):
    """What lsipc, xxd and dd users expect: short options, tables with --output, --noheadings,
    --raw and truncation, dump of what exists past the end, help within 80 columns, progress on
    a terminal only."""

    def test_short_options(self):
        n = self.name("short")
        ok("-S", sock, "create", n, "4K", "-m", "0640")
        self.assertEqual(json.loads(ok("stat", n, "-J"))["mode"], "0640")
        self.assertIn(n, ok("ls", "-1").split("\n"))
        self.assertEqual(json.loads(ok("ls", "-J", "-b", "-S", sock)),
                         json.loads(ok("ls", "--json", "--bytes")))
        ok("write", n, "-s", "16", input=b"0123456789")
        self.assertEqual(ok("dump", n, "-s", "16", "-l", "10"),
                         xxd(b"0123456789", 16))
        self.assertEqual(run_bytes("dump", n, "-s", "16", "-l", "4", "-f", "raw")[1], b"0123")
        self.assertEqual(ok("-V"), ok("--version"))
        self.assertEqual(ok("ls", "-h"), ok("ls", "--help"))

    def test_dump_past_the_end(self):
        n = self.name("xxd")
        data = bytes(range(40))
        ok("create", n, "40")
        ok("write", n, input=data)
        # xxd -s 30 -l 20 of a 40-byte file prints its last 10 bytes.
        self.assertEqual(ok("dump", n, "--offset", "30", "--length", "20"), xxd(data[30:], 30))
        self.assertEqual(run_bytes("dump", n, "-s", "30", "-l", "20", "-f", "raw")[1], data[30:])
        self.assertEqual(ok("dump", n, "--offset", "40", "--length", "20"), "")

    def test_tables(self):
        long_name = self.name("a-very-long-segment-name-that-goes-on-and-on")
        spaced = self.name("with space")
        ok("create", long_name, "4K")
        ok("create", spaced, "8K")
        out = ok("ls")
        cut = long_name[:29] + "..."
        self.assertRegex(out, r"\n%s +4K " % re.escape(cut))
        self.assertNotIn(long_name, out)
        self.assertIn(long_name, ok("ls", "--notruncate"))
        self.assertIn(long_name, ok("ls", "-1"))
        self.assertIn(long_name, [s["name"] for s in json.loads(ok("ls", "-J"))])
        # --output picks and orders the columns; --noheadings drops the header.
        lines = ok("ls", "-o", "size,NAME", "--noheadings", "--notruncate", "-b").split("\n")
        self.assertIn("4096  " + long_name, [l.strip() for l in lines])
        self.assertTrue(ok("ls", "-o", "name,size").startswith("NAME"))
        self.assertFails(["ls", "-o", "name,colour"], 2,
                         r"shmview: ls: --output: 'colour' is not a column \(NAME, SIZE, MODE, "
                         r"OWNER, GROUP, RO, RW, SEALED, AGE\)")
        # --raw: one space apart, spaces escaped, never cut.
        raw = ok("ls", "--raw", "-o", "NAME,SIZE", "-b").split("\n")
        self.assertEqual(raw[0], "NAME SIZE")
        self.assertIn(spaced.replace(" ", "\\x20") + " 8192", raw)
        self.assertIn(long_name + " 4096", raw)
        self.assertEqual(ok("clients", "-o", "command,views", "--noheadings", "-r").count(
            "shmview 0\n"), 1)
        h = Holder((spaced, 0, 10, "ro"))
        try:
            rows = ok("stat", spaced, "-o", "command,mode,length", "--noheadings", "-r", "-b")
            self.assertTrue(rows.endswith("\nview-holder ro 10\n"), rows)
        finally:
            h.close()

    def test_help_fits_80_columns(self):
        texts = [ok("--help"), ok("help")]
        for cmd in set(re.findall(r"^  (\w+) ", texts[0], re.M)) - {"help"}:
            texts.append(ok(cmd, "--help"))
        for text in texts:
            for line in text.split("\n"):
                self.assertLessEqual(len(line), 80, line)
        self.assertRegex(texts[0], r"\n  help +\w")

    def test_progress_on_a_terminal_only(self):
        import pty
        n = self.name("progress")
        ok("create", n, "64M")
        master, slave = pty.openpty()
        try:
            p = subprocess.run([CLI, "dump", n, "-f", "raw"], stdout=subprocess.DEVNULL,
                               stderr=slave, timeout=120)
            os.close(slave)
            slave = -1
            err = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                err += chunk
        finally:
            if slave >= 0:
                os.close(slave)
            os.close(master)
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"shmview: dump: 64M of 64M (100%)", err)
        self.assertTrue(err.endswith(b"\r\x1b[K"), err[-40:])
        # Not a terminal: nothing on standard error.
        code, out, err = run_bytes("dump", n, "-f", "raw")
        self.assertEqual((code, err, len(out)), (0, b"", 64 * MiB))


class TestDaemonOptions(CliTest):
    """shmviewd's options, from its table: the size grammar the CLI has, --help within 80
    columns, messages that say what an option wants, and a socket directory that must exist."""

    def daemon(self, *args):
        return subprocess.run([DAEMON] + list(args), capture_output=True, text=True, timeout=60)

    def test_help(self):
        p = self.daemon("--help")
        self.assertEqual(p.returncode, 0)
        for line in p.stdout.split("\n"):
            self.assertLessEqual(len(line), 80, line)
        for opt in ("socket", "socket-mode", "socket-group", "max-bytes", "max-segments",
                    "max-clients", "max-views-per-client", "max-clients-per-uid",
                    "max-bytes-per-uid", "max-segments-per-uid", "max-views-per-uid",
                    "max-frame", "stall-timeout", "log-level", "help", "version"):
            self.assertRegex(p.stdout, r"\n  --%s\b" % opt)

    def test_bad_options(self):
        for args, want in (
                (["--max-frame", "1"], "--max-frame wants a size in bytes from 4096 to 131072, "
                                       "not '1'"),
                (["--max-segments", "-1"], "--max-segments wants a number from 1 to 4294967295, "
                                           "not '-1'"),
                (["--max-bytes", "1GB"], r"--max-bytes wants a positive size \(bytes, or 64M, "
                                         r"1GiB\.\.\.\), not '1GB'"),
                (["--log-level", "loud"], "--log-level wants debug, info, notice, warning or "
                                          "error, not 'loud'"),
                (["--socket", ""], "--socket wants a path of at most 107 bytes, not ''")):
            p = self.daemon(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertRegex(p.stderr, "^shmviewd: %s\nTry 'shmviewd --help'\.\n$" % want)

    def test_sizes_and_socket_directory(self):
        d = tempfile.mkdtemp(prefix="shmviewd-opt-", dir=tmpdir)
        # A directory that is not there is not created for an explicit path.
        missing = os.path.join(d, "no", "such")
        p = self.daemon("--socket", os.path.join(missing, "s.sock"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("shmviewd: error: directory %s of the socket does not exist" % missing,
                      p.stderr)
        self.assertFalse(os.path.exists(os.path.join(d, "no")))
        # The CLI's size grammar: 1GiB, 0x hex, lower-case units.
        path = os.path.join(d, "s.sock")
        proc = subprocess.Popen([DAEMON, "--socket", path, "--max-bytes", "1GiB",
                                 "--max-bytes-per-uid", "64m", "--max-frame", "0x2000"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_listening(proc, path)
            limits = json.loads(ok("status", "--json", "--socket", path))["limits"]
            self.assertEqual((limits["max_bytes"], limits["max_bytes_per_uid"],
                              limits["max_frame"]), (1 << 30, 64 * MiB, 0x2000))
            human = ok("status", "--socket", path)
            for name in limits:
                self.assertRegex(human, r"\n  %s +\S" % name)
        finally:
            proc.terminate()
            proc.wait(30)
            proc.stderr.close()


class TestInstalledFiles(CliTest):
    def test_man_page(self):
        page = os.path.join(SOURCE, "cli", "shmview.1")
        with open(page) as f:
            text = f.read()
        for cmd in ("ls", "stat", "create", "rm", "seal", "wait", "notify", "dump", "write", "clients",
                    "status", "watch"):
            self.assertRegex(text, r"\n\.SS %s\b" % cmd)
        if shutil.which("groff"):
            p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page],
                               capture_output=True)
            self.assertEqual((p.returncode, p.stderr), (0, b""))

    def test_daemon_man_page(self):
        """shmviewd(8), which shmview(1) refers to, is there and names every option."""
        page = os.path.join(SOURCE, "daemon", "shmviewd.8")
        with open(page) as f:
            text = f.read().replace("\\-", "-")
        helptext = subprocess.run([DAEMON, "--help"], capture_output=True, text=True).stdout
        options = re.findall(r"^  (--[a-z-]+)", helptext, re.M)
        self.assertGreater(len(options), 10)
        for opt in options:
            self.assertIn(opt, text)
        if shutil.which("groff"):
            p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page],
                               capture_output=True)
            self.assertEqual((p.returncode, p.stderr), (0, b""))

    def test_bash_completion(self):
        if not shutil.which("bash"):
            self.skipTest("no bash")
        n = self.name("complete")
        ok("create", n, "4K")
        script = os.path.join(SOURCE, "cli", "shmview.bash")

        def complete(*words):
            line = "shmview " + " ".join(words)
            words_arr = " ".join("'%s'" % w for w in ("shmview",) + words)
            cmd = ("PATH=%s:$PATH; source %s; COMP_WORDS=(%s); COMP_CWORD=%d; "
                   "COMP_LINE='%s'; COMP_POINT=%d; _shmview; printf '%%s\\n' \"${COMPREPLY[@]}\""
                   % (os.path.dirname(CLI), script, words_arr, len(words), line, len(line)))
            p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            return set(p.stdout.split())

        self.assertEqual(complete("d"), {"dump"})
        self.assertLessEqual({"ls", "stat", "watch", "--socket"}, complete(""))
        self.assertIn(n, complete("stat", n[:-1]))
        self.assertIn(n, complete("--socket", sock, "rm", "x", n[:-1]))
        self.assertEqual(complete("dump", n, "--format", ""), {"hex", "raw"})
        self.assertLessEqual({"--offset", "--length", "--format"}, complete("dump", n, "--"))


if __name__ == "__main__":
    unittest.main(verbosity=2)

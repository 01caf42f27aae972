#!/usr/bin/env python3
"""systemd socket activation and readiness, with systemd emulated.

Usage: test_activation.py SSFTP SSFTPD

This process plays the service manager: it makes the listening sockets and
a Unix datagram NOTIFY_SOCKET, and starts ssftpd through a small wrapper
that moves the sockets to descriptors 3, 4, ... and sets LISTEN_PID to its
own pid before it execs ssftpd (exec keeps the pid), as systemd does.  The
tests check that READY=1 (with MAINPID) arrives once it listens, that a
real ssftp session is served through the inherited socket (ssftpd's own
--listen address is taken by another socket, so it cannot have bound it),
that names in LISTEN_FDNAMES pick the native and FTP sockets, and that
SIGTERM sends STOPPING=1 and exits 0.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

SSFTP = SSFTPD = None
PASSWORD = "correct horse"
KDF = ["--kdf-ops", "2", "--kdf-mem", str(8 << 20)]
TIMEOUT = 30

# argv: FDS(comma-separated) PROGRAM ARGS...: the descriptors become 3, 4,
# ... in that order (via numbers out of the way first, so no move clobbers
# a descriptor still to move), then LISTEN_PID is this pid and exec.
WRAPPER = r"""
import fcntl, os, sys
src = [int(x) for x in sys.argv[1].split(",") if x]
tmp = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in src]
for fd in src:
    os.close(fd)
for i, fd in enumerate(tmp):
    os.dup2(fd, 3 + i, inheritable=True)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""


def listener(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        s.listen(16)
    return s


class Manager:
    """A data root, a notify socket and the ssftpd started on them."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="ssftp-systemd-")
        self.root = os.path.join(self.tmp, "root")
        self.work = os.path.join(self.tmp, "work")
        os.mkdir(self.work)
        self.notify_path = os.path.join(self.tmp, "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.proc = None
        self.log = open(os.path.join(self.tmp, "ssftpd.log"), "w+b")
        # ssftpd's --listen address, held by us: binding it would fail.
        self.taken = listener(socket.SOCK_STREAM)
        self.held = []
        # The data root must exist before the server starts (ssftpd init).
        subprocess.run([SSFTPD, "init", "--root", self.root], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=TIMEOUT)

    def add_user(self, name):
        subprocess.run([SSFTPD, "user", "add", name, "--root", self.root,
                        *KDF], input=PASSWORD + "\n", text=True, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=TIMEOUT)

    def start(self, socks, *opts, names=None, listen_pid_of_wrapper=True,
              fds=None, listen=None):
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path,
                   LISTEN_FDS=str(len(socks) if fds is None else fds))
        env.pop("LISTEN_FDNAMES", None)
        if names is not None:
            env["LISTEN_FDNAMES"] = names
        if listen is None:
            listen = f"127.0.0.1:{self.taken.getsockname()[1]}"
        cmd = [SSFTPD, "--root", self.root, "--listen", listen, *opts]
        if listen_pid_of_wrapper:
            argv = [sys.executable, "-c", WRAPPER,
                    ",".join(str(s.fileno()) for s in socks), *cmd]
        else:
            env["LISTEN_PID"] = str(os.getpid())  # someone else's
            argv = cmd
        self.proc = subprocess.Popen(
            argv, env=env, pass_fds=[s.fileno() for s in socks],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        return self.proc

    def notification(self, timeout=TIMEOUT):
        """The next datagram on NOTIFY_SOCKET as a dict, None on timeout."""
        self.notify.settimeout(timeout)
        try:
            data = self.notify.recv(4096).decode()
        except (socket.timeout, BlockingIOError):
            return None
        return dict(line.split("=", 1) for line in data.split("\n") if line)

    def lines_until(self, pattern):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                return None
            m = re.search(pattern, line)
            if m:
                return m
        return None

    def cli(self, port, user, *cmd):
        env = dict(os.environ, SSFTP_PASSWORD=PASSWORD,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "xdg"))
        return subprocess.run(
            [SSFTP, "-u", user, "--no-progress", "--accept-new-host-key",
             f"127.0.0.1:{port}", *cmd], cwd=self.work, env=env, text=True,
            capture_output=True, stdin=subprocess.DEVNULL, timeout=TIMEOUT)

    def log_text(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def close(self, failed):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
        if failed:
            sys.stderr.write("---- ssftpd log ----\n" + self.log_text()[-6000:])
        self.log.close()
        self.notify.close()
        self.taken.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class SocketActivation(unittest.TestCase):
    def setUp(self):
        self.m = Manager()

    def tearDown(self):
        self.m.close(not getattr(self._outcome, "success", False))

    def stop_cleanly(self):
        m = self.m
        m.proc.send_signal(signal.SIGTERM)
        n = m.notification()
        self.assertIsNotNone(n, "no STOPPING=1 after SIGTERM")
        self.assertEqual(n.get("STOPPING"), "1", n)
        self.assertEqual(m.proc.wait(TIMEOUT), 0)

    def test_inherited_socket_is_served_ready_and_stopping_notified(self):
        m = self.m
        m.add_user("alice")
        sock = listener()
        port = sock.getsockname()[1]
        proc = m.start([sock], names="native")
        sock.close()  # the server holds it now
        n = m.notification()
        self.assertIsNotNone(n, "no READY=1 on NOTIFY_SOCKET")
        self.assertEqual(n.get("READY"), "1", n)
        self.assertEqual(n.get("MAINPID"), str(proc.pid))
        self.assertIn(f"127.0.0.1:{port}", n.get("STATUS", ""))
        got = m.lines_until(r"^listening on (\S+)")
        self.assertIsNotNone(got)
        self.assertEqual(got.group(1), f"127.0.0.1:{port}")
        with open(os.path.join(m.work, "hello.txt"), "w") as f:
            f.write("through the socket systemd made\n")
        r = m.cli(port, "alice", "put", "hello.txt", "hello.txt")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(m.root, "homes", "alice", "hello.txt")) as f:
            self.assertEqual(f.read(), "through the socket systemd made\n")
        r = m.cli(port, "alice", "ls")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("hello.txt", r.stdout)
        self.assertIn("socket activation: native socket 3", m.log_text())
        self.stop_cleanly()

    def test_names_pick_the_ftp_and_native_sockets(self):
        m = self.m
        m.add_user("bob")
        ftp, native = listener(), listener()
        fport, nport = ftp.getsockname()[1], native.getsockname()[1]
        # FTP first: only the names say which is which.
        m.start([ftp, native], "--ftp", "127.0.0.1:0", names="ftp:native")
        ftp.close()
        native.close()
        n = m.notification()
        self.assertIsNotNone(n, "no READY=1")
        self.assertEqual(n.get("READY"), "1", n)
        self.assertIsNotNone(m.lines_until(rf"^listening on 127\.0\.0\.1:{nport}$"))
        self.assertIsNotNone(
            m.lines_until(rf"^ftp listening on 127\.0\.0\.1:{fport}$"))
        with socket.create_connection(("127.0.0.1", fport), TIMEOUT) as c:
            c.settimeout(TIMEOUT)
            self.assertTrue(c.recv(512).startswith(b"220"))
        r = m.cli(nport, "bob", "ls")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.stop_cleanly()

    def test_without_names_fd3_is_native_and_fd4_ftp(self):
        m = self.m
        native, ftp = listener(), listener()
        fport, nport = ftp.getsockname()[1], native.getsockname()[1]
        m.start([native, ftp], "--ftp", "127.0.0.1:0")
        native.close()
        ftp.close()
        self.assertEqual(m.notification().get("READY"), "1")
        self.assertIsNotNone(m.lines_until(rf"^listening on 127\.0\.0\.1:{nport}$"))
        self.assertIsNotNone(
            m.lines_until(rf"^ftp listening on 127\.0\.0\.1:{fport}$"))
        self.stop_cleanly()

    def test_process_isolation_serves_the_inherited_socket(self):
        m = self.m
        m.add_user("carol")
        sock = listener()
        port = sock.getsockname()[1]
        m.start([sock], "--isolation", "process")
        sock.close()
        self.assertEqual(m.notification().get("READY"), "1")
        self.assertIsNotNone(m.lines_until(rf"^listening on 127\.0\.0\.1:{port}$"))
        for i in range(2):  # a forked child per session, the socket stays
            r = m.cli(port, "carol", "mkdir", f"d{i}")
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.isdir(os.path.join(m.root, "homes", "carol",
                                                   "d1")))
        self.stop_cleanly()

    def test_listen_pid_of_another_process_is_not_ours(self):
        m = self.m
        sock = listener()
        m.start([sock], listen_pid_of_wrapper=False, listen="127.0.0.1:0")
        n = m.notification()
        self.assertEqual(n.get("READY"), "1")
        got = m.lines_until(r"^listening on 127\.0\.0\.1:(\d+)$")
        self.assertIsNotNone(got)
        self.assertNotEqual(int(got.group(1)), sock.getsockname()[1])
        self.assertNotIn("socket activation", m.log_text())
        sock.close()
        self.stop_cleanly()

    def test_a_socket_of_the_wrong_kind_is_refused(self):
        m = self.m
        udp = listener(socket.SOCK_DGRAM)
        proc = m.start([udp])
        udp.close()
        self.assertEqual(proc.wait(TIMEOUT), 1)
        self.assertIn("Invalid argument", m.log_text())
        self.assertIsNone(m.notification(timeout=0))

    def test_a_missing_descriptor_is_refused(self):
        m = self.m
        sock = listener()
        proc = m.start([sock], fds=2)  # says 2, passes 1
        sock.close()
        self.assertEqual(proc.wait(TIMEOUT), 1)
        self.assertIn("descriptor 4", m.log_text())


if __name__ == "__main__":
    SSFTP, SSFTPD = (os.path.abspath(a) for a in sys.argv[1:3])
    unittest.main(argv=sys.argv[:1], verbosity=2)

#!/usr/bin/env python3
"""ssftpd --proxy-protocol end to end: the real binaries behind a "load
balancer" on 127.0.0.1.

Usage: test_proxy.py SSFTP SSFTPD

One ssftpd (native and --ftp listeners on 127.0.0.1 port 0) trusts only
127.0.0.1.  A small relay here plays HAProxy's `send-proxy-v2`: it accepts
the real ssftp client and connects to ssftpd from 127.0.0.1, sending a v2
header naming 203.0.113.7 first.  Raw sockets send v1 headers to the FTP
listener, and a socket bound to 127.0.0.2 plays an untrusted client.  The
log (ssftpd's stderr, in a file) is read for the addresses; every wait is
bounded.
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SSFTP = SSFTPD = None
PASSWORD = "correct horse"
KDF = ["--kdf-ops", "2", "--kdf-mem", str(8 << 20)]
WAIT_S = 30
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src, sport):
    return f"PROXY TCP4 {src} 192.0.2.1 {sport} 21\r\n".encode()


def v2(src, sport):
    addrs = socket.inet_aton(src) + socket.inet_aton("192.0.2.1")
    addrs += struct.pack(">HH", sport, 2121)
    tlv = b"\x04\x00\x02xx"  # a NOOP TLV, to be skipped
    return V2_SIG + b"\x21\x11" + struct.pack(">H", len(addrs + tlv)) + \
        addrs + tlv


class Relay:
    """HAProxy's send-proxy-v2 in a few lines: each client accepted here is
    connected to the target from 127.0.0.1, behind a header naming
    (src, sport)."""

    def __init__(self, target, src, sport):
        self.target, self.header = target, v2(src, sport)
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.target))
            u.sendall(self.header)
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self.pipe, args=(a, b),
                                 daemon=True).start()

    @staticmethod
    def pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self):
        self.lsock.close()


class Ftp:
    """A raw FTP control connection, from src, behind header (or none)."""

    def __init__(self, port, header=b"", src="127.0.0.1"):
        self.s = socket.socket()
        self.s.settimeout(WAIT_S)
        self.s.bind((src, 0))
        self.s.connect(("127.0.0.1", port))
        self.s.sendall(header)
        self.f = self.s.makefile("rb")
        self.banner = self.reply()

    def reply(self):
        line = self.f.readline().decode()
        while re.match(r"^\d{3}-", line):
            line = self.f.readline().decode()
        return line

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.f.close()
        self.s.close()


class ProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ssftpd-proxy-")
        cls.root = os.path.join(cls.tmp, "root")
        for name in ("alice", "bob", "carol"):
            subprocess.run([SSFTPD, "user", "add", name, "--root", cls.root,
                            *KDF], input=PASSWORD + "\n", text=True,
                           check=True, capture_output=True, timeout=60)
        cls.log_path = os.path.join(cls.tmp, "ssftpd.log")
        with open(cls.log_path, "wb") as log:
            cls.proc = subprocess.Popen(
                [SSFTPD, "--listen", "127.0.0.1:0", "--root", cls.root,
                 "--ftp", "127.0.0.1:0", "--ftp-allow-plaintext",
                 "--proxy-protocol", "--proxy-from", "127.0.0.1"],
                stdout=subprocess.PIPE, stderr=log, text=True)
        cls.port = cls.ftp_port = None
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and cls.ftp_port is None:
            line = cls.proc.stdout.readline()
            if not line:
                break
            m = re.match(r"(ftp )?listening on 127\.0\.0\.1:(\d+)", line)
            if m and m.group(1):
                cls.ftp_port = int(m.group(2))
            elif m:
                cls.port = int(m.group(2))
        if cls.ftp_port is None or cls.port is None:
            cls.tearDownClass()
            raise RuntimeError("no listening lines:\n" + cls.log())

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.send_signal(signal.SIGTERM)
            try:
                cls.proc.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait()
        cls.proc.stdout.close()
        log = cls.log()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if cls.proc.returncode != 0 or re.search(r"Sanitizer|runtime error",
                                                 log):
            raise AssertionError(
                f"ssftpd exited with {cls.proc.returncode}:\n{log[-6000:]}")

    @classmethod
    def log(cls):
        with open(cls.log_path, errors="replace") as f:
            return f.read()

    def wait_log(self, pattern):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log(), re.M)
            if m:
                return m
            time.sleep(0.02)
        self.fail(f"no log line matching {pattern!r}:\n{self.log()[-3000:]}")

    def test_native_session_behind_the_proxy_logs_the_header_address(self):
        relay = Relay(self.port, "203.0.113.7", 40007)
        self.addCleanup(relay.close)
        env = dict(os.environ, SSFTP_PASSWORD=PASSWORD,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "xdg"))
        r = subprocess.run(
            [SSFTP, "-u", "alice", "--no-progress", "--accept-new-host-key",
             f"127.0.0.1:{relay.port}", "ls"], cwd=self.tmp, env=env,
            text=True, capture_output=True, stdin=subprocess.DEVNULL,
            timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr + self.log()[-2000:])
        self.wait_log(r"ssftpd 203\.0\.113\.7:40007 alice: ")

    def test_native_untrusted_proxy_line_is_data_and_its_own_address(self):
        s = socket.socket()
        s.settimeout(WAIT_S)
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", self.port))
        me = s.getsockname()[1]
        s.sendall(v1("203.0.113.66", 40066))
        self.assertEqual(s.recv(100), b"")  # not TLS: the server hangs up
        s.close()
        self.wait_log(rf"ssftpd 127\.0\.0\.2:{me} -: disconnect.*Protocol "
                      r"error")
        self.assertNotIn("203.0.113.66", self.log())

    def test_ftp_backoff_and_log_follow_the_header_address(self):
        a = Ftp(self.ftp_port, v1("203.0.113.7", 40001))
        self.addCleanup(a.close)
        self.assertTrue(a.banner.startswith("220"), a.banner)
        for i in (1, 2, 3):
            self.assertTrue(a.cmd("USER bob").startswith("331"))
            self.assertTrue(a.cmd("PASS wrong").startswith("530"))
        self.wait_log(r"ftp 203\.0\.113\.7:40001 -: login failed for bob "
                      r"from 203\.0\.113\.7 \(failure 3, reply delayed "
                      r"400 ms\)")
        # Another client behind the same proxy: its own address, no delay
        # from bob's failures (keyed by 127.0.0.1 it would wait 800 ms).
        b = Ftp(self.ftp_port, v2("198.51.100.9", 40002))
        self.addCleanup(b.close)
        self.assertTrue(b.cmd("USER carol").startswith("331"))
        self.assertTrue(b.cmd("PASS wrong").startswith("530"))
        self.wait_log(r"ftp 198\.51\.100\.9:40002 -: login failed for carol "
                      r"from 198\.51\.100\.9 \(failure 1, reply delayed "
                      r"100 ms\)")

    def nlst_from(self, c, src):
        """NLST over a passive data connection made from src."""
        port = int(re.search(r"\(\|\|\|(\d+)\|\)", c.cmd("EPSV")).group(1))
        d = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S,
                                     source_address=(src, 0))
        self.assertTrue(c.cmd("NLST").startswith("150"))
        while d.recv(4096):
            pass
        d.close()
        self.assertTrue(c.reply().startswith("226"))
        return port

    def test_ftp_passive_data_from_the_client_or_the_proxy_only(self):
        # The header names 127.0.0.2, so that the "client" can also reach
        # the passive port directly, bypassing the proxy.
        c = Ftp(self.ftp_port, v1("127.0.0.2", 40003))
        self.addCleanup(c.close)
        self.assertTrue(c.cmd("USER alice").startswith("331"))
        self.assertTrue(c.cmd(f"PASS {PASSWORD}").startswith("230"))
        self.nlst_from(c, "127.0.0.1")  # through the proxy
        self.nlst_from(c, "127.0.0.2")  # straight from the client
        # From neither: refused (then the proxy's comes, to end the wait).
        port = int(re.search(r"\(\|\|\|(\d+)\|\)", c.cmd("EPSV")).group(1))
        x = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S,
                                     source_address=("127.0.0.3", 0))
        self.addCleanup(x.close)
        self.assertTrue(c.cmd("NLST").startswith("150"))
        self.wait_log(r"ftp 127\.0\.0\.2:40003 alice: refused a data "
                      r"connection from 127\.0\.0\.3:")
        d = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        while d.recv(4096):
            pass
        d.close()
        self.assertTrue(c.reply().startswith("226"))

    def test_ftp_untrusted_proxy_line_is_refused_as_a_command(self):
        u = Ftp(self.ftp_port, v1("203.0.113.66", 40066), src="127.0.0.2")
        self.addCleanup(u.close)
        me = u.s.getsockname()[1]
        self.assertTrue(u.banner.startswith("220"), u.banner)
        self.assertRegex(u.reply(), r"^5\d\d ")  # the PROXY line
        self.wait_log(rf"ftp 127\.0\.0\.2:{me} -: connect")
        self.assertNotIn("203.0.113.66", self.log())

    def test_ftp_garbage_from_the_proxy_is_refused_and_said(self):
        s = socket.create_connection(("127.0.0.1", self.ftp_port),
                                     timeout=WAIT_S)
        s.sendall(b"USER alice\r\n")
        self.assertEqual(s.recv(100), b"")  # no banner: closed
        s.close()
        self.wait_log(r"PROXY header: neither a v1 nor a v2 header")


class OptionsTest(unittest.TestCase):
    def check(self, *args, conf=None):
        with tempfile.TemporaryDirectory(prefix="ssftpd-proxy-opt-") as d:
            extra = []
            if conf is not None:
                path = os.path.join(d, "ssftpd.conf")
                with open(path, "w") as f:
                    f.write(conf)
                extra = ["--config", path]
            return subprocess.run(
                [SSFTPD, "--check", "--root", d, *extra, *args],
                capture_output=True, text=True, timeout=WAIT_S)

    def test_proxy_protocol_needs_good_proxy_from(self):
        r = self.check("--proxy-protocol")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--proxy-protocol needs --proxy-from", r.stderr)
        r = self.check("--proxy-protocol", "--proxy-from",
                       "127.0.0.1, 10.0.0.0/33")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--proxy-from: '10.0.0.0/33' is not an address or CIDR",
                      r.stderr)
        r = self.check("--proxy-from", "127.0.0.1")
        self.assertIn("--proxy-from without --proxy-protocol", r.stderr)
        r = self.check("--proxy-protocol", "--proxy-from",
                       "127.0.0.1,::1,10.0.0.0/8")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_config_keys_take_the_same_values(self):
        r = self.check(conf="proxy-protocol = yes\nproxy-from = 10.0.0.0/8,"
                            "example.com\n")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--proxy-from: 'example.com' is not an address or "
                      "CIDR", r.stderr)
        r = self.check(conf="proxy-protocol = yes\nproxy-from = 10.0.0.0/8\n")
        self.assertEqual(r.returncode, 0, r.stderr)


def main():
    global SSFTP, SSFTPD
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    SSFTP, SSFTPD = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])


if __name__ == "__main__":
    main()

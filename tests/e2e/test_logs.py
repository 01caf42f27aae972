#!/usr/bin/env python3
"""ssftpd's logs, end to end: the real binaries.

Usage: test_logs.py SSFTP SSFTPD

Every line a run writes (start, logins good and bad, transfers, the
library's refusal past --max-per-ip, shutdown) has one format; --log-level
drops the less severe lines; under the journal (JOURNAL_STREAM) lines carry
sd-daemon "<N>" priorities and no timestamps; --log syslog reaches the
syslog socket (in a private mount namespace whose /dev/log is the test's
socket: root only, skipped otherwise, saying why); --xferlog writes
xferlog(5) lines for both protocols, parsed field by field.  Servers listen
on 127.0.0.1 port 0; every wait is bounded.
"""
import ftplib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

import test_service
from test_service import PASSWORD, WAIT_S, Base, read_until

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
LEVEL = r"(?: (?:error|warning|notice|debug))?"
WHO = r"(?: ftp)?(?: (?:\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):\d+ \S+)?"
# One line of the log, as log.h describes it.
LINE = re.compile(rf"^{STAMP} ssftpd{LEVEL}{WHO}: \S.*$")
JOURNAL_LINE = re.compile(rf"^<[0-7]>ssftpd{LEVEL}{WHO}: \S.*$")

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
DAYS = "Mon Tue Wed Thu Fri Sat Sun".split()


def parse_xferlog(line):
    """One xferlog(5) line, strictly: its 18 fields, checked, as a dict."""
    f = line.rstrip("\n").split()
    assert len(f) == 18, f"{len(f)} fields: {line!r}"
    assert f[0] in DAYS and f[1] in MONTHS, line
    assert 1 <= int(f[2]) <= 31 and re.fullmatch(r"\d\d:\d\d:\d\d", f[3])
    assert re.fullmatch(r"\d{4}", f[4]), line
    time.strptime(" ".join(f[:5]), "%a %b %d %H:%M:%S %Y")
    assert int(f[5]) >= 1, line
    assert f[9] in ("a", "b") and f[10] == "_" and f[11] in ("i", "o")
    assert f[12] == "r" and f[15] == "0" and f[16] == "*", line
    assert f[17] in ("c", "i"), line
    return {"seconds": int(f[5]), "host": f[6], "bytes": int(f[7]),
            "file": f[8], "direction": f[11], "user": f[13],
            "service": f[14], "status": f[17]}


class WithAlice(Base):
    """A data root with alice, and a file to put whose name has a space."""

    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, "root")
        self.add_user(self.root, "alice")
        with open(os.path.join(self.tmp, "my file.txt"), "w") as f:
            f.write("hello, log\n")


class Logs(WithAlice):
    def serve(self, *args, env=None, wrap=()):
        """ssftpd with stderr to a file; returns (proc, port, stderr's
        path)."""
        path = os.path.join(self.tmp, f"stderr-{len(self.procs)}")
        with open(path, "a") as err:
            if env is not None and "JOURNAL_STREAM" in env:
                st = os.fstat(err.fileno())
                env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
            p = subprocess.Popen(
                [*wrap, test_service.SSFTPD, "--listen", "127.0.0.1:0",
                 "--root", self.root, *args],
                stdout=subprocess.PIPE, stderr=err, text=True,
                env=env if env is not None else os.environ)
        self.procs.append(p)
        port = int(read_until(p.stdout, r"^listening on ")[-1].rsplit(":")[1])
        return p, port, path

    def stop(self, p, path):
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=WAIT_S), 0)
        with open(path) as f:
            return f.read().splitlines()

    def bad_login(self, port):
        env = dict(os.environ, SSFTP_PASSWORD="wrong",
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "xdg"))
        r = subprocess.run(
            [test_service.SSFTP, "-u", "alice", "--no-progress",
             "--accept-new-host-key", f"127.0.0.1:{port}", "ls"],
            cwd=self.tmp, env=env, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=60)
        self.assertEqual(r.returncode, 4, r.stderr)

    def over_the_limit(self, port):
        """With --max-per-ip 1: a second connection, refused by the
        library, while a first is held."""
        first = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        try:
            second = socket.create_connection(("127.0.0.1", port),
                                              timeout=WAIT_S)
            try:
                self.assertEqual(second.recv(1), b"")  # closed at once
            except ConnectionResetError:
                pass
            second.close()
        finally:
            first.close()

    def test_every_line_has_one_format(self):
        p, port, path = self.serve("--max-per-ip", "1", "--ftp",
                                   "127.0.0.1:0")
        line = read_until(p.stdout, r"^ftp listening on ")[-1]
        f = ftplib.FTP(timeout=WAIT_S)
        f.connect("127.0.0.1", int(line.rsplit(":")[1]))
        f.login("alice", PASSWORD)
        f.quit()
        r = self.client(port, "put", "my file.txt")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.bad_login(port)
        self.over_the_limit(port)
        lines = self.stop(p, path)
        for x in lines:
            self.assertRegex(x, LINE)
        text = "\n".join(lines)
        for want in (r"ssftpd notice: TLS key ", r" alice: login ok$",
                     r"ssftpd ftp 127\.0\.0\.1:\d+ alice: login ok$",
                     r" -: login failed for alice",
                     r"ssftpd 127\.0\.0\.1:\d+ alice: put /my file\.txt: ok",
                     r"ssftpd warning 127\.0\.0\.1:\d+ -: admission: ",
                     r"ssftpd notice: shutting down",
                     r"ssftpd notice: stopped$"):
            self.assertRegex(text, re.compile(want, re.M))
        self.assertNotIn("socketserver:", text)

    def test_log_level_warning_hides_info_and_notice(self):
        p, port, path = self.serve("--max-per-ip", "1", "--log-level",
                                   "warning")
        r = self.client(port, "ls")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.bad_login(port)
        self.over_the_limit(port)
        lines = self.stop(p, path)
        text = "\n".join(lines)
        self.assertRegex(text, r"ssftpd warning 127\.0\.0\.1:\d+ -: admission")
        # A failed login is one an operator looks at: kept at warning.
        self.assertRegex(text, r"ssftpd warning 127\.0\.0\.1:\d+ -: login "
                         r"failed for alice")
        self.assertNotIn("login ok", text)
        for x in lines:
            self.assertRegex(x, rf"^{STAMP} ssftpd (warning|error)[ :]")

    def test_a_bad_level_is_refused(self):
        r = test_service.run("--log-level", "loud", "--root", self.root)
        self.assertEqual(r.returncode, 2)
        self.assertIn("bad or missing value for --log-level", r.stderr)

    def test_journal_lines_have_priorities_and_no_timestamps(self):
        env = dict(os.environ, JOURNAL_STREAM="")
        p, port, path = self.serve("--max-per-ip", "1", env=env)
        r = self.client(port, "ls")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.over_the_limit(port)
        lines = self.stop(p, path)
        for x in lines:
            self.assertRegex(x, JOURNAL_LINE)
        text = "\n".join(lines)
        self.assertRegex(text, re.compile(r"^<6>ssftpd 127\.0\.0\.1:\d+ "
                                          r"alice: login ok$", re.M))
        self.assertRegex(text, re.compile(r"^<4>ssftpd warning 127", re.M))
        self.assertRegex(text, re.compile(r"^<5>ssftpd notice: stopped$",
                                          re.M))

    def test_syslog(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: /dev/log is replaced in a private "
                          "mount namespace (unshare -m)")
        sock_path = os.path.join(self.tmp, "log.sock")
        # /dev/log itself, or (a link to a socket that is missing here, as
        # without journald) a tmpfs over the nearest directory above it.
        real = os.path.realpath("/dev/log")
        if os.path.exists(real):
            script = 'mount --bind "$0" /dev/log && exec "$@"'
        else:
            top = os.path.dirname(real)
            while not os.path.isdir(top):
                top = os.path.dirname(top)
            if top in ("/", "/dev", "/tmp") or not os.path.islink("/dev/log"):
                self.skipTest(f"no /dev/log to stand in for (it is {real})")
            script = (f'mount -t tmpfs tmpfs "{top}" && '
                      f'mkdir -p "{os.path.dirname(real)}" && '
                      f'ln -s "$0" "{real}" && exec "$@"')
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.bind(sock_path)
        wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                script, sock_path]
        probe = subprocess.run(wrap + ["true"], capture_output=True,
                               text=True, timeout=WAIT_S)
        if probe.returncode != 0:
            self.skipTest("cannot put a socket at /dev/log in a mount "
                          f"namespace here: {probe.stderr.strip()}")
        p, port, path = self.serve("--log", "syslog", "--max-per-ip", "1",
                                   wrap=wrap)
        r = self.client(port, "ls")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.over_the_limit(port)
        self.assertEqual(self.stop(p, path), [])  # all of it went to syslog
        got = []
        s.settimeout(0.5)
        try:
            while True:
                got.append(s.recv(65536).decode())
        except socket.timeout:
            pass
        # unshare exec'd sh, which exec'd ssftpd: the same pid.  RFC 3164
        # as glibc sends it: <PRI>TIMESTAMP ssftpd[PID]: MESSAGE, PRI the
        # daemon facility's 24 plus the level's priority.
        syslog_line = re.compile(
            rf"^<(\d+)>\w{{3}} [ \d]\d \d\d:\d\d:\d\d ssftpd\[{p.pid}\]: "
            r"(.*)$")
        msgs = {}
        for g in got:
            m = syslog_line.match(g)
            self.assertTrue(m, g)
            self.assertNotRegex(m.group(2), STAMP)
            msgs[m.group(2)] = int(m.group(1))

        def pri(pattern):
            return [v for k, v in msgs.items() if re.search(pattern, k)]
        self.assertEqual(pri(r"^127\.0\.0\.1:\d+ alice: login ok$"), [30])
        self.assertEqual(pri(r"^warning 127\.0\.0\.1:\d+ -: admission"), [28])
        self.assertEqual(pri(r"^notice: stopped$"), [29])


class Xferlog(WithAlice):
    def ftp(self, port):
        f = ftplib.FTP(timeout=WAIT_S)
        f.connect("127.0.0.1", port)
        f.login("alice", PASSWORD)
        return f

    def run_server(self, *args):
        xfer = os.path.join(self.tmp, "xferlog")
        p, port = self.start("--root", self.root, "--ftp", "127.0.0.1:0",
                             "--xferlog", xfer, *args)
        line = read_until(p.stdout, r"^ftp listening on ")[-1]
        return p, port, int(line.rsplit(":")[1]), xfer

    def test_both_protocols_complete_and_cut(self):
        p, port, ftp_port, xfer = self.run_server()
        self.assertEqual(os.stat(xfer).st_mode & 0o777, 0o640)
        r = self.client(port, "put", "my file.txt")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.client(port, "get", "my file.txt", "copy.txt")
        self.assertEqual(r.returncode, 0, r.stderr)
        f = self.ftp(ftp_port)
        with open(os.path.join(self.tmp, "my file.txt"), "rb") as src:
            f.storbinary("STOR ftp name.txt", src)
        got = []
        f.retrbinary("RETR my file.txt", got.append)
        # A download cut: the data connection closed after a few bytes.
        big = os.path.join(self.root, "homes", "alice", "big")
        with open(big, "wb") as b:
            b.truncate(64 << 20)
        conn = f.transfercmd("RETR big")
        conn.recv(1000)
        conn.close()
        with self.assertRaises(ftplib.Error):
            f.voidresp()
        f.quit()
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=WAIT_S), 0)
        with open(xfer) as fh:
            rows = [parse_xferlog(x) for x in fh]
        size = len("hello, log\n")
        want = [("ssftp", "i", "/my_file.txt", size, "c"),
                ("ssftp", "o", "/my_file.txt", size, "c"),
                ("ftp", "i", "/ftp_name.txt", size, "c"),
                ("ftp", "o", "/my_file.txt", size, "c"),
                ("ftp", "o", "/big", None, "i")]
        self.assertEqual(len(rows), len(want), rows)
        for row, (svc, d, name, n, status) in zip(rows, want):
            self.assertEqual((row["service"], row["direction"], row["file"],
                              row["status"], row["host"], row["user"]),
                             (svc, d, name, status, "127.0.0.1", "alice"))
            if n is not None:
                self.assertEqual(row["bytes"], n)
            else:
                self.assertLess(row["bytes"], 64 << 20)

    def test_a_cut_get_counts_what_was_sent(self):
        """A native get cut by the client: the log and the xferlog say how
        much went out, not 0."""
        p, port, _, xfer = self.run_server()
        big = os.path.join(self.root, "homes", "alice", "big")
        with open(big, "wb") as b:
            b.truncate(64 << 20)
        env = dict(os.environ, SSFTP_PASSWORD=PASSWORD,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "xdg"))
        work = os.path.join(self.tmp, "cut")
        os.mkdir(work)
        c = subprocess.Popen(
            [test_service.SSFTP, "-u", "alice", "--no-progress",
             "--accept-new-host-key", "--limit-rate", "2M",
             f"127.0.0.1:{port}", "get", "big", "copy"], cwd=work, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and c.poll() is None:
            if sum(os.path.getsize(os.path.join(work, n))
                   for n in os.listdir(work)) >= 1 << 20:
                break
            time.sleep(0.02)  # polling the client's progress
        c.kill()
        c.wait()
        said = read_until(p.stderr, r"alice: get /big: cut, ")[-1]
        sent = int(re.search(r"cut, (\d+) of", said).group(1))
        self.assertGreaterEqual(sent, 1 << 20, said)
        self.assertLess(sent, 64 << 20, said)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=WAIT_S), 0)
        with open(xfer) as fh:
            rows = [parse_xferlog(x) for x in fh]
        self.assertEqual([(r["direction"], r["file"], r["status"], r["bytes"])
                          for r in rows], [("o", "/big", "i", sent)])

    def test_sighup_reopens_it(self):
        """logrotate's way: the file moved away, SIGHUP, and the next line
        goes to a new file of that name."""
        p, port, _, xfer = self.run_server()
        os.rename(xfer, xfer + ".1")
        p.send_signal(signal.SIGHUP)
        read_until(p.stderr, r"ssftpd notice: reloaded; TLS key")
        r = self.client(port, "put", "my file.txt")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(xfer) as fh:
            self.assertEqual([parse_xferlog(x)["file"] for x in fh],
                             ["/my_file.txt"])
        self.assertEqual(os.path.getsize(xfer + ".1"), 0)

    def test_forked_sessions_write_too(self):
        # Without --ftp: its thread, there before the forks, is one that
        # ThreadSanitizer's forked children cannot live with.
        xfer = os.path.join(self.tmp, "xferlog")
        p, port = self.start("--root", self.root, "--xferlog", xfer,
                             "--isolation", "process")
        r = self.client(port, "put", "my file.txt")
        self.assertEqual(r.returncode, 0, r.stderr)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=WAIT_S), 0)
        with open(xfer) as fh:
            rows = [parse_xferlog(x) for x in fh]
        self.assertEqual([(r["service"], r["direction"], r["status"])
                          for r in rows], [("ssftp", "i", "c")])


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    test_service.SSFTP = os.path.abspath(sys.argv[1])
    test_service.SSFTPD = os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])


if __name__ == "__main__":
    main()

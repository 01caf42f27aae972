#!/usr/bin/env python3
"""ssftpd who, end to end: the real binaries.

Usage: test_who.py SSFTP SSFTPD

The sessions a running server lists: an ssftp login, an FTP connection not
logged in ("-"), FTP transfers held half-way (Python's ftplib), sessions
gone after logout, --isolation process children (and one killed); no
server, a server killed (its socket left behind), two servers on one root,
and a user of another uid refused (as root only).  A native put held
half-way is e2e_driver's "who" scenario.  Every wait is bounded: who is
asked again until it shows what the test waits for.
"""
import ftplib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_service  # noqa: E402
from test_service import Base, Shell, read_until, run, WAIT_S  # noqa: E402


def who(root, *args, **kw):
    return run("who", "--root", root, *args, **kw)


def who_json(root):
    r = who(root, "--json")
    if r.returncode != 0:
        raise AssertionError(f"who --json: {r.returncode} {r.stderr}")
    return json.loads(r.stdout)


def sessions(root):
    return [s for srv in who_json(root)["servers"]
            for s in srv.get("sessions", [])]


class Who(Base):
    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, "root")
        self.add_user(self.root, "alice")

    def until(self, pred, what):
        """who --json's sessions, asked again until pred(sessions)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            got = sessions(self.root)
            if pred(got):
                return got
            if time.monotonic() > deadline:
                self.fail(f"who never showed {what}: {got}")
            time.sleep(0.02)

    def start_ftp(self, *args):
        p, port = self.start("--root", self.root, "--ftp", "127.0.0.1:0",
                             *args)
        line = read_until(p.stdout, r"^ftp listening on ")[-1]
        return p, port, int(re.search(r":(\d+)$", line).group(1))

    def shell(self, port):
        """An ssftp shell, logged in once who lists it."""
        fp = run("fingerprint", "--root", self.root).stdout.strip()
        sh = Shell(self, port, fp)
        self.until(lambda s: any(x["user"] == "alice" and x["proto"] ==
                                 "ssftp" for x in s), "the ssftp login")
        return sh

    def ftp(self, port):
        f = ftplib.FTP()
        f.connect("127.0.0.1", port, timeout=WAIT_S)
        f.login("alice", test_service.PASSWORD)
        return f


class Sessions(Who):
    def test_logins_ftp_and_transfers_show_and_go(self):
        p, port, ftp_port = self.start_ftp()
        r = who(self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), "USER PROTO FROM SINCE IDLE "
                         "DOING".split())
        # Not logged in: "-", doing "login".
        raw = socket.create_connection(("127.0.0.1", ftp_port),
                                       timeout=WAIT_S)
        self.addCleanup(raw.close)
        self.assertTrue(raw.recv(100).startswith(b"220"))
        sh = self.shell(port)
        got = self.until(lambda s: len(s) == 2, "two sessions")
        by = {s["proto"]: s for s in got}
        self.assertIsNone(by["ftp"]["user"])
        self.assertIsNone(by["ftp"]["login"])
        self.assertEqual(by["ftp"]["state"], "login")
        self.assertEqual(by["ssftp"]["state"], "idle")
        self.assertEqual(by["ssftp"]["user"], "alice")
        self.assertIsNone(by["ssftp"]["transfer"])
        table = who(self.root).stdout.splitlines()
        self.assertRegex(table[1], r"^-\s+ftp\s+127\.0\.0\.1:\d+\s+"
                         r"\d\d:\d\d:\d\d\s+\d+s\s+login$")
        self.assertRegex(table[2], r"^alice\s+ssftp\s+127\.0\.0\.1:\d+\s+"
                         r"\d\d:\d\d:\d\d\s+\d+s\s+idle$")
        # An FTP upload held half-way: its name and bytes (no total).
        f = self.ftp(ftp_port)
        self.addCleanup(f.close)
        data = f.transfercmd("STOR half.bin")
        data.sendall(b"x" * (1 << 20))
        self.until(lambda s: any(
            (x["transfer"] or {}).get("done") == 1 << 20 for x in s),
            "the FTP upload's MiB")
        out = who(self.root).stdout
        self.assertRegex(out, r"\nalice\s+ftp\s.* put /half\.bin 1 MiB "
                         r"[\d.]+ \S*B/s\n")
        data.close()
        self.assertTrue(f.voidresp().startswith("226"))
        # A download the client does not read: total and percent.
        with open(os.path.join(self.root, "homes", "alice", "big.bin"),
                  "wb") as b:
            b.truncate(64 << 20)
        data = f.transfercmd("RETR big.bin")
        self.addCleanup(data.close)
        self.until(lambda s: any(
            (x["transfer"] or {}).get("dir") == "get" for x in s),
            "the FTP download")
        self.assertRegex(who(self.root).stdout,
                         r" get /big\.bin [\d.]+ \S+/64 MiB \d+% ")
        data.close()
        f.close()
        # Logged out: gone.
        self.assertEqual(sh.quit(), 0)
        raw.close()
        self.until(lambda s: s == [], "no session")
        p.terminate()
        self.assertEqual(p.wait(timeout=WAIT_S), 0)
        self.assertEqual(os.listdir(os.path.join(self.root, "run")), [])

    def test_controls_in_a_name_are_shown_escaped(self):
        # (The jail refuses C0 controls in names; a right-to-left override
        # would turn the line around on a terminal.)
        p, port, ftp_port = self.start_ftp()
        f = self.ftp(ftp_port)
        self.addCleanup(f.close)
        data = f.transfercmd("STOR e\u202etxt.exe")
        self.addCleanup(data.close)
        data.sendall(b"x")
        got = self.until(lambda s: any(
            (x["transfer"] or {}).get("done") == 1 for x in s), "the byte")
        self.assertEqual(got[0]["state"], "put")
        out = who(self.root).stdout
        self.assertIn(" put /e\\u{202e}txt.exe 1 B ", out)
        self.assertNotIn("\u202e", out)
        self.assertNotIn("\u202e", who(self.root, "--json").stdout)

    def test_ftps_is_named(self):
        p, port, ftp_port = self.start_ftp()
        f = ftplib.FTP_TLS()
        f.connect("127.0.0.1", ftp_port, timeout=WAIT_S)
        self.addCleanup(f.close)
        f.auth()
        self.until(lambda s: [x["proto"] for x in s] == ["ftps"], "ftps")

    def test_isolation_process_sessions_show_and_a_killed_one_goes(self):
        p, port = self.start("--root", self.root, "--isolation", "process")
        sh = self.shell(port)
        got = self.until(lambda s: len(s) == 1 and s[0]["user"] == "alice",
                         "alice")
        self.assertNotEqual(got[0]["pid"], p.pid)  # a session child
        os.kill(got[0]["pid"], signal.SIGKILL)
        self.until(lambda s: s == [], "no session")
        sh.p.kill()


class Servers(Who):
    def test_no_server_says_so(self):
        r = who(self.root)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, "ssftpd who: no server is running on "
                         f"{self.root}\n")
        r = who(os.path.join(self.tmp, "nope"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("No such file", r.stderr)

    def test_two_servers_and_a_killed_one(self):
        a, port_a = self.start("--root", self.root)
        b, port_b = self.start("--root", self.root)
        sh = self.shell(port_b)
        servers = who_json(self.root)["servers"]
        self.assertEqual(sorted(s["pid"] for s in servers),
                         sorted([a.pid, b.pid]))
        self.until(lambda s: len(s) == 1, "the session on b")
        sh.quit()
        # Killed: its socket stays behind, and is taken for what it is.
        b.kill()
        b.wait(timeout=WAIT_S)
        run_dir = os.path.join(self.root, "run")
        self.assertIn(f"ssftpd.{b.pid}.sock", os.listdir(run_dir))
        servers = who_json(self.root)["servers"]
        self.assertEqual([s["pid"] for s in servers], [a.pid])
        self.assertEqual(os.listdir(run_dir), [f"ssftpd.{a.pid}.sock"])
        a.kill()
        a.wait(timeout=WAIT_S)
        r = who(self.root)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no server is running", r.stderr)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to be another user")
    def test_another_uid_is_refused(self):
        nobody = test_service.pwd.getpwnam("nobody")
        p, port = self.start("--root", self.root)

        def as_nobody():
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        os.chmod(self.root, 0o755)
        r = who(self.root, preexec_fn=as_nobody)
        self.assertEqual(r.returncode, 1)
        self.assertIn("Permission denied; ask as the server's user",
                      r.stderr)
        # Even where the socket can be reached, the server asks who asks.
        run_dir = os.path.join(self.root, "run")
        os.chmod(run_dir, 0o777)
        for n in os.listdir(run_dir):
            os.chmod(os.path.join(run_dir, n), 0o777)
        r = who(self.root, preexec_fn=as_nobody)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"the server of pid {p.pid} did not answer: only the "
                      "server's user (uid 0) or root may ask; you are uid "
                      f"{nobody.pw_uid}", r.stderr)
        self.assertEqual(r.stdout, "")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    test_service.SSFTP = os.path.abspath(sys.argv[1])
    test_service.SSFTPD = os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])


if __name__ == "__main__":
    main()

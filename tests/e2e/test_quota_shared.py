#!/usr/bin/env python3
"""Quotas that stay true across processes and crashes, end to end.

Usage: test_quota_shared.py SSFTP SSFTPD

Real ssftpd processes on 127.0.0.1 port 0 (the port read back from their
"listening on" line), driven by the real ssftp client:

- two servers on one data root share every user's ledger, so 20 concurrent
  uploaders split between them never together pass a quota, and `quota`
  then equals the bytes on disk;
- a limit on entries (--max-files) stops mkdir and put like bytes;
- a server killed with SIGKILL mid-upload leaves counts in doubt that the
  next login makes true again;
- leftovers of cut commits and old partials are swept when the account is
  opened, and the log says what went.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SSFTP = SSFTPD = None
PASSWORD = "correct horse"
KDF = ["--kdf-ops", "2", "--kdf-mem", str(8 << 20)]


def write_random(path, size):
    with open(path, "wb") as f:
        f.write(os.urandom(size))


def disk_bytes(home):
    """What a count of the home finds: st_size of every regular file."""
    total = 0
    for d, dirs, files in os.walk(home):
        for n in files:
            st = os.lstat(os.path.join(d, n))
            if not os.path.islink(os.path.join(d, n)):
                total += st.st_size
    return total


class Root:
    """A data root with users, and the servers started on it."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="ssftp-quota-")
        self.root = os.path.join(self.tmp, "root")
        self.work = os.path.join(self.tmp, "work")
        os.mkdir(self.work)
        self.servers = []

    def add_user(self, name, *opts):
        subprocess.run([SSFTPD, "user", "add", name, "--root", self.root,
                        *KDF, *opts], input=PASSWORD + "\n", text=True,
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)

    def home(self, user):
        return os.path.join(self.root, "homes", user)

    def start(self, *opts):
        log = open(os.path.join(self.tmp, f"ssftpd{len(self.servers)}.log"),
                   "w+b")
        proc = subprocess.Popen(
            [SSFTPD, "--listen", "127.0.0.1:0", "--root", self.root, *opts],
            stdout=subprocess.PIPE, stderr=log, text=True)
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on \S+:(\d+)", line)
            if m:
                port = int(m.group(1))
        if port is None:
            proc.kill()
            proc.wait()
            proc.stdout.close()
            raise RuntimeError("ssftpd did not report its port")
        srv = {"proc": proc, "port": port, "log": log}
        self.servers.append(srv)
        return srv

    def log_of(self, srv):
        srv["log"].flush()
        srv["log"].seek(0)
        return srv["log"].read().decode(errors="replace")

    def cli(self, srv, user, *cmd, timeout=60):
        env = dict(os.environ, SSFTP_PASSWORD=PASSWORD,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "xdg"))
        return subprocess.run(
            [SSFTP, "-u", user, "--no-progress", "--accept-new-host-key",
             f"127.0.0.1:{srv['port']}", *cmd],
            cwd=self.work, env=env, text=True, capture_output=True,
            stdin=subprocess.DEVNULL, timeout=timeout)

    def spawn(self, srv, user, *cmd):
        """ssftp in the background: the interactive shell (no cmd) on a
        stdin pipe the caller holds, or one command."""
        env = dict(os.environ, SSFTP_PASSWORD=PASSWORD,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, "xdg"))
        return subprocess.Popen(
            [SSFTP, "-u", user, "--accept-new-host-key",
             *(["--no-progress"] if cmd else []),
             f"127.0.0.1:{srv['port']}", *cmd], cwd=self.work, env=env,
            stdin=subprocess.PIPE if not cmd else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def hold(self, srv, user):
        """An idle shell logged in as user: the account stays open on srv."""
        shell = self.spawn(srv, user)
        deadline = time.monotonic() + 30
        while "login ok" not in self.log_of(srv):
            if time.monotonic() > deadline:
                raise RuntimeError("no login")
            time.sleep(0.01)
        return shell

    def stop(self, srv):
        if srv["proc"].poll() is None:
            srv["proc"].terminate()
            try:
                srv["proc"].wait(20)
            except subprocess.TimeoutExpired:
                srv["proc"].kill()
                srv["proc"].wait()
        srv["proc"].stdout.close()

    def close(self, failed):
        for srv in self.servers:
            self.stop(srv)
            if failed:
                sys.stderr.write("---- server log ----\n" +
                                 self.log_of(srv)[-8000:])
            srv["log"].close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class QuotaAcrossProcesses(unittest.TestCase):
    def setUp(self):
        self.r = Root()

    def tearDown(self):
        self.r.close(not getattr(self._outcome, "success", False))

    def used_bytes(self, user):
        """The user's bytes as `ssftpd user list` counts them."""
        out = subprocess.run([SSFTPD, "user", "list", "--root", self.r.root],
                             capture_output=True, text=True, check=True)
        m = re.search(rf"^{user}\s.*\((\d+) bytes\)", out.stdout, re.M)
        return int(m.group(1))

    def test_two_servers_on_one_root_never_overshoot(self):
        r = self.r
        r.add_user("carol", "--quota", "10M")
        a, b = r.start(), r.start()
        size = 700 * 1024  # 14 of these fit in 10 MiB, 20 are tried
        for i in range(20):
            write_random(os.path.join(r.work, f"f{i}"), size)
        results = [None] * 20

        def up(i):
            srv = a if i % 2 == 0 else b
            results[i] = r.cli(srv, "carol", "put", f"f{i}", f"f{i}")

        threads = [threading.Thread(target=up, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        ok = sum(1 for x in results if x.returncode == 0)
        refused = [x for x in results if x.returncode != 0]
        for x in refused:
            self.assertIn("quota", x.stderr)
        on_disk = disk_bytes(r.home("carol"))
        print(f"20 uploaders on 2 servers: {ok} stored, {len(refused)} "
              f"refused, {on_disk} bytes on disk of {10 << 20}")
        self.assertLessEqual(on_disk, 10 << 20)  # overshoot 0
        self.assertEqual(ok, 14)
        self.assertEqual(on_disk, ok * size)
        # Both servers report exactly what is on disk.
        for srv in (a, b):
            q = r.cli(srv, "carol", "quota")
            self.assertEqual(q.returncode, 0, q.stderr)
            self.assertIn("files 14", q.stdout)
        self.assertEqual(self.used_bytes("carol"), on_disk)
        # ... and the ledger agrees: a put that fits exactly is accepted,
        # one byte more refused, through either server.
        left = (10 << 20) - on_disk
        write_random(os.path.join(r.work, "rest"), left + 1)
        x = r.cli(b, "carol", "put", "rest", "rest")
        self.assertNotEqual(x.returncode, 0)
        self.assertIn("quota exceeded", x.stderr)
        with open(os.path.join(r.work, "rest"), "r+b") as f:
            f.truncate(left)
        x = r.cli(a, "carol", "put", "rest", "rest")
        self.assertEqual(x.returncode, 0, x.stderr)

    def test_a_server_killed_mid_upload_cannot_lend_its_bytes(self):
        """A server killed mid-upload while another holds the account open:
        the bytes already in the partial were counted nowhere, and a put
        through the other server went 23 MiB past a 100 MiB quota."""
        r = self.r
        r.add_user("ivan", "--quota", "40M")
        a, b = r.start(), r.start()
        holder = r.hold(b, "ivan")  # keeps ivan's account open on b
        write_random(os.path.join(r.work, "big"), 24 << 20)
        write_random(os.path.join(r.work, "more"), 30 << 20)
        up = r.spawn(a, "ivan", "put", "big", "big")
        part = os.path.join(r.home("ivan"), ".big.ssftp-part")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(part) and os.path.getsize(part) > (8 << 20):
                break
            time.sleep(0.005)
        a["proc"].kill()
        a["proc"].wait()
        up.wait(60)
        x = r.cli(b, "ivan", "put", "more", "more")
        on_disk = disk_bytes(r.home("ivan"))
        print(f"after the kill: put of 30 MiB -> exit {x.returncode}, "
              f"{on_disk} bytes on disk of {40 << 20}")
        self.assertNotEqual(x.returncode, 0)
        self.assertIn("quota exceeded", x.stderr)
        self.assertLessEqual(on_disk, 40 << 20)
        holder.stdin.close()
        holder.wait(30)
        # Nobody else on the account now: the next login counts the home.
        q = r.cli(b, "ivan", "quota")
        self.assertIn("files 1", q.stdout)
        self.assertEqual(self.used_bytes("ivan"), on_disk)

    def test_max_files_limits_directories_and_files(self):
        r = self.r
        r.add_user("dave", "--max-files", "3")
        srv = r.start()
        write_random(os.path.join(r.work, "f"), 10)
        self.assertEqual(r.cli(srv, "dave", "mkdir", "a").returncode, 0)
        self.assertEqual(r.cli(srv, "dave", "put", "f", "f").returncode, 0)
        self.assertEqual(r.cli(srv, "dave", "mkdir", "b").returncode, 0)
        x = r.cli(srv, "dave", "mkdir", "c")
        self.assertEqual(x.returncode, 1)
        self.assertIn("quota exceeded (files 3 of 3)", x.stderr)
        x = r.cli(srv, "dave", "put", "f", "g")
        self.assertEqual(x.returncode, 1)
        self.assertIn("quota exceeded", x.stderr)
        # A refused put leaves no partial behind.
        self.assertEqual(sorted(os.listdir(r.home("dave"))), ["a", "b", "f"])
        # Replacing a file needs its partial for a moment: at the limit it
        # is refused like a new one, and the old file is untouched.
        q = r.cli(srv, "dave", "quota")
        self.assertIn("files 3 of 3", q.stdout)
        self.assertEqual(r.cli(srv, "dave", "rmdir", "b").returncode, 0)
        self.assertEqual(r.cli(srv, "dave", "put", "f", "g").returncode, 0)
        self.assertIn("files 3 of 3", r.cli(srv, "dave", "quota").stdout)
        # The admin raises it; the server sees the change at once.
        subprocess.run([SSFTPD, "user", "quota", "dave", "--max-files", "10",
                        "--root", r.root], check=True, capture_output=True)
        self.assertEqual(r.cli(srv, "dave", "mkdir", "c").returncode, 0)
        self.assertIn("files 4 of 10", r.cli(srv, "dave", "quota").stdout)

    def test_default_max_files_applies_to_users_without_their_own(self):
        r = self.r
        r.add_user("erin")
        srv = r.start("--default-max-files", "2")
        self.assertEqual(r.cli(srv, "erin", "mkdir", "a").returncode, 0)
        self.assertEqual(r.cli(srv, "erin", "mkdir", "b").returncode, 0)
        x = r.cli(srv, "erin", "mkdir", "c")
        self.assertIn("quota exceeded", x.stderr)

    def test_sigkill_mid_upload_then_counts_are_made_true(self):
        r = self.r
        r.add_user("fred", "--quota", "1G")
        srv = r.start()
        write_random(os.path.join(r.work, "big"), 64 << 20)
        write_random(os.path.join(r.work, "small"), 1000)
        self.assertEqual(r.cli(srv, "fred", "put", "small", "small")
                         .returncode, 0)
        up = r.spawn(srv, "fred", "put", "big", "big")
        part = os.path.join(r.home("fred"), ".big.ssftp-part")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if os.path.exists(part) and os.path.getsize(part) > (1 << 20):
                break
            time.sleep(0.01)
        srv["proc"].kill()  # no drain, no drop: the promise dies with it
        srv["proc"].wait()
        up.wait(60)
        on_disk = disk_bytes(r.home("fred"))
        self.assertGreater(on_disk, 1000)
        srv2 = r.start()
        q = r.cli(srv2, "fred", "quota")
        self.assertEqual(q.returncode, 0, q.stderr)
        self.assertIn("files 2", q.stdout)  # small and the partial
        self.assertEqual(self.used_bytes("fred"), on_disk)
        # The resume finishes it and the counts still match the disk.
        x = r.cli(srv2, "fred", "put", "big", "big")
        self.assertEqual(x.returncode, 0, x.stderr)
        self.assertIn("files 2", r.cli(srv2, "fred", "quota").stdout)

    def test_open_after_a_crash_sweeps_leftovers_and_old_partials(self):
        r = self.r
        r.add_user("gina")
        srv = r.start("--partial-max-age", "1h")
        # A session holds the account open when the server dies, as it
        # would mid-commit; what a crash there leaves is planted meanwhile.
        shell = r.hold(srv, "gina")
        home = r.home("gina")
        os.makedirs(os.path.join(home, "d"))
        left = os.path.join(home, "d", ".commit-00000000deadbeef.ssftp-part")
        write_random(left, 4000)
        old = os.path.join(home, ".old.ssftp-part")
        write_random(old, 3000)
        os.utime(old, (time.time() - 7200, time.time() - 7200))
        fresh = os.path.join(home, ".fresh.ssftp-part")
        write_random(fresh, 2000)
        srv["proc"].kill()
        srv["proc"].wait()
        shell.stdin.close()
        shell.wait(30)
        srv = r.start("--partial-max-age", "1h")
        q = r.cli(srv, "gina", "quota")
        self.assertEqual(q.returncode, 0, q.stderr)
        self.assertFalse(os.path.exists(left))
        self.assertFalse(os.path.exists(old))
        self.assertTrue(os.path.exists(fresh))
        self.assertIn("files 2", q.stdout)  # d and the fresh partial
        log = r.log_of(srv)
        self.assertRegex(log, r"swept 1 leftover\(s\) of cut commits from "
                              r"the home of gina \(4000 bytes\)")
        self.assertRegex(log, r"swept 1 partial upload\(s\) unwritten for "
                              r"3600 s or more from the home of gina "
                              r"\(3000 bytes\)")

    def test_rescan_picks_up_changes_made_outside_the_server(self):
        r = self.r
        r.add_user("hank")
        srv = r.start()
        self.assertIn("files 0", r.cli(srv, "hank", "quota").stdout)
        write_random(os.path.join(r.home("hank"), "dropped-in"), 5000)
        # The ledger is the truth until told otherwise ...
        self.assertIn("files 0", r.cli(srv, "hank", "quota").stdout)
        x = subprocess.run([SSFTPD, "user", "rescan", "hank", "--root",
                            r.root], capture_output=True, text=True)
        self.assertEqual(x.returncode, 0, x.stderr)
        self.assertIn("hank: 1 entries", x.stderr)
        self.assertIn("(5000 bytes)", x.stderr)
        q = r.cli(srv, "hank", "quota")
        self.assertIn("files 1", q.stdout)
        x = subprocess.run([SSFTPD, "user", "rescan", "nobody", "--root",
                            r.root], capture_output=True, text=True)
        self.assertEqual(x.returncode, 1)
        self.assertIn("no such user", x.stderr)


if __name__ == "__main__":
    SSFTP, SSFTPD = (os.path.abspath(a) for a in sys.argv[1:3])
    unittest.main(argv=sys.argv[:1], verbosity=2)

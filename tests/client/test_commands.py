#!/usr/bin/env python3
"""ssftp's everyday commands end to end (issue 13): --version and the exit
codes, exit/bye/?, help CMD, lpwd/lcd/lls, !command, mv/rename and stat
(with hostile paths), ls -l/-h, get FILE - and put - NAME, put FILE DIR/,
and -b FILE batches with '-' lines.

Usage: test_commands.py SSFTP SSFTPD

The real binaries on 127.0.0.1 port 0, as test_client.py (whose server and
helpers this reuses); the interactive parts run the client under a pty.
"""
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_client as tc  # noqa: E402


class CuttingRelay(tc.ByteRelay):
    """A 127.0.0.1 byte relay to port for any number of connections; the
    first is cut (both ways) once cut_after bytes went to the client."""

    def __init__(self, port, cut_after):
        self.cut_after, self.accepted = cut_after, 0
        super().__init__(port)  # starts run()

    def pump(self, src, dst, limit):
        sent = 0
        try:
            while limit is None or sent < limit:
                data = src.recv(1 << 16)
                if not data:
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for s in (src, dst) if limit is not None else (dst,):
            try:
                s.shutdown(socket.SHUT_RDWR if limit is not None
                           else socket.SHUT_WR)
            except OSError:
                pass

    def run(self):
        while True:
            try:
                cli, _ = self.lsock.accept()
                srv = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                return
            self.accepted += 1
            self.socks += [cli, srv]
            limit = self.cut_after if self.accepted == 1 else None
            for args in ((srv, cli, limit), (cli, srv, None)):
                threading.Thread(target=self.pump, args=args,
                                 daemon=True).start()

    def __exit__(self, *exc):
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        except OSError:
            pass
        super().__exit__(*exc)


def reap(pid, fd):
    """The client's wait status, bounded: one still running after 30 s is
    killed.  Closes its pty."""
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if not done:
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    os.close(fd)
    return status


class Commands(unittest.TestCase):
    setUp = tc.ClientTest.setUp
    tearDown = tc.ClientTest.tearDown
    args = tc.ClientTest.args
    run_cli = tc.ClientTest.run_cli
    ok = tc.ClientTest.ok
    fails = tc.ClientTest.fails
    local = tc.ClientTest.local
    interrupt_when_grown = tc.ClientTest.interrupt_when_grown

    def home(self, *parts):
        return os.path.join(tc.SRV.home("alice"), *parts)

    def batch(self, text):
        path = self.local("cmds.txt")
        with open(path, "w") as f:
            f.write(text)
        return subprocess.run(self.args("alice", opts=("-b", path)),
                              cwd=self.work, env=self.env, text=True,
                              input="", capture_output=True, timeout=60)

    # ---- 1: --version, exit codes ------------------------------------------
    def test_version_prints_the_project_version_and_exits_0(self):
        r = subprocess.run([tc.SSFTP, "--version"], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^ssftp \d+\.\d+\.\d+\n$")
        self.assertEqual(r.stderr, "")

    def test_help_lists_the_exit_codes_that_happen(self):
        out = subprocess.run([tc.SSFTP, "--help"], capture_output=True,
                             text=True, timeout=30).stdout
        for code in ("0 success", "1 a command failed", "2 usage",
                     "3 cannot", "4 login refused", "130 interrupted"):
            self.assertIn(code, out.replace("\n", " "))
        # the codes it lists are the ones it gives
        self.assertEqual(self.run_cli("rm", "nope").returncode, 1)
        self.assertEqual(self.run_cli("frob").returncode, 2)
        self.assertEqual(subprocess.run([tc.SSFTP, "--frob"],
                                        capture_output=True,
                                        timeout=30).returncode, 2)
        env = dict(self.env, SSFTP_PASSWORD="wrong")
        self.assertEqual(self.run_cli("pwd", env=env).returncode, 4)

    # ---- 2: aliases, help CMD, local commands, !cmd ----------------------
    def test_exit_bye_and_question_mark(self):
        for word in ("exit", "bye"):
            r = self.run_cli(stdin=f"{word}\nmkdir never_{word}\n")
            self.assertEqual(r.returncode, 0, r.stderr)
        listing = self.ok("ls")
        self.assertNotIn("never_", listing)
        self.assertEqual(self.ok("?"), self.ok("help"))
        self.assertIn("quit", self.ok("?"))

    def test_help_of_one_command(self):
        self.assertRegex(self.ok("help", "put"), r"^  put LOCAL \[REMOTE\] +\S.*\n$")
        self.assertRegex(self.ok("help", "bye"), r"^  quit .*also exit, bye")
        self.assertRegex(self.ok("help", "rename"), r"^  mv OLD NEW")
        self.fails(2, r"help nosuch: no such command", "help", "nosuch")

    def test_lpwd_lcd_lls(self):
        os.mkdir(self.local("sub"))
        with open(self.local("sub", ) + "/f.txt", "wb") as f:
            f.write(b"x" * 3000)
        out = self.ok(stdin="lpwd\nlcd sub\nlpwd\nlls\nlls -h\nlls ..\n")
        lines = out.splitlines()
        self.assertEqual(lines[0], os.path.realpath(self.work))
        self.assertEqual(lines[1], os.path.realpath(self.local("sub")))
        self.assertRegex(lines[2], r"^- +3000 \d{4}-\d\d-\d\d \d\d:\d\d  f\.txt$")
        self.assertRegex(lines[3], r"^- +2\.9 KiB .*  f\.txt$")
        self.assertIn("d            0", out)
        self.assertRegex(out, r"  sub/\n")
        # lcd changes where get writes
        self.ok("put", "sub/f.txt", "lcd_f.txt")
        self.ok(stdin="lcd sub\nget lcd_f.txt\n")
        self.assertTrue(os.path.exists(self.local("sub/lcd_f.txt")))
        self.ok("rm", "lcd_f.txt")
        self.fails(1, r"line 1: lcd nosuch: No such file", stdin="lcd nosuch\n")
        self.fails(1, r"line 1: lls nosuch: No such file", stdin="lls nosuch\n")
        self.fails(2, r"line 1: usage: lls", stdin="lls -x\n")

    def test_bang_runs_a_local_shell_command(self):
        out = self.ok(stdin="!echo one  'two'  > bang.txt; echo ran\n")
        self.assertEqual(out, "ran\n")
        with open(self.local("bang.txt")) as f:
            self.assertEqual(f.read(), "one two\n")
        # one-shot too, the words joined again
        self.assertEqual(self.ok("!echo", "a", "b"), "a b\n")
        r = self.fails(1, r"line 1: !exit 3: exit status 3$",
                       stdin="!exit 3\npwd\n")
        self.assertEqual(r.stdout, "")
        self.fails(1, r"line 1: !kill -9 \$\$: killed by signal 9$",
                   stdin="!kill -9 $$\n")
        # the child is not left ignoring SIGPIPE
        out = self.ok(stdin="!yes | head -n 1\n")
        self.assertEqual(out, "y\n")

    def run_pty_script(self, steps, argv=None):
        """ssftp (argv, default alice on the shared server) under a pty;
        steps are (line to type, bytes to wait for after it), or (None,
        seconds to stay idle), then bye.  Returns (exit code, output)."""
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(self.work)
            os.execve(tc.SSFTP, argv or self.args("alice"),
                      dict(self.env, TERM="xterm"))
        out = b""

        def read_until(token, start=0):
            nonlocal out
            deadline = time.monotonic() + 30
            while token not in out[start:] and time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 1)
                if ready:
                    try:
                        data = os.read(fd, 65536)
                    except OSError:
                        break
                    if not data:
                        break
                    out += data
            return token in out[start:]

        try:
            self.assertTrue(read_until(b"alice@127.0.0.1:/> "), out)
            for line, token in steps:
                if line is None:  # stay idle at the prompt token seconds
                    time.sleep(token)
                    continue
                mark = len(out)
                os.write(fd, line + b"\r")
                self.assertTrue(read_until(token, mark), (line, out[mark:]))
            os.write(fd, b"bye\r")
            read_until(b"never seen", len(out))  # to the end of output
        finally:
            status = reap(pid, fd)
        return os.waitstatus_to_exitcode(status), out.decode(errors="replace")

    def test_interactive_local_commands_and_bye_on_a_terminal(self):
        os.mkdir(self.local("tdir"))
        real = os.path.realpath(self.local("tdir")).encode()
        prompt = b"alice@127.0.0.1:/> "
        code, out = self.run_pty_script([
            (b"lcd tdir", prompt),
            (b"lpwd", real + b"\r\n"),
            (b"!echo hi > made.txt", prompt),
            (b"lls", b"made.txt"),
            (b"!false", b"!false: exit status 1"),
            (b"help lcd", b"lcd [DIR]"),
            (b"?", b"quit"),
        ])
        self.assertEqual(code, 0, out)
        self.assertTrue(os.path.exists(self.local("tdir/made.txt")))

    def test_history_is_kept_across_sessions(self):
        prompt = b"alice@127.0.0.1:/> "
        code, out = self.run_pty_script([(b"!echo x >> hist.txt", prompt)])
        self.assertEqual(code, 0, out)
        path = os.path.join(self.xdg, "ssftp", "history")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        with open(path, "rb") as f:
            self.assertIn(b"hist.txt", f.read())
        # in the next session, Ctrl-P twice (past "bye") brings it back
        code, out = self.run_pty_script([(b"\x10\x10", prompt)])
        self.assertEqual(code, 0, out)
        with open(self.local("hist.txt")) as f:
            self.assertEqual(f.read(), "x\nx\n")

    def test_tab_completes_commands_remote_and_local_names(self):
        tc.write_random(self.local("tab_local.bin"), 10)
        os.mkdir(self.local("tab_dir"))
        tc.write_random(self.local("tab_dir/inner.txt"), 10)
        self.ok("mkdir", "tabdir")
        self.ok("put", "tab_local.bin", "tabdir/tab_remote.bin")
        prompt = b"alice@127.0.0.1:/> "
        code, out = self.run_pty_script([
            # a command name, then a remote directory and a file in it
            (b"sta\ttabd\ttab_r\t", b"  path: /tabdir/tab_remote.bin"),
            # cd completes remote names, lls local ones
            (b"cd tabd\t", b"alice@127.0.0.1:/tabdir> "),
            (b"lls tab_l\t", b"  tab_local.bin\r\n"),
            (b"lls tab_d\t", b"  inner.txt\r\n"),
            (b"cd /", prompt),
        ])
        self.assertEqual(code, 0, out)
        self.ok("rm", "tabdir/tab_remote.bin")
        self.ok("rmdir", "tabdir")

    def test_ctrl_c_stops_a_transfer_and_returns_to_the_prompt(self):
        big = os.path.join(tc.SRV.home("alice"), "ctrlc.bin")
        tc.write_random(big, tc.BIG)  # made behind the server's back
        want = tc.blake(big)
        part = self.local(".ctrlc.bin.ssftp-part")
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(self.work)
            os.execve(tc.SSFTP, self.args("alice"),
                      dict(self.env, TERM="xterm"))
        out = b""

        def read_until(token, start=0, grown=None):
            nonlocal out
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if token is not None and token in out[start:]:
                    return True
                if grown and os.path.exists(grown) and \
                        os.stat(grown).st_size > 0:
                    return True
                ready, _, _ = select.select([fd], [], [], 0.01)
                if ready:
                    try:
                        data = os.read(fd, 65536)
                    except OSError:
                        return False
                    if not data:
                        return False
                    out += data
            return False

        prompt = b"alice@127.0.0.1:/> "
        try:
            self.assertTrue(read_until(prompt), out)
            os.write(fd, b"get ctrlc.bin\r")
            self.assertTrue(read_until(None, grown=part), out)
            mark = len(out)
            os.write(fd, b"\x03")
            self.assertTrue(read_until(b"interrupted; run the same command "
                                       b"again to resume", mark), out[mark:])
            self.assertTrue(read_until(b"reconnected to 127.0.0.1", mark),
                            out[mark:])
            self.assertTrue(read_until(prompt, mark), out[mark:])
            size = os.stat(part).st_size
            self.assertLess(size, tc.BIG)
            mark = len(out)
            os.write(fd, b"get ctrlc.bin\r")
            self.assertTrue(read_until(b"verified", mark), out[mark:])
            if size > 0:
                self.assertIn(b"resumed at", out[mark:])
            self.assertTrue(read_until(prompt, mark), out[mark:])
            os.write(fd, b"bye\r")
            read_until(b"never seen", len(out))
        finally:
            status = reap(pid, fd)
            os.unlink(big)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, out)
        self.assertEqual(tc.blake(self.local("ctrlc.bin")), want)

    def test_a_broken_connection_reconnects_and_resumes_once(self):
        big = os.path.join(tc.SRV.home("alice"), "cut.bin")
        tc.write_random(big, 16 << 20)
        want = tc.blake(big)
        with CuttingRelay(tc.SRV.port, cut_after=4 << 20) as relay:
            path = self.local("cmds.txt")
            with open(path, "w") as f:
                f.write("get cut.bin\npwd\n")
            r = subprocess.run(self.args("alice", port=relay.port,
                                         opts=("-b", path)),
                               cwd=self.work, env=self.env, text=True,
                               input="", capture_output=True, timeout=120)
        os.unlink(big)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(relay.accepted, 2)
        lines = r.stderr.splitlines()
        self.assertRegex(lines[0], r"^ssftp: line 1: get cut\.bin: ")
        self.assertEqual(lines[1:], ["ssftp: reconnected to 127.0.0.1",
                                     "ssftp: trying it once more"])
        self.assertTrue(r.stdout.endswith("/\n"), r.stdout)
        self.assertEqual(tc.blake(self.local("cut.bin")), want)

    def test_keepalive_outlives_the_idle_timeout_and_without_it_we_reconnect(
            self):
        fp, port = self.limited_server("--idle-timeout", "2")
        argv = [tc.SSFTP, "-u", "alice", "--host-key", fp]
        where = f"127.0.0.1:{port}"
        prompt = b"alice@127.0.0.1:/> "
        code, out = self.run_pty_script(
            [(None, 4), (b"pwd", b"/\r\n" + prompt)],
            argv=argv + ["--keepalive", "1", where])
        self.assertEqual(code, 0, out)
        self.assertNotIn("reconnected", out)
        # without it the server ends the idle session; the next command
        # reconnects and, since it only reads, runs once more
        code, out = self.run_pty_script(
            [(None, 4), (b"pwd", b"trying it once more\r\n/\r\n")],
            argv=argv + [where])
        self.assertEqual(code, 0, out)
        self.assertIn("reconnected to 127.0.0.1", out)
        r = subprocess.run([tc.SSFTP, "--keepalive", "0", where],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--keepalive takes seconds", r.stderr)

    # ---- the configuration file ---------------------------------------------
    def test_config_defaults_and_bookmarks(self):
        cfg = os.path.join(self.xdg, "ssftp", "config")
        os.makedirs(os.path.dirname(cfg), exist_ok=True)

        def run(*args):
            return subprocess.run([tc.SSFTP, "--host-key", tc.SRV.fingerprint,
                                   *args], cwd=self.work, env=self.env,
                                  text=True, input="", capture_output=True,
                                  timeout=60)

        with open(cfg, "w") as f:
            f.write(f"# defaults\nuser alice\nport {tc.SRV.port}\n\n"
                    f"bookmark srv 127.0.0.1:{tc.SRV.port} bob\n"
                    f"bookmark bad 127.0.0.1:1\n")
        r = run("127.0.0.1", "quota")  # user and port from the defaults
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no limit", r.stdout)  # alice has none
        r = run("srv", "quota")  # the bookmark's user, bob, has 1 MiB
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"of 1 MiB")
        r = run("-u", "alice", "srv", "quota")  # the command line wins
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no limit", r.stdout)
        r = run("-p", str(tc.SRV.port), "bad", "pwd")
        self.assertEqual((r.returncode, r.stdout), (0, "/\n"), r.stderr)
        r = run("bad", "pwd")  # port 1: nobody there
        self.assertEqual(r.returncode, 3, r.stderr)
        with open(cfg, "a") as f:
            f.write("colour blue\n")
        r = run("srv", "pwd")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, f"ssftp: {cfg}:7: unknown key \"colour\"\n")
        with open(cfg, "w") as f:
            f.write("port 99999\n")
        r = run("srv", "pwd")
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r":1: not a port")

    # ---- put -r, get -r ---------------------------------------------------------
    def test_put_r_and_get_r_copy_a_tree_verified(self):
        files = {"t/a.bin": 3000, "t/sub/b.bin": 70000,
                 "t/sub/deeper/c.bin": 0, "t/sub2/d.bin": 10}
        for name, size in files.items():
            os.makedirs(os.path.dirname(self.local(name)), exist_ok=True)
            tc.write_random(self.local(name), size)
        os.mkdir(self.local("t/empty"))
        os.symlink("/etc/passwd", self.local("t/link"))
        r = self.run_cli("put", "-r", "t", "rt")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"^ssftp: t/link: not a regular file or "
                                   r"directory, skipped\n$")
        self.assertIn("empty/", self.ok("ls", "rt"))
        self.assertNotIn("link", self.ok("ls", "rt"))
        # again: into what is there, every file verified again
        r = self.run_cli("put", "-rp", "t", "rt")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.run_cli("get", "-r", "rt", "back")
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in files:
            self.assertEqual(tc.blake(self.local(name)),
                             tc.blake(self.local("back" + name[1:])), name)
        self.assertTrue(os.path.isdir(self.local("back/empty")))
        # what fails is said, the rest goes on, and the exit is 1: a file
        # where the tree has a directory
        shutil.rmtree(self.local("back"))
        os.mkdir(self.local("back"))
        with open(self.local("back/sub"), "w"):
            pass
        try:
            r = self.run_cli("get", "-r", "rt", "back")
            self.assertEqual(r.returncode, 1, r.stderr)
            lines = r.stderr.splitlines()
            self.assertEqual(len(lines), 2, r.stderr)
            self.assertRegex(lines[0], r"^ssftp: get -r: back/sub: Not a "
                                       r"directory$")
            self.assertEqual(lines[1], "ssftp: get -r: 1 file failed")
            self.assertEqual(tc.blake(self.local("back/sub2/d.bin")),
                             tc.blake(self.local("t/sub2/d.bin")))
        finally:
            for d in ("sub/deeper", "sub2", "sub", "empty"):
                for f in ("b.bin", "c.bin", "d.bin"):
                    self.run_cli("rm", f"rt/{d}/{f}")
            self.run_cli("rm", "rt/a.bin")
            for d in ("sub/deeper", "sub2", "sub", "empty", ""):
                self.run_cli("rmdir", f"rt/{d}")

    def test_partials_shows_an_abandoned_upload_and_rm_drops_it(self):
        self.ok("mkdir", "pdir")
        tc.write_random(self.local("p.bin"), tc.BIG)
        part = os.path.join(tc.SRV.home("alice"), "pdir", ".p.bin.ssftp-part")
        code, _ = self.interrupt_when_grown(["put", "p.bin", "pdir/p.bin"],
                                            part, signal.SIGKILL)
        self.assertEqual(code, -signal.SIGKILL)
        self.assertNotIn("p.bin", self.ok("ls", "pdir"))  # ls hides it
        # The killed client's session may still be writing what was in
        # flight: the listing must agree with the partial once it settles.
        deadline = time.monotonic() + 30
        while True:
            size = os.stat(part).st_size
            out = self.ok("partials", "pdir")
            if (os.stat(part).st_size == size and " %d " % size in out) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertRegex(out, r"^- +%d \d{4}-\d\d-\d\d \d\d:\d\d  p\.bin\n$"
                         % size)
        self.assertRegex(self.ok("partials", "-h", "pdir"), r"[KMG]iB .* p\.bin")
        self.assertEqual(self.ok("partials"), "")  # none in /
        # the server may still hold it for a moment after the kill
        deadline = time.monotonic() + 30
        while True:
            r = self.run_cli("rm", "pdir/p.bin")
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.ok("partials", "pdir"), "")
        self.assertFalse(os.path.exists(part))
        self.ok("rmdir", "pdir")

    # ---- 3: mv/rename and stat ---------------------------------------------
    def test_mv_renames_and_stat_shows_size_time_and_digest(self):
        tc.write_random(self.local("m.bin"), 5000)
        self.ok("mkdir", "mvdir")
        self.ok("put", "m.bin", "mvdir/m.bin")
        self.ok("mv", "mvdir/m.bin", "mvdir/n.bin")
        listing = self.ok("ls", "mvdir")
        self.assertIn("n.bin", listing)
        self.assertNotIn("m.bin", listing)
        out = self.ok("stat", "mvdir/n.bin")
        self.assertRegex(out, r"  path: /mvdir/n\.bin\n  type: file\n"
                              r"  size: 5000 \(4\.9 KiB\)\n"
                              r" mtime: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
        # a get records the digest; stat shows it from then on
        self.ok("get", "mvdir/n.bin", "n.bin")
        self.assertIn("digest: blake2b:" + tc.blake(self.local("m.bin")),
                      self.ok("stat", "mvdir/n.bin"))
        # a stat leaves the session in step: more commands follow it
        out = self.ok(stdin="stat mvdir/n.bin\nstat /\npwd\n")
        self.assertRegex(out, r"size: 5000 .*\n(.*\n)*  path: /\n(.*\n)*/\n$")
        out = self.ok("stat", "/")
        self.assertIn("  path: /\n  type: dir\n", out)
        self.assertNotIn("size", out)
        # rename is mv; it never replaces a name
        self.ok("put", "m.bin", "mvdir/o.bin")
        self.fails(1, r"rename mvdir/o\.bin mvdir/n\.bin: .*exists",
                   "rename", "mvdir/o.bin", "mvdir/n.bin")
        self.ok("rename", "mvdir", "mvdir2")
        self.assertIn("mvdir2/", self.ok("ls"))
        # across directories: the digest on record goes along
        self.ok("mkdir", "mvdir2/sub")
        self.ok("mv", "mvdir2/o.bin", "mvdir2/sub/o.bin")
        self.ok("mv", "mvdir2/n.bin", "mvdir2/sub/")  # into it, same name
        self.assertIn("digest: blake2b:" + tc.blake(self.local("m.bin")),
                      self.ok("stat", "mvdir2/sub/n.bin"))
        # relative to the remote directory, .. included
        self.ok(stdin="cd mvdir2/sub\nmv o.bin ../\nmv ../o.bin ./p.bin\n")
        self.assertEqual(sorted(os.listdir(self.home("mvdir2", "sub"))),
                         ["n.bin", "p.bin"])
        self.ok("mv", "mvdir2/sub/p.bin", "mvdir2/o.bin")
        self.ok("mv", "mvdir2/sub/n.bin", "mvdir2/")
        # never over a name, in another directory too; never a directory
        # into itself or below
        self.ok("put", "m.bin", "mvdir2/sub/n.bin")
        self.fails(1, r"mv mvdir2/n\.bin mvdir2/sub/: .*exists", "mv",
                   "mvdir2/n.bin", "mvdir2/sub/")
        self.fails(1, r"mv mvdir2 mvdir2/sub/x: invalid path \(a directory "
                      r"cannot move into itself\)$", "mv", "mvdir2",
                   "mvdir2/sub/x")
        self.fails(1, r"mv mvdir2 mvdir2/: invalid path \(.*into itself\)$",
                   "mv", "mvdir2", "mvdir2/")
        self.fails(1, r"mv mvdir2/o\.bin nodir/o\.bin: .*no such file",
                   "mv", "mvdir2/o.bin", "nodir/o.bin")
        self.fails(2, r"mv / x/: name what to move", "mv", "/", "x/")
        self.ok("rm", "mvdir2/sub/n.bin")
        self.fails(1, r"stat nope: .*no such file", "stat", "nope")
        self.fails(1, r"mv nope x: .*no such file", "mv", "nope", "x")
        self.fails(2, r"usage: mv OLD NEW", "mv", "a")
        for name in ("n.bin", "o.bin"):
            self.ok("rm", "mvdir2/" + name)
        self.ok("rmdir", "mvdir2/sub")
        self.ok("rmdir", "mvdir2")

    def test_mv_and_stat_stay_in_the_home(self):
        home = self.home()
        outside = os.path.dirname(home)
        before = sorted(os.listdir(outside))
        tc.write_random(self.local("h.bin"), 100)
        self.ok("put", "h.bin", "h.bin")
        # ".." cannot climb out: /../../h2 is /h2 in the home
        self.ok("mv", "h.bin", "../../h2.bin")
        self.assertTrue(os.path.exists(self.home("h2.bin")))
        self.assertIn("  path: /h2.bin\n", self.ok("stat", "../../h2.bin"))
        # an absolute path is in the home too: /tmp there does not exist
        self.fails(1, r"mv h2\.bin /tmp/escaped\.bin: .*no such file",
                   "mv", "h2.bin", "/tmp/escaped.bin")
        self.assertFalse(os.path.exists("/tmp/escaped.bin"))
        self.assertEqual(sorted(os.listdir(outside)), before)
        # symbolic links (made behind the server's back) are not followed
        # through, and not renamed themselves
        os.symlink(self.work, self.home("link"))
        try:
            self.fails(1, r"mv h2\.bin link/x: invalid path", "mv",
                       "h2.bin", "link/x")
            self.fails(1, r"mv link link2: invalid path", "mv", "link",
                       "link2")
            # nor moved onto, in this directory or from another
            self.ok("mkdir", "hsub")
            self.ok("mv", "h2.bin", "hsub/")
            self.fails(1, r"mv hsub/h2\.bin link: .*exists", "mv",
                       "hsub/h2.bin", "link")
            self.fails(1, r"mv hsub/h2\.bin \.\./link/: invalid path", "mv",
                       "hsub/h2.bin", "../link/")
            self.ok("mv", "hsub/h2.bin", "../../")  # .. stops at the home
            self.ok("rmdir", "hsub")
            self.assertTrue(os.path.islink(self.home("link")))
            self.fails(1, r"mv link/h\.bin h3: invalid path", "mv",
                       "link/h.bin", "h3")
            self.assertIn("  type: other\n", self.ok("stat", "link"))
            self.fails(1, r"stat link/h\.bin: invalid path", "stat",
                       "link/h.bin")
        finally:
            os.unlink(self.home("link"))
        self.assertEqual(sorted(os.listdir(self.work)), ["h.bin"])
        self.ok("rm", "h2.bin")

    def slow_put(self, name, rate):
        """ssftp put NAME under --limit-rate RATE, running, once the server
        has some of its bytes in the partial."""
        part = self.home("." + name + ".ssftp-part")
        p = subprocess.Popen(self.args("alice", "put", name,
                                       opts=("--limit-rate", rate)),
                             cwd=self.work, env=self.env,
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and p.poll() is None:
            if os.path.exists(part) and os.stat(part).st_size > 0:
                break
            time.sleep(0.02)
        return p

    def test_mv_refuses_a_file_being_uploaded(self):
        tc.write_random(self.local("up.bin"), 1 << 20)
        self.ok("put", "up.bin")
        part = self.home(".up.bin.ssftp-part")
        # put again, slowly: its partial is held while it runs
        p = self.slow_put("up.bin", "64K")
        try:
            self.fails(1, r"mv up\.bin moved\.bin: .*busy", "mv", "up.bin",
                       "moved.bin")
            self.assertTrue(os.path.exists(self.home("up.bin")))
        finally:
            p.kill()
            p.wait(30)
        # the upload gone, the file moves; its partial stays by its old name
        deadline = time.monotonic() + 30
        while self.run_cli("mv", "up.bin", "moved.bin").returncode != 0:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        self.assertTrue(os.path.exists(part))
        self.ok("rm", "up.bin")  # drops the partial
        self.ok("rm", "moved.bin")
        self.assertFalse(os.path.exists(part))

    # ---- 4: ls -l, ls -h -----------------------------------------------------
    def test_ls_long_and_human(self):
        tc.write_random(self.local("big.bin"), 3 << 20)
        self.ok("put", "big.bin", "lsh.bin")
        line = [x for x in self.ok("ls", "-l").splitlines()
                if x.endswith(" lsh.bin")]
        self.assertEqual(len(line), 1)
        self.assertRegex(line[0], r"^- +3145728 \d{4}-\d\d-\d\d \d\d:\d\d  lsh\.bin$")
        for flags in (["-h"], ["-lh"], ["-l", "-h"]):
            out = self.ok("ls", *flags, "/")
            self.assertRegex(out, r"(?m)^- +3 MiB \d{4}-.*  lsh\.bin$")
        self.fails(2, r"usage: ls \[-lh\] \[PATH\]", "ls", "-x")
        self.ok("rm", "lsh.bin")

    # ---- 5: stdin, stdout, into a directory ---------------------------------
    def test_put_from_stdin_and_get_to_stdout(self):
        data = os.urandom(300000)
        r = subprocess.run(self.args("alice", "put", "-", "piped.bin"),
                           cwd=self.work, env=self.env, input=data,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, rb"stdin -> piped\.bin: .* verified")
        self.assertIn("size: 300000 ", self.ok("stat", "piped.bin"))
        r = subprocess.run(self.args("alice", "get", "piped.bin", "-"),
                           cwd=self.work, env=self.env, input=b"",
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout == data, "stdout differs")
        self.assertRegex(r.stderr, rb"^piped\.bin -> stdout: .* verified")
        self.assertEqual(os.listdir(self.work), [])  # no partial left here
        # an empty stdin is an empty file
        r = subprocess.run(self.args("alice", "put", "-", "empty.bin"),
                           cwd=self.work, env=self.env, input=b"",
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("size: 0 ", self.ok("stat", "empty.bin"))
        r = self.run_cli("get", "nope", "-")
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.fails(2, r"put -: give the remote NAME", "put", "-")
        self.fails(2, r"put -: give the remote NAME", "put", "-", "dir/")
        # a reader that goes away is an error, not a death by SIGPIPE
        p = subprocess.Popen(self.args("alice", "get", "piped.bin", "-"),
                             cwd=self.work, env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL)
        p.stdout.close()
        err = p.stderr.read()
        p.stderr.close()
        self.assertEqual(p.wait(60), 1, err)
        self.assertIn(b"stdout: Broken pipe", err)
        self.ok("rm", "piped.bin")
        self.ok("rm", "empty.bin")

    def test_put_and_get_p_keep_the_modification_time(self):
        tc.write_random(self.local("old.bin"), 2000)
        when = 978307200  # 2001-01-01 00:00:00 UTC
        os.utime(self.local("old.bin"), (when, when))
        self.ok("put", "-p", "old.bin", "kept.bin")
        self.ok("put", "old.bin", "fresh.bin")
        env = dict(self.env, TZ="UTC")
        self.assertIn(" mtime: 2001-01-01 00:00:00 +0000\n",
                      self.ok("stat", "kept.bin", env=env))
        self.assertNotIn(" 2001-", self.ok("stat", "fresh.bin", env=env))
        self.ok("get", "-p", "kept.bin", "back.bin")
        self.assertEqual(os.stat(self.local("back.bin")).st_mtime, when)
        self.ok("get", "kept.bin", "back2.bin")
        self.assertGreater(os.stat(self.local("back2.bin")).st_mtime, when)
        self.assertEqual(tc.blake(self.local("back.bin")),
                         tc.blake(self.local("old.bin")))
        self.fails(2, r"usage: put \[-pr\] LOCAL", "put", "-p", "-", "x")
        self.fails(2, r"usage: get \[-pr\] REMOTE \[LOCAL\] \(not -p",
                   "get", "-p", "kept.bin", "-")
        self.ok("rm", "kept.bin")
        self.ok("rm", "fresh.bin")

    def test_a_partial_that_does_not_match_says_it_restarts(self):
        tc.write_random(self.local("r.bin"), 200000)
        self.ok("put", "r.bin", "r.bin")
        tc.write_random(self.local(".r2.bin.ssftp-part"), 1000)  # not a prefix
        r = self.run_cli("get", "r.bin", "r2.bin")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "ssftp: get r.bin: the local partial "
                                   "(1000 B) does not match the file; "
                                   "starting again from zero\n")
        self.assertEqual(tc.blake(self.local("r.bin")),
                         tc.blake(self.local("r2.bin")))
        # a partial that is a prefix resumes, silently
        with open(self.local("r.bin"), "rb") as f:
            head = f.read(5000)
        with open(self.local(".r3.bin.ssftp-part"), "wb") as f:
            f.write(head)
        out = self.ok("get", "r.bin", "r3.bin")
        self.assertIn("resumed at", out)
        self.ok("rm", "r.bin")

    def test_a_put_whose_server_partial_does_not_match_says_it_restarts(self):
        tc.write_random(self.local("rp.bin"), 1 << 20)
        part = self.home(".rp.bin.ssftp-part")
        # a put cut part-way (slowly, so it can be) leaves the server a prefix
        p = self.slow_put("rp.bin", "256K")
        p.kill()
        p.wait(30)
        # the local file changes: the prefix is no longer ours
        tc.write_random(self.local("rp.bin"), 1 << 20)
        deadline = time.monotonic() + 30
        while True:
            r = self.run_cli("put", "rp.bin")
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            self.assertIn("busy", r.stderr)  # the old session still ending
            time.sleep(0.1)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"^ssftp: put rp\.bin: the server's "
                                   r"partial \([0-9.]+ [KMi]*B\) does not "
                                   r"match the file; starting again from "
                                   r"zero\n$")
        self.assertNotIn("resumed at", r.stdout)
        self.assertEqual(tc.blake(self.home("rp.bin")),
                         tc.blake(self.local("rp.bin")))
        self.assertFalse(os.path.exists(part))
        self.ok("rm", "rp.bin")

    def test_mput_and_mget_p_keep_times_and_r_copy_trees(self):
        when = 978307200  # 2001-01-01 00:00:00 UTC
        os.makedirs(self.local("up/mt/sub"))
        for name in ("up/a.bin", "up/z.bin", "up/mt/b.bin",
                     "up/mt/sub/c.bin"):
            tc.write_random(self.local(name), 3000)
            os.utime(self.local(name), (when, when))
        self.ok("mkdir", "mpr")
        self.ok(stdin="lcd up\ncd mpr\nmput -p -r a.bin mt\nmput z*\n")
        for name in ("a.bin", "mt/b.bin", "mt/sub/c.bin"):
            self.assertEqual(os.stat(self.home("mpr", name)).st_mtime, when,
                             name)
            self.assertEqual(tc.blake(self.home("mpr", name)),
                             tc.blake(self.local("up/" + name)))
        self.assertNotEqual(os.stat(self.home("mpr", "z.bin")).st_mtime, when)
        os.makedirs(self.local("down"))
        self.ok(stdin="lcd down\ncd mpr\nmget -pr a.bin m*\nmget z.bin\n")
        for name in ("a.bin", "mt/b.bin", "mt/sub/c.bin"):
            self.assertEqual(os.stat(self.local("down/" + name)).st_mtime,
                             when, name)
            self.assertEqual(tc.blake(self.local("down/" + name)),
                             tc.blake(self.local("up/" + name)))
        self.assertNotEqual(os.stat(self.local("down/z.bin")).st_mtime, when)
        # without -r a directory is no file: said, and the rest go on
        r = self.batch("lcd up\ncd mpr\nmput mt z.bin\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"put mt: is a directory")
        r = self.batch("cd mpr\nmget m*\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"m\*: no match")
        # a name that is not there fails alone; the rest go on
        os.unlink(self.local("down/z.bin"))
        r = self.batch("lcd down\ncd mpr\nmget -r nope z.bin\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"get nope: .*no such file")
        self.assertTrue(os.path.exists(self.local("down/z.bin")))
        self.fails(2, r"usage: mput \[-pr\] LOCAL\.\.\.", "mput", "-x", "a")
        self.fails(2, r"usage: mget \[-pr\] REMOTE\.\.\.", "mget", "-p")
        shutil.rmtree(self.home("mpr"))

    def test_put_into_a_directory(self):
        tc.write_random(self.local("into.bin"), 1000)
        self.ok("mkdir", "intodir")
        self.ok("put", "into.bin", "intodir/")
        self.assertIn("into.bin", self.ok("ls", "intodir"))
        self.ok("rm", "intodir/into.bin")
        # -p too, an absolute DIR/, and a DIR without its '/' said so
        out = self.ok("put", "-p", "into.bin", "/intodir/")
        self.assertIn("into.bin -> /intodir/into.bin: 1000 B, verified", out)
        self.fails(1, r"put into\.bin: is a directory \(the remote intodir; "
                      r"put FILE intodir/ puts into it\)$",
                   "put", "into.bin", "intodir")
        self.ok("rm", "intodir/into.bin")
        self.ok("rmdir", "intodir")

    # ---- 6: -b FILE -----------------------------------------------------------
    def test_batch_file_lines_with_a_dash_may_fail(self):
        r = self.batch("-rm nope1\nmkdir bf1\n  -mkdir bf1\nrm nope2\n"
                       "mkdir bf2\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 3, r.stderr)
        self.assertRegex(lines[0], r"^ssftp: line 1: rm nope1: no such file")
        self.assertRegex(lines[1], r"^ssftp: line 3: mkdir bf1: .*exists")
        self.assertRegex(lines[2], r"^ssftp: line 4: rm nope2: no such file")
        listing = self.ok("ls")
        self.assertIn("bf1", listing)
        self.assertNotIn("bf2", listing)
        r = self.batch("-rm nope\nrmdir bf1\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("bf1", self.ok("ls"))
        r = subprocess.run(self.args("alice", opts=("-b", "/nonexistent")),
                           env=self.env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"^ssftp: -b /nonexistent: No such file")

    # ---- honest refusals -------------------------------------------------------
    def limited_server(self, *limits):
        """An ssftpd of its own on port 0 with limits; returns (proc, port)."""
        root = os.path.join(self.work, "root")
        subprocess.run([tc.SSFTPD, "user", "add", "alice", "--root", root]
                       + tc.KDF, input=tc.PASSWORD + "\n", text=True,
                       check=True, capture_output=True, timeout=60)
        proc = subprocess.Popen([tc.SSFTPD, "--listen", "127.0.0.1:0",
                                 "--root", root, *limits],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(proc.wait, 30)
        self.addCleanup(proc.terminate)
        line = proc.stdout.readline()  # bounded: the server says or dies
        m = re.search(r"listening on \S+:(\d+)", line)
        self.assertTrue(m, line)
        fp = subprocess.run([tc.SSFTPD, "fingerprint", "--root", root],
                            check=True, capture_output=True, text=True,
                            timeout=30).stdout.strip()
        return fp, int(m.group(1))

    def run_against(self, fp, port, *cmd):
        return subprocess.run(
            [tc.SSFTP, "-u", "alice", "--host-key", fp,
             f"127.0.0.1:{port}", *cmd], cwd=self.work, env=self.env,
            text=True, input="", capture_output=True, timeout=60)

    def test_a_full_server_says_it_is_full(self):
        fp, port = self.limited_server("--max-clients", "1")
        held = tc.tls_connect(port)  # one session, that never says hello
        try:
            held.sendall(b"")
            r = self.run_against(fp, port, "pwd")
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertRegex(r.stderr, r"^ssftp: 127\.0\.0\.1: the server is "
                                       r"full \(at its limit of sessions\)")
        finally:
            held.close()

    def test_a_refused_address_is_said_so(self):
        fp, port = self.limited_server("--max-per-ip", "1")
        held = tc.tls_connect(port)
        try:
            r = self.run_against(fp, port, "pwd")
            self.assertEqual(r.returncode, 3, r.stderr)
            self.assertRegex(r.stderr, r"^ssftp: 127\.0\.0\.1: the server "
                                       r"closed the connection before TLS: "
                                       r"over its limit of connections")
        finally:
            held.close()

    # ---- 7: --limit-rate, limit-rate in the config, rate in the shell ------
    def test_limit_rate_paces_put_and_get_smoothly_and_verified(self):
        tc.write_random(self.local("lr.bin"), 3 << 20)
        want = tc.blake(self.local("lr.bin"))
        # put at 1 MiB/s: 3 MiB take about 3 s (the first slice goes at
        # once), and the bar moves all the way, not in 1 MiB steps
        t0 = time.monotonic()
        code, out = tc.ClientTest.run_pty(self, "put", "lr.bin",
                                          opts=["--limit-rate", "1M"])
        took = time.monotonic() - t0
        self.assertEqual(code, 0, out)
        self.assertGreaterEqual(took, 2.5, out)
        self.assertIn("verified blake2b:" + want[:16], out)
        shown = set(re.findall(r"\r.*? (\d+)% ", out))
        self.assertGreaterEqual(len(shown - {"100"}), 8, out)
        self.assertEqual(tc.blake(self.home("lr.bin")), want)
        # get, limited by the config, at 4 MiB/s: at least 0.7 s
        cfg = os.path.join(self.xdg, "ssftp", "config")
        os.makedirs(os.path.dirname(cfg), exist_ok=True)
        with open(cfg, "w") as f:
            f.write("limit-rate 4M\n")
        t0 = time.monotonic()
        self.ok("get", "lr.bin", "back.bin")
        self.assertGreaterEqual(time.monotonic() - t0, 0.7)
        self.assertEqual(tc.blake(self.local("back.bin")), want)
        # the shell's rate: shown, changed, off; mget obeys it too
        os.unlink(cfg)
        os.unlink(self.local("back.bin"))
        t0 = time.monotonic()
        out = self.ok(stdin="rate\nrate 4m\nrate\nmget lr.bin\nrate off\n"
                            "rate\n")
        self.assertGreaterEqual(time.monotonic() - t0, 0.7)
        self.assertEqual(re.findall(r"rate: .*", out),
                         ["rate: no limit", "rate: 4 MiB a second",
                          "rate: 4 MiB a second", "rate: no limit",
                          "rate: no limit"])
        self.assertEqual(tc.blake(self.local("lr.bin")), want)
        self.ok("rm", "lr.bin")

    def test_a_bad_rate_is_a_clear_usage_error(self):
        why = {"0": "is below 1K, the least a limit may be \\(off: no "
                    "limit\\)",
               "-1": "is not a rate: bytes a second, digits with an "
                     "optional K, M or G \\(1024-based\\), or off",
               "10X": "is not a rate",
               "1.5M": "is not a rate",
               "99999999999999999999": "is too large",
               "2T": "is too large"}
        for value, msg in why.items():
            r = subprocess.run([tc.SSFTP, "--limit-rate", value,
                                "127.0.0.1:1", "pwd"], env=self.env,
                               text=True, capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertRegex(r.stderr, f"^ssftp: --limit-rate: "
                                       f"'{re.escape(value)}' {msg}")
        self.fails(2, r"rate: '10X' is not a rate", "rate", "10X")
        cfg = os.path.join(self.xdg, "ssftp", "config")
        os.makedirs(os.path.dirname(cfg), exist_ok=True)
        with open(cfg, "w") as f:
            f.write("user alice\nlimit-rate fast\n")
        r = self.run_cli("pwd")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr, f"ssftp: {cfg}:2: limit-rate: not a rate "
                                   f"(K, M, G: 1024-based; at least 1K; or "
                                   f"off): \"fast\"\n")
        # the command line wins over the config
        with open(cfg, "w") as f:
            f.write("limit-rate 1K\n")
        self.assertEqual(self.ok("rate"), "rate: 1 KiB a second\n")
        r = subprocess.run(self.args("alice", "rate",
                                     opts=("--limit-rate", "off")),
                           cwd=self.work, env=self.env, text=True,
                           capture_output=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout), (0, "rate: no limit\n"),
                         r.stderr)
        os.unlink(cfg)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    tc.SSFTP = os.path.abspath(sys.argv[1])
    tc.SSFTPD = os.path.abspath(sys.argv[2])
    tc.SRV = tc.Server()
    try:
        prog = unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:],
                             exit=False)
        return 0 if prog.result.wasSuccessful() else 1
    finally:
        tc.SRV.stop()


if __name__ == "__main__":
    sys.exit(main())

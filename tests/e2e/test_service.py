#!/usr/bin/env python3
"""ssftpd run as a service, end to end: the real binaries.

Usage: test_service.py SSFTP SSFTPD

--version, the data root (an explicit --root must exist; `ssftpd init`
makes one), `ssftpd user ...` run as root on a root owned by another user,
SIGHUP (a new certificate for new connections, sessions kept), --config and
--user.  Servers listen on 127.0.0.1 port 0 (read back from "listening
on"); every wait is bounded.  The tests about other users run only as root
and are skipped, saying so, otherwise.
"""
import os
import pwd
import re
import select
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

# The FTPS client whose data connections resume the control connection's
# session, as curl and lftp do: the FTP suite's.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "ftp"))
from test_ftp import ReuseFTP_TLS  # noqa: E402

SSFTP = SSFTPD = None
PASSWORD = "correct horse"
KDF = ["--kdf-ops", "2", "--kdf-mem", str(8 << 20)]
WAIT_S = 30


def run(*args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run([SSFTPD, *args], **kw)


def chown_tree(top, user):
    for d, dirs, files in os.walk(top):
        for n in [d] + [os.path.join(d, f) for f in dirs + files]:
            os.chown(n, user.pw_uid, user.pw_gid)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ssftpd-service-")
        os.chmod(self.tmp, 0o755)  # other users may need to reach a root
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=WAIT_S)
            for f in (p.stdin, p.stdout, p.stderr):
                if f is not None:
                    _lines.pop(f, None)
                    f.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def add_user(self, root, name, check=True):
        return run("user", "add", name, "--root", root, *KDF,
                   input=PASSWORD + "\n", check=check)

    def start(self, *args, **popen):
        """ssftpd ARGS; returns (proc, port) once it listens."""
        p = subprocess.Popen([SSFTPD, "--listen", "127.0.0.1:0", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, **popen)
        self.procs.append(p)
        try:
            line = read_until(p.stdout, r"^listening on ")[-1]
        except AssertionError as e:
            p.kill()
            self.fail(f"ssftpd did not report its port: {e}")
        return p, int(re.search(r":(\d+)$", line).group(1))

    def client(self, port, *cmd, user="alice", xdg=None, accept_new=True,
               timeout=60):
        env = dict(os.environ, SSFTP_PASSWORD=PASSWORD,
                   XDG_CONFIG_HOME=xdg or os.path.join(self.tmp, "xdg"))
        return subprocess.run(
            [SSFTP, "-u", user, "--no-progress",
             *(["--accept-new-host-key"] if accept_new else []),
             f"127.0.0.1:{port}", *cmd],
            cwd=self.tmp, env=env, text=True, capture_output=True,
            stdin=subprocess.DEVNULL, timeout=timeout)


class Version(Base):
    def test_version(self):
        r = run("--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^ssftpd \d+\.\d+\.\d+\S*\n$")
        self.assertEqual(r.stderr, "")

    def test_help_lists_the_service_options(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        for word in ("--version", "--config", "--user", "init", "SIGHUP"):
            self.assertIn(word, r.stdout)


class DataRoot(Base):
    def test_missing_explicit_root_is_an_error(self):
        missing = os.path.join(self.tmp, "nope")
        for args in (["user", "list", "--root", missing],
                     ["user", "del", "bob", "--root", missing],
                     ["user", "passwd", "bob", "--root", missing],
                     ["--listen", "127.0.0.1:0", "--root", missing]):
            r = run(*args, stdin=subprocess.DEVNULL)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn("No such file or directory", r.stderr, args)
            self.assertIn("ssftpd init --root " + missing, r.stderr, args)
            self.assertFalse(os.path.exists(missing), args)

    def test_init_makes_the_root_with_its_modes_and_is_idempotent(self):
        root = os.path.join(self.tmp, "root")
        for _ in range(2):
            r = run("init", "--root", root)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(stat.S_IMODE(os.stat(root).st_mode), 0o700)
            self.assertEqual(
                stat.S_IMODE(os.stat(os.path.join(root, "users.json"))
                             .st_mode), 0o600)
            self.assertTrue(os.path.isdir(os.path.join(root, "homes")))
        r = run("user", "list", "--root", root)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.count("\n"), 1)  # the header only

    def test_user_add_makes_a_missing_root(self):
        root = os.path.join(self.tmp, "root")
        self.add_user(root, "alice")
        self.assertEqual(stat.S_IMODE(os.stat(root).st_mode), 0o700)
        r = run("user", "list", "--root", root)
        self.assertIn("alice", r.stdout)

    def test_default_root_is_made_at_first_use(self):
        # README's first command: `ssftpd user add alice` in a fresh dir.
        r = run("user", "add", "alice", *KDF, input=PASSWORD + "\n",
                cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.isfile(
            os.path.join(self.tmp, "ssftp-data", "users.json")))


@unittest.skipUnless(os.geteuid() == 0,
                     "needs root: runs commands as another user (nobody)")
class Owner(Base):
    def setUp(self):
        super().setUp()
        self.nobody = pwd.getpwnam("nobody")
        self.root = os.path.join(self.tmp, "root")
        self.assertEqual(run("init", "--root", self.root).returncode, 0)
        chown_tree(self.root, self.nobody)

    def test_root_keeps_the_owner_and_mode(self):
        self.add_user(self.root, "alice")
        run("user", "quota", "alice", "1G", "--root", self.root, check=True)
        for n in ("users.json", "secret", "homes/alice", "ledger"):
            st = os.stat(os.path.join(self.root, n))
            self.assertEqual((st.st_uid, st.st_gid),
                             (self.nobody.pw_uid, self.nobody.pw_gid), n)
        st = os.stat(os.path.join(self.root, "users.json"))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)

    def test_a_root_its_owner_cannot_reach_by_name(self):
        # systemd's DynamicUser= layout: /var/lib/NAME is a link into
        # /var/lib/private, which is root's alone (0700).
        private = os.path.join(self.tmp, "private")
        os.mkdir(private, 0o700)
        os.rename(self.root, os.path.join(private, "root"))
        link = os.path.join(self.tmp, "state")
        os.symlink("private/root", link)
        self.add_user(link, "alice")
        r = run("user", "list", "--root", link, check=True)
        self.assertIn("alice", r.stdout)
        st = os.stat(os.path.join(private, "root", "homes", "alice"))
        self.assertEqual(st.st_uid, self.nobody.pw_uid)

    def test_another_user_is_refused(self):
        other = os.path.join(self.tmp, "rootsroot")
        self.assertEqual(run("init", "--root", other).returncode, 0)
        os.chmod(other, 0o755)
        before = os.stat(os.path.join(other, "users.json"))
        r = run("user", "list", "--root", other,
                preexec_fn=lambda: (os.setgid(self.nobody.pw_gid),
                                    os.setuid(self.nobody.pw_uid)))
        self.assertEqual(r.returncode, 1)
        self.assertIn("belongs to uid 0", r.stderr)
        after = os.stat(os.path.join(other, "users.json"))
        self.assertEqual(before.st_ino, after.st_ino)


def make_pair(directory):
    """A new self-signed P-256 pair, by the openssl command."""
    os.makedirs(directory, exist_ok=True)
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=ssftpd-test"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def fingerprint(cert):
    r = run("fingerprint", "--tls-cert", cert, check=True)
    return r.stdout.strip()


class Lines:
    """A pipe's lines, read with os.read() behind select(): no buffer of
    Python's may hold a line while select() waits for more."""

    def __init__(self, stream):
        self.fd = stream.fileno()
        self.buf = b""

    def until(self, pattern, timeout):
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                seen.append(line.decode(errors="replace"))
                if re.search(pattern, seen[-1]):
                    return seen
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                break
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            self.buf += chunk
        raise AssertionError(f"no line matching {pattern!r} in {seen!r}")


_lines = {}


def read_until(stream, pattern, timeout=WAIT_S):
    """Lines of a pipe until one matches pattern; all read, or fails."""
    if stream not in _lines:
        _lines[stream] = Lines(stream)
    return _lines[stream].until(pattern, timeout)


class Shell:
    """An ssftp shell on a stdin pipe: one session held open."""

    def __init__(self, test, port, host_key):
        env = dict(os.environ, SSFTP_PASSWORD=PASSWORD,
                   XDG_CONFIG_HOME=os.path.join(test.tmp, "xdg-shell"))
        self.p = subprocess.Popen(
            [SSFTP, "-u", "alice", "--no-progress", "--host-key", host_key,
             f"127.0.0.1:{port}"], cwd=test.tmp, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        test.procs.append(self.p)

    def command(self, line, expect):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return read_until(self.p.stdout, expect)

    def quit(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.close()
        return self.p.wait(timeout=WAIT_S)


@unittest.skipUnless(shutil.which("openssl"),
                     "needs the openssl command to make key pairs")
class Reload(Base):
    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, "root")
        self.add_user(self.root, "alice")
        with open(os.path.join(self.tmp, "hello.txt"), "w") as f:
            f.write("hello\n")

    def ls_pinned(self, port, host_key, xdg):
        """ssftp ls, trusting only host_key."""
        env = dict(os.environ, SSFTP_PASSWORD=PASSWORD,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, xdg))
        return subprocess.run(
            [SSFTP, "-u", "alice", "--no-progress", "--host-key", host_key,
             f"127.0.0.1:{port}", "ls"], cwd=self.tmp, text=True, env=env,
            capture_output=True, stdin=subprocess.DEVNULL, timeout=60)

    def test_sighup_swaps_the_certificate_and_keeps_sessions(self):
        old_cert, old_key = make_pair(os.path.join(self.tmp, "old"))
        cert, key = os.path.join(self.tmp, "cert.pem"), \
            os.path.join(self.tmp, "key.pem")
        shutil.copy(old_cert, cert)
        shutil.copy(old_key, key)
        old_fp = fingerprint(old_cert)
        p, port = self.start("--root", self.root, "--tls-cert", cert,
                             "--tls-key", key)
        shell = Shell(self, port, old_fp)
        shell.command("put hello.txt", r"hello\.txt")
        new_cert, new_key = make_pair(os.path.join(self.tmp, "new"))
        new_fp = fingerprint(new_cert)
        self.assertNotEqual(old_fp, new_fp)
        # Replaced by rename, as a certificate renewal would.
        shutil.copy(new_key, key + ".tmp")
        os.rename(key + ".tmp", key)
        shutil.copy(new_cert, cert + ".tmp")
        os.rename(cert + ".tmp", cert)
        p.send_signal(signal.SIGHUP)
        read_until(p.stderr, r"ssftpd notice: reloaded; TLS key " + re.escape(new_fp))
        # The session from before goes on, on its old key.
        shell.command("ls", r"hello\.txt")
        self.assertEqual(shell.quit(), 0)
        # New connections get the new key: the old one is refused.
        r = self.ls_pinned(port, new_fp, "xdg-new")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("hello.txt", r.stdout)
        self.assertNotEqual(self.ls_pinned(port, old_fp, "xdg-old")
                            .returncode, 0)
        # A broken pair is refused, and the server keeps the one it has.
        with open(cert, "w") as f:
            f.write("not a certificate\n")
        p.send_signal(signal.SIGHUP)
        read_until(p.stderr, r"reload failed, keeping the old state")
        self.assertIsNone(p.poll())
        r = self.ls_pinned(port, new_fp, "xdg-new")
        self.assertEqual(r.returncode, 0, r.stderr)
        # SIGTERM still stops it, cleanly.
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=WAIT_S), 0)

    def test_sighup_and_ftps_sessions(self):
        """FTPS too: a session from before keeps its control connection's
        key and its data connections still resume its TLS session; a new
        one gets the new certificate."""
        cert, key = make_pair(os.path.join(self.tmp, "old"))
        p, _ = self.start("--root", self.root, "--tls-cert", cert,
                          "--tls-key", key, "--ftp", "127.0.0.1:0")
        line = read_until(p.stdout, r"^ftp listening on ")[-1]
        ftp_port = int(re.search(r":(\d+)$", line).group(1))

        def session():
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            f = ReuseFTP_TLS(context=ctx, timeout=WAIT_S)
            f.connect("127.0.0.1", ftp_port)
            f.auth()
            f.login("alice", PASSWORD)
            f.prot_p()
            return f

        def der(path):
            with open(path) as f:
                return ssl.PEM_cert_to_DER_cert(f.read())

        old = session()
        self.assertEqual(old.nlst(), [])
        new_cert, new_key = make_pair(os.path.join(self.tmp, "new"))
        os.replace(new_key, key)
        os.replace(new_cert, cert)
        p.send_signal(signal.SIGHUP)
        read_until(p.stderr, r"ssftpd notice: reloaded; TLS key")
        with open(os.path.join(self.tmp, "hello.txt"), "rb") as f:
            old.storbinary("STOR hello.txt", f)
        self.assertEqual(old.nlst(), ["hello.txt"])
        new = session()
        self.assertEqual(new.sock.getpeercert(binary_form=True), der(cert))
        self.assertNotEqual(old.sock.getpeercert(binary_form=True),
                            der(cert))
        self.assertEqual(new.nlst(), ["hello.txt"])
        new.quit()
        old.quit()

    def test_sighup_reopens_the_log(self):
        log = os.path.join(self.tmp, "ssftpd.log")
        p, port = self.start("--root", self.root, "--log", log)
        self.assertIn("TLS key SHA256:", self.wait_in_file(log, "TLS key"))
        self.assertEqual(stat.S_IMODE(os.stat(log).st_mode) & ~0o640, 0)
        os.rename(log, log + ".1")  # as logrotate does
        r = self.client(port, "ls")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_in_file(log + ".1", "alice: ls /: ok")
        p.send_signal(signal.SIGHUP)
        self.wait_in_file(log, "ssftpd notice: reloaded; TLS key")
        r = self.client(port, "quota")
        self.assertEqual(r.returncode, 0, r.stderr)
        text = self.wait_in_file(log, "alice: quota")
        self.assertNotIn("ls /", text)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=WAIT_S), 0)
        self.assertIn("ssftpd notice: stopped", self.wait_in_file(log, "stopped"))

    def wait_in_file(self, path, text, timeout=WAIT_S):
        """The file's contents once they hold text (polled, bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(path) as f:
                    got = f.read()
            except FileNotFoundError:
                got = ""
            if text in got:
                return got
            if time.monotonic() > deadline:
                self.fail(f"{path} never held {text!r}: {got!r}")
            time.sleep(0.02)

    def test_sighups_while_clients_come_and_go(self):
        """Reloads racing new connections and transfers: every client
        gets through, the server stays up and stops cleanly."""
        self.sighup_storm()

    def test_sighups_with_process_isolation(self):
        """The same with a forked child per session, which must never
        inherit the TLS slot's lock held (tlskeys.c)."""
        self.sighup_storm("--isolation", "process")

    def sighup_storm(self, *args):
        p, port = self.start("--root", self.root, *args)
        results = []

        def clients():
            for i in range(8):
                results.append(self.client(port, "put", "hello.txt",
                                           f"h{i}.txt"))

        t = threading.Thread(target=clients)
        t.start()
        sent = 0
        deadline = time.monotonic() + 120
        while t.is_alive() and time.monotonic() < deadline:
            p.send_signal(signal.SIGHUP)
            sent += 1
            t.join(0.02)
        t.join(max(0, deadline - time.monotonic()))
        self.assertFalse(t.is_alive())
        self.assertGreater(sent, 0)
        for r in results:
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(results), 8)
        read_until(p.stderr, r"ssftpd notice: reloaded; TLS key")
        self.assertIsNone(p.poll())
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=WAIT_S), 0)

    def test_sighup_rereads_the_config(self):
        a_cert, a_key = make_pair(os.path.join(self.tmp, "a"))
        b_cert, b_key = make_pair(os.path.join(self.tmp, "b"))
        conf = os.path.join(self.tmp, "ssftpd.conf")
        with open(conf, "w") as f:
            f.write(f"root = {self.root}\ntls-cert = {a_cert}\n"
                    f"tls-key = {a_key}\n")
        p, port = self.start("--config", conf)
        read_until(p.stderr, re.escape(fingerprint(a_cert)))
        with open(conf, "w") as f:
            f.write(f"root = {self.root}\ntls-cert = {b_cert}\n"
                    f"tls-key = {b_key}\n")
        p.send_signal(signal.SIGHUP)
        read_until(p.stderr, r"reloaded; TLS key " +
                   re.escape(fingerprint(b_cert)))


    def test_sighup_names_what_takes_a_restart(self):
        conf = os.path.join(self.tmp, "ssftpd.conf")
        with open(conf, "w") as f:
            f.write(f"root = {self.root}\nmax-clients = 10\n")
        p, port = self.start("--config", conf, "--ftp", "127.0.0.1:0")
        p.send_signal(signal.SIGHUP)  # nothing changed: nothing to say
        said = read_until(p.stderr, r"ssftpd notice: reloaded; TLS key")
        self.assertEqual([ln for ln in said if "reload:" in ln], [])
        with open(conf, "w") as f:
            f.write(f"root = {self.root}\nmax-clients = 20\n"
                    "idle-timeout = 60\nlog-level = info\n")
        p.send_signal(signal.SIGHUP)
        said = read_until(p.stderr, r"ssftpd notice: reloaded; TLS key")
        warned = [ln for ln in said if "reload:" in ln]
        self.assertEqual(len(warned), 2, said)
        self.assertIn("ssftpd warning: reload: --max-clients changed; it "
                      "takes effect at a restart", warned[0])
        self.assertIn("--idle-timeout changed", warned[1])
        r = self.client(port, "ls")
        self.assertEqual(r.returncode, 0, r.stderr)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=WAIT_S), 0)


class Journal(Base):
    def test_no_second_timestamp_under_the_journal(self):
        """With stderr the journal's (JOURNAL_STREAM names its device and
        inode), session lines carry no timestamp of their own, and
        sd-daemon's priority prefix instead."""
        root = os.path.join(self.tmp, "root")
        self.add_user(root, "alice")
        for journal in (True, False):
            path = os.path.join(self.tmp, f"stderr-{journal}")
            with open(path, "w") as err:
                st = os.fstat(err.fileno())
                env = dict(os.environ)
                env.pop("JOURNAL_STREAM", None)
                if journal:
                    env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
                p = subprocess.Popen(
                    [SSFTPD, "--listen", "127.0.0.1:0", "--root", root],
                    stdout=subprocess.PIPE, stderr=err, text=True, env=env)
            self.procs.append(p)
            line = read_until(p.stdout, r"^listening on ")[-1]
            port = int(re.search(r":(\d+)$", line).group(1))
            r = self.client(port, "ls")
            self.assertEqual(r.returncode, 0, r.stderr)
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=WAIT_S), 0)
            with open(path) as f:
                lines = [x for x in f if " alice: " in x]
            self.assertTrue(lines)
            stamped = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ssftpd "
            for x in lines:
                if journal:
                    self.assertRegex(x, r"^<6>ssftpd 127\.0\.0\.1:")
                else:
                    self.assertRegex(x, stamped)


class Config(Base):
    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, "root")
        self.add_user(self.root, "alice")
        self.conf = os.path.join(self.tmp, "ssftpd.conf")

    def write(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def test_options_from_the_file(self):
        self.write(f"# ssftpd\n\nroot = {self.root}\n"
                   "  max-clients = 7  \n"
                   "ftp-allow-plaintext = no\n"
                   "listen = 127.0.0.1:1\n")  # the command line's wins
        p, port = self.start("--config", self.conf)
        with open(os.path.join(self.tmp, "hello.txt"), "w") as f:
            f.write("hi\n")
        r = self.client(port, "put", "hello.txt")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.isfile(
            os.path.join(self.root, "homes", "alice", "hello.txt")))

    def test_errors_name_the_line(self):
        for text, line, what in (
                (f"root = {self.root}\nbogus = 1\n", 2, "unknown option"),
                ("# c\nmax-clients = lots\n", 2, "bad or missing value"),
                ("ftp-active = maybe\n", 1, "takes yes or no"),
                ("\n\njust words\n", 3, "not \"key = value\""),
                ("config = /etc/other\n", 1, "unknown option"),
                (f"root = {self.tmp}/missing\n", None, "ssftpd init")):
            self.write(text)
            r = run("--config", self.conf, "--listen", "127.0.0.1:0",
                    stdin=subprocess.DEVNULL)
            self.assertNotEqual(r.returncode, 0, text)
            if line is not None:
                self.assertIn(f"{self.conf}:{line}: ", r.stderr, text)
            self.assertIn(what, r.stderr, text)

    def test_no_flag_turns_off_what_the_file_turned_on(self):
        self.write(f"root = {self.root}\nproxy-protocol = yes\n")
        r = run("--check", "--config", self.conf)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--proxy-protocol needs --proxy-from", r.stderr)
        r = run("--check", "--config", self.conf, "--no-proxy-protocol")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run("--check", "--config", self.conf, "--no-such-flag")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option --no-such-flag", r.stderr)

    def test_every_option_is_a_key(self):
        """Each long option of --help, as a key, passes --check; the same
        key misspelt does not."""
        helptext = run("--help").stdout
        options = set(re.findall(r"^\s+--([a-z][a-z-]+)", helptext, re.M))
        self.assertGreater(len(options), 20)
        value = {"root": self.root, "listen": "127.0.0.1:0", "workers": "4",
                 "max-clients": "5", "max-per-ip": "2", "idle-timeout": "9",
                 "login-timeout": "9", "default-quota": "1G",
                 "default-max-files": "100", "partial-max-age": "1h",
                 "isolation": "process", "tls-cert": "/x/cert.pem",
                 "tls-key": "/x/key.pem", "ftp": "127.0.0.1:0",
                 "ftp-passive-ports": "40000-40010", "ftp-data-timeout": "5",
                 "ftp-passive-address": "192.0.2.1",
                 "user": "nobody", "log": "/x/ssftpd.log",
                 "log-level": "warning", "xferlog": "/x/xferlog",
                 "proxy-from": "127.0.0.1,10.0.0.0/8"}
        flags = {"ftp-allow-plaintext", "ftp-active", "ftp-no-tls-reuse",
                 "ftp-no-fsync", "proxy-protocol"}
        self.assertEqual(options - {"config"}, set(value) | flags)
        self.write("".join(f"{k} = {v}\n" for k, v in value.items()) +
                   "".join(f"{k} = yes\n" for k in flags))
        r = run("--check", "--config", self.conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"ssftpd: options ok, config {self.conf}\n")
        r = run("--check", "--config", self.conf, "--user",
                "no-such-user-here")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such user", r.stderr)
        self.write("ftp-allow-plain-text = yes\n")
        r = run("--check", "--config", self.conf)
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"{self.conf}:1: unknown option", r.stderr)

    def test_a_missing_config_is_an_error(self):
        r = run("--config", os.path.join(self.tmp, "none.conf"),
                stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 2)
        self.assertIn("No such file", r.stderr)


@unittest.skipUnless(os.geteuid() == 0,
                     "needs root: drops to the user nobody")
class DropUser(Base):
    def nobodys_root(self):
        """A data root with alice, all of it chowned to nobody."""
        nobody = pwd.getpwnam("nobody")
        root = os.path.join(self.tmp, "root")
        self.add_user(root, "alice")
        chown_tree(root, nobody)
        return nobody, root

    def test_runs_as_the_user_after_binding(self):
        nobody, root = self.nobodys_root()
        p, port = self.start("--root", root, "--user", "nobody",
                             "--ftp", "127.0.0.1:0")
        read_until(p.stderr, r"running as nobody")
        with open(f"/proc/{p.pid}/status") as f:
            status = f.read()
        uids = re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split()
        gids = re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split()
        self.assertEqual(set(uids), {str(nobody.pw_uid)})
        self.assertEqual(set(gids), {str(nobody.pw_gid)})
        with open(os.path.join(self.tmp, "hello.txt"), "w") as f:
            f.write("hi\n")
        r = self.client(port, "put", "hello.txt")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = os.stat(os.path.join(root, "homes", "alice", "hello.txt"))
        self.assertEqual(st.st_uid, nobody.pw_uid)
        # The pair made at the first start is the root's owner's, so a
        # reload as that user can read it.
        st = os.stat(os.path.join(root, "tls", "key.pem"))
        self.assertEqual(st.st_uid, nobody.pw_uid)
        p.send_signal(signal.SIGHUP)
        read_until(p.stderr, r"ssftpd notice: reloaded; TLS key")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=WAIT_S), 0)

    def test_started_as_the_user_already_is_fine(self):
        # systemd's User= with "user = NAME" in the config, say.
        nobody, root = self.nobodys_root()
        p, port = self.start("--root", root, "--user", "nobody",
                             preexec_fn=lambda: (os.setgid(nobody.pw_gid),
                                                 os.setuid(nobody.pw_uid)))
        r = self.client(port, "ls")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_a_root_the_user_cannot_use_is_refused(self):
        root = os.path.join(self.tmp, "root")
        self.add_user(root, "alice")  # root's, mode 0700
        r = run("--root", root, "--listen", "127.0.0.1:0", "--user",
                "nobody", stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--user nobody cannot use " + root, r.stderr)

    def test_an_unknown_user_is_an_error(self):
        root = os.path.join(self.tmp, "root")
        self.add_user(root, "alice")
        r = run("--root", root, "--listen", "127.0.0.1:0", "--user",
                "no-such-user-here", stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such user", r.stderr)


def main():
    global SSFTP, SSFTPD
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    SSFTP, SSFTPD = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:])


if __name__ == "__main__":
    main()

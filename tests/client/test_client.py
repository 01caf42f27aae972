#!/usr/bin/env python3
"""ssftp end to end: the real client binary against a real ssftpd.

Usage: test_client.py SSFTP SSFTPD

One server is started on 127.0.0.1 port 0 for the whole run (its
"listening on HOST:PORT" line gives the port; no sleeps), with users made
through `ssftpd user add` at the cheap test cost.  Each test is named after
the behaviour it proves.
"""
import base64
import ctypes
import ctypes.util
import hashlib
import hmac
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SSFTP = SSFTPD = None
PASSWORD = "correct horse"
# The argon2id costs a client accepts (PROTO_AUTH_MIN_* and PROTO_AUTH_MAX_* in
# src/proto/auth.h).  The test users are made at exactly the minimum.
PROTO_AUTH_MIN_OPSLIMIT, PROTO_AUTH_MAX_OPSLIMIT = 2, 10
PROTO_AUTH_MIN_MEMLIMIT, PROTO_AUTH_MAX_MEMLIMIT = 8 << 20, 1 << 30
KDF = ["--kdf-ops", str(PROTO_AUTH_MIN_OPSLIMIT),
       "--kdf-mem", str(PROTO_AUTH_MIN_MEMLIMIT)]
BIG = 96 << 20  # large enough that a transfer can be caught part-way


def blake(path):
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_random(path, size):
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n


class Server:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="ssftp-test-")
        self.root = os.path.join(self.tmp, "root")
        self.add_user("alice", None)
        self.add_user("bob", "1M")
        # The server's log goes to a file, shown if the server dies.
        self.log_path = os.path.join(self.tmp, "ssftpd.log")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [SSFTPD, "--listen", "127.0.0.1:0", "--root", self.root],
                stdout=subprocess.PIPE, stderr=log, text=True)
        deadline = time.monotonic() + 30
        self.port = None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on (\S+):(\d+)", line)
            if m:
                self.port = int(m.group(2))
                break
        if self.port is None:
            self.stop()
            raise RuntimeError("ssftpd did not report its port")
        self.fingerprint = subprocess.run(
            [SSFTPD, "fingerprint", "--root", self.root], check=True,
            capture_output=True, text=True, timeout=30).stdout.strip()

    def add_user(self, name, quota):
        args = [SSFTPD, "user", "add", name, "--root", self.root] + KDF
        if quota:
            args += ["--quota", quota]
        subprocess.run(args, input=PASSWORD + "\n", text=True, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def home(self, user):
        return os.path.join(self.root, "homes", user)

    def stop(self):
        died = self.proc.poll() is not None
        if not died:
            self.proc.terminate()
            self.proc.wait(10)
        if died or self.proc.returncode != 0:
            with open(self.log_path, errors="replace") as log:
                sys.stderr.write("ssftpd exited with %s; its log:\n%s"
                                 % (self.proc.returncode, log.read()[-20000:]))
        shutil.rmtree(self.tmp, ignore_errors=True)


SRV = None

# The server's key is self-signed: a test that speaks the protocol itself
# takes it as it is (ssftp's own check of it is tested with ssftp).
CLIENT_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CLIENT_TLS.check_hostname = False
CLIENT_TLS.verify_mode = ssl.CERT_NONE
CLIENT_TLS.minimum_version = ssl.TLSVersion.TLSv1_3


def tls_connect(port, src="127.0.0.1"):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return CLIENT_TLS.wrap_socket(s)


class TLSPipe:
    """A TLS session over a socket that one thread reads while another
    writes (an SSLObject over memory BIOs: the socket I/O is outside its
    lock, and each record is sent in the order it was made)."""

    def __init__(self, sock, ctx, server_side):
        self.sock = sock
        self.lock, self.send_lock = threading.Lock(), threading.Lock()
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out, server_side=server_side)
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                data = sock.recv(1 << 16)
                if not data:
                    raise EOFError
                self.inc.write(data)
        self._flush()

    def _flush(self):
        with self.send_lock:
            with self.lock:
                data = self.out.read()
            if data:
                self.sock.sendall(data)

    def recv(self, n):
        while True:
            with self.lock:
                try:
                    return self.obj.read(n)
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLZeroReturnError:
                    return b""
            self._flush()
            data = self.sock.recv(1 << 16)
            if not data:
                return b""
            with self.lock:
                self.inc.write(data)

    def sendall(self, data):
        with self.send_lock:
            with self.lock:
                self.obj.write(data)
                out = self.out.read()
            self.sock.sendall(out)

    def shutdown(self, how):
        self.sock.shutdown(how)

    def close(self):
        self.sock.close()


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        data = sock.recv(n - len(buf))
        if not data:
            raise EOFError
        buf += data
    return buf


def recv_frame(sock):
    """One frame off sock: (raw header bytes, header dict).  A body, if any,
    is left in the socket for the caller."""
    n = int.from_bytes(recv_exact(sock, 4), "big")
    raw = recv_exact(sock, n)
    return raw, json.loads(raw)


def relay_body(src, dst, size):
    while size:
        data = src.recv(min(size, 1 << 16))
        if not data:
            raise EOFError
        dst.sendall(data)
        size -= len(data)


class FrameProxy:
    """127.0.0.1 proxy to ssftpd for one connection that stands in for a
    hostile server or network.  It parses the frames both ways, records every
    request header the client sends (`requests`) and every reply header the
    server sends (`replies`, as (cmd, header)), and hands each server reply to
    rewrite(cmd, header) -> header, where cmd is the client request it
    answers.  Frames the rewrite leaves alone pass on byte for byte; the cmds
    of those it changed are listed in `altered`.  TLS ends at the proxy on
    both sides: towards the client it shows the server's own key (or the
    context `tls`, a man in the middle's)."""

    def __init__(self, port, rewrite=None, tls=None):
        self.target, self.rewrite, self.tls = port, rewrite, tls
        self.requests, self.replies, self.altered = [], [], []
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.cli = self.srv = None
        self.raw = []
        self.ready = threading.Event()
        self.from_client = threading.Thread(target=self.client_to_server,
                                            daemon=True)
        self.from_server = threading.Thread(target=self.server_to_client,
                                            daemon=True)
        self.from_server.start()

    def server_to_client(self):
        # TLS both ways: to the client with the server's own key (which the
        # client has pinned) unless given another, to the server as any
        # client.
        server_tls = self.tls
        if server_tls is None:
            tls_dir = os.path.join(SRV.root, "tls")
            server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_tls.load_cert_chain(os.path.join(tls_dir, "cert.pem"),
                                       os.path.join(tls_dir, "key.pem"))
        try:
            cli, _ = self.lsock.accept()
            self.raw = [cli]
            self.cli = TLSPipe(cli, server_tls, True)
            srv = socket.create_connection(("127.0.0.1", self.target))
            self.raw.append(srv)
            self.srv = TLSPipe(srv, CLIENT_TLS, False)
        except (OSError, EOFError, ssl.SSLError):
            self.ready.set()
            self.hang_up()
            return
        self.from_client.start()
        self.ready.set()
        try:
            while True:
                raw, hdr = recv_frame(self.srv)
                # Login is lock-step, so the client's latest request is the
                # one this frame answers.
                cmd = self.requests[-1].get("cmd") if self.requests else None
                self.replies.append((cmd, hdr))
                size = hdr.get("size")  # the body the server really sends
                if self.rewrite is not None:
                    before = json.dumps(hdr, sort_keys=True)
                    hdr = self.rewrite(cmd, json.loads(before))
                    if json.dumps(hdr, sort_keys=True) != before:
                        self.altered.append(cmd)
                        raw = json.dumps(hdr, separators=(",", ":")).encode()
                self.cli.sendall(len(raw).to_bytes(4, "big") + raw)
                if isinstance(size, int):
                    relay_body(self.srv, self.cli, size)
        except (EOFError, OSError, ValueError):
            pass
        finally:
            self.hang_up()

    def client_to_server(self):
        try:
            while True:
                raw, hdr = recv_frame(self.cli)
                self.requests.append(hdr)
                self.srv.sendall(len(raw).to_bytes(4, "big") + raw)
                if isinstance(hdr.get("size"), int):
                    relay_body(self.cli, self.srv, hdr["size"])
        except (EOFError, OSError, ValueError):
            pass
        try:
            self.srv.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def hang_up(self):
        for s in list(self.raw):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cmds(self):
        """The cmds the client sent, once it has hung up (call after the
        client exited; it then has nothing left to send)."""
        self.ready.wait(10)
        if self.from_client.ident is not None:
            self.from_client.join(10)
        return [r.get("cmd") for r in self.requests]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.lsock.close()
        self.hang_up()
        self.from_server.join(10)
        for s in self.raw:
            s.close()


def flip_bit(b64, byte):
    """b64 of the same bytes with one bit of byte `byte` flipped: as long and
    as well-formed as the original, but a different value."""
    raw = bytearray(base64.b64decode(b64))
    raw[byte] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


class InjectingProxy(FrameProxy):
    """Adds one entry named `name` to every ls reply."""

    def __init__(self, port, name):
        def add_entry(cmd, hdr):
            if isinstance(hdr.get("entries"), list):
                hdr["entries"].append({"name": name, "type": "file",
                                       "size": 1, "mtime": 0})
            return hdr
        super().__init__(port, add_entry)


class ByteRelay:
    """127.0.0.1 relay of bytes as they are, for one connection: records
    both directions (`up`, client to server; `down`), and when told flips
    one bit of the next chunk going one way (flip('up') or flip('down'))."""

    def __init__(self, port):
        self.target = port
        self.up, self.down = bytearray(), bytearray()
        self.armed = {"up": False, "down": False}
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def flip(self, way):
        self.armed[way] = True

    def pump(self, src, dst, log, way):
        try:
            while True:
                data = bytearray(src.recv(1 << 16))
                if not data:
                    break
                log += data
                if self.armed[way] and len(data) > 40:
                    self.armed[way] = False
                    data[len(data) // 2] ^= 0x01
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def run(self):
        try:
            cli, _ = self.lsock.accept()
            srv = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            return
        self.socks = [cli, srv]
        down = threading.Thread(target=self.pump,
                                args=(srv, cli, self.down, "down"))
        down.start()
        self.pump(cli, srv, self.up, "up")
        down.join(30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.lsock.close()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.t.join(30)
        for s in self.socks:
            s.close()


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.work = tempfile.mkdtemp(prefix="ssftp-cli-", dir=SRV.tmp)
        self.xdg = tempfile.mkdtemp(prefix="xdg-", dir=SRV.tmp)
        self.env = dict(os.environ, SSFTP_PASSWORD=PASSWORD,
                        XDG_CONFIG_HOME=self.xdg)

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)

    def args(self, user, *cmd, port=None, opts=()):
        # The server's key given, as a user would after checking it once
        # (known_hosts has tests of its own).
        return [SSFTP, "-u", user, "--host-key", SRV.fingerprint, *opts,
                f"127.0.0.1:{port or SRV.port}",
                *cmd]

    def run_cli(self, *cmd, user="alice", stdin=None, env=None, port=None):
        return subprocess.run(self.args(user, *cmd, port=port), cwd=self.work,
                              input=stdin if stdin is not None else "",
                              env=env or self.env, text=True,
                              capture_output=True, timeout=60)

    def ok(self, *cmd, **kw):
        r = self.run_cli(*cmd, **kw)
        self.assertEqual(r.returncode, 0, f"{cmd}: {r.stderr}")
        self.assertEqual(r.stderr, "")
        return r.stdout

    def fails(self, code, pattern, *cmd, **kw):
        r = self.run_cli(*cmd, **kw)
        self.assertEqual(r.returncode, code, r.stderr)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertRegex(lines[0], "^ssftp: " + pattern)
        return r

    def local(self, name):
        return os.path.join(self.work, name)

    # ---- every command, one-shot -------------------------------------
    def test_every_command_runs_one_shot(self):
        self.assertEqual(self.ok("pwd"), "/\n")
        self.ok("mkdir", "oneshot")
        self.ok("cd", "oneshot")
        write_random(self.local("a.bin"), 100000)
        out = self.ok("put", "a.bin", "oneshot/a.bin")
        self.assertRegex(out, r"verified blake2b:[0-9a-f]{16}\n")
        self.assertIn("a.bin", self.ok("ls", "oneshot"))
        out = self.ok("get", "oneshot/a.bin", "b.bin")
        self.assertIn("verified blake2b:" + blake(self.local("a.bin"))[:16],
                      out)
        self.assertEqual(blake(self.local("a.bin")),
                         blake(self.local("b.bin")))
        self.assertRegex(self.ok("quota"), r"^used .*B")
        self.ok("rm", "oneshot/a.bin")
        self.ok("rmdir", "oneshot")
        self.assertNotIn("oneshot", self.ok("ls"))
        self.assertIn("put LOCAL", self.ok("help"))
        self.ok("quit")

    def test_batch_mode_runs_lines_in_one_session(self):
        out = self.ok(stdin="mkdir batch1\ncd batch1\npwd\ncd ..\n"
                            "rmdir batch1\n")
        self.assertEqual(out, "/batch1\n")

    def test_batch_mode_stops_at_first_failure(self):
        r = self.fails(1, r"line 2: rm nope: no such file or directory$",
                       stdin="mkdir stop1\nrm nope\nmkdir stop2\n")
        listing = self.ok("ls")
        self.assertIn("stop1", listing)
        self.assertNotIn("stop2", listing)
        self.ok("rmdir", "stop1")

    # ---- many files: mput, mget ----------------------------------------
    def test_mput_and_mget_move_many_files_verified(self):
        src = self.local("src")
        os.mkdir(src)
        sizes = {f"s{i:03d}.dat": (i * 613) % 5000 for i in range(150)}
        sizes["big.dat"] = 700 * 1024  # above the whole-put size: resumable
        sizes["x.txt"] = 10
        for name, size in sizes.items():
            write_random(os.path.join(src, name), size)
        self.ok("mkdir", "many")
        out = self.ok(stdin="cd many\nmput src/*.dat src/x.txt\n")
        self.assertEqual(len(out.splitlines()), len(sizes))
        home = SRV.home("alice")
        for name in sizes:
            self.assertEqual(blake(os.path.join(src, name)),
                             blake(os.path.join(home, "many", name)), name)
        dst = self.local("dst")
        os.mkdir(dst)
        r = subprocess.run(self.args("alice"), cwd=dst, env=self.env,
                           input="mget many/s*.dat many/big.dat many/x.txt\n",
                           text=True, capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(os.listdir(dst)), sorted(sizes))
        for name in sizes:
            self.assertEqual(blake(os.path.join(src, name)),
                             blake(os.path.join(dst, name)), name)
            self.assertIn(f"{name}: ", r.stdout)
        shutil.rmtree(os.path.join(home, "many"))

    def test_mput_goes_on_past_a_failed_file_and_says_so(self):
        for i in range(5):
            write_random(self.local(f"q{i}.bin"), 300 * 1024)
        write_random(self.local("a.txt"), 100)
        # bob's quota is 1 MiB: three of the five fit, two do not.
        r = self.run_cli(user="bob", stdin="mput q*.bin a.txt nope.bin z*\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        err = r.stderr.splitlines()
        self.assertEqual(sum("quota exceeded" in e for e in err), 2, err)
        self.assertIn("ssftp: put nope.bin: No such file or directory", err)
        self.assertIn("ssftp: z*: no match", err)
        self.assertRegex(err[-1], r"^ssftp: line 1: mput: 3 of 7 files failed$")
        self.assertEqual(len(r.stdout.splitlines()), 4)  # three q, and a.txt
        home = SRV.home("bob")
        stored = sorted(n for n in os.listdir(home) if n.startswith("q"))
        self.assertEqual(len(stored), 3, stored)
        for n in stored + ["a.txt"]:
            self.assertEqual(blake(self.local(n)), blake(os.path.join(home, n)))
            os.unlink(os.path.join(home, n))

    def test_two_files_of_one_name_in_one_window_are_taken_in_turn(self):
        # mput a/x b/x: the second replaces the first on the server (not
        # "busy" because the first is still being published); mget of two
        # remote x: the second replaces the first here, each verified (not
        # two bodies written into one partial).
        for d in ("a", "b"):
            os.mkdir(self.local(d))
        write_random(self.local("a/x"), 200000)
        write_random(self.local("b/x"), 100000)
        self.ok("mkdir", "twice")
        self.ok(stdin="cd twice\nmput a/x b/x\n")
        home = os.path.join(SRV.home("alice"), "twice")
        self.assertEqual(blake(os.path.join(home, "x")),
                         blake(self.local("b/x")))
        os.mkdir(os.path.join(home, "a"))
        os.mkdir(os.path.join(home, "b"))
        shutil.copy(self.local("a/x"), os.path.join(home, "a", "x"))
        shutil.copy(self.local("b/x"), os.path.join(home, "b", "x"))
        dst = self.local("dst")
        os.mkdir(dst)
        r = subprocess.run(self.args("alice"), cwd=dst, env=self.env,
                           input="mget twice/a/x twice/b/x\n", text=True,
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(blake(os.path.join(dst, "x")),
                         blake(self.local("b/x")))
        self.assertEqual(os.listdir(dst), ["x"])
        shutil.rmtree(home)

    def test_mget_of_a_pattern_that_matches_nothing_fails(self):
        r = self.run_cli(stdin="mget nothing-here*\nmkdir never\n")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.splitlines(), [
            "ssftp: nothing-here*: no match",
            "ssftp: line 1: mget: 1 pattern matched nothing"])
        self.assertEqual(os.listdir(self.work), [])
        self.assertNotIn("never", self.ok("ls"))

    # ---- TLS: nothing readable, nothing alterable, no relayed login -----
    def test_a_recording_shows_no_content_user_or_path(self):
        marker = b"TOP-SECRET-PAYROLL-DATA" * 1000
        with open(self.local("payroll-2026.txt"), "wb") as f:
            f.write(marker)
        with ByteRelay(SRV.port) as rec:
            self.ok(stdin="mkdir secret-dir-name\n"
                          "put payroll-2026.txt secret-dir-name/\n"
                          "get secret-dir-name/payroll-2026.txt back.txt\n",
                    port=rec.port)
        capture = bytes(rec.up) + bytes(rec.down)
        self.assertGreater(len(capture), len(marker))  # it all went by
        for secret in (b"TOP-SECRET-PAYROLL", b"alice", b"payroll-2026",
                       b"secret-dir-name", b"put_data", b"auth_proof"):
            self.assertNotIn(secret, capture)
        with open(self.local("back.txt"), "rb") as f:
            self.assertEqual(f.read(), marker)
        shutil.rmtree(os.path.join(SRV.home("alice"), "secret-dir-name"))

    def test_a_flipped_bit_either_way_ends_the_session_and_changes_nothing(self):
        home = SRV.home("alice")
        write_random(self.local("new.bin"), 4 << 20)
        write_random(os.path.join(home, "old.bin"), 8 << 20)
        write_random(self.local("old.bin"), 100)  # what a get would replace
        before_remote = blake(os.path.join(home, "old.bin"))
        before_local = blake(self.local("old.bin"))
        for way, cmd in (("up", ["put", "new.bin", "old.bin"]),
                         ("down", ["get", "old.bin"])):
            with self.subTest(way=way), ByteRelay(SRV.port) as rec:
                p = subprocess.Popen(self.args("alice", *cmd, port=rec.port),
                                     cwd=self.work, env=self.env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
                # Once the login is through, the next records carry the
                # transfer: one bit of one of them changes on the way.
                seen = rec.up if way == "up" else rec.down
                deadline = time.monotonic() + 30
                while len(seen) < 20000 and time.monotonic() < deadline:
                    time.sleep(0.001)
                rec.flip(way)
                out, err = p.communicate(timeout=60)
                self.assertIn(p.returncode, (1, 3), err)
                self.assertRegex(err, r"^ssftp: ")
                self.assertEqual(len(err.splitlines()), 1, err)
            self.assertEqual(blake(os.path.join(home, "old.bin")),
                             before_remote)
            self.assertEqual(blake(self.local("old.bin")), before_local)
        self.assertNotIn("new.bin", os.listdir(home))
        os.unlink(os.path.join(home, "old.bin"))
        for n in os.listdir(home):  # a partial the cut put may have left
            if n.endswith(".ssftp-part"):
                os.unlink(os.path.join(home, n))

    def test_a_tls_relay_with_its_own_key_cannot_log_in(self):
        # A man in the middle terminates TLS with a key of his own, which
        # the user wrongly accepted, and relays the frames to the real
        # server.  The proof is bound to the client's channel (the relay's
        # certificate), so the server refuses it and says why.
        other = tempfile.mkdtemp(prefix="mitm-", dir=SRV.tmp)
        key, cert = os.path.join(other, "key.pem"), os.path.join(other,
                                                                 "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "1",
                        "-subj", "/CN=mitm"], check=True,
                       capture_output=True, timeout=60)
        mitm_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        mitm_tls.load_cert_chain(cert, key)

        mitm_fp = subprocess.run(
            [SSFTPD, "fingerprint", "--tls-cert", cert], check=True,
            capture_output=True, text=True, timeout=30).stdout.strip()
        with FrameProxy(SRV.port, tls=mitm_tls) as relay:
            # The user accepted the relay's key: the mistake pinning is
            # there to catch, made on purpose.
            r = subprocess.run(
                [SSFTP, "-u", "alice", "--host-key", mitm_fp,
                 f"127.0.0.1:{relay.port}", "pwd"], cwd=self.work,
                env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                text=True, timeout=60)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("wrong user name or password", r.stderr)
        self.assertEqual(r.stdout, "")
        with open(SRV.log_path, errors="replace") as log:
            self.assertIn("channel binding mismatch", log.read())

    def test_a_python_ssl_client_logs_in(self):
        # A third party's client: Python's ssl module for TLS and the
        # channel binding, hashlib/hmac for SCRAM, and libsodium (through
        # ctypes; the standard library has no argon2) for the one
        # derivation -- nothing of ours (docs/protocol.md, "Writing a
        # client").
        sodium = ctypes.CDLL(ctypes.util.find_library("sodium"))
        self.assertGreaterEqual(sodium.sodium_init(), 0)
        s = tls_connect(SRV.port)

        def call(req):
            raw = json.dumps(req).encode()
            s.sendall(len(raw).to_bytes(4, "big") + raw)
            return recv_frame(s)[1]

        def field(b):
            return len(b).to_bytes(4, "big") + b
        b64, unb64 = (lambda b: base64.b64encode(b).decode(),
                      base64.b64decode)
        self.assertEqual(call({"cmd": "hello", "version": 2})["version"], 2)
        cnonce = os.urandom(32)
        ch = call({"cmd": "auth", "user": "alice", "cnonce": b64(cnonce)})
        salt, snonce = unb64(ch["salt"]), unb64(ch["snonce"])
        ops, mem = ch["opslimit"], ch["memlimit"]
        out, pw = ctypes.create_string_buffer(32), PASSWORD.encode()
        self.assertEqual(sodium.crypto_pwhash(
            out, ctypes.c_ulonglong(32), pw, ctypes.c_ulonglong(len(pw)),
            salt, ctypes.c_ulonglong(ops), ctypes.c_size_t(mem),
            ctypes.c_int(2)), 0)  # crypto_pwhash_ALG_ARGON2ID13
        salted = out.raw

        def mac(key, msg):
            return hmac.new(key, msg, hashlib.sha256).digest()
        client_key = mac(salted, b"Client Key")
        server_key = mac(salted, b"Server Key")
        cbind = hashlib.sha256(s.getpeercert(binary_form=True)).digest()
        am = (b"ssftp-scram-v2" + field(b"alice") + field(cnonce) +
              field(snonce) + field(salt) + ops.to_bytes(8, "big") +
              mem.to_bytes(8, "big") + field(b"tls-server-end-point") +
              field(cbind))
        sig = mac(hashlib.sha256(client_key).digest(), am)
        proof = bytes(a ^ b for a, b in zip(client_key, sig))
        r = call({"cmd": "auth_proof", "proof": b64(proof)})
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["server_signature"], b64(mac(server_key, am)))
        r = call({"cmd": "pwd"})
        self.assertEqual((r["ok"], r["cwd"]), (True, "/"))
        s.close()

    def test_a_plaintext_client_gets_an_error_and_others_go_on(self):
        # A client of protocol version 1 (no TLS) is told why, in its own
        # framing, then closed; a peer speaking anything else just fails
        # the handshake.  Either way the server goes on.
        s = socket.create_connection(("127.0.0.1", SRV.port))
        s.settimeout(10)
        raw = json.dumps({"cmd": "hello", "version": 1}).encode()
        s.sendall(len(raw).to_bytes(4, "big") + raw)
        reply = recv_frame(s)[1]
        self.assertEqual((reply["ok"], reply["code"]), (False, "version"))
        self.assertIn("TLS", reply["error"])
        self.assertEqual(s.recv(10), b"")
        s.close()
        s = socket.create_connection(("127.0.0.1", SRV.port))
        s.settimeout(10)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        try:
            data = s.recv(4096)  # a TLS alert, or the close
        except OSError:
            data = b""
        self.assertNotIn(b"ok", data)
        s.close()
        self.assertEqual(self.ok("pwd"), "/\n")

    # ---- host keys ---------------------------------------------------
    def hk_run(self, *opts):
        return subprocess.run(
            [SSFTP, "-u", "alice", *opts, f"127.0.0.1:{SRV.port}", "pwd"],
            cwd=self.work, env=self.env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=60)

    def test_an_unknown_server_is_refused_without_a_terminal(self):
        r = self.hk_run()
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn(SRV.fingerprint, r.stderr)
        self.assertIn("--accept-new-host-key", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.xdg, "ssftp")))

    def test_accept_new_stores_the_key_and_a_changed_key_is_refused(self):
        r = self.hk_run("--accept-new-host-key")
        self.assertEqual((r.returncode, r.stdout), (0, "/\n"), r.stderr)
        known = os.path.join(self.xdg, "ssftp", "known_hosts")
        with open(known) as f:
            self.assertEqual(f.read(),
                             f"127.0.0.1:{SRV.port} {SRV.fingerprint}\n")
        self.assertEqual(os.stat(known).st_mode & 0o777, 0o600)
        r = self.hk_run()  # known now: no option needed, nothing said
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "/\n", ""))
        # The server's key replaced (as a man in the middle's would be):
        other = "SHA256:" + base64.b64encode(bytes(32)).decode().rstrip("=")
        with open(known, "w") as f:
            f.write("# a comment\n")
            f.write(f"127.0.0.1:{SRV.port} {other}\n")
        r = self.hk_run("--accept-new-host-key")  # never for a change
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn("CHANGED", r.stderr)
        self.assertIn(f"line 2 of {known}", r.stderr)

    def test_a_wrong_host_key_option_is_refused(self):
        other = "SHA256:" + base64.b64encode(bytes(32)).decode().rstrip("=")
        r = self.hk_run("--host-key", other)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn(SRV.fingerprint, r.stderr)
        r = self.hk_run("--host-key", SRV.fingerprint, "-v")
        self.assertEqual((r.returncode, r.stdout), (0, "/\n"), r.stderr)
        self.assertRegex(r.stderr, r"^ssftp: TLSv1\.3 TLS_\w+, server key "
                                   + re.escape(SRV.fingerprint) + "\n$")

    def test_a_stalled_handshake_costs_no_cpu(self):
        # The first bytes of a TLS record, then nothing: the server must
        # wait for the rest in epoll, not call the handshake again and
        # again (a part of a record counts as "pending" to OpenSSL).
        def cpu():
            with open(f"/proc/{SRV.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        s = socket.create_connection(("127.0.0.1", SRV.port))
        try:
            s.sendall(b"\x16\x03\x01")
            before, t0 = cpu(), time.monotonic()
            s.settimeout(1.5)  # a window to measure in, not a wait for readiness
            try:
                self.assertEqual(s.recv(1), b"")
            except socket.timeout:
                pass
            spent, took = cpu() - before, time.monotonic() - t0
        finally:
            s.close()
        self.assertLess(spent, 0.3 * took, f"{spent:.2f} s of CPU in {took:.2f} s")
        self.assertEqual(self.ok("pwd"), "/\n")

    def test_a_certificate_from_a_trusted_ca_needs_no_pinning(self):
        # A second ssftpd on the same data root with a certificate for
        # "localhost" from a CA of our own, which the client trusts through
        # $SSL_CERT_FILE (OpenSSL's default store, as the system's would).
        d = tempfile.mkdtemp(prefix="ca-", dir=SRV.tmp)
        p = {n: os.path.join(d, n) for n in
             ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem", "ext",
              "other.pem", "certs")}
        os.mkdir(p["certs"])
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        with open(p["ext"], "w") as f:
            f.write("subjectAltName=DNS:localhost\n")
        for argv in (
                ["req", "-x509", *ec, "-keyout", p["ca.key"], "-out",
                 p["ca.pem"], "-days", "1", "-subj", "/CN=test CA"],
                ["req", *ec, "-keyout", p["srv.key"], "-out", p["srv.csr"],
                 "-subj", "/CN=localhost"],
                ["x509", "-req", "-in", p["srv.csr"], "-CA", p["ca.pem"],
                 "-CAkey", p["ca.key"], "-CAcreateserial", "-out", p["srv.pem"],
                 "-days", "1", "-extfile", p["ext"]],
                ["req", "-x509", *ec, "-keyout", os.path.join(d, "o.key"),
                 "-out", p["other.pem"], "-days", "1", "-subj", "/CN=other"],
                # The same name and CA, signed with SHA-1: too weak.
                ["x509", "-req", "-sha1", "-in", p["srv.csr"], "-CA",
                 p["ca.pem"], "-CAkey", p["ca.key"], "-CAcreateserial", "-out",
                 os.path.join(d, "weak.pem"), "-days", "1", "-extfile",
                 p["ext"]]):
            subprocess.run(["openssl", *argv], check=True, capture_output=True,
                           timeout=60)
        srv = subprocess.Popen(
            [SSFTPD, "--listen", "127.0.0.1:0", "--root", SRV.root,
             "--tls-cert", p["srv.pem"], "--tls-key", p["srv.key"]],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            m = re.search(r"listening on \S+:(\d+)", srv.stdout.readline())
            self.assertIsNotNone(m)
            port = m.group(1)

            def run(host, ca, *opts):
                env = dict(self.env, SSL_CERT_FILE=ca, SSL_CERT_DIR=p["certs"])
                return subprocess.run(
                    [SSFTP, "-u", "alice", *opts, f"{host}:{port}", "pwd"],
                    cwd=self.work, env=env, stdin=subprocess.DEVNULL,
                    capture_output=True, text=True, timeout=60)

            r = run("localhost", p["ca.pem"], "-v")
            self.assertEqual((r.returncode, r.stdout), (0, "/\n"), r.stderr)
            self.assertIn("(certificate verified)", r.stderr)
            r = run("localhost", p["ca.pem"])
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "/\n", ""))
            self.assertFalse(os.path.exists(os.path.join(self.xdg, "ssftp")))
            # By address the name does not match; with another CA the
            # chain does not verify: an unknown server either way.
            for host, ca in (("127.0.0.1", p["ca.pem"]),
                             ("localhost", p["other.pem"])):
                r = run(host, ca)
                self.assertEqual(r.returncode, 4, r.stderr)
                self.assertIn("is not a known server", r.stderr)
        finally:
            srv.terminate()
            srv.wait(10)
            srv.stdout.close()
        # A chain OpenSSL's security level refuses in a handshake (a SHA-1
        # signature) is not "verified" after one either.  ssftpd will not
        # load such a certificate, so a relay presents it.
        weak_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        weak_tls.set_ciphers("DEFAULT:@SECLEVEL=0")
        weak_tls.load_cert_chain(os.path.join(d, "weak.pem"), p["srv.key"])
        with FrameProxy(SRV.port, tls=weak_tls) as relay:
            port = relay.port
            r = run("localhost", p["ca.pem"])
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("is not a known server", r.stderr)

    # ---- failures: exit code and one line ------------------------------
    def test_wrong_password_exits_4_with_one_line(self):
        env = dict(self.env, SSFTP_PASSWORD="wrong")
        r = self.fails(4, r"login as alice: wrong user name or password$",
                       "pwd", env=env)
        self.assertNotIn("wrong\n", r.stdout)

    def test_login_over_budget_exits_4_saying_when_to_retry(self):
        # Spend dora's login budget from another address: ten wrong proofs,
        # all in flight at once (each reply is held back up to 1.5 s).
        socks = [tls_connect(SRV.port, "127.0.0.9") for _ in range(10)]
        zero = base64.b64encode(bytes(32)).decode()
        for reqs in ([{"cmd": "hello", "version": 2}],
                     [{"cmd": "auth", "user": "dora", "cnonce": zero}],
                     [{"cmd": "auth_proof", "proof": zero}]):
            for s in socks:
                raw = json.dumps(reqs[0]).encode()
                s.sendall(len(raw).to_bytes(4, "big") + raw)
            for s in socks:
                reply = recv_frame(s)[1]
                if reqs[0]["cmd"] == "auth_proof":
                    self.assertEqual(reply["code"], "auth_failed")
                else:
                    self.assertTrue(reply["ok"])
        for s in socks:
            s.close()
        self.fails(4, r"login as dora: refused by the server: too many "
                      r"failed logins .*; try again in [1-6] s$",
                   "pwd", user="dora")

    def test_password_file_is_read(self):
        pw = self.local("pw")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        env = dict(self.env)
        env.pop("SSFTP_PASSWORD", None)
        r = subprocess.run([SSFTP, "-u", "alice", "--password-file", pw,
                            "--host-key", SRV.fingerprint,
                            f"127.0.0.1:{SRV.port}", "pwd"], env=env,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout), (0, "/\n"), r.stderr)

    def test_missing_remote_file_exits_1(self):
        self.fails(1, r"get missing\.txt: no such file or directory$",
                   "get", "missing.txt")
        self.assertEqual(os.listdir(self.work), [])  # no stray partial

    def test_quota_exceeded_names_the_figures(self):
        write_random(self.local("big.iso"), 2 << 20)
        self.fails(1, r"put big\.iso: quota exceeded \(used .* of 1 MiB\)$",
                   "put", "big.iso", user="bob")

    def test_connection_refused_exits_3(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.fails(3, r"connect 127\.0\.0\.1:\d+: Connection refused$",
                   "pwd", port=port)

    def test_unknown_command_is_a_usage_error(self):
        self.fails(2, r"frobnicate: unknown command", "frobnicate")

    # ---- output ----------------------------------------------------------
    def test_ls_escapes_names_that_reorder_text(self):
        # ssftpd itself never lists control characters; bidi overrides and
        # backslashes it does, and they must not reach the terminal raw.
        name = "rtl\u202etxt.exe\\x"
        with open(os.path.join(SRV.home("alice"), name), "w") as f:
            f.write("x")
        try:
            out = self.ok("ls")
            self.assertNotIn("\u202e", out)
            self.assertIn("rtl\\u202etxt.exe\\\\x", out)
        finally:
            os.unlink(os.path.join(SRV.home("alice"), name))

    def test_ls_escapes_control_characters_from_a_hostile_server(self):
        # A proxy that adds a name with ESC and BEL to every ls reply stands
        # in for a malicious server (login passes through untouched).
        evil = "evil\x1b[31mred\x07\x1b]0;title\x07"
        with InjectingProxy(SRV.port, evil) as proxy:
            out = self.ok("ls", port=proxy.port)
        self.assertNotIn("\x1b", out)
        self.assertNotIn("\x07", out)
        self.assertIn("evil\\x1b[31mred\\x07\\x1b]0;title\\x07", out)

    # ---- login against an impostor -------------------------------------
    # A FrameProxy between ssftp and the real ssftpd plays a server that does
    # not know the user's keys.  Each test asserts that the proxy really
    # changed the frame it targets (so the outcome is the client's check, not
    # an accident of the setup), and lists every request the client sent:
    # the session must end at the bad frame, without a command and without
    # even a quit.
    IMPOSTOR = (r"login: the server's signature does not match; "
                r"it may be an impostor$")
    LOGIN_CMDS = ["hello", "auth", "auth_proof"]

    def test_login_refuses_a_server_signature_that_does_not_match(self):
        # The real server accepts the proof and signs; the proxy replaces the
        # ServerSignature with another value of the same length and base64
        # spelling (one bit off at either end, so a comparison that skips
        # either end is caught), or drops it.  Without ServerKey an impostor
        # can do no better.  ssftp must not run `ls` on such a peer.
        tampers = {
            "a bit of the first byte": lambda sig: flip_bit(sig, 0),
            "a bit of the last byte": lambda sig: flip_bit(sig, 31),
            "missing": lambda sig: None,
        }
        for how, tamper in tampers.items():
            def forge(cmd, hdr):
                if cmd == "auth_proof" and "server_signature" in hdr:
                    sig = tamper(hdr.pop("server_signature"))
                    if sig is not None:
                        hdr["server_signature"] = sig
                return hdr
            with self.subTest(signature=how), \
                    FrameProxy(SRV.port, forge) as proxy:
                r = self.fails(4, self.IMPOSTOR, "ls", port=proxy.port)
                self.assertEqual(r.stdout, "")
                self.assertEqual(proxy.altered, ["auth_proof"])
                self.assertEqual(proxy.cmds(), self.LOGIN_CMDS)

    def test_login_refuses_costs_outside_the_accepted_range(self):
        # The challenge names the argon2id costs.  Below PROTO_AUTH_MIN_* an
        # impostor would collect proofs that are cheap to crack offline;
        # above PROTO_AUTH_MAX_* it could make the client spin or allocate without
        # bound.  ssftp must refuse on reading the challenge, before deriving
        # keys, so no auth_proof is ever sent.  (With the explicit check gone
        # the derivation itself would fail, but with another message.)
        cases = [(PROTO_AUTH_MIN_OPSLIMIT - 1, PROTO_AUTH_MIN_MEMLIMIT),
                 (PROTO_AUTH_MIN_OPSLIMIT, PROTO_AUTH_MIN_MEMLIMIT - 1),
                 (PROTO_AUTH_MAX_OPSLIMIT + 1, PROTO_AUTH_MIN_MEMLIMIT),
                 (PROTO_AUTH_MIN_OPSLIMIT, PROTO_AUTH_MAX_MEMLIMIT + 1)]
        for ops, mem in cases:
            def weaken(cmd, hdr):
                if cmd == "auth" and "snonce" in hdr:
                    hdr["opslimit"], hdr["memlimit"] = ops, mem
                return hdr
            with self.subTest(opslimit=ops, memlimit=mem), \
                    FrameProxy(SRV.port, weaken) as proxy:
                self.fails(4, r"login: server asks for argon2id costs outside"
                              r" the accepted range \(opslimit %d, memlimit"
                              r" %d\)$" % (ops, mem), "ls", port=proxy.port)
                self.assertEqual(proxy.altered, ["auth"])
                self.assertEqual(proxy.cmds(), ["hello", "auth"])
                # The server itself asked for exactly the minimum, which the
                # other tests show is accepted: the boundary is exact.
                challenge = dict(proxy.replies)["auth"]
                self.assertEqual(
                    (challenge["opslimit"], challenge["memlimit"]),
                    (PROTO_AUTH_MIN_OPSLIMIT, PROTO_AUTH_MIN_MEMLIMIT))

    def test_login_refuses_a_replayed_server_transcript(self):
        # Nothing in the challenge echoes the client's nonce (cnonce and
        # snonce travel separately), so the client cannot spot a stale
        # snonce before it sends a proof.  What ties a login to this
        # connection is that ssftp draws a fresh cnonce every time and signs
        # it into AuthMessage.  An impostor that recorded a real login and
        # plays back the server's half of it -- the same salt, costs and
        # snonce, and a signature that was genuine then -- must be refused.
        with FrameProxy(SRV.port) as recorder:
            self.ok("pwd", port=recorder.port)
            self.assertEqual(recorder.cmds(),
                             self.LOGIN_CMDS + ["pwd", "quit"])
        old = dict(recorder.replies)  # the cmd each answered -> header
        self.assertIn("server_signature", old["auth_proof"])

        def replay(cmd, hdr):
            return old[cmd] if cmd in ("auth", "auth_proof") else hdr
        with FrameProxy(SRV.port, replay) as proxy:
            self.fails(4, self.IMPOSTOR, "pwd", port=proxy.port)
            self.assertEqual(proxy.altered, ["auth", "auth_proof"])
            self.assertEqual(proxy.cmds(), self.LOGIN_CMDS)
        self.assertNotEqual(proxy.requests[1]["cnonce"],
                            recorder.requests[1]["cnonce"])

    def run_pty(self, *cmd, opts=()):
        """Run ssftp with stdin/stdout/stderr on a pty; return output."""
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(self.work)
            os.execve(SSFTP, self.args("alice", *cmd, opts=opts), self.env)
        out = b""
        while True:
            try:
                ready, _, _ = select.select([fd], [], [], 60)
                if not ready:
                    break
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        return os.waitstatus_to_exitcode(status), out.decode(errors="replace")

    def test_progress_bar_only_on_a_terminal(self):
        write_random(self.local("p.bin"), 4 << 20)
        self.ok("put", "p.bin")
        code, out = self.run_pty("get", "p.bin", "p2.bin")
        self.assertEqual(code, 0, out)
        self.assertRegex(out, r"\r.*100% 4 MiB/4 MiB .*/s +ETA")
        r = self.run_cli("get", "p.bin", "p3.bin")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("ETA", r.stderr + r.stdout)
        code, out = self.run_pty("get", "p.bin", "p4.bin", opts=["--no-progress"])
        self.assertEqual(code, 0, out)
        self.assertNotIn("ETA", out)
        self.ok("rm", "p.bin")

    def test_interactive_shell_on_a_terminal(self):
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(self.work)
            os.execve(SSFTP, self.args("alice"), self.env)
        out = b""

        def read_until(token):
            nonlocal out
            deadline = time.monotonic() + 30
            while token not in out and time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], 1)
                if ready:
                    try:
                        out += os.read(fd, 65536)
                    except OSError:
                        break
            return token in out

        try:
            self.assertTrue(read_until(b"alice@127.0.0.1:/> "), out)
            os.write(fd, b"mkdir shell1\r")
            self.assertTrue(read_until(b"alice@127.0.0.1:/> "), out)
            out = b""
            os.write(fd, b"cd shell1\r")
            self.assertTrue(read_until(b"alice@127.0.0.1:/shell1> "), out)
            os.write(fd, b"rm nope\r")
            self.assertTrue(read_until(b"no such file or directory"), out)
            # Ctrl-C drops the half-typed line (it is never run) and gives a
            # fresh prompt in the same session.
            out = b""
            os.write(fd, b"mkdir never_run")
            self.assertTrue(read_until(b"never_run"), out)
            out = b""
            os.write(fd, b"\x03")
            self.assertTrue(read_until(b"alice@127.0.0.1:/shell1> "), out)
            out = b""
            os.write(fd, b"pwd\r")
            self.assertTrue(read_until(b"/shell1\r\n"), out)
            os.write(fd, b"cd /\r")
            os.write(fd, b"rmdir shell1\r")
            os.write(fd, b"quit\r")
            read_until(b"never")
        finally:
            _, status = os.waitpid(pid, 0)
            os.close(fd)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, out)
        listing = self.ok("ls")
        self.assertNotIn("shell1", listing)
        self.assertNotIn("never_run", listing)

    # ---- resume ------------------------------------------------------------
    def interrupt_when_grown(self, cmd, partial, sig):
        """Start ssftp, wait for partial to exist and grow, send sig."""
        p = subprocess.Popen(self.args("alice", *cmd), cwd=self.work,
                             env=self.env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        deadline = time.monotonic() + 60
        caught = False
        while time.monotonic() < deadline and p.poll() is None:
            try:
                if os.stat(partial).st_size > 0:
                    p.send_signal(sig)
                    caught = True
                    break
            except FileNotFoundError:
                pass
        out, err = p.communicate(timeout=60)
        if not caught:
            self.skipTest("transfer finished before it could be interrupted")
        size = os.stat(partial).st_size
        self.assertGreater(size, 0)
        self.assertLess(size, BIG)
        return p.returncode, err

    def test_get_resumes_after_interrupt(self):
        src = os.path.join(SRV.home("alice"), "rget.bin")
        write_random(src, BIG)
        try:
            code, err = self.interrupt_when_grown(
                ["get", "rget.bin"], self.local(".rget.bin.ssftp-part"),
                signal.SIGINT)
            self.assertEqual(code, 130, err)
            self.assertIn("interrupted", err)
            self.assertFalse(os.path.exists(self.local("rget.bin")))
            out = self.ok("get", "rget.bin")
            self.assertIn("resumed at", out)
            self.assertEqual(blake(self.local("rget.bin")), blake(src))
            self.assertIn("verified blake2b:" + blake(src)[:16], out)
            self.assertFalse(
                os.path.exists(self.local(".rget.bin.ssftp-part")))
        finally:
            os.unlink(src)

    def test_put_resumes_after_kill(self):
        write_random(self.local("rput.bin"), BIG)
        code, _ = self.interrupt_when_grown(
            ["put", "rput.bin"],
            os.path.join(SRV.home("alice"), ".rput.bin.ssftp-part"),
            signal.SIGKILL)
        self.assertEqual(code, -signal.SIGKILL)
        out = self.ok("put", "rput.bin")
        self.assertIn("resumed at", out)
        self.assertEqual(blake(os.path.join(SRV.home("alice"), "rput.bin")),
                         blake(self.local("rput.bin")))
        self.ok("rm", "rput.bin")


def main():
    global SSFTP, SSFTPD, SRV
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    SSFTP, SSFTPD = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    SRV = Server()
    try:
        prog = unittest.main(argv=[sys.argv[0], "-v"] + sys.argv[3:],
                             exit=False)
        return 0 if prog.result.wasSuccessful() else 1
    finally:
        SRV.stop()


if __name__ == "__main__":
    sys.exit(main())

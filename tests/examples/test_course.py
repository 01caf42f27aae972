#!/usr/bin/env python3
"""test_course.py -- the course's programs in examples/ against their Python twins.

    test_course.py PROGRAM --bin NAME PATH [--bin NAME PATH]...

Each C program runs beside a Python twin written below (socketserver /
socket, stdlib only).  Both are driven by the same plain-socket peer on
127.0.0.1 with ephemeral ports (servers print `listening on HOST:PORT`
first; we read it, never sleep), and must be indistinguishable:
byte-identical replies, the same EOF and reset behaviour, the same printed
lines.  Every wait is bounded.

The echo twins are the course's programs as the course writes them.  The
upload and download twins are not quite: on the happy path they behave as
the course's programs do, byte for byte on the wire, but the hostile-input
handling (plain names only, exact header reads, partial files published by
rename, exact sizes, no half file left behind) is the C examples'
improvement on the course, mirrored here in a hardened twin so that both
can be held to the same answers.  The echo server's idle timeout is the C
example's too; the Python twin has none, so that test runs on C only.
"""
import os
import hashlib
import json
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_example import TIMEOUT, Server, check, parse_args, verdict  # noqa: E402

# ---- the Python twins ------------------------------------------------------

# Every twin server: port 0, our listening line, SIGTERM -> exit 0.
PRELUDE = r'''
import signal, socket, socketserver, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
def listening(server):
    print("listening on {}:{}".format(*server.server_address[:2]), flush=True)
'''

TCP_SERVER = PRELUDE + r'''
class MyServer(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            try:
                data = self.request.recv(1024)
                if not data:
                    break
                self.request.send(data.upper())
            except ConnectionResetError:
                break

cls = {"threading": socketserver.ThreadingTCPServer,
       "forking": socketserver.ForkingTCPServer}[sys.argv[1]]
cls.daemon_threads = True
with cls(("127.0.0.1", 0), MyServer) as server:
    listening(server)
    server.serve_forever()
'''

# Every twin client: the course's constants as options.
OPTIONS = r'''
import argparse, json, os, socket, struct, sys
ap = argparse.ArgumentParser()
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, default=9999)
'''
CLIENT_OPTIONS = OPTIONS + r'''
ap.add_argument("--message", default=DEFAULT_MESSAGE)
ap.add_argument("--count", type=int, default=-1)
a = ap.parse_args()
'''

TCP_CLIENT = CLIENT_OPTIONS.replace("DEFAULT_MESSAGE", "'client33333'") + r'''
client = socket.socket()
client.settimeout(5)
client.connect((a.host, a.port))
i = 0
while a.count < 0 or i < a.count:
    client.send(os.fsencode(a.message))
    data = client.recv(1024)
    print(data, flush=True)
    if not data:
        sys.exit("echo_tcp_client: the server closed")
    i += 1
'''

UDP_SERVER = PRELUDE + r'''
class MyServer(socketserver.BaseRequestHandler):
    def handle(self):
        print(self.client_address)
        print(self.request)
        data = self.request[0]
        print('客户消息', data)
        self.request[1].sendto(data.upper(), self.client_address)

socketserver.ThreadingUDPServer.daemon_threads = True
with socketserver.ThreadingUDPServer(("127.0.0.1", 0), MyServer) as server:
    listening(server)
    server.serve_forever()
'''

UDP_CLIENT = CLIENT_OPTIONS.replace("DEFAULT_MESSAGE", "'client1111'") + r'''
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.settimeout(5)
i = 0
while a.count < 0 or i < a.count:
    client.sendto(os.fsencode(a.message), (a.host, a.port))
    try:
        data, server_addr = client.recvfrom(1024)
    except socket.timeout:
        sys.exit("echo_udp_client: no reply within 5 s")
    print(data, flush=True)
    i += 1
'''

UPLOAD_SERVER = PRELUDE + r'''
import json, os, stat, struct
FOLDER = sys.argv[1]

class Refused(Exception):
    pass

# Hardened (see the top): the course writes in place under the joined name.
PARTIAL, counter = ".upload-", iter(range(1 << 62))

def replaceable(name):
    try:
        st = os.lstat(os.path.join(FOLDER, name))
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise Refused("%s: not a regular file" % name)

class MYTCPServer(socketserver.BaseRequestHandler):
    def recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                raise Refused("header cut short")
            data += chunk
        return data

    def put(self, head):
        name, size = head.get("filename"), head.get("filesize")
        if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or \
                any(ord(c) < 32 or ord(c) == 127 for c in name) or name.startswith(PARTIAL):
            raise Refused("refused file name (a plain name only)")
        if type(size) is not int or size < 0:
            raise Refused("bad filesize")
        replaceable(name)
        tmp = os.path.join(FOLDER, "%s%d-%d" % (PARTIAL, os.getpid(), next(counter)))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        left = size
        try:
            with open(fd, "wb") as f:
                while left > 0:
                    data = self.request.recv(min(left, 8192))
                    if not data:
                        break
                    f.write(data)
                    left -= len(data)
                f.flush()
                os.fsync(f.fileno())
            if left > 0:
                raise Refused("upload failed")
            replaceable(name)
            os.rename(tmp, os.path.join(FOLDER, name))
        except BaseException:
            os.unlink(tmp)
            raise
        sys.stdout.write("put %s (%d bytes)\n" % (name, size))

    def handle(self):
        try:
            while True:
                head = self.request.recv(4)
                if not head:
                    return
                (n,) = struct.unpack("i", head + self.recv_exact(4 - len(head)))
                if n <= 0 or n > 8192:
                    raise Refused("bad header length %d" % n)
                head = json.loads(self.recv_exact(n))
                cmd = head.get("cmd") if isinstance(head, dict) else None
                if cmd not in ("put",):
                    raise Refused("unknown command %s" % cmd)
                getattr(self, cmd)(head)
        except (Refused, OSError, ValueError) as e:
            print("upload_server: %s:%d: %s" % (*self.client_address, e), file=sys.stderr, flush=True)

socketserver.ThreadingTCPServer.daemon_threads = True
with socketserver.ThreadingTCPServer(("127.0.0.1", 0), MYTCPServer) as server:
    listening(server)
    server.serve_forever()
'''

UPLOAD_CLIENT = OPTIONS + r'''
ap.add_argument("cmd", choices=["put"])
ap.add_argument("path")
a = ap.parse_args()
name = os.path.basename(a.path)  # hardened (see the top): a plain name, exactly size bytes
if name in ("", ".", "..") or any(ord(c) < 32 or ord(c) == 127 for c in name):
    sys.exit("upload_client: %s: not a plain file name" % a.path)
size = os.path.getsize(a.path)
head = json.dumps({"cmd": "put", "filename": name, "filesize": size},
                  separators=(",", ":"), ensure_ascii=False).encode()
client = socket.create_connection((a.host, a.port), timeout=5)
client.sendall(struct.pack("i", len(head)))
client.sendall(head)
with open(a.path, "rb") as f:
    left = size
    while left > 0:
        chunk = f.read(min(8192, left))
        if not chunk:
            sys.exit("upload_client: the file shrank while sent")
        client.sendall(chunk)
        left -= len(chunk)
client.shutdown(socket.SHUT_WR)
if client.recv(1) != b"":
    sys.exit("upload_client: a reply?")
print("put %s (%d bytes)" % (a.path, size))
'''

DOWNLOAD_SERVER = PRELUDE + r'''
import hashlib, os, stat
FOLDER = sys.argv[1]

class MyServer(socketserver.BaseRequestHandler):
    def get(self, name):
        if name in (b"", b".", b"..") or b"/" in name or any(c < 32 or c == 127 for c in name):
            return self.request.sendall(b"error: refused file name")
        try:
            fd = os.open(os.path.join(os.fsencode(FOLDER), name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as e:
            return self.request.sendall(b"error: %s: %s" % (name, e.strerror.encode()))
        size = os.fstat(fd).st_size
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return self.request.sendall(b"error: %s: not a regular file" % name)
        os.set_blocking(fd, True)
        with open(fd, "rb") as f:
            self.request.sendall(str(size).encode())
            if not self.request.recv(1024):             # ready
                raise ConnectionResetError
            md5, left = hashlib.md5(), size             # hardened: exactly size bytes
            while left > 0:
                chunk = f.read(min(8192, left))
                if not chunk:                           # it shrank: no digest
                    raise ConnectionResetError
                self.request.sendall(chunk)
                md5.update(chunk)
                left -= len(chunk)
        self.request.sendall(md5.hexdigest().encode())
        sys.stdout.write("get %s (%d bytes) md5 %s\n" % (os.fsdecode(name), size, md5.hexdigest()))

    def handle(self):
        try:
            while True:
                cmd = self.request.recv(1024)
                if not cmd:
                    break
                if cmd.startswith(b"get "):
                    self.get(cmd[4:])
                else:
                    self.request.sendall(b"error: unknown command")
        except (ConnectionResetError, BrokenPipeError):
            pass

socketserver.ThreadingTCPServer.daemon_threads = True
with socketserver.ThreadingTCPServer(("127.0.0.1", 0), MyServer) as server:
    listening(server)
    server.serve_forever()
'''

DOWNLOAD_CLIENT = OPTIONS + r'''
import hashlib
ap.add_argument("cmd", choices=["get"])
ap.add_argument("name")
a = ap.parse_args()
name = os.fsencode(a.name)
if name in (b"", b".", b"..") or b"/" in name or any(c < 32 or c == 127 for c in name) or len(name) > 1019:
    sys.exit("download_client: %s: not a plain file name" % a.name)
client = socket.create_connection((a.host, a.port), timeout=5)
client.sendall(b"get " + name)
answer = client.recv(1024)
if not answer.isdigit() or int(answer) >= 1 << 63:
    sys.exit("download_client: the server says: %s" % answer.decode(errors="replace"))
size = int(answer)
client.sendall(b"ready")
md5, received = hashlib.md5(), 0
new = name + b".new"  # hardened (see the top): never through a link, removed unless good
with open(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644), "wb") as f:
    while received < size:
        data = client.recv(min(8192, size - received))
        if not data:
            os.unlink(new)
            sys.exit("download_client: the connection ended early")
        f.write(data)
        md5.update(data)
        received += len(data)
server_md5 = b""
while len(server_md5) < 32:
    data = client.recv(32 - len(server_md5))
    if not data:
        print("download_client: the connection ended before the digest", file=sys.stderr)
        break
    server_md5 += data
print("server md5: %s" % server_md5.decode(errors="replace"))
print("client md5: %s" % md5.hexdigest())
if server_md5.decode(errors="replace") != md5.hexdigest():
    os.unlink(new)
    sys.exit("download_client: md5 mismatch")
'''

# ---- helpers -----------------------------------------------------------------


def py_server(source, *args):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return Server("python " + " ".join(args), [sys.executable, "-u", "-c", source] + list(args), env=env)


def c_server(bins, name, *args):
    return Server("C %s %s" % (name, " ".join(args)), [bins[name], "--port", "0"] + list(args))


def run(argv, cwd=None):
    """(exit status, stdout) of a client, or ("hung", b"")."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, timeout=2 * TIMEOUT, cwd=cwd,
                           env=dict(os.environ, PYTHONIOENCODING="utf-8"))
    except subprocess.TimeoutExpired:
        return "hung", b""
    return p.returncode, p.stdout


def recv_n(s, n):
    """Up to n bytes: fewer only at EOF."""
    out = b""
    while len(out) < n:
        b = s.recv(65536)
        if not b:
            break
        out += b
    return out


def rst_close(s):
    """Close with SO_LINGER 0: the peer sees a reset, not a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def stop_all(servers):
    for srv in servers:
        srv.stop()


# ---- echo_tcp_server, forking_tcp_server ----------------------------------

MESSAGES = [b"hello", b"MiXeD Case 123", bytes(range(256)), b"x" * 3000,
            "caf\u00e9 \u65e5\u672c".encode(), b"it's \"quoted\" \\ \x00"]


def conversation(port):
    """Each message and its reply, then EOF after our half-close."""
    got = []
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        for m in MESSAGES:
            s.sendall(m)
            got.append(recv_n(s, len(m)))
        s.shutdown(socket.SHUT_WR)
        got.append(s.recv(1))
    return got


def misbehave(port):
    """A client that resets mid-conversation, one that resets with unread
    input at the server, one that closes without a word: the server must
    go on serving (checked by the caller) and print nothing."""
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"first")
    check(recv_n(s, 5) == b"FIRST", "reply before the reset")
    rst_close(s)
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    s.sendall(b"y" * 100000)
    rst_close(s)
    socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()


def many_at_once(port, n):
    """n clients connected at once, each looping three times."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(n)]
    ok = {}

    def talk(i, s):
        good = True
        for rnd in range(3):
            s.sendall(b"c%dr%d" % (i, rnd))
            want = b"C%dR%d" % (i, rnd)
            good = good and recv_n(s, len(want)) == want
        s.shutdown(socket.SHUT_WR)
        ok[i] = good and s.recv(1) == b""

    threads = [threading.Thread(target=talk, args=(i, s)) for i, s in enumerate(socks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3 * TIMEOUT)
    for s in socks:
        s.close()
    bad = [i for i in range(n) if not ok.get(i)]
    check(not bad, "of %d clients at once, %s were not served" % (n, bad[:10]))


def hogs_then_one(port, n):
    """n clients that send and never read: each fills the buffers both ways
    until the server's send() blocks, then stays.  A well-behaved client
    connecting after them must still get its echo: the server gives up on
    a blocked send after its idle timeout (C only: the course's server
    cannot)."""
    hogs = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(n)]
    stalled = {}

    def hog(i, s):
        s.settimeout(1)  # a send that moves nothing for 1 s: stalled
        chunk = b"h" * 65536
        try:
            for _ in range(4096):  # 256 MiB at most
                s.sendall(chunk)
        except socket.timeout:
            stalled[i] = True
        except OSError:
            stalled[i] = True  # already cut by the server's timeout

    threads = [threading.Thread(target=hog, args=(i, s)) for i, s in enumerate(hogs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3 * TIMEOUT)
    check(len(stalled) == n, "only %d of %d hogs stalled" % (len(stalled), n))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
            s.sendall(b"after the hogs")
            got = recv_n(s, 14)
    except OSError as e:
        got = repr(e).encode()
    check(got == b"AFTER THE HOGS", "with %d clients that never read: %r" % (n, got))
    for s in hogs:
        rst_close(s)


def test_tcp_server(bins, name):
    kind = "forking" if name == "forking_tcp_server" else "threading"
    servers = [py_server(TCP_SERVER, kind), c_server(bins, name)]
    if kind == "threading":
        servers.append(c_server(bins, name, "--park"))
    try:
        py, cs = servers[0], servers[1:]
        want = conversation(py.inet_address()[1])
        check(want[-1] == b"" and want[0] == b"HELLO", "python twin: %r" % want[:2])
        for srv in cs:
            port = srv.inet_address()[1]
            check(srv.listening.startswith("listening on 127.0.0.1:"), "%s: %r" % (srv.name, srv.listening))
            check(conversation(port) == want, "%s: replies differ from Python's" % srv.name)
        for srv in servers:
            port = srv.inet_address()[1]
            misbehave(port)
            check(conversation(port) == want, "%s: not serving after resets" % srv.name)
        for srv in cs:  # Python's listen backlog of 5 would overflow
            many_at_once(srv.inet_address()[1], 30 if kind == "forking" else 100)
        many_at_once(py.inet_address()[1], 5)
    finally:
        stop_all(servers)
    for srv in servers:
        check(srv.lines[1:] == [], "%s printed %r after the listening line" % (srv.name, srv.lines[1:4]))
    if kind == "threading":  # --park: as many workers as cores
        srv = c_server(bins, name, "--park", "--timeout", "2")
        try:
            hogs_then_one(srv.inet_address()[1], os.sysconf("SC_NPROCESSORS_ONLN") + 1)
        finally:
            srv.stop()


# ---- echo_tcp_client ---------------------------------------------------------


class FakeServer:
    """A plain-socket server for clients: `script(conn)` runs per connection."""

    def __init__(self, script, sock_type=socket.SOCK_STREAM):
        self.sock = socket.socket(socket.AF_INET, sock_type)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(2 * TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.stream = sock_type == socket.SOCK_STREAM
        if self.stream:
            self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            while True:
                if self.stream:
                    conn, _ = self.sock.accept()
                    with conn:
                        conn.settimeout(TIMEOUT)
                        self.script(conn)
                else:
                    self.script(self.sock)
        except OSError:
            pass

    def close(self):
        self.sock.close()


def reply_then_close(replies):
    """Answers each message with the next reply; takes one more message (so
    none is left unread, which would turn our close into a reset), closes."""
    def script(conn):
        for r in replies:
            if not conn.recv(1024):
                return
            conn.sendall(r)
        conn.recv(1024)
    return script


def compare_clients(c_argv, py_argv, label, want_out=None, want_rc=None, cwd=None):
    c = run(c_argv, cwd=cwd)
    py = run(py_argv, cwd=cwd)
    check(c == py, "%s: C gave %r, Python %r" % (label, c, py))
    if want_out is not None:
        check(c[1] == want_out, "%s: printed %r, want %r" % (label, c[1], want_out))
    if want_rc is not None:
        check(c[0] == want_rc, "%s: exit status %r, want %r" % (label, c[0], want_rc))
    return c


CLIENT_MESSAGES = ["client33333", "it's", 'say "hi"', "both ' and \"", "tab\there\\",
                   "caf\u00e9", "\x01\x7f"]


def test_tcp_client(bins):
    exe = bins["echo_tcp_client"]
    servers = [c_server(bins, "echo_tcp_server"), py_server(TCP_SERVER, "threading")]
    try:
        for srv in servers:
            port = str(srv.inet_address()[1])
            for msg in CLIENT_MESSAGES:
                args = ["--port", port, "--message", msg, "--count", "3"]
                want = (repr(msg.encode().upper()).encode() + b"\n") * 3
                compare_clients([exe] + args, [sys.executable, "-c", TCP_CLIENT] + args,
                                "against %s, %r" % (srv.name, msg), want, 0)
            args = ["--port", port, "--count", "1"]
            compare_clients([exe] + args, [sys.executable, "-c", TCP_CLIENT] + args,
                            "default message", b"b'CLIENT33333'\n", 0)
    finally:
        stop_all(servers)
    # Forever (no --count) until the server closes: the replies, then b''.
    fake = FakeServer(reply_then_close([b"one", b"it's"]))
    try:
        args = ["--port", str(fake.port)]
        compare_clients([exe] + args, [sys.executable, "-c", TCP_CLIENT] + args,
                        "server closes", b"b'one'\nb\"it's\"\nb''\n", 1)
    finally:
        fake.close()
    # Nobody listening: a clear failure, not a hang.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = str(s.getsockname()[1])
    rc, _ = run([exe, "--port", dead, "--count", "1"])
    check(rc == 1, "client to a dead port exited %r, want 1" % rc)

# ---- echo_udp_server, echo_udp_client ----------------------------------------

DATAGRAMS = [b"hello", b"", b"it's", b"both ' and \"", bytes(range(256)),
             "\u5ba2\u6237".encode(), b"x" * 5000]


def udp_exchange(peer, port, payload):
    peer.sendto(payload, ("127.0.0.1", port))
    data, source = peer.recvfrom(65536)
    return data, source[1] == port


SOCKET_REPR = re.compile(rb"<socket\.socket [^>]*>")


def test_udp_server(bins):
    servers = [c_server(bins, "echo_udp_server"), py_server(UDP_SERVER)]
    c, py = servers
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.settimeout(TIMEOUT)
            peer.bind(("127.0.0.1", 0))
            me = peer.getsockname()
            for payload in DATAGRAMS:
                want = udp_exchange(peer, py.inet_address()[1], payload)
                got = udp_exchange(peer, c.inet_address()[1], payload)
                check(want == (payload.upper(), True), "python twin replied %.60r" % (want,))
                check(got == want, "%.40r: C replied %.60r, Python %.60r" % (payload, got, want))
        many_datagrams(c.inet_address()[1], 50)
        many_datagrams(py.inet_address()[1], 5)
    finally:
        stop_all(servers)
    n = 3 * len(DATAGRAMS)
    c_lines, py_lines = c.lines[1:n + 1], py.lines[1:n + 1]
    check([SOCKET_REPR.sub(b"<socket>", x) for x in c_lines] ==
          [SOCKET_REPR.sub(b"<socket>", x) for x in py_lines],
          "printed lines differ:\nC      %r\nPython %r" % (c_lines[:6], py_lines[:6]))
    check(c_lines[:1] == [("('127.0.0.1', %d)\n" % me[1]).encode()], "client address line %r" % c_lines[:1])
    sock = (rb"\(b'hello', <socket\.socket fd=\d+, family=AddressFamily\.AF_INET, "
            rb"type=SocketKind\.SOCK_DGRAM, proto=0, laddr=\('127\.0\.0\.1', %d\)>\)\n" % c.inet_address()[1])
    check(re.fullmatch(sock, c_lines[1]) is not None, "request line %r" % c_lines[1])
    check(c_lines[2] == "客户消息 b'hello'\n".encode(), "message line %r" % c_lines[2])


def many_datagrams(port, n):
    """n clients at once, five datagrams each: every one answered."""
    ok = {}

    def talk(i):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(TIMEOUT)
            ok[i] = all(udp_exchange(s, port, b"c%dr%d" % (i, r)) == (b"C%dR%d" % (i, r), True)
                        for r in range(5))

    threads = [threading.Thread(target=talk, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3 * TIMEOUT)
    bad = [i for i in range(n) if not ok.get(i)]
    check(not bad, "of %d UDP clients at once, %s were not answered" % (n, bad[:10]))


def test_udp_client(bins):
    exe = bins["echo_udp_client"]
    servers = [c_server(bins, "echo_udp_server"), py_server(UDP_SERVER)]
    try:
        for srv in servers:
            port = str(srv.inet_address()[1])
            for msg in CLIENT_MESSAGES + [""]:
                args = ["--port", port, "--message", msg, "--count", "3"]
                want = (repr(msg.encode().upper()).encode() + b"\n") * 3
                compare_clients([exe] + args, [sys.executable, "-c", UDP_CLIENT] + args,
                                "against %s, %r" % (srv.name, msg), want, 0)
            args = ["--port", port, "--count", "2"]
            compare_clients([exe] + args, [sys.executable, "-c", UDP_CLIENT] + args,
                            "default message", b"b'CLIENT1111'\n" * 2, 0)
    finally:
        stop_all(servers)
    # A reply longer than 1024 bytes is cut, as recvfrom(1024) cuts it.
    fake = FakeServer(lambda s: s.sendto(b"z" * 3000, s.recvfrom(100)[1]), socket.SOCK_DGRAM)
    try:
        args = ["--port", str(fake.port), "--count", "2"]
        compare_clients([exe] + args, [sys.executable, "-c", UDP_CLIENT] + args,
                        "long reply", (repr(b"z" * 1024).encode() + b"\n") * 2, 0)
    finally:
        fake.close()
    # Nobody answers: both give up after 5 s with status 1.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        args = ["--port", str(s.getsockname()[1]), "--count", "1"]
        compare_clients([exe] + args, [sys.executable, "-c", UDP_CLIENT] + args,
                        "no reply", b"", 1)


# ---- upload_server, upload_client ----------------------------------------------


def put_header(name, size, cmd="put"):
    head = json.dumps({"cmd": cmd, "filename": name, "filesize": size}, separators=(",", ":"),
                      ensure_ascii=False).encode()
    return struct.pack("i", len(head)) + head


def end_of(s):
    """How the server ended a connection it sends nothing on."""
    try:
        while s.recv(65536):
            pass
        return "EOF"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"


def one_connection(port, payload, half_close=False):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        try:
            s.sendall(payload)
            if half_close:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may have refused and closed already
        return end_of(s)


def listing(folder):
    return {name: open(os.path.join(folder, name), "rb").read() if os.path.isfile(os.path.join(folder, name))
            else None for name in os.listdir(folder)}


def bad_uploads(top):
    """(label, bytes) that must end the connection and write nothing."""
    hostile = ["../x", os.path.join(top, "abs"), "", "a/../../b", ".", "..", "sub/x", "link", "nul\0x",
               "line\nput forged (1 bytes)", "del\x7f", "fifo", "sub", ".upload-1-0"]
    bad = [("name %r" % n, put_header(n, 4) + b"evil") for n in hostile]
    bad += [("header length %d" % n, struct.pack("i", n) + b"{}") for n in (-1, 0, 8193, 1 << 30)]
    bad += [("bad JSON", struct.pack("i", 5) + b"{nope"),
            ("not an object", struct.pack("i", 3) + b"[1]"),
            ("unknown cmd", put_header("f", 1, cmd="rm") + b"x"),
            ("no cmd", struct.pack("i", 2) + b"{}"),
            ("filesize not a number", struct.pack("i", 43) + b'{"cmd":"put","filename":"f","filesize":"1"}'),
            ("negative filesize", put_header("neg", -1)),
            ("header cut", struct.pack("i", 100) + b'{"cmd"'),
            ("length cut", b"\x05\x00")]
    return bad


def test_upload_server(bins):
    tmp = tempfile.mkdtemp(prefix="ss-upload-")
    servers = []
    for who in ("C", "python"):
        top = os.path.join(tmp, who)
        folder = os.path.join(top, "up")
        os.makedirs(folder)
        with open(os.path.join(top, "target"), "wb") as f:
            f.write(b"outside")
        os.symlink(os.path.join(top, "target"), os.path.join(folder, "link"))
        os.mkfifo(os.path.join(folder, "fifo"))  # opening it would block
        os.mkdir(os.path.join(folder, "sub"))
        for name in ("keep", "exact"):  # kept by a cut upload; replaced by a whole one
            with open(os.path.join(folder, name), "wb") as f:
                f.write(b"old")
        srv = (c_server(bins, "upload_server", "--dir", folder) if who == "C"
               else py_server(UPLOAD_SERVER, folder))
        srv.top, srv.folder = top, folder
        servers.append(srv)
    files = {"a.bin": os.urandom(100000), "empty.txt": b"", "exact": os.urandom(8192),
             "caf\u00e9 x.txt": b"hello\n"}
    try:
        for srv in servers:
            port = srv.inet_address()[1]
            # Several uploads on one connection (the loop on headers), then EOF.
            payload = b"".join(put_header(n, len(d)) + d for n, d in files.items())
            check(one_connection(port, payload, half_close=True) == "EOF", "%s: no EOF after uploads" % srv.name)
            for label, payload in bad_uploads(srv.top):
                end = one_connection(port, payload, half_close="cut" in label)
                check(end in ("EOF", "reset"), "%s, %s: the connection was not ended (%s)" % (srv.name, label, end))
            # A cut upload leaves nothing behind, and the old file as it was.
            for name in ("cut.bin", "keep"):
                check(one_connection(port, put_header(name, 1000) + b"x" * 10, half_close=True) == "EOF",
                      "%s: cut upload of %s" % (srv.name, name))
            # Two uploads of one name at once: one wins, whole.
            same = {}

            def up_same(c):
                same[c] = one_connection(port, put_header("same", 300000) + c * 300000, half_close=True)

            threads = [threading.Thread(target=up_same, args=(c,)) for c in (b"a", b"b")]
            for t in threads:
                t.start()
            for t in threads:
                t.join(3 * TIMEOUT)
            check(same == {b"a": "EOF", b"b": "EOF"}, "%s: uploads of one name at once %r" % (srv.name, same))
            # Still serving, many at once.
            results = {}

            def up(i):
                data = bytes([i]) * (50000 + i)
                results[i] = one_connection(port, put_header("many%d" % i, len(data)) + data, half_close=True)

            threads = [threading.Thread(target=up, args=(i,)) for i in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(3 * TIMEOUT)
            check(all(results.get(i) == "EOF" for i in range(10)), "%s: concurrent uploads %r" % (srv.name, results))
    finally:
        stop_all(servers)
    want = dict(files, link=None, fifo=None, sub=None, keep=b"old",
                **{"many%d" % i: bytes([i]) * (50000 + i) for i in range(10)})
    for srv in servers:
        got = listing(srv.folder)
        same = got.pop("same", None)
        check(same in (b"a" * 300000, b"b" * 300000), "%s: same holds %.40r" % (srv.name, same))
        got["link"] = None if os.path.islink(os.path.join(srv.folder, "link")) else got.get("link")
        check(got == want, "%s: the folder holds %r, want %r" % (srv.name, sorted(got), sorted(want)))
        check(sorted(os.listdir(srv.top)) == ["target", "up"], "%s: wrote outside: %r" % (srv.name, os.listdir(srv.top)))
        check(open(os.path.join(srv.top, "target"), "rb").read() == b"outside", "%s: followed the link" % srv.name)
        check(not os.path.exists(os.path.join(tmp, "x")) and not os.path.exists(os.path.join(tmp, "b")),
              "%s: wrote above the folder" % srv.name)
    c_lines, py_lines = sorted(servers[0].lines[1:]), sorted(servers[1].lines[1:])
    check(c_lines == py_lines, "printed lines differ:\nC      %r\nPython %r" % (c_lines, py_lines))
    check(len(c_lines) == len(files) + 10 + 2, "%d put lines, want %d" % (len(c_lines), len(files) + 12))
    shutil.rmtree(tmp)


class Recorder(FakeServer):
    """A server that keeps every byte a client sends, until its EOF."""

    def __init__(self):
        self.got = []
        super().__init__(self._record)

    def _record(self, conn):
        data = b""
        for chunk in iter(lambda: conn.recv(65536), b""):
            data += chunk
        self.got.append(data)


def refused_before_connecting(label, argvs, want_msg, cwd=None):
    """Runs each argv (given the port of a live listening socket) and checks
    that it exits 1 saying want_msg, and that nothing connected at all."""
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        port = str(ls.getsockname()[1])
        for argv in argvs(port):
            try:
                p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=2 * TIMEOUT,
                                   cwd=cwd, env=dict(os.environ, PYTHONIOENCODING="utf-8"))
                got = (p.returncode, p.stdout, want_msg in p.stderr)
            except subprocess.TimeoutExpired:
                got = "hung"
            check(got == (1, b"", True), "%s: %s gave %r, want exit 1 and %r" % (label, argv[0], got, want_msg))
        ls.setblocking(False)  # a connection made is in the backlog by now
        try:
            ls.accept()[0].close()
            connected = True
        except BlockingIOError:
            connected = False
        check(not connected, "%s: connected to the server" % label)


def test_upload_client(bins):
    exe = bins["upload_client"]
    tmp = tempfile.mkdtemp(prefix="ss-upload-client-")
    paths = []
    for name, data in (("big.bin", os.urandom(200000)), ("empty", b""), ("caf\u00e9.txt", b"x\n")):
        paths.append(os.path.join(tmp, name))
        with open(paths[-1], "wb") as f:
            f.write(data)
    rec = Recorder()
    try:
        for path in paths:
            args = ["--port", str(rec.port), "put", path]
            compare_clients([exe] + args, [sys.executable, "-c", UPLOAD_CLIENT] + args, "put %s" % path,
                            ("put %s (%d bytes)\n" % (path, os.path.getsize(path))).encode(), 0)
            check(len(rec.got) >= 2 and rec.got[-1] == rec.got[-2], "put %s: the bytes sent differ" % path)
            data = open(path, "rb").read()
            check(rec.got[-1] == put_header(os.path.basename(path), len(data)) + data, "put %s: %.80r" % (path, rec.got[-1]))
    finally:
        rec.close()
    # Against the real servers: the file arrives.
    folder = os.path.join(tmp, "up")
    os.mkdir(folder)
    srv = c_server(bins, "upload_server", "--dir", folder)
    try:
        rc, _ = run([exe, "--port", str(srv.inet_address()[1]), "put", paths[0]])
        check(rc == 0, "upload to upload_server exited %r" % rc)
    finally:
        srv.stop()
    check(open(os.path.join(folder, "big.bin"), "rb").read() == open(paths[0], "rb").read(), "big.bin differs")
    check(run([exe, "--port", "1", "put", os.path.join(tmp, "missing")])[0] == 1, "a missing file: exit 1")
    # A name the server would refuse is refused here, before connecting.
    for name in ("line\nput forged (1 bytes)", "del\x7f"):
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(b"x")
        refused_before_connecting("put %r" % name, lambda port: [
            [exe, "--port", port, "put", path],
            [sys.executable, "-c", UPLOAD_CLIENT, "--port", port, "put", path]], b"not a plain file name")
    shutil.rmtree(tmp)


# ---- download_server, download_client -------------------------------------------


def get_file(s, name):
    """One get on connection s: (the answer, the file, the digest)."""
    s.sendall(b"get " + name)
    answer = s.recv(1024)
    if not answer.isdigit():
        return answer, None, None
    s.sendall(b"ready")
    size = int(answer)
    data = recv_n(s, size + 32)
    return answer, data[:size], data[size:]


def download_folder(top):
    folder = os.path.join(top, "files")
    os.makedirs(os.path.join(folder, "sub"))
    files = {b"big.bin": os.urandom(300000), b"empty": b"", b"exact": os.urandom(8192),
             "caf\u00e9.txt".encode(): b"x\n"}
    for name, data in files.items():
        with open(os.path.join(os.fsencode(folder), name), "wb") as f:
            f.write(data)
    with open(os.path.join(top, "secret"), "wb") as f:
        f.write(b"outside")
    os.symlink(os.path.join(top, "secret"), os.path.join(folder, "link"))
    os.mkfifo(os.path.join(folder, "fifo"))  # opening it for reading would block
    return folder, files


BAD_GETS = [b"missing", b"../secret", b"/etc/passwd", b"", b".", b"..", b"sub", b"link", b"sub/../link",
            b"new\nline", b"nul\0", b"fifo"]


def changing_file(port, path):
    """The size is announced, then the file changes before `ready`: one that
    grew is sent as announced (and its digest); one that shrank ends the
    connection, with no digest to be taken for file bytes."""
    old = bytes(i % 251 for i in range(5000))  # the same for both servers: the same line
    with open(path, "wb") as f:
        f.write(old)
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"get changing")
        size = s.recv(1024)
        with open(path, "ab") as f:
            f.write(b"grown")
        s.sendall(b"ready")
        grew = (size, recv_n(s, 5000 + 32))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"get changing")
        size = s.recv(1024)
        os.truncate(path, 1000)
        s.sendall(b"ready")
        shrank = (size, recv_n(s, 10000))
    return grew == (b"5000", old + hashlib.md5(old).hexdigest().encode()), shrank == (b"5005", old[:1000])


def test_download_server(bins):
    tmp = tempfile.mkdtemp(prefix="ss-download-")
    folder, files = download_folder(tmp)
    servers = [c_server(bins, "download_server", "--dir", folder), py_server(DOWNLOAD_SERVER, folder)]
    conversations = []
    try:
        for srv in servers:
            port = srv.inet_address()[1]
            got = []
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
                for name in list(files) + BAD_GETS + list(files)[:1]:
                    got.append(get_file(s, name))
                s.sendall(b"put x")
                got.append(s.recv(1024))
                s.shutdown(socket.SHUT_WR)
                got.append(s.recv(1))
            conversations.append(got)
            for i, name in enumerate(files):
                answer, data, digest = got[i]
                check((answer, data, digest) == (str(len(files[name])).encode(), files[name],
                      hashlib.md5(files[name]).hexdigest().encode()), "%s: get %r" % (srv.name, name))
            # Resets: before "ready", and half-way through the file.
            s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            s.sendall(b"get big.bin")
            s.recv(1024)
            rst_close(s)
            s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
            s.sendall(b"get big.bin")
            s.recv(1024)
            s.sendall(b"ready")
            recv_n(s, 1000)
            rst_close(s)
            # Still serving, many at once.
            results = {}

            def down(i):
                with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as c:
                    results[i] = get_file(c, b"big.bin")[1] == files[b"big.bin"]

            threads = [threading.Thread(target=down, args=(i,)) for i in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(3 * TIMEOUT)
            check(all(results.get(i) for i in range(10)), "%s: concurrent downloads %r" % (srv.name, results))
            grew, shrank = changing_file(port, os.path.join(folder, "changing"))
            check(grew, "%s: a file that grew after its size went out" % srv.name)
            check(shrank, "%s: a file that shrank after its size went out" % srv.name)
    finally:
        stop_all(servers)
    check(conversations[0] == conversations[1], "C and Python answered differently:\nC      %.300r\nPython %.300r"
          % ([x[0] if isinstance(x, tuple) else x for x in conversations[0]],
             [x[0] if isinstance(x, tuple) else x for x in conversations[1]]))
    errors = [x[0] for x in conversations[0][len(files):len(files) + len(BAD_GETS)]]
    check(all(e.startswith(b"error: ") for e in errors), "bad gets answered %r" % errors)
    # The get reset half-way may print its line or not: the kernel's buffers
    # can take all of big.bin before the reset comes back.
    c_lines, py_lines = servers[0].lines[1:], servers[1].lines[1:]
    check(set(c_lines) == set(py_lines), "printed lines differ:\nC      %r\nPython %r" % (c_lines[:5], py_lines[:5]))
    for srv in servers:
        n = len(srv.lines) - 1
        check(n in (len(files) + 12, len(files) + 13), "%s: %d get lines" % (srv.name, n))
    shutil.rmtree(tmp)


def glued(data, digest):
    """A server that sends the file and its digest in one send(): they
    arrive in the same segment, so one recv() could take both."""
    def script(conn):
        conn.recv(1024)
        conn.sendall(str(len(data)).encode())
        conn.recv(1024)
        conn.sendall(data + digest)
        conn.recv(1)  # until the client closes
    return script


def compare_downloads(bins, tmp, port, name, label, want_rc):
    """Runs both clients, each in its own folder; returns the C client's."""
    outs = []
    for who, argv in (("C", [os.path.abspath(bins["download_client"])]), ("python", [sys.executable, "-c", DOWNLOAD_CLIENT])):
        cwd = os.path.join(tmp, label.replace(" ", "_"), who)
        os.makedirs(cwd)
        rc, out = run(argv + ["--port", str(port), "get", name], cwd=cwd)
        new = os.path.join(cwd, name + ".new")
        outs.append((rc, out, open(new, "rb").read() if os.path.exists(new) else None))
    check(outs[0] == outs[1], "%s: C gave %.200r, Python %.200r" % (label, outs[0], outs[1]))
    check(outs[0][0] == want_rc, "%s: exit status %r, want %r" % (label, outs[0][0], want_rc))
    return outs[0]


def test_download_client(bins):
    tmp = tempfile.mkdtemp(prefix="ss-download-client-")
    folder, files = download_folder(os.path.join(tmp, "server"))
    servers = [c_server(bins, "download_server", "--dir", folder), py_server(DOWNLOAD_SERVER, folder)]
    try:
        for srv in servers:
            port = srv.inet_address()[1]
            for name in files:
                name = os.fsdecode(name)
                rc, out, new = compare_downloads(bins, tmp, port, name, "%s %s" % (srv.name[:6], name), 0)
                md5 = hashlib.md5(files[os.fsencode(name)]).hexdigest()
                check(out == ("server md5: %s\nclient md5: %s\n" % (md5, md5)).encode(), "%s: printed %r" % (name, out))
                check(new == files[os.fsencode(name)], "%s.new differs" % name)
            for name in ("missing", "link", "sub"):
                compare_downloads(bins, tmp, port, name, "%s %s" % (srv.name[:6], name), 1)
    finally:
        stop_all(servers)
    data = os.urandom(3000)
    for label, digest, rc in (("glued", hashlib.md5(data).hexdigest().encode(), 0), ("wrong md5", b"0" * 32, 1)):
        fake = FakeServer(glued(data, digest))
        try:
            _, out, new = compare_downloads(bins, tmp, fake.port, "f", label, rc)
            check(new == (data if rc == 0 else None) and out.startswith(b"server md5: " + digest + b"\n"),
                  "%s: %r, f.new %s" % (label, out, "kept" if new is not None else "removed"))
        finally:
            fake.close()
    # A cut transfer, a size out of range: no f.new either way.
    for label, script in (("cut", cut_after(data, 1000)), ("huge size", answer_size(b"9" * 20))):
        fake = FakeServer(script)
        try:
            check(compare_downloads(bins, tmp, fake.port, "f", label, 1) == (1, b"", None), "%s: f.new kept" % label)
        finally:
            fake.close()
    # Bad names: refused before connecting to a live server.
    for name in ("../x", "a/b", "..", "new\nline"):
        cwd = os.path.join(tmp, "name_%d" % len(os.listdir(tmp)))
        os.makedirs(cwd)
        refused_before_connecting("get %r" % name, lambda port: [
            [os.path.abspath(bins["download_client"]), "--port", port, "get", name],
            [sys.executable, "-c", DOWNLOAD_CLIENT, "--port", port, "get", name]], b"not a plain file name", cwd)
        check(os.listdir(cwd) == [], "get %r wrote %r" % (name, os.listdir(cwd)))
    shutil.rmtree(tmp)


def cut_after(data, n):
    """A server that announces len(data) bytes and sends n of them."""
    def script(conn):
        conn.recv(1024)
        conn.sendall(str(len(data)).encode())
        conn.recv(1024)
        conn.sendall(data[:n])
    return script


def answer_size(size):
    def script(conn):
        conn.recv(1024)
        conn.sendall(size)
        conn.recv(1024)  # until the client closes
    return script


# ---- main --------------------------------------------------------------------


def main():
    program, bins = parse_args(__doc__)
    tests = {
        "echo_tcp_server": lambda: test_tcp_server(bins, "echo_tcp_server"),
        "forking_tcp_server": lambda: test_tcp_server(bins, "forking_tcp_server"),
        "echo_tcp_client": lambda: test_tcp_client(bins),
        "echo_udp_server": lambda: test_udp_server(bins),
        "echo_udp_client": lambda: test_udp_client(bins),
        "upload_server": lambda: test_upload_server(bins),
        "upload_client": lambda: test_upload_client(bins),
        "download_server": lambda: test_download_server(bins),
        "download_client": lambda: test_download_client(bins),
    }
    tests[program]()
    return verdict()


if __name__ == "__main__":
    sys.exit(main())

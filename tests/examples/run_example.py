#!/usr/bin/env python3
"""run_example.py -- runs a C example beside its Python socketserver twin and compares them byte for byte.

    run_example.py EXAMPLE --bin NAME PATH [--bin NAME PATH]...

Each server is started on an ephemeral loopback port (or a temporary Unix
path); we wait for its `listening on ADDR` line, send the same inputs to the
C server and to the Python program from the socketserver docs, assert the
replies are byte-identical (and, for TCP, that EOF follows the reply), then
stop both with SIGTERM and assert they exit 0.  Stdlib only.
"""
import argparse
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading

TIMEOUT = 10  # seconds, for any single wait

# The Python programs from the socketserver docs, with port 0, our listening
# line, and SIGTERM -> SystemExit so `with server:` closes it and exits 0.
REFERENCE_SERVER = r'''
import signal, socketserver, sys

class MyTCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.data = self.request.recv(1024).strip()
        print("{} wrote:".format(self.client_address[0] if self.client_address else ""))
        print(self.data)
        self.request.sendall(self.data.upper())

class MyUDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data = self.request[0].strip()
        socket = self.request[1]
        print("{} wrote:".format(self.client_address[0]))
        print(data)
        socket.sendto(data.upper(), self.client_address)

KINDS = {
    "tcp": (socketserver.ThreadingTCPServer, MyTCPHandler),
    "udp": (socketserver.ThreadingUDPServer, MyUDPHandler),
    "forking": (socketserver.ForkingTCPServer, MyTCPHandler),
    "unix": (socketserver.UnixStreamServer, MyTCPHandler),
}

def stop(signum, frame):
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
cls, handler = KINDS[sys.argv[1]]
address = sys.argv[2] if sys.argv[1] == "unix" else ("127.0.0.1", 0)
with cls(address, handler) as server:
    if sys.argv[1] == "unix":
        print("listening on {}".format(server.server_address), flush=True)
    else:
        print("listening on {}:{}".format(*server.server_address[:2]), flush=True)
    server.serve_forever()
'''

REFERENCE_CLIENT = r'''
import socket, sys
HOST, PORT = sys.argv[2], int(sys.argv[3])
data = " ".join(sys.argv[4:])
if sys.argv[1] == "tcp":
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.connect((HOST, PORT))
        sock.sendall(bytes(data + "\n", "utf-8"))
        received = str(sock.recv(1024), "utf-8")
else:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.sendto(bytes(data + "\n", "utf-8"), (HOST, PORT))
    received = str(sock.recv(1024), "utf-8")
print("Sent:     {}".format(data))
print("Received: {}".format(received))
'''

INPUTS = [
    ("plain words", b"hello world"),
    ("plain words and newline", b"hello world\n"),
    ("surrounding whitespace", b" \t\r\n\x0b\x0c  spaced  out \t\r\n\x0b\x0c"),
    ("inner whitespace kept", b"a \t b\n\nc"),
    ("mixed case", b"MiXeD cAsE 123 _-+ zZ aA @[`{"),
    ("non-ASCII", "gr\u00fc\u00dfe \u00c4\u00d6\u00dc \u00df \u00f1 \u00ff".encode() + b" \x00\x7f\x80\xff\xe9"),
    ("non-ASCII space is not stripped", b"\xa0\x85 nbsp nel \x85\xa0"),
    ("NUL is not stripped", b"\x00 nul \x00"),
    ("empty after strip", b" \t\r\n\x0b\x0c "),
    ("empty", b""),
    ("1024+ bytes, all byte values", bytes(range(256)) * 4 + b"tail"),
    ("1024+ bytes, cut inside whitespace", b"a" * 1020 + b"    " + b"b" * 100),
    ("5000 bytes", b"q" * 5000),
]

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg, file=sys.stderr)
    return cond


class Server:
    """A server process whose first stdout line is `listening on ADDR`."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self.lines = []
        self.first = queue.Queue()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env)
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()
        try:
            line = self.first.get(timeout=TIMEOUT)
        except queue.Empty:
            line = None
        if line is None:
            self.proc.kill()
            self.proc.wait()
            raise SystemExit("%s: no `listening on` line within %ds (exit %s)"
                             % (name, TIMEOUT, self.proc.returncode))
        self.listening = line.decode(errors="replace").rstrip("\n")
        print("%s: %s" % (name, self.listening))

    def _drain(self):
        # Keep reading so a chatty server never blocks on a full pipe.
        for line in self.proc.stdout:
            if not self.lines:
                self.first.put(line)
            self.lines.append(line)
        if not self.lines:
            self.first.put(None)

    def inet_address(self):
        m = re.fullmatch(r"listening on (\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):(\d+)", self.listening)
        if not check(m is not None, "%s: bad first line %r" % (self.name, self.listening)):
            raise SystemExit(1)
        port = int(m.group(2))
        check(port != 0, "%s: listening line shows port 0, not the real port" % self.name)
        return (m.group(1).strip("[]"), port)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = "hung (killed)"
        self.reader.join(TIMEOUT)
        check(rc == 0, "%s: exit status after SIGTERM is %s, want 0" % (self.name, rc))


def python_server(kind, arg=""):
    return Server("python %s" % kind, [sys.executable, "-u", "-c", REFERENCE_SERVER, kind, arg])


def stream_exchange(family, addr, payload):
    """Sends payload, half-closes, reads to the end.  (reply, how it ended)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(TIMEOUT)
        s.connect(addr)
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may already have replied and closed (1024+ inputs)
        reply = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return reply, "EOF"
                reply += chunk
        except socket.timeout:
            return reply, "timeout"
        except ConnectionResetError:
            return reply, "reset"


def dgram_exchange(addr, payload):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(TIMEOUT)
        s.sendto(payload, addr)
        try:
            reply, source = s.recvfrom(65536)
        except socket.timeout:
            return None, "timeout"
        return reply, "from server" if source[:2] == addr else "from %r" % (source,)


def udp_oversize(c_addr, py_addr):
    """A datagram over max_packet_size (8192): Python's recvfrom(8192) cuts it
    silently and answers the first 8192 bytes; we drop it and report -EMSGSIZE
    through handle_error (src/server/dgram.c).  A marker datagram sent after
    it tells "no reply" apart from "slow reply" without a fixed sleep."""
    for who, addr in (("C", c_addr), ("Python", py_addr)):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(TIMEOUT)
            s.sendto(b"u" * 9000, addr)
            s.sendto(b"marker", addr)
            try:
                replies = [s.recv(65536) for _ in range(1 if who == "C" else 2)]
            except socket.timeout:
                replies = "timeout"
        want = [b"MARKER"] if who == "C" else sorted([b"U" * 8192, b"MARKER"])
        got = replies if who == "C" or replies == "timeout" else sorted(replies)
        check(got == want, "udp, 9000-byte datagram: %s replied %.80r, want %.80r" % (who, got, want))


def compare(kind, c_exchange, py_exchange, inputs):
    for label, payload in inputs:
        want = py_exchange(payload)
        got = c_exchange(payload)
        if kind == "udp" or len(payload) <= 1024:
            check(got == want, "%s, %s: C replied %r, Python %r" % (kind, label, got, want))
            check(kind == "udp" or got[1] == "EOF", "%s, %s: no EOF after the reply" % (kind, label))
        else:
            # The handler read only 1024 bytes; closing with unread input makes
            # an AF_UNIX peer see ECONNRESET after the reply (TCP sends FIN
            # first).  Whether the rest was read ahead is not our business.
            check(got[0] == want[0], "%s, %s: C replied %r, Python %r" % (kind, label, got, want))
            for who, (_, end) in (("C", got), ("Python", want)):
                check(end in ("EOF", "reset"), "%s, %s: %s reply ended by %s" % (kind, label, who, end))


def concurrency(kind, family, addr, burst=True):
    """A threading/forking server serves others while one client sits idle,
    and (burst) 24 clients connecting at once each get their own reply."""
    idle = socket.create_connection(addr, timeout=TIMEOUT)
    try:
        got = stream_exchange(family, addr, b"while another waits")
        check(got == (b"WHILE ANOTHER WAITS", "EOF"),
              "%s: not served while another connection is idle: %r" % (kind, got))
    finally:
        idle.close()
    if not burst:
        return
    results = {}

    def one(i):
        results[i] = stream_exchange(family, addr, b"  client %d  " % i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(2 * TIMEOUT)
    for i in range(24):
        check(results.get(i) == (b"CLIENT %d" % i, "EOF"),
              "%s: concurrent client %d got %r" % (kind, i, results.get(i)))


def run_client(argv, env):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        return "hung", b""
    return p.returncode, p.stdout


def test_client(kind, bins, server_bin):
    """The C client and the docs' Python client print the same, against both servers."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    words = [b"hello", b"World", "gr\u00fc\u00dfe".encode(), b"MiXeD"]
    servers = [Server("C " + server_bin, [bins[server_bin], "--port", "0"]), python_server(kind)]
    try:
        for srv in servers:
            host, port = srv.inet_address()
            args = [host.encode(), str(port).encode()] + words
            c = run_client([bins["pydocs_%s_client" % kind]] + args, env)
            py = run_client([sys.executable, "-c", REFERENCE_CLIENT, kind] + args, env)
            check(c == py, "%s client against %s: C printed %r, Python %r" % (kind, srv.name, c, py))
            check(c[1] == "Sent:     hello World gr\u00fc\u00dfe MiXeD\nReceived: HELLO WORLD "
                  "GR\u00fc\u00dfE MIXED\n".encode(), "%s client output %r" % (kind, c[1]))
        # Nobody listening: a clear failure, not a hang.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        rc, _ = run_client([bins["pydocs_%s_client" % kind], "127.0.0.1", str(dead), "x"], env)
        check(rc == 1, "%s client to a dead port exited %s, want 1" % (kind, rc))
    finally:
        for srv in servers:
            srv.stop()


def test_server(example, bins):
    kind = {"pydocs_tcp_server": "tcp", "pydocs_udp_server": "udp",
            "pydocs_forking_server": "forking", "unix_stream_server": "unix"}[example]
    tmp = tempfile.mkdtemp(prefix="ss-example-")
    if kind == "unix":
        c_path, py_path = os.path.join(tmp, "c.sock"), os.path.join(tmp, "py.sock")
        c_srv = Server("C " + example, [bins[example], "--path", c_path])
        py_srv = python_server(kind, py_path)
    else:
        c_srv = Server("C " + example, [bins[example], "--port", "0"])
        py_srv = python_server(kind)
    try:
        if kind == "unix":
            check(c_srv.listening == "listening on " + c_path,
                  "unix: first line %r, want 'listening on %s'" % (c_srv.listening, c_path))
            compare(kind, lambda p: stream_exchange(socket.AF_UNIX, c_path, p),
                    lambda p: stream_exchange(socket.AF_UNIX, py_path, p), INPUTS)
        elif kind == "udp":
            c_addr, py_addr = c_srv.inet_address(), py_srv.inet_address()
            compare(kind, lambda p: dgram_exchange(c_addr, p),
                    lambda p: dgram_exchange(py_addr, p), INPUTS)
            udp_oversize(c_addr, py_addr)
        else:
            c_addr, py_addr = c_srv.inet_address(), py_srv.inet_address()
            check(c_addr[0] == "127.0.0.1", "default host is %s, want 127.0.0.1" % c_addr[0])
            compare(kind, lambda p: stream_exchange(socket.AF_INET, c_addr, p),
                    lambda p: stream_exchange(socket.AF_INET, py_addr, p), INPUTS)
            concurrency("C " + example, socket.AF_INET, c_addr)
            # No burst for Python: its listen backlog of 5 overflows, and with
            # syncookies the kernel answers the overflowed clients with RST.
            concurrency("python " + kind, socket.AF_INET, py_addr, burst=False)
    finally:
        c_srv.stop()
        py_srv.stop()
    check(any(re.search(rb" wrote:$", line) for line in c_srv.lines[1:]),
          "%s printed no `wrote:` line" % example)
    if kind == "unix":
        check(not os.path.exists(c_path), "unix: %s still exists after exit" % c_path)
    shutil.rmtree(tmp)
    if kind == "tcp":
        test_ipv6(example, bins)


def test_ipv6(example, bins):
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        print("no IPv6 loopback here; skipping the [::1] check")
        return
    srv = Server("C %s --host ::1" % example, [bins[example], "--host", "::1", "--port", "0"])
    try:
        host, port = srv.inet_address()
        check(srv.listening == "listening on [::1]:%d" % port, "IPv6 line %r" % srv.listening)
        got = stream_exchange(socket.AF_INET6, ("::1", port), b" six \n")
        check(got == (b"SIX", "EOF"), "IPv6 echo got %r" % (got,))
    finally:
        srv.stop()


def parse_args(doc):
    """(the program to test, {name: path of each --bin})."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("example")
    ap.add_argument("--bin", nargs=2, action="append", default=[], metavar=("NAME", "PATH"))
    args = ap.parse_args()
    return args.example, dict(args.bin)


def verdict():
    """main()'s exit status: 1 if a check failed."""
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("ok")
    return 0


def main():
    example, bins = parse_args(__doc__)
    if example in ("pydocs_tcp_client", "pydocs_udp_client"):
        kind = example.split("_")[1]
        test_client(kind, bins, "pydocs_%s_server" % kind)
    else:
        test_server(example, bins)
    return verdict()


if __name__ == "__main__":
    sys.exit(main())

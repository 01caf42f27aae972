#!/usr/bin/env python3
"""test_loop_server.py -- examples/echo_tcp_server, both ways (the loop, and --park), against the course's Python MyServer.

    test_loop_server.py ECHO_TCP_SERVER

The three servers must be indistinguishable to a plain-socket client:
byte-identical replies over one conversation of several messages (mixed
case, non-ASCII bytes, more than 1024 bytes at once), and the same EOF.
Then each C server holds 300 connections at once, every one served in two
rounds; the --park server does it with at most cores + 2 threads (its
workers, the serving loop and main), the loop server with a thread per
connection, as Python does.  Loopback, ephemeral ports, bounded waits.
"""
import os
import re
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_course import TCP_SERVER, recv_n  # noqa: E402  (the Python twin)

TIMEOUT = 10



def check(cond, msg):
    if not cond:
        print("FAIL:", msg)
        sys.exit(1)


def start(argv):
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    m = re.match(r"listening on (\S+):(\d+)$", p.stdout.readline().strip())
    check(m is not None, f"{argv}: no listening line")
    return p, int(m.group(2))


def threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


def conversation(port):
    """Each message, then the bytes back (upper-cased by every server, in
    1024-byte recv()s), then EOF after our shutdown."""
    msgs = [b"hello", b"MiXeD Case 123", bytes(range(256)), b"x" * 3000,
            "caf\u00e9 \u65e5\u672c".encode()]
    got = []
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        for m in msgs:
            s.sendall(m)
            got.append(recv_n(s, len(m)))
        s.shutdown(socket.SHUT_WR)
        got.append(s.recv(1))  # b"": the server ended too
    return got


def many(port, n, pid, limit):
    """n connections held at once, two round trips each; returns the most
    threads the server had meanwhile."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
             for _ in range(n)]
    peak = 0
    try:
        for rnd in range(2):
            for i, s in enumerate(socks):
                s.sendall(f"c{i}r{rnd}".encode())
            for i, s in enumerate(socks):
                want = f"C{i}R{rnd}".encode()
                check(recv_n(s, len(want)) == want, f"connection {i} round {rnd}")
            peak = max(peak, threads(pid))
    finally:
        for s in socks:
            s.close()
    return peak


def main():
    exe = sys.argv[1]
    cores = os.cpu_count() or 1
    procs = []
    try:
        loop, lport = start([exe, "--port", "0"])
        keep, kport = start([exe, "--park", "--port", "0"])
        py, pport = start([sys.executable, "-c", TCP_SERVER, "threading"])
        procs = [loop, keep, py]
        want = conversation(pport)
        check(conversation(lport) == want, "the loop server differs from Python's")
        check(conversation(kport) == want, "the --park server differs from Python's")
        peak = many(kport, 300, keep.pid, cores + 2)
        print(f"--park: 300 connections served, peak {peak} threads")
        check(peak <= cores + 2, f"--park used {peak} threads (> {cores + 2})")
        peak = many(lport, 300, loop.pid, None)
        print(f"loop: 300 connections served, peak {peak} threads")
        for p in procs:
            p.terminate()
            check(p.wait(timeout=TIMEOUT) == 0 or p is py, f"{p.args}: exit status")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    print("ok")


if __name__ == "__main__":
    main()

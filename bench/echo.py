#!/usr/bin/env python3
"""echo.py -- compare the upper-case echo server three ways under closed-loop load; prints a Markdown table.

Servers: "ours" (bench/echo_pool_server: libsocketserver SS_THREADING pool),
"python" (bench/echo_server.py: socketserver.ThreadingTCPServer) and
"plain-C" (bench/echo_thread_server: a detached pthread per connection).
For each round, each connection count, each server in turn (A B C A B C ...
so drift hits all three alike): start the server on 127.0.0.1 port 0, wait
for its "listening on" line, run echo_load for --duration seconds, stop it.
Cells report the median over rounds of rt/s, p50 and p99, and the sum of
errors.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

from benchproc import start, stop

HERE = os.path.dirname(os.path.abspath(__file__))


def run_cell(load, server_argv, conns, duration):
    p, port = start(server_argv)
    try:
        out = subprocess.run(
            [load, "--port", str(port), "--conns", str(conns), "--duration", str(duration)],
            capture_output=True, text=True, timeout=duration + 30, check=True)
    finally:
        stop(p)
        p.stdout.close()
    r = dict(kv.split("=") for kv in out.stdout.split())
    if out.stderr.strip():
        print(f"  [{os.path.basename(server_argv[-1])} c={conns}] {out.stderr.strip()}",
              file=sys.stderr)
    return float(r["rt_s"]), int(r["p50_us"]), int(r["p99_us"]), int(r["errors"])


def fmt_us(us):
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us} µs"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--load")
    ap.add_argument("--pool")
    ap.add_argument("--thread")
    ap.add_argument("--python", default=os.path.join(HERE, "echo_server.py"))
    ap.add_argument("--conns", default="1,10,100,500")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per cell")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int,
                    help="pool size for ours (default: the library's, 1024, started on demand)")
    a = ap.parse_args()
    bd = os.path.join(a.build_dir, "bench")
    load = a.load or os.path.join(bd, "echo_load")
    servers = {
        "ours": [a.pool or os.path.join(bd, "echo_pool_server"), "--port", "0"]
                + (["--workers", str(a.workers)] if a.workers else []),
        "python": [sys.executable, a.python, "--port", "0"],
        "plain-C": [a.thread or os.path.join(bd, "echo_thread_server"), "--port", "0"],
    }
    conns = [int(c) for c in a.conns.split(",")]
    res = {(s, c): [] for s in servers for c in conns}
    t0 = time.monotonic()
    for rnd in range(a.rounds):
        for c in conns:
            for name, argv in servers.items():
                res[name, c].append(run_cell(load, argv, c, a.duration))
                r = res[name, c][-1]
                print(f"  round {rnd + 1} c={c:<4} {name:<8} {r[0]:9.0f} rt/s "
                      f"p50 {fmt_us(r[1])} p99 {fmt_us(r[2])} err {r[3]}", file=sys.stderr)
    print(f"\n{a.rounds} rounds x {a.duration:g} s per cell, {time.monotonic() - t0:.0f} s "
          f"total; connect+send+recv-until-EOF+close per round trip\n")
    print("| conns | server | rt/s | p50 | p99 | errors | ours/this rt/s |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for c in conns:
        med = {s: tuple(statistics.median(x[i] for x in res[s, c]) for i in range(3))
               for s in servers}
        for s in servers:
            rt, p50, p99 = med[s]
            err = sum(x[3] for x in res[s, c])
            ratio = "" if s == "ours" or rt == 0 else f"{med['ours'][0] / rt:.2f}x"
            print(f"| {c} | {s} | {rt:.0f} | {fmt_us(int(p50))} | {fmt_us(int(p99))} "
                  f"| {err} | {ratio} |")


if __name__ == "__main__":
    main()

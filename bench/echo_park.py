#!/usr/bin/env python3
"""echo_park.py -- persistent echo connections: SS_KEEP against a single-threaded epoll server and thread-per-connection.

Every connection is held open for the whole cell and does 64-byte round
trips back to back (bench/echo_persist).  Servers, alternated within each
round so drift hits all alike:

  epoll        bench/echo_epoll_server: one thread, epoll (the baseline)
  thread       bench/echo_thread_server --loop: a pthread per connection
  keep         bench/echo_pool_server --keep --workers 2 x cores: parked
               between messages (libsocketserver SS_KEEP)
  loop         bench/echo_pool_server --loop --workers CONNS: the loop
               handler, a worker per connection

Then Python's program on the library's defaults: the loop handler with no
--workers at 300 connections; every client must be served.

Cells report the median over rounds with the spread (min-max) of round
trips/s, the server's peak threads (sampled every 50 ms), its RSS read when
the load has finished with every connection still open (echo_persist
--hold), the connections served (at least one reply, worst round) and the
fewest round trips any one connection made.  Numbers, never verdicts: this
is not a test.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import threading
import time

from benchproc import read_line, start, stop

HERE = os.path.dirname(os.path.abspath(__file__))


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def status(pid):
    d = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                d[k] = v.strip()
    except OSError:
        pass
    return d


def run_cell(load, argv, conns, duration):
    p, port = start(argv)
    try:
        peak = {"threads": 0}
        done = threading.Event()

        def sample():
            while not done.is_set():
                st = status(p.pid)
                peak["threads"] = max(peak["threads"], int(st.get("Threads", 0)))
                done.wait(0.05)

        t = threading.Thread(target=sample)
        t.start()
        # --hold: the load prints its result and keeps every connection
        # open until its stdin closes, so the server's RSS is read with all
        # of them still open.
        lp = subprocess.Popen([load, "--port", str(port), "--conns", str(conns),
                               "--duration", str(duration), "--hold"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        try:
            try:
                out = read_line(lp, duration + 120, load)
            finally:
                done.set()
                t.join()
            st = status(p.pid)
            rss = int(st.get("VmRSS", "0 kB").split()[0])
            peak["threads"] = max(peak["threads"], int(st.get("Threads", 0)))
            _, err = lp.communicate(timeout=60)
        finally:
            if lp.poll() is None:
                lp.kill()
                lp.wait()
        if lp.returncode != 0 or err.strip():
            print(f"  {os.path.basename(load)}: exit {lp.returncode} {err.strip()}",
                  file=sys.stderr)
    finally:
        stop(p)
        p.stdout.close()
    r = dict(kv.split("=") for kv in out.split())
    return {"rt": float(r["rt_s"]), "served": int(r["served"]),
            "min": int(r["min"]), "errors": int(r["errors"]),
            "threads": peak["threads"], "rss": rss}


def med(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt_k(v):
    m, lo, hi = v
    return f"{m / 1000:.1f}k ({lo / 1000:.1f}-{hi / 1000:.1f}k)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--conns", default="100,500,2000")
    ap.add_argument("--duration", type=float, default=2.0, help="seconds per cell")
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    limit = raise_nofile()
    bd = os.path.join(a.build_dir, "bench")
    load = os.path.join(bd, "echo_persist")
    cores = os.cpu_count() or 1
    conns = [int(c) for c in a.conns.split(",")]
    if limit < max(conns) * 2 + 64:
        print(f"RLIMIT_NOFILE {limit} is too low for {max(conns)} connections "
              "(client and server share the machine)")
        conns = [c for c in conns if c * 2 + 64 <= limit]

    def servers(c):
        return {
            "epoll": [os.path.join(bd, "echo_epoll_server"), "--port", "0"],
            "thread": [os.path.join(bd, "echo_thread_server"), "--port", "0", "--loop"],
            "keep": [os.path.join(bd, "echo_pool_server"), "--port", "0", "--keep",
                     "--workers", str(2 * cores)],
            "loop": [os.path.join(bd, "echo_pool_server"), "--port", "0", "--loop",
                     "--workers", str(c)],
        }

    names = list(servers(1))
    res = {(s, c): [] for s in names for c in conns}
    t0 = time.monotonic()
    for rnd in range(a.rounds):
        for c in conns:
            for name, argv in servers(c).items():
                r = run_cell(load, argv, c, a.duration)
                res[name, c].append(r)
                print(f"  round {rnd + 1} c={c:<5} {name:<6} {r['rt']:9.0f} rt/s "
                      f"served {r['served']}/{c} min {r['min']} "
                      f"threads {r['threads']} rss {r['rss']} kB", file=sys.stderr)
    # Python's program on the library's defaults.
    default = [os.path.join(bd, "echo_pool_server"), "--port", "0", "--loop",
               "--defaults"]
    py = [run_cell(load, default, 300, a.duration) for _ in range(a.rounds)]

    print(f"\n{a.rounds} rounds x {a.duration:g} s per cell, {cores} CPUs, "
          f"{time.monotonic() - t0:.0f} s total; 64-byte round trips on "
          "persistent connections; median (min-max)\n")
    print("| conns | server | round trips/s | keep/this | threads | RSS, all open "
          "| served | fewest by one |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for c in conns:
        keep = statistics.median(x["rt"] for x in res["keep", c])
        for s in names:
            xs = res[s, c]
            rt = med([x["rt"] for x in xs])
            ratio = "" if s == "keep" or rt[0] == 0 else f"{keep / rt[0]:.2f}x"
            threads = max(x["threads"] for x in xs)
            rss = statistics.median(x["rss"] for x in xs)
            served = min(x["served"] for x in xs)
            fewest = min(x["min"] for x in xs)
            errors = sum(x["errors"] for x in xs)
            err = f", {errors} errors" if errors else ""
            print(f"| {c} | {s} | {fmt_k(rt)} | {ratio} | {threads} | "
                  f"{rss / 1024:.1f} MB | {served}/{c}{err} | {fewest} |")
    served = min(x["served"] for x in py)
    print(f"\nLoop handler on the library's defaults (--defaults: no --workers, "
          f"no --queue), 300 connections: {served}/300 served in the worst round, "
          f"fewest round trips by one connection {min(x['min'] for x in py)}, "
          f"{fmt_k(med([x['rt'] for x in py]))} round trips/s, "
          f"{max(x['threads'] for x in py)} threads.")
    print("\nAgainst issue 10's targets (keep >= 0.9x epoll, >= 1.5x thread, "
          f"<= {2 * cores + 2} threads; RSS <= 2x epoll's at 2000):\n")
    for c in conns:
        m = {s: statistics.median(x["rt"] for x in res[s, c]) for s in names}
        rss = {s: statistics.median(x["rss"] for x in res[s, c]) for s in names}
        thr = max(x["threads"] for x in res["keep", c])
        e = m["keep"] / m["epoll"] if m["epoll"] else float("nan")
        t = m["keep"] / m["thread"] if m["thread"] else float("nan")
        r = rss["keep"] / rss["epoll"] if rss["epoll"] else float("nan")
        print(f"- {c} connections: keep/epoll {e:.2f}x, keep/thread {t:.2f}x, "
              f"{thr} threads, RSS keep/epoll {r:.2f}x")


if __name__ == "__main__":
    main()

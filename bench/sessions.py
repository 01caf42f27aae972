#!/usr/bin/env python3
"""sessions.py -- idle logged-in ssftp sessions: what each costs the server, and what they cost another user.

For each N in --counts: a fresh ssftpd (127.0.0.1 port 0, --max-clients
sized for N, everything else its defaults) on a fresh root.  First the
empty server: its RSS, threads and descriptors, and an extra user's 1 MiB
put+get (primed, then --rounds timed rounds).  Then bench/sessions_load
--hold logs in N sessions (client keys derived once and reused) and leaves
them idle; once the server's worker threads have retired (they go after
2 s idle; polled, up to 15 s), the same figures again, and the same put+get
while the N sessions sit there.  RSS per idle session is
(RSS loaded - RSS empty) / N; descriptors likewise.  Prints a Markdown
table with the targets of issue 10 beside the figures.
"""
import argparse
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

PW = "bench-pass"


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


def figures(pid):
    st = status(pid)
    return {"rss_kb": int(st.get("VmRSS", "0 kB").split()[0]),
            "threads": int(st.get("Threads", "0")),
            "fds": len(os.listdir(f"/proc/{pid}/fd"))}


def nofile_max():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return hard


def to_hard():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def latency(load, port, user, rounds):
    out = subprocess.run([load, "--port", port, "--user", user, "--password", PW,
                          "--sessions", "1", "--bytes", str(1 << 20),
                          "--latency", str(rounds + 1)],
                         capture_output=True, text=True, timeout=120)
    m = re.search(r"lat_ms=(\S+) errors=(\d+)", out.stdout)
    if not m or m.group(2) != "0":
        sys.exit(f"latency run failed: {out.stdout} {out.stderr}")
    return [float(x) for x in m.group(1).split(",")][1:]  # the first primes


def measure(bd, n, rounds):
    ssftpd = os.path.join(bd, "src/handler/ssftpd")
    load = os.path.join(bd, "bench/sessions_load")
    work = tempfile.mkdtemp(prefix="ssftp-sessions-")
    p = None
    try:
        root = os.path.join(work, "root")
        for user in ("bench", "extra"):
            subprocess.run([ssftpd, "user", "add", user, "--root", root,
                            "--kdf-ops", "2", "--kdf-mem", "8388608"],
                           input=PW + "\n" + PW + "\n", text=True, check=True,
                           capture_output=True)
        p = subprocess.Popen([ssftpd, "--root", root, "--listen", "127.0.0.1:0",
                              "--max-clients", str(n + 16), "--max-per-ip", str(n + 16)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, preexec_fn=to_hard)
        m = re.match(r"listening on (\S+):(\d+)$", p.stdout.readline().strip())
        if not m:
            sys.exit("ssftpd: no listening line")
        port = m.group(2)
        empty_lat = latency(load, port, "extra", rounds)
        empty = figures(p.pid)
        h = subprocess.Popen([load, "--port", port, "--user", "bench", "--password", PW,
                              "--sessions", str(n), "--hold"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, preexec_fn=to_hard)
        line = h.stdout.readline()
        r = dict(kv.split("=") for kv in line.split()[1:]) if line.startswith("ready") else {}
        # Workers from the logins retire after 2 s without work.
        cores = os.cpu_count() or 1
        deadline = time.monotonic() + 15
        while figures(p.pid)["threads"] > 2 * cores + 4 and time.monotonic() < deadline:
            time.sleep(0.2)
        loaded = figures(p.pid)
        loaded_lat = latency(load, port, "extra", rounds)
        errs = h.stderr
        h.stdin.close()
        h.wait(timeout=60)
        why = errs.read().strip().splitlines()[:3]
        return {"n": n, "ok": int(r.get("login_ok", 0)), "errors": int(r.get("errors", n)),
                "login_s": float(r.get("login_s", 0)), "why": why,
                "empty": empty, "loaded": loaded,
                "empty_lat": empty_lat, "loaded_lat": loaded_lat}
    finally:
        if p is not None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)


def spread(xs):
    return f"{statistics.median(xs):.1f} ms ({min(xs):.1f}-{max(xs):.1f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--counts", default="1000,5000,10000")
    ap.add_argument("--rounds", type=int, default=5, help="timed put+get rounds")
    a = ap.parse_args()
    to_hard()
    cores = os.cpu_count() or 1
    rows = []
    for n in (int(x) for x in a.counts.split(",")):
        if nofile_max() < n + 64:
            print(f"RLIMIT_NOFILE hard limit {nofile_max()} is too low for {n} "
                  "sessions: skipped\n")
            continue
        rows.append(measure(a.build_dir, n, a.rounds))
    print(f"{cores} CPUs; an extra user's put+get of 1 MiB, {a.rounds} timed rounds "
          "after one to prime, median (min-max)\n")
    print("| idle sessions | logged in / errors | login, all | server threads idle "
          "| RSS per idle session | descriptors per session | 1 MiB put+get: empty server "
          "| with the idle sessions | ratio |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        n, e, l = r["n"], r["empty"], r["loaded"]
        per_kb = (l["rss_kb"] - e["rss_kb"]) / n
        per_fd = (l["fds"] - e["fds"]) / n
        ratio = statistics.median(r["loaded_lat"]) / statistics.median(r["empty_lat"])
        print(f"| {n} | {r['ok']} / {r['errors']} | {r['login_s']:.2f} s | {l['threads']} "
              f"| {per_kb:.2f} KB | {per_fd:.2f} | {spread(r['empty_lat'])} "
              f"| {spread(r['loaded_lat'])} | {ratio:.2f}x |")
        for w in r["why"]:
            print(f"\n(errors at {n}: {w})")
    print(f"\nTargets: every session logged in; threads while idle <= {2 * cores + 4}; "
          "RSS per idle session <= 4 KB; at most one descriptor per idle session; "
          "put+get with them idle within 1.5x of the empty server's.")


if __name__ == "__main__":
    main()

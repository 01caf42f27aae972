#!/usr/bin/env python3
"""sessions.py -- many concurrent logged-in ssftp sessions against one ssftpd.

Starts ssftpd (127.0.0.1 port 0, --max-clients/--workers/--max-per-ip sized
for --sessions), then runs bench/sessions_load: N connections each do hello
+ SCRAM login (client keys derived once and reused), all held open, then a
small put+get with digest check on each.  While it runs, samples the
server's VmHWM (peak RSS) and Threads from /proc/PID/status.  Prints a
Markdown table and whether the targets are met.
"""
import argparse
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--bytes", type=int, default=4096)
    a = ap.parse_args()
    bd = a.build_dir
    ssftpd = os.path.join(bd, "src/handler/ssftpd")
    load = os.path.join(bd, "bench/sessions_load")
    n = a.sessions
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 2 * n + 256)) if hard != resource.RLIM_INFINITY else 2 * n + 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    work = tempfile.mkdtemp(prefix="ssftp-sessions-")
    try:
        root = os.path.join(work, "root")
        subprocess.run([ssftpd, "user", "add", "bench", "--root", root,
                        "--kdf-ops", "2", "--kdf-mem", "8388608"],
                       input=PW + "\n" + PW + "\n", text=True, check=True,
                       capture_output=True)
        p = subprocess.Popen([ssftpd, "--root", root, "--listen", "127.0.0.1:0",
                              "--max-clients", str(n + 16), "--workers", str(n + 32),
                              "--max-per-ip", str(n + 16)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        m = re.match(r"listening on (\S+):(\d+)$", p.stdout.readline().strip())
        if not m:
            p.kill()
            sys.exit("ssftpd: no listening line")
        port = m.group(2)
        idle = status(p.pid)
        peak = {"threads": 0, "hwm": 0}
        done = threading.Event()

        def sample():
            while not done.is_set():
                s = status(p.pid)
                if s:
                    peak["threads"] = max(peak["threads"], int(s.get("Threads", 0)))
                    peak["hwm"] = max(peak["hwm"], int(s.get("VmHWM", "0 kB").split()[0]))
                time.sleep(0.05)

        th = threading.Thread(target=sample)
        th.start()
        try:
            out = subprocess.run([load, "--port", port, "--user", "bench", "--password", PW,
                                  "--sessions", str(n), "--bytes", str(a.bytes)],
                                 capture_output=True, text=True, timeout=600)
        finally:
            done.set()
            th.join()
            final = status(p.pid)
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if out.stderr.strip():
            print("\n".join(out.stderr.strip().splitlines()[:10]), file=sys.stderr)
        r = dict(x.split("=") for x in out.stdout.split())
        hwm_kb = max(peak["hwm"], int(final.get("VmHWM", "0 kB").split()[0]))
        hwm_mb = hwm_kb * 1024 / 1e6
        print(f"### {n} concurrent sessions, {a.bytes}-byte put+get each, loopback\n")
        print("| measurement | value | target |")
        print("| --- | ---: | --- |")
        print(f"| sessions logged in / put+get ok / errors | {r['login_ok']} / {r['xfer_ok']} / {r['errors']} | all {n} ok |")
        print(f"| connect+login, all {n} (held open) | {float(r['login_s']):.3f} s | < 2 s |")
        print(f"| put+get on each | {float(r['xfer_s']):.3f} s | |")
        print(f"| total | {float(r['total_s']):.3f} s | |")
        print(f"| server peak RSS (VmHWM) | {hwm_mb:.1f} MB ({hwm_kb} kB) | < 42 MB |")
        print(f"| server RSS idle before load | {idle.get('VmRSS', '?')} | |")
        print(f"| server threads (idle / peak) | {idle.get('Threads', '?')} / {peak['threads']} | |")
        print()
        met = (int(r["login_ok"]) == n and int(r["xfer_ok"]) == n and int(r["errors"]) == 0
               and float(r["login_s"]) < 2 and hwm_mb < 42)
        print(f"Targets (all ok, peak RSS < 42 MB, connect+login < 2 s): {'met' if met else 'NOT met'}.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

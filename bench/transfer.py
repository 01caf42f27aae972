#!/usr/bin/env python3
"""transfer.py -- bulk transfer speed of ssftp/ssftpd against its ceilings and pyftpdlib.

One run measures, on 127.0.0.1 only, each server started and stopped here:
  - single-core BLAKE2b-256 (libsodium) speed: bench/b2speed;
  - raw loopback TCP copy speed: bench/tcpcopy;
  - `ssftp put` and `ssftp get` of a --size-mib file against ssftpd (both
    ends hash with BLAKE2b and verify the digest; the result is also compared);
  - pyftpdlib (python3 -m pyftpdlib) with curl upload/download, plain and
    followed by `b2sum -l 256` of the received file (the verified equivalent).
Prints a Markdown table of MB/s (MB = 10^6 bytes) and the ratios.
"""
import argparse
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PW = "bench-pass"


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def timed(argv, **kw):
    t0 = time.monotonic()
    run(argv, **kw)
    return time.monotonic() - t0


def kv(out):
    return dict(x.split("=", 1) for x in out.split())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def drop_cache(path):
    # Keep both sides comparable: sources stay warm in the page cache (as
    # the 1 GiB file fits in RAM); this only syncs so writeback of the
    # previous run does not land in the next measurement.
    os.sync()


def ftp_python():
    """An interpreter that has pyftpdlib (Debian's python3-pyftpdlib lives in
    /usr/bin/python3's path, which may not be the python3 running this)."""
    for py in (sys.executable, "/usr/bin/python3", shutil.which("python3")):
        if py and subprocess.run([py, "-c", "import pyftpdlib"],
                                 capture_output=True).returncode == 0:
            return py
    sys.exit("pyftpdlib missing: apt-get install python3-pyftpdlib")


def make_file(path, size):
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(size >> 20):
            f.write(chunk[i % 256:] + chunk[:i % 256])  # distinct 1 MiB blocks


def b2(path):
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--workdir", help="scratch directory (default: a temp dir)")
    a = ap.parse_args()
    bd = a.build_dir
    ssftpd = os.path.join(bd, "src/handler/ssftpd")
    ssftp = os.path.join(bd, "src/client/ssftp")
    size = a.size_mib << 20
    mb = size / 1e6
    work = tempfile.mkdtemp(prefix="ssftp-bench-", dir=a.workdir)
    try:
        res = {}
        res["b2"] = float(kv(run([os.path.join(bd, "bench/b2speed"), "--mib", "256"]).stdout)["mb_s"])
        res["tcp"] = float(kv(run([os.path.join(bd, "bench/tcpcopy"), "--mib", "1024"]).stdout)["mb_s"])

        src = os.path.join(work, "src.bin")
        make_file(src, size)
        want = b2(src)

        # --- ssftpd / ssftp ---
        root = os.path.join(work, "root")
        subprocess.run([ssftpd, "user", "add", "bench", "--root", root,
                        "--kdf-ops", "2", "--kdf-mem", "8388608"],
                       input=PW + "\n" + PW + "\n", text=True, check=True,
                       capture_output=True)
        p = subprocess.Popen([ssftpd, "--root", root, "--listen", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        m = re.match(r"listening on (\S+):(\d+)$", p.stdout.readline().strip())
        if not m:
            stop(p)
            sys.exit("ssftpd: no listening line")
        port = m.group(2)
        env = dict(os.environ, SSFTP_PASSWORD=PW)
        cli = [ssftp, "-u", "bench", "--no-progress", f"127.0.0.1:{port}"]
        try:
            drop_cache(src)
            res["put"] = mb / timed(cli + ["put", src, "/big.bin"], env=env)
            drop_cache(src)
            dst = os.path.join(work, "got.bin")
            res["get"] = mb / timed(cli + ["get", "/big.bin", dst], env=env)
        finally:
            stop(p)
        ok_ours = b2(dst) == want and b2(os.path.join(root, "homes", "bench", "big.bin")
                                        if os.path.exists(os.path.join(root, "homes", "bench", "big.bin"))
                                        else dst) == want
        os.unlink(dst)
        shutil.rmtree(root)

        # --- pyftpdlib + curl ---
        ftproot = os.path.join(work, "ftp")
        os.mkdir(ftproot)
        fport = free_port()
        p = subprocess.Popen([ftp_python(), "-m", "pyftpdlib", "-i", "127.0.0.1",
                              "-p", str(fport), "-d", ftproot, "-w"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", fport), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            url = f"ftp://127.0.0.1:{fport}/"
            up = os.path.join(ftproot, "big.bin")
            drop_cache(src)
            t = timed(["curl", "-s", "-S", "-T", src, url + "big.bin"])
            res["fput"] = mb / t
            t0 = time.monotonic()
            run(["b2sum", "-l", "256", up])
            res["fput_b2"] = mb / (t + time.monotonic() - t0)
            drop_cache(src)
            dst = os.path.join(work, "fgot.bin")
            t = timed(["curl", "-s", "-S", "-o", dst, url + "big.bin"])
            res["fget"] = mb / t
            t0 = time.monotonic()
            out = run(["b2sum", "-l", "256", dst]).stdout.split()[0]
            res["fget_b2"] = mb / (t + time.monotonic() - t0)
            ok_ftp = out == want
        finally:
            stop(p)

        ceil = 0.8 * res["b2"]
        print(f"### Bulk transfer, {a.size_mib} MiB file, loopback (MB/s, MB = 10^6 B)\n")
        print("| measurement | MB/s | vs 0.8×BLAKE2b | ours vs this |")
        print("| --- | ---: | ---: | ---: |")
        print(f"| BLAKE2b-256, 1 core (libsodium) | {res['b2']:.0f} | 1.25 | |")
        print(f"| raw loopback TCP copy | {res['tcp']:.0f} | {res['tcp']/ceil:.2f} | |")
        print(f"| **ssftp put** (verified) | {res['put']:.0f} | {res['put']/ceil:.2f} | |")
        print(f"| **ssftp get** (verified) | {res['get']:.0f} | {res['get']/ceil:.2f} | |")
        print(f"| pyftpdlib + curl put | {res['fput']:.0f} | | {res['put']/res['fput']:.2f} |")
        print(f"| pyftpdlib + curl put + b2sum | {res['fput_b2']:.0f} | | {res['put']/res['fput_b2']:.2f} |")
        print(f"| pyftpdlib + curl get | {res['fget']:.0f} | | {res['get']/res['fget']:.2f} |")
        print(f"| pyftpdlib + curl get + b2sum | {res['fget_b2']:.0f} | | {res['get']/res['fget_b2']:.2f} |")
        print()
        put_ok = res["put"] >= ceil and res["put"] > res["fput_b2"]
        get_ok = res["get"] >= ceil and res["get"] > res["fget_b2"]
        print(f"Digests match: ssftp {'yes' if ok_ours else 'NO'}, ftp {'yes' if ok_ftp else 'NO'}. "
              f"Target (≥ 0.8×BLAKE2b and > pyftpdlib+curl+b2sum): "
              f"put {'met' if put_ok else 'NOT met'}, get {'met' if get_ok else 'NOT met'}.")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""transfer.py -- bulk transfer speed of ssftp/ssftpd against its ceilings and pyftpdlib.

One run measures, on 127.0.0.1 only, each server started and stopped here:
  - single-core BLAKE2b-256 speed, of the hash ssftp uses: bench/b2speed;
  - raw loopback TCP copy speed: bench/tcpcopy;
  - `ssftp put` and `ssftp get` of a --size-mib file against ssftpd (both
    ends hash with BLAKE2b and verify the digest; the result is also compared);
  - pyftpdlib (python3 -m pyftpdlib) with curl upload/download, plain and
    followed by `b2sum -l 256` of the received file (the verified equivalent).
Before each timed transfer a scratch file of the same size is written and
deleted (see prime()), so both programs write into warm memory.
Runs --rounds alternating rounds (ours first, then theirs first, ...) and
reports the median of each with its spread, and every round.
Prints a Markdown table of MB/s (MB = 10^6 bytes) and the ratios.
"""
import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchproc import fingerprint, start, stop

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


def ftp_python():
    """An interpreter that has pyftpdlib (Debian's python3-pyftpdlib lives in
    /usr/bin/python3's path, which may not be the python3 running this)."""
    for py in (sys.executable, "/usr/bin/python3", shutil.which("python3")):
        if py and subprocess.run([py, "-c", "import pyftpdlib"],
                                 capture_output=True).returncode == 0:
            return py
    sys.exit("pyftpdlib missing: apt-get install python3-pyftpdlib")


def prime(work, size):
    """Write and delete a scratch file as large as the next transfer, so the
    page-cache pages that transfer fills come from memory touched moments
    ago.  On a VM with free-page reporting (virtio-balloon), memory the guest
    freed a few seconds earlier has gone back to the host, and the first write
    into it costs ~10x (dd of 1 GiB: ~0.4 GB/s cold, ~4 GB/s warm on the
    machine this was written on).  Without this, whichever program runs right
    after another one freed memory wins, whatever its code is like."""
    os.sync()  # the previous transfer's writeback must not land in this one
    path = os.path.join(work, "prime.bin")
    block = b"\0" * (1 << 20)
    with open(path, "wb") as f:
        for _ in range(size >> 20):
            f.write(block)
    os.unlink(path)  # dirty pages of a deleted file are dropped, not written


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


class Ours:
    """ssftpd on an ephemeral port, and ssftp put/get against it."""

    def __init__(self, bd, work):
        self.ssftpd = os.path.join(bd, "src/handler/ssftpd")
        self.ssftp = os.path.join(bd, "src/client/ssftp")
        self.root = os.path.join(work, "root")
        self.work = work
        subprocess.run([self.ssftpd, "user", "add", "bench", "--root", self.root,
                        "--kdf-ops", "2", "--kdf-mem", "8388608"],
                       input=PW + "\n" + PW + "\n", text=True, check=True,
                       capture_output=True)
        self.p, port = start([self.ssftpd, "--root", self.root,
                              "--listen", "127.0.0.1:0"])
        self.env = dict(os.environ, SSFTP_PASSWORD=PW)
        self.cli = [self.ssftp, "-u", "bench", "--no-progress", "--host-key",
                    fingerprint(self.ssftpd, self.root), f"127.0.0.1:{port}"]

    def round(self, src, mb, want, res):
        prime(self.work, round(mb * 1e6))
        res["put"].append(mb / timed(self.cli + ["put", src, "/big.bin"], env=self.env))
        prime(self.work, round(mb * 1e6))
        dst = os.path.join(self.work, "got.bin")
        res["get"].append(mb / timed(self.cli + ["get", "/big.bin", dst], env=self.env))
        stored = os.path.join(self.root, "homes", "bench", "big.bin")
        res["ok_ours"] = res.get("ok_ours", True) and b2(dst) == want and b2(stored) == want
        os.unlink(dst)

    def close(self):
        stop(self.p)


class Ftp:
    """pyftpdlib on a free port, curl against it, b2sum after."""

    def __init__(self, work):
        self.root = os.path.join(work, "ftp")
        self.work = work
        os.mkdir(self.root)
        port = free_port()
        self.p = subprocess.Popen([ftp_python(), "-m", "pyftpdlib", "-i", "127.0.0.1",
                                   "-p", str(port), "-d", self.root, "-w"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):  # readiness: the port accepts
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        self.url = f"ftp://127.0.0.1:{port}/"

    def round(self, src, mb, want, res):
        up = os.path.join(self.root, "big.bin")
        prime(self.work, round(mb * 1e6))
        t = timed(["curl", "-s", "-S", "-T", src, self.url + "big.bin"])
        res["fput"].append(mb / t)
        t0 = time.monotonic()
        run(["b2sum", "-l", "256", up])
        res["fput_b2"].append(mb / (t + time.monotonic() - t0))
        prime(self.work, round(mb * 1e6))
        dst = os.path.join(self.work, "fgot.bin")
        t = timed(["curl", "-s", "-S", "-o", dst, self.url + "big.bin"])
        res["fget"].append(mb / t)
        t0 = time.monotonic()
        out = run(["b2sum", "-l", "256", dst]).stdout.split()[0]
        res["fget_b2"].append(mb / (t + time.monotonic() - t0))
        res["ok_ftp"] = res.get("ok_ftp", True) and out == want
        os.unlink(dst)

    def close(self):
        stop(self.p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=5,
                    help="alternating rounds; each figure is their median")
    ap.add_argument("--workdir", help="scratch directory (default: a temp dir)")
    a = ap.parse_args()
    bd = a.build_dir
    size = a.size_mib << 20
    mb = size / 1e6
    work = tempfile.mkdtemp(prefix="ssftp-bench-", dir=a.workdir)
    res = {k: [] for k in ("b2", "tcp", "put", "get", "fput", "fput_b2", "fget", "fget_b2")}
    ours = ftp = None
    try:
        src = os.path.join(work, "src.bin")
        make_file(src, size)
        want = b2(src)
        ours = Ours(bd, work)
        ftp = Ftp(work)
        # Alternate who goes first: page-cache and (on VMs) first-touch memory
        # costs fall on whoever runs first, so one order would favour one side.
        for r in range(a.rounds):
            res["b2"].append(float(kv(run([os.path.join(bd, "bench/b2speed"), "--mib", "256"]).stdout)["mb_s"]))
            res["tcp"].append(float(kv(run([os.path.join(bd, "bench/tcpcopy"), "--mib", "1024"]).stdout)["mb_s"]))
            sides = [ours, ftp] if r % 2 == 0 else [ftp, ours]
            for side in sides:
                side.round(src, mb, want, res)
    finally:
        for side in (ours, ftp):
            if side is not None:
                side.close()
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in res.items() if isinstance(v, list) and v}
    ceil = 0.8 * med["b2"]
    print(f"### Bulk transfer, {a.size_mib} MiB file, loopback, medians of {a.rounds} "
          f"alternating rounds (MB/s, MB = 10^6 B)\n")
    print("| measurement | MB/s (median) | min-max | vs 0.8×BLAKE2b | ours vs this | all rounds |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")

    def row(label, key, vs_ceil=True, ours_key=None):
        v = med[key]
        c = f"{v / ceil:.2f}" if vs_ceil else ""
        o = f"{med[ours_key] / v:.2f}" if ours_key else ""
        rounds = " ".join(f"{x:.0f}" for x in res[key])
        print(f"| {label} | {v:.0f} | {min(res[key]):.0f}-{max(res[key]):.0f} | {c} | {o} | {rounds} |")

    row("BLAKE2b-256, 1 core (as ssftp hashes)", "b2")
    row("raw loopback TCP copy", "tcp")
    row("**ssftp put** (verified)", "put")
    row("**ssftp get** (verified)", "get")
    row("pyftpdlib + curl put", "fput", False, "put")
    row("pyftpdlib + curl put + b2sum", "fput_b2", False, "put")
    row("pyftpdlib + curl get", "fget", False, "get")
    row("pyftpdlib + curl get + b2sum", "fget_b2", False, "get")
    print()
    put_ok = med["put"] >= ceil and med["put"] > med["fput_b2"]
    get_ok = med["get"] >= ceil and med["get"] > med["fget_b2"]
    print(f"Digests match: ssftp {'yes' if res.get('ok_ours') else 'NO'}, "
          f"ftp {'yes' if res.get('ok_ftp') else 'NO'}. "
          f"Target (medians ≥ 0.8×BLAKE2b and > pyftpdlib+curl+b2sum): "
          f"put {'met' if put_ok else 'NOT met'}, get {'met' if get_ok else 'NOT met'}.")


if __name__ == "__main__":
    main()

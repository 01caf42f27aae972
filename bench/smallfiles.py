#!/usr/bin/env python3
"""smallfiles.py -- many small files in one session: ssftp->ssftpd against lftp->pyftpdlib.

--files files of --size bytes (default 1000 x 4 KiB), uploaded in one
session and downloaded in one session, each way timed as the client's
whole run (connect, login, every file, quit).  ssftp runs mput/mget (a
pattern: the client expands it, listing the remote directory for mget); lftp
runs mput/mget with the names against pyftpdlib (Debian's lftp and
python3-pyftpdlib; a missing one is said and skipped).  One untimed round
primes the page cache and both servers; then --rounds rounds, the four runs
alternated within each round, each round in a fresh remote directory.
Prints files/s, median (min-max), and the ratio ssftp/lftp.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchproc import fingerprint, start, stop

PW = "bench-pass"
PYFTPD = r'''
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
import logging
logging.disable(logging.CRITICAL)
auth = DummyAuthorizer()
auth.add_user("bench", sys.argv[2], sys.argv[1], perm="elradfmwMT")
FTPHandler.authorizer = auth
srv = FTPServer(("127.0.0.1", 0), FTPHandler)
print("listening on 127.0.0.1:%d" % srv.address[1], flush=True)
srv.serve_forever()
'''


def timed(argv, cwd, stdin=None, env=None):
    t = time.monotonic()
    r = subprocess.run(argv, cwd=cwd, input=stdin, env=env, text=True,
                       capture_output=True, timeout=600)
    el = time.monotonic() - t
    if r.returncode != 0:
        sys.exit(f"{argv[0]} failed ({r.returncode}): {r.stderr.strip()[:300]}")
    return el


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    bd = os.path.abspath(a.build_dir)
    ssftpd = os.path.join(bd, "src/handler/ssftpd")
    ssftp = os.path.join(bd, "src/client/ssftp")
    lftp = shutil.which("lftp")
    py = "/usr/bin/python3"
    have_ftp = lftp is not None and subprocess.run(
        [py, "-c", "import pyftpdlib"], capture_output=True).returncode == 0
    if not have_ftp:
        print("lftp or python3-pyftpdlib is missing (apt-get install lftp "
              "python3-pyftpdlib): ssftp only\n")
    work = tempfile.mkdtemp(prefix="ssftp-small-")
    procs = []
    try:
        src = os.path.join(work, "src")
        os.mkdir(src)
        names = [f"f{i:05d}" for i in range(a.files)]
        for n in names:
            with open(os.path.join(src, n), "wb") as f:
                f.write(os.urandom(a.size))
        root = os.path.join(work, "root")
        subprocess.run([ssftpd, "user", "add", "bench", "--root", root,
                        "--kdf-ops", "2", "--kdf-mem", "8388608"],
                       input=PW + "\n" + PW + "\n", text=True, check=True,
                       capture_output=True)
        p, sport = start([ssftpd, "--root", root, "--listen", "127.0.0.1:0"])
        key = ["--host-key", fingerprint(ssftpd, root)]
        procs.append(p)
        env = dict(os.environ, SSFTP_PASSWORD=PW)
        if have_ftp:
            ftproot = os.path.join(work, "ftp")
            os.mkdir(ftproot)
            q, fport = start([py, "-c", PYFTPD, ftproot, PW])
            procs.append(q)

        def ssftp_put(d):
            batch = f"mkdir {d}\ncd {d}\nmput f*\n"
            return timed([ssftp, "-u", "bench", *key, f"127.0.0.1:{sport}"], src, batch, env)

        def ssftp_get(d):
            out = os.path.join(work, "got-ssftp-" + d)
            os.mkdir(out)
            batch = f"cd {d}\nmget f*\n"
            return timed([ssftp, "-u", "bench", *key, f"127.0.0.1:{sport}"], out, batch, env)

        def lftp_run(script, cwd):
            return timed([lftp, "-u", f"bench,{PW}", "-p", str(fport), "127.0.0.1",
                          "-e", "set ftp:passive-mode on; set net:max-retries 1; "
                          "set cmd:fail-exit yes; " + script + "; bye"], cwd)

        def lftp_put(d):
            return lftp_run(f"mkdir {d}; cd {d}; mput " + " ".join(names), src)

        def lftp_get(d):
            out = os.path.join(work, "got-lftp-" + d)
            os.mkdir(out)
            return lftp_run(f"cd {d}; mget " + " ".join(names), out)

        runs = {"ssftp put": ssftp_put, "ssftp get": ssftp_get}
        if have_ftp:
            runs.update({"lftp put": lftp_put, "lftp get": lftp_get})
        res = {k: [] for k in runs}
        for rnd in range(a.rounds + 1):  # round 0 primes
            d = f"r{rnd}"
            for k in ("ssftp put", "lftp put", "ssftp get", "lftp get"):
                if k not in runs:
                    continue
                el = runs[k](d)
                if rnd > 0:
                    res[k].append(a.files / el)
                print(f"  round {rnd} {k:<9} {a.files / el:8.0f} files/s", file=sys.stderr)
                if k.endswith("get"):
                    shutil.rmtree(os.path.join(work, f"got-{k.split()[0]}-{d}"))
        print(f"{a.files} files of {a.size} bytes in one session, loopback; "
              f"{a.rounds} rounds after one to prime; files/s, median (min-max)\n")
        print("| direction | ssftp -> ssftpd | lftp -> pyftpdlib | ssftp/lftp |")
        print("|---|---:|---:|---:|")
        for way in ("put", "get"):
            s = res[f"ssftp {way}"]
            cell = f"{statistics.median(s):.0f} ({min(s):.0f}-{max(s):.0f})"
            if have_ftp:
                f = res[f"lftp {way}"]
                lc = f"{statistics.median(f):.0f} ({min(f):.0f}-{max(f):.0f})"
                ratio = f"{statistics.median(s) / statistics.median(f):.2f}x"
            else:
                lc, ratio = "-", "-"
            print(f"| {way} | {cell} | {lc} | {ratio} |")
        print("\nTarget: ssftp >= 1.5x lftp both ways.")
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""ftp.py -- ssftpd's FTP against vsftpd, side by side, with the same clients.

One run, on 127.0.0.1 only:
  - 1 GiB STOR and RETR with curl (`curl -T`, `curl -o`), plain FTP and
    explicit FTPS (`--ssl-reqd`), against `ssftpd --ftp` (user "bench") and
    vsftpd (Debian's package, run here in the foreground with a throwaway
    config: anonymous writes into a scratch root, TLS with ssftpd's own
    certificate, require_ssl_reuse as it ships);
  - --files files of --file-size bytes (default 1000 x 4 KiB) with
    `lftp mirror -R` up and `lftp mirror` down, plain FTP, one session each.
Each round runs the servers in alternating order; a scratch file as large as
the transfer is written and deleted before each big one (transfer.prime).
Prints medians with the spread (min-max) of --rounds rounds and the ratios
issue 11 sets as targets (>= 1.0x vsftpd).  vsftpd must run as root.
"""
import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchproc import fingerprint, stop
from transfer import free_port, make_file, prime, run

PW = "bench-pass"
# --only's row names: (mode, operation)
ROWS = {"ftp-stor": ("ftp", "STOR"), "ftp-retr": ("ftp", "RETR"),
        "ftps-stor": ("ftps", "STOR"), "ftps-retr": ("ftps", "RETR"),
        "mirror-up": ("ftp", "mirror -R"), "mirror-down": ("ftp", "mirror")}


def wait_port(port, proc, timeout=10):
    """Until something accepts on 127.0.0.1:port (vsftpd prints no line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("vsftpd exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    sys.exit("vsftpd does not listen")


class Ssftpd:
    def __init__(self, bd, work, name="ssftpd", extra=()):
        self.name = name
        ssftpd = os.path.join(bd, "src/handler/ssftpd")
        self.root = os.path.join(work, name + "-root")
        subprocess.run([ssftpd, "user", "add", "bench", "--root", self.root,
                        "--kdf-ops", "2", "--kdf-mem", str(8 << 20)],
                       input=PW + "\n" + PW + "\n", text=True, check=True,
                       capture_output=True)
        self.p = subprocess.Popen(
            [ssftpd, "--root", self.root, "--listen", "127.0.0.1:0",
             "--ftp", "127.0.0.1:0", *extra], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        self.port = None
        while self.port is None:
            line = self.p.stdout.readline()
            if not line:
                sys.exit("ssftpd did not start")
            if line.startswith("ftp listening on "):
                self.port = int(line.rsplit(":", 1)[1])
        fingerprint(ssftpd, self.root)  # the pair exists once it listens
        self.cert = os.path.join(self.root, "tls", "cert.pem")
        self.key = os.path.join(self.root, "tls", "key.pem")
        self.user = "bench:" + PW
        self.dir = os.path.join(self.root, "homes", "bench")
        self.prefix = ""

    def close(self):
        stop(self.p)


class Vsftpd:
    name = "vsftpd"

    def __init__(self, work, cert, key):
        base = os.path.join(work, "vs")
        self.dir = os.path.join(base, "pub")
        os.makedirs(self.dir)
        os.chmod(work, 0o755)
        os.chmod(base, 0o755)
        shutil.chown(self.dir, "ftp", "ftp")
        self.port = free_port()
        conf = os.path.join(work, "vsftpd.conf")
        with open(conf, "w") as f:
            f.write(f"""listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port={self.port}
background=NO
anonymous_enable=YES
no_anon_password=YES
local_enable=NO
anon_root={base}
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_other_write_enable=YES
anon_umask=022
seccomp_sandbox=NO
xferlog_enable=NO
max_per_ip=0
ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=NO
force_anon_data_ssl=NO
rsa_cert_file={cert}
rsa_private_key_file={key}
""")
        self.p = subprocess.Popen(["vsftpd", conf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        wait_port(self.port, self.p)
        self.user = "anonymous:"
        self.prefix = "pub/"

    def close(self):
        stop(self.p)


def curl_time(srv, tls, args):
    cmd = ["curl", "-sS", "--max-time", "600", "-u", srv.user] + (
        ["--ssl-reqd", "-k"] if tls else []) + args
    t0 = time.monotonic()
    run(cmd)
    return time.monotonic() - t0


def lftp_time(srv, script):
    user, pw = srv.user.split(":", 1)
    pre = ("set net:max-retries 1; set cmd:fail-exit yes; set ftp:ssl-allow no; "
           f"open -u {user},{pw or 'x'} -p {srv.port} 127.0.0.1; ")
    t0 = time.monotonic()
    run(["lftp", "-c", pre + script])
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--file-size", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workdir", help="scratch directory (default: a temp dir)")
    ap.add_argument("--only", default=",".join(ROWS),
                    help="rows to run, comma-separated: " + ",".join(ROWS))
    ap.add_argument("--no-fsync-too", action="store_true",
                    help="also run ssftpd --ftp-no-fsync (226 from the page "
                    "cache, as vsftpd)")
    ap.add_argument("--also", action="append", default=[], metavar="NAME=DIR",
                    help="another ssftpd build to run in the same rounds")
    a = ap.parse_args()
    if os.geteuid() != 0 or shutil.which("vsftpd") is None:
        sys.exit("needs root and vsftpd (apt-get install vsftpd)")
    size = a.size_mib << 20
    work = tempfile.mkdtemp(prefix="ssftp-ftpbench-", dir=a.workdir)
    res = {}
    servers = []
    try:
        src = os.path.join(work, "src.bin")
        make_file(src, size)
        small = os.path.join(work, "small")
        os.makedirs(small)
        for i in range(a.files):
            with open(os.path.join(small, f"f{i:05d}"), "wb") as f:
                f.write(os.urandom(a.file_size))
        ss = Ssftpd(a.build_dir, work)
        servers = [ss, Vsftpd(work, ss.cert, ss.key)]
        if a.no_fsync_too:
            servers.append(Ssftpd(a.build_dir, work, "no-fsync",
                                  ["--ftp-no-fsync"]))
        for spec in a.also:
            name, bd = spec.split("=", 1)
            servers.append(Ssftpd(bd, work, name))
        dst = os.path.join(work, "got.bin")
        mb = size / 1e6
        only = set(a.only.split(","))
        if not only <= set(ROWS):
            sys.exit(f"--only: unknown rows {only - set(ROWS)}")
        for r in range(a.rounds):
            k = r % len(servers)
            order = servers[k:] + servers[:k]
            for s in order:
                url = f"ftp://127.0.0.1:{s.port}/{s.prefix}"
                for tls in (False, True):
                    mode = "ftps" if tls else "ftp"
                    big = os.path.join(s.dir, "big.bin")
                    if mode + "-stor" in only or mode + "-retr" in only:
                        prime(work, size)
                        t = curl_time(s, tls, ["-T", src, url + "big.bin"])
                        if mode + "-stor" in only:
                            res.setdefault((s.name, mode, "STOR"),
                                           []).append(mb / t)
                    if mode + "-retr" in only:
                        prime(work, size)
                        t = curl_time(s, tls, [url + "big.bin", "-o", dst])
                        res.setdefault((s.name, mode, "RETR"), []).append(mb / t)
                        if os.path.getsize(dst) != size:
                            sys.exit(f"{s.name}: short download")
                        os.unlink(dst)
                    if os.path.exists(big):
                        os.unlink(big)
                if "mirror-up" not in only and "mirror-down" not in only:
                    continue
                # mirror-down needs the tree up there, so it is uploaded
                # either way, but recorded only when asked for.
                t = lftp_time(s, f'mirror -R "{small}" {s.prefix}small')
                if "mirror-up" in only:
                    res.setdefault((s.name, "ftp", "mirror -R"),
                                   []).append(a.files / t)
                if "mirror-down" in only:
                    down = os.path.join(work, "down")
                    t = lftp_time(s, f'mirror {s.prefix}small "{down}"')
                    res.setdefault((s.name, "ftp", "mirror"), []).append(a.files / t)
                    if len(os.listdir(down)) != a.files:
                        sys.exit(f"{s.name}: mirror lost files")
                    shutil.rmtree(down)
                shutil.rmtree(os.path.join(s.dir, "small"))
    finally:
        for s in servers:
            s.close()
        shutil.rmtree(work, ignore_errors=True)

    def fig(k):
        v = res[k]
        return f"{statistics.median(v):.0f} ({min(v):.0f}-{max(v):.0f})"

    print(f"### FTP: ssftpd --ftp against vsftpd, loopback, medians (min-max) "
          f"of {a.rounds} alternating rounds\n")
    names = [s.name for s in servers]
    print("| transfer | unit | " + " | ".join(names) + " | ssftpd/vsftpd |")
    print("| --- | --- | " + "---: | " * len(names) + "---: |")
    for key, (mode, op) in ROWS.items():
        if (names[0], mode, op) not in res:
            continue
        what = (f"{a.size_mib} MiB {op}, curl, {mode.upper()}" if op in
                ("STOR", "RETR") else
                f"{a.files} x {a.file_size} B, lftp {op}, FTP")
        unit = "MB/s" if op in ("STOR", "RETR") else "files/s"
        r = statistics.median(res[("ssftpd", mode, op)]) / statistics.median(
            res[("vsftpd", mode, op)])
        figs = " | ".join(fig((n, mode, op)) for n in names)
        print(f"| {what} | {unit} | {figs} | {r:.2f}x |")
    print("\nTarget: ssftpd >= 1.0x vsftpd in every row.")


if __name__ == "__main__":
    main()

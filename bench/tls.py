#!/usr/bin/env python3
"""tls.py -- what TLS costs ssftp: encrypted against plaintext and OpenSSH sftp.

One run measures, on 127.0.0.1 only, side by side:
  - TLS: `ssftp put` / `ssftp get` (verified with BLAKE2b on both ends) of a
    --size-mib file against this build's ssftpd (protocol 2, TLS 1.3);
  - plain: the same against plaintext builds of the code before TLS
    (--plain NAME=BUILD_DIR, repeatable: commit 05935ed as it was, and
    05935ed with the portable BLAKE2b of 26d647b, so that what TLS costs is
    told apart from what the faster hash gains; see bench/REPORT.md);
  - sftp: OpenSSH's sftp against its sshd (openssh-server), started here on a
    free port with throwaway host and user keys, default ciphers;
  - one core's BLAKE2b-256 speed (bench/b2speed), each round: the hash
    ssftp uses and libsodium's;
  - logins: `ssftp ls /` (connect, TLS, argon2id at the default cost, ls,
    quit) against each ssftpd, --logins of them per round.
Each round runs the sides in a rotated order (page-cache and first-touch
memory costs fall on whoever runs first), and a scratch file as large as the
transfer is written and deleted before each one (transfer.prime).
Prints medians with the spread (min-max) of --rounds rounds, and the ratios
of medians that issue 14 sets as targets.
"""
import argparse
import os
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchproc import fingerprint, start, stop
from transfer import PW, b2, free_port, kv, make_file, prime, run, timed


class Ssftp:
    """ssftpd of one build on an ephemeral port, ssftp of the same build."""

    def __init__(self, name, bd, work, tls):
        self.name = name
        self.work = work
        ssftpd = os.path.join(bd, "src/handler/ssftpd")
        self.root = os.path.join(work, name + "-root")
        for user, kdf in (("bench", ["--kdf-ops", "2", "--kdf-mem", "8388608"]),
                          ("login", [])):  # login: the default argon2id cost
            subprocess.run([ssftpd, "user", "add", user, "--root", self.root] + kdf,
                           input=PW + "\n" + PW + "\n", text=True, check=True,
                           capture_output=True)
        self.p, port = start([ssftpd, "--root", self.root, "--listen", "127.0.0.1:0"])
        self.env = dict(os.environ, SSFTP_PASSWORD=PW)
        pin = ["--host-key", fingerprint(ssftpd, self.root)] if tls else []
        self.cli = [os.path.join(bd, "src/client/ssftp"), "--no-progress"] + pin
        self.addr = f"127.0.0.1:{port}"

    def put(self, src):
        return timed(self.cli + ["-u", "bench", self.addr, "put", src, "/big.bin"],
                     env=self.env)

    def get(self, dst):
        return timed(self.cli + ["-u", "bench", self.addr, "get", "/big.bin", dst],
                     env=self.env)

    def stored(self):
        return os.path.join(self.root, "homes", "bench", "big.bin")

    def login(self):
        return timed(self.cli + ["-u", "login", self.addr, "ls", "/"], env=self.env)

    def close(self):
        stop(self.p)


class Sftp:
    """sshd on a free port of 127.0.0.1 with throwaway keys; sftp against it."""

    def __init__(self, work):
        self.name = "sftp"
        self.work = work
        d = os.path.join(work, "ssh")
        os.mkdir(d, 0o700)
        for key in ("host", "user"):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, key)])
        shutil.copy(os.path.join(d, "user.pub"), os.path.join(d, "authorized_keys"))
        self.home = os.path.join(work, "sftp-home")
        os.mkdir(self.home)
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation dir
        self.port = free_port()
        cfg = os.path.join(d, "sshd_config")
        with open(cfg, "w") as f:
            f.write(f"ListenAddress 127.0.0.1\nPort {self.port}\n"
                    f"HostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n"
                    "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                    "UsePAM no\nStrictModes no\nPermitRootLogin yes\n"
                    f"PidFile {d}/sshd.pid\nSubsystem sftp internal-sftp\n")
        self.p = subprocess.Popen([shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-e",
                                   "-f", cfg], stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(d, "sshd.log"), "w"))
        deadline = time.monotonic() + 10
        while True:  # readiness: the port accepts
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.p.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"sshd did not start: see {d}/sshd.log")
                time.sleep(0.05)
        self.cli = ["sftp", "-q", "-i", f"{d}/user", "-P", str(self.port),
                    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                    "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                    pwd.getpwuid(os.getuid()).pw_name + "@127.0.0.1"]
        self.cipher = self._cipher(d)

    def _cipher(self, d):
        out = subprocess.run(["ssh", "-v", "-i", f"{d}/user", "-p", str(self.port),
                              "-o", "StrictHostKeyChecking=no",
                              "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                              self.cli[-1], "true"], capture_output=True, text=True)
        for line in out.stderr.splitlines():
            if "kex: server->client cipher:" in line:
                return line.split("cipher:")[1].split()[0]
        return "?"

    def _batch(self, cmd):
        return timed(self.cli[:1] + ["-b", "-"] + self.cli[1:], input=cmd + "\n")

    def put(self, src):
        return self._batch(f"put {src} {self.home}/big.bin")

    def get(self, dst):
        return self._batch(f"get {self.home}/big.bin {dst}")

    def stored(self):
        return os.path.join(self.home, "big.bin")

    def close(self):
        stop(self.p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--plain", action="append", default=[], metavar="NAME=DIR",
                    help="a plaintext build to compare with (repeatable)")
    ap.add_argument("--tls", action="append", default=[], metavar="NAME=DIR",
                    help="another TLS build to run beside this one, e.g. the "
                         "commit before a change (repeatable)")
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--logins", type=int, default=5, help="logins per side per round")
    ap.add_argument("--no-sftp", action="store_true", help="leave OpenSSH out")
    ap.add_argument("--workdir", help="scratch directory (default: a temp dir)")
    a = ap.parse_args()
    size = a.size_mib << 20
    mb = size / 1e6
    work = tempfile.mkdtemp(prefix="ssftp-tls-", dir=a.workdir)
    res = {}
    sides = []
    impl = "?"
    ok = {}

    def add(key, v):
        res.setdefault(key, []).append(v)

    try:
        src = os.path.join(work, "src.bin")
        make_file(src, size)
        want = b2(src)
        plains = [x.split("=", 1) for x in a.plain]
        tlses = [x.split("=", 1) for x in a.tls]
        sides = [Ssftp("tls", a.build_dir, work, True)]
        sides += [Ssftp(name, d, work, True) for name, d in tlses]
        sides += [Ssftp(name, d, work, False) for name, d in plains]
        if not a.no_sftp:
            sides.append(Sftp(work))
        dst = os.path.join(work, "got.bin")
        for r in range(a.rounds):
            b2s = kv(run([os.path.join(a.build_dir, "bench/b2speed"),
                          "--mib", "256"]).stdout)
            add("b2", float(b2s["mb_s"]))
            add("b2 sodium", float(b2s["sodium_mb_s"]))
            impl = b2s["impl"]
            order = sides[r % len(sides):] + sides[:r % len(sides)]
            for s in order:
                prime(work, size)
                add(s.name + " put", mb / s.put(src))
                prime(work, size)
                add(s.name + " get", mb / s.get(dst))
                ok[s.name] = ok.get(s.name, True) and b2(dst) == want and b2(s.stored()) == want
                os.unlink(dst)
                if isinstance(s, Ssftp):
                    for _ in range(a.logins):
                        add(s.name + " login", s.login() * 1000)
    finally:
        for s in sides:
            s.close()
        shutil.rmtree(work, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in res.items()}

    def fig(k, unit="MB/s"):
        v = res[k]
        return f"{med[k]:.0f} ({min(v):.0f}-{max(v):.0f}) {unit}"

    names = [n for n, _ in plains]
    tnames = [n for n, _ in tlses]
    print(f"### TLS cost: {a.size_mib} MiB, loopback, medians (min-max) of {a.rounds} "
          f"rotated rounds\n")
    cols = (["TLS 1.3 (this build)"] + [f"TLS 1.3 `{n}`" for n in tnames] +
            [f"plaintext `{n}`" for n in names])
    has_sftp = "sftp put" in res
    if has_sftp:
        cols.append("OpenSSH sftp")
    print("| measurement | " + " | ".join(cols) + " |")
    print("| --- |" + " ---: |" * len(cols))
    for op in ("put", "get"):
        row = [fig("tls " + op)] + [fig(n + " " + op) for n in tnames + names]
        if has_sftp:
            row.append(fig("sftp " + op))
        print(f"| {op} (verified for ssftp) | " + " | ".join(row) + " |")
    row = [fig("tls login", "ms")] + [fig(n + " login", "ms") for n in tnames + names]
    print("| login (ls /, default argon2id) | " + " | ".join(row) +
          (" | |" if has_sftp else " |"))
    print(f"\nBLAKE2b-256 on one core: {fig('b2')} as ssftp hashes "
          f"({impl}), {fig('b2 sodium')} with libsodium's.\n")
    targets = []
    for op, want_b2 in (("put", 0.6), ("get", 0.8)):
        t = med["tls " + op]
        for n in names:
            targets.append((f"{op}: TLS / plaintext `{n}`", t / med[n + " " + op], 0.85))
        if has_sftp:
            targets.append((f"{op}: TLS / sftp", t / med["sftp " + op], 1.5))
            for n in tnames:
                targets.append((f"{op}: TLS `{n}` / sftp",
                                med[n + " " + op] / med["sftp " + op], 1.5))
        targets.append((f"{op}: TLS / BLAKE2b as ssftp hashes", t / med["b2"], want_b2))
        targets.append((f"{op}: TLS / libsodium's BLAKE2b", t / med["b2 sodium"], want_b2))
    for n in names:
        targets.append((f"login: `{n}` time / TLS time", med[n + " login"] / med["tls login"],
                        1 / 1.3))
    print("| ratio of medians | value | target | |")
    print("| --- | ---: | ---: | --- |")
    for name, v, want_v in targets:
        print(f"| {name} | {v:.2f} | ≥ {want_v:.2f} | {'met' if v >= want_v else 'NOT met'} |")
    print()
    cipher = sides[-1].cipher if has_sftp else "-"
    print("Digests match: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in ok.items())
          + f". OpenSSH cipher: {cipher}.")


if __name__ == "__main__":
    main()

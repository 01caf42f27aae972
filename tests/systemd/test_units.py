#!/usr/bin/env python3
"""The systemd units in the tree are valid and sandboxed.

Usage: test_units.py SERVICE SOCKET INSTALLED_SSFTPD BUILT_SSFTPD [MANDIR]

- ssftpd.service as meson configured it starts the ssftpd `meson install`
  puts in bindir;
- `systemd-analyze verify` accepts both units (ExecStart pointed at the
  built ssftpd, since the installed one need not exist yet; the man pages
  their Documentation= names are looked up in MANDIR, the tree's docs/man,
  when given);
- `systemd-analyze security --offline=yes` rates ssftpd.service's exposure
  below MAX_EXPOSURE (measured: 1.4 with systemd 252).

Skipped (exit 77) only where systemd-analyze is not installed.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

MAX_EXPOSURE = 2.0
SKIP = 77


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def exec_start(text):
    m = re.search(r"^ExecStart=(.*)$", text, re.M)
    if not m:
        fail("no ExecStart= in ssftpd.service")
    return m


def main():
    service, socket_unit, installed, built = sys.argv[1:5]
    built = os.path.abspath(built)
    mandir = sys.argv[5] if len(sys.argv) > 5 else None
    with open(service) as f:
        text = f.read()
    m = exec_start(text)
    argv = shlex.split(m.group(1))
    if argv[0] != installed:
        fail(f"ExecStart runs {argv[0]}, meson installs {installed}")
    for want in ("Type=notify", "User=ssftpd", "StateDirectory=ssftpd",
                 "--root /var/lib/ssftpd", "ProtectSystem=strict",
                 "NoNewPrivileges=yes", "CapabilityBoundingSet=\n"):
        if want not in text:
            fail(f"ssftpd.service lacks {want!r}")
    with open(socket_unit) as f:
        sock = f.read()
    if "FileDescriptorName=native" not in sock:
        fail("ssftpd.socket does not name its socket native")
    # Both fail openat2 with ENOSYS, and the jails are built on it
    # (test_live.py shows it under a real systemd).
    for bad in ("DynamicUser=yes", "RestrictSUIDSGID=yes"):
        if re.search(rf"^{bad}$", text, re.M):
            fail(f"ssftpd.service sets {bad}: its seccomp filter fails "
                 "openat2, so every upload would fail")
    print(f"ExecStart: {argv[0]} (the installed path)")

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("SKIP: systemd-analyze not installed (apt-get install systemd)")
        sys.exit(SKIP)
    tmp = tempfile.mkdtemp(prefix="ssftpd-units-")
    try:
        unit = os.path.join(tmp, "ssftpd.service")
        with open(unit, "w") as f:
            f.write(text[:m.start(1)] + shlex.join([built, *argv[1:]]) +
                    text[m.end(1):])
        shutil.copy(socket_unit, os.path.join(tmp, "ssftpd.socket"))
        env = dict(os.environ)
        man = ["--man=no"]
        if mandir is not None:
            # man wants man8/ssftpd.8: the tree's pages, laid out so.
            for page in os.listdir(mandir):
                sec = page.rsplit(".", 1)[-1]
                if sec.isdigit():
                    os.makedirs(os.path.join(tmp, "man", "man" + sec),
                                exist_ok=True)
                    os.symlink(os.path.join(mandir, page),
                               os.path.join(tmp, "man", "man" + sec, page))
            env["MANPATH"] = os.path.join(tmp, "man")
            man = []
        r = subprocess.run([analyze, "verify", *man, unit,
                            os.path.join(tmp, "ssftpd.socket")],
                           capture_output=True, text=True, env=env,
                           timeout=60)
        print(f"systemd-analyze verify: exit {r.returncode} {r.stderr}")
        if r.returncode != 0 or r.stderr.strip():
            fail("systemd-analyze verify: " + r.stderr + r.stdout)

        helptext = subprocess.run([analyze, "--help"], capture_output=True,
                                  text=True, timeout=60).stdout
        if "--offline" not in helptext:
            print("systemd-analyze has no --offline: security not rated")
            return
        r = subprocess.run([analyze, "security", "--offline=yes", "--no-pager",
                            unit], capture_output=True, text=True,
                           timeout=60)
        got = re.search(r"Overall exposure level for ssftpd\.service: "
                        r"([0-9.]+)", r.stdout)
        if got is None:
            fail("no exposure level: " + r.stdout[-2000:] + r.stderr)
        score = float(got.group(1))
        print(f"exposure {score} (at most {MAX_EXPOSURE})")
        if score >= MAX_EXPOSURE:
            fail(f"exposure {score} >= {MAX_EXPOSURE}:\n" + r.stdout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

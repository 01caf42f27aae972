#!/usr/bin/env python3
"""ssftp(1): formats without a warning from man --warnings, and documents
every command and the exit codes that ssftp --help lists.

Usage: test_man.py SSFTP MANPAGE
"""
import os
import re
import shutil
import subprocess
import sys


def main():
    ssftp, page = sys.argv[1], sys.argv[2]
    if shutil.which("man") is None:
        print("man not found: skipped")
        return 77
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", page],
                       capture_output=True, text=True, env=env, timeout=60)
    if r.returncode != 0 or r.stderr:
        print(f"man --warnings: {r.returncode}\n{r.stderr}")
        return 1
    text = re.sub(r".\x08", "", r.stdout)
    usage = subprocess.run([ssftp, "--help"], capture_output=True, text=True,
                           timeout=60).stdout
    names = re.findall(r"(?m)^  (\S+?)(?=[ A-Z\[]|$)", usage.split(
        "Commands:\n", 1)[1])
    missing = [n for n in names if not re.search(
        r"(?m)^ {7}.*" + re.escape(n), text)]
    for code in ("0", "1", "2", "3", "4", "130"):
        if not re.search(r"(?m)^ {7}" + code + r"\s", text):
            missing.append(f"exit status {code}")
    if "--version" not in text:
        missing.append("--version")
    if missing:
        print("not in the man page:", ", ".join(missing))
        return 1
    print(f"{len(names)} commands documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())

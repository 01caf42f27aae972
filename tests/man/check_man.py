#!/usr/bin/env python3
"""check_man.py SSFTPD PAGE... -- the man pages render without a warning
from `man --warnings`, ssftpd(8) names every long option of `ssftpd --help`
and ssftpd.conf(5) every one of them that is a config key.  Skipped (77)
without man."""
import os
import re
import shutil
import subprocess
import sys

NOT_KEYS = {"config", "check", "version", "help"}


def main():
    ssftpd, pages = sys.argv[1], sys.argv[2:]
    if shutil.which("man") is None:
        print("skipped: no man command")
        return 77
    failed = False
    for page in pages:
        r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l",
                            "-Tutf8", page], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, MANWIDTH="80"))
        if r.returncode != 0 or r.stderr.strip():
            print(f"{page}: man --warnings: {r.returncode}\n{r.stderr}")
            failed = True
    helptext = subprocess.run([ssftpd, "--help"], capture_output=True,
                              text=True, timeout=30, check=True).stdout
    options = set(re.findall(r"--([a-z][a-z-]+)", helptext))
    by_name = {os.path.basename(p): open(p).read() for p in pages}
    server = by_name["ssftpd.8"].replace("\\-", "-")
    conf = by_name["ssftpd.conf.5"].replace("\\-", "-")
    for o in sorted(options):
        if "--" + o not in server:
            print(f"ssftpd.8 does not name --{o}")
            failed = True
        if o not in NOT_KEYS and not re.search(rf"\.BR {re.escape(o)}\b",
                                              conf):
            print(f"ssftpd.conf.5 does not list the key {o}")
            failed = True
    print("FAILED" if failed else f"ok: {len(pages)} pages, "
          f"{len(options)} options")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The man pages render without a warning and cover the --help texts.

Usage: check_man.py SSFTPD SSFTP PAGE...

- `man --warnings -l -Tutf8 PAGE` and `groff -ww -z -man PAGE` (each where
  installed) say nothing on stderr;
- every long option `ssftpd --help` lists is in ssftpd(8) and, as a key, in
  ssftpd.conf(5); every `ssftpd user` command is in ssftpd(8); every option
  and command `ssftp --help` lists is in ssftp(1).

Skipped (exit 77) only where neither man nor groff is installed.
"""
import os
import re
import shutil
import subprocess
import sys

SKIP = 77


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          **kw)


def plain(page):
    """The page's text as roff source with escapes for '-' undone."""
    with open(page) as f:
        return f.read().replace("\\-", "-").replace("\\fP", "").replace(
            "\\fR", "").replace("\\fI", "").replace("\\fB", "")


def main():
    ssftpd, ssftp, pages = sys.argv[1], sys.argv[2], sys.argv[3:]
    failures = []
    tools = []
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    if shutil.which("man"):
        tools.append(["man", "--warnings", "-l", "-Tutf8"])
    if shutil.which("groff"):
        tools.append(["groff", "-ww", "-z", "-man"])
    for page in pages:
        for tool in tools:
            r = run(tool + [page], env=env)
            if r.returncode != 0 or r.stderr.strip():
                failures.append(f"{' '.join(tool)} {page}: exit "
                                f"{r.returncode}: {r.stderr.strip()}")
    by_name = {os.path.basename(p): plain(p) for p in pages}

    # ssftpd --help: every --option in ssftpd(8) and as a key in the conf.
    server_help = run([ssftpd, "--help"]).stdout + run([ssftpd, "--help"]).stderr
    opts = sorted(set(re.findall(r"^\s+(--[a-z][a-z-]*)", server_help, re.M)))
    if len(opts) < 10:
        failures.append(f"ssftpd --help lists only {opts}")
    for o in opts:
        if o not in by_name["ssftpd.8"]:
            failures.append(f"ssftpd.8 lacks {o}")
        key = o[2:]
        if key in ("config", "help", "version"):
            continue
        if not re.search(rf'^\.B[IR]? "{re.escape(key)} = ',
                         by_name["ssftpd.conf.5"], re.M):
            failures.append(f"ssftpd.conf.5 lacks the key {key}")
    user_help = run([ssftpd, "user", "--help"])
    for cmd in sorted(set(re.findall(r"ssftpd user (\w+)",
                                     user_help.stdout + user_help.stderr))):
        if not re.search(rf"user {cmd}\b", by_name["ssftpd.8"]):
            failures.append(f"ssftpd.8 lacks user {cmd}")

    # ssftp --help: options and commands in ssftp(1).
    client_help = run([ssftp, "--help"])
    text = client_help.stdout + client_help.stderr
    usage = text.split("Commands:")[0]
    for o in sorted(set(re.findall(r"\[(-{1,2}[a-z][a-z-]*)", usage))):
        if o not in by_name["ssftp.1"]:
            failures.append(f"ssftp.1 lacks {o}")
    cmds = re.findall(r"^  (\S+)", text.split("Commands:")[1], re.M)
    if len(cmds) < 8:
        failures.append(f"ssftp --help lists only the commands {cmds}")
    for c in cmds:
        if c.startswith("!"):  # "!COMMAND": the command is "!"
            c = "!"
        # On a font macro's line (.B, .BI, .BR, ...), as a word: a page may
        # give two commands one entry (".BI cd PATH, pwd").
        if not re.search(rf"^\.(B|BI|BR|RB)\b.*(?<![\w-]){re.escape(c)}"
                         rf"(?![\w-])", by_name["ssftp.1"], re.M):
            failures.append(f"ssftp.1 lacks the command {c}")

    print(f"{len(pages)} pages, checked with "
          f"{', '.join(t[0] for t in tools) or 'nothing'}; "
          f"{len(opts)} server options, {len(cmds)} client commands")
    for f in failures:
        print("FAIL: " + f)
    if failures:
        sys.exit(1)
    if not tools:
        print("SKIP: neither man nor groff is installed "
              "(apt-get install man-db groff-base)")
        sys.exit(SKIP)


if __name__ == "__main__":
    main()

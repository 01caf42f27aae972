#!/usr/bin/env python3
"""test_subproject.py -- builds a tiny parent project with the library as a meson subproject and checks what it builds and installs.

    test_subproject.py SOURCE_ROOT MESON

Copies SOURCE_ROOT (without build directories or .git) into a temporary
parent's subprojects/socketserver, sets it up with the fallback forced (so the
parent's dependency('socketserver') finds meson.override_dependency's), builds,
runs a program linked against the library, installs into a DESTDIR, and
checks: the parent's build made only the library's targets; the install holds
libsocketserver, socketserver.h and socketserver.pc and nothing of
ssftpd/ssftp, examples, benches or tests; no test was registered.  Offline
(--wrap-mode=nodownload), every step under a timeout.  Stdlib only.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

STEP_TIMEOUT = 150  # seconds for any one meson step

PARENT_BUILD = """project('parent', 'c', default_options : ['c_std=c17'])
ss = dependency('socketserver')
exe = executable('uses_socketserver', 'main.c', dependencies : ss)
test('uses_socketserver', exe)
"""

PARENT_MAIN = """#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "socketserver.h"

int main(void)
{
    ss_config c;
    ss_config_init(&c, SS_TCP);
    if (c.kind != SS_TCP || strcmp(ss_strerror(-EUSERS), "too many connections") != 0)
        return 1;
    puts("linked");
    return 0;
}
"""


def ignore_builds(directory, names):
    if os.path.abspath(directory) == ROOT:
        return [n for n in names if n == ".git" or n.startswith("build")
                or n == "subprojects"]
    return [n for n in names if n == "__pycache__"]


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=STEP_TIMEOUT, **kw)
    if r.returncode != 0:
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {r.returncode}")
    return r.stdout


def main(argv):
    global ROOT
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    ROOT, meson = os.path.abspath(argv[1]), argv[2]
    problems = []
    with tempfile.TemporaryDirectory(prefix="ss-subproject-") as tmp:
        parent = os.path.join(tmp, "parent")
        shutil.copytree(ROOT, os.path.join(parent, "subprojects", "socketserver"),
                        ignore=ignore_builds, symlinks=True)
        with open(os.path.join(parent, "meson.build"), "w") as f:
            f.write(PARENT_BUILD)
        with open(os.path.join(parent, "main.c"), "w") as f:
            f.write(PARENT_MAIN)
        build = os.path.join(tmp, "build")
        env = dict(os.environ)
        # The parent's own build, not the one this test runs under.
        for k in ("MESON_TESTTHREADS", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                  "TSAN_OPTIONS", "MALLOC_PERTURB_"):
            env.pop(k, None)
        run([meson, "setup", build, parent, "--wrap-mode=nodownload",
             "--force-fallback-for=socketserver", "--prefix=/usr",
             "--libdir=lib"], env=env)
        run([meson, "compile", "-C", build], env=env)
        out = run([os.path.join(build, "uses_socketserver")], env=env)
        if out.strip() != "linked":
            problems.append(f"the parent's program printed {out!r}")

        targets = json.loads(run([meson, "introspect", "--targets", build], env=env))
        names = sorted(t["name"] for t in targets)
        wanted = {"socketserver", "uses_socketserver"}
        extra = [n for n in names if n not in wanted]
        if extra:
            problems.append(f"the parent built more than the library: {extra}")
        tests = json.loads(run([meson, "introspect", "--tests", build], env=env))
        foreign = [t["name"] for t in tests if t["name"] != "uses_socketserver"]
        if foreign:
            problems.append(f"the subproject registered tests in the parent: {foreign}")

        dest = os.path.join(tmp, "dest")
        run([meson, "install", "-C", build, "--destdir", dest, "--no-rebuild"],
            env=env)
        installed = sorted(
            os.path.relpath(os.path.join(d, f), dest)
            for d, _, files in os.walk(dest) for f in files)
        print("installed:\n  " + "\n  ".join(installed))
        for need in ("usr/include/socketserver.h",
                     "usr/lib/pkgconfig/socketserver.pc",
                     "usr/lib/libsocketserver.a",
                     "usr/lib/libsocketserver.so.1.1.0"):
            if need not in installed:
                problems.append(f"not installed: {need}")
        for path in installed:
            base = os.path.basename(path)
            if not (base.startswith("libsocketserver.") or
                    base in ("socketserver.h", "socketserver.pc")):
                problems.append(f"installed but not the library's: {path}")
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


ROOT = ""
if __name__ == "__main__":
    sys.exit(main(sys.argv))

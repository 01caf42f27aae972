"""benchproc.py -- the benches' one way to start a server (wait for its "listening on HOST:PORT" line, bounded) and stop it."""
import re
import select
import signal
import subprocess
import sys


def read_line(p, timeout, what):
    """p's next stdout line, stripped; exits if none comes within timeout
    seconds (a server that hangs must not hang the bench)."""
    ready, _, _ = select.select([p.stdout], [], [], timeout)
    line = p.stdout.readline() if ready else ""
    if not line:
        sys.exit(f"{what}: no line within {timeout:g} s")
    return line.strip()


def stop(p, timeout=10):
    """SIGTERM, then SIGKILL if p has not exited within timeout seconds."""
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def start(argv, timeout=10, **kw):
    """Starts argv with a piped stdout and returns (process, port) once it
    prints "listening on HOST:PORT" -- no fixed sleep for readiness."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, **kw)
    try:
        line = read_line(p, timeout, argv[0])
    except SystemExit:
        p.kill()
        p.wait()
        raise
    m = re.match(r"listening on (\S+):(\d+)$", line)
    if not m:
        p.kill()
        p.wait()
        sys.exit(f"{argv[0]}: no listening line (got {line!r})")
    return p, int(m.group(2))


def fingerprint(ssftpd, root):
    """The key of the ssftpd serving root (made at its first start), for
    ssftp --host-key: the benches talk to their own server."""
    return subprocess.run([ssftpd, "fingerprint", "--root", root], check=True,
                          capture_output=True, text=True,
                          timeout=30).stdout.strip()

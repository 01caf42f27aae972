#!/usr/bin/env python3
"""ssftpd.service and ssftpd.socket under a real systemd.

Usage: test_live.py SERVICE SOCKET SYSUSERS SSFTPD SSFTP SANITIZE

systemd is booted as PID 1 of new PID and mount namespaces (unshare), to
sysinit.target, with its own /run, /var/lib, /var/log, /tmp and /var/tmp
(empty tmpfs), /etc (a copy holding the tree's units and sysusers.d entry)
and /sys and /proc/sys read-only, so nothing of the machine changes and
the namespace dies with its PID 1.  The network
is the machine's: the socket unit listens on 127.0.0.1, port 0, and the
port is read back from systemd's own descriptor.  Then, as an admin would:

- the first connection starts the service (socket activation), which is
  active only once it has said READY=1 (Type=notify);
- sysusers.d made the ssftpd user the service runs as, and StateDirectory=
  its data root; `ssftpd user add` as root keeps that root's owner;
- put, mkdir, put -p, mv, stat, ls, get through the real client, byte for
  byte: every path goes through openat2 under the unit's seccomp filter
  (DynamicUser=, which implies RestrictSUIDSGID=, made it fail ENOSYS and
  every upload "internal"; ssftpd now refuses to start so, with the cause);
- the sandbox is in force (uid, NoNewPrivs, seccomp), `systemctl reload`
  keeps the process, the journal's lines carry no second timestamp, and
  `systemctl stop` ends it with success.

Skipped (exit 77) where it cannot run: not root, no systemd, unshare or
nsenter, a sanitizer build (LeakSanitizer needs ptrace, which the unit's
filter refuses), or a systemd that does not come up in BOOT_TIMEOUT.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

SKIP = 77
BOOT_TIMEOUT = 60
TIMEOUT = 30
PASSWORD = "correct horse"
KDF = ["--kdf-ops", "2", "--kdf-mem", str(8 << 20)]
SYSTEMD = "/lib/systemd/systemd"
BIN = "/var/lib/ssftpd-live/ssftpd"  # inside the namespace

# Run by sh inside the namespaces: private mounts, then systemd.  Every
# place a booting systemd writes is its own: /etc a copy, /run, /var/lib,
# /var/log, and /tmp and /var/tmp (systemd-tmpfiles empties /tmp at boot)
# fresh tmpfs; /sys and /proc/sys read-only, as in a container, so the
# units that would tune the machine's kernel or devices skip themselves.
BOOT = r"""
set -e
mount --bind "$1/etc" /etc
for d in /run /var/lib /var/log; do
    mount -t tmpfs -o mode=0755 ssftpd-live "$d"
done
mkdir -p /var/lib/ssftpd-live
cp "$2" /var/lib/ssftpd-live/ssftpd
mount -t tmpfs -o mode=1777 ssftpd-live /tmp
mount -t tmpfs -o mode=1777 ssftpd-live /var/tmp
mount -o remount,bind,ro /sys
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
exec env -i container=ssftpd-test "$3" --system --unit=sysinit.target
"""

# Masked in the copy of /etc: what would touch the machine beyond the
# namespace even so (modules, the console, timers' jobs).
MASK = ("systemd-modules-load.service", "systemd-sysctl.service",
        "systemd-binfmt.service", "systemd-udevd.service",
        "systemd-udev-trigger.service", "systemd-udev-settle.service",
        "keyboard-setup.service", "console-setup.service",
        "systemd-vconsole-setup.service", "systemd-tmpfiles-clean.timer",
        "proc-sys-fs-binfmt_misc.automount")

# ssftpd under the filter DynamicUser= brought (no D-Bus here for
# systemd-run, so a unit of its own).
PROBE_ROOT = "/var/lib/ssftpd-probe"
PROBE = f"""[Service]
Type=notify
RestrictSUIDSGID=yes
ExecStart={BIN} --root {PROBE_ROOT} --listen 127.0.0.1:0
"""

SERVICE = SOCKET = SYSUSERS = SSFTPD = SSFTP = None


def skip(why):
    print("SKIP: " + why)
    sys.exit(SKIP)


class Namespace:
    """A systemd booted in namespaces of its own."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="ssftpd-live-")
        self.log = open(os.path.join(self.tmp, "systemd.log"), "w+b")
        self.proc = None
        self.pid = None  # systemd's pid as this namespace sees it
        self.hold = None  # the socket.socket keeping the port for systemd
        self.port = None

    def stage(self):
        etc = os.path.join(self.tmp, "etc")
        shutil.copytree("/etc", etc, symlinks=True)
        with open(SERVICE) as f:
            unit = f.read()
        unit, n = re.subn(r"^ExecStart=\S+", f"ExecStart={BIN}", unit,
                          flags=re.M)
        assert n == 1, "no ExecStart= in ssftpd.service"
        with open(SOCKET) as f:
            sock = f.read()
        # systemd refuses port 0: the port is one this process bound (port
        # 0, read back) and holds, unlistened, until systemd has it too;
        # ReusePort= lets both bind it, and only a listening socket is
        # given connections.
        self.hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.hold.bind(("127.0.0.1", 0))
        self.port = self.hold.getsockname()[1]
        sock, n = re.subn(r"^ListenStream=.*$",
                          f"ListenStream=127.0.0.1:{self.port}\nReusePort=yes",
                          sock, flags=re.M)
        assert n == 1, "no ListenStream= in ssftpd.socket"
        units = os.path.join(etc, "systemd", "system")
        os.makedirs(units, exist_ok=True)
        for name, text in (("ssftpd.service", unit), ("ssftpd.socket", sock)):
            with open(os.path.join(units, name), "w") as f:
                f.write(text)
        for name in MASK:
            path = os.path.join(units, name)
            if os.path.lexists(path):
                os.unlink(path)
            os.symlink("/dev/null", path)
        with open(os.path.join(units, "ssftpd-probe.service"), "w") as f:
            f.write(PROBE)
        os.makedirs(os.path.join(etc, "sysusers.d"), exist_ok=True)
        shutil.copy(SYSUSERS, os.path.join(etc, "sysusers.d", "ssftpd.conf"))

    def boot(self):
        self.stage()
        self.proc = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--mount", "--mount-proc",
             "--propagation", "private", "sh", "-c", BOOT, "boot", self.tmp,
             SSFTPD, SYSTEMD],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            start_new_session=True)
        deadline = time.monotonic() + BOOT_TIMEOUT
        children = f"/proc/{self.proc.pid}/task/{self.proc.pid}/children"
        state = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.pid is None:
                try:
                    with open(children) as f:
                        kids = f.read().split()
                except OSError:
                    kids = []
                if kids and os.readlink(f"/proc/{kids[0]}/exe").endswith(
                        "/systemd"):
                    self.pid = int(kids[0])
            if self.pid is not None:
                state = self.run("systemctl", "is-system-running",
                                 check=False).stdout.strip()
                if state in ("running", "degraded"):
                    return True
            time.sleep(0.1)  # polling for a state, not a fixed wait
        print(f"systemd did not come up (state {state!r}); its log:\n" +
              self.log_text()[-3000:])
        return False

    def run(self, *cmd, check=True, input=None):
        """cmd inside the namespaces, as root."""
        r = subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-p", *cmd],
                           input=input, capture_output=True, text=True,
                           timeout=TIMEOUT)
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)}: exit {r.returncode}\n"
                                 f"{r.stdout}{r.stderr}")
        return r

    def path(self, p):
        """A path of the namespace, from here."""
        return f"/proc/{self.pid}/root{p}"

    def prop(self, unit, name):
        return self.run("systemctl", "show", "-P", name, unit).stdout.strip()

    def wait_prop(self, unit, name, want):
        deadline = time.monotonic() + TIMEOUT
        got = None
        while time.monotonic() < deadline:
            got = self.prop(unit, name)
            if got == want:
                return
            time.sleep(0.05)
        raise AssertionError(f"{unit} {name} is {got!r}, not {want!r}\n" +
                             self.journal())

    def listen_port(self):
        """The port of the 127.0.0.1 listening socket systemd holds (then
        ours, held for it, goes)."""
        inodes = set()
        fds = f"/proc/{self.pid}/fd"
        for fd in os.listdir(fds):
            try:
                target = os.readlink(os.path.join(fds, fd))
            except OSError:
                continue
            m = re.fullmatch(r"socket:\[(\d+)\]", target)
            if m:
                inodes.add(m.group(1))
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                addr, port = fields[1].split(":")
                if fields[3] == "0A" and addr == "0100007F" and \
                        fields[9] in inodes and int(port, 16) == self.port:
                    self.hold.close()
                    return self.port
        raise AssertionError("systemd holds no socket listening on 127.0.0.1")

    def journal(self):
        return self.run("journalctl", "-u", "ssftpd.service", "-o", "cat",
                        "--no-pager", check=False).stdout

    def log_text(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def close(self):
        if self.proc is not None:
            if self.pid is not None:
                try:  # PID 1 of its namespace: all of it goes with it
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        if self.hold is not None:
            self.hold.close()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class LiveSystemd(unittest.TestCase):
    ns = None
    port = None

    @classmethod
    def setUpClass(cls):
        cls.ns = ns = Namespace()
        cls.work = os.path.join(ns.tmp, "work")
        os.mkdir(cls.work)
        if not ns.boot():
            ns.close()
            skip(f"systemd did not reach sysinit.target in {BOOT_TIMEOUT} s")
        # As after meson install: the service's user, then its socket.
        ns.run("systemd-sysusers")
        ns.run("systemctl", "start", "ssftpd.socket")
        cls.port = ns.listen_port()
        # The first connection starts ssftpd; active means READY=1 came.
        with socket.create_connection(("127.0.0.1", cls.port), TIMEOUT):
            ns.wait_prop("ssftpd.service", "ActiveState", "active")
        ns.run(BIN, "user", "add", "alice", "--root", "/var/lib/ssftpd", *KDF,
               input=PASSWORD + "\n")

    @classmethod
    def tearDownClass(cls):
        if cls.ns is not None:
            cls.ns.close()

    def cli(self, *cmd, input=None):
        env = dict(os.environ, SSFTP_PASSWORD=PASSWORD,
                   XDG_CONFIG_HOME=os.path.join(self.ns.tmp, "xdg"))
        return subprocess.run(
            [SSFTP, "-u", "alice", "--no-progress", "--accept-new-host-key",
             f"127.0.0.1:{self.port}", *cmd], cwd=self.work, env=env,
            text=True, capture_output=True, input=input, timeout=TIMEOUT)

    def main_pid(self):
        return self.ns.prop("ssftpd.service", "MainPID")

    def test_a_the_data_root_is_the_service_users(self):
        uid = self.ns.run("id", "-u", "ssftpd").stdout.strip()
        for p in ("/var/lib/ssftpd", "/var/lib/ssftpd/users.json",
                  "/var/lib/ssftpd/homes/alice"):
            st = os.stat(self.ns.path(p))
            self.assertEqual(str(st.st_uid), uid, p)
        self.assertEqual(self.ns.prop("ssftpd.service", "User"), "ssftpd")

    def test_b_files_go_up_and_come_back_the_same(self):
        data = os.urandom(3 << 20)
        with open(os.path.join(self.work, "up.bin"), "wb") as f:
            f.write(data)
        os.utime(os.path.join(self.work, "up.bin"), (1e9, 1e9))
        r = self.cli(input="put up.bin\nmkdir d\nput -p up.bin d/x.bin\n"
                     "mv d/x.bin d/y.bin\nstat d/y.bin\nls -l d\n"
                     "get up.bin back.bin\nget -p d/y.bin y.bin\n")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr +
                         self.ns.journal())
        self.assertIn("y.bin", r.stdout)
        for name in ("back.bin", "y.bin"):
            with open(os.path.join(self.work, name), "rb") as f:
                self.assertEqual(f.read(), data, name)
        self.assertEqual(
            int(os.stat(os.path.join(self.work, "y.bin")).st_mtime), 10**9)
        home = self.ns.path("/var/lib/ssftpd/homes/alice")
        self.assertEqual(sorted(os.listdir(home)), ["d", "up.bin"])

    def test_c_the_sandbox_is_in_force(self):
        status = self.ns.run("cat", f"/proc/{self.main_pid()}/status").stdout
        uid = self.ns.run("id", "-u", "ssftpd").stdout.strip()
        self.assertRegex(status, rf"(?m)^Uid:\s+{uid}\s+{uid}\s")
        self.assertRegex(status, r"(?m)^NoNewPrivs:\s+1$")
        self.assertRegex(status, r"(?m)^Seccomp:\s+2$")
        self.assertRegex(status, r"(?m)^CapEff:\s+0+$")

    def test_d_reload_keeps_the_process_and_its_sessions(self):
        pid = self.main_pid()
        self.ns.run("systemctl", "reload", "ssftpd.service")
        self.ns.wait_prop("ssftpd.service", "ActiveState", "active")
        self.assertEqual(self.main_pid(), pid)
        r = self.cli("ls")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_e_journal_lines_carry_no_second_timestamp(self):
        text = self.ns.journal()
        self.assertIn("login ok", text)
        for line in text.splitlines():
            self.assertNotRegex(line, r"^\d{4}-\d\d-\d\dT", line)

    def test_f_a_filter_that_hides_openat2_is_named_at_start(self):
        self.ns.run(BIN, "init", "--root", PROBE_ROOT)
        self.ns.run("systemctl", "start", "ssftpd-probe.service", check=False)
        self.ns.wait_prop("ssftpd-probe.service", "ActiveState", "failed")
        self.assertEqual(self.ns.prop("ssftpd-probe.service", "Result"),
                         "exit-code")
        text = self.ns.run("journalctl", "-u", "ssftpd-probe.service", "-o",
                           "cat", "--no-pager").stdout
        self.assertIn("openat2: Function not implemented", text)
        self.assertIn("RestrictSUIDSGID=", text)
        self.assertNotIn("listening on", text)

    def test_z_stop_drains_and_succeeds(self):
        self.ns.run("systemctl", "stop", "ssftpd.service")
        self.ns.wait_prop("ssftpd.service", "ActiveState", "inactive")
        self.assertEqual(self.ns.prop("ssftpd.service", "Result"), "success")
        self.assertIn("stopped", self.ns.journal())


def main():
    global SERVICE, SOCKET, SYSUSERS, SSFTPD, SSFTP
    SERVICE, SOCKET, SYSUSERS, SSFTPD, SSFTP, sanitize = sys.argv[1:7]
    SSFTPD, SSFTP = os.path.abspath(SSFTPD), os.path.abspath(SSFTP)
    del sys.argv[1:7]
    if sanitize not in ("", "none"):
        skip(f"a -Db_sanitize={sanitize} build: the unit's filter refuses "
             "what the sanitizer needs")
    if os.geteuid() != 0:
        skip("booting systemd in namespaces needs root")
    for tool in ("unshare", "nsenter", "systemd-run"):
        if shutil.which(tool) is None:
            skip(f"{tool} is not installed")
    if not os.access(SYSTEMD, os.X_OK):
        skip(f"{SYSTEMD} is not installed")
    unittest.main(verbosity=2)


if __name__ == "__main__":
    main()

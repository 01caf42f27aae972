#!/usr/bin/env python3
"""guess_rate.py -- password guesses per second one address (127.0.0.1) gets from a fresh ssftpd.

Usage: guess_rate.py SSFTPD SECONDS CONNECTIONS [process]; wrong proofs against alice, hammering on busy; prints guesses answered (auth_failed) and refusals (busy)."""
import base64, json, os, re, socket, subprocess, sys, tempfile, threading, time
ssftpd, secs, nthreads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
extra = ["--isolation", "process"] if len(sys.argv) > 4 else []
root = tempfile.mkdtemp()
subprocess.run([ssftpd, "user", "add", "alice", "--root", root, "--kdf-ops", "2", "--kdf-mem", "8388608"],
               input="pw\n", text=True, check=True, capture_output=True)
p = subprocess.Popen([ssftpd, "--root", root, "--listen", "127.0.0.1:0"] + extra,
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
port = int(re.search(r":(\d+)$", p.stdout.readline().strip()).group(1))
def rx(s):
    n = int.from_bytes(s.recv(4, socket.MSG_WAITALL), "big")
    return json.loads(s.recv(n, socket.MSG_WAITALL))
def tx(s, o):
    raw = json.dumps(o).encode(); s.sendall(len(raw).to_bytes(4, "big") + raw)
counts = {"auth_failed": 0, "busy": 0}
lock = threading.Lock()
end = time.monotonic() + secs
def worker():
    while time.monotonic() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port))
            tx(s, {"cmd": "hello", "version": 1}); rx(s)
            for _ in range(3):
                tx(s, {"cmd": "auth", "user": "alice", "cnonce": base64.b64encode(os.urandom(32)).decode()})
                r = rx(s)
                if not r["ok"]:
                    with lock: counts[r["code"]] = counts.get(r["code"], 0) + 1
                    time.sleep(0.01)
                    continue
                tx(s, {"cmd": "auth_proof", "proof": base64.b64encode(os.urandom(32)).decode()})
                r = rx(s)
                with lock: counts[r.get("code", "ok")] = counts.get(r.get("code", "ok"), 0) + 1
            s.close()
        except Exception:
            time.sleep(0.01)
t0 = time.monotonic()
ts = [threading.Thread(target=worker) for _ in range(nthreads)]
for t in ts: t.start()
for t in ts: t.join()
el = time.monotonic() - t0
p.terminate(); p.wait()
print(f"{os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(ssftpd))))} {' '.join(extra)}: {el:.1f} s, {nthreads} connections at once: "
      f"{counts['auth_failed']} guesses ({counts['auth_failed']/el:.1f}/s), {counts['busy']} busy refusals")

#!/usr/bin/env python3
"""guess_rate.py -- password guesses per second one address (127.0.0.1) gets from a fresh ssftpd.

Usage: guess_rate.py SSFTPD SECONDS CONNECTIONS [process]; wrong proofs against alice, hammering on busy; prints guesses answered (auth_failed) and refusals (busy)."""
import base64, json, os, re, socket, ssl, subprocess, sys, tempfile, threading, time
ssftpd, secs, nthreads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
extra = ["--isolation", "process"] if len(sys.argv) > 4 else []
root = tempfile.mkdtemp()
subprocess.run([ssftpd, "user", "add", "alice", "--root", root, "--kdf-ops", "2", "--kdf-mem", "8388608"],
               input="pw\n", text=True, check=True, capture_output=True)
p = subprocess.Popen([ssftpd, "--root", root, "--listen", "127.0.0.1:0"] + extra,
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
port = int(re.search(r":(\d+)$", p.stdout.readline().strip()).group(1))
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # our own server's key
tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
def exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            raise EOFError
        b += d
    return b
def rx(s):
    return json.loads(exact(s, int.from_bytes(exact(s, 4), "big")))
def tx(s, o):
    raw = json.dumps(o).encode(); s.sendall(len(raw).to_bytes(4, "big") + raw)
counts = {"auth_failed": 0, "busy": 0}
lock = threading.Lock()
end = time.monotonic() + secs
def worker():
    while time.monotonic() < end:
        try:
            s = tls.wrap_socket(socket.create_connection(("127.0.0.1", port)))
            tx(s, {"cmd": "hello", "version": 2}); rx(s)
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

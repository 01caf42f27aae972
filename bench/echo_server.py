"""echo_server.py -- the Python docs' ThreadingTCPServer + MyTCPHandler, as the benchmark's reference.

Differences from the docs, all for the benchmark: port from --port (0 = any),
a "listening on HOST:PORT" first line, no per-request print (the C servers
skip it too), and a listen backlog of SOMAXCONN instead of 5 so that 500
clients measure the server, not SYN retransmits.
"""
import socket
import socketserver
import sys


class MyTCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.data = self.request.recv(1024).strip()
        self.request.sendall(self.data.upper())


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True  # exit on SIGTERM without joining
    request_queue_size = socket.SOMAXCONN


def main():
    port = 0
    if len(sys.argv) == 3 and sys.argv[1] == "--port":
        port = int(sys.argv[2])
    elif len(sys.argv) != 1:
        sys.exit("usage: echo_server.py [--port N]")
    with Server(("127.0.0.1", port), MyTCPHandler) as server:
        host, port = server.server_address[:2]
        print(f"listening on {host}:{port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()

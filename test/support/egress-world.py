# The servers of the egress tests' stand-in world, run inside its network namespace by
# egress-world.ts: a package index (a PEP 503 tree) over HTTP on the "internet" address, and a
# greeter on every other address. Every connection is reported on stdout as `HIT <address>`.
import http.server
import socketserver
import sys
import threading

root, internet, *others = sys.argv[1:]


def report(address):
    print(f"HIT {address}", flush=True)


class Index(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=root, **kwargs)

    def setup(self):
        report(internet)
        super().setup()

    def log_message(self, *args):
        pass


def greeter_for(address):
    class Greeter(socketserver.BaseRequestHandler):
        def handle(self):
            report(address)
            self.request.sendall(f"HELLO-{address}\n".encode())

    return Greeter


class Server(socketserver.ThreadingTCPServer):
    # socketserver, not http.server's HTTPServer: that one reverse-resolves its address at start.
    allow_reuse_address = True
    daemon_threads = True


servers = [Server((internet, 80), Index)] + [Server((a, 80), greeter_for(a)) for a in others]
for s in servers:
    threading.Thread(target=s.serve_forever, daemon=True).start()
print("READY", flush=True)
threading.Event().wait()

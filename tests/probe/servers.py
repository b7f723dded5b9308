"""Real servers for the probe tests, one per process (started in a lab namespace or on 127.0.0.x).

    python servers.py http  ADDR PORT CONFIG.json              HTTP/1.1
    python servers.py https ADDR PORT CONFIG.json CHAIN KEY [MAX_TLS]   HTTPS (MAX_TLS: 1.1 for an old server)
    python servers.py grpc  ADDR PORT STATE_FILE               grpc.health.v1 (STATE_FILE: SERVING | NOT_SERVING)
    python servers.py grpcs ADDR PORT STATE_FILE CHAIN KEY     the same over TLS

CONFIG.json is re-read whenever it changes, so a test sets behaviour while the server runs:
``{"delay_ms": {"/slow": 300, "*": 0}, "status": {"/fail": 503}, "fail_every": {"/flaky": 3},
"reset": ["/reset"], "redirect": {"/old": "/new"}}`` (``*`` applies to every path; ``fail_every`` answers 503 to every n-th
request of that path; ``reset`` paths get a TCP RST instead of an answer).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class Config:
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.mtime = -1.0
        self.data: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()

    def get(self) -> dict[str, Any]:
        with self.lock:
            try:
                m = self.path.stat().st_mtime
                if m != self.mtime:
                    self.data, self.mtime = json.loads(self.path.read_text() or "{}"), m
            except (OSError, ValueError):
                pass
            return self.data

    def count(self, path: str) -> int:
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            return self.counts[path]


def http_server(addr: str, port: int, config: Config) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            cfg = config.get()
            path = self.path.split("?")[0]
            delays = cfg.get("delay_ms", {})
            delay = delays.get(path, delays.get("*", 0))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if delay:
                time.sleep(float(delay) / 1000)
            if path in cfg.get("reset", []):  # abort: RST instead of an answer
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            location = cfg.get("redirect", {}).get(path)
            status = 302 if location else int(cfg.get("status", {}).get(path, 200))
            every = int(cfg.get("fail_every", {}).get(path, 0))
            if every and config.count(path) % every == 0:
                status = 503
            body = json.dumps(
                {"path": path, "host": self.headers.get("Host"), "server": f"{addr}:{port}"}
            ).encode()
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = _answer

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = (
            256  # socketserver's 5 overflows under back-to-back connects (SYN dropped, 1 s retry)
        )

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # failed handshakes are what the TLS tests provoke

    srv = Server((addr, port), Handler)
    return srv


def main(argv: list[str]) -> None:
    kind, addr, port = argv[0], argv[1], int(argv[2])
    if kind in ("http", "https"):
        srv = http_server(addr, port, Config(argv[3]))
        if kind == "https":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(argv[4], argv[5])
            if len(argv) > 6 and argv[6] == "1.1":
                ctx.set_ciphers("ALL:@SECLEVEL=0")
                ctx.minimum_version = ssl.TLSVersion.TLSv1
                ctx.maximum_version = ssl.TLSVersion.TLSv1_1
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
        print("ready", flush=True)
        srv.serve_forever()
    elif kind in ("grpc", "grpcs"):
        from concurrent import futures

        import grpc
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc

        state_file = Path(argv[3])
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        if kind == "grpcs":
            creds = grpc.ssl_server_credentials([(Path(argv[5]).read_bytes(), Path(argv[4]).read_bytes())])
            server.add_secure_port(f"{addr}:{port}", creds)
        else:
            server.add_insecure_port(f"{addr}:{port}")
        server.start()
        print("ready", flush=True)
        last = None
        while True:
            try:
                state = state_file.read_text().strip() or "SERVING"
            except OSError:
                state = "SERVING"
            if state != last:
                status = getattr(health_pb2.HealthCheckResponse, state)
                servicer.set("", status)
                last = state
            time.sleep(0.05)
    else:
        raise SystemExit(f"unknown server kind {kind}")


if __name__ == "__main__":
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    main(sys.argv[1:])

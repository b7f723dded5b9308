"""Small real servers for the L7 capture tests, run inside lab namespaces as scripts.

``python l7servers.py http PORT``: HTTP/1.1 keep-alive server; ``/delay/MS`` answers after MS
milliseconds, ``/status/CODE`` answers with that status, anything else 200.
``python l7servers.py grpc PORT``: gRPC (h2c) server; ``/lab.Test/Ok`` answers, ``/lab.Test/Fail``
aborts with UNAVAILABLE, ``/lab.Test/Slow`` answers after 200 ms.
``python l7servers.py grpc-client HOST:PORT METHOD N [TIMEOUT_S]``: calls METHOD N times on one channel
(``CancelSlow``: calls Slow and cancels each call after 50 ms).
"""

from __future__ import annotations

import http.server
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        status = 200
        if len(parts) == 2 and parts[0] == "delay":
            time.sleep(int(parts[1]) / 1000)
        elif len(parts) == 2 and parts[0] == "status":
            status = int(parts[1])
        body = f"{self.path} -> {status}\n".encode() * 3
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


def grpc_server(port: int) -> None:
    from concurrent import futures

    import grpc

    def ok(req: bytes, ctx: object) -> bytes:
        return b"ok"

    def fail(req: bytes, ctx: grpc.ServicerContext) -> bytes:
        ctx.abort(grpc.StatusCode.UNAVAILABLE, "backend down")
        return b""

    def slow(req: bytes, ctx: object) -> bytes:
        time.sleep(0.2)
        return b"slow"

    handler = grpc.method_handlers_generic_handler(
        "lab.Test",
        {
            "Ok": grpc.unary_unary_rpc_method_handler(ok),
            "Fail": grpc.unary_unary_rpc_method_handler(fail),
            "Slow": grpc.unary_unary_rpc_method_handler(slow),
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"0.0.0.0:{port}")
    server.start()
    server.wait_for_termination()


def grpc_client(target: str, method: str, n: int, timeout: float = 5.0) -> None:
    import grpc

    with grpc.insecure_channel(target) as ch:
        if method == "CancelSlow":  # the client gives up after 50 ms: it resets the stream (CANCEL)
            for _ in range(n):
                fut = ch.unary_unary("/lab.Test/Slow").future(b"x")
                time.sleep(0.05)
                fut.cancel()
            time.sleep(0.3)
            return
        call = ch.unary_unary(f"/lab.Test/{method}")
        for _ in range(n):
            try:
                call(b"x", timeout=timeout)
            except grpc.RpcError as exc:
                print(exc.code().name, file=sys.stderr)


if __name__ == "__main__":
    kind = sys.argv[1]
    if kind == "http":
        http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), Handler).serve_forever()
    elif kind == "grpc":
        grpc_server(int(sys.argv[2]))
    else:
        grpc_client(sys.argv[2], sys.argv[3], int(sys.argv[4]), *(float(a) for a in sys.argv[5:6]))

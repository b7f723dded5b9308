"""gRPC trials: ``grpc.health.v1.Health/Check`` on a fresh channel each time (grpcio).

grpcio has no per-phase timers like libcurl's, so this is the one prober that uses a clock. Each
trial makes the call twice on its fresh channel: the first (``total_ms``) is what a new client
pays, connection and TLS included; the second runs on the connection now up, so its duration is
the server's own time (``server_ms``); the difference is ``connect_ms``/``tcp_ms`` (it includes
the TLS handshake for grpcs).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

from netdebug_nb.probe import trial
from netdebug_nb.probe.prober import Options

if TYPE_CHECKING:
    from netdebug_nb.probe.target import Target

HEALTH = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def classify(code_name: str, details: str, *, connected: bool) -> tuple[str, str]:
    """(error_kind, error_phase) of a failed health call from its status code and details."""
    low = details.lower()
    if code_name == "DEADLINE_EXCEEDED":
        return "timeout", "server" if connected else "connect"
    if code_name == "UNAVAILABLE":
        for marker, kind in (("refused", "refused"), ("reset", "reset"), ("ssl", "tls"), ("handshake", "tls"),
                             ("certificate", "tls"), ("tls", "tls"), ("dns", "dns"), ("resolution", "dns"),
                             ("no route", "unreachable"), ("timed out", "timeout"), ("timeout", "timeout")):  # fmt: skip
            if marker in low:
                return kind, "connect" if kind == "timeout" else ""
        return "unavailable", ""
    if code_name == "UNIMPLEMENTED":
        return "no_health_service", ""
    if code_name == "NOT_FOUND":
        return "unknown_service", ""
    return code_name.lower(), ""


def channel_state(channel: object) -> str:
    """The channel's connectivity state by name, without waiting (READY, TRANSIENT_FAILURE ...)."""
    try:
        state = channel._channel.check_connectivity_state(False)  # type: ignore[attr-defined]
    except AttributeError:
        return ""
    import grpc

    for s in grpc.ChannelConnectivity:
        if s.value[0] == state:
            return str(s.name)
    return ""


class GrpcProber:
    def __init__(self, options: Options) -> None:
        self.o = options
        self._roots: bytes | None = None
        if options.ca_bundle:
            with open(options.ca_bundle, "rb") as fh:
                self._roots = fh.read()

    def close(self) -> None:
        pass

    def trial(self, t: Target, n: int) -> dict[str, Any]:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        addr_host = t.backend or t.host
        addr = f"{'[' + addr_host + ']' if ':' in addr_host else addr_host}:{t.backend_port or t.port}"
        opts: list[tuple[str, Any]] = [("grpc.enable_retries", 0), ("grpc.use_local_subchannel_pool", 1)]
        if t.backend:
            opts.append(("grpc.default_authority", f"{t.host}:{t.port}"))
        tls = t.protocol == "grpcs"
        if tls and (self.o.sni or t.backend):
            opts.append(("grpc.ssl_target_name_override", self.o.sni or t.host))
        ts = dt.datetime.now(dt.UTC)
        start = time.perf_counter()
        if tls:
            channel = grpc.secure_channel(
                addr, grpc.ssl_channel_credentials(root_certificates=self._roots), opts
            )
        else:
            channel = grpc.insecure_channel(addr, opts)
        health, kind, phase, message = None, "", "", ""
        server_s: float | None = None
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest(service=t.health_service)
        end = start
        try:
            resp = stub.Check(request, timeout=self.o.timeout_s)
            end = time.perf_counter()
            health = HEALTH.get(int(resp.status), str(resp.status))
            if health != "SERVING":
                kind, message = "not_serving", f"health status {health}"
            # the same call again on the connection now up: the server's own time
            again = time.perf_counter()
            stub.Check(request, timeout=self.o.timeout_s)
            server_s = time.perf_counter() - again
        except grpc.RpcError as exc:
            if health is None:
                end = time.perf_counter()
            code = exc.code() if hasattr(exc, "code") else None
            details = (exc.details() if hasattr(exc, "details") else "") or ""
            name = code.name if code is not None else "UNKNOWN"
            if health is None:
                connected = channel_state(channel) == "READY"
                kind, phase = classify(name, details, connected=connected)
                message = f"{name}: {details}".strip(": ")
                if name == "NOT_FOUND":
                    health = "SERVICE_UNKNOWN"
        finally:
            channel.close()
        total_ms = (end - start) * 1000
        server_ms = min(server_s * 1000, total_ms) if server_s is not None else None
        connect_ms = total_ms - server_ms if server_ms is not None else None
        answered = health is not None
        return {
            **trial.for_target(t, n, ts),
            "ok": health == "SERVING",
            "completed": answered,
            "status": None,
            "health": health,
            "error_kind": kind,
            "error_phase": phase,
            "error": message,
            "curl_code": None,
            "http_version": "2",
            "remote_ip": addr_host,
            "remote_port": t.backend_port or t.port,
            "namelookup_ms": None,
            "connect_ms": connect_ms,
            "appconnect_ms": None,
            "pretransfer_ms": connect_ms,
            "starttransfer_ms": total_ms if answered else None,
            "total_ms": total_ms,
            "redirect_ms": None,
            "dns_ms": None,
            "tcp_ms": connect_ms,
            "tls_ms": None,
            "server_ms": server_ms,
            "transfer_ms": None,
            "size_download_bytes": 0,
            "size_upload_bytes": 0,
            "size_header_bytes": 0,
            "size_request_bytes": 0,
            "redirects": 0,
            "url_effective": f"{t.protocol}://{addr}",
        }

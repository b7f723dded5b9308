"""The few Kubernetes API calls a fleet run makes, as raw REST on one connection pool.

Why not the generated ``kubernetes`` client models: a 500-node run sees thousands of watch
events and the controller only needs a handful of fields from each, so plain dicts from
``json.loads`` are cheaper than model objects, and watches and pod logs must stream (the log is
decoded to disk line by line). Credentials still come from the ``kubernetes`` package's
kubeconfig / in-cluster loader, so every auth method it supports (tokens, client certificates,
exec plugins with refresh) works here too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from netdebug_nb.errors import ClusterError

_CHUNK = 64 * 1024


class ApiError(ClusterError):
    """The API server refused or failed a call; ``status`` is the HTTP status (0: unreachable)."""

    def __init__(self, what: str, status: int, reason: str, *, hint: str | None = None) -> None:
        self.status = status
        self.reason = reason
        code = f"HTTP {status}" if status else "unreachable"
        super().__init__(f"Kubernetes API: {what}: {code}: {reason}", hint=hint)


class Api:
    """A connection to one API server (``cfg`` is a ``kubernetes.client.Configuration``)."""

    def __init__(self, cfg: Any, *, timeout_s: float = 30.0, pool_size: int = 16) -> None:
        import urllib3

        self.cfg = cfg
        self.host = str(cfg.host).rstrip("/")
        self.timeout_s = timeout_s
        kwargs: dict[str, Any] = {"maxsize": pool_size, "block": False}
        if self.host.startswith("https"):
            kwargs["cert_reqs"] = "CERT_REQUIRED" if cfg.verify_ssl else "CERT_NONE"
            if cfg.ssl_ca_cert:
                kwargs["ca_certs"] = cfg.ssl_ca_cert
            if cfg.cert_file:
                kwargs["cert_file"] = cfg.cert_file
            if cfg.key_file:
                kwargs["key_file"] = cfg.key_file
            if not cfg.verify_ssl:
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.pool = urllib3.PoolManager(**kwargs)

    @classmethod
    def connect(
        cls, kubeconfig: str | None = None, context: str | None = None, *, timeout_s: float = 30.0
    ) -> Api:
        """Connect the way ``netdebug-nb k8s`` does (explicit kubeconfig/context, else in-cluster,
        else ``$KUBECONFIG`` / ``~/.kube/config``), so both fail the same way when they cannot."""
        from netdebug_nb.k8s import client

        cluster = client.connect(kubeconfig or "", context or "", timeout_s=min(timeout_s, 10.0))
        return cls(cluster.api.configuration, timeout_s=timeout_s)

    # --- plumbing -------------------------------------------------------------------------

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "netdebug-nb-fleet"}
        for auth in self.cfg.auth_settings().values():
            if auth.get("in") == "header" and auth.get("value"):
                headers[auth["key"]] = auth["value"]
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        stream: bool = False,
        timeout_s: float | None = None,
        what: str = "",
    ) -> Any:
        """An HTTP response (``urllib3.BaseHTTPResponse``); non-2xx raise :class:`ApiError`."""
        import urllib3

        url = (
            self.host
            + path
            + ("?" + urlencode({k: v for k, v in (query or {}).items() if v is not None}) if query else "")
        )
        data = json.dumps(body).encode() if body is not None else None
        timeout = urllib3.Timeout(connect=min(10.0, self.timeout_s), read=timeout_s or self.timeout_s)
        try:
            resp = self.pool.request(
                method,
                url,
                body=data,
                headers=self._headers("application/json" if data is not None else None),
                preload_content=not stream,
                timeout=timeout,
                retries=urllib3.Retry(total=2, connect=2, read=0, status=0, redirect=0),
            )
        except urllib3.exceptions.HTTPError as exc:
            raise ApiError(what or f"{method} {path}", 0, f"{type(exc).__name__}: {exc}") from exc
        if resp.status >= 300:
            text = (
                resp.data.decode("utf-8", "replace")
                if not stream
                else resp.read(4096).decode("utf-8", "replace")
            )
            if stream:
                resp.release_conn()
            try:
                reason = str(json.loads(text).get("message") or text)
            except ValueError:
                reason = text.strip()[:200] or str(resp.reason)
            hint = (
                "the fleet needs RBAC to create/watch/delete Jobs and read Pods and pods/log"
                if resp.status == 403
                else None
            )
            raise ApiError(
                what or f"{method} {path}", resp.status, reason.splitlines()[0] if reason else "", hint=hint
            )
        return resp

    def get_json(
        self, path: str, query: Mapping[str, Any] | None = None, *, what: str = ""
    ) -> dict[str, Any]:
        resp = self.request("GET", path, query=query, what=what)
        doc: dict[str, Any] = json.loads(resp.data)
        return doc

    # --- calls ----------------------------------------------------------------------------

    def list_nodes(self, selector: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cont: str | None = None
        while True:
            doc = self.get_json(
                "/api/v1/nodes",
                {"labelSelector": selector, "limit": 500, "continue": cont},
                what="list nodes",
            )
            items += doc.get("items") or []
            cont = (doc.get("metadata") or {}).get("continue")
            if not cont:
                return items

    def create_job(self, namespace: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
        name = manifest["metadata"]["name"]
        resp = self.request(
            "POST",
            f"/apis/batch/v1/namespaces/{quote(namespace)}/jobs",
            body=manifest,
            what=f"create Job {name}",
        )
        doc: dict[str, Any] = json.loads(resp.data)
        return doc

    def delete_jobs(self, namespace: str | None, selector: str) -> int:
        """Delete every Job matching ``selector`` (and, in the background, its pods).

        Listed page by page and deleted per namespace with one collection call whose (large)
        answer is drained unread: memory stays flat however many Jobs there are.
        """
        prefix = f"/apis/batch/v1/namespaces/{quote(namespace)}/jobs" if namespace else "/apis/batch/v1/jobs"
        by_ns: dict[str, int] = {}
        cont: str | None = None
        while True:
            doc = self.get_json(
                prefix, {"labelSelector": selector, "limit": 100, "continue": cont}, what="list Jobs"
            )
            for job in doc.get("items") or []:
                ns = str(job["metadata"]["namespace"])
                by_ns[ns] = by_ns.get(ns, 0) + 1
            cont = (doc.get("metadata") or {}).get("continue")
            if not cont:
                break
        for ns in sorted(by_ns):
            resp = self.request(
                "DELETE",
                f"/apis/batch/v1/namespaces/{quote(ns)}/jobs",
                query={"labelSelector": selector, "propagationPolicy": "Background"},
                stream=True,
                what=f"delete Jobs in {ns}",
            )
            resp.drain_conn()
            resp.release_conn()
        return sum(by_ns.values())

    def delete_job(self, namespace: str, name: str) -> None:
        try:
            self.request(
                "DELETE",
                f"/apis/batch/v1/namespaces/{quote(namespace)}/jobs/{quote(name)}",
                query={"propagationPolicy": "Background"},
                what=f"delete Job {name}",
            )
        except ApiError as exc:
            if exc.status != 404:
                raise

    def list(self, path: str, selector: str) -> tuple[list[dict[str, Any]], str]:
        doc = self.get_json(path, {"labelSelector": selector}, what=f"list {path}")
        return doc.get("items") or [], str((doc.get("metadata") or {}).get("resourceVersion", ""))

    def watch(
        self,
        path: str,
        selector: str,
        resource_version: str,
        *,
        timeout_s: int = 300,
        opened: Callable[[Any], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Watch events (``{"type":..., "object":...}``) until the server ends the stream.

        ``opened`` receives the response, so another thread can ``shutdown()`` a watch that
        is blocked waiting for the next event.
        """
        resp = self.request(
            "GET",
            path,
            query={
                "labelSelector": selector,
                "watch": "1",
                "resourceVersion": resource_version or None,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": timeout_s,
            },
            stream=True,
            timeout_s=timeout_s + 30,
            what=f"watch {path}",
        )
        if opened:
            opened(resp)
        try:
            for line in lines(resp):
                if line.strip():
                    yield json.loads(line)
        finally:
            resp.release_conn()

    def log(self, namespace: str, pod: str, container: str, *, limit_bytes: int) -> Any:
        """A streaming response with the pod's log (at most ``limit_bytes``)."""
        return self.request(
            "GET",
            f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}/log",
            query={"container": container, "limitBytes": limit_bytes},
            stream=True,
            timeout_s=120,
            what=f"log of pod {pod}",
        )

    def close(self) -> None:
        self.pool.clear()


def lines(resp: Any) -> Iterator[bytes]:
    """Lines (without newline) from a streaming response, as they arrive."""
    rest = b""
    while chunk := resp.read1(_CHUNK):  # what has arrived: a watch must not wait for 64 KiB
        rest += chunk
        *complete, rest = rest.split(b"\n")
        yield from complete
    if rest:
        yield rest

"""Jobs, their pods, watches and pod logs for the fake API server (``tests/k8s/apiserver.py``).

:class:`JobsSim` installs routes on a :class:`FakeApiServer`: creating a Job creates its pod,
which then goes through a life chosen per node (``sim.behaviour[node]``):

    ok            Pending → Running → Succeeded; the log carries a framed result
    unschedulable Pending, PodScheduled=False reason Unschedulable (forever)
    imagepull     Pending, container waiting ErrImagePull → ImagePullBackOff (forever)
    oom           Running → Failed, container terminated OOMKilled; Job BackoffLimitExceeded
    deadline      Running → Job Failed DeadlineExceeded, pod killed and deleted
    oversize      Succeeded; the log carries an ``oversize`` error record
    corrupt       Succeeded; the frame's payload is damaged
    nolog         Succeeded; the log has no frame (the command was wrong)

Watches (``?watch=1`` on pods and jobs, with labelSelector and resourceVersion) stream JSON
events from the server's history, so list-then-watch loses nothing; deleting Jobs (one, or a
collection by labelSelector) deletes their pods and emits DELETED events, like the garbage
collector with ``propagationPolicy=Background``. Time advances in ``step_s`` steps on one
scheduler thread, so 500 simulated nodes cost 500 timer entries, not 500 threads.
"""

from __future__ import annotations

import heapq
import io
import itertools
import json
import queue
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "k8s"))

from apiserver import FakeApiServer, Request, Resource, Response, label_matcher, status

from netdebug_nb.fleet import framing, jobspec, result
from netdebug_nb.fleet.api import Api


@dataclass
class Cluster:
    """What the ``cluster`` fixture gives a test."""

    srv: FakeApiServer
    sim: JobsSim
    kubeconfig: Path

    def api(self) -> Api:
        return Api.connect(str(self.kubeconfig), "fake", timeout_s=10)


JOBS = Resource("batch", "v1", "jobs", "Job", True)
PODS_KEY = "v1/pods"


def synthetic_result(node: str, notebook: str, *, padding: int = 0) -> str:
    """The log of a pod whose notebook ran fine: some noise, then a framed run directory."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / notebook
        run_dir.mkdir()
        doc = {
            "notebook": notebook,
            "parameters": {},
            "status": "ok",
            "error": None,
            "started": "2026-11-28T07:00:00+00:00",
            "duration_s": 1.5,
            "findings": [
                {"id": "sim.ran", "severity": "info", "title": f"ran on {node}", "detail": "", "evidence": {}}
            ],
        }
        (run_dir / "findings.json").write_text(json.dumps(doc))
        (run_dir / f"{notebook}.html").write_text(f"<html><body>{node}</body></html>" + "x" * padding)
        (run_dir / f"{notebook}.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4}))
        out = io.StringIO()
        out.write("[I] running notebook\n")
        result.emit(run_dir, out)
        return out.getvalue()


class JobsSim:
    def __init__(self, srv: FakeApiServer, *, step_s: float = 0.02) -> None:
        self.srv = srv
        self.step_s = step_s
        self.behaviour: dict[str, str] = {}
        self.payload: Callable[[str, dict[str, Any]], str] = lambda node, job: synthetic_result(
            node, job["metadata"]["annotations"][f"{jobspec.GROUP}/notebook"]
        )
        self.logs: dict[tuple[str, str], str] = {}
        self.created_jobs: list[dict[str, Any]] = []  # every Job as it was posted
        self.expire_watches = 0  # answer this many watches with 410 Expired
        self.errors: list[Exception] = []  # exceptions in simulated transitions (a test bug)
        self._history: list[tuple[int, str, str, str, dict[str, Any]]] = []
        self._watchers: list[
            tuple[str, str | None, Callable[[dict[str, str]], bool], queue.Queue[bytes | None]]
        ] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._pod_ips = itertools.count()
        self._cv = threading.Condition()
        srv.add_resource(JOBS)
        ns = r"(?:namespaces/(?P<ns>[^/]+)/)?"
        srv.route("GET", r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log$", self._log)
        srv.route("GET", rf"^/api/v1/{ns}pods$", lambda r: self._list_or_watch(r, PODS_KEY))
        srv.route("GET", rf"^/apis/batch/v1/{ns}jobs$", lambda r: self._list_or_watch(r, JOBS.key))
        srv.route("POST", r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/jobs$", self._create_job)
        srv.route("DELETE", r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/jobs$", self._delete_jobs)
        srv.route(
            "DELETE", r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/jobs/(?P<name>[^/]+)$", self._delete_job
        )
        self._thread = threading.Thread(target=self._clock, name="jobs-sim", daemon=True)
        self._thread.start()

    # -- set-up helpers -------------------------------------------------------------------------

    def add_nodes(
        self,
        names: list[str],
        *,
        ip_prefix: str = "10.0",
        labels: dict[str, str] | None = None,
        ips: list[str] | None = None,
    ) -> None:
        for i, name in enumerate(names):
            ip = ips[i] if ips else f"{ip_prefix}.{i // 250}.{i % 250 + 1}"
            self.srv.put(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
                    "status": {
                        "addresses": [
                            {"type": "InternalIP", "address": ip},
                            {"type": "Hostname", "address": name},
                        ],
                        "conditions": [{"type": "Ready", "status": "True"}],
                    },
                }
            )

    def jobs(self) -> list[dict[str, Any]]:
        with self.srv._lock:
            return [o for (k, _, _), o in self.srv.objects.items() if k == JOBS.key]

    def pods(self) -> list[dict[str, Any]]:
        with self.srv._lock:
            return [o for (k, _, _), o in self.srv.objects.items() if k == PODS_KEY]

    # -- events ---------------------------------------------------------------------------------

    def _store(self, key: str, etype: str, obj: dict[str, Any]) -> None:
        """Put (or delete) ``obj`` and tell the watchers, atomically."""
        with self.srv._lock:
            meta = obj["metadata"]
            ns = meta.get("namespace", "")
            if etype == "MODIFIED" and (key, ns, meta["name"]) not in self.srv.objects:
                return  # deleted meanwhile: a real API server would answer 404 to the update
            owner = (meta.get("labels") or {}).get("job-name")
            if etype == "ADDED" and owner and (JOBS.key, ns, owner) not in self.srv.objects:
                return  # the Job went away before its pod was created
            if etype == "DELETED":
                self.srv.objects.pop((key, ns, meta["name"]), None)
                meta["resourceVersion"] = self.srv._next_rv()
            else:
                self.srv.put(obj)
            snap = json.loads(json.dumps(obj))
            rv = int(meta["resourceVersion"])
            self._history.append((rv, key, ns, etype, snap))
            line = (json.dumps({"type": etype, "object": snap}) + "\n").encode()
            for w_key, w_ns, match, q in self._watchers:
                if w_key == key and (w_ns is None or w_ns == ns) and match(meta.get("labels") or {}):
                    q.put(line)

    def _list_or_watch(self, req: Request, key: str) -> Response:
        ns = req.match.get("ns")
        if req.query.get("watch") not in ("1", "true"):
            return self.srv._list(req, self.srv.resources[key], ns)
        try:
            match = label_matcher(req.query.get("labelSelector", ""))
        except ValueError as exc:
            return status(400, "BadRequest", str(exc))
        since = int(req.query.get("resourceVersion") or 0)
        timeout = float(req.query.get("timeoutSeconds") or 300)
        if self.expire_watches > 0:  # "too old resource version": the client must list again
            self.expire_watches -= 1
            gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}
            return Response(chunks=iter([(json.dumps(gone) + "\n").encode()]))
        q: queue.Queue[bytes | None] = queue.Queue()
        with self.srv._lock:
            for rv, h_key, h_ns, etype, obj in self._history:
                if (
                    rv > since
                    and h_key == key
                    and (ns is None or h_ns == ns)
                    and match(obj["metadata"].get("labels") or {})
                ):
                    q.put((json.dumps({"type": etype, "object": obj}) + "\n").encode())
            entry = (key, ns, match, q)
            self._watchers.append(entry)

        def chunks() -> Iterator[bytes]:
            end = time.monotonic() + timeout
            try:
                while not self.srv._stopping.is_set():
                    left = end - time.monotonic()
                    if left <= 0:
                        return
                    try:
                        item = q.get(timeout=min(left, 0.2))
                    except queue.Empty:
                        continue
                    if item is None:
                        return
                    yield item
            finally:
                with self.srv._lock:
                    self._watchers.remove(entry)

        return Response(chunks=chunks())

    # -- jobs and pods --------------------------------------------------------------------------

    def _create_job(self, req: Request) -> Response:
        job = req.body
        if not isinstance(job, dict) or not job.get("metadata", {}).get("name"):
            return status(422, "Invalid", "Job is invalid: metadata.name: Required value")
        ns = req.match["ns"]
        refused = self.srv._refusal("create", JOBS, ns)
        if refused:
            return refused
        name = job["metadata"]["name"]
        if self.srv.get(JOBS.key, ns, name) is not None:
            return status(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
        self.created_jobs.append(json.loads(json.dumps(job)))
        job["metadata"].update(namespace=ns, uid=str(uuid.uuid4()))
        job["status"] = {"active": 0}
        self._store(JOBS.key, "ADDED", job)
        node = job["metadata"]["annotations"][jobspec.ANNOTATION_NODE]
        self._after(1, lambda: self._start_pod(job, node))
        return Response(201, job)

    def _start_pod(self, job: dict[str, Any], node: str) -> None:
        if self.srv.get(JOBS.key, job["metadata"]["namespace"], job["metadata"]["name"]) is None:
            return
        tmpl = job["spec"]["template"]
        jname = job["metadata"]["name"]
        pod: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{jname}-{uuid.uuid4().hex[:5]}",
                "namespace": job["metadata"]["namespace"],
                "labels": {
                    **tmpl["metadata"]["labels"],
                    "job-name": jname,
                    "batch.kubernetes.io/job-name": jname,
                },
                "annotations": dict(tmpl["metadata"].get("annotations") or {}),
                "ownerReferences": [{"kind": "Job", "name": jname, "uid": job["metadata"]["uid"]}],
            },
            "spec": json.loads(json.dumps(tmpl["spec"])),
            "status": {"phase": "Pending", "conditions": []},
        }
        behaviour = self.behaviour.get(node, "ok")
        if behaviour == "unschedulable":
            pod["status"]["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.",
                }
            ]
            self._store(PODS_KEY, "ADDED", pod)
            return
        pod["spec"]["nodeName"] = node
        pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]
        pod["status"]["containerStatuses"] = [_container(waiting=("ContainerCreating", ""))]
        self._store(PODS_KEY, "ADDED", pod)
        if behaviour == "imagepull":
            image = tmpl["spec"]["containers"][0]["image"]
            self._after(
                1, lambda: self._waiting(pod, "ErrImagePull", f'failed to pull image "{image}": not found')
            )
            self._after(
                2, lambda: self._waiting(pod, "ImagePullBackOff", f'Back-off pulling image "{image}"')
            )
            return
        self._after(1, lambda: self._running(pod, job))
        self._after(3, lambda: self._finish(pod, job, node, behaviour))

    def _alive(self, pod: dict[str, Any]) -> bool:
        return self.srv.get(PODS_KEY, pod["metadata"]["namespace"], pod["metadata"]["name"]) is not None

    def _waiting(self, pod: dict[str, Any], reason: str, message: str) -> None:
        if self._alive(pod):
            pod["status"]["containerStatuses"] = [_container(waiting=(reason, message))]
            self._store(PODS_KEY, "MODIFIED", pod)

    def _running(self, pod: dict[str, Any], job: dict[str, Any]) -> None:
        if not self._alive(pod):
            return
        n = next(self._pod_ips)
        pod["status"].update(
            phase="Running",
            podIP=f"10.244.{n // 250}.{n % 250 + 2}",
            containerStatuses=[_container(running=True)],
        )
        self._store(PODS_KEY, "MODIFIED", pod)
        job["status"] = {"active": 1}
        self._store(JOBS.key, "MODIFIED", job)

    def _finish(self, pod: dict[str, Any], job: dict[str, Any], node: str, behaviour: str) -> None:
        if not self._alive(pod):
            return
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        nb = job["metadata"]["annotations"][f"{jobspec.GROUP}/notebook"]
        if behaviour in ("oom", "deadline"):
            self.logs[key] = "[I] running notebook\nKilled\n"
            if behaviour == "oom":
                term = {"exitCode": 137, "reason": "OOMKilled"}
                pod["status"].update(phase="Failed", containerStatuses=[_container(terminated=term)])
                cond = {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            else:
                pod["status"].update(
                    phase="Failed",
                    reason="DeadlineExceeded",
                    message="Pod was active on the node longer than the specified deadline",
                )
                cond = {
                    "type": "Failed",
                    "status": "True",
                    "reason": "DeadlineExceeded",
                    "message": "Job was active longer than specified deadline",
                }
            job["status"] = {"failed": 1, "conditions": [cond]}
            if behaviour == "deadline":  # the Job controller reports first, then kills the pod
                self._store(JOBS.key, "MODIFIED", job)
                self._store(PODS_KEY, "MODIFIED", pod)
                self.logs.pop(key, None)
                self._store(PODS_KEY, "DELETED", pod)
            else:
                self._store(PODS_KEY, "MODIFIED", pod)
                self._store(JOBS.key, "MODIFIED", job)
            return
        if behaviour == "oversize":
            self.logs[key] = framing.error_line(nb, "oversize", size=9_000_000, limit=4_194_304) + "\n"
        elif behaviour == "nolog":
            self.logs[key] = "netdebug-nb: error: no notebook named 'nope'\n"
        else:
            text = self.payload(node, job)
            if behaviour == "corrupt":
                lines = text.splitlines()
                mid = next(i for i, ln in enumerate(lines) if "BEGIN" in ln) + 1
                lines[mid] = ("A" if lines[mid][0] != "A" else "B") + lines[mid][1:]
                text = "\n".join(lines) + "\n"
            self.logs[key] = text
        term = {"exitCode": 0, "reason": "Completed"}
        pod["status"].update(phase="Succeeded", containerStatuses=[_container(terminated=term)])
        self._store(PODS_KEY, "MODIFIED", pod)
        job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
        self._store(JOBS.key, "MODIFIED", job)

    def _log(self, req: Request) -> Response:
        key = (req.match["ns"], req.match["name"])
        if self.srv.get(PODS_KEY, *key) is None:
            return status(404, "NotFound", f'pods "{key[1]}" not found')
        text = self.logs.get(key)
        if text is None:
            return status(400, "BadRequest", f'container "netdebug" in pod "{key[1]}" is waiting to start')
        data = text.encode()
        limit = int(req.query.get("limitBytes") or 0)
        if limit:
            data = data[:limit]
        return Response(body=data, content_type="text/plain")

    def _delete_pods_of(self, job: dict[str, Any]) -> None:
        for pod in self.pods():
            if pod["metadata"]["labels"].get("job-name") == job["metadata"]["name"]:
                self.logs.pop((pod["metadata"]["namespace"], pod["metadata"]["name"]), None)
                self._store(PODS_KEY, "DELETED", pod)

    def _delete_jobs(self, req: Request) -> Response:
        match = label_matcher(req.query.get("labelSelector", ""))
        gone = [
            j
            for j in self.jobs()
            if j["metadata"]["namespace"] == req.match["ns"] and match(j["metadata"].get("labels") or {})
        ]
        for job in gone:
            self._store(JOBS.key, "DELETED", job)
            self._delete_pods_of(job)
        return Response(body={"kind": "JobList", "apiVersion": "batch/v1", "metadata": {}, "items": gone})

    def _delete_job(self, req: Request) -> Response:
        job = self.srv.get(JOBS.key, req.match["ns"], req.match["name"])
        if job is None:
            return status(404, "NotFound", f'jobs.batch "{req.match["name"]}" not found')
        self._store(JOBS.key, "DELETED", job)
        self._delete_pods_of(job)
        return Response(body=job)

    # -- time -----------------------------------------------------------------------------------

    def _after(self, steps: float, fn: Callable[[], None]) -> None:
        with self._cv:
            heapq.heappush(self._timers, (time.monotonic() + steps * self.step_s, next(self._seq), fn))
            self._cv.notify()

    def _clock(self) -> None:
        while not self.srv._stopping.is_set():
            with self._cv:
                if not self._timers:
                    self._cv.wait(0.1)
                    continue
                t, _, fn = self._timers[0]
                left = t - time.monotonic()
                if left > 0:
                    self._cv.wait(min(left, 0.1))
                    continue
                heapq.heappop(self._timers)
            try:
                fn()
            except Exception as exc:  # keep the clock going; the test sees the missing transition
                import traceback

                traceback.print_exc()
                self.errors.append(exc)


def _container(
    *, waiting: tuple[str, str] | None = None, running: bool = False, terminated: dict[str, Any] | None = None
) -> dict[str, Any]:
    state: dict[str, Any] = {}
    if waiting:
        state["waiting"] = {"reason": waiting[0], "message": waiting[1]}
    if running:
        state["running"] = {"startedAt": "2026-11-28T07:00:00Z"}
    if terminated:
        state["terminated"] = terminated
    return {
        "name": jobspec.CONTAINER,
        "ready": running,
        "restartCount": 0,
        "image": "netdebug",
        "state": state,
    }

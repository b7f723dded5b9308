"""``netdebug-nb fleet run``: the recipe.

    select nodes → watch Pods and Jobs of this run (one watch each, by label) → create one Job
    per node (batched, rate-limited) → react to events: collect finished pods' logs (bounded
    concurrency, streamed to disk), give up on pods stuck pending → write DIR/<node>/NOTEBOOK/,
    a synthetic failed run for every node without a result, DIR/fleet.json → delete the Jobs →
    merge notebook (fleet_mesh) → incident index.

Scale (500 nodes): creation goes through a token bucket (``qps``/``burst``) in batches, and a
first batch in which every create fails with the same error (RBAC, missing namespace, quota)
stops the run instead of repeating the error 500 times. Two watches replace per-Job polling.
Logs are decoded line by line into temporary files and unpacked one result at a time, so the
controller's memory does not grow with result sizes. Ctrl-C (or any error) deletes every Job
of the run before returning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import queue
import re
import secrets
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netdebug_nb.errors import InputError, NetdebugError, UsageError
from netdebug_nb.fleet import framing, jobspec, result
from netdebug_nb.fleet.api import Api, ApiError, lines
from netdebug_nb.fleet.tracker import NodeRun, Tracker

MANIFEST = "fleet.json"
MERGE_NOTEBOOK = "fleet_mesh"
_LABEL_SYNTAX = re.compile(r"[=!]|\s(in|notin)\s|^[\w./-]+/[\w.-]+$")


class NodeSelectionError(UsageError):
    """``--nodes`` names nodes that do not exist, or selects none."""


@dataclass(frozen=True)
class Node:
    name: str
    internal_ip: str
    ready: bool
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass
class FleetOptions:
    nodes: str = "all"  # all | label selector | name,name
    qps: float = 20.0
    burst: int = 20
    batch_size: int = 50
    create_workers: int = 4
    collect_concurrency: int = 8
    pending_timeout_s: float = 300.0
    keep_jobs: bool = False
    mesh: bool = False  # pass the other nodes' InternalIPs as the notebook's targets
    mesh_parameter: str = "targets"
    merge: bool = True  # run the fleet_mesh notebook over DIR at the end
    report: bool = True
    watch_timeout_s: int = 300
    node_parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per node, e.g. a pod IP
    merge_notebook: str = MERGE_NOTEBOOK
    merge_parameters: Mapping[str, Any] | None = None  # default: {"fleet_dir": DIR}


@dataclass
class FleetResult:
    out: Path
    run_id: str
    runs: list[NodeRun]
    manifest: Path
    index: Path | None = None
    merge_error: NetdebugError | None = None

    @property
    def failed(self) -> list[NodeRun]:
        return [r for r in self.runs if r.state != "succeeded" or r.collect != "done"]


# --- nodes -----------------------------------------------------------------------------------


def node_from(obj: Mapping[str, Any]) -> Node:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    ips = [a.get("address", "") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"]
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    return Node(str(meta.get("name", "")), ips[0] if ips else "", ready, dict(meta.get("labels") or {}))


def select_nodes(api: Api, spec: str) -> list[Node]:
    """``all``, a label selector (``role=worker``), or ``name,name``."""
    spec = spec.strip()
    if not spec:
        raise NodeSelectionError("--nodes: empty; use 'all', a label selector or node names")
    if spec == "all":
        nodes = [node_from(o) for o in api.list_nodes()]
    elif _LABEL_SYNTAX.search(spec):
        nodes = [node_from(o) for o in api.list_nodes(spec)]
    else:
        wanted = [n.strip() for n in spec.split(",") if n.strip()]
        by_name = {n.name: n for n in (node_from(o) for o in api.list_nodes())}
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise NodeSelectionError(
                f"--nodes: no such node(s): {', '.join(missing)} (cluster has {len(by_name)} node(s))"
            )
        nodes = [by_name[n] for n in dict.fromkeys(wanted)]
    if not nodes:
        raise NodeSelectionError(f"--nodes {spec!r}: selects no node")
    return sorted(nodes, key=lambda n: n.name)


def mesh_targets(nodes: Sequence[Node], node: str) -> list[str]:
    """The mesh mode: every other node's InternalIP (nodes without one are skipped)."""
    return [n.internal_ip for n in nodes if n.name != node and n.internal_ip]


def new_run_id() -> str:
    return dt.datetime.now(dt.UTC).strftime("%m%d%H%M") + secrets.token_hex(2)


# --- rate limiting ---------------------------------------------------------------------------


class TokenBucket:
    """``qps`` sustained, ``burst`` at once; thread-safe; ``clock``/``sleep`` injectable for tests."""

    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if qps <= 0 or burst < 1:
            raise UsageError(f"--qps {qps} / --burst {burst}: must be positive")
        self.qps, self.burst = qps, float(burst)
        self._tokens, self._t = float(burst), clock()
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()

    def take(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._t) * self.qps)
                self._t = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.qps
            self._sleep(wait)


# --- the run ---------------------------------------------------------------------------------


class Controller:
    def __init__(
        self,
        api: Api,
        job_opts: jobspec.JobOptions,
        opts: FleetOptions,
        out: Path,
        *,
        on_progress: Callable[[Mapping[str, int], bool], None] | None = None,
    ) -> None:
        self.api = api
        self.job_opts = job_opts
        self.opts = opts
        self.out = out
        self.on_progress = on_progress
        self.ns = job_opts.namespace
        self.selector = jobspec.run_selector(job_opts.run_id)
        self._events: queue.Queue[tuple[str, ...] | tuple[str, str, Any]] = queue.Queue(maxsize=20000)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._streams: list[Any] = []  # open watch responses
        self.nodes: list[Node] = []
        self.tracker: Tracker | None = None

    # -- public --------------------------------------------------------------------------------

    def run(self, nodes: Sequence[Node]) -> FleetResult:
        self.nodes = list(nodes)
        if self.job_opts.peers:  # mesh with pods: each pod waits for all the others
            self.job_opts = dataclasses.replace(self.job_opts, peers=max(len(self.nodes) - 1, 1))
        started = dt.datetime.now(dt.UTC)
        t0 = time.monotonic()
        self.out.mkdir(parents=True, exist_ok=True)
        jobs = {n.name: jobspec.job_name(self.job_opts.run_id, n.name) for n in self.nodes}
        tracker = self.tracker = Tracker(jobs, pending_timeout_s=self.opts.pending_timeout_s)
        for n in self.nodes:  # fail early on bad options, before anything is created
            jobspec.build(n.name, self.job_opts)
        pool = ThreadPoolExecutor(self.opts.collect_concurrency, thread_name_prefix="fleet-collect")
        try:
            self._watch("pod", f"/api/v1/namespaces/{self.ns}/pods")
            self._watch("job", f"/apis/batch/v1/namespaces/{self.ns}/jobs")
            self._start(self._create_all, "fleet-create")
            self._loop(tracker, pool)
        except BaseException:
            self._halt(pool, wait=False)
            self._cleanup()  # Ctrl-C or an error: nothing of this run stays in the cluster
            raise
        self._halt(pool, wait=True)
        if not self.opts.keep_jobs:
            self._cleanup()
        runs = [tracker.runs[n.name] for n in self.nodes]
        for run in runs:
            if run.collect != "done":
                write_failed_run(self.out, run, self.job_opts.notebook)
        manifest = write_manifest(
            self.out, self.job_opts, self.nodes, runs, started=started, duration_s=time.monotonic() - t0
        )
        return FleetResult(self.out, self.job_opts.run_id, runs, manifest)

    # -- threads -------------------------------------------------------------------------------

    def _start(self, target: Callable[[], None], name: str) -> None:
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # surfaced by the main loop
                self._post(("crash", name, exc))

        t = threading.Thread(target=guarded, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _halt(self, pool: ThreadPoolExecutor, *, wait: bool) -> None:
        """Stop every thread of the run; creators first, so no Job appears after the cleanup."""
        self._stop.set()
        for resp in self._streams:  # unblock watches waiting for their next event
            with contextlib.suppress(Exception):
                resp.shutdown()
        pool.shutdown(wait=wait, cancel_futures=not wait)
        for t in self._threads:
            t.join(timeout=30 if t.name == "fleet-create" else 2)

    def _post(self, item: tuple[Any, ...]) -> None:
        while not self._stop.is_set():
            try:
                self._events.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _watch(self, kind: str, path: str) -> None:
        """List then watch from the list's resourceVersion; re-list when the server says 410."""
        ready = threading.Event()
        failed: list[BaseException] = []

        def loop() -> None:
            rv = ""
            while not self._stop.is_set():
                if not rv:
                    try:
                        items, rv = self.api.list(path, self.selector)
                    except BaseException as exc:
                        failed.append(exc)
                        raise
                    finally:
                        ready.set()
                    for obj in items:
                        self._post(("event", kind, "ADDED", slim(obj)))
                try:
                    for ev in self.api.watch(
                        path,
                        self.selector,
                        rv,
                        timeout_s=self.opts.watch_timeout_s,
                        opened=self._streams.append,
                    ):
                        if self._stop.is_set():
                            return
                        obj = ev.get("object") or {}
                        if ev.get("type") == "ERROR":
                            rv = "" if obj.get("code") == 410 else rv
                            break
                        rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                        if ev.get("type") != "BOOKMARK":
                            self._post(("event", kind, str(ev.get("type")), slim(obj)))
                except ApiError as exc:
                    if exc.status == 410:
                        rv = ""
                    elif exc.status in (401, 403, 404):
                        raise
                    else:
                        self._stop.wait(1.0)
                except Exception:  # a dropped or shut-down stream: watch again from rv
                    self._stop.wait(1.0)

        self._start(loop, f"fleet-watch-{kind}")
        if not ready.wait(timeout=60):
            raise ApiError(f"list {path}", 0, "no answer within 60 s")
        if failed:
            raise failed[0]

    def _create_all(self) -> None:
        bucket = TokenBucket(self.opts.qps, self.opts.burst)
        nodes = self.nodes
        first_batch = True
        with ThreadPoolExecutor(self.opts.create_workers, thread_name_prefix="fleet-create") as pool:
            for i in range(0, len(nodes), self.opts.batch_size):
                if self._stop.is_set():
                    return
                batch = nodes[i : i + self.opts.batch_size]
                errors = list(pool.map(lambda n: self._create(n, bucket), batch))
                if first_batch and len(batch) > 1 and all(errors) and len(set(errors)) == 1:
                    for n in nodes[i + len(batch) :]:
                        self._post(("create_failed", n.name, f"not created: {errors[0]}"))
                    return
                first_batch = False
        self._post(("created_all",))

    def _create(self, node: Node, bucket: TokenBucket) -> str:
        if self._stop.is_set():
            return "stopped"
        extra = {self.opts.mesh_parameter: mesh_targets(self.nodes, node.name)} if self.opts.mesh else None
        if node.name in self.opts.node_parameters:
            extra = {**(extra or {}), **self.opts.node_parameters[node.name]}
        manifest = jobspec.build(node.name, self.job_opts, extra_parameters=extra)
        bucket.take()
        try:
            self.api.create_job(self.ns, manifest)
        except ApiError as exc:
            self._post(("create_failed", node.name, str(exc)))
            return f"HTTP {exc.status}: {exc.reason}"  # the same for every node when it is RBAC/quota
        self._post(("created", node.name))
        return ""

    # -- main loop -----------------------------------------------------------------------------

    def _loop(self, tracker: Tracker, pool: ThreadPoolExecutor) -> None:
        deadline = (
            time.monotonic()
            + self.job_opts.timeout_s
            + self.job_opts.start_margin_s
            + len(self.nodes) / self.opts.qps
            + 120
        )
        created_all = False
        changed = True
        while True:
            try:
                item = self._events.get(timeout=0.2)
            except queue.Empty:
                item = None
            now = time.monotonic()
            while item is not None:
                changed |= self._apply(tracker, item, now)
                if item[0] == "created_all":
                    created_all = True
                try:
                    item = self._events.get_nowait()
                except queue.Empty:
                    item = None
            for node in tracker.tick(now):
                pool.submit(self._delete_one, node)
                changed = True
            for run in tracker.to_collect():
                pool.submit(self._collect, run.node, run.pod)
            if changed and self.on_progress:
                self.on_progress(tracker.counts(), False)
                changed = False
            if tracker.done() and (created_all or all(r.terminal for r in tracker.runs.values())):
                break
            if now > deadline:
                for run in tracker.unfinished():
                    if not run.terminal:
                        tracker._fail(
                            run, run.reason or "ControllerTimeout", "no outcome before the fleet deadline"
                        )
                    if run.collect == "queued":
                        tracker.collected(run.node, ok=False, result="collection did not finish in time")
                break
        if self.on_progress:
            self.on_progress(tracker.counts(), True)

    def _apply(self, tracker: Tracker, item: tuple[Any, ...], now: float) -> bool:
        kind = str(item[0])
        if kind == "event":
            _, what, etype, obj = item
            if what == "pod":
                tracker.on_pod(etype, obj, now)
            else:
                tracker.on_job(etype, obj, now)
        elif kind == "created":
            tracker.created(item[1])
        elif kind == "create_failed":
            tracker.create_failed(item[1], item[2])
        elif kind == "collected":
            tracker.collected(item[1], ok=item[2], result=item[3])
        elif kind == "crash":
            raise item[2]
        return kind != "created_all"

    def _delete_one(self, node: str) -> None:
        with contextlib.suppress(ApiError):
            self.api.delete_job(self.ns, jobspec.job_name(self.job_opts.run_id, node))

    def _cleanup(self) -> None:
        with contextlib.suppress(ApiError):
            self.api.delete_jobs(self.ns, self.selector)

    # -- collection ----------------------------------------------------------------------------

    def _collect(self, node: str, pod: str) -> None:
        try:
            ok, text = collect(
                self.api,
                self.ns,
                pod,
                dest=self.out / safe_dir(node),
                limit=self.job_opts.result_limit,
                source=f"log of pod {pod} (node {node})",
            )
        except NetdebugError as exc:
            ok, text = False, str(exc)
        except Exception as exc:  # a collection must never take the run down with it
            ok, text = False, f"{type(exc).__name__}: {exc}"
        self._post(("collected", node, ok, text))


def slim(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What the tracker reads of a Pod or Job: queued events stay small (no spec) at 500 nodes."""
    meta = obj.get("metadata") or {}
    return {
        "metadata": {k: meta[k] for k in ("name", "labels", "annotations", "resourceVersion") if k in meta},
        "status": obj.get("status") or {},
    }


def collect(api: Api, namespace: str, pod: str, *, dest: Path, limit: int, source: str) -> tuple[bool, str]:
    """Read the pod's log, verify its frame, unpack the result under ``dest``.

    Returns (ok, where-it-went or why-not). The log is read with ``limitBytes`` a little above
    what a frame of ``limit`` bytes needs, so a runaway pod cannot flood the controller.
    """
    log_limit = limit * 4 // 3 + 64 * 1024
    resp = api.log(namespace, pod, jobspec.CONTAINER, limit_bytes=log_limit)
    tail: deque[str] = deque(maxlen=3)
    with tempfile.TemporaryFile() as tmp:
        unframer = framing.Unframer(tmp.write, source=source)
        try:
            for line in lines(resp):
                if not unframer.in_frame and not line.startswith(b"==== NETDEBUG-RESULT"):
                    tail.append(line.decode("utf-8", "replace").strip()[:200])
                unframer.feed(line)
        except framing.FramingError as exc:
            return False, f"ResultCorrupted: {exc}"
        finally:
            resp.release_conn()
        try:
            unframer.close()
        except framing.FramingError as exc:
            return False, f"ResultTruncated: {exc}"
        good = [r for r in unframer.records if r.ok]
        if good:
            tmp.seek(0)
            tops = result.unpack(tmp, dest, source=source)
            return True, ", ".join(str(t) for t in tops)
        bad = [r for r in unframer.records if not r.ok]
        if bad and bad[0].error == "oversize":
            return False, (
                f"ResultTooLarge: the result is {bad[0].size} bytes compressed, over the limit of "
                f"{bad[0].fields.get('limit', limit)} (raise --result-limit)"
            )
        if bad:
            return False, f"ResultError: {bad[0].error}"
        last = " | ".join(t for t in tail if t) or "empty log"
        return False, f"NoResult: no result frame in the pod log (last lines: {last})"


# --- outputs ---------------------------------------------------------------------------------


def safe_dir(node: str) -> str:
    """A node name as a directory name (node names are DNS names, but be strict)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", node).strip(".")
    return name or "_"


def write_failed_run(out: Path, run: NodeRun, notebook: str) -> Path:
    """A findings.json for a node without a result, so the incident index lists it with the reason."""
    run_dir = out / safe_dir(run.node) / notebook
    run_dir.mkdir(parents=True, exist_ok=True)
    fj = run_dir / "findings.json"
    if fj.is_file() and run.collect == "done":
        return fj
    reason = run.reason or "NoResult"
    why = run.message if run.state == "failed" else run.result
    if run.state == "succeeded" and run.result:
        reason, _, why = run.result.partition(": ")
    error = f"{reason}: {why}".rstrip(": ")
    doc = {
        "notebook": notebook,
        "parameters": {},
        "status": "failed",
        "error": f"node {run.node}: {error}",
        "error_detail": {
            "type": "FleetJobError",
            "reason": reason,
            "message": why,
            "job": run.job,
            "pod": run.pod,
        },
        "started": None,
        "duration_s": 0,
        "findings": [
            {
                "id": "fleet.job_failed",
                "severity": "critical",
                "title": f"{run.node}: no result ({reason})",
                "detail": why or reason,
                "evidence": {"node": run.node, "job": run.job, "pod": run.pod, "reason": reason},
            }
        ],
    }
    fj.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return fj


def write_manifest(
    out: Path,
    opts: jobspec.JobOptions,
    nodes: Sequence[Node],
    runs: Sequence[NodeRun],
    *,
    started: dt.datetime,
    duration_s: float,
) -> Path:
    """``DIR/fleet.json``: which node ran what, with which IP, and how it ended (read by the merge)."""
    by = {r.node: r for r in runs}
    doc = {
        "run_id": opts.run_id,
        "notebook": opts.notebook,
        "parameters": opts.parameters,
        "namespace": opts.namespace,
        "image": opts.image,
        "host_network": opts.host_network,
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(duration_s, 3),
        "nodes": [
            {
                "node": n.name,
                "dir": safe_dir(n.name),
                "internal_ip": n.internal_ip,
                "pod_ip": by[n.name].pod_ip,
                "ready": n.ready,
                **{k: v for k, v in by[n.name].to_dict().items() if k != "node"},
                "collected": by[n.name].collect == "done",
            }
            for n in nodes
        ],
    }
    path = out / MANIFEST
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path


def read_manifest(fleet_dir: Path) -> dict[str, Any]:
    path = fleet_dir / MANIFEST
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(path, f"not a fleet output directory ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise InputError(path, f"invalid JSON: {exc}") from exc
    if not isinstance(doc.get("nodes"), list):
        raise InputError(path, "no 'nodes' list")
    return doc


# --- the whole thing -------------------------------------------------------------------------


def plan(
    notebook: str,
    parameters: Mapping[str, Any],
    *,
    mesh: bool = False,
    mesh_pods: bool = False,
    **fields: Any,
) -> jobspec.JobOptions:
    """Validate a fleet request before anything is created, and describe its Jobs.

    ``fields`` are the remaining :class:`jobspec.JobOptions` (image, namespace, limits...). Mesh
    mode gives the latency notebook every other node as targets (probed with fping first).
    """
    from netdebug_nb import catalogue
    from netdebug_nb.parameters import validate

    info = catalogue.find(notebook)
    params = validate(info.parameters, dict(parameters), notebook=info.name)
    if mesh and info.parameter("targets") is None:
        raise jobspec.JobSpecError(f"--mesh: notebook {info.name!r} has no 'targets' parameter")
    opts = jobspec.JobOptions(
        notebook=info.name,
        run_id=new_run_id(),
        parameters=params,
        fping_first=mesh and info.name == "latency",
        **fields,
    )
    if mesh and mesh_pods and not opts.host_network:
        opts = dataclasses.replace(opts, peers=1)  # the controller sets the real count per run
    return opts


def run(
    api: Api,
    job_opts: jobspec.JobOptions,
    opts: FleetOptions,
    out: Path,
    *,
    on_start: Callable[[Sequence[Node]], None] | None = None,
    on_progress: Callable[[Mapping[str, int], bool], None] | None = None,
) -> FleetResult:
    """Run ``job_opts.notebook`` on the selected nodes; results, merge and index under ``out``."""
    nodes = select_nodes(api, opts.nodes)
    if on_start is not None:
        on_start(nodes)
    ctl = Controller(api, job_opts, opts, out, on_progress=on_progress)
    res = ctl.run(nodes)
    if opts.merge:
        res.merge_error = merge(out, opts.merge_notebook, opts.merge_parameters)
    if opts.report:
        from netdebug_nb import report

        res.index = report.build(out)
    return res


def merge(
    out: Path, notebook: str = MERGE_NOTEBOOK, parameters: Mapping[str, Any] | None = None
) -> NetdebugError | None:
    """Run the merge notebook (fleet_mesh) over ``out`` (its failure is reported, not raised)."""
    from netdebug_nb import runner

    params = dict(parameters) if parameters is not None else {"fleet_dir": str(out.resolve())}
    try:
        runner.run(notebook, params, out=out, timeout=600)
    except NetdebugError as exc:
        return exc
    return None


def clean(api: Api, namespace: str | None, run_id: str | None = None) -> int:
    """Delete fleet Jobs (of one run, or all) in ``namespace`` (None: every namespace)."""
    selector = jobspec.run_selector(run_id) if run_id else jobspec.FLEET_SELECTOR
    return api.delete_jobs(namespace, selector)

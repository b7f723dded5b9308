"""Per-node state of a fleet run, driven by watch events: sans-I/O (time is a parameter).

The controller feeds every Pod and Job event of its run here and asks what to do next (which
logs to collect, which stuck pods to give up on). Keeping this free of I/O lets the reasons a
node failed (``Unschedulable``, ``ImagePullBackOff``, ``OOMKilled``, ``DeadlineExceeded`` ...)
be tested from plain dicts, and keeps the controller a loop.

Pods that wait (unschedulable, image not pullable) are not failed at once: the scheduler or the
registry may recover. After ``pending_timeout_s`` they are, with the waiting reason; the Job's
deadline would otherwise report them as a bare ``DeadlineExceeded``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netdebug_nb.fleet.jobspec import ANNOTATION_NODE

WAITING_PROBLEMS = frozenset(
    {
        "Unschedulable",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "CrashLoopBackOff",
    }
)
"""Reasons a pod can wait forever; reported when the pending timeout expires."""

STATES = ("pending", "running", "succeeded", "failed")


@dataclass
class NodeRun:
    node: str
    job: str
    state: str = "pending"  # one of STATES
    reason: str = ""  # why it failed (or what it is waiting for)
    message: str = ""
    pod: str = ""
    pod_ip: str = ""  # mesh with pods: the merge maps it back to this node
    created: bool = False
    waiting_since: float | None = None
    collect: str = "no"  # no | queued | done | error
    result: str = ""  # where the result went, or why it could not be collected

    @property
    def terminal(self) -> bool:
        return self.state in ("succeeded", "failed")

    @property
    def finished(self) -> bool:
        """Nothing more will happen for this node."""
        return self.terminal and self.collect in ("no", "done", "error") and not self._needs_collect()

    def _needs_collect(self) -> bool:
        return bool(self.pod) and self.collect == "no" and self.reason not in _NO_LOG_REASONS

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "job": self.job,
            "pod": self.pod,
            "state": self.state,
            "reason": self.reason,
            "message": self.message,
            "result": self.result,
        }


_NO_LOG_REASONS = frozenset(WAITING_PROBLEMS | {"CreateFailed", "Deleted", "NotFound"})


class Tracker:
    def __init__(self, nodes: Mapping[str, str], *, pending_timeout_s: float = 300.0) -> None:
        """``nodes`` maps node name → Job name."""
        self.runs: dict[str, NodeRun] = {n: NodeRun(node=n, job=j) for n, j in nodes.items()}
        self._by_job = {j: n for n, j in nodes.items()}
        self.pending_timeout_s = pending_timeout_s

    # --- inputs ---------------------------------------------------------------------------

    def created(self, node: str) -> None:
        self.runs[node].created = True

    def create_failed(self, node: str, message: str) -> None:
        self._fail(self.runs[node], "CreateFailed", message)

    def on_pod(self, kind: str, pod: Mapping[str, Any], now: float) -> None:
        run = self._find(pod)
        if run is None:
            return
        run.pod = run.pod or _name(pod)
        if run.pod != _name(pod):
            return  # backoffLimit 0: a second pod would be a foreign one
        status = pod.get("status") or {}
        run.pod_ip = str(status.get("podIP") or run.pod_ip)
        phase = status.get("phase", "Pending")
        term = _terminated(status)
        if run.terminal:
            if run.reason == "BackoffLimitExceeded" and phase == "Failed":  # the Job spoke first
                run.reason = ""
            else:
                return
        if kind == "DELETED" and not run.terminal and phase not in ("Succeeded", "Failed"):
            self._fail(run, run.reason or "Deleted", run.message or "pod deleted before it finished")
            return
        if phase == "Succeeded":
            run.state, run.reason, run.message = "succeeded", "", ""
        elif phase == "Failed":
            reason = (term or {}).get("reason") or status.get("reason") or "Failed"
            if reason == "Error" and (term or {}).get("exitCode") is not None:
                reason = f"Error (exit code {term['exitCode']})"  # type: ignore[index]
            msg = status.get("message") or (term or {}).get("message") or ""
            self._fail(run, reason, msg)
        elif phase == "Running":
            run.state, run.waiting_since = "running", None
            run.reason = run.message = ""
        else:
            reason, msg = _waiting(status)
            if reason in WAITING_PROBLEMS:
                if run.reason != reason:
                    run.waiting_since = now
                run.reason, run.message = reason, msg
            else:
                run.reason, run.message, run.waiting_since = reason, msg, None
            run.state = "pending"

    def on_job(self, kind: str, job: Mapping[str, Any], now: float) -> None:
        name = str((job.get("metadata") or {}).get("name", ""))
        node = self._by_job.get(name)
        if node is None:
            return
        run = self.runs[node]
        for cond in (job.get("status") or {}).get("conditions") or []:
            if cond.get("status") != "True":
                continue
            if cond.get("type") == "Failed" and not run.terminal:
                reason = str(cond.get("reason") or "Failed")
                msg = str(cond.get("message") or "")
                if run.reason in WAITING_PROBLEMS:  # the deadline hit a pod that never started
                    msg = f"{run.message} (Job {reason} while pending)".strip()
                    reason = run.reason
                self._fail(run, reason, msg)
            elif cond.get("type") == "Complete" and not run.terminal:
                run.state, run.reason, run.message = "succeeded", "", ""
        if kind == "DELETED" and not run.terminal:
            self._fail(run, "Deleted", "Job deleted before it finished")

    def tick(self, now: float) -> list[str]:
        """Give up on pods that waited too long; returns their nodes (their Jobs should go)."""
        expired = []
        for run in self.runs.values():
            if (
                not run.terminal
                and run.waiting_since is not None
                and now - run.waiting_since >= self.pending_timeout_s
            ):
                self._fail(
                    run, run.reason, f"{run.message} (gave up after {self.pending_timeout_s:g} s)".strip()
                )
                expired.append(run.node)
        return expired

    # --- queries --------------------------------------------------------------------------

    def to_collect(self) -> list[NodeRun]:
        """Nodes whose pod has ended and whose log may hold a result; marks them queued."""
        out = []
        for run in self.runs.values():
            if run.terminal and run._needs_collect():
                run.collect = "queued"
                out.append(run)
        return out

    def collected(self, node: str, *, ok: bool, result: str) -> None:
        run = self.runs[node]
        run.collect, run.result = ("done" if ok else "error"), result

    def counts(self) -> dict[str, int]:
        c = Counter(r.state for r in self.runs.values())
        out = {s: c.get(s, 0) for s in STATES}
        out["collected"] = sum(1 for r in self.runs.values() if r.collect == "done")
        return out

    def done(self) -> bool:
        return all(r.finished for r in self.runs.values())

    def unfinished(self) -> list[NodeRun]:
        return [r for r in self.runs.values() if not r.finished]

    # --- helpers --------------------------------------------------------------------------

    def _find(self, pod: Mapping[str, Any]) -> NodeRun | None:
        meta = pod.get("metadata") or {}
        node = (meta.get("annotations") or {}).get(ANNOTATION_NODE)
        if node in self.runs:
            return self.runs[node]
        job = (meta.get("labels") or {}).get("job-name") or (meta.get("labels") or {}).get(
            "batch.kubernetes.io/job-name"
        )
        n = self._by_job.get(str(job))
        return self.runs[n] if n else None

    @staticmethod
    def _fail(run: NodeRun, reason: str, message: str) -> None:
        run.state, run.reason, run.message, run.waiting_since = "failed", reason, message, None


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _terminated(status: Mapping[str, Any]) -> dict[str, Any] | None:
    for cs in status.get("containerStatuses") or []:
        term = (cs.get("state") or {}).get("terminated") or (cs.get("lastState") or {}).get("terminated")
        if term:
            return dict(term)
    return None


def _waiting(status: Mapping[str, Any]) -> tuple[str, str]:
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason"):
            return str(waiting["reason"]), str(waiting.get("message") or "")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return str(cond.get("reason") or "Unschedulable"), str(cond.get("message") or "")
    return "", ""

from __future__ import annotations

from typing import Any

from netdebug_nb.fleet.jobspec import ANNOTATION_NODE
from netdebug_nb.fleet.tracker import Tracker


def pod(node: str, phase: str = "Pending", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{node}-pod",
            "annotations": {ANNOTATION_NODE: node},
            "labels": {"job-name": f"j-{node}"},
        },
        "status": {"phase": phase, **status},
    }


def job(node: str, cond: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {
        "metadata": {"name": f"j-{node}"},
        "status": {"conditions": [{"type": cond, "status": "True", "reason": reason, "message": message}]},
    }


def tracker(*nodes: str, pending: float = 10.0) -> Tracker:
    return Tracker({n: f"j-{n}" for n in nodes}, pending_timeout_s=pending)


def test_success_then_collect_once() -> None:
    t = tracker("a")
    t.on_pod("ADDED", pod("a"), 0)
    t.on_pod("MODIFIED", pod("a", "Running"), 1)
    assert t.counts()["running"] == 1 and not t.to_collect()
    t.on_pod("MODIFIED", pod("a", "Succeeded"), 2)
    assert [r.node for r in t.to_collect()] == ["a"]
    assert t.to_collect() == []  # queued once
    assert not t.done()
    t.collected("a", ok=True, result="DIR/a/latency")
    assert t.done() and t.counts()["collected"] == 1


def test_unschedulable_waits_then_fails_with_its_reason() -> None:
    t = tracker("a", pending=5)
    cond = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}]
    t.on_pod("ADDED", pod("a", conditions=cond), 100)
    assert t.tick(104) == [] and t.runs["a"].state == "pending"
    assert t.tick(105) == ["a"]
    r = t.runs["a"]
    assert (r.state, r.reason) == ("failed", "Unschedulable") and "0/3 nodes" in r.message
    assert t.to_collect() == [] and t.done()  # no log to read from a pod that never ran


def test_deadline_on_a_pending_pod_keeps_the_waiting_reason() -> None:
    t = tracker("a")
    waiting = [{"name": "c", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off"}}}]
    t.on_pod("ADDED", pod("a", containerStatuses=waiting), 0)
    t.on_job("MODIFIED", job("a", "Failed", "DeadlineExceeded", "Job was active longer"), 1)
    r = t.runs["a"]
    assert r.reason == "ImagePullBackOff" and "DeadlineExceeded while pending" in r.message


def test_oom_reason_wins_over_backoff_limit_whatever_the_order() -> None:
    oom = [{"name": "c", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]
    for first in ("job", "pod"):
        t = tracker("a")
        t.on_pod("ADDED", pod("a", "Running"), 0)
        events = [
            lambda t=t: t.on_job("MODIFIED", job("a", "Failed", "BackoffLimitExceeded"), 1),
            lambda t=t: t.on_pod("MODIFIED", pod("a", "Failed", containerStatuses=oom), 1),
        ]
        for ev in events if first == "job" else events[::-1]:
            ev()
        assert t.runs["a"].reason == "OOMKilled", first


def test_error_exit_code_is_named() -> None:
    t = tracker("a")
    term = [{"name": "c", "state": {"terminated": {"reason": "Error", "exitCode": 2}}}]
    t.on_pod("MODIFIED", pod("a", "Failed", containerStatuses=term), 0)
    assert t.runs["a"].reason == "Error (exit code 2)"


def test_pod_deleted_before_finishing_is_a_failure() -> None:
    t = tracker("a")
    t.on_pod("ADDED", pod("a", "Running"), 0)
    t.on_pod("DELETED", pod("a", "Running"), 1)
    assert (t.runs["a"].state, t.runs["a"].reason) == ("failed", "Deleted")


def test_foreign_pods_and_jobs_are_ignored() -> None:
    t = tracker("a")
    t.on_pod("ADDED", pod("zzz", "Failed"), 0)
    t.on_job("ADDED", job("zzz", "Failed", "DeadlineExceeded"), 0)
    assert t.runs["a"].state == "pending"


def test_create_failure_is_final() -> None:
    t = tracker("a", "b")
    t.create_failed("a", "HTTP 403: forbidden")
    assert t.runs["a"].reason == "CreateFailed" and t.runs["a"].finished
    assert not t.done()

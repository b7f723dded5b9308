"""One rung of the ladder: what was checked, how it came out, and which objects say so.

Every check of the path from A to B ends as a :class:`Step`, so the terminal, the JSON output,
the notebook table and the findings are four views of one list. ``status`` is one of
:data:`STATUSES`; a ``blocked`` step carries the stable finding id that names the break and the
change that would fix it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from netdebug_nb import schema

if TYPE_CHECKING:
    import pandas as pd

Status = Literal["ok", "blocked", "warning", "skipped"]
STATUSES: tuple[Status, ...] = ("ok", "blocked", "warning", "skipped")

STAGES: Mapping[int, str] = {
    1: "source and destination",
    2: "DNS",
    3: "Service",
    4: "NetworkPolicy",
    5: "dataplane",
    6: "live probes",
    7: "verdict",
}

STEPS_SCHEMA: schema.Schema = {
    "stage": "Int64",  # 1..7, the ladder's rung (STAGES)
    "step": "string",  # stable id: resolve.source, service.port, netpol.ingress, probe.endpoints ...
    "status": "string",  # ok | blocked | warning | skipped
    "detail": "string",  # one or two sentences: what was seen
    "fix": "string",  # what to change ("" when nothing is wrong)
    "finding": "string",  # finding id behind a blocked/warning row ("" otherwise)
    "objects": "object",  # list[str]: "service payments/api", "pod payments/api-0", "networkpolicy ..."
}


VIEW_SCHEMA: schema.Schema = {
    "rung": "string",  # "3 Service"
    "status": "string",  # ok | BLOCKED | warning | skipped (blocked shouted: it is the answer)
    "step": "string",
    "detail": "string",
    "fix": "string",
    "objects": "string",  # comma-joined
}


@dataclass(frozen=True)
class Step:
    stage: int
    step: str
    status: Status
    detail: str
    objects: tuple[str, ...] = ()
    fix: str = ""
    finding: str = ""
    severity: str = ""  # of the finding: critical | warning | info ("" = derived from status)
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The row of ``k8s why --json`` (the issue's four keys first, the rest added)."""
        return {
            "step": self.step,
            "status": self.status,
            "detail": self.detail,
            "objects": list(self.objects),
            "stage": self.stage,
            "fix": self.fix,
            "finding": self.finding or None,
        }


def ok(stage: int, step: str, detail: str, objects: Sequence[str] = (), **kw: Any) -> Step:
    return Step(stage, step, "ok", detail, tuple(objects), **kw)


def blocked(
    stage: int, step: str, detail: str, objects: Sequence[str] = (), *, finding: str, fix: str = "", **kw: Any
) -> Step:
    return Step(stage, step, "blocked", detail, tuple(objects), fix=fix, finding=finding, **kw)


def warning(stage: int, step: str, detail: str, objects: Sequence[str] = (), **kw: Any) -> Step:
    return Step(stage, step, "warning", detail, tuple(objects), **kw)


def skipped(stage: int, step: str, detail: str, objects: Sequence[str] = (), **kw: Any) -> Step:
    return Step(stage, step, "skipped", detail, tuple(objects), **kw)


def make(status: Status, stage: int, step: str, detail: str, objects: Sequence[str] = (), **kw: Any) -> Step:
    """A row whose status is decided at run time (blocked for every backend, warning for some)."""
    return Step(stage, step, status, detail, tuple(objects), **kw)


def frame(steps: Sequence[Step]) -> pd.DataFrame:
    rows = [
        {
            "stage": s.stage,
            "step": s.step,
            "status": s.status,
            "detail": s.detail,
            "fix": s.fix,
            "finding": s.finding,
            "objects": list(s.objects),
        }
        for s in steps
    ]
    return schema.frame(rows, STEPS_SCHEMA)


def view(steps: Sequence[Step]) -> pd.DataFrame:
    """The ladder as people read it in a report: the rung named, BLOCKED shouted, objects joined."""
    rows = [
        {
            "rung": f"{s.stage} {STAGES[s.stage]}",
            "status": "BLOCKED" if s.status == "blocked" else s.status,
            "step": s.step,
            "detail": s.detail,
            "fix": s.fix,
            "objects": ", ".join(s.objects),
        }
        for s in steps
    ]
    return schema.frame(rows, VIEW_SCHEMA)


def markdown(steps: Sequence[Step]) -> str:
    """The ladder as a Markdown table: nothing clipped (a table presenter cuts long cells, and the
    detail of a rung is the evidence), BLOCKED in bold, the fix under the detail."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    mark = {"blocked": "**BLOCKED**", "warning": "*warning*", "ok": "ok", "skipped": "skipped"}
    lines = ["| rung | status | step | what was seen | objects |", "|---|---|---|---|---|"]
    for s in steps:
        detail = cell(s.detail) + (f"<br>**fix:** {cell(s.fix)}" if s.fix and s.status != "ok" else "")
        lines.append(
            f"| {s.stage} {STAGES[s.stage]} | {mark[s.status]} | `{s.step}` | {detail} | {cell(', '.join(s.objects))} |"
        )
    return "\n".join(lines) + "\n"

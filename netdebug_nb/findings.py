"""Findings: what a notebook concluded, in a form both people and scripts can read.

Notebook code calls :func:`record`. The finding is displayed as one output carrying three
representations: an HTML box for people, plain text for terminals, and the JSON document under
the MIME type :data:`MIME`. The runner reads findings back from the executed notebook with
:func:`from_notebook`, so ``findings.json`` never depends on scraping HTML, and a notebook run by
plain ``papermill`` (or by a fleet Job) can still be turned into a report.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")
"""Most severe first: the sort order of every report."""

MIME = "application/vnd.netdebug.finding+json"
KEEP = "netdebug.keep"
"""DataFrame attribute of a table that stays on screen while a notebook has no input
(:func:`netdebug_nb.guidance.table_note`)."""

_COLORS = {"critical": "#b00020", "warning": "#b26a00", "info": "#1f5fa8"}
_recorded: list[Finding] = []


@dataclass(frozen=True)
class Finding:
    """One conclusion. ``id`` is stable and dotted (``tcp.retransmissions``): scripts key on it."""

    id: str
    severity: Severity
    title: str
    detail: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    inconclusive: bool = False
    """Something the run was asked to measure could not be measured (a tool failed, nothing came
    back, nothing was given): the run ends ``inconclusive`` instead of ``ok``."""

    def to_dict(self) -> dict[str, Any]:
        d = {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "detail": self.detail,
            "evidence": jsonable(dict(self.evidence)),
        }
        if self.inconclusive:  # only when set: findings.json of older runs stay as they were
            d["inconclusive"] = True
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            id=str(d["id"]),
            severity=_severity(str(d["severity"])),
            title=str(d["title"]),
            detail=str(d.get("detail", "")),
            evidence=dict(d.get("evidence") or {}),
            inconclusive=bool(d.get("inconclusive", False)),
        )

    def _repr_html_(self) -> str:
        color = _COLORS[self.severity]
        return (
            f"<div class='netdebug-finding netdebug-{self.severity}' style='border-left:6px solid {color};padding:.5em .8em;"
            f"margin:.4em 0;background:#fafafa'>"
            f"<b class='netdebug-severity' style='color:{color}'>{self.severity.upper()}</b> "
            f"<code>{html.escape(self.id)}</code> — <b>{html.escape(self.title)}</b>"
            f"<div>{html.escape(self.detail)}</div>{_evidence_html(self.evidence)}</div>"
        )

    def __str__(self) -> str:
        text = f"[{self.severity.upper()}] {self.id}: {self.title}"
        return f"{text}\n    {self.detail}" if self.detail else text


def record(
    id: str,
    severity: str,
    title: str,
    detail: str = "",
    evidence: Mapping[str, Any] | None = None,
    *,
    inconclusive: bool = False,
    display: bool = True,
) -> Finding:
    """Record a finding and show it in the notebook.

    ``inconclusive=True`` marks a finding that says something could not be measured; a run with
    one ends ``inconclusive``, never with an all-clear.
    """
    if not id or any(not part for part in id.split(".")) or " " in id:
        raise ValueError(f"finding id must be dotted words like 'tcp.retransmissions', got {id!r}")
    f = Finding(
        id=id,
        severity=_severity(severity),
        title=title,
        detail=detail,
        evidence=dict(evidence or {}),
        inconclusive=inconclusive,
    )
    _recorded.append(f)
    if display:
        _display(f)
    return f


def recorded() -> list[Finding]:
    """Findings recorded in this process (this kernel), in order."""
    return list(_recorded)


def clear() -> None:
    _recorded.clear()


def status(items: Iterable[Finding]) -> str:
    """``inconclusive`` when any finding says something could not be measured, else ``ok``.

    The run's status in ``findings.json`` (a run that failed is ``failed`` whatever it found).
    """
    return "inconclusive" if any(f.inconclusive for f in items) else "ok"


def verdict(items: Iterable[Finding]) -> str:
    """One line saying how the run ended: what a reader must see before the table."""
    found = list(items)
    missing = [f.title for f in found if f.inconclusive]
    if missing:
        return "Inconclusive: " + "; ".join(missing)
    counts = [f"{n} {sev}" for sev in SEVERITIES if (n := sum(f.severity == sev for f in found))]
    return "Completed: " + (", ".join(counts) if counts else "no findings")


def summary(items: Iterable[Finding] | None = None) -> Any:
    """A table of findings, most severe first, for the end of a notebook, under the run's verdict."""
    import pandas as pd

    chosen = list(items if items is not None else _recorded)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        pass
    else:
        if get_ipython() is not None:  # in a kernel; a script gets the table only
            display(Markdown(f"**{verdict(chosen)}**"))
    rows = [f.to_dict() for f in sort(chosen)]
    df = pd.DataFrame(rows, columns=["severity", "id", "title", "detail"]).astype("string")
    df.attrs[KEEP] = True  # real content even when the notebook had no input (see guidance)
    return df


def sort(items: Iterable[Finding]) -> list[Finding]:
    return sorted(items, key=lambda f: (SEVERITIES.index(f.severity), f.id))


def from_notebook(nb: Mapping[str, Any]) -> list[Finding]:
    """Every finding displayed in an executed notebook, in cell order."""
    out: list[Finding] = []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) or []:
            data = output.get("data") or {}
            if MIME in data:
                payload = data[MIME]
                if isinstance(payload, str):
                    payload = json.loads(payload)
                out.append(Finding.from_dict(cast(Mapping[str, Any], payload)))
    return out


def jsonable(value: Any) -> Any:
    """Turn numpy/pandas scalars, timestamps, sets, NaN into plain JSON values."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, _dt.datetime | _dt.date):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return jsonable(tolist())
    isoformat = getattr(value, "isoformat", None)  # pandas Timestamp
    if callable(isoformat):
        return isoformat()
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (ImportError, TypeError, ValueError):
        pass
    return str(value)


def _severity(s: str) -> Severity:
    if s not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {s!r}")
    return s  # type: ignore[return-value]


def _evidence_html(evidence: Mapping[str, Any]) -> str:
    """The numbers behind a finding, formatted like every table (units, no long floats), folded."""
    if not evidence:
        return ""
    from netdebug_nb import present

    rows = []
    for key, value in evidence.items():
        if isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
            import pandas as pd

            text = present.table(pd.DataFrame(list(value)), top_n=10, csv=False).html
        else:
            text = f"<code>{html.escape(_short(value, key=str(key)))}</code>"
        rows.append(
            f"<tr><th style='text-align:left;padding-right:1em;vertical-align:top'>"
            f"{html.escape(present.header(str(key)))}</th><td style='text-align:left'>{text}</td></tr>"
        )
    return (
        f"<details class='netdebug-evidence-values'><summary>evidence ({len(rows)})</summary>"
        f"<table style='margin-top:.4em;font-size:90%'>{''.join(rows)}</table></details>"
    )


def _short(v: Any, limit: int = 200, key: str = "") -> str:
    if not isinstance(v, str):
        from netdebug_nb import present, schema

        v = present.value(v, schema.unit(key)) if not isinstance(v, Mapping) else v
        if isinstance(v, Mapping):
            v = ", ".join(f"{k}: {present.value(x, schema.unit(str(k)))}" for k, x in v.items())
    text = str(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _display(f: Finding) -> None:
    try:
        from IPython.display import display
    except ImportError:  # used outside Jupyter: the list still has it
        return
    display(
        {MIME: f.to_dict(), "text/html": f._repr_html_(), "text/plain": str(f)},
        raw=True,
    )

"""``netdebug-nb demo``: every shipped notebook on the bundled sample data, then the incident index.

Each notebook declares its demo parameters in its metadata (``netdebug.demo``), with ``{data}``
standing for the package's sample-data folder, so adding a notebook adds it to the demo. The demo
never needs root or a network: the samples are recorded captures and tool outputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from netdebug_nb import catalogue, report, runner
from netdebug_nb.errors import NetdebugError


@dataclass
class DemoResult:
    out: Path
    index: Path
    results: list[runner.RunResult] = field(default_factory=list)
    failures: dict[str, NetdebugError] = field(default_factory=dict)


def default_out() -> Path:
    return Path(f"netdebug-demo-{dt.datetime.now():%Y%m%d-%H%M%S}")


def parameters_for(info: catalogue.NotebookInfo) -> dict[str, Any]:
    """The notebook's demo parameters with ``{data}`` resolved to the bundled sample folder."""
    return {k: _substitute(v) for k, v in info.demo.items()}


def run(
    out: Path | None = None,
    *,
    progress: TextIO | None = None,
    on_start: Callable[[str], None] | None = None,
    timeout: float | None = 600,
) -> DemoResult:
    out = (out or default_out()).resolve()
    runner.prepare_output(out)
    result = DemoResult(out=out, index=out / report.INDEX)
    for info in catalogue.all_notebooks():
        if on_start:
            on_start(info.name)
        try:
            result.results.append(
                runner.run(info.name, parameters_for(info), out=out, timeout=timeout, progress=progress)
            )
        except NetdebugError as exc:
            result.failures[info.name] = exc
    result.index = report.build(out)
    return result


def _substitute(value: Any) -> Any:
    data = str(catalogue.DATA_DIR)
    if isinstance(value, str):
        return value.replace("{data}", data)
    if isinstance(value, list):
        return [_substitute(v) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v) for k, v in value.items()}
    return value

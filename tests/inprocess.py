"""Run a shipped notebook's cells in this process, in a real IPython shell, many times cheaply.

A kernel start costs seconds; the property tests run each notebook dozens of times on saved
outputs, so they execute the same cells (parameters, papermill-style injected values, the
check cell, the rest) in one ``InteractiveShell`` reset between runs. The end-to-end path
(papermill, kernel, runner) is covered by the CLI tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netdebug_nb import catalogue, findings


@dataclass
class Outcome:
    error: BaseException | None
    cell: int | None
    found: list[findings.Finding] = field(default_factory=list)


def execute(notebook: str, values: Mapping[str, Any]) -> Outcome:
    """Run ``notebook`` with ``values`` injected after its parameters cell, as papermill does."""
    import matplotlib
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    # no window, and no MPLBACKEND in os.environ: that would leak into every kernel the later
    # tests start (their notebooks would then draw no inline images)
    matplotlib.use("Agg")

    info = catalogue.find(notebook)
    nb = catalogue.read(info.path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=False)
    findings.clear()
    injected = "\n".join(f"{k} = {v!r}" for k, v in values.items())
    sources: list[str] = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        sources.append(src)
        if "parameters" in (cell.get("metadata", {}).get("tags") or []):
            sources.append(injected)
    try:
        for i, src in enumerate(sources):
            with capture_output(display=True):
                res = shell.run_cell(src, store_history=False)
            if res.error_before_exec is not None:
                return Outcome(res.error_before_exec, i, findings.recorded())
            if res.error_in_exec is not None:
                return Outcome(res.error_in_exec, i, findings.recorded())
        return Outcome(None, None, findings.recorded())
    finally:
        import matplotlib.pyplot as plt

        plt.close("all")

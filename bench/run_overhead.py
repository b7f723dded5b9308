"""Per-notebook overhead of `netdebug-nb run` against plain `papermill` on the same notebook.

Both execute the same notebook in the same kernel; netdebug-nb additionally validates parameters,
exports the HTML report and writes findings.json. Prints wall times (median of N) and the ratio.

    .venv/bin/python bench/run_overhead.py [NOTEBOOK] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("notebook", nargs="?", default=str(ROOT / "tests/fixtures/notebooks/ok.ipynb"))
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    subprocess.run([str(BIN / "netdebug-nb"), "kernel"], check=True, capture_output=True)
    nd, pm, pm_html = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            nd.append(timed([str(BIN / "netdebug-nb"), "run", args.notebook, "--out", f"{tmp}/nd{i}"]))
            out = f"{tmp}/pm{i}.ipynb"
            pm.append(
                timed([str(BIN / "papermill"), "-k", "netdebug", "--no-progress-bar", args.notebook, out])
            )
            t_html = timed([str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", out])
            pm_html.append(pm[-1] + t_html)
    m_nd, m_pm, m_pmh = statistics.median(nd), statistics.median(pm), statistics.median(pm_html)
    print(f"notebook: {args.notebook} (median of {args.repeat})")
    print(f"  papermill                      {m_pm:6.2f} s")
    print(f"  papermill + jupyter nbconvert  {m_pmh:6.2f} s")
    print(f"  netdebug-nb run (ipynb+html+findings.json) {m_nd:6.2f} s")
    print(
        f"  overhead vs papermill: {m_nd - m_pm:+.2f} s ({m_nd / m_pm:.2f}x); "
        f"vs papermill+nbconvert: {m_nd - m_pmh:+.2f} s ({m_nd / m_pmh:.2f}x)"
    )


if __name__ == "__main__":
    main()

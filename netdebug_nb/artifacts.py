"""Machine-readable tables a notebook leaves next to its report.

The runner tells the kernel where the run's output directory is (``NETDEBUG_RUN_DIR``); a notebook
saves a table there with :func:`save_csv` so scripts and fleet merges can read numbers without
parsing HTML. Run interactively (no runner), nothing is written and ``None`` is returned.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

ENV = "NETDEBUG_RUN_DIR"


def run_dir() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def save_csv(df: pd.DataFrame, name: str) -> Path | None:
    """Write ``df`` as ``RUN_DIR/name`` (a plain file name); None when not run by the runner."""
    if Path(name).name != name or not name.endswith(".csv"):
        raise ValueError(f"artifact name must be a plain file name ending in .csv, got {name!r}")
    target_dir = run_dir()
    if target_dir is None:
        return None
    path = target_dir / name
    tmp = path.with_suffix(".csv.tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)
    return path

"""Machine-readable tables a notebook leaves next to its report.

The runner tells the kernel where the run's output directory is (``NETDEBUG_RUN_DIR``); a notebook
saves a table there with :func:`save_csv` so scripts and fleet merges can read numbers without
parsing HTML. Run interactively (no runner), nothing is written and ``None`` is returned.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    write_csv(df, tmp)
    tmp.replace(path)
    return path


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """``df`` as CSV (no index), through Arrow's writer when it can take every column.

    Reports save tables of 100,000 rows and more (DNS transactions of a busy node); pandas formats
    timestamps in Python and takes seconds for one such table, Arrow's writer a fifth of that.
    Missing values are empty fields. UTC timestamps (every ``*_ts`` column is UTC) come out as
    ``2023-11-14 22:13:20.003697000``, without an offset: Arrow formats a zoned timestamp ten
    times slower (1.6 s for a million). A frame Arrow cannot convert (mixed objects in a column)
    is written by pandas, the same table in its formatting.
    """
    try:
        import pyarrow as pa
    except ImportError:
        df.to_csv(path, index=False)
        return
    try:
        first = pa.Table.from_pandas(df.iloc[:_SLICE], preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError):
        df.to_csv(path, index=False)
        return
    header = "none" if _plain(df.columns) else "needed"
    # plain fields, as people and `cut` like them; quoted only when a value has a comma or quote
    try:
        try:
            _write_slices(df, path, first, quoting="none", header=header)
        except pa.ArrowInvalid:  # a value with a comma, quote or newline: quote where needed
            _write_slices(df, path, first, quoting="needed", header=header)
    except _Unconvertible:
        df.to_csv(path, index=False)


# rows converted to Arrow at a time: a table of millions of rows (DNS queries of a big capture set)
# is written without a second copy of it in memory
_SLICE = 1 << 18


def _write_slices(df: pd.DataFrame, path: Path, first: Any, *, quoting: str, header: str) -> None:
    """``first`` (rows ``:_SLICE`` as Arrow), then the rest of ``df`` slice by slice, as one CSV."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    schema = first.schema
    written = schema  # UTC timestamps without their zone (see write_csv)
    for i, f in enumerate(schema):
        if pa.types.is_timestamp(f.type) and f.type.tz in ("UTC", "+00:00"):
            written = written.set(i, pa.field(f.name, pa.timestamp(f.type.unit)))
    options = pacsv.WriteOptions(batch_size=1 << 16, quoting_style=quoting, quoting_header=header)
    with pacsv.CSVWriter(str(path), written, write_options=options) as out:
        out.write_table(first.cast(written))
        for lo in range(_SLICE, len(df), _SLICE):
            try:
                part = pa.Table.from_pandas(df.iloc[lo : lo + _SLICE], schema=schema, preserve_index=False)
            except (pa.ArrowException, TypeError, ValueError) as exc:  # a later slice Arrow cannot take
                raise _Unconvertible(str(exc)) from exc
            out.write_table(part.cast(written))


class _Unconvertible(Exception):
    pass


def _plain(names: Iterable[Hashable]) -> bool:
    return all(isinstance(n, str) and not any(c in n for c in ',"\r\n') for n in names)

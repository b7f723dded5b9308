"""Declared DataFrame schemas.

Every DataFrame the kit returns is built through :func:`frame` or :func:`empty` from an
explicit column → dtype map, so consumers (notebooks, other modules, golden-file tests) can rely
on the columns existing, in order, with the same dtypes, even when there are no rows.
Units are part of column names (``rtt_ms``, ``bytes``, ``ts`` for UTC timestamps).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

Schema = Mapping[str, str]
"""Column name → pandas dtype string (``"Int64"``, ``"string"``, ``"datetime64[ns, UTC]"`` ...)."""


def empty(schema: Schema) -> pd.DataFrame:
    """An empty frame with exactly the declared columns and dtypes."""
    import pandas as pd

    return pd.DataFrame({col: pd.Series([], dtype=dtype) for col, dtype in schema.items()})


def frame(data: Mapping[str, Any] | pd.DataFrame | list[dict[str, Any]], schema: Schema) -> pd.DataFrame:
    """Build a frame from columns or records and coerce it to ``schema``.

    Missing columns are an error, not silently filled: a parser that forgets a column is a bug.
    Extra columns are dropped so the declared schema is the whole contract.
    """
    import pandas as pd

    if isinstance(data, list):
        if not data:
            return empty(schema)
        df = pd.DataFrame.from_records(data)
    elif isinstance(data, pd.DataFrame):
        df = data
    else:
        df = pd.DataFrame(dict(data))
    return conform(df, schema)


def conform(df: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Return ``df`` with the schema's columns, in order, cast to the declared dtypes."""
    import pandas as pd

    missing = [c for c in schema if c not in df.columns]
    if missing:
        raise ValueError(f"frame is missing declared columns: {', '.join(missing)}")
    if len(df) == 0:
        return empty(schema)
    out: dict[str, pd.Series] = {}
    for col, dtype in schema.items():
        s = df[col]
        if str(s.dtype) != dtype:
            if dtype.startswith("datetime64") and not str(s.dtype).startswith("datetime64"):
                s = pd.to_datetime(s, utc=True)
            s = s.astype(dtype)  # type: ignore[call-overload]
        out[col] = s.reset_index(drop=True)
    return pd.DataFrame(out)


def check(df: pd.DataFrame, schema: Schema) -> None:
    """Assert that ``df`` matches ``schema`` exactly (used by tests and at module boundaries)."""
    got = {str(c): str(t) for c, t in df.dtypes.items()}
    want = dict(schema)
    if list(got) != list(want) or got != want:
        diff = {c: (got.get(c), want.get(c)) for c in set(got) | set(want) if got.get(c) != want.get(c)}
        raise AssertionError(f"schema mismatch (column: got, declared): {diff}")


# Units, read from the column names the schemas declare. The presenter (present.py) formats every
# table from these, so a column's unit is decided once, here, and not by each notebook.
_UNIT_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_ts", "time"),
    ("_ms", "ms"),
    ("_us", "µs"),
    ("_pct", "%"),
    ("_mbps", "Mbit/s"),
    ("_bps", "bit/s"),
    ("_per_s", "/s"),
    ("_bytes", "bytes"),
    ("_rate", "share"),
    ("_s", "s"),
)
_UNIT_NAMES = {
    "ts": "time",
    "mbps": "Mbit/s",
    "bytes": "bytes",
    "bytes_per_s": "B/s",
    "fraction": "share",
}


def unit(column: str) -> str:
    """The unit a column name declares, '' when it declares none.

    ``time`` (a timestamp), ``ms``, ``µs``, ``s`` (a duration), ``%``, ``share`` (a 0..1 ratio such
    as ``retransmission_rate``), ``bytes``, ``B/s`` (``bytes_per_s``), ``/s`` (other ``_per_s``), ``bit/s``, ``Mbit/s``.
    ``bytes_ab`` (bytes from a to b) counts as bytes too; ``bytes_pct`` is a percentage.
    """
    name = column.lower()
    if name in _UNIT_NAMES:
        return _UNIT_NAMES[name]
    for suffix, kind in _UNIT_SUFFIXES:
        if name.endswith(suffix):
            return kind
    if name.startswith("bytes_"):
        return "bytes"
    return ""

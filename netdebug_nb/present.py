"""Tables for people: the one presenter every notebook's DataFrames go through.

In a notebook, call :func:`install` once in the import cell; from then on every DataFrame a cell
shows is formatted by :func:`table` (and figures get the shared style of :mod:`plotstyle`). Call
:func:`table` yourself where a table needs a caption or a row limit::

    from netdebug_nb import present

    present.install()
    ...
    present.table(convs, top_n=top_n, caption="Conversations, largest first")

What people get, whatever the notebook: no 0, 1, 2… index column; the unit in the header and
values a person reads (``12.9`` under ``rtt (ms)``, ``3.2 MiB``, ``4 min 05 s``, ``3.23`` under
``loss (%)``); missing values as ``—`` (never ``<NA>``, ``NaN`` or ``None``); times as
``HH:MM:SS.mmm`` with the date once in the caption; numbers right-aligned; a long table cut at
``top_n`` rows with "N more rows" and, in a run of ``netdebug-nb run``, the whole table written as
CSV beside the report (linked from the table); a wide table scrolls inside its own box.

A column's format comes from its name as the schemas declare it (:func:`schema.unit`: ``_ms``,
``_pct``, ``bytes``, ``_ts``…) and its dtype, never from the notebook. The HTML is rendered by a
pandas ``Styler`` with a small template (``templates/table.tpl``) that adds the classes the report
CSS keys on; the ``<style>`` the Styler emits serves JupyterLab and is dropped by the report's
sanitizer, which styles the same classes itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import math
import re
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb import artifacts, schema

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_TOP_N = 50
"""Rows a table shows when the caller gives no ``top_n`` (the rest go to the CSV)."""

MISSING = "—"
MAX_CHARS = 160
"""Longer cell texts are cut with an ellipsis, so one long value cannot make a row a page tall."""
CLASS = "netdebug-table"

# Columns holding identifiers or small ordinals: digits as they are, no thousands separator.
_IDENTIFIERS = frozenset(
    [
        "port",
        "pid",
        "frame",
        "seq",
        "index",
        "ifindex",
        "hop",
        "line",
        "cpu",
        "asn",
        "id",
        "mtu",
        "pmtu",
        "mss",
        "metric",
        "priority",
        "prefixlen",
        "flow",
        "step",
        "trial",
        "attempt",
        "weight",
        "responder",
        "vlan",
        "ttl",
        "year",
        "rank",
    ]
)
_ID_SUFFIXES = ("_port", "_frame", "_seq", "_id", "_index", "_ifindex")
# Units whose value carries its own unit per cell (it changes with the magnitude).
_PER_CELL = frozenset({"bytes", "s", "B/s", "bit/s", "/s"})
_STRIP_SUFFIX = {"ms": "_ms", "µs": "_us", "%": "_pct", "Mbit/s": "_mbps", "s": "_s", "bit/s": "_bps"}
_counter = {"tables": 0}
_csv_names: set[str] = set()


@dataclass(frozen=True)
class Table:
    """A formatted table: displays as HTML in Jupyter and in the report."""

    html: str
    shown: int
    total: int
    csv: Path | None = None

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        more = (
            f", {self.total - self.shown} more in {self.csv or 'the frame'}"
            if self.total > self.shown
            else ""
        )
        return f"<Table {self.shown} rows{more}>"


def table(
    df: pd.DataFrame | pd.Series,
    *,
    top_n: int | None = DEFAULT_TOP_N,
    caption: str = "",
    name: str = "",
    csv: bool = True,
) -> Table:
    """``df`` as a table for people: at most ``top_n`` rows (``None``: all), in the order given.

    When rows are cut and the notebook runs under ``netdebug-nb run``, the whole frame is written
    as ``NAME.csv`` beside the report (``name``, else one made from the caption) and linked
    (``csv=False``: never, for small tables inside something else, such as a finding's evidence).
    """
    import pandas as pd

    frame = df.to_frame() if isinstance(df, pd.Series) else df
    total = len(frame)
    note = _note(frame, caption=caption, nested=not csv)
    if note is not None:  # nothing to show (no input, or no rows): one line says so
        return Table(html=note, shown=0, total=total)
    shown = frame if top_n is None or total <= top_n else frame.head(max(top_n, 0))
    saved = _save_full(frame, name or caption) if csv and len(shown) < total else None
    cells, numeric, dates = _format(shown)
    if dates:
        day = ", ".join(sorted(dates))
        caption = f"{caption} (times on {day})" if caption else f"Times on {day}"
    styler = _styler_class()(cells)
    styler.set_table_attributes(f'class="{CLASS}"')
    styler.set_table_styles(
        [
            {"selector": "th, td", "props": "text-align: left; vertical-align: top; padding: 2px 8px"},
            {"selector": "td.num, th.num", "props": "text-align: right; white-space: nowrap"},
            {"selector": "td.na", "props": "color: #888"},
            {"selector": "caption", "props": "caption-side: top; text-align: left; font-weight: bold"},
        ]
    )
    styler.set_td_classes(
        pd.DataFrame(
            [
                [("num" if numeric[j] else "") + (" na" if v == MISSING else "") for j, v in enumerate(row)]
                for row in cells.itertuples(index=False)
            ],
            index=cells.index,
            columns=cells.columns,
        )
    )
    if caption:
        styler.set_caption(html.escape(caption))
    if _default_index(shown):
        styler.hide(axis="index")
    else:
        styler.format_index(lambda v: html.escape(header(v)), axis="index")
    if isinstance(shown.columns, pd.RangeIndex):
        styler.hide(axis="columns")
    else:
        styler.format_index(lambda v: html.escape(header(v)), axis="columns")
    more = total - len(shown)
    text = styler.to_html(
        num_cols={f"col{j}" for j, is_num in enumerate(numeric) if is_num},
        more=f"{more:,} more row{'s' if more != 1 else ''}" if more else "",
        csv=saved.name if saved else "",
        wrapper_class=f"{CLASS}-box",
    )
    text = "\n".join(line for line in text.splitlines() if line.strip())  # the template's blank lines
    return Table(html=text, shown=len(shown), total=total, csv=saved)


def header(column: Hashable) -> str:
    """A column name as a header: words, and the unit when the whole column shares one."""
    if not isinstance(column, str):
        return _generic(column, "")
    kind = schema.unit(column)
    base = column
    suffix = _STRIP_SUFFIX.get(kind)
    if suffix and base.lower().endswith(suffix):
        base = base[: -len(suffix)]
    elif kind == "time" and base.lower().endswith("_ts"):
        base = base[:-3]
    elif kind == "time":
        base = "time"
    words = base.replace("_", " ").strip()
    if kind in ("ms", "µs", "%", "Mbit/s"):
        return f"{words} ({kind})" if words else kind
    if kind == "share":
        return f"{words} (%)"
    return words or column


def value(v: Any, unit: str = "") -> str:
    """One value as text for a person, for a column of ``unit`` (see :func:`schema.unit`)."""
    return _generic(v, unit)


def install(top_n: int = DEFAULT_TOP_N) -> None:
    """Format every DataFrame/Series shown in this IPython kernel with :func:`table`, and style plots.

    Called from each notebook's import cell (importing the package changes nothing by itself).
    Outside IPython it only sets the plot style.
    """
    from netdebug_nb import plotstyle

    plotstyle.apply()
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    import pandas as pd

    def html_of(df: pd.DataFrame | pd.Series) -> str:
        return table(df, top_n=top_n).html

    formatter = shell.display_formatter.formatters["text/html"]
    formatter.for_type(pd.DataFrame, html_of)
    formatter.for_type(pd.Series, html_of)
    plotstyle.inline()


def _note(df: pd.DataFrame, *, caption: str = "", nested: bool = False) -> str | None:
    """The one-line note :mod:`netdebug_nb.guidance` gives for a table with nothing to show (no
    rows, or a notebook that has no input yet), as HTML; None to show the table. A table nested
    in another output (a finding's evidence) is a note only when it is empty."""
    from netdebug_nb import guidance

    note = guidance.table_note(df, nested=nested)
    if note is None:
        return None
    return guidance.Note(f"{caption}: {note.text}" if caption else note.text)._repr_html_()


# -- formatting ---------------------------------------------------------------------------------


def _format(df: pd.DataFrame) -> tuple[pd.DataFrame, list[bool], set[str]]:
    """Strings for every cell, which columns are numeric, and the dates the times fall on."""
    import pandas as pd

    columns: list[list[str]] = []
    numeric: list[bool] = []
    dates: set[str] = set()
    row_units = [schema.unit(i) if isinstance(i, str) else "" for i in df.index]
    for j in range(df.shape[1]):
        col = df.iloc[:, j]
        label = df.columns[j]
        kind = schema.unit(label) if isinstance(label, str) else ""
        if pd.api.types.is_bool_dtype(col.dtype):
            columns.append([_boolean(v) for v in col])
            numeric.append(False)
        elif pd.api.types.is_datetime64_any_dtype(col.dtype):
            columns.append([_time(v, dates) for v in col])
            numeric.append(True)
        elif pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_timedelta64_dtype(col.dtype):
            ident = _identifier(label)
            columns.append(
                [_generic(v, kind or row_units[i], ident=ident, dates=dates) for i, v in enumerate(col)]
            )
            numeric.append(True)
        else:  # strings and mixed objects (a transposed one-row frame: the unit is the row's)
            cells = [
                _generic(v, kind or row_units[i], ident=_identifier(df.index[i]), dates=dates)
                for i, v in enumerate(col)
            ]
            columns.append(cells)
            numeric.append(
                len(cells) > 0 and all(_is_number(v) or _missing(v) for v in col) and not col.isna().all()
            )
    columns = [[html.escape(_clip(c), quote=False) for c in column] for column in columns]
    out = pd.DataFrame(
        {j: c for j, c in enumerate(columns)}, index=df.index, dtype=object
    )  # positional: duplicate names survive
    out.columns = df.columns
    return out, numeric, dates


def _generic(v: Any, unit: str, *, ident: bool = False, dates: set[str] | None = None) -> str:
    import numpy as np
    import pandas as pd

    if _missing(v):
        return MISSING
    if isinstance(v, bool | np.bool_):
        return _boolean(v)
    if isinstance(v, pd.Timestamp | dt.datetime):
        return _time(v, dates if dates is not None else set())
    if isinstance(v, pd.Timedelta | dt.timedelta | np.timedelta64):
        return _duration(pd.Timedelta(v).total_seconds())
    if isinstance(v, int | np.integer):
        n = int(v)
        if ident and unit == "":
            return str(n)
        return _quantity(float(n), unit) if unit else f"{n:,}"
    if isinstance(v, float | np.floating):
        x = float(v)
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        return _quantity(x, unit) if unit else _number(x)
    if isinstance(v, str):
        return _time(v, dates if dates is not None else set()) if unit == "time" and _iso(v) else v
    if isinstance(v, list | tuple | set | frozenset | np.ndarray):
        return ", ".join(_generic(x, unit) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, default=str)
    return str(v)


def _quantity(x: float, unit: str) -> str:
    if unit == "bytes":
        return _binary(x, "B")
    if unit == "B/s":
        return _binary(x, "B") + "/s"
    if unit == "bit/s":
        return _decimal(x, "bit/s")
    if unit == "/s":
        return _number(x) + "/s"
    if unit == "s":
        return _duration(x)
    if unit == "share":
        return _number(x * 100)
    return _number(x)


def _number(x: float) -> str:
    """Three significant digits (at most four decimals), whole numbers as they are, with separators."""
    if math.isnan(x):
        return MISSING
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    ax = abs(x)
    if ax >= 100:
        return f"{x:,.0f}"
    decimals = min(4, 2 - math.floor(math.log10(ax)))
    text = f"{x:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("0", "-0"):
        return "<0.0001" if x > 0 else ">-0.0001"
    return text


def _binary(x: float, symbol: str) -> str:
    if abs(x) < 10_000:
        return f"{x:,.0f} {symbol}"
    for prefix in ("Ki", "Mi", "Gi", "Ti", "Pi"):
        x /= 1024
        if abs(x) < 1024 or prefix == "Pi":
            break
    return f"{_number(x)} {prefix}{symbol}"


def _decimal(x: float, symbol: str) -> str:
    prefix = ""
    for p in ("k", "M", "G", "T"):
        if abs(x) < 1000:
            break
        x /= 1000
        prefix = p
    return f"{_number(x)} {prefix}{symbol}"


def _duration(seconds: float) -> str:
    if math.isnan(seconds):
        return MISSING
    sign = "-" if seconds < 0 else ""
    s = abs(seconds)
    if s == 0:
        return "0 s"
    if s < 1:
        return f"{sign}{_number(s * 1000)} ms"
    if s < 60:
        return f"{sign}{_number(s)} s"
    whole = round(s)
    if whole < 3600:
        return f"{sign}{whole // 60} min {whole % 60:02d} s"
    if whole < 86400:
        return f"{sign}{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{sign}{whole // 86400} d {whole % 86400 // 3600:02d} h"


def _time(v: Any, dates: set[str]) -> str:
    import pandas as pd

    if _missing(v):
        return MISSING
    t = pd.Timestamp(v)
    zone = f" {t.tzname()}" if t.tzinfo is not None else ""
    dates.add(f"{t:%Y-%m-%d}{zone}")
    return f"{t:%H:%M:%S}.{t.microsecond // 1000:03d}"


def _clip(text: str) -> str:
    """A cell holds at most :data:`MAX_CHARS` characters (the CSV and the notebook keep the rest)."""
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def _iso(text: str) -> bool:
    return re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)?", text) is not None


def _boolean(v: Any) -> str:
    return MISSING if _missing(v) else ("yes" if bool(v) else "no")


def _missing(v: Any) -> bool:
    import pandas as pd

    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # lists, arrays
        return False


def _is_number(v: Any) -> bool:
    import numpy as np

    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)


def _identifier(label: Hashable) -> bool:
    if not isinstance(label, str):
        return False
    name = label.lower()
    return name in _IDENTIFIERS or name.endswith(_ID_SUFFIXES)


def _default_index(df: pd.DataFrame) -> bool:
    """True for an index that says nothing (0..n-1 or any unnamed integer index after a filter)."""
    import pandas as pd

    index = df.index
    if isinstance(index, pd.RangeIndex):
        return True
    return index.name is None and index.nlevels == 1 and pd.api.types.is_integer_dtype(index.dtype)


def _save_full(df: pd.DataFrame, hint: str) -> Path | None:
    if artifacts.run_dir() is None:
        return None
    _counter["tables"] += 1
    stem = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:48] or f"table-{_counter['tables']}"
    name = f"{stem}.csv"
    n = 2
    while name in _csv_names:
        name, n = f"{stem}-{n}.csv", n + 1
    _csv_names.add(name)
    full = df if _default_index(df) else df.reset_index()
    return artifacts.save_csv(full, name)


@functools.cache
def _styler_class() -> Any:
    from pandas.io.formats.style import Styler

    return Styler.from_custom_template(str(Path(__file__).parent / "templates"), html_table="table.tpl")

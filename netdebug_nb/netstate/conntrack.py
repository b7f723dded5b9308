"""Connection-tracking usage and statistics (``conntrack -S``, ``conntrack -C``, sysctls).

A full table drops new connections ("nf_conntrack: table full, dropping packet") and
``insert_failed`` counts the SNAT/DNAT races that lose the first packets of UDP flows (the
classic Kubernetes DNS 5-second delay), so both are read here from the kernel's own counters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netdebug_nb import schema
from netdebug_nb.errors import ParseError

if TYPE_CHECKING:
    import pandas as pd

COUNTERS = (
    "found",
    "invalid",
    "insert",
    "insert_failed",
    "drop",
    "early_drop",
    "error",
    "search_restart",
    "clash_resolve",
    "chaintoolong",
)

STATS_SCHEMA: schema.Schema = {"cpu": "Int64", **dict.fromkeys(COUNTERS, "Int64")}
"""One row per CPU; counters missing from an older kernel are <NA>."""

USAGE_SCHEMA: schema.Schema = {
    "count": "Int64",  # entries now (conntrack -C, else net.netfilter.nf_conntrack_count)
    "max": "Int64",  # net.netfilter.nf_conntrack_max
    "used_pct": "Float64",
    **{f"total_{c}": "Int64" for c in COUNTERS},  # summed over CPUs
}


def parse_stats(text: str, source: str = "conntrack-S.txt") -> pd.DataFrame:
    """``conntrack -S`` → per-CPU counters."""
    rows = []
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields: dict[str, Any] = {}
        for tok in line.split():
            key, sep, value = tok.partition("=")
            if not sep or not value.lstrip("-").isdigit():
                raise ParseError(
                    source, f"expected key=number fields from conntrack -S, got {tok!r}", line=no
                )
            fields[key] = int(value)
        if "cpu" not in fields:
            raise ParseError(source, "conntrack -S line without cpu=", line=no)
        rows.append({"cpu": fields["cpu"], **{c: fields.get(c) for c in COUNTERS}})
    return schema.frame(rows, STATS_SCHEMA)


_PROC_NAMES = {"clashres": "clash_resolve", "icmp_error": "error"}


def parse_proc_stat(text: str, source: str = "nf_conntrack-stat.txt") -> pd.DataFrame:
    """``/proc/net/stat/nf_conntrack`` (hex, one row per CPU): the same counters without NET_ADMIN."""
    lines = [(no, ln.split()) for no, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    if not lines:
        return schema.empty(STATS_SCHEMA)
    _, header = lines[0]
    if "entries" not in header:
        raise ParseError(
            source, "expected the 'entries ...' header of /proc/net/stat/nf_conntrack", line=lines[0][0]
        )
    names = [_PROC_NAMES.get(h, h) for h in header]
    rows = []
    for cpu, (no, values) in enumerate(lines[1:]):
        if len(values) != len(names):
            raise ParseError(source, f"{len(values)} columns, header has {len(names)}", line=no)
        try:
            fields = {n: int(v, 16) for n, v in zip(names, values, strict=True)}
        except ValueError as exc:
            raise ParseError(source, f"not a hex counter: {exc}", line=no) from exc
        rows.append({"cpu": cpu, **{c: fields.get(c) for c in COUNTERS}})
    return schema.frame(rows, STATS_SCHEMA)


def parse_count(text: str, source: str = "conntrack-count.txt") -> int | None:
    """``conntrack -C`` prints one number."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return None
    if not lines[0].isdigit():
        raise ParseError(source, f"expected the entry count from conntrack -C, got {lines[0]!r}", line=1)
    return int(lines[0])


def parse_sysctl(text: str, source: str = "sysctl.txt") -> dict[str, str]:
    """``key = value`` lines, as ``sysctl KEY...`` prints them."""
    out: dict[str, str] = {}
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ParseError(source, f"expected 'key = value', got {line.strip()!r}", line=no)
        out[key.strip()] = value.strip()
    return out


def usage(stats: pd.DataFrame, count: int | None, sysctls: dict[str, str]) -> pd.DataFrame:
    """One row: table fill and the counters summed over CPUs."""
    if count is None and sysctls.get("net.netfilter.nf_conntrack_count", "").isdigit():
        count = int(sysctls["net.netfilter.nf_conntrack_count"])
    mx_text = sysctls.get("net.netfilter.nf_conntrack_max", "")
    mx = int(mx_text) if mx_text.isdigit() else None
    if count is None and mx is None and stats.empty:
        return schema.empty(USAGE_SCHEMA)
    row: dict[str, Any] = {
        "count": count,
        "max": mx,
        "used_pct": 100.0 * count / mx if count is not None and mx else None,
    }
    for c in COUNTERS:
        col = stats[c].dropna() if not stats.empty else stats[c]
        row[f"total_{c}"] = int(col.sum()) if len(col) else None
    return schema.frame([row], USAGE_SCHEMA)

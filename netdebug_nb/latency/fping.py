"""fping: probe many targets at once, and read every output form fping produces.

fping does its own parallelism (one socket, interleaved probes), so probing 200 targets costs
what fping needs and nothing more: :func:`collect` runs it once and :func:`parse` turns the text
into one row per probe. The parser is order-independent and vectorized (one regular-expression
pass over the whole text, no per-line Python loop) because saved outputs mix stdout and stderr in
any order and can hold millions of lines.

Forms understood (fping 4.x and 5.x): ``-c``/``-C`` per-reply lines with ``[seq]``, ``timed out``
lines (5.x), ``duplicate for [seq]`` lines, ``-D`` timestamps (epoch or ISO), the ``-C`` per-target
RTT lists with ``-`` for losses, the ``-c`` ``xmt/rcv/%loss`` summaries (used to restore losses
that 4.x does not print), ICMP error lines, unresolvable names, ``is alive``/``is unreachable``
lines of the default mode, and the ``-J`` JSON-lines stream of fping 5.5+.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from netdebug_nb import schema, textfile, tools
from netdebug_nb.errors import (
    InputError,
    ParseError,
    ToolFailedError,
    ToolPermissionError,
)

PROBES_SCHEMA: schema.Schema = {
    "target": "string",  # the target as fping printed it (name or address)
    "seq": "Int64",  # 0-based probe number per target; empty for a target never probed (unresolvable)
    "sent_ts": "datetime64[ns, UTC]",  # send time, from -D timestamps (reply time - rtt); NaT without -D
    "rtt_ms": "Float64",  # empty when lost
    "lost": "boolean",  # empty for a target never probed
    "bytes": "Int64",  # reply size as fping reports it (ICMP header + data)
    "dup": "boolean",  # a duplicate reply to an already answered probe, not a probe of its own
    "error": "string",  # why it failed: ICMP error and reporter, or the resolver's message
}

ICMP_ERRORS_SCHEMA: schema.Schema = {
    "address": "string",  # the probed address the error was about
    "error": "string",  # ICMP error as fping names it: "Host Unreachable", "Time Exceeded" ...
    "reporter": "string",  # who sent the ICMP error (a router on the path, or the target)
    "count": "Int64",
}

#: fping exit codes that still mean "ran and printed results": 1 some unreachable, 2 names unresolved.
OK_CODES = (0, 1, 2)

_TS = r"(?:\[([^\]\n]*)\][ \t]+)?"
_LINE = re.compile(
    r"^" + _TS + r"(?:"
    r"(\S+)[ \t]+:[ \t]+(?:"  # 2 host
    r"\[(\d+)\],[ \t]+(?:(\d+)[ \t]+bytes,[ \t]+([\d.]+)[ \t]+ms|(timed[ \t]+out))"  # 3 seq 4 bytes 5 rtt 6 timeout
    r"|duplicate[ \t]+for[ \t]+\[(\d+)\],[ \t]+(\d+)[ \t]+bytes,[ \t]+([\d.]+)[ \t]+ms"  # 7 seq 8 bytes 9 rtt
    r"|xmt/rcv/%loss[ \t]+=[ \t]+(\d+)/(\d+)/\d+%"  # 10 xmt 11 rcv
    r"|((?:[\d.]+|-)(?:[ \t]+(?:[\d.]+|-))*)[ \t]*$"  # 12 -C values
    r")"
    r"|ICMP[ \t]+(.+?)[ \t]+from[ \t]+(\S+)[ \t]+for[ \t]+ICMP[ \t]+Echo[ \t]+sent[ \t]+to[ \t]+(\S+)"  # 13 14 15
    r"|(\S+)[ \t]+is[ \t]+(alive|unreachable)(?:[ \t]+\(([\d.]+)[ \t]+ms\))?"  # 16 host 17 state 18 rtt
    r"|(?!fping:)([^\s:\[]+):[ \t]+(\S[^\n]*)$"  # 19 name 20 resolver message
    r"|(\S+)[ \t]+address[ \t]+not[ \t]+found"  # 21 name (fping 3.x/4.x)
    r")",
    re.MULTILINE,
)
_REPLY = re.compile(
    r"^" + _TS + r"(\S+)[ \t]+:[ \t]+\[(\d+)\],[ \t]+(\d+)[ \t]+bytes,[ \t]+([\d.]+)[ \t]+ms", re.MULTILINE
)
"""The common case, most lines of a big run: a reply. Matched with few groups for speed."""
_REPLY_PREFIX = r"(?:\[[^\]\n]*\][ \t]+)?\S+[ \t]+:[ \t]+\[\d+\],[ \t]+\d+[ \t]+bytes,[ \t]+[\d.]+[ \t]+ms"
_SPLIT = re.compile(r"^(?:(" + _REPLY_PREFIX + r")[^\n]*|([^\n]*\S[^\n]*))$", re.MULTILINE)
"""One pass over the text: group 1 is a reply line (up to "ms"), group 2 any other non-blank line."""
_OTHER = re.compile(
    r"^(?!(?:\[[^\]\n]*\][ \t]+)?\S+[ \t]+:[ \t]+\[\d+\],[ \t]+\d+[ \t]+bytes,)[^\n]*\S[^\n]*$", re.MULTILINE
)
"""Every non-blank line that is not a reply line (timeouts, summaries, errors): usually few."""
_STATS_BLOCK = re.compile(r"^[ \t]+[\d.]+ (?:ms \(|sec \(|\w)", re.MULTILINE)


class FpingOutputError(ParseError):
    """Saved or live fping output that holds no fping result at all."""


@dataclass(frozen=True)
class FpingOutput:
    """What one fping run said: per-probe rows, ICMP errors, and notes on anything odd."""

    probes: pd.DataFrame
    icmp_errors: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def truncated(self) -> bool:
        return any(n.startswith("truncated") for n in self.notes)


# --- collect --------------------------------------------------------------------------------


def command(
    targets: Sequence[str],
    *,
    count: int = 20,
    period_ms: int = 1000,
    interval_ms: int = 10,
    size_bytes: int | None = None,
    timeout_ms: int | None = None,
    iface: str | None = None,
    source: str | None = None,
    dont_fragment: bool = False,
    ttl: int | None = None,
) -> list[str]:
    """The fping argv for a run; ``-C`` keeps every RTT and ``-D`` gives send times."""
    targets = check_targets(targets)
    if count < 1:
        raise InputError("count", f"must be at least 1, got {count}")
    if period_ms < 1 or interval_ms < 1:
        raise InputError("interval_ms", "period and interval must be at least 1 ms")
    argv = ["fping", "-C", str(count), "-D", "-p", str(period_ms), "-i", str(interval_ms)]
    if size_bytes is not None:
        argv += ["-b", str(size_bytes)]
    if timeout_ms is not None:
        argv += ["-t", str(timeout_ms)]
    if iface:
        argv += ["-I", iface]
    if source:
        argv += ["-S", source]
    if dont_fragment:
        argv.append("-M")
    if ttl is not None:
        argv += ["-H", str(ttl)]
    return argv + list(targets)


def check_targets(targets: Sequence[str]) -> list[str]:
    """Targets as fping will get them; refuses what fping would read as an option."""
    if isinstance(targets, str):
        targets = [targets]
    cleaned = [str(t).strip() for t in targets if str(t).strip()]
    if not cleaned:
        raise InputError("targets", "no targets given (a list of names or IP addresses)")
    bad = [t for t in cleaned if t.startswith("-") or any(c.isspace() for c in t)]
    if bad:
        raise InputError("targets", f"not a host name or address: {bad[0]!r}")
    return cleaned


def collect(targets: Sequence[str], **options: Any) -> str:
    """Run fping (see :func:`command` for options) and return stdout and stderr as one text."""
    argv = command(targets, **options)
    count = int(options.get("count", 20))
    period = max(int(options.get("period_ms", 1000)), len(argv) * int(options.get("interval_ms", 10)))
    budget = count * period / 1000 + 30
    try:
        done = tools.run(argv, timeout=budget, ok_codes=OK_CODES)
        if not _LINE.search(done.stdout) and not _LINE.search(done.stderr):
            # not one probe or summary line: fping failed whatever its exit code says
            raise ToolFailedError("fping", done.returncode, done.stderr or done.stdout, argv)
    except ToolFailedError as exc:
        if "socket" in exc.stderr.lower() or "root" in exc.stderr.lower():
            raise ToolPermissionError("fping", "NET_RAW", _last_line(exc.stderr)) from exc
        raise
    return done.stdout + ("\n" if done.stdout and not done.stdout.endswith("\n") else "") + done.stderr


# --- parse ----------------------------------------------------------------------------------


def read(path: str | Path) -> FpingOutput:
    return parse(textfile.read(path, "fping_output"), source=str(Path(path)))


def parse(text: str, *, source: str = "fping output") -> FpingOutput:
    """Every probe in ``text`` (stdout and stderr of fping, in any order)."""
    stripped = text.lstrip()
    if not stripped:
        raise FpingOutputError(source, "empty: no fping output")
    if stripped.startswith("{"):
        return parse_json(text, source=source)
    split = _SPLIT.findall(text)
    # map/itemgetter/filter run in C: the lines are routed without a Python-level loop
    reply_text = "\n".join(filter(None, map(itemgetter(0), split)))
    others = list(filter(None, map(itemgetter(1), split)))
    other_text = "\n".join(others)
    hits = _LINE.findall(other_text)
    replies = _read_replies(reply_text) if reply_text else None
    if not hits and replies is None:
        first = stripped.splitlines()[0][:80]
        raise FpingOutputError(source, f"no fping result lines recognised (first line: {first!r})")
    cols = (
        [np.array(c, dtype=str) for c in zip(*hits, strict=True)] if hits else [np.array([], dtype=str)] * 21
    )
    g = dict(enumerate(cols, start=1))
    notes = _notes(
        text, other_text, len(others) - len(hits), replies is not None or bool((g[3] != "").any()), g
    )

    is_reply = g[3] != ""
    is_dup = g[7] != ""
    is_sum = g[10] != ""
    is_vals = g[12] != ""
    is_icmp = g[13] != ""
    is_state = g[16] != ""
    is_unres = (g[19] != "") | (g[21] != "")

    parts: list[pd.DataFrame] = []
    if replies is not None:
        parts.append(replies)
    # timeout lines (priority 0: they carry timestamps)
    if is_reply.any():
        parts.append(
            _rows(
                g[2][is_reply],
                g[3][is_reply],
                g[1][is_reply],
                g[5][is_reply],
                g[4][is_reply],
                lost=g[6][is_reply] != "",
                prio=0,
            )
        )
    if is_state.any():
        alive = g[17][is_state] == "alive"
        parts.append(
            _rows(
                g[16][is_state],
                np.zeros(int(is_state.sum()), dtype=object),
                g[1][is_state],
                g[18][is_state],
                np.full(int(is_state.sum()), "", dtype=object),
                lost=~alive,
                prio=0,
            )
        )
    if is_vals.any():
        hosts = pd.Series(g[2][is_vals], dtype=object)
        vals = pd.Series(g[12][is_vals], dtype=object).str.split()
        seqs = vals.map(len)
        exploded = vals.explode()
        host_rep = np.repeat(hosts.to_numpy(), seqs.to_numpy())
        seq = (
            np.concatenate([np.arange(n) for n in seqs.to_numpy()]) if len(seqs) else np.array([], dtype=int)
        )
        v = exploded.to_numpy(dtype=object)
        parts.append(
            _rows(
                host_rep,
                seq,
                np.full(len(v), "", dtype=object),
                np.where(v == "-", "", v),
                np.full(len(v), "", dtype=object),
                lost=v == "-",
                prio=1,
            )
        )
    if is_sum.any():
        parts.append(_from_summary(g[2][is_sum], g[10][is_sum]))
    probes = _combine(parts)
    if is_dup.any():
        n = int(is_dup.sum())
        dups = _rows(
            g[2][is_dup],
            g[7][is_dup],
            g[1][is_dup],
            g[9][is_dup],
            g[8][is_dup],
            lost=np.zeros(n, bool),
            prio=0,
        )
        dups["dup"] = True
        probes = pd.concat([probes, dups], ignore_index=True)
    icmp = _icmp_errors(g[13][is_icmp], g[14][is_icmp], g[15][is_icmp])
    probes = _with_errors(probes, icmp)
    probes = _with_send_times(probes)
    if is_unres.any():
        names = np.where(g[19][is_unres] != "", g[19][is_unres], g[21][is_unres])
        reasons = np.where(g[20][is_unres] != "", g[20][is_unres], "address not found")
        n = len(names)
        unres = pd.DataFrame(
            {
                "target": pd.array(names, dtype="string"),
                "seq": pd.array([None] * n, dtype="Int64"),
                "sent_ts": pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"),
                "rtt_ms": pd.array([None] * n, dtype="Float64"),
                "lost": pd.array([None] * n, dtype="boolean"),
                "bytes": pd.array([None] * n, dtype="Int64"),
                "dup": pd.array([False] * n, dtype="boolean"),
                "error": pd.array(["unresolvable: " + str(r) for r in reasons], dtype="string"),
            }
        ).drop_duplicates("target")
        probes = pd.concat([probes, schema.conform(unres, PROBES_SCHEMA)], ignore_index=True)
    return FpingOutput(_order(probes), icmp, tuple(notes))


def parse_json(text: str, *, source: str = "fping output") -> FpingOutput:
    """fping 5.5+ ``-J``: one JSON object per line, ``{"resp"|"timeout"|"summary"|"vSum": {...}}``."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    notes: list[str] = []
    objs: list[dict[str, Any]] = []
    for i, ln in enumerate(lines):
        try:
            obj = json.loads(ln)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                notes.append(f"truncated: last JSON line is incomplete ({ln[:40]!r})")
                continue
            notes.append(f"ignored a line that is not JSON: {ln[:60]!r}")
            continue
        if isinstance(obj, dict):
            objs.append(obj)
    rows: list[dict[str, Any]] = []
    vsum: list[dict[str, Any]] = []
    summaries: list[tuple[str, int]] = []
    for obj in objs:
        if "resp" in obj:
            r = obj["resp"]
            rows.append(
                {
                    "target": r.get("host"),
                    "seq": r.get("seq"),
                    "ts": r.get("timestamp", ""),
                    "rtt": r.get("rtt"),
                    "bytes": r.get("size"),
                    "lost": False,
                    "prio": 0,
                    "dup": bool(r.get("dup", False)),
                }
            )
        elif "timeout" in obj:
            r = obj["timeout"]
            rows.append(
                {
                    "target": r.get("host"),
                    "seq": r.get("seq"),
                    "ts": r.get("timestamp", ""),
                    "rtt": None,
                    "bytes": None,
                    "lost": True,
                    "prio": 0,
                    "dup": False,
                }
            )
        elif "vSum" in obj:
            vsum.append(obj["vSum"])
        elif "summary" in obj:
            s = obj["summary"]
            summaries.append((str(s.get("host")), int(s.get("xmt", 0))))
    for v in vsum:
        for seq, rtt in enumerate(v.get("values") or []):
            ok = isinstance(rtt, int | float)
            rows.append(
                {
                    "target": v.get("host"),
                    "seq": seq,
                    "ts": "",
                    "rtt": rtt if ok else None,
                    "bytes": None,
                    "lost": not ok,
                    "prio": 1,
                    "dup": False,
                }
            )
    if not rows and not summaries:
        raise FpingOutputError(source, "no fping JSON result objects (resp, timeout, vSum, summary)")
    parts: list[pd.DataFrame] = []
    if rows:
        df = pd.DataFrame(rows)
        part = _rows(
            df["target"].astype(str).to_numpy(dtype=object),
            df["seq"].to_numpy(dtype=object),
            df["ts"].astype(str).to_numpy(dtype=object),
            df["rtt"].to_numpy(dtype=object),
            df["bytes"].to_numpy(dtype=object),
            lost=df["lost"].to_numpy(dtype=bool),
            prio=df["prio"].to_numpy(),
        )
        part["dup"] = df["dup"].to_numpy(dtype=bool)
        parts.append(part)
    if summaries:
        hs, xs = zip(*summaries, strict=True)
        parts.append(_from_summary(np.array(hs, dtype=object), np.array(xs, dtype=object)))
    dup_mask = parts[0]["dup"].astype(bool) if rows else None
    dups = parts[0][dup_mask] if dup_mask is not None else None
    if dup_mask is not None:
        parts[0] = parts[0][~dup_mask]
    probes = _combine(parts)
    if dups is not None and len(dups):
        probes = pd.concat([probes, dups], ignore_index=True)
    probes = _with_send_times(_with_errors(probes, schema.empty(ICMP_ERRORS_SCHEMA)))
    if not summaries and not vsum:
        notes.append("truncated: no summary objects at the end (fping interrupted or output cut)")
    return FpingOutput(_order(probes), schema.empty(ICMP_ERRORS_SCHEMA), tuple(notes))


# --- internals ------------------------------------------------------------------------------


def _read_replies(reply_text: str) -> pd.DataFrame:
    """Reply lines through pandas' C CSV tokenizer: numbers are parsed without Python objects.

    Brackets and commas become blanks, so ``[ts] host : [seq], N bytes, R ms`` is 8 (7 without
    -D) whitespace-separated fields. Mixed or exotic timestamp forms take the regex path.
    """
    n_lines = reply_text.count("\n") + 1
    n_ts = ("\n" + reply_text).count("\n[")
    if n_ts in (0, n_lines):
        clean = reply_text.replace("[", " ").replace("]", " ").replace(",", " ")
        names = ["ts", "host", "colon", "seq", "bytes", "word", "rtt", "ms"][(0 if n_ts else 1) :]
        for ts_type in ("float64", object):  # epoch seconds, else ISO text
            try:
                df = pd.read_csv(
                    io.StringIO(clean),
                    sep=r"\s+",
                    header=None,
                    names=names,
                    usecols=[c for c in ("ts", "host", "seq", "bytes", "rtt") if c in names],
                    dtype={"ts": ts_type, "host": object, "seq": "int64", "bytes": "int64", "rtt": "float64"},
                    na_filter=False,
                    engine="c",
                )
            except (ValueError, pd.errors.ParserError):
                continue
            if len(df) == n_lines:
                ts = df["ts"].to_numpy() if n_ts else np.full(len(df), "", dtype=object)
                return _rows(
                    df["host"].to_numpy(), df["seq"].to_numpy(), ts, df["rtt"].to_numpy(), df["bytes"].to_numpy(),
                    lost=np.zeros(len(df), bool), prio=0,
                )  # fmt: skip
            break
    hits = _REPLY.findall(reply_text)
    ts, host, seq, nbytes, rtt = (np.array(c, dtype=str) for c in zip(*hits, strict=True))
    return _rows(host, seq, ts, rtt, nbytes, lost=np.zeros(len(host), bool), prio=0)


def _rows(
    host: np.ndarray[Any, Any],
    seq: np.ndarray[Any, Any],
    ts: np.ndarray[Any, Any],
    rtt: np.ndarray[Any, Any],
    nbytes: np.ndarray[Any, Any],
    *,
    lost: np.ndarray[Any, Any],
    prio: int | np.ndarray[Any, Any],
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "target": host,
            "seq": _num(seq),
            "ts_s": _seconds(np.asarray(ts)),
            "rtt_ms": _num(rtt),
            "bytes": _num(nbytes),
            "lost": np.asarray(lost, dtype=bool),
            "dup": False,
            "prio": prio,
        }
    )


def _seconds(ts: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """-D timestamps as epoch seconds: fping's ``[1795847437.45584]``, or ISO text of newer versions."""
    if ts.dtype == object and len(ts):
        try:  # the common case, all epoch numbers: one C-level conversion
            return np.array(pd.to_numeric(pd.Series(ts), errors="raise").to_numpy(dtype="float64"))
        except (ValueError, TypeError):
            pass
    secs = np.array(_num(ts), dtype="float64")  # a writable copy
    text = ts.astype(str) if ts.dtype.kind != "U" else ts
    other = np.isnan(secs) & (text != "") & (text != "None") & (text != "nan")
    if other.any():
        parsed = pd.to_datetime(pd.Series(text[other]), utc=True, errors="coerce", format="mixed")
        secs[other] = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype="float64")
    return secs


def _num(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Text to float64 (NaN for empty) in one C-level cast; mixed objects take the slow path."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iuf":
        return arr.astype("float64")
    try:
        text = arr.astype(str)
        return np.where(text == "", "nan", text).astype("float64")
    except ValueError:
        return pd.to_numeric(pd.Series(arr, dtype=object), errors="coerce").to_numpy(dtype="float64")


def _from_summary(hosts: np.ndarray[Any, Any], xmt: np.ndarray[Any, Any]) -> pd.DataFrame:
    """Losses fping 4.x never printed: every probe up to ``xmt`` without a reply line was lost."""
    n = pd.to_numeric(pd.Series(xmt, dtype=object), errors="coerce").fillna(0).astype(int).to_numpy()
    host = np.repeat(hosts, n)
    seq = np.concatenate([np.arange(k) for k in n]) if len(n) else np.array([], dtype=int)
    empty = np.full(len(seq), "", dtype=object)
    return _rows(host, seq, empty, empty, empty, lost=np.ones(len(seq), bool), prio=2)


def _combine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame(columns=["target", "seq", "ts_s", "rtt_ms", "bytes", "lost", "dup", "prio"])
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    prio = df["prio"].to_numpy()
    if not (prio > 0).any():
        return df  # only lines that each describe one probe: nothing to de-duplicate
    codes, _ = pd.factorize(df["target"].to_numpy())
    seq = np.nan_to_num(df["seq"].to_numpy(dtype="float64"), nan=-1).astype(np.int64)
    key = codes.astype(np.int64) * (1 << 32) + seq
    order = np.argsort(prio, kind="stable")
    _, first = np.unique(key[order], return_index=True)
    keep = np.zeros(len(df), dtype=bool)
    keep[order[first]] = True
    return df[keep]


def _icmp_errors(
    kind: np.ndarray[Any, Any], reporter: np.ndarray[Any, Any], addr: np.ndarray[Any, Any]
) -> pd.DataFrame:
    if len(kind) == 0:
        return schema.empty(ICMP_ERRORS_SCHEMA)
    df = pd.DataFrame({"address": addr, "error": kind, "reporter": reporter})
    out = df.groupby(["address", "error", "reporter"], sort=False).size().rename("count").reset_index()
    return schema.frame(out, ICMP_ERRORS_SCHEMA)


def _with_errors(probes: pd.DataFrame, icmp: pd.DataFrame) -> pd.DataFrame:
    """Lost probes of an address that drew ICMP errors carry the most frequent one."""
    probes = probes.copy()
    probes["error"] = pd.Series(pd.NA, index=probes.index, dtype="string")
    if len(icmp) and len(probes):
        top = icmp.sort_values("count", ascending=False, kind="stable").drop_duplicates("address")
        text = (top["error"] + " from " + top["reporter"]).to_numpy()
        mapping = pd.Series(text, index=top["address"].to_numpy())
        mapped = probes["target"].map(mapping)
        probes["error"] = mapped.where(probes["lost"].astype(bool)).astype("string")
    return probes


def _with_send_times(probes: pd.DataFrame) -> pd.DataFrame:
    """Send time = reply time - RTT; lost probes get the target's fitted schedule (or timeout - period)."""
    probes = probes.copy()
    if len(probes) == 0:
        probes["sent_ts"] = pd.Series([], dtype="datetime64[ns, UTC]")
        return probes
    ts_ns = pd.Series(probes["ts_s"].to_numpy(dtype="float64") * 1e9, index=probes.index)
    rtt_ns = (probes["rtt_ms"].astype(float) * 1e6).round().fillna(0.0)
    sent = ts_ns - rtt_ns
    replies = probes["lost"].eq(False) & sent.notna() & ~probes["dup"].astype(bool)
    period_ns = np.nan
    if replies.sum() > 1:
        # the schedule is regular: the first 200k replies estimate the period as well as all of them
        pick = probes.index[replies.to_numpy()][:200_000]
        r = pd.DataFrame({"t": probes.loc[pick, "target"], "s": probes.loc[pick, "seq"], "x": sent[pick]})
        r = r.sort_values(["t", "s"])
        ds, dx = r.groupby("t")["s"].diff(), r.groupby("t")["x"].diff()
        per = (dx / ds)[ds > 0]
        if len(per):
            period_ns = float(per.median())
    lost = probes["lost"].astype(bool) & ts_ns.notna()
    if lost.any() and not np.isnan(period_ns):
        lossy = replies & probes["target"].isin(pd.unique(probes["target"][lost].to_numpy()))
        base = (
            (sent[lossy] - probes["seq"][lossy].astype(float) * period_ns)
            .groupby(probes["target"][lossy])
            .median()
        )
        fitted = probes["target"].map(base) + probes["seq"].astype(float) * period_ns
        fallback = ts_ns - period_ns
        sent = sent.where(~lost, fitted.where(fitted.notna(), fallback))
    unknown = sent.isna() & probes["seq"].notna()
    if unknown.any() and not np.isnan(period_ns) and sent.notna().any():
        # probes fping never timed (no route: sendto failed) still sat on the run's schedule
        sent = sent.where(~unknown, float(sent.min()) + probes["seq"].astype(float) * period_ns)
    probes["sent_ts"] = pd.to_datetime(sent, unit="ns", utc=True, errors="coerce")
    return probes


def _order(probes: pd.DataFrame) -> pd.DataFrame:
    if len(probes) == 0:
        return schema.empty(PROBES_SCHEMA)
    codes, _ = pd.factorize(probes["target"].to_numpy())  # targets in order of first appearance
    seq = np.nan_to_num(probes["seq"].to_numpy(dtype="float64", na_value=np.nan), nan=np.inf)
    order = np.lexsort((probes["dup"].to_numpy(dtype=bool), seq, codes))
    return schema.conform(probes.take(order), PROBES_SCHEMA)


def _notes(
    text: str, other_text: str, unmatched: int, has_lines: bool, g: dict[int, np.ndarray[Any, Any]]
) -> list[str]:
    notes: list[str] = []
    tail = text.rstrip("\n").rsplit("\n", 1)[-1]
    if not text.endswith("\n") and tail.strip() and not _LINE.match(tail):
        notes.append(f"truncated: last line is incomplete ({tail[:60]!r})")
    has_summary = bool((g[10] != "").any() or (g[12] != "").any())
    if has_lines and not has_summary:
        notes.append("truncated: per-probe lines but no final summary (fping interrupted or output cut)")
    fping_msgs = re.findall(r"^fping: ([^\n]*)$", other_text, re.MULTILINE)
    notes += [f"fping said: {m}" for m in fping_msgs[:5]]
    other = unmatched - len(_STATS_BLOCK.findall(other_text)) - len(fping_msgs)
    if other > 0:
        notes.append(f"{other} line(s) not recognised as fping output were ignored")
    return notes


def _last_line(text: str) -> str:
    return next((ln.strip() for ln in reversed(text.strip().splitlines()) if ln.strip()), "")

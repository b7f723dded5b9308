"""mtr: the path to a target, hop by hop, as per-hop aggregates (``--json``) or per-probe samples (``--raw``).

Hops that never answer (``???``) stay as rows, because "hop 3 is silent" is evidence too. When
several routers answer for one hop (ECMP), each responder is its own row (``responder`` 0, 1 ...)
rather than being folded into one address. Interpretation (what loss at a hop means) lives in
:mod:`netdebug_nb.latency.path`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from netdebug_nb import schema, textfile, tools
from netdebug_nb.errors import InputError, ParseError, ToolFailedError, ToolPermissionError, ToolTimeoutError

HOPS_SCHEMA: schema.Schema = {
    "dst": "string",  # the target mtr traced
    "hop": "Int64",  # 1-based TTL
    "host": "string",  # responder address (or name); "???" when nothing answered at this TTL
    "responded": "boolean",  # False for "???" hops
    "responder": "Int64",  # 0 for the first responder at this hop, 1.. for further (ECMP) responders
    "sent": "Int64",  # probes sent to this TTL
    "received": "Int64",  # replies from this responder (ECMP responders split the hop's replies)
    "loss_pct": "Float64",  # of the hop (all responders together), as mtr reports it
    "last_ms": "Float64",
    "avg_ms": "Float64",
    "best_ms": "Float64",
    "worst_ms": "Float64",
    "stdev_ms": "Float64",
    "asn": "string",  # with mtr -z
}

SAMPLES_SCHEMA: schema.Schema = {
    "hop": "Int64",  # 1-based TTL
    "seq": "Int64",  # mtr's probe sequence number (unique across hops)
    "host": "string",  # last responder mtr announced for this hop before the reply (ECMP: approximate)
    "rtt_ms": "Float64",  # empty when lost
    "lost": "boolean",
}

UNKNOWN_HOST = "???"


class MtrOutputError(ParseError):
    """Saved or live mtr output that cannot be read."""


def command(
    target: str,
    *,
    mode: str = "json",
    count: int = 10,
    interval_s: float = 1.0,
    size_bytes: int | None = None,
    max_ttl: int | None = None,
    protocol: str = "icmp",
) -> list[str]:
    if not target or target.startswith("-") or any(c.isspace() for c in target):
        raise InputError("targets", f"not a host name or address: {target!r}")
    if mode not in ("json", "raw"):
        raise ValueError(f"mode must be json or raw, got {mode!r}")
    argv = ["mtr", f"--{mode}", "-n", "-c", str(count), "-i", f"{interval_s:g}"]
    if size_bytes is not None:
        argv += ["-s", str(size_bytes)]
    if max_ttl is not None:
        argv += ["-m", str(max_ttl)]
    if protocol == "udp":
        argv.append("-u")
    elif protocol == "tcp":
        argv.append("-T")
    return [*argv, target]


def collect(target: str, **options: Any) -> str:
    """Run mtr (``mode="json"`` or ``"raw"``) and return its output text."""
    argv = command(target, **options)
    budget = float(options.get("count", 10)) * max(float(options.get("interval_s", 1.0)), 0.1) + 60
    try:
        done = tools.run(argv, timeout=budget)
    except ToolFailedError as exc:
        low = exc.stderr.lower()
        if "permission" in low or "not permitted" in low or "mtr-packet" in low:
            raise ToolPermissionError("mtr", "NET_RAW", exc.stderr.strip().splitlines()[-1]) from exc
        raise
    if not done.stdout.strip():
        raise ToolFailedError("mtr", done.returncode, done.stderr or "no output", argv)
    return done.stdout


def read(path: str | Path) -> pd.DataFrame:
    """Per-hop frame from a saved ``--json`` or ``--raw`` output (detected from its first character)."""
    p = Path(path)
    text = textfile.read(p, "mtr_output")
    if text.lstrip().startswith("{"):
        return parse_json(text, source=str(p))
    return parse_raw_hops(text, source=str(p))


def parse_raw_hops(text: str, *, source: str = "mtr output") -> pd.DataFrame:
    """Per-hop frame (ECMP responders apart) from ``--raw`` text."""
    return hops_from_samples(parse_raw(text, source=source), dst=_raw_dst(text))


def parse_json(text: str, *, source: str = "mtr output") -> pd.DataFrame:
    """``mtr --json`` (0.92-0.95): one row per hub, ``???`` hubs kept."""
    if not text.strip():
        raise MtrOutputError(source, "empty: no mtr output")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        why = "truncated" if exc.pos >= len(text.rstrip()) - 1 else "not valid JSON"
        raise MtrOutputError(source, f"{why}: {exc.msg} at character {exc.pos}", line=exc.lineno) from exc
    report = doc.get("report") if isinstance(doc, dict) else None
    if not isinstance(report, dict) or "hubs" not in report:
        raise MtrOutputError(source, "not an mtr --json report (no report.hubs)")
    dst = str((report.get("mtr") or {}).get("dst", ""))
    hubs: list[dict[str, Any]] = [h for h in report["hubs"] if isinstance(h, dict)]
    if not hubs:
        return schema.empty(HOPS_SCHEMA)
    df = pd.DataFrame(hubs)

    def col(name: str) -> pd.Series:
        return df[name] if name in df.columns else pd.Series([None] * len(df))

    hop = pd.to_numeric(col("count"), errors="coerce")
    host = col("host").astype("string").fillna(UNKNOWN_HOST)
    out = pd.DataFrame(
        {
            "dst": dst,
            "hop": hop,
            "host": host,
            "responded": host != UNKNOWN_HOST,
            "responder": hop.groupby(hop).cumcount(),
            "sent": pd.to_numeric(col("Snt"), errors="coerce"),
            "received": (
                pd.to_numeric(col("Snt"), errors="coerce")
                * (1 - pd.to_numeric(col("Loss%"), errors="coerce") / 100)
            ).round(),
            "loss_pct": pd.to_numeric(col("Loss%"), errors="coerce"),
            "last_ms": pd.to_numeric(col("Last"), errors="coerce"),
            "avg_ms": pd.to_numeric(col("Avg"), errors="coerce"),
            "best_ms": pd.to_numeric(col("Best"), errors="coerce"),
            "worst_ms": pd.to_numeric(col("Wrst"), errors="coerce"),
            "stdev_ms": pd.to_numeric(col("StDev"), errors="coerce"),
            "asn": col("ASN").astype("string"),
        }
    )
    silent = ~out["responded"]
    for c in ("last_ms", "avg_ms", "best_ms", "worst_ms", "stdev_ms"):
        out.loc[silent, c] = np.nan  # mtr prints 0.0 for hops that never answered: not a 0 ms RTT
    return schema.frame(out, HOPS_SCHEMA)


_RAW = re.compile(r"^([xhpd])\s+(\d+)\s+(\S+)(?:\s+(\d+))?\s*$", re.MULTILINE)


def parse_raw(text: str, *, source: str = "mtr output") -> pd.DataFrame:
    """``mtr --raw``: ``x hop seq`` sent, ``p hop usec seq`` answered, ``h hop addr`` responder."""
    if not text.strip():
        raise MtrOutputError(source, "empty: no mtr output")
    hits = _RAW.findall(text)
    if not hits:
        first = text.strip().splitlines()[0][:60]
        raise MtrOutputError(source, f"no mtr --raw lines (x/p/h) recognised (first line: {first!r})")
    kind, hop, a, b = (np.array(c, dtype=object) for c in zip(*hits, strict=True))
    order = np.arange(len(kind))
    sent = pd.DataFrame({"hop": hop[kind == "x"].astype(int), "seq": a[kind == "x"].astype(int)})
    pm = kind == "p"
    replies = pd.DataFrame(
        {
            "seq": b[pm].astype(int),
            "rtt_ms": a[pm].astype(float) / 1000.0,
            "order": order[pm],
            "rhop": hop[pm].astype(int),
        }
    ).drop_duplicates("seq")
    hm = kind == "h"
    hosts = pd.DataFrame({"rhop": hop[hm].astype(int), "host": a[hm], "order": order[hm]})
    if len(replies) and len(hosts):
        replies = pd.merge_asof(
            replies.sort_values("order"),
            hosts.sort_values("order"),
            on="order",
            by="rhop",
            direction="backward",
        )
    else:
        replies["host"] = None
    df = sent.merge(replies[["seq", "rtt_ms", "host"]], on="seq", how="left")
    # a reply without its "x" line (output cut at the start) still counts as a sample
    orphan = replies[~replies["seq"].isin(sent["seq"])]
    if len(orphan):
        df = pd.concat([df, orphan.rename(columns={"rhop": "hop"})[["hop", "seq", "rtt_ms", "host"]]])
    df["lost"] = df["rtt_ms"].isna()
    df["hop"] = df["hop"] + 1
    return schema.frame(df.sort_values(["seq"], kind="stable"), SAMPLES_SCHEMA)


def hops_from_samples(samples: pd.DataFrame, *, dst: str = "") -> pd.DataFrame:
    """Per-hop aggregates from ``--raw`` samples; each ECMP responder is its own row."""
    if len(samples) == 0:
        return schema.empty(HOPS_SCHEMA)
    s = samples.copy()
    per_hop = s.groupby("hop")
    sent = per_hop.size()
    ok = s[~s["lost"].astype(bool)]
    rtt = ok["rtt_ms"].astype("float64")
    g = rtt.groupby([ok["hop"], ok["host"].fillna(UNKNOWN_HOST)])
    agg = pd.DataFrame(
        {
            "received": g.size(),
            "last_ms": g.last(),
            "avg_ms": g.mean(),
            "best_ms": g.min(),
            "worst_ms": g.max(),
            "stdev_ms": g.std(ddof=0),
        }
    ).reset_index()
    agg.columns = pd.Index(["hop", "host", *agg.columns[2:]])
    silent_hops = sorted(set(sent.index) - set(agg["hop"]))
    if silent_hops:
        agg = pd.concat([agg, pd.DataFrame({"hop": silent_hops, "host": UNKNOWN_HOST, "received": 0})])
    agg = agg.sort_values(["hop", "received"], ascending=[True, False], kind="stable")
    if dst and (agg["host"] == dst).any():
        # mtr's first round probes past the destination; those TTLs answer from the destination again
        agg = agg[agg["hop"] <= agg.loc[agg["host"] == dst, "hop"].min()]
        sent = sent[sent.index <= agg["hop"].max()]
    agg["sent"] = agg["hop"].map(sent)
    hop_rcv = agg.groupby("hop")["received"].transform("sum")
    # loss is a property of the hop (any responder answering counts), as mtr reports it
    agg["loss_pct"] = 100.0 * (1 - hop_rcv / agg["sent"])
    agg["responder"] = agg.groupby("hop").cumcount()
    agg["responded"] = agg["host"] != UNKNOWN_HOST
    agg["dst"] = dst
    agg["asn"] = pd.NA
    return schema.frame(agg, HOPS_SCHEMA)


def _address(target: str) -> str | None:
    """The IPv4/IPv6 address mtr -n will trace for ``target`` (None when it does not resolve)."""
    import ipaddress
    import socket

    try:
        return str(ipaddress.ip_address(target))
    except ValueError:
        pass
    try:
        return str(socket.getaddrinfo(target, None, proto=socket.IPPROTO_UDP)[0][4][0])
    except (OSError, IndexError):
        return None


def _raw_dst(text: str) -> str:
    """The last hop's responder is the best guess at the destination of a raw trace."""
    hosts = re.findall(r"^h\s+(\d+)\s+(\S+)", text, re.MULTILINE)
    if not hosts:
        return ""
    top = max(int(h) for h, _ in hosts)
    return str(next(a for h, a in hosts if int(h) == top))


def trace(
    targets: Sequence[str], *, parallel: int = 8, mode: str = "raw", **options: Any
) -> tuple[pd.DataFrame, dict[str, str]]:
    """mtr to several targets at once; per-hop rows for all, and why any target failed.

    ``--raw`` (the default) keeps ECMP responders apart, which ``--json`` folds into one. mtr
    runs one target per process and spends ``count * interval`` on each, so targets run in
    parallel threads (each just waits on its subprocess).
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(t: str) -> pd.DataFrame | str:
        try:
            text = collect(t, mode=mode, **options)
            if mode == "json":
                return parse_json(text, source=f"mtr {t}")
            return hops_from_samples(parse_raw(text, source=f"mtr {t}"), dst=_address(t) or _raw_dst(text))
        except ToolPermissionError:
            raise
        except (ToolFailedError, ParseError, InputError, ToolTimeoutError) as exc:
            return str(exc)

    names = [t for t in dict.fromkeys(targets) if t]
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(names) or 1))) as pool:
        results = list(pool.map(one, names))
    frames = [r for r in results if isinstance(r, pd.DataFrame)]
    failed = {t: r for t, r in zip(names, results, strict=True) if isinstance(r, str)}
    hops = pd.concat(frames, ignore_index=True) if frames else schema.empty(HOPS_SCHEMA)
    return schema.conform(hops, HOPS_SCHEMA), failed

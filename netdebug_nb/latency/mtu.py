"""Path-MTU sweep: probes of increasing size with Don't Fragment set, to find where replies stop.

A path whose MTU shrinks somewhere normally says so: the router sends ICMP "fragmentation
needed" and the sender learns the path MTU. When that ICMP is filtered, big packets vanish
silently: a path-MTU black hole (small requests work, large responses hang). The sweep tells the
two apart: replies stop above some size and either an MTU was reported (PMTU discovery works) or
nothing came back at all (black hole).

iputils ``ping -M do`` is used rather than fping because it reports both the router's ICMP
("Frag needed and DF set (mtu = N)") and the kernel's cached path MTU ("message too long, mtu=N")
that fping 5.1 drops silently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from netdebug_nb import schema, textfile, tools
from netdebug_nb.errors import InputError, ParseError, ToolFailedError, ToolPermissionError

IPV4_ICMP_OVERHEAD = 28  # IPv4 header (20) + ICMP echo header (8)

SWEEP_SCHEMA: schema.Schema = {
    "target": "string",
    "size_bytes": "Int64",  # ICMP payload (ping -s)
    "packet_bytes": "Int64",  # IPv4 packet size: payload + 28
    "sent": "Int64",
    "received": "Int64",
    "errors": "Int64",  # ICMP errors and local send errors ping counted
    "loss_pct": "Float64",
    "mtu_reported": "Int64",  # MTU named by "frag needed" from a router or the kernel's cached path MTU
    "error": "string",  # the first error line ping printed, if any
}


@dataclass(frozen=True)
class Verdict:
    """What the sweep shows for one target."""

    target: str
    largest_ok_packet: int | None  # biggest IPv4 packet that got replies
    smallest_failed_packet: int | None  # smallest IPv4 packet above it that got none
    mtu_reported: int | None
    blackhole: bool  # big packets vanish and nobody said why

    @property
    def path_mtu(self) -> int | None:
        return self.mtu_reported if self.mtu_reported else self.largest_ok_packet


def command(
    target: str, size_bytes: int, *, count: int = 3, interval_s: float = 0.2, wait_s: float = 1.0
) -> list[str]:
    if not target or target.startswith("-") or any(c.isspace() for c in target):
        raise InputError("targets", f"not a host name or address: {target!r}")
    if not 0 <= size_bytes <= 65507:
        raise InputError("sizes", f"payload size must be 0..65507 bytes, got {size_bytes}")
    return ["ping", "-n", "-M", "do", "-s", str(size_bytes), "-c", str(count), "-i", f"{interval_s:g}",
            "-W", f"{wait_s:g}", target]  # fmt: skip


def collect(target: str, sizes: Sequence[int], *, count: int = 3, interval_s: float = 0.2) -> str:
    """One ping run per size; the outputs concatenated with a ``# size N`` header each."""
    if not sizes:
        raise InputError("sizes", "no payload sizes given for the MTU sweep")
    chunks: list[str] = []
    for size in sorted({int(s) for s in sizes}):
        argv = command(target, size, count=count, interval_s=interval_s)
        try:
            done = tools.run(argv, timeout=count * interval_s + 10, ok_codes=(0, 1))
        except ToolFailedError as exc:
            if tools.looks_like_permission_problem(exc.stderr):
                raise ToolPermissionError("ping", "NET_RAW", exc.stderr.strip()) from exc
            # 2 = could not send at all (unresolvable, no route): that is a result for this size
            chunks.append(f"# size {size} target {target}\n{exc.stderr}")
            continue
        chunks.append(f"# size {size} target {target}\n{done.stdout}{done.stderr}")
    return "\n".join(chunks)


def sweep(targets: Sequence[str], sizes: Sequence[int], *, count: int = 3, interval_s: float = 0.2) -> str:
    """:func:`collect` for several targets in parallel (sizes one after the other per target)."""
    from concurrent.futures import ThreadPoolExecutor

    names = [t for t in dict.fromkeys(targets) if t]
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
        texts = list(pool.map(lambda t: collect(t, sizes, count=count, interval_s=interval_s), names))
    return "\n".join(texts)


_HEADER = re.compile(r"^# size (\d+) target (\S+)$", re.MULTILINE)
_STATS = re.compile(r"(\d+) packets transmitted, (\d+) received(?:, \+(\d+) errors)?")
_MTU = re.compile(r"mtu ?= ?(\d+)")
_ERR = re.compile(r"^(?:From \S+ icmp_seq=\d+ (.+)|\S*ping: (.+))$", re.MULTILINE)


def parse(text: str, *, source: str = "mtu sweep") -> pd.DataFrame:
    """One row per probed size from :func:`collect` output (or saved ping outputs with headers)."""
    heads = list(_HEADER.finditer(text))
    if not heads:
        raise ParseError(source, "no '# size N target T' sections: not an MTU sweep output")
    rows = []
    for i, m in enumerate(heads):
        body = text[m.end() : heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        size, target = int(m.group(1)), m.group(2)
        st = _STATS.search(body)
        sent, rcv, errs = (int(st.group(1)), int(st.group(2)), int(st.group(3) or 0)) if st else (0, 0, 0)
        mtus = [int(x) for x in _MTU.findall(body)]
        err = next((e1 or e2 for e1, e2 in _ERR.findall(body)), None)
        rows.append(
            {
                "target": target,
                "size_bytes": size,
                "packet_bytes": size + IPV4_ICMP_OVERHEAD,
                "sent": sent,
                "received": rcv,
                "errors": errs,
                "loss_pct": 100.0 * (sent - rcv) / sent if sent else None,
                "mtu_reported": min(mtus) if mtus else None,
                "error": err,
            }
        )
    return schema.frame(rows, SWEEP_SCHEMA)


def read(path: str | Path) -> pd.DataFrame:
    return parse(textfile.read(path, "mtu sweep output"), source=str(Path(path)))


def analyze(sweep: pd.DataFrame) -> list[Verdict]:
    """One verdict per target: where replies stop, and whether anyone said why."""
    out = []
    for target, g in sweep.groupby("target", sort=False):
        g = g.sort_values("packet_bytes")
        ok = g[g["received"] > 0]
        largest_ok = int(ok["packet_bytes"].max()) if len(ok) else None
        above = g[(g["received"] == 0) & (g["sent"] > 0)]
        if largest_ok is not None:
            above = above[above["packet_bytes"] > largest_ok]
        smallest_failed = int(above["packet_bytes"].min()) if len(above) else None
        reported = g["mtu_reported"].dropna()
        mtu = int(reported.min()) if len(reported) else None
        silent = (
            len(above) > 0
            and bool((above["errors"].fillna(0) == 0).all())
            and above["mtu_reported"].isna().all()
        )
        blackhole = bool(largest_ok is not None and smallest_failed is not None and silent and mtu is None)
        out.append(Verdict(str(target), largest_ok, smallest_failed, mtu, blackhole))
    return out


def verdicts_frame(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "target": v.target,
                "largest_ok_packet": v.largest_ok_packet,
                "smallest_failed_packet": v.smallest_failed_packet,
                "mtu_reported": v.mtu_reported,
                "blackhole": v.blackhole,
            }
            for v in verdicts
        ],
        columns=["target", "largest_ok_packet", "smallest_failed_packet", "mtu_reported", "blackhole"],
    ).astype({"target": "string", "largest_ok_packet": "Int64", "smallest_failed_packet": "Int64",
              "mtu_reported": "Int64", "blackhole": "boolean"})  # fmt: skip

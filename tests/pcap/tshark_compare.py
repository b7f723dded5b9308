"""Compare the reader's packet table with ``tshark -T fields`` for the same file (used by test_corpus)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pandas as pd

FIELDS = [
    "frame.number",
    "frame.time_epoch",
    "frame.cap_len",
    "frame.len",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "ip.proto",
    "ip.ttl",
    "ip.flags.mf",
    "ip.frag_offset",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "tcp.flags",
    "tcp.seq_raw",
    "tcp.ack_raw",
    "tcp.window_size_value",
    "icmp.type",
    "icmp.code",
    "icmpv6.type",
    "icmpv6.code",
    "vlan.id",
    "ipv6.fragment",
    "_ws.malformed",
]


def tshark_rows(path: Path) -> list[list[str]]:
    argv = ["tshark", "-n", "-r", str(path), "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"]
    for f in FIELDS:
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, errors="replace").stdout
    return [ln.split("\t") for ln in out.splitlines() if ln]


@dataclass
class Diff:
    compared: int = 0
    problems: list[str] = field(default_factory=list)


def compare(df: pd.DataFrame, rows: list[list[str]], fast: frozenset[int], *, check_ts: bool = True) -> Diff:
    d = Diff()
    if len(rows) != len(df):
        d.problems.append(f"tshark has {len(rows)} packets, reader {len(df)}")
        return d
    ts = df["ts"].astype("int64").to_numpy()
    recs = df.to_dict("records")
    for i, (r, t) in enumerate(zip(rows, recs, strict=True)):
        v = dict(zip(FIELDS, r + [""] * (len(FIELDS) - len(r)), strict=True))
        n = i + 1

        def bad(what: str, ours: object, theirs: object, n: int = n) -> None:
            d.problems.append(f"frame {n}: {what}: reader {ours!r} tshark {theirs!r}")

        if check_ts and int(Decimal(v["frame.time_epoch"]) * 1_000_000_000) != ts[i]:
            bad("ts", ts[i], v["frame.time_epoch"])
        if int(v["frame.cap_len"]) != t["caplen"]:
            bad("caplen", t["caplen"], v["frame.cap_len"])
        if int(v["frame.len"]) != t["wirelen"]:
            bad("wirelen", t["wirelen"], v["frame.len"])
        if t["linktype"] not in fast or v["_ws.malformed"]:
            continue
        d.compared += 1
        srcs = [s for s in (v["ip.src"], v["ipv6.src"]) if s]
        dsts = [s for s in (v["ip.dst"], v["ipv6.dst"]) if s]
        if len(srcs) != 1 or "," in srcs[0]:
            continue  # no IP, or tunnels / ICMP errors quoting a packet: tshark lists every layer
        ours_src = None if pd.isna(t["src"]) else str(t["src"])
        if ours_src != srcs[0]:
            bad("src", ours_src, srcs[0])
            continue
        ours_dst = None if pd.isna(t["dst"]) else str(t["dst"])
        if dsts and ours_dst != dsts[0]:
            bad("dst", ours_dst, dsts[0])
        if v["ip.proto"] and "," not in v["ip.proto"] and int(v["ip.proto"]) != t["proto"]:
            bad("proto", t["proto"], v["ip.proto"])
        if v["ip.flags.mf"] == "1" or v["ip.frag_offset"] not in ("", "0") or v["ipv6.fragment"]:
            continue  # tshark reassembles: transport fields move to the last fragment
        for proto in ("tcp", "udp"):
            sp, dp = v[f"{proto}.srcport"], v[f"{proto}.dstport"]
            if (
                sp
                and "," not in sp
                and (t["sport"] is pd.NA or int(sp) != t["sport"] or int(dp) != t["dport"])
            ):
                bad(f"{proto} ports", (t["sport"], t["dport"]), (sp, dp))
        if v["tcp.flags"] and "," not in v["tcp.flags"]:
            if t["tcp_flags"] is pd.NA or int(v["tcp.flags"], 16) & 0x1FF != t["tcp_flags"]:
                bad("tcp flags", t["tcp_flags"], v["tcp.flags"])
            elif int(v["tcp.seq_raw"]) != t["tcp_seq"]:
                bad("tcp seq", t["tcp_seq"], v["tcp.seq_raw"])
        for proto in ("icmp", "icmpv6"):
            ty = v[f"{proto}.type"]
            if ty and "," not in ty and (t["icmp_type"] is pd.NA or int(ty) != t["icmp_type"]):
                bad(f"{proto} type", t["icmp_type"], ty)
        vl = v["vlan.id"]
        if vl and t["vlan"] is not pd.NA:
            ids = [int(x) for x in vl.split(",")]
            if t["vlan"] is pd.NA or ids[0] != t["vlan"]:
                bad("vlan", t["vlan"], vl)
    return d

"""Read a capture file into the packet table (:data:`PACKETS_SCHEMA`), fast enough for real captures.

The recipe: :mod:`formats` finds the packet records chunk by chunk, :mod:`decode` turns each
chunk's headers into numpy columns, and this module stitches the chunks into one DataFrame with
nullable columns and shared address categories. Nothing here loops over packets in Python.
Problems that cost packets (truncated or corrupt records) are kept as warnings: emitted as
:class:`CaptureWarning` and listed in ``df.attrs["warnings"]``, next to the rows that were read.
"""

from __future__ import annotations

import socket
import warnings
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from netdebug_nb.errors import InputError
from netdebug_nb.pcap.decode import FAST_LINKTYPES, decode
from netdebug_nb.pcap.formats import DEFAULT_CHUNK, Batch, CaptureWarning, PcapFormatError, Scan
from netdebug_nb.pcap.schema import PACKETS_SCHEMA

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FAST_LINKTYPES", "CaptureWarning", "PcapFormatError", "packet_bytes", "packet_records", "read"]


def read(
    path: str | Path,
    *,
    chunk_bytes: int = DEFAULT_CHUNK,
    linktypes: Collection[int] = FAST_LINKTYPES,
    max_packets: int | None = None,
) -> pd.DataFrame:
    """One row per packet of the pcap/pcapng (optionally gzip-compressed) file at ``path``.

    ``linktypes`` limits which link types get their network fields decoded (the others still get
    a row). ``max_packets`` stops early, for a quick look at a huge file. Raises
    :class:`PcapFormatError` when the file is not a capture; a damaged tail gives a warning.
    """
    from netdebug_nb.schema import empty

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such capture file" if not path.exists() else "not a regular file")
    scan = Scan(path, chunk_bytes=chunk_bytes)
    cols: _Columns | None = None
    total = 0
    # The walk is many small numpy steps (Python-bound, holds the GIL); decode is a few hundred
    # big array operations that release it. On a mapped file, batch k is decoded (and copied
    # into the output columns) on a thread while batch k+1 is walked, so the two overlap on two
    # cores (the mapping keeps batch k's pages until batch k+2 is asked for).
    pool: ThreadPoolExecutor | None = None
    pending: Future[None] | None = None
    try:
        for batch in scan.batches():
            if max_packets is not None and total + len(batch) > max_packets:
                for name in ("off", "caplen", "wirelen", "ts_ns", "iface", "linktype"):
                    setattr(batch, name, getattr(batch, name)[: max_packets - total])
            if cols is None:
                cols = _Columns(_estimate(path, batch, max_packets))
            if scan.stable:
                if pool is None:
                    pool = ThreadPoolExecutor(1, thread_name_prefix="pcap-decode")
                if pending is not None:  # one batch in flight: its pages stay mapped until done
                    pending.result()
                pending = pool.submit(cols.add, batch, linktypes)
            else:  # the next chunk overwrites this batch's buffer: decode it now
                cols.add(batch, linktypes)
            total += len(batch)
            if max_packets is not None and total >= max_packets:
                break
        if pending is not None:
            pending.result()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    df = empty(PACKETS_SCHEMA) if cols is None or not cols.n else _frame(cols)
    df.attrs["path"] = str(path)
    df.attrs["format"] = scan.format
    df.attrs["warnings"] = list(scan.warnings)
    for msg in scan.warnings:
        warnings.warn(msg, CaptureWarning, stacklevel=2)
    return df


def packet_bytes(path: str | Path, frames: Sequence[int]) -> list[bytes]:
    """Captured bytes of the given 1-based frame numbers, in the order asked.

    The analysis uses these with the ``l4_offset`` column to parse payloads (DNS) that the fast
    path does not decode. Reads the file again; cost is a scan without the decode.
    """
    return [data for data, _lt, _ts in packet_records(path, frames)]


def packet_records(path: str | Path, frames: Sequence[int]) -> list[tuple[bytes, int, int]]:
    """(captured bytes, link type, timestamp ns) of the given 1-based frame numbers, in that order."""
    path = Path(path)
    want = np.asarray(sorted(set(frames)), dtype=np.int64)
    found: dict[int, tuple[bytes, int, int]] = {}
    first = 1
    if len(want):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CaptureWarning)
            for batch in Scan(path).batches():
                n = len(batch)
                lo, hi = np.searchsorted(want, [first, first + n])
                for k in want[lo:hi].tolist():
                    i = k - first
                    o = int(batch.off[i])
                    data = batch.buf[o : o + int(batch.caplen[i])].tobytes()
                    found[k] = (data, int(batch.linktype[i]), int(batch.ts_ns[i]))
                first += n
                if hi >= len(want):
                    break
    missing = [k for k in frames if k not in found]
    if missing:
        raise InputError(path, f"no frame {missing[0]} in the capture ({first - 1} packets read)")
    return [found[k] for k in frames]


def _estimate(path: Path, first: Batch, max_packets: int | None) -> int:
    """Packets expected in the file, from the first batch's bytes per packet (+10%).

    Only sizes the output columns: more rows grow them, and memory never touched for rows that
    did not come is not resident.
    """
    n = len(first)
    if not n:
        return 1024
    span = int(first.off[-1] + first.caplen[-1] - first.off[0]) + 16 * n
    est = int(n * path.stat().st_size / max(span, 1) * 1.1) + 1024
    return min(est, max_packets) if max_packets is not None else est


# output column -> (dtype, source): a Decoded field, a Batch field, or "~field" for the
# missing-value mask of a nullable column (each column owns its mask: pandas writes into it)
_SPEC: dict[str, tuple[str, str]] = {
    "caplen": ("uint32", "batch.caplen"),
    "wirelen": ("uint32", "batch.wirelen"),
    "ts_ns": ("int64", "batch.ts_ns"),
    "linktype": ("uint16", "batch.linktype"),
    "iface": ("uint16", "batch.iface"),
    "vlan": ("uint16", "vlan"),
    "vlan.na": ("bool", "~has_vlan"),
    "vlan_inner": ("uint16", "vlan_inner"),
    "vlan_inner.na": ("bool", "~has_vlan_inner"),
    "ip_version": ("uint8", "ip_version"),
    "ip_version.na": ("bool", "~has_ip"),
    "src4": ("uint32", "src4"),
    "dst4": ("uint32", "dst4"),
    "proto": ("uint8", "proto"),
    "proto.na": ("bool", "~has_ip"),
    "ttl": ("uint8", "ttl"),
    "ttl.na": ("bool", "~has_ip"),
    "ip_id": ("uint32", "ip_id"),
    "ip_id.na": ("bool", "~has_ip_id"),
    "frag": ("bool", "frag"),
    "frag.na": ("bool", "~has_ip"),
    "sport": ("uint16", "sport"),
    "sport.na": ("bool", "~has_ports"),
    "dport": ("uint16", "dport"),
    "dport.na": ("bool", "~has_ports"),
    "tcp_flags": ("uint16", "tcp_flags"),
    "tcp_flags.na": ("bool", "~tcp"),
    "tcp_seq": ("uint32", "tcp_seq"),
    "tcp_seq.na": ("bool", "~tcp"),
    "tcp_ack": ("uint32", "tcp_ack"),
    "tcp_ack.na": ("bool", "~tcp"),
    "tcp_win": ("uint16", "tcp_win"),
    "tcp_win.na": ("bool", "~tcp"),
    "payload_len": ("uint32", "payload_len"),
    "payload_len.na": ("bool", "~has_payload_len"),
    "icmp_type": ("uint8", "icmp_type"),
    "icmp_type.na": ("bool", "~icmp"),
    "icmp_code": ("uint8", "icmp_code"),
    "icmp_code.na": ("bool", "~icmp"),
    "l4_offset": ("int64", "l4_offset"),
    "l4_offset.na": ("bool", "~has_l4_offset"),
}


class _Columns:
    """The packet table's columns in their final dtypes, filled batch by batch.

    Each batch is decoded and copied straight into its rows (on the decode thread), so the end
    of :func:`read` wraps arrays instead of concatenating and converting ~40 of them.
    """

    def __init__(self, capacity: int) -> None:
        self.n = 0
        self.arrays = {name: np.empty(capacity, dtype=dt) for name, (dt, _src) in _SPEC.items()}
        self.src6: list[np.ndarray] = []
        self.dst6: list[np.ndarray] = []

    def add(self, batch: Batch, linktypes: Collection[int]) -> None:
        d = decode(batch, linktypes)
        lo, hi = self.n, self.n + len(batch)
        cap = len(self.arrays["caplen"])
        if hi > cap:
            grown = max(hi, 2 * cap)
            for name, a in self.arrays.items():
                new = np.empty(grown, dtype=a.dtype)
                new[:lo] = a[:lo]
                self.arrays[name] = new
        has_ip = d.ip_version != 0
        for name, (_dt, src) in _SPEC.items():
            out = self.arrays[name][lo:hi]
            if src.startswith("~"):
                valid = has_ip if src == "~has_ip" else getattr(d, src[1:])
                np.logical_not(valid, out=out)
            elif src.startswith("batch."):
                out[...] = getattr(batch, src[6:])
            else:
                out[...] = getattr(d, src)
        self.src6.append(d.src6)
        self.dst6.append(d.dst6)
        self.n = hi


def _frame(c: _Columns) -> pd.DataFrame:
    import pandas as pd

    n = c.n
    a = {name: arr[:n] for name, arr in c.arrays.items()}

    def nullable(name: str) -> Any:
        return pd.arrays.IntegerArray(a[name], a[name + ".na"])

    ipv = a["ip_version"]
    src6 = np.concatenate(c.src6) if len(c.src6) > 1 else c.src6[0]
    dst6 = np.concatenate(c.dst6) if len(c.dst6) > 1 else c.dst6[0]
    src, dst = _addresses(pd, ipv, a["src4"], a["dst4"], src6, dst6)
    ts = pd.DatetimeIndex(a["ts_ns"].view("M8[ns]")).tz_localize("UTC")
    cols: dict[str, Any] = {
        "frame": np.arange(1, n + 1, dtype=np.int64),
        "ts": ts,
        "caplen": a["caplen"],
        "wirelen": a["wirelen"],
        "linktype": a["linktype"],
        "iface": a["iface"],
        "vlan": nullable("vlan"),
        "vlan_inner": nullable("vlan_inner"),
        "ip_version": nullable("ip_version"),
        "src": src,
        "dst": dst,
        "proto": nullable("proto"),
        "ttl": nullable("ttl"),
        "ip_id": nullable("ip_id"),
        "frag": pd.arrays.BooleanArray(a["frag"], a["frag.na"]),
        "sport": nullable("sport"),
        "dport": nullable("dport"),
        "tcp_flags": nullable("tcp_flags"),
        "tcp_seq": nullable("tcp_seq"),
        "tcp_ack": nullable("tcp_ack"),
        "tcp_win": nullable("tcp_win"),
        "payload_len": nullable("payload_len"),
        "icmp_type": nullable("icmp_type"),
        "icmp_code": nullable("icmp_code"),
        "l4_offset": nullable("l4_offset"),
    }
    df: pd.DataFrame = pd.DataFrame(cols, copy=False)
    assert list(df.columns) == list(PACKETS_SCHEMA)
    return df


def _addresses(
    pd: Any,
    ipv: np.ndarray,
    src4: np.ndarray,
    dst4: np.ndarray,
    src6: np.ndarray,
    dst6: np.ndarray,
) -> tuple[Any, Any]:
    """src and dst as categoricals sharing one category list (so ``src == dst`` compares)."""
    n = len(ipv)
    src_codes = np.full(n, -1, dtype=np.int32)
    dst_codes = np.full(n, -1, dtype=np.int32)
    cats: list[str] = []
    is4 = ipv == 4
    if is4.any():
        m = int(is4.sum())
        c4, u4 = pd.factorize(np.concatenate([src4[is4], dst4[is4]]))
        src_codes[is4] = c4[:m]
        dst_codes[is4] = c4[m:]
        cats.extend(socket.inet_ntoa(v.to_bytes(4, "big")) for v in u4.tolist())
    is6 = ipv == 6
    if is6.any():
        both = np.concatenate([src6, dst6])
        ch, uh = pd.factorize(both[:, 0])
        cl, ul = pd.factorize(both[:, 1])
        width = max(len(ul), 1)
        c6, u6 = pd.factorize(ch.astype(np.int64) * width + cl)
        m = int(is6.sum())
        src_codes[is6] = len(cats) + c6[:m]
        dst_codes[is6] = len(cats) + c6[m:]
        for key in u6.tolist():
            raw = int(uh[key // width]).to_bytes(8, "big") + int(ul[key % width]).to_bytes(8, "big")
            cats.append(socket.inet_ntop(socket.AF_INET6, raw))
    dtype = pd.CategoricalDtype(cats)
    return (
        pd.Categorical.from_codes(src_codes, dtype=dtype, validate=False),
        pd.Categorical.from_codes(dst_codes, dtype=dtype, validate=False),
    )

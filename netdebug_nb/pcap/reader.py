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
import numpy.typing as npt

from netdebug_nb.errors import InputError
from netdebug_nb.pcap.decode import FAST_LINKTYPES, Decoded, decode
from netdebug_nb.pcap.formats import DEFAULT_CHUNK, CaptureWarning, PcapFormatError, Scan
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
    decoded: list[tuple[dict[str, np.ndarray], Decoded]] = []
    total = 0
    # The walk is many small numpy steps (Python-bound, holds the GIL); decode is a few hundred
    # big array operations that release it. On a mapped file, batch k is decoded on a thread
    # while batch k+1 is walked, so the two overlap on two cores (the mapping keeps batch k's
    # pages until batch k+2 is asked for).
    pool: ThreadPoolExecutor | None = None
    pending: list[tuple[dict[str, np.ndarray], Future[Decoded]]] = []
    try:
        for batch in scan.batches():
            take = len(batch)
            if max_packets is not None:
                take = min(take, max_packets - total)
            if take < len(batch):
                for name in ("off", "caplen", "wirelen", "ts_ns", "iface", "linktype"):
                    setattr(batch, name, getattr(batch, name)[:take])
            meta: dict[str, np.ndarray] = {
                "caplen": batch.caplen,
                "wirelen": batch.wirelen,
                "ts_ns": batch.ts_ns,
                "iface": batch.iface,
                "linktype": batch.linktype,
            }
            if scan.stable:
                if pool is None:
                    pool = ThreadPoolExecutor(1, thread_name_prefix="pcap-decode")
                if pending:  # one batch in flight: its pages stay mapped until it is done
                    decoded.append((pending[0][0], pending.pop()[1].result()))
                pending.append((meta, pool.submit(decode, batch, linktypes)))
            else:  # the next chunk overwrites this batch's buffer: decode it now
                decoded.append((meta, decode(batch, linktypes)))
            total += take
            if max_packets is not None and total >= max_packets:
                break
        decoded.extend((meta, fut.result()) for meta, fut in pending)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    df = empty(PACKETS_SCHEMA) if not total else _frame(decoded, total)
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


def _frame(parts: list[tuple[dict[str, np.ndarray], Decoded]], n: int) -> pd.DataFrame:
    import pandas as pd

    def cat(name: str) -> np.ndarray:
        arrs = [getattr(d, name) for _, d in parts]
        return arrs[0] if len(arrs) == 1 else np.concatenate(arrs)

    def meta(name: str) -> np.ndarray:
        arrs = [m[name] for m, _ in parts]
        return arrs[0] if len(arrs) == 1 else np.concatenate(arrs)

    def nullable(values: np.ndarray, valid: npt.NDArray[np.bool_], dtype: str) -> Any:
        return pd.arrays.IntegerArray(values.astype(dtype.lower(), copy=False), ~valid)

    ipv = cat("ip_version")
    has_ip = ipv != 0
    tcp = cat("tcp")
    icmp = cat("icmp")
    src, dst = _addresses(pd, ipv, cat("src4"), cat("dst4"), cat("src6"), cat("dst6"))
    ts = pd.DatetimeIndex(meta("ts_ns").view("M8[ns]")).tz_localize("UTC")
    cols: dict[str, Any] = {
        "frame": np.arange(1, n + 1, dtype=np.int64),
        "ts": ts,
        "caplen": meta("caplen").astype(np.uint32),
        "wirelen": meta("wirelen").astype(np.uint32),
        "linktype": meta("linktype"),
        "iface": meta("iface"),
        "vlan": nullable(cat("vlan"), cat("has_vlan"), "UInt16"),
        "vlan_inner": nullable(cat("vlan_inner"), cat("has_vlan_inner"), "UInt16"),
        "ip_version": nullable(ipv, has_ip, "UInt8"),
        "src": src,
        "dst": dst,
        "proto": nullable(cat("proto"), has_ip, "UInt8"),
        "ttl": nullable(cat("ttl"), has_ip, "UInt8"),
        "ip_id": nullable(cat("ip_id"), cat("has_ip_id"), "UInt32"),
        "frag": pd.arrays.BooleanArray(cat("frag"), ~has_ip),
        "sport": nullable(cat("sport"), cat("has_ports"), "UInt16"),
        "dport": nullable(cat("dport"), cat("has_ports"), "UInt16"),
        "tcp_flags": nullable(cat("tcp_flags"), tcp, "UInt16"),
        "tcp_seq": nullable(cat("tcp_seq"), tcp, "UInt32"),
        "tcp_ack": nullable(cat("tcp_ack"), tcp, "UInt32"),
        "tcp_win": nullable(cat("tcp_win"), tcp, "UInt16"),
        "payload_len": nullable(cat("payload_len"), cat("has_payload_len"), "UInt32"),
        "icmp_type": nullable(cat("icmp_type"), icmp, "UInt8"),
        "icmp_code": nullable(cat("icmp_code"), icmp, "UInt8"),
        "l4_offset": nullable(cat("l4_offset"), cat("has_l4_offset"), "Int64"),
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

"""Analysis of a capture set bigger than memory: spill packets by flow bucket, analyse bucket by bucket.

Every analysis of the report is per flow (TCP health, conversations, DNS pairs) or a sum over
packets (overview, protocols, talkers, IO graph). So the set is read one file at a time and
each packet is written (Parquet, in a spill directory) to one of K buckets chosen by a hash of
its 5-tuple: all packets of a flow land in one bucket. Each bucket then fits in memory and gets
the same vectorized one-shot analysis as a whole capture would; the per-flow tables are
concatenated, flows renumbered by their first packet (as :func:`flows.label` numbers them), and
the sums merged from :class:`summary.Tally` parts and per-bin counts. Memory is bounded by the
largest file plus one bucket, and by the flows, addresses and bins — not by the packets.

Files must not overlap in time (a ring buffer's do not): packets are numbered in file order.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb.pcap import captureset
from netdebug_nb.pcap.tables import Tables, no_packets
from netdebug_nb.schema import Schema

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# capture bytes per bucket: a bucket's packet table and the analysis' temporaries take a few
# times the table (~150 bytes a packet), so this keeps one bucket's analysis near the budget
_BUCKET_SHARE = 0.5
_BYTES_PER_PACKET_IN_MEMORY = 800  # table + analysis temporaries, per packet (measured ~700 B)
_MIN_PACKET_BYTES = 60  # a capture file of this many bytes a packet at least (headers, tiny packets)

Progress = Callable[[str, int, int, int, float], None]  # (stage, done, of, packets, seconds)


def buckets_for(paths: list[Path], memory_mb: int, bytes_per_packet: float) -> int:
    """How many flow buckets keep one bucket's analysis within ``memory_mb``.

    ``bytes_per_packet``: capture file bytes per packet, from a sample of the first file.
    """
    total = sum(p.stat().st_size * (4 if captureset.is_gzip(p) else 1) for p in paths)
    packets = total / max(bytes_per_packet, _MIN_PACKET_BYTES)
    per_bucket = max(int(memory_mb * (1 << 20) * _BUCKET_SHARE) // _BYTES_PER_PACKET_IN_MEMORY, 10_000)
    return max(1, int(-(-packets // per_bucket)))


def analyze(
    spec: captureset.Spec,
    *,
    buckets: int | None = None,
    memory_mb: int = 2048,
    io_interval_s: float = 1.0,
    io_top_flows: int = 5,
    spill_dir: str | Path | None = None,
    packets_out: str | Path | None = None,
    progress: Progress | None = None,
) -> Tables:
    """The :class:`Tables` of a capture set, never holding more than one file and one bucket.

    ``buckets`` defaults to what ``memory_mb`` allows (:func:`buckets_for`). ``packets_out``:
    also write each file's packet table there as ``file-NNNN.parquet`` (``pcap export``).
    """
    import numpy as np

    from netdebug_nb.pcap import conversations, dataset, dns, flows, iograph, reader, summary, tcp
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA

    paths = captureset.resolve(spec)
    firsts: list[int] = []
    sample = 0.0
    for p in paths:  # order by first packet: a look at each file's first records
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", reader.CaptureWarning)
            head = reader.read(p, max_packets=1 if firsts else 2000)
        firsts.append(int(head["ts"].array.asi8[0]) if len(head) else np.iinfo(np.int64).max)
        if len(firsts) == 1 and len(head):
            sample = float(head["caplen"].to_numpy(dtype=np.int64).mean()) + 16
    paths = [paths[k] for k in sorted(range(len(paths)), key=lambda k: (firsts[k], k))]
    k_buckets = buckets or buckets_for(paths, memory_mb, sample)
    own_spill = spill_dir is None
    spill = Path(tempfile.mkdtemp(prefix="netdebug-spill-")) if own_spill else Path(spill_dir)  # type: ignore[arg-type]
    spill.mkdir(parents=True, exist_ok=True)
    out_dir = Path(packets_out) if packets_out is not None else None
    started = time.perf_counter()
    try:
        # --- pass 1: each file once, its packets to their flow buckets ----------------------
        frames = 0
        file_rows: list[dict[str, Any]] = []
        all_warnings: list[str] = []
        first_ns, last_ns = None, None
        for i, path in enumerate(paths):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", reader.CaptureWarning)
                df = reader.read(path)
            df["file"] = np.uint16(i)
            df["frame"] = df["frame"].to_numpy() + frames
            frames += len(df)
            all_warnings.extend(df.attrs.get("warnings", []))
            ts = np.asarray(df["ts"].array.asi8, dtype=np.int64)
            if len(ts):
                lo, hi = int(ts.min()), int(ts.max())
                first_ns = lo if first_ns is None else min(first_ns, lo)
                last_ns = hi if last_ns is None else max(last_ns, hi)
            file_rows.append(
                {
                    "path": str(path),
                    "format": df.attrs.get("format", ""),
                    "warnings": len(df.attrs.get("warnings", [])),
                }
            )
            bucket = _bucket_of(df, k_buckets)
            order = np.argsort(bucket, kind="stable")
            arrow = dataset.to_arrow(df, PACKETS_SCHEMA).take(order)
            bounds = np.searchsorted(bucket[order], np.arange(k_buckets + 1))
            for b in range(k_buckets):
                if bounds[b + 1] > bounds[b]:
                    _spill(
                        arrow.slice(int(bounds[b]), int(bounds[b + 1] - bounds[b])),
                        spill / f"b{b:04d}" / f"f{i:05d}.arrow",
                    )
            if out_dir is not None:
                dataset.write_packets(df, out_dir / f"file-{i:04d}.parquet")
            del df, bucket
            if progress is not None:
                progress("read", i + 1, len(paths), frames, time.perf_counter() - started)
        for msg in all_warnings:  # what could not be read, as a one-shot read says it
            warnings.warn(msg, reader.CaptureWarning, stacklevel=2)
        # --- pass 2: each bucket alone ----------------------------------------------------------
        grid = (
            iograph.grid(first_ns, last_ns, interval_s=io_interval_s)
            if first_ns is not None and last_ns is not None
            else None
        )
        path_names = [str(p) for p in paths]
        tallies: list[summary.Tally] = []
        per: list[dict[str, Any]] = []
        file_stats = np.zeros((len(paths), 3), dtype=np.int64)  # packets, first, last
        file_stats[:, 1] = np.iinfo(np.int64).max
        file_stats[:, 2] = np.iinfo(np.int64).min
        io_all = None
        done_packets = 0
        bucket_dirs = sorted(spill.glob("b*"))
        for bi, bdir in enumerate(bucket_dirs):
            pk = _unspill(sorted(bdir.glob("*.arrow")))
            pk.attrs["files"] = path_names
            done_packets += len(pk)
            fidx = pk["file"].to_numpy(dtype=np.int64)
            ts = np.asarray(pk["ts"].array.asi8, dtype=np.int64)
            np.add.at(file_stats[:, 0], fidx, 1)
            np.minimum.at(file_stats[:, 1], fidx, ts)
            np.maximum.at(file_stats[:, 2], fidx, ts)
            labels = flows.label(pk)
            fl = labels["flow"].to_numpy()
            has = fl >= 0
            local_ids, first_row = np.unique(fl[has], return_index=True)
            first_frame = np.zeros(int(local_ids.max()) + 1 if len(local_ids) else 0, dtype=np.int64)
            first_frame[local_ids] = pk["frame"].to_numpy()[has][first_row]
            conv = conversations.summarize(pk, labels)
            messages = dns.messages(dns.candidates(pk), captureset.packet_bytes(pk, dns.candidates(pk)))
            part: dict[str, Any] = {
                "first_frame": first_frame,
                "conversations": conv,
                "tcp": tcp.analyze(pk, labels),
                "dns_messages": messages,
                "icmp_rows": pk[_icmp_error_rows(pk)],
            }
            tallies.append(summary.tally(pk))
            if grid is not None and len(pk):
                t0, width, nbins = grid
                bins = (ts - t0) // width
                wire = pk["wirelen"].to_numpy(dtype=np.int64)
                counts = np.vstack(
                    [np.bincount(bins, weights=wire, minlength=nbins), np.bincount(bins, minlength=nbins)]
                )
                io_all = counts if io_all is None else io_all + counts
                part["io_flows"] = {
                    int(f): np.vstack(
                        [
                            np.bincount(bins[fl == f], weights=wire[fl == f], minlength=nbins),
                            np.bincount(bins[fl == f], minlength=nbins),
                        ]
                    )
                    for f in conv.head(io_top_flows)["flow"].tolist()
                }
            per.append(part)
            del pk, labels
            if progress is not None:
                progress("analyse", bi + 1, len(bucket_dirs), done_packets, time.perf_counter() - started)
        return _merge(per, tallies, grid, io_all, io_top_flows, file_rows, file_stats)
    finally:
        if own_spill:
            shutil.rmtree(spill, ignore_errors=True)


def _spill(table: Any, path: Path) -> None:
    """One file's packets of one bucket, as an uncompressed Arrow IPC file (fast to write and map)."""
    import pyarrow.feather as feather

    path.parent.mkdir(parents=True, exist_ok=True)
    feather.write_feather(table, path, compression="uncompressed")


def _unspill(paths: list[Path]) -> pd.DataFrame:
    """A bucket's packet table, in frame order (the files were spilled in order)."""
    import pyarrow as pa
    import pyarrow.feather as feather

    from netdebug_nb.pcap import dataset
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA

    tables = [feather.read_table(p, memory_map=True) for p in paths]
    table = pa.concat_tables(tables).unify_dictionaries() if len(tables) > 1 else tables[0]
    return dataset.shared_addresses(dataset.from_arrow(table, PACKETS_SCHEMA))


def _merge(
    per: list[dict[str, Any]],
    tallies: list[Any],
    grid: tuple[int, int, int] | None,
    io_all: Any,
    io_top_flows: int,
    file_rows: list[dict[str, Any]],
    file_stats: Any,
) -> Tables:
    """The buckets' parts as one :class:`Tables`, flows numbered by their first packet."""
    import numpy as np
    import pandas as pd

    from netdebug_nb.pcap import dns, icmp, iograph, summary, tcp
    from netdebug_nb.pcap.conversations import CONVERSATIONS_SCHEMA
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA
    from netdebug_nb.schema import empty, frame

    firsts = [p["first_frame"] for p in per]
    every = np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)
    rank = np.empty(len(every), dtype=np.int64)
    rank[np.argsort(every, kind="stable")] = np.arange(len(every))
    maps, at = [], 0
    for f in firsts:
        maps.append(rank[at : at + len(f)])
        at += len(f)

    def renumber(df: pd.DataFrame, m: np.ndarray) -> pd.DataFrame:
        if not len(df):
            return df
        out = df.copy()
        out["flow"] = m[out["flow"].to_numpy(dtype=np.int64)]
        return out

    conv = [renumber(p["conversations"], m) for p, m in zip(per, maps, strict=True)]
    conv_all = (
        pd.concat([c for c in conv if len(c)], ignore_index=True).sort_values(
            ["bytes", "flow"], ascending=[False, True], ignore_index=True
        )
        if any(len(c) for c in conv)
        else empty(CONVERSATIONS_SCHEMA)
    )
    health = [renumber(p["tcp"].health, m) for p, m in zip(per, maps, strict=True)]
    events = [renumber(p["tcp"].events, m) for p, m in zip(per, maps, strict=True)]
    rtt = [renumber(p["tcp"].rtt, m) for p, m in zip(per, maps, strict=True)]

    def cat(parts: list[pd.DataFrame], schema: Schema, by: list[str]) -> pd.DataFrame:
        parts = [x for x in parts if len(x)]
        if not parts:
            return empty(schema)
        return frame(pd.concat(parts, ignore_index=True), schema).sort_values(
            by, kind="stable", ignore_index=True
        )

    analysis = tcp.Analysis(
        health=cat(health, tcp.HEALTH_SCHEMA, ["flow"]),
        events=cat(events, tcp.EVENTS_SCHEMA, ["frame", "event"]),
        rtt=cat(rtt, tcp.RTT_SCHEMA, ["frame"]),
    )
    messages = cat([p["dns_messages"] for p in per], dns.MESSAGES_SCHEMA, ["frame"])
    icmp_parts = [p["icmp_rows"] for p in per if len(p["icmp_rows"])]
    icmp_rows = (
        pd.concat(icmp_parts, ignore_index=True).sort_values("frame", ignore_index=True)
        if icmp_parts
        else None
    )
    if grid is not None and io_all is not None:
        top = conv_all.head(io_top_flows)
        series = {}
        for p, m in zip(per, maps, strict=True):
            for f, counts in p.get("io_flows", {}).items():
                series[int(m[f])] = counts
        io = iograph.assemble(
            *grid,
            top,
            [(io_all[0], io_all[1])] + [(series[f][0], series[f][1]) for f in top["flow"].tolist()],
        )
    else:
        io = empty(iograph.IOGRAPH_SCHEMA)
    has = file_stats[:, 0] > 0
    files_tbl = _files_table(file_rows, file_stats, has)
    return Tables(
        files=files_tbl,
        overview=summary.overview_of(tallies),
        protocols=summary.protocols_of(tallies),
        talkers=summary.talkers_of(tallies),
        conversations=conv_all,
        tcp=analysis,
        dns_messages=messages,
        dns_transactions=dns.transactions(messages),
        icmp_errors=icmp.errors(icmp_rows if icmp_rows is not None else empty(PACKETS_SCHEMA)),
        iograph=io,
        packets=no_packets()[0],
        labels=no_packets()[1],
    )


def _files_table(rows: list[dict[str, Any]], stats: Any, has: Any) -> pd.DataFrame:
    """captureset.files' table from per-file counts (no packet table of the whole set exists)."""
    import numpy as np
    import pandas as pd

    k = len(rows)
    with_packets = [i for i in range(k) if has[i]]
    fake = pd.DataFrame(
        {
            "file": np.repeat(np.asarray(with_packets, dtype=np.uint16), 2),
            "ts": pd.to_datetime(
                np.asarray([stats[i, j] for i in with_packets for j in (1, 2)], dtype=np.int64),
                unit="ns",
                utc=True,
            ),
        }
    )
    fake.attrs = {
        "files": [r["path"] for r in rows],
        "formats": [r["format"] for r in rows],
        "file_warnings": [r["warnings"] for r in rows],
    }
    out = captureset.files(fake)
    out["packets"] = stats[:, 0].astype(np.int64)
    return out


def _bucket_of(packets: pd.DataFrame, k: int) -> np.ndarray:
    """Bucket of each packet: a hash of (protocol, the two endpoints in either order); 0 without IP.

    Addresses are hashed by their text, so the bucket of a flow is the same in every file.
    """
    import zlib

    import numpy as np

    from netdebug_nb.pcap.summary import _address_codes

    n = len(packets)
    if k <= 1 or not n:
        return np.zeros(n, dtype=np.int64)
    s, d, names = _address_codes(packets)
    h = np.array([zlib.crc32(x.encode()) for x in names] or [0], dtype=np.uint64)
    sport = packets["sport"].to_numpy(dtype=np.int64, na_value=0).astype(np.uint64)
    dport = packets["dport"].to_numpy(dtype=np.int64, na_value=0).astype(np.uint64)
    proto = packets["proto"].to_numpy(dtype=np.int64, na_value=0).astype(np.uint64)
    no_ip = (s < 0) | (d < 0)
    es = (h[np.maximum(s, 0)] << np.uint64(16)) | sport
    ed = (h[np.maximum(d, 0)] << np.uint64(16)) | dport
    lo, hi = np.minimum(es, ed), np.maximum(es, ed)
    with np.errstate(over="ignore"):
        mix = lo * np.uint64(0x9E3779B97F4A7C15) ^ hi * np.uint64(0xC2B2AE3D27D4EB4F) ^ proto
        mix ^= mix >> np.uint64(29)
    out: np.ndarray = (mix % np.uint64(k)).astype(np.int64)
    out[no_ip] = 0
    return out


def _icmp_error_rows(packets: pd.DataFrame) -> np.ndarray:
    import numpy as np

    proto = packets["proto"].to_numpy(dtype=np.int64, na_value=0)
    itype = packets["icmp_type"].to_numpy(dtype=np.int64, na_value=-1)
    out: np.ndarray = ((proto == 1) & np.isin(itype, [3, 11, 12])) | (
        (proto == 58) & np.isin(itype, [1, 2, 3, 4])
    )
    return out

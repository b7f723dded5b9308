"""Parquet datasets of captures: what ``netdebug-nb pcap export`` writes and the notebook reads back.

Layout of an export directory (plain Parquet files, readable by DuckDB, Polars, pandas, Spark,
Trino):

    netdebug-export.json            what was exported: files, packets, tables, format version
    packets/file-NNNN.parquet       the packet table (PACKETS_SCHEMA), one file per capture file,
      or packets/hour=YYYY-MM-DDTHH/part-NNNN.parquet with ``--partition hour`` (Hive partitions)
    files.parquet                   the capture files: span, gap/overlap with the one before
    flows.parquet                   conversations (one row per flow; `flow` joins the others)
    tcp_health.parquet tcp_events.parquet tcp_rtt.parquet
    dns_messages.parquet dns_transactions.parquet
    overview.parquet protocols.parquet talkers.parquet icmp_errors.parquet iograph.parquet
    http.parquet http2_streams.parquet http2_events.parquet tls.parquet
                                    the application layer, made at export time from the captures'
                                    payloads (an export has none of its own; the captures may move)

Every column has the declared dtype of its schema (nullable integers stay nullable, addresses
are dictionary-encoded strings, timestamps are UTC nanoseconds), so a table read back equals
the table written.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb.errors import InputError
from netdebug_nb.pcap.parquet import (
    PACKETS_BY,
    arrow_schema,
    from_arrow,
    packet_files,
    read_packets,
    read_table,
    renumber_packets,
    shared_addresses,
    to_arrow,
    write_packets,
    write_packets_of_file,
    write_table,
)
from netdebug_nb.schema import Schema

__all__ = [
    "MARKER",
    "PACKETS_BY",
    "arrow_schema",
    "export",
    "from_arrow",
    "is_dataset",
    "packet_files",
    "read",
    "read_packets",
    "read_table",
    "read_tables",
    "renumber_packets",
    "shared_addresses",
    "to_arrow",
    "write_packets",
    "write_packets_of_file",
    "write_table",
    "write_tables",
]

if TYPE_CHECKING:
    import pandas as pd

    from netdebug_nb.pcap.results import Tables

MARKER = "netdebug-export.json"
VERSION = 1
# table name in Tables.frames() -> file name in the export (conversations are the flows)
TABLE_FILES = {"conversations": "flows"}
_WHOLE_DNS = ("dns_messages", "dns_transactions")  # written by partition.analyze, every row
# the DNS tables in memory, per query (transactions and messages: ~400 B on the bench capture),
# and the share of memory_mb they may take when read back whole
_DNS_BYTES_PER_QUERY = 400
_DNS_SHARE = 0.25
_L7 = ("http", "http2_streams", "http2_events", "tls")  # absent from exports made before they were


def is_dataset(path: Path) -> bool:
    """Whether ``path`` is a directory written by :func:`export`."""
    return path.is_dir() and (path / MARKER).is_file()


def export(
    spec: Any,
    out: Path,
    *,
    memory_mb: int = 2048,
    io_interval_s: float = 1.0,
    packets_by: str = "file",
    l7_ports: Sequence[int] = (),
    progress: Any = None,
) -> Tables:
    """Read the capture set ``spec`` once and write its packet table and every analysis table to ``out``.

    ``packets_by``: ``file`` or ``hour`` (see :func:`write_packets_of_file`). The L7 tables
    (HTTP, HTTP/2, TLS; ``l7_ports`` as the notebook's) are made now, from the captures' bytes.
    """
    from netdebug_nb.pcap import partition

    if packets_by not in PACKETS_BY:
        raise ValueError(f"packets_by {packets_by!r}: expected one of {PACKETS_BY}")
    out.mkdir(parents=True, exist_ok=True)
    tables = partition.analyze(
        spec,
        memory_mb=memory_mb,
        io_interval_s=io_interval_s,
        l7_ports=l7_ports,
        packets_out=out / "packets",
        packets_by=packets_by,
        dns_out=out,  # every DNS message and query (the tables returned hold only the problems)
        progress=progress,
    )
    write_tables(tables, out, packets_by=packets_by, l7_ports=l7_ports, written=_WHOLE_DNS)
    return tables


def write_tables(
    tables: Tables,
    out: Path,
    *,
    packets_by: str = "file",
    l7_ports: Sequence[int] = (),
    written: Collection[str] = (),
) -> None:
    """The analysis tables as Parquet next to ``packets/``, and the marker naming them.

    ``written``: tables already in ``out`` (the whole DNS tables, which the flow-bucket
    analysis writes from its spill and does not return).
    """
    schemas = _schemas()
    names = {}
    for name, df in tables.frames().items():
        file = TABLE_FILES.get(name, name)
        if name not in written:
            write_table(df, schemas[name], out / f"{file}.parquet")
        names[name] = f"{file}.parquet"
    files = tables.files
    marker = {
        "format": "netdebug pcap export",
        "version": VERSION,
        "packets": int(tables.overview["packets"].iloc[0]) if len(tables.overview) else 0,
        "captures": files["path"].astype(str).tolist(),
        "packets_by": packets_by,
        "packet_files": "packets/file-NNNN.parquet (NNNN = the `file` column)"
        if packets_by == "file"
        else "packets/hour=YYYY-MM-DDTHH/part-NNNN.parquet (Hive partitions by UTC hour; NNNN = `file`)",
        "tables": names,
        "l7": {
            "ports": sorted(int(p) for p in l7_ports),
            "flows_read": tables.application.flows_read,
            "gaps": tables.application.gaps,
        },
    }
    (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n")


def _schemas() -> dict[str, Schema]:
    from netdebug_nb.pcap import captureset, conversations, dns, http, http2, icmp, iograph, summary, tcp, tls

    return {
        "files": captureset.FILES_SCHEMA,
        "overview": summary.OVERVIEW_SCHEMA,
        "protocols": summary.PROTOCOLS_SCHEMA,
        "talkers": summary.TALKERS_SCHEMA,
        "conversations": conversations.CONVERSATIONS_SCHEMA,
        "tcp_health": tcp.HEALTH_SCHEMA,
        "tcp_events": tcp.EVENTS_SCHEMA,
        "tcp_rtt": tcp.RTT_SCHEMA,
        "dns_messages": dns.MESSAGES_SCHEMA,
        "dns_transactions": dns.TRANSACTIONS_SCHEMA,
        "icmp_errors": icmp.ERRORS_SCHEMA,
        "iograph": iograph.IOGRAPH_SCHEMA,
        "http": http.EXCHANGES_SCHEMA,
        "http2_streams": http2.STREAMS_SCHEMA,
        "http2_events": http2.EVENTS_SCHEMA,
        "tls": tls.HANDSHAKES_SCHEMA,
    }


def dns_queries(path: Path) -> int:
    """How many queries an export's DNS transactions table holds (its Parquet footer: no rows read)."""
    import pyarrow.parquet as pq

    file = path / "dns_transactions.parquet"
    try:
        return int(pq.ParquetFile(file).metadata.num_rows) if file.exists() else 0
    except (OSError, ValueError) as exc:
        raise InputError(file, f"unreadable Parquet file: {exc}") from exc


def read_tables(path: Path, *, l7_ports: Sequence[int] | None = None, memory_mb: int | None = None) -> Tables:
    """The analysis tables of an export (without reading its packets).

    The L7 tables are those made at export time; when ``l7_ports`` (the notebook's) names ports
    the export did not read, a note in ``application.notes`` says how to get them. An export
    written before the L7 tables were part of it has them empty, with a note. DNS tables that
    would take more than a quarter of ``memory_mb`` (None: no limit) are summarized a slice at a
    time (:func:`netdebug_nb.pcap.partition.summarize_dns`), and the tables keep the problems to
    show, as after an analysis by flow buckets.
    """
    from netdebug_nb.pcap import application
    from netdebug_nb.pcap.application import Application
    from netdebug_nb.pcap.results import Tables
    from netdebug_nb.pcap.tcp import Analysis
    from netdebug_nb.schema import empty

    if not is_dataset(path):
        raise InputError(path, f"not a netdebug pcap export (no {MARKER})")
    try:
        marker = json.loads((path / MARKER).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(path / MARKER, f"unreadable export marker: {exc}") from exc
    whole_dns = (
        memory_mb is None or dns_queries(path) * _DNS_BYTES_PER_QUERY <= memory_mb * (1 << 20) * _DNS_SHARE
    )
    schemas = _schemas()
    got = {}
    for name, schema in schemas.items():
        file = path / f"{TABLE_FILES.get(name, name)}.parquet"
        skip = (not file.exists() and name in _L7) or (not whole_dns and name in _WHOLE_DNS)
        got[name] = empty(schema) if skip else read_table(file, schema)
    dns_summary = None
    if not whole_dns:
        from netdebug_nb.pcap import partition

        dns_summary = partition.summarize_dns(
            path / "dns_transactions.parquet", path / "dns_messages.parquet"
        )
        got["dns_messages"], got["dns_transactions"] = dns_summary.malformed, dns_summary.shown
    l7 = marker.get("l7")
    app = Application(
        http=got["http"],
        h2=got["http2_streams"],
        h2_events=got["http2_events"],
        tls=got["tls"],
        flows_read=int(l7["flows_read"]) if l7 else 0,
        gaps=int(l7["gaps"]) if l7 else 0,
    )
    app.notes.extend(application.gap_notes(app))
    if l7 is None:
        app.notes.append(f"{path}: exported without HTTP/TLS tables; export it again to have them")
    elif l7_ports is not None and not set(l7_ports) <= set(l7["ports"]):
        app.notes.append(
            f"{path}: L7 tables exported with ports {l7['ports'] or 'none'} besides sniffing; for "
            f"{sorted(set(l7_ports))} export again with --l7-port"
        )
    return Tables(
        files=got["files"],
        overview=got["overview"],
        protocols=got["protocols"],
        talkers=got["talkers"],
        conversations=got["conversations"],
        tcp=Analysis(health=got["tcp_health"], events=got["tcp_events"], rtt=got["tcp_rtt"]),
        dns_messages=got["dns_messages"],
        dns_transactions=got["dns_transactions"],
        icmp_errors=got["icmp_errors"],
        iograph=got["iograph"],
        application=app,
        dns_summary=dns_summary,
    )


def read(path: Path) -> pd.DataFrame:
    """The packet table of an export (it must fit in memory; else query the Parquet files)."""
    if not is_dataset(path):
        raise InputError(path, f"not a netdebug pcap export (no {MARKER})")
    df = read_packets(packet_files(path / "packets"))
    if len(df) > 1 and (df["frame"].diff().fillna(1) < 0).any():  # by hour, or overlapping files
        df = df.sort_values("frame", kind="stable", ignore_index=True)
    marker = json.loads((path / MARKER).read_text())
    df.attrs["files"] = list(marker.get("captures", []))
    df.attrs["path"] = str(path)
    df.attrs["warnings"] = []
    return df

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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb.errors import InputError
from netdebug_nb.schema import Schema

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from netdebug_nb.pcap.tables import Tables

MARKER = "netdebug-export.json"
VERSION = 1
# table name in Tables.frames() -> file name in the export (conversations are the flows)
TABLE_FILES = {"conversations": "flows"}
_L7 = ("http", "http2_streams", "http2_events", "tls")  # absent from exports made before they were


def is_dataset(path: Path) -> bool:
    """Whether ``path`` is a directory written by :func:`export`."""
    return path.is_dir() and (path / MARKER).is_file()


def _arrow_type(dtype: str) -> pa.DataType:
    import pyarrow as pa

    simple = {
        "int64": pa.int64(), "Int64": pa.int64(), "uint32": pa.uint32(), "UInt32": pa.uint32(),
        "uint16": pa.uint16(), "UInt16": pa.uint16(), "UInt8": pa.uint8(), "uint8": pa.uint8(),
        "float64": pa.float64(), "Float64": pa.float64(), "bool": pa.bool_(), "boolean": pa.bool_(),
        "string": pa.string(), "category": pa.dictionary(pa.int32(), pa.string()),
        "datetime64[ns, UTC]": pa.timestamp("ns", tz="UTC"),
    }  # fmt: skip
    return simple[dtype]


def arrow_schema(schema: Schema) -> pa.Schema:
    """The Arrow schema of one of our declared DataFrame schemas."""
    import pyarrow as pa

    return pa.schema([pa.field(c, _arrow_type(t), nullable=True) for c, t in schema.items()])


def to_arrow(df: pd.DataFrame, schema: Schema) -> pa.Table:
    """``df`` (conforming to ``schema``) as an Arrow table with the declared types."""
    import pyarrow as pa

    return pa.Table.from_pandas(df, schema=arrow_schema(schema), preserve_index=False)


def from_arrow(table: pa.Table, schema: Schema) -> pd.DataFrame:
    """An Arrow table written by :func:`to_arrow` as a frame with ``schema``'s dtypes."""
    import pandas as pd
    import pyarrow as pa

    from netdebug_nb.schema import conform

    nullable = {
        pa.int64(): pd.Int64Dtype(), pa.uint32(): pd.UInt32Dtype(), pa.uint16(): pd.UInt16Dtype(),
        pa.uint8(): pd.UInt8Dtype(), pa.bool_(): pd.BooleanDtype(), pa.float64(): pd.Float64Dtype(),
        pa.string(): pd.StringDtype(),
    }  # fmt: skip
    df = table.to_pandas(types_mapper=nullable.get, ignore_metadata=True)
    for col, dtype in schema.items():
        if dtype == "category" and isinstance(df[col].dtype, pd.CategoricalDtype):
            df[col] = df[col].cat.set_categories(df[col].cat.categories.astype(object))
    return conform(df, schema)


def write_table(df: pd.DataFrame, schema: Schema, path: Path) -> None:
    """Write ``df`` (conforming to ``schema``) as one Parquet file with the declared types."""
    import pyarrow.parquet as pq

    from netdebug_nb.schema import conform

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(to_arrow(conform(df, schema), schema), path, compression="zstd")


def read_table(paths: Path | Sequence[Path], schema: Schema) -> pd.DataFrame:
    """Parquet file(s) written by :func:`write_table` back as a frame with ``schema``'s dtypes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from netdebug_nb.schema import empty

    files = [paths] if isinstance(paths, Path) else list(paths)
    if not files:
        return empty(schema)
    try:
        tables = [pq.read_table(p, schema=arrow_schema(schema)) for p in files]
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(str(files[0]), f"not a Parquet table of this kit: {exc}") from exc
    table = pa.concat_tables(tables).unify_dictionaries() if len(tables) > 1 else tables[0]
    return from_arrow(table, schema)


def write_packets(packets: pd.DataFrame, path: Path) -> None:
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA

    write_table(packets, PACKETS_SCHEMA, path)


PACKETS_BY = ("file", "hour")


def write_packets_of_file(packets: pd.DataFrame, out: Path, file: int, *, by: str = "file") -> None:
    """The packets of capture file number ``file`` into the export's ``packets/`` directory ``out``.

    ``by="file"``: ``file-NNNN.parquet``. ``by="hour"``: Hive partitions by the UTC hour of the
    packets, ``hour=YYYY-MM-DDTHH/part-NNNN.parquet`` (DuckDB ``hive_partitioning``, Spark and
    Trino read the ``hour`` column from the directory names and skip the hours not asked for).
    """
    import datetime as dt

    import numpy as np

    if by == "file":
        write_packets(packets, out / f"file-{file:04d}.parquet")
        return
    if by != "hour":
        raise ValueError(f"packets by {by!r}: expected one of {PACKETS_BY}")
    hours = np.asarray(packets["ts"].array.asi8, dtype=np.int64) // (3600 * 10**9)
    for h in np.unique(hours).tolist():
        name = dt.datetime.fromtimestamp(h * 3600, dt.UTC).strftime("%Y-%m-%dT%H")
        part = packets[hours == h] if len(np.unique(hours)) > 1 else packets
        write_packets(part, out / f"hour={name}" / f"part-{file:04d}.parquet")


def packet_files(out: Path) -> list[Path]:
    """The Parquet files of an export's ``packets/`` directory ``out``, whichever the layout."""
    return sorted(out.rglob("*.parquet"))


def renumber_packets(out: Path, apply: Any, position: Any) -> None:
    """Rewrite the packet files of ``out`` with the final ``file`` and ``frame`` of each packet.

    ``apply(file, frame, ts) -> (file, frame)`` and ``position[file]`` (where a file's number,
    in the names, goes) are :mod:`.partition`'s numbering, known only once every file was read.
    """
    import re

    import numpy as np

    from netdebug_nb.pcap.schema import PACKETS_SCHEMA

    moves = []
    for path in packet_files(out):
        df = read_table(path, PACKETS_SCHEMA)
        file, frame = apply(
            df["file"].to_numpy(dtype=np.int64),
            df["frame"].to_numpy(dtype=np.int64),
            np.asarray(df["ts"].array.asi8, dtype=np.int64),
        )
        df["file"] = file.astype(np.uint16)
        df["frame"] = frame
        tmp = path.with_name(path.name + ".renumbered")
        write_packets(df, tmp)
        path.unlink()
        m = re.fullmatch(r"(file|part)-(\d+)\.parquet", path.name)
        name = f"{m.group(1)}-{int(position[int(m.group(2))]):04d}.parquet" if m else path.name
        moves.append((tmp, path.with_name(name)))
    for tmp, final in moves:
        tmp.rename(final)


def read_packets(paths: Sequence[Path]) -> pd.DataFrame:
    """Packet tables written by :func:`write_packets`, as one table with shared address categories."""
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA

    return shared_addresses(read_table(paths, PACKETS_SCHEMA))


def shared_addresses(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with src and dst on one category list (as the reader makes them)."""
    import pandas as pd

    cats = df["src"].cat.categories.union(df["dst"].cat.categories)
    for col in ("src", "dst"):
        df[col] = pd.Categorical(df[col], categories=cats)
    return df


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
        progress=progress,
    )
    write_tables(tables, out, packets_by=packets_by, l7_ports=l7_ports)
    return tables


def write_tables(
    tables: Tables, out: Path, *, packets_by: str = "file", l7_ports: Sequence[int] = ()
) -> None:
    """The analysis tables as Parquet next to ``packets/``, and the marker naming them."""
    schemas = _schemas()
    names = {}
    for name, df in tables.frames().items():
        file = TABLE_FILES.get(name, name)
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


def read_tables(path: Path, *, l7_ports: Sequence[int] | None = None) -> Tables:
    """The analysis tables of an export (without reading its packets).

    The L7 tables are those made at export time; when ``l7_ports`` (the notebook's) names ports
    the export did not read, a note in ``application.notes`` says how to get them. An export
    written before the L7 tables were part of it has them empty, with a note.
    """
    from netdebug_nb.pcap import application
    from netdebug_nb.pcap.application import Application
    from netdebug_nb.pcap.tables import Tables, no_packets
    from netdebug_nb.pcap.tcp import Analysis
    from netdebug_nb.schema import empty

    if not is_dataset(path):
        raise InputError(path, f"not a netdebug pcap export (no {MARKER})")
    try:
        marker = json.loads((path / MARKER).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(path / MARKER, f"unreadable export marker: {exc}") from exc
    schemas = _schemas()
    got = {}
    for name, schema in schemas.items():
        file = path / f"{TABLE_FILES.get(name, name)}.parquet"
        got[name] = read_table(file, schema) if file.exists() or name not in _L7 else empty(schema)
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
        packets=no_packets()[0],
        labels=no_packets()[1],
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

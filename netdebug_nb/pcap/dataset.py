"""Parquet datasets of captures: what ``netdebug-nb pcap export`` writes and the notebook reads back.

Layout of an export directory (plain Parquet files, readable by DuckDB, Polars, pandas, Spark,
Trino):

    netdebug-export.json            what was exported: files, packets, tables, format version
    packets/file-NNNN.parquet       the packet table (PACKETS_SCHEMA), one file per capture file
    files.parquet                   the capture files: span, gap/overlap with the one before
    flows.parquet                   conversations (one row per flow; `flow` joins the others)
    tcp_health.parquet tcp_events.parquet tcp_rtt.parquet
    dns_messages.parquet dns_transactions.parquet
    overview.parquet protocols.parquet talkers.parquet icmp_errors.parquet iograph.parquet

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
    progress: Any = None,
) -> Tables:
    """Read the capture set ``spec`` once and write its packet table and every analysis table to ``out``."""
    from netdebug_nb.pcap import partition

    out.mkdir(parents=True, exist_ok=True)
    tables = partition.analyze(
        spec, memory_mb=memory_mb, io_interval_s=io_interval_s, packets_out=out / "packets", progress=progress
    )
    write_tables(tables, out)
    return tables


def write_tables(tables: Tables, out: Path) -> None:
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
        "packet_files": "packets/file-NNNN.parquet (NNNN = the `file` column)",
        "tables": names,
    }
    (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n")


def _schemas() -> dict[str, Schema]:
    from netdebug_nb.pcap import captureset, conversations, dns, icmp, iograph, summary, tcp

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
    }


def read_tables(path: Path) -> Tables:
    """The analysis tables of an export (without reading its packets)."""
    from netdebug_nb.pcap.tables import Tables, no_packets
    from netdebug_nb.pcap.tcp import Analysis

    if not is_dataset(path):
        raise InputError(path, f"not a netdebug pcap export (no {MARKER})")
    schemas = _schemas()
    got = {
        name: read_table(path / f"{TABLE_FILES.get(name, name)}.parquet", schema)
        for name, schema in schemas.items()
    }
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
        packets=no_packets()[0],
        labels=no_packets()[1],
    )


def read(path: Path) -> pd.DataFrame:
    """The packet table of an export (it must fit in memory; else query the Parquet files)."""
    if not is_dataset(path):
        raise InputError(path, f"not a netdebug pcap export (no {MARKER})")
    parts = sorted((path / "packets").glob("file-*.parquet"))
    df = read_packets(parts)
    marker = json.loads((path / MARKER).read_text())
    df.attrs["files"] = list(marker.get("captures", []))
    df.attrs["path"] = str(path)
    df.attrs["warnings"] = []
    return df

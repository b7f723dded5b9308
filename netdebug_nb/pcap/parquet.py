"""The Parquet form of the kit's tables: declared dtypes to Arrow types and back, packet files.

Every column has the declared dtype of its schema (nullable integers stay nullable, addresses
are dictionary-encoded strings, timestamps are UTC nanoseconds), so a table read back equals
the table written. :mod:`netdebug_nb.pcap.dataset` lays these files out as an export;
:mod:`netdebug_nb.pcap.partition` spills and writes packets with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb.errors import InputError
from netdebug_nb.schema import Schema

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


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


def write_merged(parts: Sequence[Path], schema: Schema, by: str, path: Path, *, rows: int = 1 << 18) -> None:
    """Arrow IPC files (:func:`to_arrow` of ``schema``, each sorted by ``by``) as one Parquet file
    sorted by ``by``, as :func:`write_table` writes a table: a merge, ``rows`` rows at a time.

    Only the ``by`` column of every file is held; the rows are taken from the memory-mapped
    files slice by slice. Equal keys keep the order of ``parts``, then of the rows in each.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    target = arrow_schema(schema)
    tables = [feather.read_table(p, memory_map=True) for p in parts]
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, target, compression="zstd") as writer:
        if not tables:
            writer.write_table(target.empty_table())
            return
        keys = np.concatenate([t.column(by).to_numpy() for t in tables])
        which = np.repeat(np.arange(len(tables)), [t.num_rows for t in tables])
        row = np.concatenate([np.arange(t.num_rows) for t in tables])
        order = np.argsort(keys, kind="stable")
        del keys
        for start in range(0, len(order), rows):
            at = order[start : start + rows]
            pieces, placed = [], []
            for k in np.unique(which[at]).tolist():
                sel = np.flatnonzero(which[at] == k)
                pieces.append(tables[k].take(pa.array(row[at[sel]])))
                placed.append(sel)
            chunk = pa.concat_tables(pieces).take(pa.array(np.argsort(np.concatenate(placed))))
            writer.write_table(chunk.cast(target))


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
    every = np.unique(hours).tolist()
    for h in every:
        name = dt.datetime.fromtimestamp(h * 3600, dt.UTC).strftime("%Y-%m-%dT%H")
        part = packets[hours == h] if len(every) > 1 else packets
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

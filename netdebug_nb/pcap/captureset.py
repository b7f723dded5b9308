"""Capture sets: a file, a directory, a glob or a list of captures, read as one packet table.

Real captures from a busy node come as ring buffers (``tcpdump -C 100 -W 50``, ``-G 60``),
often gzip-compressed, sometimes from several interfaces with different link types. A set is
read file by file with :func:`netdebug_nb.pcap.reader.read` and merged in time order: files
that follow each other are concatenated; when files overlap in time, packets are interleaved
by timestamp (stable, so a file's own order is kept). ``frame`` numbers the merged table from
1; ``file`` says which file a packet came from and ``offset`` where its bytes are in that file,
so the bytes of any packet can be fetched later without reading the set again
(:func:`packet_bytes`).
"""

from __future__ import annotations

import glob
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb.errors import InputError
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

FILES_SCHEMA: Schema = {
    "file": "uint16",  # the packet table's `file` value
    "path": "string",
    "format": "string",  # pcap | pcapng | empty
    "compressed": "bool",  # gzip
    "size_bytes": "int64",  # size on disk
    "packets": "int64",
    "first": "datetime64[ns, UTC]",  # NaT for a file without packets
    "last": "datetime64[ns, UTC]",
    "duration_s": "float64",
    "gap_s": "Float64",  # first packet minus the previous file's last packet; negative: overlap
    "relation": "string",  # first | follows | gap | overlap | empty, against the previous file
    "warnings": "int64",  # problems reading the file (details in the packet table's attrs)
}

Spec = str | Path | Sequence[str | Path]
Progress = Callable[[int, int, Path, int, float], None]  # (done, files, path, packets so far, seconds)

# time between two files that still counts as one following the other (a rotation, not a gap)
FOLLOW_S = 1.0
_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
           b"\x34\xcd\xb2\xa1", b"\xa1\xb2\xcd\x34", b"\x0a\x0d\x0d\x0a")  # fmt: skip


def resolve(spec: Spec) -> list[Path]:
    """The capture files ``spec`` names, in the order given (directories and globs sorted).

    ``spec`` is a path, a directory (every capture file in it, found by its first bytes, so
    rotated names like ``trace.pcap12`` count), a glob (``/data/node-a-*.pcap.gz``), a list of
    any of these, or such a list as one comma-separated string. A name matching nothing is an
    :class:`InputError` naming it.
    """
    items: list[str | Path] = [spec] if isinstance(spec, str | Path) else list(spec)
    out: list[Path] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if isinstance(item, str) and "," in text and not Path(text).expanduser().exists():
            out.extend(resolve([part for part in text.split(",") if part.strip()]))
            continue
        path = Path(text).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and looks_like_capture(p))
            if not found:
                raise InputError(path, "directory holds no pcap, pcapng or gzip file")
            out.extend(found)
        elif glob.has_magic(text) and not path.exists():
            pattern = Path(text).expanduser()
            anchor = Path(pattern.anchor) if pattern.is_absolute() else Path()
            rel = str(pattern.relative_to(anchor)) if pattern.is_absolute() else str(pattern)
            matches = sorted(m for m in anchor.glob(rel) if m.is_file())
            if not matches:
                raise InputError(text, "no capture file matches this pattern")
            out.extend(matches)
        elif not path.exists():
            raise InputError(path, "no such capture file")
        elif not path.is_file():
            raise InputError(path, "not a regular file")
        else:
            out.append(path)
    seen: set[Path] = set()
    unique = [p for p in out if not (p.resolve() in seen or seen.add(p.resolve()))]  # type: ignore[func-returns-value]
    if not unique:
        raise InputError(str(spec), "no capture file given")
    return unique


def resolve_quietly(spec: Spec) -> list[Path]:
    """:func:`resolve`, or an empty list where it would raise (for probing where a name points)."""
    try:
        return resolve(spec)
    except InputError:
        return []


def looks_like_capture(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head in _MAGICS or head[:2] == b"\x1f\x8b"


def read(spec: Spec, *, progress: Progress | None = None, **read_args: Any) -> pd.DataFrame:
    """One packet table for every file of ``spec``, in time order (see the module doc).

    ``read_args`` go to :func:`netdebug_nb.pcap.reader.read` for each file. ``progress`` is
    called after each file. ``attrs``: ``files`` (paths, indexed by the ``file`` column),
    ``formats``, ``warnings`` of every file, and ``path`` (the one file, or the first).
    """
    import numpy as np

    from netdebug_nb.pcap import reader
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA

    paths = resolve(spec)
    parts: list[pd.DataFrame] = []
    started = time.perf_counter()
    total = 0
    for i, path in enumerate(paths):
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always", reader.CaptureWarning)
            df = reader.read(path, **read_args)
        parts.append(df)
        total += len(df)
        if progress is not None:
            progress(i + 1, len(paths), path, total, time.perf_counter() - started)
    firsts = [int(p["ts"].array.asi8.min()) if len(p) else np.iinfo(np.int64).max for p in parts]
    order = sorted(range(len(parts)), key=lambda k: (firsts[k], k))
    parts = [parts[k] for k in order]
    paths = [paths[k] for k in order]
    out = parts[0] if len(parts) == 1 else _merge(parts)
    out.attrs["path"] = str(paths[0])
    out.attrs["files"] = [str(p) for p in paths]
    out.attrs["formats"] = [p.attrs.get("format", "") for p in parts]
    out.attrs["file_warnings"] = [len(p.attrs.get("warnings", [])) for p in parts]
    out.attrs["warnings"] = [w for p in parts for w in p.attrs.get("warnings", [])]
    for msg in out.attrs["warnings"]:
        warnings.warn(msg, reader.CaptureWarning, stacklevel=2)
    assert list(out.columns) == list(PACKETS_SCHEMA)
    return out


def _merge(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-file tables (already in order of first packet); interleave where they overlap."""
    import numpy as np
    import pandas as pd

    names = dict.fromkeys(str(v) for p in parts for c in ("src", "dst") for v in p[c].cat.categories.tolist())
    cats = pd.Index(list(names), dtype=object)
    dtype = pd.CategoricalDtype(cats)
    cols: dict[str, Any] = {}
    for col in parts[0].columns:
        if col in ("src", "dst"):
            codes = []
            for p in parts:
                c = np.asarray(p[col].cat.codes, dtype=np.int64)
                to = np.append(cats.get_indexer(p[col].cat.categories), -1)  # code -1 stays -1
                codes.append(to[c].astype(np.int32))
            cols[col] = pd.Categorical.from_codes(np.concatenate(codes), dtype=dtype, validate=False)
        elif col == "file":
            cols[col] = np.concatenate([np.full(len(p), i, dtype=np.uint16) for i, p in enumerate(parts)])
        else:
            cols[col] = pd.concat([p[col] for p in parts], ignore_index=True).array
    out = pd.DataFrame(cols, copy=False)
    ts = np.asarray(out["ts"].array.asi8)
    if len(ts) > 1 and (np.diff(ts) < 0).any() and _overlapping(parts):
        out = out.take(np.argsort(ts, kind="stable")).reset_index(drop=True)
    out["frame"] = np.arange(1, len(out) + 1, dtype=np.int64)
    return out


def _overlapping(parts: list[pd.DataFrame]) -> bool:
    """Whether a file starts before an earlier one ended (only then are packets interleaved)."""
    last = None
    for p in parts:
        if not len(p):
            continue
        ts = p["ts"].array.asi8
        if last is not None and int(ts.min()) < last:
            return True
        last = max(int(ts.max()), last) if last is not None else int(ts.max())
    return False


def files(packets: pd.DataFrame) -> pd.DataFrame:
    """One row per file of the set ``packets`` was read from: span, and gap or overlap with the one before."""
    import numpy as np
    import pandas as pd

    paths: list[str] = list(
        packets.attrs.get("files") or ([packets.attrs["path"]] if "path" in packets.attrs else [])
    )
    if not paths:
        return empty(FILES_SCHEMA)
    k = len(paths)
    fidx = packets["file"].to_numpy(dtype=np.int64)
    ts = np.asarray(packets["ts"].array.asi8, dtype=np.int64)
    count = np.bincount(fidx, minlength=k)[:k]
    first = np.full(k, np.iinfo(np.int64).max)
    last = np.full(k, np.iinfo(np.int64).min)
    np.minimum.at(first, fidx, ts)
    np.maximum.at(last, fidx, ts)
    has = count > 0
    first_s = pd.Series(np.where(has, first, 0)).astype("datetime64[ns]").dt.tz_localize("UTC").where(has)
    last_s = pd.Series(np.where(has, last, 0)).astype("datetime64[ns]").dt.tz_localize("UTC").where(has)
    gap: list[float | None] = []
    relation: list[str] = []
    prev_last: int | None = None
    for i in range(k):
        if not has[i]:
            gap.append(None)
            relation.append("empty")
            continue
        if prev_last is None:
            gap.append(None)
            relation.append("first")
        else:
            g = (int(first[i]) - prev_last) / 1e9
            gap.append(g)
            relation.append("overlap" if g < 0 else "gap" if g > FOLLOW_S else "follows")
        prev_last = int(last[i]) if prev_last is None else max(prev_last, int(last[i]))
    formats = packets.attrs.get("formats") or [packets.attrs.get("format", "")] * k
    nwarn = packets.attrs.get("file_warnings") or [len(packets.attrs.get("warnings", []))] * k
    return frame(
        {
            "file": np.arange(k),
            "path": paths,
            "format": formats,
            "compressed": [is_gzip(Path(p)) for p in paths],
            "size_bytes": [Path(p).stat().st_size if Path(p).exists() else 0 for p in paths],
            "packets": count,
            "first": first_s,
            "last": last_s,
            "duration_s": np.where(has, (last - first) / 1e9, 0.0),
            "gap_s": pd.array(gap, dtype="Float64"),
            "relation": relation,
            "warnings": nwarn,
        },
        FILES_SCHEMA,
    )


def is_gzip(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def packet_bytes(
    packets: pd.DataFrame,
    rows: pd.DataFrame | None = None,
    *,
    paths: Sequence[str | Path] = (),
    within: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[bytes]:
    """Captured bytes of ``rows`` (packet-table rows of ``packets``; all when None), in row order.

    Read at each packet's ``offset`` in its file (``paths``, by default the table's
    ``attrs["files"]`` or ``attrs["path"]``): a mapped file costs one slice per packet, a gzip
    file one decompression up to the last packet asked for; nothing else is read.
    ``within``: (start, length) per row, to read only ``bytes[start : start + length]`` of each
    packet (its payload, say), as slicing the captured bytes would give them.
    """
    import numpy as np

    rows = packets if rows is None else rows
    if not paths:
        paths = list(packets.attrs.get("files") or [packets.attrs.get("path", "")])
    fidx = rows["file"].to_numpy(dtype=np.int64)
    offs = rows["offset"].to_numpy(dtype=np.int64)
    lens = rows["caplen"].to_numpy(dtype=np.int64)
    if within is not None:
        start = np.minimum(np.maximum(within[0], 0), lens)
        lens = np.maximum(np.minimum(start + np.maximum(within[1], 0), lens) - start, 0)
        offs = offs + start
    out: list[bytes] = [b""] * len(rows)
    for k in np.unique(fidx).tolist():
        if k >= len(paths) or not paths[k]:
            raise InputError(str(k), "packet table does not say which file this packet came from")
        path = Path(str(paths[k]))
        sel = np.flatnonzero(fidx == k)
        try:
            if is_gzip(path):
                _from_gzip(path, sel, offs, lens, out)
                continue
            with path.open("rb") as f:
                _from_map(f.fileno(), sel, offs, lens, out)
        except OSError as exc:
            raise InputError(path, f"cannot read packet bytes: {exc.strerror or exc}") from exc
    return out


# bytes of a file mapped at a time: pages of a mapping count in the process' resident memory
# until it is unmapped, so a big capture is mapped a window at a time
_WINDOW = 64 << 20


def _from_map(fd: int, sel: Any, offs: Any, lens: Any, out: list[bytes]) -> None:
    import mmap
    import os

    import numpy as np

    size = os.fstat(fd).st_size
    if not (np.diff(offs[sel]) >= 0).all():
        sel = sel[np.argsort(offs[sel], kind="stable")]
    window = offs[sel] // _WINDOW
    cuts = np.flatnonzero(np.diff(window)) + 1
    for part in np.split(sel, cuts):
        start = int(offs[part[0]]) // _WINDOW * _WINDOW  # a multiple of the mapping granularity
        stop = min(size, int((offs[part] + lens[part]).max()))
        if stop <= start:  # only packets past the end of the file: nothing to read
            continue
        with mmap.mmap(fd, stop - start, offset=start, access=mmap.ACCESS_READ) as mm:
            for i, o, n in zip(
                part.tolist(), (offs[part] - start).tolist(), lens[part].tolist(), strict=True
            ):
                out[i] = mm[o : o + n]


def _from_gzip(path: Path, sel: Any, offs: Any, lens: Any, out: list[bytes]) -> None:
    import gzip

    import numpy as np

    order = sel[np.argsort(offs[sel], kind="stable")]
    with gzip.open(path, "rb") as f:  # records do not overlap: forward seeks only
        for i in order.tolist():
            f.seek(int(offs[i]))
            out[i] = f.read(int(lens[i]))

"""A run directory as one payload (tar.gz) and back, for :mod:`.framing`.

Both ends stream through temporary files, so neither the pod nor the controller holds a
result in memory; unpacking refuses anything but plain files and directories below the
destination (a result comes from a pod, which is not trusted to write outside ``DIR/<node>/``).
"""

from __future__ import annotations

import hashlib
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, TextIO

from netdebug_nb.errors import InputError
from netdebug_nb.fleet import framing

DEFAULT_LIMIT = 4 * 1024 * 1024
"""Compressed bytes: base64 makes it ~5.4 MiB of log, inside kubelet's default 10 MiB rotation."""

_CHUNK = 64 * 1024


def emit(
    run_dir: Path, out: TextIO, *, limit: int = DEFAULT_LIMIT, name: str | None = None
) -> framing.Record:
    """Write ``run_dir`` (``.../NOTEBOOK/``) to ``out`` as a frame, or an error record when too big."""
    name = name or run_dir.name
    if not run_dir.is_dir():
        out.write(framing.error_line(name, "missing") + "\n")
        out.flush()
        return framing.Record(name=name, ok=False, error="missing")
    with tempfile.TemporaryFile() as tmp:
        with tarfile.open(fileobj=tmp, mode="w:gz") as tar:
            tar.add(run_dir, arcname=name)
        size = tmp.tell()
        if size > limit:
            out.write(framing.error_line(name, "oversize", size=size, limit=limit) + "\n")
            out.flush()
            return framing.Record(name=name, ok=False, size=size, error="oversize")
        tmp.seek(0)
        digest = hashlib.sha256()
        for chunk in _chunks(tmp):
            digest.update(chunk)
        tmp.seek(0)
        for line in framing.frame_chunks(name, size, digest.hexdigest(), _chunks(tmp)):
            out.write(line + "\n")
        out.flush()
        return framing.Record(name=name, ok=True, size=size, sha256=digest.hexdigest())


def unpack(archive: IO[bytes], dest: Path, *, source: str = "result") -> list[Path]:
    """Extract a result archive below ``dest``; returns the top-level run directories."""
    dest.mkdir(parents=True, exist_ok=True)
    tops: set[Path] = set()
    try:
        with tarfile.open(fileobj=archive, mode="r:gz") as tar:
            for member in tar:
                rel = PurePosixPath(member.name)
                if rel.is_absolute() or ".." in rel.parts or not (member.isfile() or member.isdir()):
                    raise InputError(source, f"result archive member {member.name!r} is not allowed")
                tops.add(dest / rel.parts[0])
                tar.extract(member, dest, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(source, f"result archive unreadable: {exc}") from exc
    return sorted(tops)


def _chunks(fh: IO[bytes]) -> Iterator[bytes]:
    while chunk := fh.read(_CHUNK):
        yield chunk

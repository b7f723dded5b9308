"""Framing a run's result into a pod log, and finding it again: sans-I/O, line by line.

Why the pod log (and not ``kubectl cp``): the log endpoint is plain HTTP on the API server, needs
only ``pods/log`` *get* (a read-only ServiceAccount or user has it; ``kubectl cp`` needs
``pods/exec`` *create*, i.e. a shell in every node's pod), works after the container has exited
(exec needs it running, so the Job would have to sleep and wait to be emptied), and streams, so
the controller can decode to disk with bounded memory. The price: the log is text and kubelet
rotates container logs (``containerLogMaxSize``, 10 MiB by default), so the payload is base64 in
short lines, and a size limit (default 4 MiB compressed, ~5.4 MiB of log) keeps it inside one log
file. A result over the limit is replaced by an error record that says so: never cut silently.

A frame::

    ==== NETDEBUG-RESULT BEGIN v1 name=latency size=1234 sha256=<hex> ====
    <base64, 76 characters a line>
    ==== NETDEBUG-RESULT END v1 ====

An error record (one line)::

    ==== NETDEBUG-RESULT ERROR v1 name=latency reason=oversize size=9000000 limit=4194304 ====

Other log lines before or after a frame (the notebook's own stderr) are ignored. The payload is
opaque here (:mod:`.result` makes it a tar.gz of the run directory).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from netdebug_nb.errors import InputError

VERSION = "v1"
LINE_CHARS = 76
_PREFIX = "==== NETDEBUG-RESULT "
_SUFFIX = " ===="
_HEADER = re.compile(r"^==== NETDEBUG-RESULT (BEGIN|END|ERROR) (v\d+)((?: [a-z0-9_]+=\S*)*) ====$")


class FramingError(InputError):
    """A result frame in a pod log is broken (truncated, corrupted, wrong checksum)."""


def begin_line(name: str, size: int, sha256: str) -> str:
    return _line("BEGIN", name=name, size=str(size), sha256=sha256)


def end_line() -> str:
    return _line("END")


def error_line(name: str, reason: str, **fields: int | str) -> str:
    """An error record: the pod had a result but could not send it (``reason=oversize`` ...)."""
    return _line("ERROR", name=name, reason=reason, **{k: str(v) for k, v in fields.items()})


def frame(name: str, payload: bytes) -> Iterator[str]:
    """The lines (without newlines) that carry ``payload``."""
    yield begin_line(name, len(payload), hashlib.sha256(payload).hexdigest())
    encoded = base64.b64encode(payload).decode("ascii")
    for i in range(0, len(encoded), LINE_CHARS):
        yield encoded[i : i + LINE_CHARS]
    yield end_line()


def frame_chunks(name: str, size: int, sha256: str, chunks: Iterable[bytes]) -> Iterator[str]:
    """Like :func:`frame` for a payload read in chunks (size and digest known beforehand)."""
    yield begin_line(name, size, sha256)
    rest = b""
    step = LINE_CHARS // 4 * 3  # bytes per full base64 line
    for chunk in chunks:
        rest += chunk
        cut = len(rest) - len(rest) % step
        for i in range(0, cut, step):
            yield base64.b64encode(rest[i : i + step]).decode("ascii")
        rest = rest[cut:]
    if rest:
        yield base64.b64encode(rest).decode("ascii")
    yield end_line()


@dataclass
class Record:
    """What one frame in a log turned out to be."""

    name: str
    ok: bool  # a complete payload with the right size and sha256 was written to the sink
    size: int = 0
    sha256: str = ""
    error: str = ""  # "oversize", ... from an error record
    fields: dict[str, str] = field(default_factory=dict)


class Unframer:
    """Feed log lines; payload bytes go to ``sink`` as they are decoded (bounded memory).

    ``records`` lists every frame or error record seen; :meth:`close` raises on a frame that
    began but never ended (a truncated log).
    """

    def __init__(self, sink: Callable[[bytes], object], *, source: str = "pod log") -> None:
        self._sink = sink
        self._source = source
        self._lineno = 0
        self._open: dict[str, str] | None = None
        self._hash = hashlib.sha256()
        self._written = 0
        self.records: list[Record] = []

    @property
    def in_frame(self) -> bool:
        return self._open is not None

    def feed(self, line: str | bytes) -> None:
        self._lineno += 1
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        line = line.rstrip("\r\n")
        if line.startswith(_PREFIX):
            self._header(line)
        elif self._open is not None:
            self._payload(line)

    def feed_all(self, lines: Iterable[str | bytes]) -> list[Record]:
        for line in lines:
            self.feed(line)
        self.close()
        return self.records

    def close(self) -> None:
        if self._open is not None:
            name = self._open.get("name", "?")
            raise FramingError(
                self._source,
                f"result {name!r} truncated: {self._written} of {self._open.get('size')} bytes, no END line",
            )

    def _header(self, line: str) -> None:
        m = _HEADER.match(line)
        if not m:
            raise FramingError(self._source, "malformed result header", line=self._lineno)
        kind, version, raw = m.group(1), m.group(2), m.group(3)
        if version != VERSION:
            raise FramingError(self._source, f"result frame version {version}, expected {VERSION}")
        fields = dict(item.split("=", 1) for item in raw.split())
        if kind == "BEGIN":
            if self._open is not None:
                raise FramingError(self._source, "result BEGIN inside another frame", line=self._lineno)
            if not fields.get("size", "").isdigit() or len(fields.get("sha256", "")) != 64:
                raise FramingError(self._source, "result BEGIN without size/sha256", line=self._lineno)
            self._open, self._hash, self._written = fields, hashlib.sha256(), 0
        elif kind == "END":
            if self._open is None:
                raise FramingError(self._source, "result END without BEGIN", line=self._lineno)
            self._finish(self._open)
            self._open = None
        else:
            if self._open is not None:
                raise FramingError(self._source, "result ERROR inside a frame", line=self._lineno)
            size = fields.get("size", "0")
            self.records.append(
                Record(
                    name=fields.get("name", ""),
                    ok=False,
                    size=int(size) if size.isdigit() else 0,
                    error=fields.get("reason", "error"),
                    fields=fields,
                )
            )

    def _payload(self, line: str) -> None:
        try:
            chunk = base64.b64decode(line.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FramingError(self._source, f"corrupted result payload: {exc}", line=self._lineno) from exc
        assert self._open is not None
        self._written += len(chunk)
        if self._written > int(self._open["size"]):
            raise FramingError(
                self._source, f"result longer than its declared {self._open['size']} bytes", line=self._lineno
            )
        self._hash.update(chunk)
        self._sink(chunk)

    def _finish(self, fields: dict[str, str]) -> None:
        size, digest = int(fields["size"]), fields["sha256"]
        name = fields.get("name", "")
        if self._written != size:
            raise FramingError(self._source, f"result {name!r}: {self._written} bytes, declared {size}")
        if self._hash.hexdigest() != digest:
            raise FramingError(self._source, f"result {name!r}: sha256 mismatch (corrupted in transit)")
        self.records.append(Record(name=name, ok=True, size=size, sha256=digest, fields=fields))


def _line(kind: str, **fields: str) -> str:
    for k, v in fields.items():
        if not v or any(c.isspace() for c in v) or "=" in k:
            raise ValueError(f"frame field {k}={v!r} must be a non-empty word")
    items = "".join(f" {k}={v}" for k, v in fields.items())
    return f"{_PREFIX}{kind} {VERSION}{items}{_SUFFIX}"

"""Capture containers (classic pcap, pcapng, gzip of either) → batches of packet records.

A capture is a chain of length-prefixed records: where record *k+1* starts depends on the length
field of record *k*, so the walk looks inherently sequential, and a Python loop over a million
headers costs ~0.3 s. The walk here is done by a few hundred walkers in lock step with numpy:
the buffer is cut into segments, each segment's walker starts at the first position that looks
like a record header (checked two records deep), and a walker is trusted only when the walker
before it lands exactly on its start. A wrong guess costs a re-walk from the true position, never
a wrong answer; many wrong guesses fall back to a plain sequential loop.

The file is read in chunks into one reused buffer, so memory stays bounded by the chunk size and
not the file size. Length fields are checked before they are used: a record longer than the
format allows stops the walk at that offset with a warning, a record cut by the end of the file
is dropped with a warning saying how many bytes were missing.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import struct
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from netdebug_nb.errors import InputError

if TYPE_CHECKING:
    import numpy.typing as npt

    I64 = npt.NDArray[np.int64]
    U8 = npt.NDArray[np.uint8]
    Step = Callable[..., tuple[I64, np.ndarray]]
    Plausible = Callable[["Gather", I64, int], npt.NDArray[np.bool_]]

HEAD_BYTES = 56  # packet bytes the classic pcap walk reads with each record header (see decode)
PAD = 256  # zero bytes after the data in every buffer, so fixed-size header gathers never run off
MAX_CAPLEN = 262144  # Wireshark's WTAP_MAX_PACKET_SIZE_STANDARD: longer records are corrupt
MAX_BLOCK = 16 * 1024 * 1024  # pcapng: Wireshark refuses larger blocks
DEFAULT_CHUNK = 16 * 1024 * 1024  # per-chunk work amortized (16 and 48 MB measured slower)

_SHB = 0x0A0D0D0A
_MADV_POPULATE_READ = 22  # Linux >= 5.14; older kernels refuse it and pages fault in as read
_OK, _INCOMPLETE, _ABSURD, _SECTION = 0, 1, 2, 3
_GUESS_SECONDS = 30 * 86400  # how far from the chunk's first timestamp a guessed record may be
_ROUNDS = 4  # walk steps between checks whether every walker is done


class PcapFormatError(InputError):
    """The file is not a capture this reader understands, or its structure is broken."""

    def __init__(self, source: str | Path, reason: str, *, offset: int | None = None) -> None:
        self.offset = offset
        where = f" at byte offset {offset}" if offset is not None else ""
        super().__init__(source, f"{reason}{where}")


class CaptureWarning(UserWarning):
    """Some of the capture could not be read (truncated or corrupt record); what was read is kept."""


@dataclass
class Batch:
    """Packet records found in one chunk; ``off`` indexes ``buf`` (valid until the next batch)."""

    buf: U8  # chunk bytes followed by PAD zero bytes
    off: I64  # start of each packet's captured bytes in buf
    caplen: I64
    wirelen: I64
    ts_ns: I64
    iface: npt.NDArray[np.uint16]
    linktype: npt.NDArray[np.uint16]
    base: int = 0  # file offset of buf[0] (for pcapng: of the section's first chunk byte)
    # when the walk read them: each packet's first bytes as rows (a view; a packet's row may run
    # into the next record when it is shorter), starting at column head_at
    head: np.ndarray | None = None
    head_at: int = 0

    def __len__(self) -> int:
        return len(self.off)

    @property
    def offset(self) -> I64:
        """File offset of each packet's captured bytes (in the decompressed stream for gzip)."""
        return self.off + self.base


# --- gathers over a byte buffer ------------------------------------------------------------


class Gather:
    """Fixed-width integer reads at many (unaligned) byte positions of one buffer at once.

    Strided views with a 1-byte stride make every byte offset an element, so one fancy index
    reads a field at a million positions without building index matrices.
    """

    def __init__(self, buf: U8) -> None:
        self.buf = buf
        self._views: dict[str, np.ndarray] = {}

    def _view(self, dt: str) -> np.ndarray:
        v = self._views.get(dt)
        if v is None:
            dtype = np.dtype(dt)
            n = len(self.buf) - dtype.itemsize + 1
            v = np.ndarray((n,), dtype=dtype, buffer=self.buf, strides=(1,))
            self._views[dt] = v
        return v

    def read(self, dt: str, pos: I64) -> np.ndarray:
        """Values of type ``dt`` (e.g. ``'>u2'``) at ``pos``, converted to native byte order."""
        out = self._view(dt)[pos]
        return out.astype(out.dtype.newbyteorder("="), copy=False)

    def fields(self, spec: str, pos: I64) -> np.ndarray:
        """Packed structured records (``spec`` like ``'<u4,<u4'``, fields f0, f1...) at ``pos``."""
        return self._view(spec)[pos]

    def rows(self, width: int, pos: I64) -> U8:
        """A (len(pos), width) byte matrix: ``width`` bytes starting at each of ``pos``."""
        return self._view(f"V{width}")[pos].view(np.uint8).reshape(len(pos), width)


# --- the record walk -------------------------------------------------------------------------


@dataclass
class Walk:
    """Positions of complete records in [start, end), and why the walk stopped at ``stop``."""

    pos: I64
    stop: int
    code: int  # _INCOMPLETE (needs more data), _ABSURD (bad length at stop), _SECTION (pcapng SHB)
    # with a step that reads whole record heads (classic pcap): the head of each record at pos
    rows: np.ndarray | None = None


def walk(g: Gather, start: int, end: int, step: Step, plausible: Plausible, *, seg: int = 1 << 16) -> Walk:
    """All record positions from ``start`` following ``step`` until a record does not fit/is bad."""
    parts: list[Walk] = []
    pos = start
    restarts = 0
    while True:
        if end - pos < 4 * seg or restarts > 16:
            w = _walk_lockstep(g, np.array([pos], dtype=np.int64), end, step)
        else:
            guesses = _guesses(g, pos, end, plausible, seg)
            w = _walk_lockstep(g, guesses, end, step)
        parts.append(w)
        if w.code == -1:  # a guess was wrong: continue from the true position
            restarts += 1
            pos = w.stop
            continue
        if len(parts) == 1:
            return w
        rows = [q.rows for q in parts]
        return Walk(
            np.concatenate([q.pos for q in parts]),
            w.stop,
            w.code,
            None if any(r is None for r in rows) else np.concatenate(rows),  # type: ignore[arg-type]
        )


def _guesses(g: Gather, start: int, end: int, plausible: Plausible, seg: int) -> I64:
    """First plausible record start in a window after each segment boundary.

    Windows are searched 256 bytes at a time, only for segments without a hit yet: most records
    are short, so most segments are settled by the first slice.
    """
    # the last segment runs to the end: keep it about as long as the others, since the walk
    # takes as many rounds as the segment with the most records
    bounds = np.arange(start + seg, end - seg // 8, seg, dtype=np.int64)
    found = np.full(len(bounds), -1, dtype=np.int64)
    pre = plausible.prefilter  # type: ignore[attr-defined]
    dt, at, lo, hi = pre(g, start) if callable(pre) else pre
    view = g._view(dt)
    step = 256
    todo = np.arange(len(bounds))
    for w0 in range(0, min(2048, seg - step), step):  # windows never reach the next boundary
        if not len(todo):
            break
        base = bounds[todo] + w0
        every = np.lib.stride_tricks.as_strided(
            view[int(bounds[0]) + w0 + at :],
            shape=(len(bounds), step),
            strides=(seg * view.strides[0], view.strides[0]),
        )
        grid = every if len(todo) == len(bounds) else every[todo]
        flat = np.flatnonzero(((grid - np.uint32(lo)) <= np.uint32(hi - lo)).ravel())
        r, c = np.divmod(flat, step)
        cand = base[r] + c
        ok = plausible(g, cand, end)
        hit_r, hit_c = r[ok], cand[ok]
        first = np.flatnonzero(np.r_[True, hit_r[1:] != hit_r[:-1]]) if len(hit_r) else hit_r
        rows = hit_r[first]
        found[todo[rows]] = hit_c[first]
        keep = np.ones(len(todo), dtype=bool)
        keep[rows] = False
        todo = todo[keep]
    return np.concatenate([np.array([start], dtype=np.int64), found[found >= 0]])


def _walk_lockstep(g: Gather, starts: I64, end: int, step: Step) -> Walk:
    """Walk from every start until the next start; verify the chain from starts[0].

    Returns code -1 with ``stop`` at the true position when a later start proved wrong; the
    positions returned are then only those of the verified prefix.

    Every walker steps every round (a walker past its limit walks on into the next segment, a
    walker at a bad record stays put), so a round is a handful of numpy calls with no masks;
    which positions count is sorted out once at the end from the matrix of positions.
    """
    s = len(starts)
    limit = np.append(starts[1:], np.int64(end))
    pos = starts
    trail = [pos]
    fast: Callable[[Gather, I64, int], I64] | None = getattr(step, "fast", None)
    while True:
        if fast is not None:  # no per-round checks: bad records are found in one pass below
            for _ in range(_ROUNDS):
                pos = fast(g, pos, end)
                trail.append(pos)
            if (pos >= limit).all():
                break
            continue
        for _ in range(_ROUNDS):
            nxt, ok = step(g, pos, end)  # every pos stays a readable position
            pos = np.where(ok, nxt, pos)
            trail.append(pos)
        if ((pos >= limit) | ~ok).all():
            break
    at_ = np.stack(trail)  # (rounds + 1, walkers): walker i's position after each round
    cols = np.arange(s)
    past = at_ >= limit
    first_past = past.argmax(axis=0)
    reached = past[first_past, cols]  # else the walker stopped at a bad/cut record before its limit
    pos = np.where(reached, at_[first_past, cols], at_[-1])
    # walker i is done: reached its limit (pos >= limit) or stopped at pos by a bad/cut record
    wrong = ~reached
    wrong[:-1] |= pos[:-1] != starts[1:]
    good = int(wrong.argmax()) + 1 if wrong.any() else s
    here = at_[:-1, :good].T
    counted = (here != at_[1:, :good].T) & (here < limit[:good, None])  # moved on: a whole record
    found = here[counted]
    rows = None
    if fast is not None:
        head: np.dtype = step.head  # type: ignore[attr-defined]
        rows = g._view(f"V{head.itemsize}")[found].view(head)  # one gather: header and packet head
        bad = step.invalid(found, rows, end)  # type: ignore[attr-defined]
        if bad.any():  # the verified chain reaches a corrupt or cut record: stop there
            k = int(bad.argmax())
            _nxt, code = step(g, found[k : k + 1], end, why=True)  # type: ignore[call-arg]
            return Walk(found[:k], int(found[k]), int(code[0]), rows[:k])
    last = good - 1
    at = int(pos[last])
    if not reached[last]:
        _nxt, code = step(g, np.array([at], dtype=np.int64), end, why=True)  # type: ignore[call-arg]
        return Walk(found, at, int(code[0]), rows)
    if last == s - 1:  # ran to the end of the data exactly
        return Walk(found, at, _INCOMPLETE, rows)
    return Walk(found, at, -1, rows)


# --- classic pcap ---------------------------------------------------------------------------

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000, 16),
    b"\xa1\xb2\xc3\xd4": (">", 1000, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1, 16),
    b"\xa1\xb2\x3c\x4d": (">", 1, 16),
    b"\x34\xcd\xb2\xa1": ("<", 1000, 24),  # Kuznetzov's modified pcap: 8 more bytes per record
    b"\xa1\xb2\xcd\x34": (">", 1000, 24),
}
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class _PcapHeader:
    order: str  # "<" or ">"
    frac_ns: int  # nanoseconds per unit of the record's fraction field
    hdr: int  # record header bytes
    linktype: int
    limit: int  # largest believable caplen

    def record_head(self) -> np.dtype:
        """A record's header fields plus the first HEAD_BYTES bytes of its packet, as one item."""
        u32 = self.order + "u4"
        return np.dtype(
            {
                "names": ["sec", "frac", "caplen", "wirelen"],
                "formats": [u32] * 4,
                "offsets": [0, 4, 8, 12],
                "itemsize": self.hdr + HEAD_BYTES,
            }
        )


def _pcap_walkers(h: _PcapHeader) -> tuple[Step, Plausible]:
    """The walk step and the record-start test for classic pcap records described by ``h``."""
    u32, hdr, limit = h.order + "u4", h.hdr, h.limit
    frac_max = 1_000_000_000 // h.frac_ns

    def step(g: Gather, p: I64, end: int, why: bool = False) -> tuple[I64, np.ndarray]:
        cl = g._view(u32)[p + 8]
        nxt = p + (cl + hdr)
        if not why:
            return nxt, (cl <= limit) & (nxt <= end)
        cl = cl.astype(np.int64)
        code = np.where(
            p + hdr > end,
            _INCOMPLETE,
            np.where(cl > limit, _ABSURD, np.where(nxt > end, _INCOMPLETE, _OK)),
        ).astype(np.int8)
        return nxt, code

    def plausible(g: Gather, p: I64, end: int) -> npt.NDArray[np.bool_]:
        out = np.zeros(len(p), dtype=bool)
        p = np.where(p + 2 * hdr <= end, p, 0)
        cl = g.read(u32, p + 8)
        idx = np.flatnonzero((cl > 0) & (cl <= limit))  # cheap first cut, then the full test
        q = p[idx]
        ok = np.ones(len(q), dtype=bool)
        for _hop in range(2):
            cl = g.read(u32, q + 8).astype(np.int64)
            wl = g.read(u32, q + 12).astype(np.int64)
            fr = g.read(u32, q + 4)
            ok &= (cl > 0) & (cl <= limit) & (wl >= cl) & (wl <= (1 << 24)) & (fr < frac_max)
            q = np.where(ok, q + hdr + cl, 0)
            ok &= q + hdr <= end
            q = np.where(ok, q, 0)
        out[idx] = ok
        return out

    def fast(g: Gather, p: I64, end: int) -> I64:
        """One step without checks (a walker past ``end`` waits at ``end``; see ``invalid``)."""
        nxt: I64 = p + g._view(u32)[8:][p]
        nxt += hdr
        np.minimum(nxt, end, out=nxt)
        return nxt

    def invalid(p: I64, rows: np.ndarray, end: int) -> npt.NDArray[np.bool_]:
        """Records at ``p`` that ``step`` would refuse (absurd length, or cut by ``end``)."""
        cl = rows["caplen"].astype(np.int64)
        result: npt.NDArray[np.bool_] = (cl > limit) | (p + hdr + cl > end)
        return result

    step.fast = fast  # type: ignore[attr-defined]
    # the walk reads each found record's header with the packet's first bytes in one gather:
    # the batch's header fields and the decode's common-packet lane both use it
    step.head = h.record_head()  # type: ignore[attr-defined]
    step.invalid = invalid  # type: ignore[attr-defined]

    def prefilter(g: Gather, start: int) -> tuple[str, int, int, int]:
        """Record starts have a timestamp near the one of the record at ``start``.

        Packet bytes rarely look like a timestamp of the same month, while small numbers (a
        caplen) are everywhere in them: this first cut leaves far fewer candidates to check.
        A capture whose clock jumps further gets fewer guesses there, and a slower walk.
        """
        sec = int(g.read(u32, np.array([start], dtype=np.int64))[0])
        return u32, 0, max(sec - _GUESS_SECONDS, 0), min(sec + _GUESS_SECONDS, 0xFFFFFFFF)

    plausible.prefilter = prefilter  # type: ignore[attr-defined]
    return step, plausible


@dataclass
class Scan:
    """Reads one capture file chunk by chunk; collects warnings about what could not be read.

    ``start``/``end`` limit a classic pcap to the records in that byte range of the file (a
    record must start at ``start``), so two processes can read two parts of one file; after the
    batches, ``ended`` and ``stop_offset`` say whether the records met ``end`` exactly.
    """

    path: Path
    chunk_bytes: int = DEFAULT_CHUNK
    start: int | None = None
    end: int | None = None
    warnings: list[str] = field(default_factory=list)
    format: str = ""
    # True once the batches view a mapping that later chunks do not overwrite, so a batch may be
    # decoded (on another thread) after the next one was read; False for the reused read buffer
    stable: bool = False
    record_header: int = 16  # bytes before each classic pcap record's data (24 for Kuznetzov's)
    # how reading ended: "end" (last record ends exactly at the range end / end of file), "cut" (a
    # record runs past a range end that is not the end of the file: no warning, the caller reads
    # on), "truncated" (the file ends inside a record), "bad" (a corrupt record: reading stops)
    ended: str = "end"
    stop_offset: int = 0  # file offset just after the last record read

    def batches(self) -> Iterator[Batch]:
        with _open(self.path) as f:
            try:
                head = f.read(4)
            except (EOFError, OSError, zlib.error) as exc:
                raise PcapFormatError(
                    self.path, f"gzip-compressed but cannot be decompressed: {exc}"
                ) from exc
            if len(head) == 0:
                self.warnings.append(f"{self.path}: file is empty (no capture header)")
                self.format = "empty"
                return
            if head in _PCAP_MAGIC:
                self.format = "pcap"
                yield from self._pcap(f, head)
            elif head == _PCAPNG_MAGIC:
                self.format = "pcapng"
                yield from self._pcapng(f, head)
            else:
                raise PcapFormatError(self.path, f"not a pcap or pcapng file: starts with {_describe(head)}")

    # classic pcap ----------------------------------------------------------------------------

    def _pcap_header(self, f: BinaryIO, head: bytes) -> _PcapHeader:
        order, frac_ns, hdr = _PCAP_MAGIC[head]
        try:
            rest = f.read(20)
        except (EOFError, OSError, zlib.error) as exc:
            raise PcapFormatError(self.path, f"gzip-compressed but cannot be decompressed: {exc}") from exc
        if len(rest) < 20:
            raise PcapFormatError(self.path, f"pcap file header cut short ({4 + len(rest)} of 24 bytes)")
        _vmaj, _vmin, _zone, _sig, snaplen, network = struct.unpack(order + "HHiIII", rest)
        limit = max(snaplen if snaplen < (1 << 31) else 0, MAX_CAPLEN)
        return _PcapHeader(order, frac_ns, hdr, network & 0xFFFF, limit)

    def record_near(self, at: int, window: int = 1 << 16) -> int | None:
        """File offset of the first plausible classic pcap record start in ``[at, at + window)``.

        Plausible means two records in a row with sane header fields; only a walk from an earlier
        record proves it. None for other formats, compressed files, or no candidate.
        """
        with _open(self.path) as f:
            head = f.read(4)
            if head not in _PCAP_MAGIC or _is_gzip(f):
                return None
            h = self._pcap_header(f, head)
            at = max(at, 24)
            f.seek(at)
            data = f.read(window + 2 * (h.hdr + h.limit))
        end = len(data)
        buf = np.zeros(end + PAD, dtype=np.uint8)
        buf[:end] = np.frombuffer(data, dtype=np.uint8)
        _step, plausible = _pcap_walkers(h)
        cand = np.arange(0, min(window, end), dtype=np.int64)
        hits = np.flatnonzero(plausible(Gather(buf), cand, end))
        return at + int(hits[0]) if len(hits) else None

    def _pcap(self, f: BinaryIO, head: bytes) -> Iterator[Batch]:
        h = self._pcap_header(f, head)
        order, frac_ns, hdr, linktype, limit = h.order, h.frac_ns, h.hdr, h.linktype, h.limit
        u32 = order + "u4"
        step, plausible = _pcap_walkers(h)
        self.record_header = hdr
        if self.start is not None:
            f.seek(self.start)
        offset = f.tell()  # file offset of buf[0]
        self.stop_offset = offset
        cut_end = self.end is not None and self.end < self.path.stat().st_size
        for buf, fill, eof in self._chunks(f, hdr + MAX_CAPLEN):
            g = Gather(buf)
            w = walk(g, 0, fill, step, plausible)
            p = w.pos
            if len(p):
                hdrs = w.rows  # the classic pcap step reads each record's head with its header
                assert hdrs is not None
                yield Batch(
                    buf=buf,
                    off=p + hdr,
                    caplen=hdrs["caplen"].astype(np.int64),
                    wirelen=hdrs["wirelen"].astype(np.int64),
                    ts_ns=hdrs["sec"].astype(np.int64) * 1_000_000_000
                    + hdrs["frac"].astype(np.int64) * frac_ns,
                    iface=np.zeros(len(p), dtype=np.uint16),
                    linktype=np.full(len(p), linktype, dtype=np.uint16),
                    base=offset,
                    head=hdrs.view(np.uint8).reshape(len(p), -1),
                    head_at=hdr,
                )
            self.stop_offset = offset + w.stop
            if w.code == _ABSURD:
                cl = int(g.read(u32, np.array([w.stop + 8]))[0])
                self.warnings.append(
                    f"{self.path}: record at byte offset {offset + w.stop} claims {cl} captured bytes "
                    f"(limit {limit}); stopped reading there"
                )
                self.ended = "bad"
                return
            left = fill - w.stop
            if eof:
                if left and cut_end:
                    self.ended = "cut"
                elif left:
                    self.ended = "truncated"
                    claimed = hdr + int(g.read(u32, np.array([w.stop + 8]))[0]) if left >= hdr else 0
                    self._truncated(offset + w.stop, left, hdr, claimed)
                return
            offset += w.stop
            self._consumed = w.stop

    # pcapng ----------------------------------------------------------------------------------

    def _pcapng(self, f: BinaryIO, head: bytes) -> Iterator[Batch]:
        order = "<"
        section_ifaces: list[_Iface] = []
        offset = 0

        def step_for(u32: str) -> Step:
            def step(g: Gather, p: I64, end: int, why: bool = False) -> tuple[I64, np.ndarray]:
                typ = g._view(u32)[p]
                ln = g._view(u32)[p + 4].astype(np.int64)
                nxt = p + ln
                if not why:
                    return nxt, (ln >= 12) & (ln % 4 == 0) & (ln <= MAX_BLOCK) & (nxt <= end) & (typ != _SHB)
                code = np.where(
                    p + 12 > end,
                    _INCOMPLETE,
                    np.where(
                        typ == _SHB,
                        _SECTION,
                        np.where(
                            (ln < 12) | (ln % 4 != 0) | (ln > MAX_BLOCK),
                            _ABSURD,
                            np.where(nxt > end, _INCOMPLETE, _OK),
                        ),
                    ),
                ).astype(np.int8)
                return nxt, code

            return step

        def plausible_for(u32: str) -> Plausible:
            def plausible(g: Gather, p: I64, end: int) -> npt.NDArray[np.bool_]:
                ok = p + 12 <= end
                p = np.where(ok, p, 0)
                typ = g.read(u32, p)
                ln = g.read(u32, p + 4).astype(np.int64)
                ok &= (
                    (typ >= 1) & (typ <= 6) & (ln >= 12) & (ln % 4 == 0) & (ln <= MAX_BLOCK) & (p + ln <= end)
                )
                tail = g.read(u32, np.where(ok, p + ln - 4, 0)).astype(np.int64)
                result: npt.NDArray[np.bool_] = ok & (tail == ln)
                return result

            plausible.prefilter = (u32, 4, 12, MAX_BLOCK)  # type: ignore[attr-defined]
            return plausible

        buf_head = head
        chunks = self._chunks(f, MAX_BLOCK, prefix=buf_head)
        step: Step = step_for("<u4")
        plaus: Plausible = plausible_for("<u4")
        start = 0
        for buf, fill, eof in chunks:
            g = Gather(buf)
            pos = start
            while True:
                u32 = order + "u4"
                w = walk(g, pos, fill, step, plaus)
                if len(w.pos):
                    batch, bad = self._pcapng_blocks(g, w.pos, u32, order, section_ifaces, offset)
                    if len(batch):
                        yield batch
                    if bad:
                        self.ended = "bad"
                        return
                if w.code == _SECTION:
                    shb = self._shb(buf, w.stop, fill, offset)
                    if shb is None:  # SHB cut by the chunk end: read more
                        break
                    order, length = shb
                    section_ifaces.clear()
                    u32 = order + "u4"
                    step, plaus = step_for(u32), plausible_for(u32)
                    pos = w.stop + length
                    continue
                break
            if w.code == _ABSURD:
                ln = struct.unpack_from(order + "I", buf.data, w.stop + 4)[0]
                self.warnings.append(
                    f"{self.path}: block at byte offset {offset + w.stop} has invalid length {ln}; stopped reading there"
                )
                self.ended = "bad"
                return
            stop = w.stop
            left = fill - stop
            self.stop_offset = offset + stop
            if eof:
                if left:
                    self.ended = "truncated"
                    claimed = int(struct.unpack_from(order + "I", buf.data, stop + 4)[0]) if left >= 8 else 0
                    self._truncated(offset + stop, left, 8, claimed)
                return
            offset += stop
            self._consumed = stop
            start = 0

    def _shb(self, buf: U8, at: int, fill: int, offset: int) -> tuple[str, int] | None:
        if at + 12 > fill:
            return None
        bom = bytes(buf[at + 8 : at + 12])
        if bom == b"\x4d\x3c\x2b\x1a":
            order = "<"
        elif bom == b"\x1a\x2b\x3c\x4d":
            order = ">"
        else:
            raise PcapFormatError(
                self.path, f"pcapng section header with bad byte-order magic {bom.hex()}", offset=offset + at
            )
        (length,) = struct.unpack_from(order + "I", buf.data, at + 4)
        if length < 28 or length % 4 or length > MAX_BLOCK:
            raise PcapFormatError(
                self.path, f"pcapng section header with invalid length {length}", offset=offset + at
            )
        if at + length > fill:
            return None
        return order, length

    def _pcapng_blocks(
        self, g: Gather, pos: I64, u32: str, order: str, ifaces: list[_Iface], offset: int
    ) -> tuple[Batch, bool]:
        """Packets of the blocks at ``pos`` (one section), and whether a bad block ends the file."""
        buf = g.buf
        typ = g.read(u32, pos)
        idb = pos[typ == 1]
        n_before = len(ifaces)
        for p in idb.tolist():
            ifaces.append(_Iface.parse(buf, p, order))
        pkt = (typ == 6) | (typ == 2) | (typ == 3)
        p = pos[pkt]
        t = typ[pkt]
        if not len(p):
            return _empty_batch(buf), False
        # one gather of the 28 header bytes every packet block kind has (SPB: fewer, masked below)
        h = g.fields(",".join([u32] * 7), p)
        ln = h["f1"].astype(np.int64)
        spb = t == 3
        opb = t == 2
        w8 = h["f2"].astype(np.int64)  # EPB interface id; SPB original length; OPB iface + drops
        iface = np.where(spb, 0, np.where(opb, (w8 & 0xFFFF) if order == "<" else (w8 >> 16), w8))
        known = n_before + np.searchsorted(idb, p)  # interfaces defined before each block
        caplen = np.where(spb, 0, h["f5"]).astype(np.int64)
        wirelen = np.where(spb, w8, h["f6"]).astype(np.int64)
        room = np.where(spb, ln - 16, ln - 32)
        snap = np.array([i.snaplen or (1 << 62) for i in ifaces] or [1 << 62], dtype=np.int64)
        caplen = np.where(spb, np.minimum(np.minimum(wirelen, room), snap[0]), caplen)
        bad = (iface >= known) | (caplen > room) | (caplen > MAX_CAPLEN) | (spb & (known == 0))
        stop_bad = False
        if bad.any():
            k = int(np.argmax(bad))
            why = (
                f"refers to interface {iface[k]} but only {known[k]} are defined"
                if iface[k] >= known[k]
                else f"claims {caplen[k]} captured bytes in a {ln[k]}-byte block"
            )
            self.warnings.append(
                f"{self.path}: packet block at byte offset {offset + p[k]} {why}; stopped reading there"
            )
            p, t, ln, iface, caplen, wirelen, spb, h = (
                a[:k] for a in (p, t, ln, iface, caplen, wirelen, spb, h)
            )
            stop_bad = True
        ts_raw = (h["f3"].astype(np.uint64) << np.uint64(32)) | h["f4"].astype(np.uint64)
        ts_ns = np.zeros(len(p), dtype=np.int64)
        lt = np.zeros(len(p), dtype=np.uint16)
        for i in np.unique(iface).tolist():
            sel = (iface == i) & ~spb
            lt[iface == i] = ifaces[i].linktype
            ts_ns[sel] = ifaces[i].to_ns(ts_raw[sel])
        batch = Batch(
            buf=buf,
            off=p + np.where(spb, 12, 28),
            caplen=caplen,
            wirelen=wirelen,
            ts_ns=ts_ns,
            iface=iface.astype(np.uint16),
            linktype=lt,
            base=offset,
        )
        return batch, stop_bad

    # shared ----------------------------------------------------------------------------------

    def _truncated(self, at: int, have: int, hdr: int, need: int) -> None:
        if have < hdr:
            self.warnings.append(
                f"{self.path}: last record header cut short at byte offset {at} ({have} of {hdr} bytes); dropped"
            )
            return
        self.warnings.append(
            f"{self.path}: last record at byte offset {at} truncated: {need - have} of {need} bytes cut; dropped"
        )

    def _chunks(self, f: BinaryIO, max_record: int, prefix: bytes = b"") -> Iterator[tuple[U8, int, bool]]:
        """Yield (buffer, filled bytes, at EOF); the consumer sets ``_consumed`` before the next.

        The buffer has PAD readable bytes after the filled part. A big regular file is mapped,
        not copied: each chunk is a view of the mapping and pages already walked are dropped
        from memory (``MADV_DONTNEED``), so peak memory stays a few chunks, not the file size.
        A read (not mapped) buffer is reused: consume each batch before asking for the next.
        """
        cap = max(self.chunk_bytes, 1 << 12)
        size = self.path.stat().st_size
        if self.end is not None:
            size = min(size, self.end)
        if isinstance(f, io.BufferedReader) and size > 2 * cap:
            self.stable = True
            yield from self._mapped(f, cap, size, len(prefix), max_record)
            return
        if not _is_gzip(f):  # no bigger than the file: small files stay cheap
            cap = min(cap, max(size, 1 << 12))
        # a cut gzip stream loses the piece being decompressed: keep pieces small there
        piece = (1 << 16) if _is_gzip(f) else cap
        raw = bytearray(cap + PAD)
        buf = np.frombuffer(raw, dtype=np.uint8)
        raw[: len(prefix)] = prefix
        fill = len(prefix)
        eof = False
        # a range ends before the file does: read no further than its end
        room = size - f.tell() if self.end is not None else 1 << 62
        while True:
            while fill < cap and not eof:
                try:
                    want = min(cap, fill + piece, fill + room)
                    n = f.readinto(memoryview(raw)[fill:want]) if want > fill else 0  # type: ignore[attr-defined]
                    room -= n
                except (EOFError, OSError, zlib.error) as exc:  # a cut or corrupt gzip stream
                    self.warnings.append(
                        f"{self.path}: compressed data ends early or is corrupt ({exc}); read what came before"
                    )
                    n = 0
                if not n:
                    eof = True
                else:
                    fill += n
            raw[fill : fill + PAD] = bytes(PAD)
            self._consumed = 0
            yield buf, fill, eof
            if eof:
                return
            used = self._consumed
            if used == 0 and fill == cap:  # one record bigger than the buffer: grow it
                if cap >= max_record + (1 << 20) and cap >= 4 * max_record:
                    return
                cap *= 2
                new = bytearray(cap + PAD)
                new[:fill] = raw[:fill]
                raw = new
                buf = np.frombuffer(raw, dtype=np.uint8)
                continue
            raw[: fill - used] = raw[used:fill]
            fill -= used

    def _mapped(
        self, f: BinaryIO, cap: int, size: int, back: int, max_record: int
    ) -> Iterator[tuple[U8, int, bool]]:
        base = f.tell() - back
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        whole = np.frombuffer(mm, dtype=np.uint8)
        dropped = 0
        try:
            while True:
                if base + cap + PAD <= size:
                    buf, fill, eof = whole[base : base + cap + PAD], cap, False
                    lo = (base // mmap.PAGESIZE) * mmap.PAGESIZE
                    with contextlib.suppress(OSError):  # map the chunk in one call, not page by page
                        mm.madvise(_MADV_POPULATE_READ, lo, min(base + cap + PAD, size) - lo)
                elif size + PAD <= len(whole):  # a range that ends inside the file: read on
                    buf, fill, eof = whole[base : size + PAD], size - base, True
                    lo = (base // mmap.PAGESIZE) * mmap.PAGESIZE
                    with contextlib.suppress(OSError):
                        mm.madvise(_MADV_POPULATE_READ, lo, size - lo)
                else:  # the end of the file: PAD bytes past it must exist, so copy
                    tail = bytearray(size - base + PAD)
                    with memoryview(mm) as view:  # one copy, not two
                        tail[: size - base] = view[base:size]
                    buf, fill, eof = np.frombuffer(tail, dtype=np.uint8), size - base, True
                self._consumed = 0
                yield buf, fill, eof
                if eof:
                    return
                used = self._consumed
                if used == 0:  # one record bigger than the chunk: look further
                    if cap >= 4 * max_record + (1 << 20):
                        return
                    cap *= 2
                    continue
                # keep the chunk just yielded mapped: its batch may still be decoding on a thread
                page_end = (base // mmap.PAGESIZE) * mmap.PAGESIZE
                base += used
                if page_end - dropped >= (16 << 20):
                    mm.madvise(mmap.MADV_DONTNEED, dropped, page_end - dropped)
                    dropped = page_end
        finally:
            del whole
            with contextlib.suppress(BufferError):  # batches may still view it; GC closes it then
                mm.close()


def _empty_batch(buf: U8) -> Batch:
    z = np.empty(0, dtype=np.int64)
    return Batch(buf, z, z, z, z, np.empty(0, dtype=np.uint16), np.empty(0, dtype=np.uint16))


@dataclass
class _Iface:
    linktype: int
    snaplen: int
    tsresol: int = 6  # byte of if_tsresol: 10^-n, or 2^-n with the high bit set
    tsoffset: int = 0  # seconds

    @classmethod
    def parse(cls, buf: U8, at: int, order: str) -> _Iface:
        mv = buf.data
        ln = struct.unpack_from(order + "I", mv, at + 4)[0]
        linktype, _res, snaplen = struct.unpack_from(order + "HHI", mv, at + 8)
        me = cls(linktype, snaplen)
        o, end = at + 16, at + ln - 4
        while o + 4 <= end:
            code, olen = struct.unpack_from(order + "HH", mv, o)
            if code == 0 or o + 4 + olen > end:
                break
            if code == 9 and olen >= 1:
                me.tsresol = int(buf[o + 4])
            elif code == 14 and olen >= 8:
                me.tsoffset = struct.unpack_from(order + "q", mv, o + 4)[0]
            o += 4 + ((olen + 3) & ~3)
        return me

    def to_ns(self, ts: npt.NDArray[np.uint64]) -> I64:
        r = self.tsresol
        if r & 0x80:
            bits = r & 0x7F
            if bits <= 30:
                sec = ts >> np.uint64(bits)
                frac = ts & np.uint64((1 << bits) - 1)
                ns = sec.astype(np.int64) * 1_000_000_000 + (
                    (frac * np.uint64(1_000_000_000)) >> np.uint64(bits)
                ).astype(np.int64)
            else:
                ns = (ts.astype(np.float64) / float(1 << bits) * 1e9).astype(np.int64)
        elif r <= 9:
            ns = ts.astype(np.int64) * (10 ** (9 - r))
        elif r <= 19:
            ns = (ts // np.uint64(10 ** (r - 9))).astype(np.int64)
        else:
            ns = np.zeros(len(ts), dtype=np.int64)
        return ns + self.tsoffset * 1_000_000_000


def _open(path: Path) -> BinaryIO:
    f = path.open("rb")
    magic = f.read(2)
    f.seek(0)
    if magic == _GZIP_MAGIC:
        import gzip  # not at import: only compressed captures need it

        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f  # type: ignore[return-value]


def _is_gzip(f: object) -> bool:
    gzip = sys.modules.get("gzip")  # a file cannot be a GzipFile before gzip was imported
    return gzip is not None and isinstance(f, gzip.GzipFile)


def _describe(head: bytes) -> str:
    if head[:4] == b"\x7fELF":
        what = " (an ELF executable)"
    elif head[:2] == b"PK":
        what = " (a zip archive)"
    elif head and all(32 <= c < 127 or c in (9, 10, 13) for c in head):
        what = f" (text {head.decode('ascii')!r})"
    else:
        what = ""
    return f"bytes {head.hex() or '(none)'}{what}; expected pcap magic a1b2c3d4/a1b23c4d (either byte order), pcapng 0a0d0d0a or gzip 1f8b"


__all__ = ["Batch", "CaptureWarning", "Gather", "PcapFormatError", "Scan"]

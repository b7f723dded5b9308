"""Build pcap and pcapng files byte by byte, so each format variant is tested exactly as specified."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence

PCAP_US, PCAP_NS = 0xA1B2C3D4, 0xA1B23C4D


def pcap(
    packets: Iterable[tuple[int, bytes]] | Iterable[tuple[int, bytes, int]],
    *,
    linktype: int = 1,
    order: str = "<",
    ns: bool = False,
    snaplen: int = 262144,
) -> bytes:
    """Classic pcap; packets are (timestamp in ns, bytes[, wire length])."""
    out = [struct.pack(order + "IHHiIII", PCAP_NS if ns else PCAP_US, 2, 4, 0, 0, snaplen, linktype)]
    for item in packets:
        ts, data = item[0], item[1]
        wire = item[2] if len(item) > 2 else len(data)  # type: ignore[misc]
        sec, frac = divmod(ts, 1_000_000_000)
        if not ns:
            frac //= 1000
        out.append(struct.pack(order + "IIII", sec, frac, len(data), wire) + data)
    return b"".join(out)


def _pad(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def _block(order: str, typ: int, body: bytes) -> bytes:
    body = _pad(body)
    n = len(body) + 12
    return struct.pack(order + "II", typ, n) + body + struct.pack(order + "I", n)


def _options(order: str, opts: Sequence[tuple[int, bytes]]) -> bytes:
    if not opts:
        return b""
    out = b"".join(struct.pack(order + "HH", c, len(v)) + _pad(v) for c, v in opts)
    return out + struct.pack(order + "HH", 0, 0)


def shb(order: str = "<") -> bytes:
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + _options(order, [(1, b"made by the tests")])
    return _block(order, 0x0A0D0D0A, body)


def idb(
    linktype: int, *, order: str = "<", snaplen: int = 0, tsresol: int | None = None, tsoffset: int = 0
) -> bytes:
    opts: list[tuple[int, bytes]] = [(2, b"eth-test")]  # if_name, to be skipped
    if tsresol is not None:
        opts.append((9, bytes([tsresol])))
    if tsoffset:
        opts.append((14, struct.pack(order + "q", tsoffset)))
    return _block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + _options(order, opts))


def epb(iface: int, ts_units: int, data: bytes, *, order: str = "<", wire: int | None = None) -> bytes:
    hdr = struct.pack(
        order + "IIIII", iface, ts_units >> 32, ts_units & 0xFFFFFFFF, len(data), wire or len(data)
    )
    return _block(order, 6, hdr + _pad(data) + _options(order, [(2, struct.pack(order + "I", 1))]))


def opb(iface: int, ts_units: int, data: bytes, *, order: str = "<") -> bytes:
    hdr = struct.pack(order + "HHIIII", iface, 0, ts_units >> 32, ts_units & 0xFFFFFFFF, len(data), len(data))
    return _block(order, 2, hdr + _pad(data))


def spb(data: bytes, *, order: str = "<", wire: int | None = None) -> bytes:
    return _block(order, 3, struct.pack(order + "I", wire or len(data)) + _pad(data))


def nrb(order: str = "<") -> bytes:
    rec = struct.pack(order + "HH", 1, 13) + _pad(bytes([10, 0, 0, 1]) + b"host.test\0")
    return _block(order, 4, rec + struct.pack(order + "HH", 0, 0))


def isb(order: str = "<") -> bytes:
    return _block(order, 5, struct.pack(order + "III", 0, 0, 0))

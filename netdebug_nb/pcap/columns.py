"""The packet table's columns in their final dtypes, filled batch by batch.

Each batch is decoded and copied straight into its rows, so building the DataFrame at the end
wraps arrays instead of concatenating and converting ~40 of them. The arrays may live in memory
shared with a worker process (:mod:`netdebug_nb.pcap.worker`): then they cannot grow, and
:meth:`Columns.room` says whether a batch still fits.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from netdebug_nb.pcap.decode import decode
from netdebug_nb.pcap.formats import Batch

Alloc = Callable[[tuple[int, ...], np.dtype], np.ndarray]

# output column -> (dtype, source): a Decoded field, a Batch field, or "~field" for the
# missing-value mask of a nullable column (each column owns its mask: pandas writes into it)
SPEC: dict[str, tuple[str, str]] = {
    "caplen": ("uint32", "batch.caplen"),
    "wirelen": ("uint32", "batch.wirelen"),
    "ts_ns": ("int64", "batch.ts_ns"),
    "linktype": ("uint16", "batch.linktype"),
    "iface": ("uint16", "batch.iface"),
    "vlan": ("uint16", "vlan"),
    "vlan.na": ("bool", "~has_vlan"),
    "vlan_inner": ("uint16", "vlan_inner"),
    "vlan_inner.na": ("bool", "~has_vlan_inner"),
    "ip_version": ("uint8", "ip_version"),
    "ip_version.na": ("bool", "~has_ip"),
    "src4": ("uint32", "src4"),
    "dst4": ("uint32", "dst4"),
    "proto": ("uint8", "proto"),
    "proto.na": ("bool", "~has_ip"),
    "ttl": ("uint8", "ttl"),
    "ttl.na": ("bool", "~has_ip"),
    "ip_id": ("uint32", "ip_id"),
    "ip_id.na": ("bool", "~has_ip_id"),
    "frag": ("bool", "frag"),
    "frag.na": ("bool", "~has_ip"),
    "sport": ("uint16", "sport"),
    "sport.na": ("bool", "~has_ports"),
    "dport": ("uint16", "dport"),
    "dport.na": ("bool", "~has_ports"),
    "tcp_flags": ("uint16", "tcp_flags"),
    "tcp_flags.na": ("bool", "~tcp"),
    "tcp_seq": ("uint32", "tcp_seq"),
    "tcp_seq.na": ("bool", "~tcp"),
    "tcp_ack": ("uint32", "tcp_ack"),
    "tcp_ack.na": ("bool", "~tcp"),
    "tcp_win": ("uint16", "tcp_win"),
    "tcp_win.na": ("bool", "~tcp"),
    "payload_len": ("uint32", "payload_len"),
    "payload_len.na": ("bool", "~has_payload_len"),
    "icmp_type": ("uint8", "icmp_type"),
    "icmp_type.na": ("bool", "~icmp"),
    "icmp_code": ("uint8", "icmp_code"),
    "icmp_code.na": ("bool", "~icmp"),
    "l4_offset": ("int64", "l4_offset"),
    "l4_offset.na": ("bool", "~has_l4_offset"),
    "offset": ("int64", "batch.offset"),
}
# IPv6 addresses as (hi, lo) uint64 pairs, one row per IPv6 packet in packet order
V6: tuple[str, ...] = ("src6", "dst6")


def _empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return np.empty(shape, dtype=dtype)


class Columns:
    """Growable (or, in shared memory, fixed-capacity) packet columns."""

    def __init__(self, capacity: int, alloc: Alloc | None = None) -> None:
        self.n = 0  # rows filled
        self.n6 = 0  # IPv6 address rows filled
        self.fixed = alloc is not None
        make = alloc or _empty
        self.arrays: dict[str, np.ndarray] = {
            name: make((capacity,), np.dtype(dt)) for name, (dt, _src) in SPEC.items()
        }
        for name in V6:
            self.arrays[name] = make((capacity, 2), np.dtype(np.uint64))

    @staticmethod
    def nbytes(capacity: int) -> int:
        """Bytes the arrays of ``capacity`` rows take (for sizing shared memory)."""
        row = sum(np.dtype(dt).itemsize for dt, _src in SPEC.values()) + 16 * len(V6)
        return row * capacity

    def capacity(self) -> int:
        return len(self.arrays["caplen"])

    def room(self, rows: int) -> bool:
        return self.n + rows <= self.capacity() or not self.fixed

    def _grow(self, rows: int) -> None:
        cap = self.capacity()
        if rows <= cap:
            return
        if self.fixed:
            raise ValueError(f"{rows} rows do not fit in {cap} fixed rows")
        grown = max(rows, 2 * cap)
        for name, a in self.arrays.items():
            new = np.empty((grown, *a.shape[1:]), dtype=a.dtype)
            new[: self.n] = a[: self.n]
            self.arrays[name] = new

    def add(self, batch: Batch, linktypes: Collection[int]) -> None:
        d = decode(batch, linktypes)
        lo, hi = self.n, self.n + len(batch)
        self._grow(hi)
        has_ip = d.ip_version != 0
        for name, (_dt, src) in SPEC.items():
            out = self.arrays[name][lo:hi]
            if src.startswith("~"):
                valid = has_ip if src == "~has_ip" else getattr(d, src[1:])
                np.logical_not(valid, out=out)
            elif src.startswith("batch."):
                out[...] = getattr(batch, src[6:])
            else:
                out[...] = getattr(d, src)
        k = len(d.src6)
        self.arrays["src6"][self.n6 : self.n6 + k] = d.src6
        self.arrays["dst6"][self.n6 : self.n6 + k] = d.dst6
        self.n6 += k
        self.n = hi

    def extend(self, other: Columns) -> None:
        """Append the filled rows of ``other`` (a worker's share of the file)."""
        lo, hi = self.n, self.n + other.n
        self._grow(hi)
        for name in SPEC:
            self.arrays[name][lo:hi] = other.arrays[name][: other.n]
        for name in V6:
            self.arrays[name][self.n6 : self.n6 + other.n6] = other.arrays[name][: other.n6]
        self.n6 += other.n6
        self.n = hi

    def tail(self, front: int) -> Columns:
        """Fixed columns over rows ``front:`` of these arrays (a worker's rows after the caller's)."""
        c = Columns(0)
        c.fixed = True
        c.arrays = {name: a[front:] for name, a in self.arrays.items()}
        return c

    def put_before(self, first: Columns, front: int) -> bool:
        """Copy ``first``'s rows to just before row ``front``, where a worker's rows start.

        Done while the worker still reads, so the worker's rows, usually the bigger part, are
        never copied (see :meth:`around`). False when ``first`` has more rows than fit.
        """
        if first.n > front:
            return False
        for name, a in self.arrays.items():
            k = first.n6 if name in V6 else first.n
            a[front - k : front] = first.arrays[name][:k]
        return True

    def around(self, front: int, first: Columns, rest: Columns) -> Columns:
        """The rows :meth:`put_before` placed before ``front`` and then ``rest``'s (rows ``front:``)."""
        c = Columns(0)
        c.fixed = True
        c.n, c.n6 = first.n + rest.n, first.n6 + rest.n6
        for name, a in self.arrays.items():
            k, m = (first.n6, rest.n6) if name in V6 else (first.n, rest.n)
            c.arrays[name] = a[front - k : front + m]
        return c

    def view(self, name: str) -> np.ndarray:
        """The filled part of one column."""
        return self.arrays[name][: self.n6 if name in V6 else self.n]

"""Per-packet fingerprints that survive forwarding and NAT, for matching packets across captures.

A packet seen at two capture points keeps some fields and loses others: routers decrement the
TTL, NAT rewrites addresses and ports (and checksums), overlays wrap the packet in another. What
stays is the IPv4 identification, the protocol, TCP's sequence/acknowledgement numbers, flags and
payload length, UDP and ICMP payloads and ICMP echo id/seq. Those fields, with a hash of the first
payload bytes, make a 64-bit key per packet; :mod:`netdebug_nb.pcap.compare` joins captures on it.

This is a separate decode pass over the capture's records (the packet reader's common path stays
as lean as it is): each batch of records goes through :func:`netdebug_nb.pcap.decode.decode`,
then a few extra gathers read what the packet table does not carry (payload bytes, ICMP
id/seq, the TCP MSS option), and tunnelled packets (VXLAN, Geneve, IP-in-IP, IPv6-in-IP) are
decoded again at their inner header, so the key and the addresses are the inner packet's: a
packet captured on the overlay device matches the same packet captured on the underlay.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from netdebug_nb.errors import InputError
from netdebug_nb.pcap import decode as dec
from netdebug_nb.pcap.formats import Batch, CaptureWarning, Gather, Scan
from netdebug_nb.schema import Schema, empty

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd

    I64 = npt.NDArray[np.int64]
    B = npt.NDArray[np.bool_]

FINGERPRINTS_SCHEMA: Schema = {
    "frame": "int64",  # 1-based packet number in the file
    "ts_ns": "int64",  # capture timestamp, ns since the epoch, in the capture point's clock
    "ip_version": "uint8",  # 0: not IP (never matched)
    "src": "category",  # source address (the inner packet's for tunnels)
    "dst": "category",
    "proto": "uint8",
    "sport": "uint16",  # 0 when the protocol has no ports
    "dport": "uint16",
    "ttl": "uint8",  # IPv4 TTL / IPv6 hop limit (inner packet for tunnels)
    "ip_id": "uint32",  # IPv4 identification (0 for IPv6)
    "frag": "bool",  # an IP fragment
    "tcp_flags": "uint16",
    "payload_len": "int32",  # transport payload bytes (-1: unknown)
    "icmp_id": "int32",  # ICMP/ICMPv6 echo identifier (-1: not an echo)
    "icmp_seq": "int32",
    "mss": "uint16",  # TCP MSS option of SYNs (0: none)
    "wirelen": "uint32",  # bytes on the wire (outer frame for tunnels)
    "tunnel": "uint8",  # 0 none, see TUNNELS
    "outbound": "int8",  # -1 unknown, 1 sent by this host, 0 received (Linux cooked captures)
    "ifindex": "int32",  # interface (SLL2 ifindex of tcpdump -i any, else the pcapng interface id)
    "key": "uint64",  # the fingerprint (0: not matchable)
}

TUNNELS = {
    0: "",
    1: "vxlan",
    2: "geneve",
    3: "ipv4-in-ip",
    4: "ipv6-in-ip",
}  # IP-in-IP: IPIP, 4in6, 6in4, IP6IP6
VXLAN_PORTS = (4789, 8472)  # IANA, and the Linux kernel's historical default (flannel)
GENEVE_PORT = 6081
PAYLOAD_HASH_BYTES = 16  # bytes of payload in the key: fit in a 256-byte snap length after tunnels

_LINK_L3 = {dec.ETHERNET: 14, dec.SLL: 16, dec.SLL2: 20, dec.NULL: 4, dec.LOOP: 4, dec.IPV4: 0, dec.IPV6: 0}
for _raw in dec.RAW_ALIASES:
    _LINK_L3[_raw] = 0
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def read(path: str | Path) -> pd.DataFrame:
    """One row per packet of the capture at ``path`` with its fingerprint (:data:`FINGERPRINTS_SCHEMA`).

    Damaged records are skipped with a :class:`CaptureWarning`, as the packet reader does;
    ``df.attrs`` carries ``path`` and ``warnings``.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such capture file" if not path.exists() else "not a regular file")
    parts: list[dict[str, np.ndarray]] = []
    scan = Scan(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)
        for batch in scan.batches():
            if len(batch):
                parts.append(_batch_columns(batch))
    if not parts:
        df = empty(FINGERPRINTS_SCHEMA)
    else:
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        src, dst = _addresses(cols.pop("src_hi"), cols.pop("src_lo"), cols.pop("dst_hi"), cols.pop("dst_lo"))
        n = len(cols["ts_ns"])
        data: dict[str, Any] = {"frame": np.arange(1, n + 1, dtype=np.int64)}
        for name, dtype in FINGERPRINTS_SCHEMA.items():
            if name == "frame":
                continue
            if name in ("src", "dst"):
                data[name] = src if name == "src" else dst
            else:
                data[name] = cols[name].astype(dtype, copy=False)
        df = pd.DataFrame(data, copy=False)
    df.attrs["path"] = str(path)
    df.attrs["warnings"] = list(scan.warnings)
    for msg in scan.warnings:
        warnings.warn(msg, CaptureWarning, stacklevel=2)
    return df


# --- one batch -------------------------------------------------------------------------------


def _batch_columns(batch: Batch) -> dict[str, np.ndarray]:
    d = dec.decode(batch)
    g = Gather(batch.buf)
    n = len(batch)
    out = _fields(batch, d, g)
    out["tunnel"] = np.zeros(n, dtype=np.uint8)
    out["outbound"], out["ifindex"] = _interfaces(batch, g)
    out["wirelen"] = batch.wirelen.astype(np.uint32)
    inner = _tunnels(batch, d, g, out["l4"])
    for kind, idx, sub in inner:
        got = _fields(sub, dec.decode_general(sub), g)
        ok = got["ip_version"] != 0
        rows = idx[ok]
        for name, arr in got.items():
            if name in out and name not in ("wirelen", "tunnel", "outbound", "ifindex"):
                out[name][rows] = arr[ok]
        out["tunnel"][rows] = kind
    out.pop("l4")
    return out


def _fields(batch: Batch, d: dec.Decoded, g: Gather) -> dict[str, np.ndarray]:
    """The row fields and key of packets decoded as ``d`` (outer or inner headers)."""
    n = len(batch)
    off, cl = batch.off, batch.caplen
    ipv = d.ip_version
    v4, v6 = ipv == 4, ipv == 6
    # where the IP header starts: the decoder knows but does not say; recompute it from the link
    # type and the VLAN tags it found, and trust it only where the version nibble agrees
    lt = batch.linktype
    l3 = np.full(n, -1, dtype=np.int64)
    for code, size in _LINK_L3.items():
        m = lt == code
        if m.any():
            l3[m] = size
    eth = lt == dec.ETHERNET
    l3 += np.where(eth & d.has_vlan, 4, 0) + np.where(eth & d.has_vlan_inner, 4, 0)
    known = (l3 >= 0) & (cl > l3)
    first = g.read("u1", np.where(known, off + l3, 0)).astype(np.int64)
    known &= (first >> 4) == ipv
    ihl = np.where(v4, (first & 0x0F) * 4, 40)
    l4 = np.where(known, l3 + ihl, -1)
    plain6 = v6 & known & (g.read("u1", np.where(known, off + l3 + 6, 0)) == d.proto)
    l4 = np.where(v6 & ~plain6, -1, l4)  # IPv6 extension headers: transport offset unknown here
    ipv_ok = ipv != 0
    src_hi, src_lo, dst_hi, dst_lo = _address_words(d, v4, v6)

    tcp, icmp = d.tcp, d.icmp
    udp = d.has_ports & ~tcp
    payload_len = np.where(d.has_payload_len, d.payload_len.astype(np.int64), -1)
    pstart = np.where(d.has_l4_offset, d.l4_offset, -1)
    # ICMP: id/seq of echoes, payload after the 8-byte header, length from the IP header
    echo = icmp & (l4 >= 0) & dec.isin(d.icmp_type.astype(np.int64), (0, 8, 128, 129)) & (cl >= l4 + 8)
    at = np.where(echo, off + l4, 0)
    icmp_id = np.where(echo, g.read(">u2", at + 4).astype(np.int64), -1)
    icmp_seq = np.where(echo, g.read(">u2", at + 6).astype(np.int64), -1)
    ilen_at = np.where(icmp & (l4 >= 0), off + l3 + np.where(v4, 2, 4), 0)
    ip_len = g.read(">u2", ilen_at).astype(np.int64)
    icmp_plen = np.where(v4, ip_len - ihl - 8, ip_len - 8)
    icmp_ok = icmp & (l4 >= 0) & (cl >= l4 + 8)
    payload_len = np.where(icmp_ok, icmp_plen, payload_len)
    pstart = np.where(icmp_ok, l4 + 8, pstart)
    phash = _payload_hash(g, off, cl, pstart, payload_len)
    # TCP MSS of SYNs: options follow the 20-byte header; Linux and most stacks put MSS first,
    # the short walk below also finds it behind NOPs and timestamps
    mss = _mss(g, off, cl, l4, tcp & ((d.tcp_flags & 0x02) != 0) & (l4 >= 0))

    u64 = np.uint64
    key = np.full(n, u64(0x9E3779B97F4A7C15), dtype=np.uint64)
    ip_id = np.where(v4, d.ip_id, 0).astype(np.uint64)
    proto = d.proto.astype(np.uint64)
    # fragments of one datagram share its IP ID: their offset tells them apart (the first
    # fragment has offset 0 and, for UDP, the datagram's length and first bytes: it matches the
    # unfragmented datagram seen before the router that fragmented it)
    frag_off = np.zeros(n, dtype=np.uint64)
    f4 = np.flatnonzero(d.frag & v4 & known)
    if len(f4):
        frag_off[f4] = g.read(">u2", off[f4] + l3[f4] + 6).astype(np.uint64) & u64(0x1FFF)
    key = _mix(key ^ (ip_id << u64(8)) ^ proto ^ (frag_off << u64(40)))
    seq = np.where(tcp, d.tcp_seq, 0).astype(np.uint64)  # elsewhere: UDP length and checksum
    ack = np.where(tcp, d.tcp_ack, 0).astype(np.uint64)
    key = _mix(key ^ seq ^ (ack << u64(32)))
    flags = np.where(tcp, d.tcp_flags, 0).astype(np.uint64)
    key = _mix(key ^ flags ^ (payload_len.astype(np.uint64) << u64(16)))
    echo_word = (icmp_id.astype(np.uint64) << u64(16)) ^ icmp_seq.astype(np.uint64)
    icmp_word = np.where(icmp, (d.icmp_type.astype(np.uint64) << u64(40)) ^ echo_word, 0).astype(np.uint64)
    key = _mix(key ^ icmp_word ^ phash)
    # a later fragment has no transport header: its key is IP ID, protocol and the fragment bytes
    matchable = ipv_ok & (tcp | udp | icmp | d.frag | (proto != 0))
    key = np.where(matchable, key | u64(1), u64(0))
    return {
        "ts_ns": batch.ts_ns,
        "ip_version": ipv,
        "src_hi": src_hi,
        "src_lo": src_lo,
        "dst_hi": dst_hi,
        "dst_lo": dst_lo,
        "proto": d.proto,
        "sport": np.where(d.has_ports, d.sport, 0).astype(np.uint16),
        "dport": np.where(d.has_ports, d.dport, 0).astype(np.uint16),
        "ttl": d.ttl,
        "ip_id": np.where(v4, d.ip_id, 0).astype(np.uint32),
        "frag": d.frag,
        "tcp_flags": np.where(tcp, d.tcp_flags, 0).astype(np.uint16),
        "payload_len": payload_len.astype(np.int32),
        "icmp_id": icmp_id.astype(np.int32),
        "icmp_seq": icmp_seq.astype(np.int32),
        "mss": mss,
        "key": key,
        "l4": l4,
    }


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: every input bit moves every output bit (keys are hash-joined)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    out: np.ndarray = x ^ (x >> np.uint64(31))
    return out


def _payload_hash(g: Gather, off: I64, cl: I64, pstart: I64, plen: I64) -> np.ndarray:
    """Hash of the first payload bytes that were captured (up to :data:`PAYLOAD_HASH_BYTES`)."""
    n = len(off)
    if not n:
        return np.zeros(0, dtype=np.uint64)
    k = PAYLOAD_HASH_BYTES
    avail = np.clip(np.minimum(plen, cl - pstart), 0, k)
    avail = np.where(pstart >= 0, avail, 0)
    rows = g.rows(k, np.where(avail > 0, off + pstart, 0)).copy()
    rows[np.arange(k)[None, :] >= avail[:, None]] = 0
    words = rows.view(np.uint64)
    h = _mix(words[:, 0] ^ (avail.astype(np.uint64) << np.uint64(56)))
    return _mix(h ^ words[:, 1])


def _mss(g: Gather, off: I64, cl: I64, l4: I64, syn: B) -> np.ndarray:
    n = len(off)
    mss = np.zeros(n, dtype=np.uint16)
    idx = np.flatnonzero(syn & (cl >= l4 + 20))
    if not len(idx):
        return mss
    base = off[idx] + l4[idx]
    thl = (g.read("u1", base + 12).astype(np.int64) >> 4) * 4
    end = base + np.minimum(thl, cl[idx] - l4[idx])
    pos = base + 20
    found = np.zeros(len(idx), dtype=np.int64)
    live = pos < end
    for _ in range(10):  # options: at most 40 bytes, MSS first in practice
        if not live.any():
            break
        kind = g.read("u1", np.where(live, pos, 0)).astype(np.int64)
        length = g.read("u1", np.where(live, pos + 1, 0)).astype(np.int64)
        hit = live & (kind == 2) & (length == 4) & (pos + 4 <= end)
        found = np.where(hit, g.read(">u2", np.where(hit, pos + 2, 0)).astype(np.int64), found)
        step = np.where(kind == 1, 1, np.maximum(length, 2))
        live &= ~hit & (kind != 0)
        pos = np.where(live, pos + step, pos)
        live &= pos < end
    mss[idx] = found.astype(np.uint16)
    return mss


def _interfaces(batch: Batch, g: Gather) -> tuple[np.ndarray, np.ndarray]:
    """(sent by this host?, interface) per packet, where the capture says.

    ``tcpdump -i any`` (Linux cooked SLL2) records the packet type (4 = outgoing) and the
    interface index: a forwarded packet appears once per interface it crossed.
    """
    lt = batch.linktype
    out = np.full(len(lt), -1, dtype=np.int8)
    ifindex = batch.iface.astype(np.int32)
    for code, at in ((dec.SLL, 0), (dec.SLL2, 10)):
        m = lt == code
        if m.any():
            pkttype = g.read(">u2" if code == dec.SLL else "u1", np.where(m, batch.off + at, 0))
            out[m] = np.where(pkttype[m] == 4, 1, 0)
    m = lt == dec.SLL2
    if m.any():
        ifindex = np.where(m, g.read(">u4", np.where(m, batch.off + 4, 0)).astype(np.int64), ifindex).astype(
            np.int32
        )
    return out, ifindex


def _tunnels(batch: Batch, d: dec.Decoded, g: Gather, l4: I64) -> list[tuple[int, I64, Batch]]:
    """(tunnel kind, rows, a batch of their inner packets) for each kind of tunnel present."""
    off, cl = batch.off, batch.caplen
    udp = d.has_ports & ~d.tcp & d.has_l4_offset
    pay = d.l4_offset
    dport = d.dport.astype(np.int64)
    out: list[tuple[int, I64, Batch]] = []
    vx = udp & dec.isin(dport, VXLAN_PORTS) & (cl >= pay + 8 + 14 + 20)
    if vx.any():
        vx &= (g.read("u1", np.where(vx, off + pay, 0)) & 0x08) != 0  # the I flag: a valid VNI
        idx = np.flatnonzero(vx)
        if len(idx):
            out.append((1, idx, _sub(batch, idx, pay[idx] + 8, dec.ETHERNET)))
    gn = udp & (dport == GENEVE_PORT) & (cl >= pay + 8 + 20)
    if gn.any():
        at = np.where(gn, off + pay, 0)
        opt = (g.read("u1", at).astype(np.int64) & 0x3F) * 4
        ptype = g.read(">u2", at + 2).astype(np.int64)
        for lt, types in ((dec.ETHERNET, (0x6558,)), (dec.RAW, (0x0800, 0x86DD))):
            idx = np.flatnonzero(gn & dec.isin(ptype, types))
            if len(idx):
                out.append((2, idx, _sub(batch, idx, pay[idx] + 8 + opt[idx], lt)))
    ipip = (d.ip_version != 0) & ~d.frag & (l4 >= 0) & (cl > l4 + 20)
    for kind, proto in ((3, 4), (4, 41)):
        idx = np.flatnonzero(ipip & (d.proto == proto))
        if len(idx):
            out.append((kind, idx, _sub(batch, idx, l4[idx], dec.RAW)))
    return out


def _sub(batch: Batch, idx: I64, inner: I64, linktype: int) -> Batch:
    return Batch(
        buf=batch.buf,
        off=batch.off[idx] + inner,
        caplen=np.maximum(batch.caplen[idx] - inner, 0),
        wirelen=np.maximum(batch.wirelen[idx] - inner, 0),
        ts_ns=batch.ts_ns[idx],
        iface=batch.iface[idx],
        linktype=np.full(len(idx), linktype, dtype=np.uint16),
        base=batch.base,
    )


# --- addresses -------------------------------------------------------------------------------


def _address_words(d: dec.Decoded, v4: B, v6: B) -> tuple[np.ndarray, ...]:
    """Addresses as two 64-bit words each; IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d)."""
    n = len(v4)
    src_hi = np.zeros(n, dtype=np.uint64)
    dst_hi = np.zeros(n, dtype=np.uint64)
    mapped = np.uint64(0xFFFF << 32)
    src_lo = np.where(v4, d.src4.astype(np.uint64) | mapped, np.uint64(0))
    dst_lo = np.where(v4, d.dst4.astype(np.uint64) | mapped, np.uint64(0))
    if len(d.src6):
        src_hi[v6], src_lo[v6] = d.src6[:, 0], d.src6[:, 1]
        dst_hi[v6], dst_lo[v6] = d.dst6[:, 0], d.dst6[:, 1]
    return src_hi, src_lo, dst_hi, dst_lo


def _addresses(
    src_hi: np.ndarray, src_lo: np.ndarray, dst_hi: np.ndarray, dst_lo: np.ndarray
) -> tuple[Any, Any]:
    """src and dst as categoricals sharing one category list (empty text: no IP layer)."""
    import ipaddress

    import pandas as pd

    n = len(src_hi)
    hi_codes, hi_u = pd.factorize(np.concatenate([src_hi, dst_hi]))
    lo_codes, lo_u = pd.factorize(np.concatenate([src_lo, dst_lo]))
    width = max(len(lo_u), 1)
    codes, uniq = pd.factorize(hi_codes.astype(np.int64) * width + lo_codes)
    cats: list[str] = []
    for c in np.asarray(uniq).tolist():
        hi, lo = int(hi_u[c // width]), int(lo_u[c % width])
        if hi == 0 and lo == 0:
            cats.append("")
        elif hi == 0 and lo >> 32 == 0xFFFF:
            cats.append(str(ipaddress.IPv4Address(lo & 0xFFFFFFFF)))
        else:
            cats.append(str(ipaddress.IPv6Address((hi << 64) | lo)))
    dtype = pd.CategoricalDtype(cats)
    codes = codes.astype(np.int32)
    return (
        pd.Categorical.from_codes(codes[:n], dtype=dtype, validate=False),
        pd.Categorical.from_codes(codes[n:], dtype=dtype, validate=False),
    )

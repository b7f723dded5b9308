"""Vectorized decode of link, IP and transport headers for a whole batch of packets at once.

Every field is one gather over the batch (``Gather.read`` at ``packet start + header offset``),
and every "does this packet have that header" question is a boolean mask, so the per-packet cost
is a few numpy element operations, not Python bytecode. A field is valid only where the bytes it
needs were captured (``offset + size <= caplen``): malformed and truncated packets get empty
fields instead of bytes of the next record.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from netdebug_nb.pcap.formats import Batch, Gather

if TYPE_CHECKING:
    import numpy.typing as npt

    I64 = npt.NDArray[np.int64]
    B = npt.NDArray[np.bool_]

# link types whose headers the fast path understands
ETHERNET, NULL, LOOP, RAW, SLL, SLL2, IPV4, IPV6 = 1, 0, 108, 101, 113, 276, 228, 229
RAW_ALIASES = (RAW, 12, 14)  # DLT_RAW is 12 or 14 on some BSDs and appears in old files
FAST_LINKTYPES: frozenset[int] = frozenset({ETHERNET, NULL, LOOP, SLL, SLL2, IPV4, IPV6, *RAW_ALIASES})

_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
_AF_INET6 = (24, 28, 30)  # BSD, FreeBSD, Darwin values of AF_INET6 in a null/loopback header
_V6_EXT_8 = (0, 43, 60, 135, 139, 140)  # extension headers whose length is (len + 1) * 8
_V6_FRAG, _V6_AH = 44, 51
TCP, UDP, ICMP, ICMPV6, SCTP, UDPLITE = 6, 17, 1, 58, 132, 136


@dataclass
class Decoded:
    """Network fields of one batch: value arrays plus a validity mask per group of fields."""

    vlan: np.ndarray
    has_vlan: B
    vlan_inner: np.ndarray
    has_vlan_inner: B
    ip_version: np.ndarray  # 0 = none
    src4: np.ndarray  # uint32
    dst4: np.ndarray
    src6: npt.NDArray[np.uint64]  # (number of IPv6 rows, 2) hi/lo, in row order
    dst6: npt.NDArray[np.uint64]
    proto: np.ndarray
    ttl: np.ndarray
    ip_id: np.ndarray
    has_ip_id: B
    frag: B
    sport: np.ndarray
    dport: np.ndarray
    has_ports: B
    tcp: B
    tcp_flags: np.ndarray
    tcp_seq: np.ndarray
    tcp_ack: np.ndarray
    tcp_win: np.ndarray
    payload_len: np.ndarray
    has_payload_len: B
    icmp: B
    icmp_type: np.ndarray
    icmp_code: np.ndarray
    l4_offset: np.ndarray
    has_l4_offset: B


# fields with one value per packet (src6/dst6 have one per IPv6 packet)
_ROW_FIELDS: tuple[str, ...] = tuple(
    name for name in Decoded.__dataclass_fields__ if name not in ("src6", "dst6")
)


def col(m: np.ndarray, at: int, dt: str) -> np.ndarray:
    """Column ``at`` of a gathered header matrix, read as ``dt`` (big-endian network fields).

    Returned in the field's own width (uint8/16/32/64, native order): callers widen what they
    do arithmetic on, so the common path moves as few bytes as possible.
    """
    width = m.shape[1]
    d = np.dtype({"names": ["f"], "formats": [dt], "offsets": [at], "itemsize": width})
    return m.view(d)["f"][:, 0].astype(np.dtype(dt).newbyteorder("="))


def isin(a: np.ndarray, values: tuple[int, ...]) -> B:
    """``np.isin`` for a handful of constants (much cheaper than the general version)."""
    out: B = a == values[0]
    for v in values[1:]:
        out |= a == v
    return out


# the common packet, Ethernet / IPv4 without options or fragmentation / TCP, UDP or ICMP, as one
# 54-byte record per packet: its fields are read with a single gather
_IP_FIELDS = (  # (name, type, offset from the IPv4 header) of an IPv4 header without options
    ("vihl", "u1", 0),
    ("tot", ">u2", 2),
    ("ip_id", ">u2", 4),
    ("fragw", ">u2", 6),
    ("ttl", "u1", 8),
    ("proto", "u1", 9),
    ("src", ">u4", 12),
    ("dst", ">u4", 16),
    ("sport", ">u2", 20),  # TCP/UDP source port; ICMP type and code
    ("dport", ">u2", 22),
    ("seq", ">u4", 24),  # TCP sequence number; UDP length in its first two bytes
    ("ack", ">u4", 28),
    ("offflags", ">u2", 32),
    ("win", ">u2", 34),
)
# link types with a fixed-size link header: (where the ethertype is, or None; IPv4 header offset)
_LANES: dict[int, tuple[int | None, int]] = {
    ETHERNET: (12, 14),
    SLL: (14, 16),  # tcpdump -i any (libpcap < 1.10)
    SLL2: (0, 20),  # tcpdump -i any
    IPV4: (None, 0),
    **{code: (None, 0) for code in RAW_ALIASES},
}


@functools.lru_cache(maxsize=16)
def _lane(etype_at: int | None, l3: int, at: int = 0, width: int = 0) -> np.dtype:
    """The common-packet fields, in rows of ``width`` bytes where the packet starts at ``at``.

    Rows are as long as the packet's headers (link, IPv4, TCP) unless ``width`` is given.
    """
    fields = [(name, fmt, l3 + off + at) for name, fmt, off in _IP_FIELDS]
    if etype_at is not None:
        fields.append(("etype", ">u2", etype_at + at))
    return np.dtype(
        {
            "names": [f[0] for f in fields],
            "formats": [f[1] for f in fields],
            "offsets": [f[2] for f in fields],
            "itemsize": width or l3 + 40,
        }
    )


_COMMON_MIN = 256  # smaller batches go straight to the general decode
_GENERAL_SHARE = 0.5  # with more uncommon packets than this, the general decode alone is cheaper


def decode(batch: Batch, linktypes: Collection[int] = FAST_LINKTYPES) -> Decoded:
    """Decode the headers of every packet in ``batch`` whose link type is in ``linktypes``.

    Most packets of a real capture have the same shape (one link header, IPv4 without options,
    TCP, UDP or ICMP), so those are decoded from one gather of fixed offsets; the rest (VLAN
    tags, IPv6, fragments, short captures...) go through the general decode, which follows
    every header's length fields. Both give the same values for the common packets.
    """
    n = len(batch)
    lt0 = int(batch.linktype[0]) if n else -1
    if n < _COMMON_MIN or lt0 not in _LANES or lt0 not in linktypes:
        return decode_general(batch, linktypes)
    etype_at, l3 = _LANES[lt0]
    size = l3 + 40  # link header, IPv4 header, TCP header without options
    if batch.head is not None and batch.head.shape[1] - batch.head_at >= size:
        # the packet's first bytes, read by the walk together with the record header
        r = batch.head.view(_lane(etype_at, l3, batch.head_at, batch.head.shape[1]))[:, 0]
    else:  # a plain byte gather (memcpy per packet) is several times faster than a structured one
        r = Gather(batch.buf).rows(size, batch.off).view(_lane(etype_at, l3))[:, 0]
    u8, u16, u32 = np.uint8, np.uint16, np.uint32
    proto = r["proto"]
    fragw = r["fragw"].astype(u16)
    tot = r["tot"].astype(np.int64)
    common = (batch.linktype == lt0) & (batch.caplen >= size)
    if etype_at is not None:
        common &= r["etype"] == 0x0800
    common &= (r["vihl"] == 0x45) & ((fragw & 0x3FFF) == 0)
    common &= (tot >= 20) | (tot == 0)
    tcp = proto == TCP
    udp = proto == UDP
    icmp = proto == ICMP
    common &= tcp | udp | icmp
    other = np.flatnonzero(~common)
    if len(other) > n * _GENERAL_SHARE:
        return decode_general(batch, linktypes)
    l4 = l3 + 20
    offflags = r["offflags"].astype(u16)
    thl = (offflags >> 12).astype(np.int64) * 4
    ip_end = np.where(tot == 0, batch.wirelen, tot + l3)
    sport = r["sport"].astype(u16)
    dport = r["dport"].astype(u16)
    seq = r["seq"].astype(u32)
    ulen = (seq >> 16).astype(np.int64)  # the UDP length field sits where TCP's sequence starts
    payload_len = np.where(tcp, ip_end - l4 - thl, np.where(udp, ulen - 8, ip_end - l4 - 8))
    tcp_ok = tcp & (thl >= 20)
    d = Decoded(
        vlan=np.zeros(n, dtype=u16),
        has_vlan=np.zeros(n, dtype=bool),
        vlan_inner=np.zeros(n, dtype=u16),
        has_vlan_inner=np.zeros(n, dtype=bool),
        ip_version=np.full(n, 4, dtype=u8),
        src4=r["src"].astype(u32),
        dst4=r["dst"].astype(u32),
        src6=np.empty((0, 2), dtype=np.uint64),
        dst6=np.empty((0, 2), dtype=np.uint64),
        proto=proto,
        ttl=r["ttl"],
        ip_id=r["ip_id"].astype(u32),
        has_ip_id=np.ones(n, dtype=bool),
        frag=np.zeros(n, dtype=bool),
        sport=sport,
        dport=dport,
        has_ports=tcp | udp,
        tcp=tcp,
        tcp_flags=offflags & 0x01FF,
        tcp_seq=seq,
        tcp_ack=r["ack"].astype(u32),
        tcp_win=r["win"].astype(u16),
        payload_len=payload_len.astype(u32),
        has_payload_len=(tcp_ok | udp) & (payload_len >= 0),
        icmp=icmp,
        icmp_type=(sport >> 8).astype(u8),
        icmp_code=(sport & 0xFF).astype(u8),
        l4_offset=np.where(tcp, l4 + thl, l4 + 8),
        has_l4_offset=tcp_ok | udp,
    )
    if len(other):
        sub = decode_general(
            Batch(
                buf=batch.buf,
                off=batch.off[other],
                caplen=batch.caplen[other],
                wirelen=batch.wirelen[other],
                ts_ns=batch.ts_ns[other],
                iface=batch.iface[other],
                linktype=batch.linktype[other],
                base=batch.base,
            ),
            linktypes,
        )
        for name in _ROW_FIELDS:
            getattr(d, name)[other] = getattr(sub, name)
        d.src6, d.dst6 = sub.src6, sub.dst6  # common packets are IPv4: IPv6 rows all come from sub
    return d


def decode_general(batch: Batch, linktypes: Collection[int] = FAST_LINKTYPES) -> Decoded:
    """Decode every packet by following its headers (any supported link type and layout)."""
    g = Gather(batch.buf)
    n = len(batch)
    off = batch.off
    cl = batch.caplen
    lt = batch.linktype.astype(np.int64)

    def rd(dt: str, rel: I64, mask: B) -> I64:
        """Field at packet offset ``rel`` where ``mask`` (elsewhere: the packet's first bytes)."""
        return g.read(dt, np.where(mask, off + rel, 0)).astype(np.int64)

    def near(dt: str, rel: I64 | int) -> I64:
        """Field at a small packet offset (< PAD - 8): always inside the buffer, no masking needed.

        Rows where the field was not captured read the next record's bytes; callers mask them.
        """
        return g.read(dt, off + rel).astype(np.int64)

    zero = np.zeros(n, dtype=np.int64)
    # --- link layer: ethertype and offset of the network header ---------------------------------
    # a batch nearly always has one link type: only the link types present get their masks
    uniform = n > 0 and bool((lt == lt[0]).all())
    present = {int(lt[0])} if uniform else set(np.unique(lt).tolist())
    decodable = tuple(present & set(linktypes))
    if uniform:
        wanted = np.full(n, bool(decodable))
    else:
        wanted = isin(lt, decodable) if decodable else np.zeros(n, dtype=bool)
    etype = zero
    l3 = np.full(n, -1, dtype=np.int64)

    m = wanted & (lt == ETHERNET) & (cl >= 14) if ETHERNET in decodable else None
    if m is not None and m.any():
        et = near(">u2", 12)
        etype = np.where(m, et, etype)
        l3 = np.where(m, 14, l3)
        snap = m & (et <= 1500) & (cl >= 22)
        if snap.any():
            snap &= (near(">u4", 14) == 0xAAAA0300) & (near(">u2", 18) == 0)
            etype = np.where(snap, near(">u2", 20), etype)
            l3 = np.where(snap, 22, l3)
    for code, hlen, at in ((SLL, 16, 14), (SLL2, 20, 0)):
        if code not in decodable:
            continue
        m = wanted & (lt == code) & (cl >= hlen)
        if m.any():
            etype = np.where(m, near(">u2", at), etype)
            l3 = np.where(m, hlen, l3)
    for code, dt in ((NULL, "<u4"), (LOOP, ">u4")):
        if code not in decodable:
            continue
        m = wanted & (lt == code) & (cl >= 4)
        if m.any():
            fam = near(dt, 0)
            swapped = ((fam & 0xFF) << 24) | ((fam & 0xFF00) << 8) | ((fam >> 8) & 0xFF00) | (fam >> 24)
            fam = np.where((fam & 0xFFFF0000) != 0, swapped, fam)
            et = np.where(fam == 2, 0x0800, np.where(isin(fam, _AF_INET6), 0x86DD, 0))
            etype = np.where(m, et, etype)
            l3 = np.where(m, 4, l3)
    raw = tuple(c for c in (*RAW_ALIASES, IPV4, IPV6) if c in decodable)
    m = wanted & isin(lt, raw) & (cl >= 1) if raw else None
    if m is not None and m.any():
        ver = near("u1", 0) >> 4
        etype = np.where(m, np.where(ver == 4, 0x0800, np.where(ver == 6, 0x86DD, 0)), etype)
        l3 = np.where(m, 0, l3)

    # --- 802.1Q / QinQ tags: only the tagged rows are read ------------------------------------
    vlan = np.zeros(n, dtype=np.int64)
    has_vlan = np.zeros(n, dtype=bool)
    vlan_inner = np.zeros(n, dtype=np.int64)
    has_vlan_inner = np.zeros(n, dtype=bool)
    etype = etype.copy()
    l3 = l3.copy()
    for depth in range(4):
        m = ((etype | 0x1000) == 0x9100) | (etype == 0x88A8)  # 802.1Q 0x8100, 0x9100, 802.1ad 0x88a8
        if not m.any():
            break
        idx = np.flatnonzero(m & (l3 >= 0) & (cl >= l3 + 4))
        tag_at = off[idx] + l3[idx]
        vid = g.read(">u2", tag_at).astype(np.int64) & 0x0FFF
        if depth == 0:
            vlan[idx] = vid
            has_vlan[idx] = True
        elif depth == 1:
            vlan_inner[idx] = vid
            has_vlan_inner[idx] = True
        etype[idx] = g.read(">u2", tag_at + 2)
        l3[idx] += 4
        if not len(idx):
            break

    # --- MPLS label stack: IP follows the bottom label (Wireshark guesses v4/v6 the same way) ---
    m = (etype == 0x8847) | (etype == 0x8848)  # MPLS unicast, multicast
    if m.any():
        m &= l3 >= 0
        for _ in range(8):
            m &= cl >= l3 + 4
            if not m.any():
                break
            bottom = m & ((near("u1", l3 + 2) & 1) == 1)
            l3 = np.where(m, l3 + 4, l3)
            ver = near("u1", l3) >> 4
            bottom_ok = bottom & (cl > l3)
            etype = np.where(
                bottom,
                np.where(bottom_ok & (ver == 4), 0x0800, np.where(bottom_ok & (ver == 6), 0x86DD, 0)),
                etype,
            )
            m &= ~bottom

    # --- IPv4: one 60-byte gather per packet at the network header, fields are its columns -----
    ip_version = zero.copy()
    at_l3 = np.where(l3 >= 0, off + l3, 0)
    h3 = g.rows(60, at_l3)
    vihl = col(h3, 0, "u1")
    ihl = (vihl & 0x0F) * 4
    tot = col(h3, 2, ">u2").astype(np.int64)
    version = vihl >> 4
    v4 = (etype == 0x0800) & (version == 4) & (l3 >= 0) & (cl >= l3 + 20)
    v4 &= (ihl >= 20) & ((tot >= ihl) | (tot == 0))
    ip_version[v4] = 4
    src4 = col(h3, 12, ">u4")
    dst4 = col(h3, 16, ">u4")
    fragw = col(h3, 6, ">u2")
    frag_off = fragw & 0x1FFF
    frag = v4 & (((fragw & 0x2000) != 0) | (frag_off != 0))
    later_frag = v4 & (frag_off != 0)
    proto = col(h3, 9, "u1")
    ttl = col(h3, 8, "u1")
    ip_id = col(h3, 4, ">u2")
    has_ip_id = v4.copy()
    l4 = np.where(v4, l3 + ihl, -1)
    ip_end = np.where(v4, np.where(tot == 0, batch.wirelen, l3 + tot), 0)

    # --- IPv6 and its extension headers -------------------------------------------------------
    # an IPv4 ethertype carrying a version-6 header is decoded as IPv6, as Wireshark does
    v6 = ((etype == 0x86DD) | (etype == 0x0800)) & (version == 6) & (l3 >= 0) & (cl >= l3 + 40)
    v6_idx = np.flatnonzero(v6)
    src6 = np.empty((len(v6_idx), 2), dtype=np.uint64)
    dst6 = np.empty((len(v6_idx), 2), dtype=np.uint64)
    if len(v6_idx):
        ip_version[v6] = 6
        sub = h3[v6_idx]
        for dst_arr, at in ((src6, 8), (dst6, 24)):
            dst_arr[:, 0] = col(sub, at, ">u8")
            dst_arr[:, 1] = col(sub, at + 8, ">u8")
        plen = col(h3, 4, ">u2").astype(np.int64)
        nh = np.where(v6, col(h3, 6, "u1"), 0)
        ttl = np.where(v6, col(h3, 7, "u1"), ttl)
        cur = np.where(v6, l3 + 40, -1)
        ip_end = np.where(v6, np.where(plen == 0, batch.wirelen, l3 + 40 + plen), ip_end)
        for _ in range(8):
            ext = v6 & ~later_frag & (isin(nh, _V6_EXT_8) | (nh == _V6_FRAG) | (nh == _V6_AH))
            if not ext.any():
                break
            cut = ext & (cl < cur + 8)
            later_frag |= cut  # header chain cut by the snap length: no transport layer
            ext &= ~cut
            nxt = rd("u1", cur, ext)
            hl = rd("u1", cur + 1, ext)
            isfrag = ext & (nh == _V6_FRAG)
            if isfrag.any():
                fw = rd(">u2", cur + 2, isfrag)
                ip_id = np.where(isfrag, rd(">u4", cur + 4, isfrag), ip_id)
                has_ip_id |= isfrag
                frag |= isfrag & (((fw & 1) != 0) | ((fw >> 3) != 0))
                later_frag |= isfrag & ((fw >> 3) != 0)
            size = np.where(nh == _V6_FRAG, 8, np.where(nh == _V6_AH, (hl + 2) * 4, (hl + 1) * 8))
            cur = np.where(ext, cur + size, cur)
            nh = np.where(ext, nxt, nh)
        proto = np.where(v6, nh, proto)
        l4 = np.where(v6, cur, l4)
    has_ip = v4 | v6

    # --- transport: one 20-byte gather at the transport header ---------------------------------
    l4ok = has_ip & ~later_frag & (l4 >= 0)
    h4 = g.rows(20, np.where(l4ok & (l4 < cl), off + l4, 0))  # l4 may point past the capture
    remaining = ip_end - l4
    has_ports = l4ok & isin(proto, (TCP, UDP, UDPLITE, SCTP)) & (cl >= l4 + 4)
    tcp = has_ports & (proto == TCP) & (cl >= l4 + 20)
    udp = has_ports & ((proto == UDP) | (proto == UDPLITE)) & (cl >= l4 + 8)
    sport = col(h4, 0, ">u2")
    dport = col(h4, 2, ">u2")
    tcp_seq = col(h4, 4, ">u4")
    tcp_ack = col(h4, 8, ">u4")
    offflags = col(h4, 12, ">u2")
    thl = (offflags >> 12).astype(np.int64) * 4
    tcp_flags = offflags & 0x01FF
    tcp_win = col(h4, 14, ">u2")
    ulen = col(h4, 4, ">u2").astype(np.int64)
    payload_len = np.where(tcp, remaining - thl, np.where(udp & (proto == UDP), ulen - 8, remaining - 8))
    has_payload_len = (tcp & (thl >= 20) | udp) & (payload_len >= 0)
    l4_offset = np.where(tcp, l4 + thl, l4 + 8)
    has_l4_offset = tcp & (thl >= 20) | udp
    icmp = l4ok & (((proto == ICMP) & v4) | ((proto == ICMPV6) & v6)) & (cl >= l4 + 2)
    icmp_type = col(h4, 0, "u1")
    icmp_code = col(h4, 1, "u1")

    u8, u16, u32 = np.uint8, np.uint16, np.uint32
    return Decoded(
        vlan=vlan.astype(u16),
        has_vlan=has_vlan,
        vlan_inner=vlan_inner.astype(u16),
        has_vlan_inner=has_vlan_inner,
        ip_version=ip_version.astype(u8),
        src4=src4,
        dst4=dst4,
        src6=src6,
        dst6=dst6,
        proto=proto.astype(u8, copy=False),
        ttl=ttl.astype(u8, copy=False),
        ip_id=ip_id.astype(u32, copy=False),
        has_ip_id=has_ip_id & has_ip,
        frag=frag,
        sport=sport,
        dport=dport,
        has_ports=has_ports,
        tcp=tcp,
        tcp_flags=tcp_flags,
        tcp_seq=tcp_seq,
        tcp_ack=tcp_ack,
        tcp_win=tcp_win,
        payload_len=payload_len.astype(u32),
        has_payload_len=has_payload_len,
        icmp=icmp,
        icmp_type=icmp_type,
        icmp_code=icmp_code,
        l4_offset=l4_offset,
        has_l4_offset=has_l4_offset,
    )

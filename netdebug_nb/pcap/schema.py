"""The packet table: one row per captured packet, the contract between the reader and analysis.

Fields that a packet may not have (no IP layer, not TCP, other link types) are nullable. Address
columns are categoricals: a capture has few distinct addresses and many packets, so the text of
each address is made once. ``frame`` numbers packets from 1 like Wireshark's ``frame.number``.
"""

from __future__ import annotations

from netdebug_nb.schema import Schema

PACKETS_SCHEMA: Schema = {
    "frame": "int64",  # 1-based packet number in the file
    "ts": "datetime64[ns, UTC]",  # capture timestamp
    "caplen": "uint32",  # bytes captured
    "wirelen": "uint32",  # bytes on the wire (original length)
    "linktype": "uint16",  # LINKTYPE_* of the packet's interface (1 Ethernet, 113 SLL, 276 SLL2, 0 null, 101 raw...)
    "iface": "uint16",  # pcapng interface id (0 for classic pcap)
    "vlan": "UInt16",  # outermost 802.1Q/802.1ad VLAN id
    "vlan_inner": "UInt16",  # inner VLAN id for QinQ
    "ip_version": "UInt8",  # 4 or 6
    "src": "category",  # source IP address text
    "dst": "category",  # destination IP address text
    "proto": "UInt8",  # IP protocol / final IPv6 next header (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6)
    "ttl": "UInt8",  # IPv4 TTL or IPv6 hop limit
    "ip_id": "UInt32",  # IPv4 identification; IPv6 fragment identification when present
    "frag": "boolean",  # IP fragment (MF set or offset > 0); transport fields empty for non-first fragments
    "sport": "UInt16",
    "dport": "UInt16",
    "tcp_flags": "UInt16",  # FIN=0x01 SYN=0x02 RST=0x04 PSH=0x08 ACK=0x10 URG=0x20 ECE=0x40 CWR=0x80 AE=0x100
    "tcp_seq": "UInt32",  # raw (absolute) sequence number
    "tcp_ack": "UInt32",  # raw acknowledgement number
    "tcp_win": "UInt16",  # raw window field (not scaled)
    "payload_len": "UInt32",  # TCP/UDP payload bytes (from IP lengths, not caplen)
    "icmp_type": "UInt8",
    "icmp_code": "UInt8",
    "l4_offset": "Int64",  # offset of the transport payload within the packet bytes (for DNS etc.), empty if none
    "file": "uint16",  # which file of a capture set (0 for one file; attrs["files"] lists them)
    "offset": "int64",  # byte offset of the packet's captured bytes in its (decompressed) file
}

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR = (1, 2, 4, 8, 16, 32, 64, 128)

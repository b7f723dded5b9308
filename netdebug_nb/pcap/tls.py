"""TLS handshakes seen in a capture: who asked for what, what the server chose, how long it took,
which alerts were sent, and (TLS ≤ 1.2, where it travels in the clear) the server certificate.

Only the record layer and the cleartext handshake messages are parsed (ClientHello, ServerHello,
Certificate); everything after ChangeCipherSpec (≤ 1.2) or ServerHello (1.3) is encrypted and is
only timed. An alert sent in the clear has a 2-byte body (level, description); one sent after the
keys changed is longer and reported as "encrypted alert".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from netdebug_nb.pcap.streams import Half, Stream
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import pandas as pd

HANDSHAKES_SCHEMA: Schema = {
    "flow": "int64",
    "client": "string",
    "client_port": "UInt16",
    "server": "string",
    "server_port": "UInt16",
    "sni": "string",  # server_name of the ClientHello ('' when the client sent none)
    "offered_versions": "string",  # supported_versions of the ClientHello, or its legacy version
    "alpn_offered": "string",  # comma-joined
    "version": "string",  # negotiated: TLS 1.0 … TLS 1.3
    "cipher": "string",  # IANA name (hex when unknown)
    "alpn": "string",  # the server's choice
    "client_hello_ts": "datetime64[ns, UTC]",
    "server_hello_ms": "Float64",  # ClientHello → ServerHello
    "handshake_ms": "Float64",  # ClientHello → first encrypted record the client sends after the handshake
    "cert_subject": "string",  # TLS ≤ 1.2 only ("encrypted" for 1.3)
    "cert_san": "string",  # DNS names and IPs, comma-joined
    "cert_issuer": "string",
    "cert_not_after": "datetime64[ns, UTC]",
    "cert_expired": "boolean",  # at the time of the ClientHello
    "alert": "string",  # description of the first alert (e.g. unknown_ca, bad_certificate)
    "alert_level": "string",  # warning | fatal | encrypted
    "alert_from": "string",  # client | server
    "alert_frame": "Int64",
    "error": "string",  # '' | no ServerHello | not TLS | …
}

VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 21: "decryption_failed",
    22: "record_overflow", 30: "decompression_failure", 40: "handshake_failure", 41: "no_certificate",
    42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
    46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied",
    50: "decode_error", 51: "decrypt_error", 60: "export_restriction", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
    100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension",
    111: "certificate_unobtainable", 112: "unrecognized_name", 113: "bad_certificate_status_response",
    114: "bad_certificate_hash_value", 115: "unknown_psk_identity", 116: "certificate_required",
    120: "no_application_protocol",
}  # fmt: skip
CIPHERS = {
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384", 0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256", 0x1305: "TLS_AES_128_CCM_8_SHA256",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", 0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256", 0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA", 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256", 0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", 0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
}  # fmt: skip

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23


def handshakes(streams: Iterable[Stream]) -> pd.DataFrame:
    """One row per TLS connection among ``streams``."""
    rows = [_connection(s) for s in streams if s.sniff() == "tls"]
    if not rows:
        return empty(HANDSHAKES_SCHEMA)
    return frame(rows, HANDSHAKES_SCHEMA).sort_values(["client_hello_ts", "flow"], ignore_index=True)


def version_name(v: int) -> str:
    return VERSIONS.get(v, f"0x{v:04x}")


def _records(half: Half) -> list[tuple[int, int, int, bytes]]:
    """(content type, arrival ts of the record's last byte, frame, body) of the complete records."""
    data = half.data()
    out: list[tuple[int, int, int, bytes]] = []
    pos = 0
    while pos + 5 <= len(data):
        ctype, length = data[pos], int.from_bytes(data[pos + 3 : pos + 5], "big")
        if ctype not in (20, 21, 22, 23, 24) or data[pos + 1] != 3 or length > (1 << 14) + 2048:
            break  # not (or no longer) a TLS record stream
        if pos + 5 + length > len(data):
            break
        when = half.arrived(pos, pos + 5 + length)
        if when is None:
            break
        out.append((ctype, when[1], when[2], data[pos + 5 : pos + 5 + length]))
        pos += 5 + length
    return out


def _messages(records: list[tuple[int, int, int, bytes]]) -> list[tuple[int, int, bytes]]:
    """Cleartext handshake messages (type, ts, body), reassembled across records until encryption."""
    buf = b""
    ts = 0
    out: list[tuple[int, int, bytes]] = []
    for ctype, when, _frame, body in records:
        if ctype == CHANGE_CIPHER_SPEC:
            break
        if ctype != HANDSHAKE:
            continue
        buf += body
        ts = when
        while len(buf) >= 4:
            mtype, n = buf[0], int.from_bytes(buf[1:4], "big")
            if len(buf) < 4 + n:
                break
            out.append((mtype, ts, buf[4 : 4 + n]))
            buf = buf[4 + n :]
    return out


def _connection(s: Stream) -> dict[str, Any]:
    import pandas as pd

    row: dict[str, Any] = {k: None for k in HANDSHAKES_SCHEMA}
    row.update(
        flow=s.flow, client=s.client, client_port=s.client_port, server=s.server, server_port=s.server_port
    )
    row["error"] = ""
    crec, srec = _records(s.c2s), _records(s.s2c)
    cmsg, smsg = _messages(crec), _messages(srec)
    ch = next(((ts, b) for t, ts, b in cmsg if t == 1), None)
    sh = next(((ts, b) for t, ts, b in smsg if t == 2), None)
    if ch is None:
        row["error"] = "no ClientHello captured"
        return row
    try:
        row.update(_client_hello(ch[1]))
    except (IndexError, ValueError):
        row["error"] = "malformed ClientHello"
    row["client_hello_ts"] = pd.Timestamp(ch[0], tz="UTC")
    version = 0
    if sh is None:
        row["error"] = row["error"] or "no ServerHello"
    else:
        row["server_hello_ms"] = (sh[0] - ch[0]) / 1e6
        try:
            hello = _server_hello(sh[1])
            version = hello.pop("_version")
            row.update(hello)
        except (IndexError, ValueError):
            row["error"] = "malformed ServerHello"
    if version == 0x0304:
        row["cert_subject"] = "encrypted"
    else:
        cert = next((b for t, _ts, b in smsg if t == 11), None)
        if cert is not None:
            row.update(_certificate(cert, ch[0]))
    # the handshake is over when the client sends its first encrypted record after it
    after = sh[0] if sh is not None else ch[0]
    if version == 0x0304:
        first = next((ts for t, ts, _f, _b in crec if t == APPLICATION_DATA and ts >= after), None)
    else:
        ccs = next((i for i, r in enumerate(crec) if r[0] == CHANGE_CIPHER_SPEC), None)
        first = None
        if ccs is not None:
            first = next((ts for t, ts, _f, _b in crec[ccs + 1 :] if t == APPLICATION_DATA), None)
    if first is not None:
        row["handshake_ms"] = (first - ch[0]) / 1e6
    alerts = [
        (fr, who, body)
        for who, recs in (("client", crec), ("server", srec))
        for t, _ts, fr, body in recs
        if t == ALERT
    ]
    if alerts:
        fr, who, body = min(alerts)
        if len(body) == 2:  # in the clear: level and description
            row.update(
                alert=ALERTS.get(body[1], str(body[1])), alert_level="fatal" if body[0] == 2 else "warning"
            )
        else:  # after the keys changed; at the end of a connection this is close_notify
            row.update(alert="encrypted", alert_level="encrypted")
        row.update(alert_from=who, alert_frame=fr)
    return row


def _ext(body: bytes, pos: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    if pos + 2 > len(body):
        return out
    end = pos + 2 + int.from_bytes(body[pos : pos + 2], "big")
    pos += 2
    while pos + 4 <= min(end, len(body)):
        etype, n = int.from_bytes(body[pos : pos + 2], "big"), int.from_bytes(body[pos + 2 : pos + 4], "big")
        out[etype] = body[pos + 4 : pos + 4 + n]
        pos += 4 + n
    return out


def _alpn(ext: bytes) -> list[str]:
    names, pos = [], 2
    while pos < len(ext):
        n = ext[pos]
        names.append(ext[pos + 1 : pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    return names


def _client_hello(b: bytes) -> dict[str, Any]:
    legacy = int.from_bytes(b[0:2], "big")
    pos = 34
    pos += 1 + b[pos]  # session id
    pos += 2 + int.from_bytes(b[pos : pos + 2], "big")  # cipher suites
    pos += 1 + b[pos]  # compression methods
    ext = _ext(b, pos)
    sni = ""
    if 0 in ext and len(ext[0]) > 5:
        n = int.from_bytes(ext[0][3:5], "big")
        sni = ext[0][5 : 5 + n].decode("ascii", "replace") if ext[0][2] == 0 else ""  # A-labels
    versions = [legacy]
    if 43 in ext:
        v = ext[43]
        versions = [int.from_bytes(v[i : i + 2], "big") for i in range(1, 1 + v[0], 2)]
        versions = [x for x in versions if (x & 0x0F0F) != 0x0A0A]  # GREASE
    return {
        "sni": sni,
        "offered_versions": ", ".join(version_name(v) for v in versions),
        "alpn_offered": ", ".join(_alpn(ext[16])) if 16 in ext else "",
    }


def _server_hello(b: bytes) -> dict[str, Any]:
    version = int.from_bytes(b[0:2], "big")
    pos = 34
    pos += 1 + b[pos]
    cipher = int.from_bytes(b[pos : pos + 2], "big")
    pos += 3
    ext = _ext(b, pos)
    if 43 in ext and len(ext[43]) == 2:
        version = int.from_bytes(ext[43], "big")
    alpn = _alpn(ext[16]) if 16 in ext else []
    return {
        "_version": version,
        "version": version_name(version),
        "cipher": CIPHERS.get(cipher, f"0x{cipher:04X}"),
        "alpn": alpn[0] if alpn else "",
    }


def _certificate(b: bytes, at_ns: int) -> dict[str, Any]:
    """The first (leaf) certificate of a TLS ≤ 1.2 Certificate message."""
    from cryptography import x509

    if len(b) < 6:
        return {}
    n = int.from_bytes(b[3:6], "big")
    der = b[6 : 6 + n]
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return {"cert_subject": "unparseable certificate"}
    try:
        san_ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [
            *san_ext.get_values_for_type(x509.DNSName),
            *map(str, san_ext.get_values_for_type(x509.IPAddress)),
        ]
    except x509.ExtensionNotFound:
        sans = []
    not_after = cert.not_valid_after_utc
    seen = dt.datetime.fromtimestamp(at_ns / 1e9, tz=dt.UTC)
    return {
        "cert_subject": cert.subject.rfc4514_string(),
        "cert_issuer": cert.issuer.rfc4514_string(),
        "cert_san": ", ".join(sans),
        "cert_not_after": not_after,
        "cert_expired": not_after < seen or cert.not_valid_before_utc > seen,
    }

"""The certificates a server really sends, read with ``cryptography``: what breaks HTTPS.

:func:`collect` opens one TLS connection per (target, backend) without verifying anything (so a
broken chain can still be read), records the protocol version, cipher and ALPN, and keeps the
chain exactly as sent. :func:`assess` (pure) then answers separately, so each problem gets its own
finding: is it valid now (days left), does a SAN match the SNI, does the chain lead to a trusted
root (the system store or ``ca_bundle``; checked at a moment inside the leaf's validity, so an
expired certificate is not also reported as untrusted), and would the server still talk TLS 1.0/1.1.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import socket
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb import schema
from netdebug_nb.probe import trial

if TYPE_CHECKING:
    import pandas as pd
    from cryptography import x509

    from netdebug_nb.probe.prober import Options
    from netdebug_nb.probe.target import Target

TLS_SCHEMA: schema.Schema = {
    "target": "string",
    "backend": "string",  # address connected to
    "port": "Int64",
    "sni": "string",  # server name sent (<NA>: none, the host is an IP)
    "connected": "boolean",  # the handshake completed (without verification)
    "error": "string",  # why not, as the TLS library said
    "protocol_version": "string",  # TLSv1.3 ...
    "cipher": "string",
    "alpn": "string",  # h2 | http/1.1 | <NA>
    "old_protocol_accepted": "string",  # highest of TLSv1 / TLSv1.1 the server still accepts, "" if none
    "chain_length": "Int64",  # certificates sent
    "subject": "string",  # leaf
    "issuer": "string",
    "sans": "string",  # "DNS:a, DNS:*.b, IP:10.0.0.1"
    "not_before": "datetime64[ns, UTC]",
    "not_after": "datetime64[ns, UTC]",
    "days_left": "Float64",  # negative once expired
    "expired": "boolean",  # outside [not_before, not_after] now
    "name_match": "boolean",  # a SAN matches the SNI (or the IP connected to)
    "trusted": "boolean",  # the chain as sent leads to a trusted root
    "trust_error": "string",  # self-signed | incomplete chain (intermediate not sent) | ...
    "verify_store": "string",  # the CA file used
}

CHAIN_SCHEMA: schema.Schema = {
    "target": "string",
    "backend": "string",
    "position": "Int64",  # 0 = leaf, in the order sent
    "subject": "string",
    "issuer": "string",
    "sans": "string",
    "not_before": "datetime64[ns, UTC]",
    "not_after": "datetime64[ns, UTC]",
    "days_left": "Float64",
    "is_ca": "boolean",
    "self_signed": "boolean",
    "key": "string",  # RSA 2048 | EC secp256r1 | Ed25519
    "signature": "string",  # sha256WithRSAEncryption ...
    "sha256": "string",  # fingerprint
}

OLD_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1")
VERSION_ORDER = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


@dataclass
class Handshake:
    """What one unverified TLS connection showed (the I/O half's result)."""

    target: str
    backend: str
    port: int
    sni: str | None
    error: str = ""
    version: str = ""
    cipher: str = ""
    alpn: str | None = None
    old_accepted: str = ""
    chain_der: list[bytes] = field(default_factory=list)


def _context(alpn: Sequence[str], max_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():  # asking for TLS 1.0/1.1 on purpose: to see if the server allows them
        warnings.simplefilter("ignore", DeprecationWarning)
        try:  # see what the server offers, even what our defaults would refuse
            ctx.set_ciphers("ALL:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
        except (ssl.SSLError, ValueError):
            pass
        if max_version is not None:
            ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def handshake(host: str, port: int, sni: str | None, *, timeout_s: float, alpn: Sequence[str] = ("h2", "http/1.1"),
              target: str = "") -> Handshake:  # fmt: skip
    """Connect to ``host:port`` sending ``sni``; read version, cipher, ALPN and the chain as sent."""
    hs = Handshake(target or f"{host}:{port}", host, port, sni)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout_s) as raw,
            _context(alpn).wrap_socket(raw, server_hostname=sni) as s,
        ):
            hs.backend = str(s.getpeername()[0])  # the address the name led to
            hs.version = s.version() or ""
            cipher = s.cipher()
            hs.cipher = cipher[0] if cipher else ""
            hs.alpn = s.selected_alpn_protocol()
            hs.chain_der = _chain(s)
    except (OSError, ssl.SSLError, ValueError) as exc:
        hs.error = _error_text(exc)
        return hs
    if hs.version not in OLD_VERSIONS:
        for version, name in ((ssl.TLSVersion.TLSv1_1, "TLSv1.1"), (ssl.TLSVersion.TLSv1, "TLSv1")):
            try:
                with (
                    socket.create_connection((host, port), timeout=timeout_s) as raw,
                    _context(alpn, max_version=version).wrap_socket(raw, server_hostname=sni) as s,
                ):
                    hs.old_accepted = s.version() or name
                    break
            except (OSError, ssl.SSLError, ValueError):
                continue
    else:
        hs.old_accepted = hs.version
    return hs


def _chain(s: ssl.SSLSocket) -> list[bytes]:
    public = getattr(s, "get_unverified_chain", None)  # Python >= 3.13
    if public is not None:
        return [bytes(c) for c in public()]
    obj = getattr(s, "_sslobj", None)
    private = getattr(obj, "get_unverified_chain", None)  # 3.10-3.12: the same, not yet public
    if private is not None:
        import _ssl

        return [c.public_bytes(_ssl.ENCODING_DER) for c in private() or []]
    leaf = s.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}" if getattr(exc, "reason", None) else f"TLS: {exc}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset (during the TLS handshake: often not TLS on that port)"
    return str(exc) or type(exc).__name__


def collect(targets: Sequence[Target], options: Options) -> list[Handshake]:
    """One handshake per TLS target and backend (http/tcp targets are skipped), ``concurrency``
    at a time (a silent endpoint costs its timeout once per protocol attempt), in target order."""
    from concurrent.futures import ThreadPoolExecutor

    jobs: dict[tuple[str, str, int], tuple[str | None, tuple[str, ...]]] = {}
    for t in targets:
        if t.protocol not in ("https", "grpcs"):
            continue
        host, port = t.backend or t.host, t.backend_port or t.port
        sni = options.sni or t.host
        alpn = (
            ("h2",)
            if t.protocol == "grpcs"
            else (("h2", "http/1.1") if options.http_version == "2" else ("http/1.1",))
        )
        jobs.setdefault((t.target, host, port), (None if trial.is_ip(sni) else sni, alpn))
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(options.concurrency, len(jobs)))) as pool:
        futures = [
            pool.submit(handshake, host, port, sni, timeout_s=options.timeout_s, alpn=alpn, target=tgt)
            for (tgt, host, port), (sni, alpn) in jobs.items()
        ]
        return [f.result() for f in futures]


# --- pure: what the handshake shows ---------------------------------------------------------------


def load_store(path: str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (ones cryptography cannot read are skipped)."""
    from cryptography import x509

    with open(path, "rb") as fh:
        data = fh.read()
    out = []
    with warnings.catch_warnings():  # old roots with non-positive serials: still usable as anchors
        warnings.simplefilter("ignore")
        for block in re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", data, re.S):
            try:
                out.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return out


def _name(n: x509.Name) -> str:
    return n.rfc4514_string()


def _sans(cert: x509.Certificate) -> list[str]:
    from cryptography import x509

    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out = [f"DNS:{d}" for d in ext.get_values_for_type(x509.DNSName)]
    out += [f"IP:{ip}" for ip in ext.get_values_for_type(x509.IPAddress)]
    return out


def name_matches(name: str, sans: Sequence[str]) -> bool:
    """RFC 6125 matching: exact DNS names, a wildcard in the left-most label only, IPs exactly."""
    if trial.is_ip(name):
        ip = ipaddress.ip_address(name)
        return any(s.startswith("IP:") and ipaddress.ip_address(s[3:]) == ip for s in sans)
    want = name.lower().rstrip(".")
    for s in sans:
        if not s.startswith("DNS:"):
            continue
        pat = s[4:].lower().rstrip(".")
        if pat == want:
            return True
        if (
            pat.startswith("*.")
            and "." in want
            and want.split(".", 1)[1] == pat[2:]
            and want.split(".", 1)[0]
        ):
            return True
    return False


def _key(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    k = cert.public_key()
    if isinstance(k, rsa.RSAPublicKey):
        return f"RSA {k.key_size}"
    if isinstance(k, ec.EllipticCurvePublicKey):
        return f"EC {k.curve.name}"
    if isinstance(k, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(k, ed448.Ed448PublicKey):
        return "Ed448"
    return type(k).__name__


def _is_ca(cert: x509.Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def trust(chain: Sequence[x509.Certificate], store: Sequence[x509.Certificate]) -> str:
    """ "" when ``chain`` (as sent) leads to a root in ``store``; else why not, in words."""
    from cryptography.x509 import DNSName, IPAddress
    from cryptography.x509 import verification as v

    if not chain:
        return "no certificate sent"
    leaf = chain[0]
    if not store:
        return "no trusted CA certificates to verify against"
    sans = _sans(leaf)
    if not sans:
        return "the certificate has no subjectAltName (clients no longer accept CN-only certificates)"
    first = sans[0]
    subject: Any = (
        IPAddress(ipaddress.ip_address(first[3:]))
        if first.startswith("IP:")
        else DNSName(first[4:].lstrip("*."))
    )
    if first.startswith("DNS:*."):
        subject = DNSName("x." + first[6:])
    # a moment when every certificate sent is valid (now if it is one), so expiry stays its own finding
    start = max(c.not_valid_before_utc for c in chain)
    end = min(c.not_valid_after_utc for c in chain)
    now = dt.datetime.now(dt.UTC)
    when = now if start <= now <= end else (start + (end - start) / 2 if start < end else now)
    try:
        verifier = v.PolicyBuilder().store(v.Store(list(store))).time(when).build_server_verifier(subject)
        verifier.verify(leaf, list(chain[1:]))
        return ""
    except v.VerificationError as exc:
        detail = str(exc)
    except ValueError as exc:
        detail = str(exc)
    subjects = {c.subject for c in store}
    last = chain[-1]
    if len(chain) == 1 and leaf.issuer == leaf.subject:
        return "self-signed certificate (not in the trusted store)"
    if (
        last.issuer != last.subject
        and last.issuer not in subjects
        and not any(c.subject == last.issuer for c in chain)
    ):
        sent_ca = any(_is_ca(c) for c in chain[1:])
        if not sent_ca and leaf.issuer not in subjects:
            return f"incomplete chain: the intermediate {_name(leaf.issuer)} was not sent and is not trusted"
        return f"unknown issuer {_name(last.issuer)}"
    if last.issuer == last.subject and last.subject not in subjects:
        return f"chain ends at an untrusted root {_name(last.subject)}"
    return f"verification failed: {detail}"


def assess(
    handshakes: Sequence[Handshake],
    *,
    ca_file: str,
    now: dt.datetime | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one TLS_SCHEMA row per handshake, the chains as CHAIN_SCHEMA rows)."""
    import hashlib

    from cryptography import x509

    now = now or dt.datetime.now(dt.UTC)
    store = load_store(ca_file) if ca_file else []
    rows: list[dict[str, Any]] = []
    chain_rows: list[dict[str, Any]] = []
    for hs in handshakes:
        certs = []
        for der in hs.chain_der:
            try:
                certs.append(x509.load_der_x509_certificate(der))
            except ValueError:
                continue
        row: dict[str, Any] = {c: None for c in TLS_SCHEMA}
        row.update({"target": hs.target, "backend": hs.backend, "port": hs.port, "sni": hs.sni,
                    "connected": not hs.error, "error": hs.error, "protocol_version": hs.version or None,
                    "cipher": hs.cipher or None, "alpn": hs.alpn, "old_protocol_accepted": hs.old_accepted,
                    "chain_length": len(certs), "verify_store": ca_file or None})  # fmt: skip
        if certs:
            leaf = certs[0]
            sans = _sans(leaf)
            left = (leaf.not_valid_after_utc - now).total_seconds() / 86400
            row.update({
                "subject": _name(leaf.subject),
                "issuer": _name(leaf.issuer),
                "sans": ", ".join(sans),
                "not_before": leaf.not_valid_before_utc,
                "not_after": leaf.not_valid_after_utc,
                "days_left": left,
                "expired": not (leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc),
                "name_match": name_matches(hs.sni or hs.backend, sans),
            })  # fmt: skip
            why = trust(certs, store)
            row["trusted"] = not why
            row["trust_error"] = why
            for i, c in enumerate(certs):
                chain_rows.append({
                    "target": hs.target, "backend": hs.backend, "position": i,
                    "subject": _name(c.subject), "issuer": _name(c.issuer), "sans": ", ".join(_sans(c)),
                    "not_before": c.not_valid_before_utc, "not_after": c.not_valid_after_utc,
                    "days_left": (c.not_valid_after_utc - now).total_seconds() / 86400,
                    "is_ca": _is_ca(c), "self_signed": c.issuer == c.subject, "key": _key(c),
                    "signature": getattr(c.signature_algorithm_oid, "_name", str(c.signature_algorithm_oid.dotted_string)),
                    "sha256": hashlib.sha256(c.public_bytes(_der())).hexdigest(),
                })  # fmt: skip
        rows.append(row)
    return schema.frame(rows, TLS_SCHEMA), schema.frame(chain_rows, CHAIN_SCHEMA)


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def read_chain(path: str, *, sni: str | None, target: str = "") -> Handshake:
    """A chain saved as PEM (``openssl s_client -showcerts`` output, or the blocks alone), in the
    order the server sent it: the offline counterpart of :func:`handshake`."""
    from cryptography import x509

    from netdebug_nb import textfile
    from netdebug_nb.errors import InputError

    text = textfile.read(path, "tls_chain")
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)
    if not blocks:
        raise InputError(path, "no PEM certificate (-----BEGIN CERTIFICATE-----) in it")
    hs = Handshake(target or f"saved chain {Path(path).name}", "(saved)", 0, sni)
    m = re.search(r"Protocol\s*:\s*(\S+)", text)
    hs.version = m.group(1) if m else ""
    m = re.search(r"Cipher\s*(?:is|:)\s*(\S+)", text)
    hs.cipher = m.group(1) if m else ""
    try:
        hs.chain_der = [x509.load_pem_x509_certificate(b.encode()).public_bytes(_der()) for b in blocks]
    except ValueError as exc:
        raise InputError(path, f"unreadable certificate: {exc}") from exc
    return hs

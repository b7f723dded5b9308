"""Certificates made for the tests with ``cryptography``: a root CA, an intermediate, and leaves
that are valid, expired, for the wrong name, self-signed, or served without their intermediate.

``pki(dir, names)`` writes PEM files and returns their paths; ``ca.pem`` (the root only) is the
``ca_bundle`` clients verify against, so "untrusted" means exactly "does not chain to it".
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "netdebug tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
    sans: list[str] = (),  # type: ignore[assignment]
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> x509.Certificate:
    iss_name, iss_key = issuer if issuer else (_name(subject), key)
    b = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(iss_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(days=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(iss_key.public_key()), critical=False
        )
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)  # fmt: skip
    else:
        b = b.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False), critical=True)  # fmt: skip
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if sans:
        alt: list[x509.GeneralName] = []
        for s in sans:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(s)))
            except ValueError:
                alt.append(x509.DNSName(s))
        b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return b.sign(iss_key, hashes.SHA256())


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _key_pem(k: ec.EllipticCurvePrivateKey) -> bytes:
    return k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class Leaf:
    chain: Path  # what the server sends (leaf first)
    key: Path


def pki(directory: Path, name: str, ips: list[str] = (), leaf_days: int = 365) -> dict[str, Leaf | Path]:  # type: ignore[assignment]
    """Root and intermediate CA plus one leaf per case; ``["ca"]`` is the root's PEM file."""
    directory.mkdir(parents=True, exist_ok=True)
    root_key, inter_key = _key(), _key()
    root = _cert("netdebug test root", root_key, None, ca=True, not_before=NOW - dt.timedelta(days=800),
                 not_after=NOW + dt.timedelta(days=3650))  # fmt: skip
    inter = _cert("netdebug test intermediate", inter_key, (root.subject, root_key), ca=True,
                  not_before=NOW - dt.timedelta(days=400), not_after=NOW + dt.timedelta(days=3650))  # fmt: skip
    (directory / "ca.pem").write_bytes(_pem(root))
    out: dict[str, Leaf | Path] = {"ca": directory / "ca.pem"}
    issued = (inter.subject, inter_key)
    cases = {
        "valid": (issued, [name, *ips], None, None, True),
        "expiring": (issued, [name, *ips], None, NOW + dt.timedelta(days=5), True),
        "expired": (issued, [name, *ips], NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=2), True),
        "wrongname": (issued, ["other.example.test"], None, None, True),
        "selfsigned": (None, [name, *ips], None, None, False),
        "nointermediate": (issued, [name, *ips], None, None, False),
    }
    for case, (iss, sans, nb, na, send_inter) in cases.items():
        k = _key()
        leaf = _cert(
            name,
            k,
            iss,
            ca=False,
            sans=sans,
            not_before=nb,
            not_after=na or NOW + dt.timedelta(days=leaf_days),
        )
        chain = directory / f"{case}.pem"
        chain.write_bytes(_pem(leaf, inter) if send_inter else _pem(leaf))
        kp = directory / f"{case}.key"
        kp.write_bytes(_key_pem(k))
        out[case] = Leaf(chain, kp)
    return out

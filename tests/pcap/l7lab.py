"""A capture of real HTTP/1.1, gRPC and TLS traffic, recorded in a namespace lab for the L7 tests.

client 198.18.1.2 ── router ── server1 198.18.2.10 running: the HTTP server of ``l7servers.py`` on
8080, its gRPC server on 50051, ``openssl s_server`` on 8443 (TLS 1.2, certificate for web.lab
signed by a test CA), on 9443 (an expired certificate) and on 8444 (TLS 1.1 only).
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys
import time
from pathlib import Path

from lab import Host, Lab, routed

SERVER = "198.18.2.10"
HERE = Path(__file__).parent


def certificates(out: Path) -> dict[str, Path]:
    """A CA, a valid leaf for web.lab and an expired one, as PEM files in ``out``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("netdebug test CA")).issuer_name(name("netdebug test CA"))
        .public_key(ca_key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    files = {"ca": out / "ca.pem"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for label, start, end in (
        ("good", now - dt.timedelta(days=1), now + dt.timedelta(days=30)),
        ("expired", now - dt.timedelta(days=60), now - dt.timedelta(days=2)),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder().subject_name(name("web.lab")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2 if label == "good" else 3)
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("web.lab")]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )  # fmt: skip
        pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        files[label] = out / f"{label}.pem"
        files[label].write_bytes(pem)
    return files


def wait_port(host: Host, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f":{port} " in host.run("ss", "-ltnH").stdout:
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} in {host.name}")


PIPELINED = (
    "GET /delay/50 HTTP/1.1\r\nHost: web.lab\r\n\r\n"
    "GET /status/500 HTTP/1.1\r\nHost: web.lab\r\n\r\n"
    "HEAD /status/200 HTTP/1.1\r\nHost: web.lab\r\n\r\n"
    "GET /last HTTP/1.1\r\nHost: web.lab\r\nConnection: close\r\n\r\n"
)


def record(lab: Lab, out: Path) -> Path:
    """Run every client against the servers while tcpdump records the client's link; the pcap path."""
    h = routed(lab, servers=("server1",))
    client, server = h["client"], h["server1"]
    certs = certificates(out)
    py = sys.executable
    server.spawn(py, str(HERE / "l7servers.py"), "http", "8080")
    server.spawn(py, str(HERE / "l7servers.py"), "grpc", "50051")
    for port, cert, extra in (
        (8443, certs["good"], ["-tls1_2"]),
        (9443, certs["expired"], ["-tls1_2"]),
        (8444, certs["good"], ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]),
    ):
        server.spawn(
            "openssl", "s_server", "-quiet", "-www", "-accept", str(port), "-cert", str(cert), *extra
        )
    for port in (8080, 50051, 8443, 9443, 8444):
        wait_port(server, port)
    pcap = out / "l7.pcap"
    dev = client.run("ip", "-o", "link", "show").stdout.split("\n")[1].split(":")[1].strip().split("@")[0]
    dump = subprocess.Popen(
        client.cmd("tcpdump", "-i", dev, "-s", "0", "--immediate-mode", "-U", "-w", str(pcap), "tcp"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert dump.stderr is not None
    dump.stderr.readline()  # "listening on ..."
    base = f"http://{SERVER}:8080"
    client.run("curl", "-s", "-o", "/dev/null", f"{base}/delay/300", f"{base}/status/503", f"{base}/status/404",
               f"{base}/ok", check=False)  # fmt: skip
    client.run(py, "-c", (
        "import socket,time\n"
        f"s=socket.create_connection(('{SERVER}',8080))\n"
        f"s.sendall({PIPELINED!r}.encode())\n"
        "while s.recv(65536): pass\n"
    ), check=False)  # fmt: skip
    resolve = ["--resolve", f"web.lab:8443:{SERVER}", "--resolve", f"web.lab:9443:{SERVER}"]
    client.run("curl", "-s", "-o", "/dev/null", "--tls-max", "1.2", "--cacert", str(certs["ca"]), *resolve,
               "https://web.lab:8443/", check=False)  # fmt: skip
    client.run(
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "--tls-max",
        "1.2",
        "--capath",
        "/nonexistent",
        "--cacert",
        "/etc/ssl/certs/ca-certificates.crt",
        *resolve,
        "https://web.lab:8443/",
        check=False,
    )  # fmt: skip  (unknown CA: the client sends a fatal alert in the clear)
    client.run("curl", "-s", "-o", "/dev/null", "-k", "--tls-max", "1.2", *resolve, "https://web.lab:9443/",
               check=False)  # fmt: skip
    client.run("openssl", "s_client", "-connect", f"{SERVER}:8444", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0",
               "-servername", "old.lab", input="", check=False, timeout=10)  # fmt: skip
    grpc = [py, str(HERE / "l7servers.py"), "grpc-client", f"{SERVER}:50051"]
    client.run(*grpc, "Ok", "3", check=False)
    client.run(*grpc, "Fail", "2", check=False)
    client.run(*grpc, "Slow", "2", check=False)
    client.run(*grpc, "CancelSlow", "1", check=False)  # the client gives up: RST_STREAM CANCEL
    time.sleep(0.3)
    dump.send_signal(signal.SIGINT)
    dump.wait(timeout=10)
    return pcap


if __name__ == "__main__":  # record a capture by hand: python tests/pcap/l7lab.py OUT_DIR
    with Lab() as lab:
        print(record(lab, Path(sys.argv[1])))

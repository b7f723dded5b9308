"""The one interface every protocol's prober implements, and the options they share.

A prober runs one trial of one target and returns one :data:`~.trial.TRIALS_SCHEMA` row; it
never raises for what the network or the server did (refused, reset, timeout, bad certificate,
NOT_SERVING all become rows). Probers hold per-thread resources (a curl handle), so the schedule
makes one per worker thread (:func:`netdebug_nb.probe.schedule.make`) and closes it at the end.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from netdebug_nb.probe.target import Target

HTTP_VERSIONS = ("1.1", "2")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True)
class Options:
    """What every request looks like. Defaults are what ``curl URL`` does, with a timeout."""

    method: str = "GET"
    headers: tuple[str, ...] = ()  # "Name: value"
    body: str = ""
    expect_status: tuple[str, ...] = ()  # "200", "2xx" ...; empty: any status below 400
    timeout_s: float = 5.0
    trials: int = 10
    concurrency: int = 10
    interval_s: float = 0.0  # between the starts of two trials of one target
    http_version: str = "1.1"  # 1.1 | 2 (ALPN h2 over TLS, prior knowledge in cleartext)
    ca_bundle: str = ""  # PEM file of trusted CAs; "" = the system store
    insecure: bool = False  # do not verify certificates (the TLS inspection still reports them)
    sni: str = ""  # server name to send in TLS (Host header unchanged)
    follow_redirects: bool = False

    def problems(self, protocols: Collection[str] = ()) -> list[str]:
        """One line per unusable option (the probe still runs with the option left out);
        ``protocols`` are those of the targets, for options some protocols cannot honour."""
        out: list[str] = []
        if self.insecure and "grpcs" in protocols:
            out.append("insecure: grpcio always verifies certificates; grpcs:// targets are verified "
                       "(against ca_bundle or the system store) and fail when untrusted")  # fmt: skip
        if self.ca_bundle:
            why = ca_bundle_problem(self.ca_bundle)
            if why:
                out.append(
                    f"ca_bundle {self.ca_bundle}: {why}; certificates are verified against the system store"
                )
        if self.http_version not in HTTP_VERSIONS:
            out.append(f"http_version {self.http_version!r}: expected 1.1 or 2; using 1.1")
        if self.method.upper() not in METHODS:
            out.append(f"method {self.method!r}: sent as given (not one of {', '.join(METHODS)})")
        for h in self.headers:
            if ":" not in h:
                out.append(f"header {h!r}: expected 'Name: value'; not sent")
        return out

    def usable(self) -> Options:
        """These options with the problems of :meth:`problems` removed."""
        from dataclasses import replace

        return replace(
            self,
            ca_bundle="" if self.ca_bundle and ca_bundle_problem(self.ca_bundle) else self.ca_bundle,
            http_version=self.http_version if self.http_version in HTTP_VERSIONS else "1.1",
            headers=tuple(h for h in self.headers if ":" in h),
            trials=max(1, int(self.trials)),
            concurrency=max(1, int(self.concurrency)),
        )


def ca_bundle_problem(path: str) -> str:
    """Why ``path`` cannot serve as a CA bundle ("" when it can)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
    except FileNotFoundError:
        return "no such file"
    except IsADirectoryError:
        return "is a directory"
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if b"-----BEGIN CERTIFICATE-----" not in head:
        return "no PEM certificate in it"
    return ""


def parse_expected(values: Sequence[Any]) -> tuple[str, ...]:
    return tuple(str(v).strip() for v in values if str(v).strip())


class Prober(Protocol):
    """One trial of one target → one row; nothing the network does raises."""

    def trial(self, target: Target, n: int) -> dict[str, Any]: ...

    def close(self) -> None: ...


def system_ca_file() -> str:
    """The system CA bundle OpenSSL uses ("" when there is none)."""
    import ssl

    paths = ssl.get_default_verify_paths()
    for p in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if p and Path(p).is_file():
            return p
    return ""

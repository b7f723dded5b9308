"""TCP connect trials: libcurl connects and stops (CONNECT_ONLY), so the timers are curl's too.

Refused (an RST came back: nothing listens, or a REJECT rule) and timed out (SYNs dropped: a
firewall DROP, a black-holed route) are told apart here; they point at different culprits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netdebug_nb.probe import trial
from netdebug_nb.probe.http import _bracket, curl_info, perform
from netdebug_nb.probe.prober import Options

if TYPE_CHECKING:
    from netdebug_nb.probe.target import Target


class TcpProber:
    def __init__(self, options: Options) -> None:
        self.o = options

    def close(self) -> None:
        pass

    def trial(self, t: Target, n: int) -> dict[str, Any]:
        import pycurl

        # a handle per trial: a CONNECT_ONLY connection stays open in its handle until closed
        c = pycurl.Curl()
        try:
            return self._trial(c, t, n)
        finally:
            c.close()

    def _trial(self, c: Any, t: Target, n: int) -> dict[str, Any]:
        import pycurl

        host = t.backend or t.host
        port = t.backend_port or t.port
        c.setopt(pycurl.URL, f"http://{_bracket(host)}:{port}/")
        c.setopt(pycurl.CONNECT_ONLY, 1)
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.FRESH_CONNECT, 1)
        c.setopt(pycurl.FORBID_REUSE, 1)
        c.setopt(pycurl.DNS_CACHE_TIMEOUT, 0)
        c.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(self.o.timeout_s * 1000)))
        c.setopt(pycurl.TIMEOUT_MS, max(1, int(self.o.timeout_s * 1000)))
        ts, code, message = perform(c)
        info = curl_info(c)
        info["status"] = 0
        info["http_version"] = "0"
        info["url_effective"] = f"tcp://{_bracket(host)}:{port}"
        return trial.row(**info, **trial.for_target(t, n, ts), exitcode=code, message=message,
                         ip_host=trial.is_ip(host))  # fmt: skip

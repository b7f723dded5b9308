"""What the analysis of a capture (set) is: :class:`Tables`, whichever way it was made.

:mod:`netdebug_nb.pcap.tables` makes it from one packet table in memory,
:mod:`netdebug_nb.pcap.partition` flow bucket by flow bucket, :mod:`netdebug_nb.pcap.dataset`
from an export; this module is below all three so that none imports another for the type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from netdebug_nb.pcap.application import Application
    from netdebug_nb.pcap.dns import Summary
    from netdebug_nb.pcap.tcp import Analysis

Progress = Callable[[str, int, int, int, float], None]  # (stage, done, of, packets, seconds)


@dataclass(frozen=True)
class Tables:
    """The analysis of a capture (set); each field has the schema of the function named."""

    files: pd.DataFrame  # captureset.files
    overview: pd.DataFrame  # summary.overview
    protocols: pd.DataFrame  # summary.protocols
    talkers: pd.DataFrame  # summary.talkers, every address
    conversations: pd.DataFrame  # conversations.summarize
    tcp: Analysis  # tcp.analyze: health, events, rtt
    dns_messages: pd.DataFrame  # dns.read (by flow buckets: only the malformed ones, see dns_summary)
    dns_transactions: pd.DataFrame  # dns.transactions (by flow buckets: only the unanswered and errors)
    icmp_errors: pd.DataFrame  # icmp.errors
    iograph: pd.DataFrame  # iograph.bins
    application: Application  # application.read: HTTP, HTTP/2, TLS of the L7 flows
    # the packet table and its flows.label, for analyses of packets: empty (the default) when the
    # set was analysed by flow buckets or read from an export (never all in memory)
    packets: pd.DataFrame = field(default_factory=lambda: _empty("packets"))
    labels: pd.DataFrame = field(default_factory=lambda: _empty("labels"))
    # what the DNS findings need of every query (dns.summary), when the two DNS tables above do not
    # hold every row: a set analysed by flow buckets, or an export whose DNS tables are too big to
    # read whole, keeps only the problems there. None (the default): the tables are whole,
    # dns.summary makes it from them
    dns_summary: Summary | None = None

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every table by name (the TCP analysis as ``tcp_health``, ``tcp_events``, ``tcp_rtt``, the
        application's as ``http``, ``http2_streams``, ``http2_events``, ``tls``)."""
        out: dict[str, pd.DataFrame] = {}
        for f in fields(self):
            if f.name in ("packets", "labels", "dns_summary"):
                continue
            value = getattr(self, f.name)
            if f.name == "tcp":
                out |= {"tcp_health": value.health, "tcp_events": value.events, "tcp_rtt": value.rtt}
            elif f.name == "application":
                out |= value.tables()
            else:
                out[f.name] = value
        return out


def _empty(table: str) -> pd.DataFrame:
    """The empty packet table, or its empty labels (for tables made without holding the packets)."""
    from netdebug_nb.pcap.flows import LABELS_SCHEMA
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA
    from netdebug_nb.schema import empty

    return empty(PACKETS_SCHEMA if table == "packets" else LABELS_SCHEMA)

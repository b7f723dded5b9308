"""Every table of the pcap report, from one packet table held in memory (the one-shot analysis).

:func:`netdebug_nb.pcap.partition.analyze` computes the same :class:`Tables` for a capture set
bigger than memory, flow bucket by flow bucket; the tests hold the two equal table by table.
The notebook shows these tables; ``pcap export`` writes them next to the packets as Parquet.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

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
    dns_messages: pd.DataFrame  # dns.read
    dns_transactions: pd.DataFrame  # dns.transactions
    icmp_errors: pd.DataFrame  # icmp.errors
    iograph: pd.DataFrame  # iograph.bins
    # the packet table and its flows.label, for analyses that need packets (HTTP/TLS): empty when
    # the set was analysed by flow buckets or read from an export (never all in memory)
    packets: pd.DataFrame
    labels: pd.DataFrame

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every table by name (the TCP analysis as ``tcp_health``, ``tcp_events``, ``tcp_rtt``)."""
        out: dict[str, pd.DataFrame] = {}
        for f in fields(self):
            if f.name in ("packets", "labels"):
                continue
            value = getattr(self, f.name)
            if f.name == "tcp":
                out |= {"tcp_health": value.health, "tcp_events": value.events, "tcp_rtt": value.rtt}
            else:
                out[f.name] = value
        return out


def analyze(packets: pd.DataFrame, *, io_interval_s: float = 1.0, io_top_flows: int = 5) -> Tables:
    """All tables of ``packets`` (a packet table, e.g. from :func:`captureset.read`)."""
    from netdebug_nb.pcap import captureset, conversations, dns, flows, icmp, iograph, summary, tcp

    labels = flows.label(packets)
    messages = dns.read(None, packets)
    convs = conversations.summarize(packets, labels)
    tally = [summary.tally(packets)]
    return Tables(
        files=captureset.files(packets),
        overview=summary.overview_of(tally),
        protocols=summary.protocols_of(tally),
        talkers=summary.talkers_of(tally),
        conversations=convs,
        tcp=tcp.analyze(packets, labels),
        dns_messages=messages,
        dns_transactions=dns.transactions(messages),
        icmp_errors=icmp.errors(packets),
        iograph=iograph.bins(
            packets, labels, interval_s=io_interval_s, top_n=io_top_flows, conversations_table=convs
        ),
        packets=packets,
        labels=labels,
    )


# resident bytes of the one-shot analysis per byte of (uncompressed) capture, measured on the
# bench capture (~830 MB for a 510 MB file); gzip captures are counted at 4x their size
_MEMORY_PER_CAPTURE_BYTE = 1.7


def load(
    paths: Sequence[Path],
    *,
    memory_mb: int = 2048,
    io_interval_s: float = 1.0,
    io_top_flows: int = 5,
    progress: Progress | None = None,
) -> Tables:
    """The tables of what the notebook was given: an export, or capture files.

    An export's tables are read as they are. Captures that fit in ``memory_mb`` are read into
    one packet table and analysed at once; bigger sets go through
    :func:`netdebug_nb.pcap.partition.analyze`, which gives the same tables within the budget.
    """
    from netdebug_nb.pcap import captureset, dataset, partition

    if len(paths) == 1 and dataset.is_dataset(paths[0]):
        return dataset.read_tables(paths[0])
    size = sum(p.stat().st_size * (4 if captureset.is_gzip(p) else 1) for p in paths)
    if size * _MEMORY_PER_CAPTURE_BYTE <= memory_mb * (1 << 20):
        packets = captureset.read(
            list(paths), progress=(lambda d, n, _p, k, s: progress("read", d, n, k, s)) if progress else None
        )
        return analyze(packets, io_interval_s=io_interval_s, io_top_flows=io_top_flows)
    return partition.analyze(
        list(paths),
        memory_mb=memory_mb,
        io_interval_s=io_interval_s,
        io_top_flows=io_top_flows,
        progress=progress,
    )


def no_packets() -> tuple[pd.DataFrame, pd.DataFrame]:
    """An empty packet table and its empty labels (for tables made without holding the packets)."""
    from netdebug_nb.pcap.flows import LABELS_SCHEMA
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA
    from netdebug_nb.schema import empty

    return empty(PACKETS_SCHEMA), empty(LABELS_SCHEMA)


def empty_tables() -> Tables:
    """The tables of no capture at all (every one empty, with its schema)."""
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA
    from netdebug_nb.schema import empty

    return analyze(empty(PACKETS_SCHEMA))

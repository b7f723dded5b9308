"""Every table of the pcap report, from one packet table held in memory (the one-shot analysis).

:func:`netdebug_nb.pcap.partition.analyze` computes the same :class:`Tables` for a capture set
bigger than memory, flow bucket by flow bucket; the tests hold the two equal table by table.
The notebook shows these tables; ``pcap export`` writes them next to the packets as Parquet.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from netdebug_nb.pcap.results import Progress, Tables

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Progress", "Tables", "analyze", "empty_tables", "load"]


def analyze(
    packets: pd.DataFrame,
    *,
    io_interval_s: float = 1.0,
    io_top_flows: int = 5,
    l7_ports: Sequence[int] = (),
) -> Tables:
    """All tables of ``packets`` (a packet table, e.g. from :func:`captureset.read`).

    The L7 tables need the payloads of the candidate flows: they are read from the capture files
    the table's ``attrs`` name (none without them). ``l7_ports``: see :func:`application.read`.
    """
    from netdebug_nb.pcap import (
        application,
        captureset,
        conversations,
        dns,
        flows,
        icmp,
        iograph,
        summary,
        tcp,
    )

    labels = flows.label(packets)
    messages = dns.read(None, packets)
    convs = conversations.summarize(packets, labels)
    tally = [summary.tally(packets)]
    tcp_analysis = tcp.analyze(packets, labels)
    source = packets.attrs.get("path") or (packets.attrs.get("files") or [""])[0]
    return Tables(
        files=captureset.files(packets),
        overview=summary.overview_of(tally),
        protocols=summary.protocols_of(tally),
        talkers=summary.talkers_of(tally),
        conversations=convs,
        tcp=tcp_analysis,
        dns_messages=messages,
        dns_transactions=dns.transactions(messages),
        icmp_errors=icmp.errors(packets),
        iograph=iograph.bins(
            packets, labels, interval_s=io_interval_s, top_n=io_top_flows, conversations_table=convs
        ),
        application=application.read(source, packets, labels, tcp_analysis.health, ports=l7_ports),
        packets=packets,
        labels=labels,
    )


# resident bytes of the one-shot analysis per byte of (uncompressed) capture, measured on the
# bench capture (~830 MB for a 510 MB file); gzip captures are counted at 4x their size
_MEMORY_PER_CAPTURE_BYTE = 1.7
_MEMORY_PER_PACKET = 700  # the same per packet (~830 MB for 1M packets less the interpreter)


def load(
    paths: Sequence[Path],
    *,
    memory_mb: int = 2048,
    io_interval_s: float = 1.0,
    io_top_flows: int = 5,
    l7_ports: Sequence[int] = (),
    progress: Progress | None = None,
) -> Tables:
    """The tables of what the notebook was given: an export, or capture files.

    An export's tables are read as they are (its L7 tables were made at export time; a note
    says so when they were made for other ``l7_ports``; DNS tables too big for ``memory_mb`` are
    summarized: :func:`dataset.read_tables`). Captures that fit in ``memory_mb`` are
    read into one packet table and analysed at once; bigger sets go through
    :func:`netdebug_nb.pcap.partition.analyze`, which gives the same tables within the budget.
    Running out of memory is a :class:`netdebug_nb.errors.MemoryBudgetError` (one line).
    """
    from netdebug_nb.errors import MemoryBudgetError
    from netdebug_nb.pcap import captureset, dataset, partition

    if len(paths) == 1 and dataset.is_dataset(paths[0]):
        return dataset.read_tables(paths[0], l7_ports=l7_ports, memory_mb=memory_mb)
    size = sum(p.stat().st_size * (4 if captureset.is_gzip(p) else 1) for p in paths)
    need = size * _MEMORY_PER_CAPTURE_BYTE
    if need <= memory_mb * (1 << 20):  # many small packets take more than their bytes say
        need = max(need, partition.packets_in(list(paths)) * _MEMORY_PER_PACKET)
    if need > memory_mb * (1 << 20):
        return partition.analyze(
            list(paths),
            memory_mb=memory_mb,
            io_interval_s=io_interval_s,
            io_top_flows=io_top_flows,
            l7_ports=l7_ports,
            progress=progress,
        )
    try:
        packets = captureset.read(
            list(paths), progress=(lambda d, n, _p, k, s: progress("read", d, n, k, s)) if progress else None
        )
        return analyze(packets, io_interval_s=io_interval_s, io_top_flows=io_top_flows, l7_ports=l7_ports)
    except MemoryError as exc:
        raise MemoryBudgetError(
            paths,
            memory_mb,
            round(need / (1 << 20)),
            ran_out=True,
            hint="set memory_mb to what this machine or container may use: bigger sets are then "
            "analysed in flow buckets",
        ) from exc


def empty_tables() -> Tables:
    """The tables of no capture at all (every one empty, with its schema)."""
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA
    from netdebug_nb.schema import empty

    return analyze(empty(PACKETS_SCHEMA))

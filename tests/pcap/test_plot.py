"""Figures are built for real data and for empty tables (a quiet capture must not break the notebook)."""

from __future__ import annotations

from netdebug_nb.catalogue import DATA_DIR
from netdebug_nb.pcap import dns, iograph, plot, reader, tcp
from netdebug_nb.schema import empty

SAMPLE = DATA_DIR / "pcap" / "sample.pcap"


def test_figures_of_the_sample() -> None:
    packets = reader.read(SAMPLE)
    a = tcp.analyze(packets)
    io = plot.iograph(iograph.bins(packets, top_n=3))
    assert len(io.axes[0].lines) == 4  # all + 3 flows
    timeline = plot.tcp_timeline(a.rtt, a.events)
    labels = [t.get_text() for t in timeline.axes[1].get_yticklabels()]
    assert "retransmission (5)" in labels and "reset (2)" in labels
    hist = plot.dns_latency(dns.transactions(dns.read(SAMPLE, packets)))
    assert "18 answered" in hist.axes[0].get_title()


def test_figures_of_empty_tables_say_so() -> None:
    texts = [
        t.get_text()
        for fig in (
            plot.iograph(empty(iograph.IOGRAPH_SCHEMA)),
            plot.tcp_timeline(empty(tcp.RTT_SCHEMA), empty(tcp.EVENTS_SCHEMA)),
            plot.dns_latency(empty(dns.TRANSACTIONS_SCHEMA)),
        )
        for ax in fig.axes
        for t in ax.texts
    ]
    assert texts == ["no packets", "no RTT samples", "no TCP events", "no answered DNS queries"]

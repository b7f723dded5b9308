"""Figures are built for real data and for empty tables (a quiet capture must not break the notebook)."""

from __future__ import annotations

from netdebug_nb.catalogue import DATA_DIR
from netdebug_nb.guidance import Note
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
    tx = dns.transactions(dns.read(SAMPLE, packets))
    hist = plot.dns_latency(dns.summarize(tx, empty(dns.MESSAGES_SCHEMA)).latency_ms)
    assert "18 answered" in hist.axes[0].get_title()
    # counted per bin before drawing: the same bars as drawing every latency
    import matplotlib.pyplot as plt

    bars = hist.axes[0].patches
    edges = [p.get_x() for p in bars] + [bars[-1].get_x() + bars[-1].get_width()]
    lat = tx.loc[tx["answered"].astype(bool), "latency_ms"].astype(float)
    _, ax = plt.subplots()
    counts, _, _ = ax.hist(lat[lat > 0], bins=edges)
    plt.close(ax.figure)
    assert [p.get_height() for p in bars] == counts.tolist() and sum(counts) > 10


def test_empty_tables_give_a_one_line_note_not_empty_axes() -> None:
    notes = [
        plot.iograph(empty(iograph.IOGRAPH_SCHEMA)),
        plot.tcp_timeline(empty(tcp.RTT_SCHEMA), empty(tcp.EVENTS_SCHEMA)),
        plot.dns_latency([]),
    ]
    assert all(isinstance(n, Note) for n in notes)
    assert [repr(n) for n in notes] == [
        "no packets — nothing to draw",
        "no TCP round trips or events — nothing to draw",
        "no answered DNS queries — nothing to draw",
    ]
    assert "netdebug-note" in notes[0]._repr_html_()


def test_a_half_empty_timeline_still_draws_the_half_it_has() -> None:
    a = tcp.analyze(reader.read(SAMPLE))
    fig = plot.tcp_timeline(empty(tcp.RTT_SCHEMA), a.events)
    assert not isinstance(fig, Note)
    assert [t.get_text() for t in fig.axes[0].texts] == ["no RTT samples"]

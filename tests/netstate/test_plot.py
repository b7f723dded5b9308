from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pandas as pd

from netdebug_nb.netstate import interfaces, plot, throughput


def test_throughput_series(fixtures: Path) -> None:
    tcp, _ = throughput.parse((fixtures / "netstate/iperf3-tcp.json").read_text())
    udp, _ = throughput.parse((fixtures / "netstate/iperf3-udp.json").read_text())
    fig = plot.throughput(pd.concat([tcp, udp], ignore_index=True))
    assert len(fig.axes) == 2  # Mbit/s and TCP retransmits
    assert plot.throughput(tcp.iloc[0:0]) is None


def test_interface_counters_only_when_any(fixtures: Path) -> None:
    df = interfaces.parse((fixtures / "netstate/router/ip-link.json").read_text())
    assert plot.interface_counters(df) is None
    df.loc[df["ifname"] == "br0", "rx_dropped"] = 40
    fig = plot.interface_counters(df)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["br0"]

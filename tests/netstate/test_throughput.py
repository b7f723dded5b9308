from __future__ import annotations

from pathlib import Path

import pytest

from netdebug_nb import schema
from netdebug_nb.errors import ParseError
from netdebug_nb.netstate import throughput


def test_tcp(fixtures: Path) -> None:
    iv, summ = throughput.parse((fixtures / "netstate/iperf3-tcp.json").read_text())
    schema.check(iv, throughput.INTERVAL_SCHEMA)
    schema.check(summ, throughput.SUMMARY_SCHEMA)
    assert len(iv) == 2 and set(iv["test"]) == {"tcp"} and iv["retransmits"].notna().all()
    s = summ.iloc[0]
    assert (s["streams"], s["server"], s["error"]) == (2, "198.18.1.1", "")
    assert s["received_mbps"] > 1000 and s["retransmits"] == 4337


def test_udp(fixtures: Path) -> None:
    iv, summ = throughput.parse((fixtures / "netstate/iperf3-udp.json").read_text())
    assert set(iv["test"]) == {"udp"} and iv["packets"].notna().all() and iv["retransmits"].isna().all()
    s = summ.iloc[0]
    assert s["lost_packets"] == 0 and s["packets"] == 927 and s["jitter_ms"] > 0
    assert s["received_mbps"] == pytest.approx(9.99, abs=0.02)


def test_error(fixtures: Path) -> None:
    iv, summ = throughput.parse((fixtures / "netstate/iperf3-error.json").read_text())
    assert iv.empty and "unable to connect" in summ.iloc[0]["error"]


def test_not_iperf() -> None:
    with pytest.raises(ParseError):
        throughput.parse('{"hello": 1}', "x.json")


def test_argv() -> None:
    assert throughput.argv("10.0.0.1", 5, udp=True, rate="50M")[-3:] == ["-u", "-b", "50M"]
    assert "-P" in throughput.argv("10.0.0.1", 5, parallel=4)

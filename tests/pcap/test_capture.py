"""Live capture in a namespace lab: tcpdump bounded by time/packets, read back by the fast reader."""

from __future__ import annotations

import pytest
from lab import Lab

from netdebug_nb.errors import ParameterTypeError, ToolFailedError
from netdebug_nb.pcap.capture import capture, read_live

pytestmark = pytest.mark.lab


def test_capture_ping_in_namespace_and_read_it_back(lab: Lab, tmp_path: object) -> None:
    a = lab.host("a")
    b = lab.host("b")
    lab.link(a, "198.18.7.1/24", b, "198.18.7.2/24")
    a.spawn("ping", "-c", "20", "-i", "0.2", "198.18.7.2")
    df = read_live(interface="any", bpf="icmp", seconds=8, packets=8, prefix=a.cmd())
    assert len(df) == 8  # the packet bound ended the capture, not the time bound
    assert set(df["linktype"]) <= {113, 276}  # -i any writes Linux cooked frames (SLL2 since tcpdump 4.99)
    assert set(df["icmp_type"]) == {0, 8}
    req = df[df["icmp_type"] == 8]
    assert set(req["src"].astype(str)) == {"198.18.7.1"} and set(req["dst"].astype(str)) == {"198.18.7.2"}
    assert df["ts"].is_monotonic_increasing


def test_time_bound_ends_a_quiet_capture(lab: Lab) -> None:
    a = lab.host("quiet")
    path = capture(interface="lo", bpf="udp port 9", seconds=1.0, packets=100, prefix=a.cmd())
    assert path.exists()
    df = read_live(interface="lo", bpf="udp port 9", seconds=0.5, prefix=a.cmd())
    assert len(df) == 0 and df.attrs["warnings"] == []


def test_bad_interface_is_a_tool_error(lab: Lab) -> None:
    a = lab.host("noif")
    with pytest.raises(ToolFailedError, match="tcpdump: exited with status"):
        capture(interface="nosuchif0", seconds=2, prefix=a.cmd())


def test_bounds_are_checked() -> None:
    with pytest.raises(ParameterTypeError, match="seconds"):
        capture(seconds=0)
    with pytest.raises(ParameterTypeError, match="packets"):
        capture(packets=0)

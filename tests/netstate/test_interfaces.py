from __future__ import annotations

from pathlib import Path

from netdebug_nb import schema
from netdebug_nb.netstate import interfaces


def test_links_with_addresses(fixtures: Path) -> None:
    d = fixtures / "netstate/router"
    addrs = interfaces.parse_addrs((d / "ip-addr.json").read_text())
    schema.check(addrs, interfaces.ADDR_SCHEMA)
    df = interfaces.parse((d / "ip-link.json").read_text(), addrs)
    schema.check(df, interfaces.IFACE_SCHEMA)
    by = df.set_index("ifname")
    assert by.loc["br0", "mtu"] == 1400 and by.loc["v0router", "mtu"] == 1500
    assert "198.18.2.1/24" in by.loc["br0", "addresses"]
    port = df[df["master"] == "br0"]
    assert len(port) == 1 and port.iloc[0]["mtu"] == 1400
    assert bool(by.loc["lo", "up"]) and by.loc["v0router", "rx_packets"] > 0
    assert by.loc["v0router", "rx_errors"] == 0


def test_counters_from_stats64() -> None:
    text = (
        '[{"ifindex":2,"ifname":"eth0","flags":["BROADCAST","UP"],"mtu":9001,"operstate":"DOWN","link_type":"ether",'
        '"stats64":{"rx":{"bytes":10,"packets":1000,"errors":7,"dropped":40,"over_errors":3,"missed_errors":2,"crc_errors":7},'
        '"tx":{"bytes":5,"packets":500,"errors":1,"dropped":0,"carrier_errors":1,"collisions":0}}}]'
    )
    r = interfaces.parse(text).iloc[0]
    assert (r["rx_errors"], r["tx_errors"], r["rx_dropped"], r["rx_over_errors"], r["rx_missed_errors"]) == (
        7,
        1,
        40,
        3,
        2,
    )
    assert bool(r["up"]) and not bool(r["lower_up"]) and r["operstate"] == "DOWN"

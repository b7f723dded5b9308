from __future__ import annotations

from pathlib import Path

import pytest

from netdebug_nb import schema
from netdebug_nb.errors import ParseError
from netdebug_nb.netstate import firewall


def test_iptables_nft_save_with_counters(fixtures: Path) -> None:
    text = (fixtures / "netstate/router/iptables-save.txt").read_text()
    assert firewall.backend_of(text) == "iptables-nft"
    df = firewall.parse_iptables_save(text)
    schema.check(df, firewall.RULE_SCHEMA)
    rules = df[df["kind"] == "rule"]
    assert list(rules["chain"]) == ["FORWARD", "FORWARD"] and list(rules["index"]) == [1, 2]
    drop9001 = rules[rules["rule"].str.contains("--dport 9001")].iloc[0]
    assert drop9001["target"] == "DROP" and drop9001["packets"] >= 2 and drop9001["table"] == "filter"
    assert set(df[df["kind"] == "policy"]["chain"]) == {"INPUT", "FORWARD", "OUTPUT"}


def test_nft_json_and_dedupe(fixtures: Path) -> None:
    d = fixtures / "netstate/router"
    nft = firewall.parse_nft((d / "nft.json").read_text())
    schema.check(nft, firewall.RULE_SCHEMA)
    r = nft[(nft["kind"] == "rule") & nft["rule"].str.contains("9001")].iloc[0]
    assert r["target"] == "DROP" and r["family"] == "ipv4" and r["rule"].startswith("tcp dport == 9001")
    ipt = firewall.parse_iptables_save((d / "iptables-save.txt").read_text())
    both = firewall.combine(ipt, nft)
    assert set(both["backend"]) == {"iptables-nft"}  # the same rules, kept once
    hits = firewall.drop_hits(both)
    assert len(hits) == 2 and hits.iloc[0]["packets"] >= hits.iloc[1]["packets"]


def test_native_nft_table_kept() -> None:
    text = (
        '{"nftables": [{"chain": {"family": "inet", "table": "fw", "name": "input", "handle": 1, "type": "filter",'
        ' "hook": "input", "prio": 0, "policy": "drop"}}, {"rule": {"family": "inet", "table": "fw", "chain": "input",'
        ' "handle": 4, "comment": "block db", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},'
        ' "right": {"set": [5432, 3306]}}}, {"counter": {"packets": 9, "bytes": 540}}, {"reject": null}]}}]}'
    )
    df = firewall.parse_nft(text)
    rule = df[df["kind"] == "rule"].iloc[0]
    assert (rule["target"], rule["packets"], rule["comment"]) == ("REJECT", 9, "block db")
    assert "5432, 3306" in rule["rule"]
    assert df[df["kind"] == "policy"].iloc[0]["target"] == "DROP"
    ch = firewall.chains(df)
    schema.check(ch, firewall.CHAIN_SCHEMA)
    assert (ch.iloc[0]["policy"], ch.iloc[0]["drop_rules"], ch.iloc[0]["drop_packets"]) == ("DROP", 1, 9)


def test_legacy_policy_drop_hits(fixtures: Path) -> None:
    df = firewall.parse_iptables_save((fixtures / "netstate/iptables-save-kube.txt").read_text())
    assert set(df["backend"]) == {"iptables-legacy"}
    hits = firewall.drop_hits(df)
    assert ("FORWARD", "policy") in set(zip(hits["chain"], hits["kind"], strict=True))
    reject = hits[hits["target"] == "REJECT"].iloc[0]
    assert reject["comment"] == "shop/cart:http has no endpoints" and reject["packets"] == 14


def test_garbage_names_line() -> None:
    with pytest.raises(ParseError) as exc:
        firewall.parse_iptables_save("*filter\n:INPUT ACCEPT [0:0]\nhello world\n", "iptables-save.txt")
    assert exc.value.line == 3
    with pytest.raises(ParseError) as exc2:
        firewall.parse_nft('{"nftables": [\n{"table": \n', "nft.json")
    assert exc2.value.line == 3

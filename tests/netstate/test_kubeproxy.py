from __future__ import annotations

from pathlib import Path

import pytest

from netdebug_nb import schema
from netdebug_nb.errors import ParseError
from netdebug_nb.netstate import firewall, kubeproxy


def test_iptables_mode(fixtures: Path) -> None:
    rules = firewall.parse_iptables_save((fixtures / "netstate/iptables-save-kube.txt").read_text())
    svc = kubeproxy.from_iptables(rules)
    schema.check(svc, kubeproxy.SERVICE_SCHEMA)
    by = {r.service: r for r in svc.itertuples(index=False)}
    assert (
        by["default/kubernetes:https"].endpoints == 1
        and by["default/kubernetes:https"].address == "10.96.0.1"
    )
    assert by["kube-system/kube-dns:dns"].endpoints == 2 and by["kube-system/kube-dns:dns"].proto == "udp"
    cart = by["shop/cart:http"]
    assert cart.no_endpoints and cart.reject_packets == 14 and cart.port == 80


def test_ipvs_mode(fixtures: Path) -> None:
    ipvs = kubeproxy.parse_ipvsadm((fixtures / "netstate/ipvsadm.txt").read_text())
    schema.check(ipvs, kubeproxy.IPVS_SCHEMA)
    assert len(ipvs) == 4
    svc = kubeproxy.from_ipvs(ipvs)
    by = {(r.address, r.port): r for r in svc.itertuples(index=False)}
    assert by[("10.96.0.10", 53)].endpoints == 2 and by[("10.96.44.7", 80)].no_endpoints


def test_no_kube_chains(fixtures: Path) -> None:
    rules = firewall.parse_iptables_save((fixtures / "netstate/router/iptables-save.txt").read_text())
    assert kubeproxy.from_iptables(rules).empty
    assert kubeproxy.parse_ipvsadm("").empty


def test_bad_ipvsadm_line() -> None:
    with pytest.raises(ParseError) as exc:
        kubeproxy.parse_ipvsadm("IP Virtual Server version 1.2.1 (size=4096)\nnonsense here\n", "ipvsadm.txt")
    assert exc.value.line == 2

"""What "inconclusive" means for each notebook: asked to measure, measured nothing, and says why.

Each case runs the shipped notebook's cells in-process (:mod:`inprocess`) on inputs that leave it
nothing to judge; the run must end with an inconclusive finding naming the reason, and no all-clear.
(latency with a failing fping runs end-to-end in ``test_cli.py``.)
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import inprocess

from netdebug_nb import findings
from netdebug_nb.catalogue import DATA_DIR


def _inconclusive(outcome: inprocess.Outcome) -> dict[str, findings.Finding]:
    assert outcome.error is None, f"cell {outcome.cell}: {outcome.error!r}"
    assert findings.status(outcome.found) == "inconclusive"
    assert not [f.id for f in outcome.found if f.id.endswith(".ok")]
    return {f.id: f for f in outcome.found if f.inconclusive}


def _empty_pcap(path: Path) -> str:
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))  # header, no packet
    return str(path)


def test_netstate_when_ip_gave_nothing(tmp_path: Path) -> None:
    """A host without iproute2 (or where it was not permitted): only the sockets could be read.

    (The live path cannot lose ``ip`` here: tools are also looked up in /sbin and /usr/sbin.)
    """
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "ss-tulpn.txt").write_text((DATA_DIR / "netstate" / "snapshot" / "ss-tulpn.txt").read_text())
    got = _inconclusive(inprocess.execute("netstate", {"snapshot_dir": str(snap)}))
    assert list(got) == ["netstate.no_data"]
    assert got["netstate.no_data"].evidence["files_read"] == ["ss-tulpn.txt"]


def test_pcap_analysis_with_a_capture_that_holds_no_packet(tmp_path: Path) -> None:
    got = _inconclusive(
        inprocess.execute("pcap_analysis", {"pcap": _empty_pcap(tmp_path / "e.pcap"), "kubernetes": False})
    )
    assert list(got) == ["capture.empty"]


def test_pcap_analysis_with_nothing_given() -> None:
    got = _inconclusive(inprocess.execute("pcap_analysis", {"kubernetes": False}))
    assert list(got) == ["capture.none"]


def test_dns_trace_with_a_capture_without_dns(tmp_path: Path) -> None:
    values = {
        "pcap": _empty_pcap(tmp_path / "e.pcap"),
        "resolv_conf": str(DATA_DIR / "dns" / "resolv.conf"),
        "names": ["api.example.com"],
        "kubernetes": False,
    }
    got = _inconclusive(inprocess.execute("dns_trace", values))
    assert list(got) == ["dns.capture"] and got["dns.capture"].title == "the capture holds no DNS query"


def test_dns_trace_with_no_nameserver_to_ask(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search example.internal\n")  # no nameserver line: nothing can be asked
    values = {
        "resolv_conf": str(conf),
        "names": ["api.example.com"],
        "kubernetes": False,
        "compare_servers": False,
    }
    got = _inconclusive(inprocess.execute("dns_trace", values))
    assert "dns.no_queries" in got or "dns.no_nameserver" in got, list(got)


def test_fleet_mesh_with_a_fleet_dir_that_has_no_results(tmp_path: Path) -> None:
    nodes = [{"node": "n1", "dir": "n1", "state": "failed", "reason": "ImagePullBackOff"}]
    (tmp_path / "fleet.json").write_text(json.dumps({"run_id": "r", "notebook": "latency", "nodes": nodes}))
    got = _inconclusive(inprocess.execute("fleet_mesh", {"fleet_dir": str(tmp_path)}))
    assert "mesh.nothing_merged" in got and got["mesh.nothing_merged"].evidence == {"nodes": {"n1": "failed"}}


def test_latency_with_nothing_to_measure() -> None:
    got = _inconclusive(inprocess.execute("latency", {"kubernetes": False}))
    assert list(got) == ["latency.no_targets"]

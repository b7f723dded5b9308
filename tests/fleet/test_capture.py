"""``fleet capture`` against the stand-in API: the Jobs, one T0 for all, real tcpdump in each "pod", results cut at the cap.

Each simulated pod runs the real pod side (``netdebug-nb fleet capture-exec``, the argv of its Job)
in this process: it waits for the Job's T0, runs tcpdump on loopback while the test sends UDP
datagrams to 127.0.0.1, cuts the file at ``--max-mb`` and frames the result into its log, which
the controller collects like any fleet result.
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apiserver_jobs import Cluster

from netdebug_nb import cli
from netdebug_nb.fleet import capture, controller, jobspec
from netdebug_nb.pcap import reader

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="tcpdump needs root here")


@pytest.fixture
def udp_traffic() -> Iterator[int]:
    """Datagrams to 127.0.0.1:PORT (nobody listens: loopback still carries them) until the test ends."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    stop = threading.Event()

    def blast() -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        i = 0
        while not stop.is_set():  # bursts: the cap is reached within the capture even on a busy machine
            for _ in range(10):
                s.sendto(f"{i:08d}".encode() * 100, ("127.0.0.1", port))
                i += 1
            time.sleep(0.001)
        s.close()

    t = threading.Thread(target=blast, daemon=True)
    t.start()
    try:
        yield port
    finally:
        stop.set()
        t.join()


def run_pod_side(tmp: Path, cluster: Cluster, expect: int) -> Any:
    """The sim's payload: each Job's own command, run as its pod would, all pods at once.

    The sim asks for one pod's log at a time, so on the first request every Job's pod side
    starts on its own thread (real pods run in parallel and meet at T0); each request then
    waits for its pod's output.
    """
    lock = threading.Lock()
    started: dict[str, tuple[threading.Thread, dict[str, Any]]] = {}

    def pod(node: str, argv: list[str], box: dict[str, Any]) -> None:
        out, err = io.StringIO(), io.StringIO()
        argv[argv.index("--out") + 1] = str(tmp / node)  # each pod has its own /tmp
        box["code"] = capture.execute(
            out=Path(argv[argv.index("--out") + 1]),
            stdout=out,
            stderr=err,
            node=node,
            **_exec_args(argv),
        )
        box["out"], box["err"] = out.getvalue(), err.getvalue()

    def payload(node: str, job: dict[str, Any]) -> str:
        with lock:
            if not started:
                deadline = time.monotonic() + 10
                while len(cluster.sim.created_jobs) < expect and time.monotonic() < deadline:
                    time.sleep(0.01)
                for j in cluster.sim.created_jobs:
                    n = j["metadata"]["annotations"][jobspec.ANNOTATION_NODE]
                    argv = list(j["spec"]["template"]["spec"]["containers"][0]["command"])
                    assert argv[:3] == ["netdebug-nb", "fleet", "capture-exec"]
                    box: dict[str, Any] = {}
                    t = threading.Thread(target=pod, args=(n, argv, box), daemon=True)
                    t.start()
                    started[n] = (t, box)
        t, box = started[node]
        t.join(timeout=60)
        assert box.get("code") == 0, box.get("err")
        return str(box["out"])

    return payload


def _exec_args(argv: list[str]) -> dict[str, Any]:
    """The pod side's keyword arguments, through the CLI's own parser (what the pod runs)."""
    args = cli.build_parser().parse_args(argv[1:])
    return {
        "t0": capture.parse_t0(args.t0) if args.t0 else None,
        "interface": args.interface,
        "bpf": args.filter,
        "seconds": args.seconds,
        "snaplen": args.snaplen,
        "max_mb": args.max_mb,
        "pod_ip": args.pod_ip,
        "label": args.label,
        "limit": args.limit,
    }


def test_capture_jobs_share_t0_and_results_are_cut_at_the_cap(
    cluster: Cluster, tmp_path: Path, udp_traffic: int
) -> None:
    cluster.srv.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"nodeName": "n2", "containers": [{"name": "web", "image": "web"}]},
            "status": {"phase": "Running", "podIP": "127.0.0.1"},  # its "veth" on n2 is then lo
        }
    )
    cluster.sim.payload = run_pod_side(tmp_path / "pods", cluster, expect=2)
    copts = capture.CaptureOptions(
        interface="lo", bpf=f"udp port {udp_traffic}", seconds=1.5, snaplen=256, max_mb=0.05, start_in_s=1.5
    )
    fopts = controller.FleetOptions(nodes="n1", merge=True, pending_timeout_s=30, qps=200, burst=50)
    out = tmp_path / "incident"
    before = time.time()
    res = capture.run(cluster.api(), copts, fopts, out, pod="shop/web", job_fields={"namespace": "netdebug"})

    jobs = {j["metadata"]["annotations"][jobspec.ANNOTATION_NODE]: j for j in cluster.sim.created_jobs}
    assert sorted(jobs) == ["n1", "n2"]
    t0s = set()
    for node, job in jobs.items():
        spec = job["spec"]["template"]["spec"]
        c = spec["containers"][0]
        assert spec["hostNetwork"] is True
        assert set(c["securityContext"]["capabilities"]["add"]) == {"NET_RAW", "NET_ADMIN"}
        argv = c["command"]
        t0s.add(argv[argv.index("--t0") + 1])
        assert argv[argv.index("--max-mb") + 1] == "0.05"
        assert argv[argv.index("--filter") + 1] == f"udp port {udp_traffic}"
        assert ("--pod-ip" in argv) == (node == "n2")
        assert job["spec"]["activeDeadlineSeconds"] >= copts.seconds + copts.start_in_s
    (t0,) = t0s  # one start instant for every node
    assert before + 1.4 <= float(t0) <= time.time()

    assert [r.node for r in res.failed] == []
    metas = {}
    for node in ("n1", "n2"):
        run_dir = out / node / "capture"
        meta = json.loads((run_dir / "capture.json").read_text())
        metas[node] = meta
        pcap = run_dir / "capture.pcap"
        assert pcap.stat().st_size <= 0.05 * 1024 * 1024
        packets = reader.read(pcap)
        assert len(packets) == meta["packets"] > 10
        assert meta["note"] == "truncated at 0.05 MB"
        assert meta["started"] >= meta["t0"]
        assert packets["ts"].iloc[0].timestamp() >= float(t0)
        assert meta["clock"]
        ids = {f["id"] for f in json.loads((run_dir / "findings.json").read_text())["findings"]}
        assert {"fleet.capture", "fleet.capture_truncated"} <= ids
    assert metas["n1"]["interface"] == "lo" and metas["n1"]["label"] == "n1"
    assert (
        metas["n2"]["interface"] == "lo" and metas["n2"]["label"] == "shop/web@n2"
    )  # from the pod IP's route

    # the merge: capture_compare over the fleet directory matched the two captures of the same traffic
    assert res.merge_error is None
    doc = json.loads((out / "capture_compare" / "findings.json").read_text())
    assert doc["status"] == "ok", doc["error"]
    found = {f["id"]: f for f in doc["findings"]}
    assert "compare.no_overlap" not in found, found
    # both saw the same datagrams, all one way: the offset cannot be told from the delay, and says so
    assert "one direction only" in found["compare.clock_offset"]["detail"]
    assert res.index is not None and res.index.is_file()


def test_cut_keeps_whole_packets(tmp_path: Path) -> None:
    from netdebug_nb.pcap.fingerprint import read

    src = Path(__file__).resolve().parents[2] / "netdebug_nb" / "data" / "compare" / "client.pcap"
    data = src.read_bytes()
    pcap = tmp_path / "c.pcap"
    pcap.write_bytes(data)
    kept, packets = capture.cut(pcap, 50_000)
    assert kept <= 50_000 and packets > 0
    os.truncate(pcap, kept)
    assert len(read(pcap)) == packets  # no damaged last record
    assert capture.cut(pcap, 10**9) == (kept, packets)


def cli_run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), cli.Env(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_bad_capture_requests_are_refused_before_any_job(cluster: Cluster, tmp_path: Path) -> None:
    kc = ("--kubeconfig", str(cluster.kubeconfig), "--out", str(tmp_path / "o"))
    for argv, message in (
        (("--nodes", "n1", "--seconds", "0"), "--seconds 0"),
        (("--nodes", "n1", "--max-mb", "-1"), "--max-mb -1"),
        ((), "no nodes (give --nodes and/or --pod)"),
        (("--pod", "web"), "expected NAMESPACE/NAME"),
        (("--pod", "shop/nope"), "--pod shop/nope"),
        (("--nodes", "n1,n9"), "no such node(s): n9"),
    ):
        code, _, stderr = cli_run("fleet", "capture", *kc, *argv)
        assert code == 2 and message in stderr, (argv, stderr)
        assert len(stderr.strip().splitlines()) == 1
    assert cluster.sim.created_jobs == []


def test_a_pod_side_failure_still_returns_a_labelled_result(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = capture.execute(
        out=tmp_path, stdout=out, stderr=err, t0=None, interface="no-such-if0", seconds=0.5, node="n1"
    )
    assert code == 1 and "tcpdump" in err.getvalue()
    meta = json.loads((tmp_path / "capture" / "capture.json").read_text())
    assert meta["node"] == "n1" and "tcpdump" in meta["error"]
    doc = json.loads((tmp_path / "capture" / "findings.json").read_text())
    assert doc["status"] == "failed" and doc["findings"][0]["id"] == "fleet.capture_failed"
    assert "==== NETDEBUG-RESULT" in out.getvalue()  # the controller still collects the reason

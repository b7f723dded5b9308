"""Live capture in a namespace lab: tcpdump bounded by time/packets, read back by the fast reader."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from lab import Host, Lab

from netdebug_nb.errors import ParameterTypeError, ToolFailedError
from netdebug_nb.pcap.capture import Progress, capture, read_live
from netdebug_nb.pcap.reader import read

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


def _ping_lab(lab: Lab, name: str) -> Host:
    """A host pinging its peer five times a second until the lab closes."""
    a, b = lab.host(f"{name}a"), lab.host(f"{name}b")
    lab.link(a, "198.18.7.1/24", b, "198.18.7.2/24")
    a.spawn("ping", "-i", "0.2", "198.18.7.2")
    return a


def test_progress_while_capturing_and_an_interrupt_keeps_the_packets(lab: Lab, tmp_path: Path) -> None:
    a = _ping_lab(lab, "prog")
    seen: list[Progress] = []
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT))  # what a kernel interrupt does
    started = time.monotonic()
    timer.start()
    try:
        path = capture(
            tmp_path / "cut.pcap",
            interface="any",
            bpf="icmp",
            seconds=60,
            packets=None,
            prefix=a.cmd(),
            progress=seen.append,
            progress_every_s=0.25,
            keep_on_interrupt=True,
        )
    finally:
        timer.cancel()
    assert time.monotonic() - started < 15  # the interrupt ended it, not the 60 s bound
    running, last = seen[:-1], seen[-1]
    assert len(running) >= 5 and not any(p.done for p in running)
    assert [p.packets for p in running] == sorted(p.packets for p in running) and running[-1].packets > 0
    assert running[0].left_s > running[-1].left_s > 40
    assert last.done and last.interrupted and "interrupted" in str(last) and "kept" in str(last)
    df = read(path)
    assert len(df) == last.packets > 5  # what the display said is what is analysed
    assert "capturing:" in str(running[-1]) and "s left" in str(running[-1])


def test_without_keep_an_interrupt_still_stops_tcpdump_and_propagates(lab: Lab, tmp_path: Path) -> None:
    a = _ping_lab(lab, "intr")
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            capture(
                tmp_path / "x.pcap", interface="any", bpf="icmp", seconds=60, packets=None, prefix=a.cmd()
            )
    finally:
        timer.cancel()
    time.sleep(0.5)
    gone = subprocess.run(["pgrep", "-f", str(tmp_path / "x.pcap")], capture_output=True)
    assert gone.returncode == 1, "tcpdump left running"
    assert len(read(tmp_path / "x.pcap")) > 0  # flushed on the way out


def test_kernel_interrupt_in_a_notebook_keeps_the_capture(lab: Lab, tmp_path: Path) -> None:
    """A real IPython kernel: the cell shows a live progress line, JupyterLab's *Interrupt kernel*
    (SIGINT to the kernel) ends the capture, the cell still succeeds with the packets kept."""
    from jupyter_client.manager import start_new_kernel

    a = _ping_lab(lab, "kern")
    out = tmp_path / "kernel.pcap"
    code = (
        "from netdebug_nb.pcap import capture\n"
        f"p = capture.capture({str(out)!r}, interface='any', bpf='icmp', seconds=90, packets=None,\n"
        f"    prefix={a.cmd()!r}, progress=capture.display_progress(), keep_on_interrupt=True)\n"
        "print('kept', p)\n"
    )
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        msg_id = kc.execute(code)
        texts: list[str] = []
        interrupted_at = None
        deadline = time.monotonic() + 60
        reply_status = None
        while time.monotonic() < deadline:
            try:
                msg = kc.get_iopub_msg(timeout=1)
            except queue.Empty:
                msg = None
            if msg and msg["parent_header"].get("msg_id") == msg_id:
                content = msg["content"]
                if msg["msg_type"] in ("display_data", "update_display_data"):
                    texts.append(content["data"]["text/plain"])
                elif msg["msg_type"] == "stream":
                    texts.append(content["text"])
                elif msg["msg_type"] == "error":
                    pytest.fail("\n".join(content["traceback"]))
                elif msg["msg_type"] == "status" and content["execution_state"] == "idle":
                    break
            if interrupted_at is None and any(re.search(r"capturing: [1-9]", t) for t in texts):
                time.sleep(1)
                km.interrupt_kernel()
                interrupted_at = time.monotonic()
        reply = kc.get_shell_msg(timeout=10)
        reply_status = reply["content"]["status"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert interrupted_at is not None, texts
    assert reply_status == "ok", texts
    final = next(t for t in reversed(texts) if t.startswith("capture interrupted"))
    kept = int(re.search(r": ([\d,]+) packets", final).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert kept > 0 and len(read(out)) == kept
    assert any(t.startswith("kept ") for t in texts)

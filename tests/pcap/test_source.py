"""Choosing the capture: file, live tcpdump, or a one-line usage error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netdebug_nb.errors import InputError, UsageError
from netdebug_nb.pcap import reader, source


def test_no_capture_is_a_usage_error_naming_both_parameters() -> None:
    with pytest.raises(source.NoCaptureError) as exc:
        source.obtain("")
    assert isinstance(exc.value, UsageError)
    text = str(exc.value)
    assert "'pcap'" in text and "'capture_interface'" in text and "\n" not in text


def test_file_and_interface_together_is_a_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "x.pcap"
    f.write_bytes(b"")
    with pytest.raises(source.CaptureSourceError, match="not both"):
        source.obtain(str(f), capture_interface="eth0")


def test_missing_file_names_the_parameter(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no such capture file \(parameter 'pcap'\)"):
        source.obtain(str(tmp_path / "nope.pcap"))
    assert source.obtain(str(Path(__file__))) == [Path(__file__)]


def test_live_capture_must_be_bounded() -> None:
    with pytest.raises(source.CaptureSourceError, match="'capture_seconds': must be positive"):
        source.obtain("", capture_interface="eth0", capture_seconds=0)
    with pytest.raises(source.CaptureSourceError, match="'capture_packets'"):
        source.obtain("", capture_interface="eth0", capture_packets=-1)


@pytest.mark.lab
def test_live_capture_in_a_namespace(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a, b = lab.host("a"), lab.host("b")
    ia, _ = lab.link(a, "198.18.9.1/24", b, "198.18.9.2/24")
    out = tmp_path / "live.pcap"
    code = (
        "import sys; from pathlib import Path; from netdebug_nb.pcap import source; "
        f"source.obtain('', capture_interface={ia!r}, capture_filter='icmp', capture_seconds=3, capture_file={str(out)!r})"
    )
    cap = subprocess.Popen(a.cmd(sys.executable, "-c", code), stderr=subprocess.PIPE, text=True)
    a.run("ping", "-c", "4", "-i", "0.2", "-w", "3", "198.18.9.2", check=False)
    _, err = cap.communicate(timeout=30)
    assert cap.returncode == 0, err
    packets = reader.read(out)
    assert (packets["proto"] == 1).sum() >= 4  # echo requests and replies, filter applied
    assert (packets["proto"] != 1).sum() == 0


@pytest.mark.lab
def test_live_capture_on_a_missing_interface_fails_with_tcpdumps_reason(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = lab.host("a")
    code = (
        "from netdebug_nb.pcap import source\n"
        "try:\n"
        f"    source.obtain('', capture_interface='nosuch0', capture_seconds=2, capture_file={str(tmp_path / 'x.pcap')!r})\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    done = a.run(sys.executable, "-c", code)
    assert done.stdout.startswith(
        "CaptureFailedError tcpdump on 'nosuch0' (parameter 'capture_interface'): "
    ), done.stdout
    assert "No such device" in done.stdout

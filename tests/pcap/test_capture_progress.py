"""Live-capture progress without a capture: the record counter on a growing pcap file and the
progress line's wording (the live behaviour is in test_capture.py, a lab test)."""

from __future__ import annotations

import struct
from pathlib import Path

from netdebug_nb.pcap.capture import Progress, RecordCounter, count_records


def _pcap_bytes(sizes: list[int]) -> bytes:
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    return head + b"".join(struct.pack("<IIII", 1, 0, n, n) + b"\0" * n for n in sizes)


def test_record_counter_follows_a_growing_file_and_waits_for_cut_records(tmp_path: Path) -> None:
    data = _pcap_bytes([60, 1500, 42])
    assert count_records(data, 24, "<") == (3, len(data))
    assert count_records(data[:-10], 24, "<") == (2, len(data) - 42 - 16)
    path = tmp_path / "grow.pcap"
    counter = RecordCounter(path)
    assert counter.update() == 0  # not there yet
    path.write_bytes(data[:20])
    assert counter.update() == 0
    path.write_bytes(data[:-10])
    assert counter.update() == 2
    path.write_bytes(data)
    assert counter.update() == 3 and counter.size == len(data)


def test_progress_lines_say_packets_bytes_and_seconds_left() -> None:
    assert str(Progress(1234, 2_500_000, 12.2, 30, None)) == "capturing: 1,234 packets, 2.5 MB, 18 s left"
    assert str(Progress(10, 900, 3, 30, 100)) == "capturing: 10 of 100 packets, 900 B, 27 s left"
    assert (
        str(Progress(100, 9000, 4, 30, 100, done=True)) == "capture done in 4 s: 100 of 100 packets, 9.0 kB"
    )
    cut = Progress(7, 1000, 5.4, 30, None, done=True, interrupted=True)
    assert str(cut) == "capture interrupted after 5 s: 7 packets (1.0 kB) kept"
    assert "netdebug-capture-progress" in cut._repr_html_()

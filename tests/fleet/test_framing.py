from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path

import pytest

from netdebug_nb.fleet import framing, result


def decode(lines: list[str]) -> tuple[bytes, list[framing.Record]]:
    buf = io.BytesIO()
    records = framing.Unframer(buf.write).feed_all(lines)
    return buf.getvalue(), records


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 1000, 100_003])
def test_round_trip_any_size(size: int) -> None:
    payload = os.urandom(size)
    lines = ["noise before", *framing.frame("latency", payload), "noise after"]
    assert all(len(ln) <= framing.LINE_CHARS for ln in lines[2:-2]) and len(lines[1]) < 160
    got, records = decode(lines)
    assert got == payload
    assert [(r.name, r.ok, r.size) for r in records] == [("latency", True, size)]
    assert records[0].sha256 == hashlib.sha256(payload).hexdigest()


def test_chunked_framing_equals_whole_framing() -> None:
    payload = os.urandom(200_001)
    chunks = [payload[i : i + 777] for i in range(0, len(payload), 777)]
    whole = list(framing.frame("x", payload))
    chunked = list(framing.frame_chunks("x", len(payload), hashlib.sha256(payload).hexdigest(), chunks))
    assert decode(chunked)[0] == payload
    assert whole[0] == chunked[0] and whole[-1] == chunked[-1]


def test_bytes_lines_with_crlf_are_accepted() -> None:
    lines = [(ln + "\r\n").encode() for ln in framing.frame("a", b"hello world")]
    assert decode(lines)[0] == b"hello world"  # type: ignore[arg-type]


def test_corrupted_payload_is_detected_by_checksum() -> None:
    lines = list(framing.frame("a", os.urandom(300)))
    raw = bytearray(base64.b64decode(lines[1]))
    raw[0] ^= 0xFF
    lines[1] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(framing.FramingError, match="sha256 mismatch"):
        decode(lines)


def test_garbage_inside_a_frame_is_reported_with_its_line() -> None:
    lines = list(framing.frame("a", os.urandom(300)))
    lines.insert(2, "Traceback (most recent call last):")
    with pytest.raises(framing.FramingError) as err:
        decode(lines)
    assert err.value.line == 3


def test_truncated_frame_is_reported_not_silently_cut() -> None:
    lines = list(framing.frame("a", os.urandom(3000)))[:-3]
    with pytest.raises(framing.FramingError, match="truncated"):
        decode(lines)


def test_longer_than_declared_is_refused() -> None:
    lines = list(framing.frame("a", b"x" * 100))
    lines.insert(-1, base64.b64encode(b"extra").decode())
    with pytest.raises(framing.FramingError, match="longer than"):
        decode(lines)


def test_error_record_is_a_record_not_an_exception() -> None:
    line = framing.error_line("pcap", "oversize", size=9_000_000, limit=4_194_304)
    got, records = decode(["x", line])
    assert got == b""
    assert records[0].error == "oversize" and records[0].size == 9_000_000 and not records[0].ok
    assert records[0].fields["limit"] == "4194304"


def test_field_values_must_be_words() -> None:
    with pytest.raises(ValueError):
        framing.error_line("my notebook", "oversize")


def test_unknown_version_is_refused() -> None:
    line = framing.begin_line("a", 1, "0" * 64).replace(" v1 ", " v9 ")
    with pytest.raises(framing.FramingError, match="v9"):
        decode([line])


# --- result: a run directory through a frame --------------------------------------------------


def make_run(tmp_path: Path, name: str = "latency", html_bytes: int = 100) -> Path:
    run = tmp_path / "src" / name
    run.mkdir(parents=True)
    (run / "findings.json").write_text('{"notebook": "latency", "status": "ok", "findings": []}')
    (run / f"{name}.html").write_bytes(os.urandom(html_bytes))
    return run


def test_emit_then_unpack_restores_the_run_directory(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    out = io.StringIO()
    rec = result.emit(run, out, limit=10_000)
    assert rec.ok
    buf = io.BytesIO()
    framing.Unframer(buf.write).feed_all(out.getvalue().splitlines())
    buf.seek(0)
    tops = result.unpack(buf, tmp_path / "dest")
    assert tops == [tmp_path / "dest" / "latency"]
    assert (tmp_path / "dest/latency/latency.html").read_bytes() == (run / "latency.html").read_bytes()


def test_oversize_result_becomes_an_error_record(tmp_path: Path) -> None:
    run = make_run(tmp_path, html_bytes=50_000)  # random bytes do not compress
    out = io.StringIO()
    rec = result.emit(run, out, limit=10_000)
    assert not rec.ok and rec.error == "oversize" and rec.size > 10_000
    records = framing.Unframer(lambda b: None).feed_all(out.getvalue().splitlines())
    assert records[0].error == "oversize" and int(records[0].fields["limit"]) == 10_000


def test_missing_run_directory_is_an_error_record(tmp_path: Path) -> None:
    out = io.StringIO()
    assert result.emit(tmp_path / "nope", out).error == "missing"
    assert "reason=missing" in out.getvalue()


def test_unpack_refuses_paths_outside_the_destination(tmp_path: Path) -> None:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    buf.seek(0)
    with pytest.raises(Exception, match="not allowed"):
        result.unpack(buf, tmp_path / "dest")
    assert not (tmp_path / "evil.txt").exists()

"""Saved tool output read by path: failures are one InputError naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdebug_nb import textfile
from netdebug_nb.errors import InputError


def test_text_with_undecodable_bytes_replaced(tmp_path: Path) -> None:
    p = tmp_path / "out.txt"
    p.write_bytes(b"10.0.0.1 : [0], 64 bytes, 0.05 ms\n\xff\n")
    assert textfile.read(p, "fping_output") == "10.0.0.1 : [0], 64 bytes, 0.05 ms\n\ufffd\n"


def test_missing_file_names_it_and_what_it_should_hold(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.txt: no such file \(mtr_output\)"):
        textfile.read(tmp_path / "nope.txt", "mtr_output")


def test_directory_is_an_input_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read: Is a directory"):
        textfile.read(tmp_path, "mtu sweep output")

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from netdebug_nb import artifacts


def test_save_csv_only_inside_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    df = pd.DataFrame({"target": ["a"], "rtt_ms": [1.5]})
    monkeypatch.delenv(artifacts.ENV, raising=False)
    assert artifacts.save_csv(df, "x.csv") is None
    monkeypatch.setenv(artifacts.ENV, str(tmp_path))
    path = artifacts.save_csv(df, "x.csv")
    assert path == tmp_path / "x.csv"
    assert path.read_text() == "target,rtt_ms\na,1.5\n"
    for bad in ("../x.csv", "sub/x.csv", "x.txt"):
        with pytest.raises(ValueError, match="plain file name"):
            artifacts.save_csv(df, bad)


def test_permission_markers_cover_fping() -> None:
    from netdebug_nb.tools import looks_like_permission_problem

    assert looks_like_permission_problem("fping: can't create socket (must run as root?)")


def test_write_csv_in_slices_reads_back_as_the_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifacts, "_SLICE", 3)  # 7 rows: three slices through one writer
    df = pd.DataFrame(
        {
            "n": pd.array([1, None, 3, 4, 5, 6, 7], dtype="Int64"),
            "s": pd.array(["x", None, "y", "z", "p,q", 'say "hi"', None], dtype="string"),
            "ts": pd.to_datetime([1.7e9 + i for i in range(7)], unit="s", utc=True),
        }
    )
    artifacts.write_csv(df, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv", dtype={"s": "string"}, keep_default_na=False, na_values=[""])
    assert back["n"].tolist()[2:] == [3, 4, 5, 6, 7] and pd.isna(back["n"][1])
    assert back["s"].tolist()[4:6] == ["p,q", 'say "hi"']  # the slice with a comma made it quote
    assert (pd.to_datetime(back["ts"], utc=True) == df["ts"]).all()
    mixed = pd.DataFrame({"o": ["a", "b", "c", {"k": 1}, 5]})  # Arrow cannot take the 2nd slice
    artifacts.write_csv(mixed, tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_text().splitlines() == ["o", "a", "b", "c", "{'k': 1}", "5"]

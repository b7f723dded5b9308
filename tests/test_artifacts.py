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

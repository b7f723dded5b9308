"""The table presenter: units in headers, human values, no index, missing as —, cut tables with CSV."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from netdebug_nb import artifacts, present


def cells(html: str, tag: str = "td") -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", m).strip() for m in re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}>", html, re.S)
    ]


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "target": pd.array(["a", None, "<b>"], dtype="string"),
            "rtt_ms": pd.array([12.903226, None, 0.049999], dtype="Float64"),
            "loss_pct": [0.0, 3.2258, 100.0],
            "bytes": pd.array([512, 123456789, None], dtype="Int64"),
            "port": [443, 8080, 53],
            "ts": pd.to_datetime(
                ["2026-11-28T06:25:09.123456Z", "2026-11-28T06:25:10.0Z", "2026-11-28T07:00:00.0Z"], utc=True
            ),
            "duration_s": [0.0123, 4.2, 3725.0],
            "ok": pd.array([True, None, False], dtype="boolean"),
            "retransmission_rate": [0.032, 0.0, 0.5],
            "throughput_bps": [1.2e9, 5e5, float("nan")],
        }
    )


def test_values_read_like_a_person_wrote_them() -> None:
    html = present.table(frame()).html
    assert cells(html, "th") == [
        "target",
        "rtt (ms)",
        "loss (%)",
        "bytes",
        "port",
        "time",
        "duration",
        "ok",
        "retransmission rate (%)",
        "throughput",
    ]
    rows = cells(html)
    assert rows[:10] == [
        "a",
        "12.9",
        "0",
        "512 B",
        "443",
        "06:25:09.123",
        "12.3 ms",
        "yes",
        "3.2",
        "1.2 Gbit/s",
    ]
    assert rows[10:20] == [
        "—",
        "—",
        "3.23",
        "118 MiB",
        "8080",
        "06:25:10.000",
        "4.2 s",
        "—",
        "0",
        "500 kbit/s",
    ]
    assert rows[20:] == ["&lt;b&gt;", "0.05", "100", "—", "53", "07:00:00.000", "1 h 02 min", "no", "50", "—"]
    assert "<caption>Times on 2026-11-28 UTC</caption>" in html  # the date once, not in every row
    for bad in ("&lt;NA&gt;", "NaN", "None", "row_heading"):  # no missing markers, no 0,1,2 index column
        assert bad not in html


def test_numbers_are_right_aligned_and_text_is_not() -> None:
    html = present.table(frame()).html
    heads = re.findall(r'<th [^>]*class="([^"]*)"[^>]*>([^<]*)</th>', html)
    assert [name for cls, name in heads if cls.endswith(" num")] == [
        "rtt (ms)",
        "loss (%)",
        "bytes",
        "port",
        "time",
        "duration",
        "retransmission rate (%)",
        "throughput",
    ]
    assert 'class="data row0 col0" >a<' in html and 'class="data row0 col1 num" >12.9<' in html
    assert "overflow-x: auto" in html  # a wide table scrolls in its own box


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.000049, "ms", "<0.0001"),
        (123456.7, "ms", "123,457"),
        (1234567, "", "1,234,567"),
        (9999, "bytes", "9,999 B"),
        (10_240, "bytes", "10 KiB"),
        (3 * 1024**3, "bytes", "3 GiB"),
        (2_500_000, "B/s", "2.38 MiB/s"),
        (0.5, "s", "500 ms"),
        (125, "s", "2 min 05 s"),
        (90_000, "s", "1 d 01 h"),
        (float("inf"), "ms", "∞"),
        (None, "ms", "—"),
        (pd.NA, "", "—"),
        ([1.23456, 2], "ms", "1.23, 2"),
    ],
)
def test_single_values(value: object, unit: str, text: str) -> None:
    assert present.value(value, unit) == text


def test_a_transposed_one_row_frame_takes_each_row_unit() -> None:
    overview = pd.DataFrame({"packets": [279], "bytes": [164_000], "duration_s": [9.3], "rtt_ms": [0.123456]})
    html = present.table(overview.T).html
    assert cells(html, "th") == ["packets", "bytes", "duration", "rtt (ms)"]  # no "0" column header
    assert cells(html) == ["279", "160 KiB", "9.3 s", "0.123"]


def test_a_named_index_is_kept_an_unnamed_integer_one_is_not() -> None:
    df = pd.DataFrame({"loss_pct": [1.0, 2.0]}, index=pd.Index(["n1", "n2"], name="node"))
    assert cells(present.table(df).html, "th")[-2:] == ["n1", "n2"]
    filtered = pd.DataFrame({"x": [1, 2, 3]}).iloc[[2, 0]]
    assert "row_heading" not in present.table(filtered).html


def test_long_table_is_cut_and_written_whole_beside_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = pd.DataFrame({"flow": range(30), "bytes": range(30)})
    monkeypatch.delenv(artifacts.ENV, raising=False)
    alone = present.table(df, top_n=10, caption="Flows")
    assert alone.shown == 10 and alone.csv is None and "20 more rows" in alone.html
    monkeypatch.setenv(artifacts.ENV, str(tmp_path))
    t = present.table(df, top_n=10, caption="Flows, largest first")
    assert t.csv == tmp_path / "flows-largest-first.csv"
    assert len(pd.read_csv(t.csv)) == 30
    assert '<a href="flows-largest-first.csv">' in t.html and "20 more rows" in t.html
    again = present.table(df, top_n=10, caption="Flows, largest first")
    assert again.csv == tmp_path / "flows-largest-first-2.csv"  # a second table never overwrites the first
    assert present.table(df, top_n=None).shown == 30
    assert present.table(df.head(3), top_n=10).csv is None


def test_empty_frame_is_a_one_line_note_naming_its_columns() -> None:
    html = present.table(pd.DataFrame({"rtt_ms": pd.Series([], dtype="Float64")})).html
    assert cells(html, "th") == [] and "no rows — nothing to show (columns rtt_ms)" in html


def test_install_formats_every_dataframe_in_ipython() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    present.install()
    data, _ = shell.display_formatter.format(pd.DataFrame({"rtt_ms": [1.23456]}))
    assert 'class="netdebug-table"' in data["text/html"] and ">1.23<" in data["text/html"]
    import matplotlib as mpl

    assert tuple(mpl.rcParams["figure.figsize"]) == (10.0, 3.6)


def test_a_long_text_is_clipped_so_a_row_stays_a_row() -> None:
    long = " | ".join(f"A 198.18.6.{i}" for i in range(60))
    (cell,) = cells(present.table(pd.DataFrame({"answer_data": [long]})).html)
    assert len(cell) == present.MAX_CHARS and cell.endswith("…") and cell.startswith("A 198.18.6.0 | ")


def test_every_shipped_notebook_installs_the_presenter() -> None:
    from netdebug_nb import catalogue

    for path in sorted(catalogue.notebooks_dir().glob("*.ipynb")):
        import json

        code = [
            "".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"
        ]
        # in the import cell, after the parameters, their check and the guidance cell
        assert any("present.install()" in src for src in code[:4]), f"{path.name}: call present.install()"


def test_the_guidance_note_wins_over_the_table() -> None:
    """netdebug_nb.guidance (no input → one-line notes) decides first; every other table is ours,
    and the guidance cell running again does not take the formatter back."""
    from IPython.core.interactiveshell import InteractiveShell

    from netdebug_nb import guidance

    shell = InteractiveShell.instance()
    try:
        guidance.show("pcap_analysis", given=True)
        present.install()
        guidance.show("pcap_analysis", given=True)  # Run All again: the presenter stays
        empty, _ = shell.display_formatter.format(pd.DataFrame({"rtt_ms": pd.Series([], dtype="Float64")}))
        full, _ = shell.display_formatter.format(pd.DataFrame({"rtt_ms": [1.0]}))
        assert "no rows — nothing to show (columns rtt_ms)" in empty["text/html"]
        assert 'class="netdebug-table"' in full["text/html"]
        assert (
            "Flows: no rows — nothing to show" in present.table(pd.DataFrame({"x": []}), caption="Flows").html
        )
        guidance.show("pcap_analysis", given=False)
        full, _ = shell.display_formatter.format(pd.DataFrame({"rtt_ms": [1.0]}))
        assert "nothing to show: no capture given" in full["text/html"]
        evidence = present.table(pd.DataFrame({"name": ["a"]}), csv=False).html  # inside a finding box
        assert 'class="netdebug-table"' in evidence
    finally:
        guidance.show("pcap_analysis", given=True)
        InteractiveShell.clear_instance()

"""The report view renders notebook HTML (markdown, tables, findings) and strips anything active."""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
import pytest

from netdebug_nb.export import clean_html, to_html


def test_clean_html_keeps_structure_and_drops_active_content() -> None:
    dirty = (
        "<h2 id='x'>Title</h2><p onclick='steal()'>text</p>"
        "<style scoped>.dataframe{color:red}</style>"
        "<table class='dataframe'><thead><tr><th>a</th></tr></thead><tbody><tr><td>1</td></tr></tbody></table>"
        "<script>alert(1)</script><img src='data:image/png;base64,AAAA'><img src='http://evil/x.png'>"
        "<a href='javascript:alert(1)'>j</a><a href='https://example.org/'>ok</a>"
        "<div style='border-left:6px solid red;position:fixed'>box</div><iframe src='x'></iframe>"
    )
    out = clean_html(dirty)
    for kept in (
        '<h2 id="x">Title</h2>',
        "<th>a</th>",
        "<td>1</td>",
        "data:image/png;base64,AAAA",
        'href="https://example.org/"',
        "border-left:6px solid red",
    ):
        assert kept in out, kept
    for dropped in (
        "onclick",
        "<script",
        "alert(1)</script>",
        ".dataframe{",
        "http://evil",
        "javascript:",
        "position",
        "<iframe",
        "<style",
    ):
        assert dropped not in out, dropped


def test_markdown_and_dataframes_render_as_html_not_text() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Heading\n\nSome *text*."))
    code = nbformat.v4.new_code_cell("df")
    code.outputs = [
        nbformat.v4.new_output(
            "execute_result",
            data={
                "text/html": "<style scoped>.x{}</style><table class='dataframe'><tr><th>col</th></tr></table>",
                "text/plain": "col",
            },
            execution_count=1,
        )
    ]
    nb.cells.append(code)
    page = to_html(nb, title="t")
    assert "&lt;h1" not in page and "&lt;th&gt;" not in page and "&lt;table" not in page
    assert "<th>col</th>" in page and "<em>text</em>" in page


def _finding_output(fid: str, severity: str, title: str) -> nbformat.NotebookNode:
    from netdebug_nb import findings

    f = findings.Finding(fid, severity, title)  # type: ignore[arg-type]
    return nbformat.v4.new_output(
        "display_data", data={findings.MIME: f.to_dict(), "text/html": f._repr_html_(), "text/plain": str(f)}
    )


def _analysis_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["netdebug"] = {"evidence": {"tcp.": "TCP health"}}
    nb.metadata["papermill"] = {"parameters": {"top_n": 5}}
    params = nbformat.v4.new_code_cell("pcap: str = ''  # capture\ntop_n: int = 10  # rows")
    params.metadata["tags"] = ["parameters"]
    tcp = nbformat.v4.new_code_cell("x")
    tcp.outputs = [nbformat.v4.new_output("stream", text="flow table here\n")]
    end = nbformat.v4.new_code_cell("y")
    end.outputs = [
        _finding_output("dns.slow", "info", "DNS a bit slow"),
        _finding_output("tcp.resets", "critical", "resets everywhere"),
        _finding_output("other.thing", "warning", "something else"),
    ]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Capture analysis\n\nWhat a capture says."),
        params,
        nbformat.v4.new_markdown_cell("## TCP health"),
        tcp,
        nbformat.v4.new_markdown_cell("## Findings"),
        end,
    ]
    return nb


def _text_order(page: str, *needles: str) -> list[int]:
    return [page.index(n) for n in needles]


def _title(page: str, text: str) -> int:
    match = re.search(rf"<h1[^>]*>{re.escape(text)}<", page)
    assert match, f"no <h1> {text}"
    return match.start()


def test_report_opens_with_the_verdict_most_severe_first_linking_to_the_evidence() -> None:
    page = to_html(_analysis_notebook(), title="netdebug: t")
    title = _title(page, "Capture analysis")
    verdict, params, intro, tcp = _text_order(
        page,
        'id="netdebug-verdict"',
        'id="netdebug-parameters"',
        "What a capture says",
        "flow table here",
    )
    assert title < verdict < params < intro < tcp
    block = page[verdict:params]
    assert block.index("tcp.resets") < block.index("other.thing") < block.index("dns.slow")
    assert "Completed: 1 critical, 1 warning, 1 info." in block
    # tcp.* → the section the notebook's metadata names; others → where they were recorded
    anchor = re.search(r'<a id="(netdebug-section-\d+)"></a>(</p>)?\s*<h2[^>]*>TCP health', page)
    assert anchor, "the TCP section has an anchor"
    assert f'Evidence: <a href="#{anchor.group(1)}">TCP health</a>' in block
    assert 'Evidence: <a href="#netdebug-section-2">Findings</a>' in block
    box = page[params : page.index("</details>", params)]
    assert "<code>top_n</code> = <code>5</code>" in box and "netdebug-given" in box
    assert '<code>pcap</code> = <code>""</code>' in html.unescape(box)  # quotes may come escaped
    assert " open" in box  # the parameters box shows unfolded


def test_a_failed_run_still_opens_with_its_verdict_and_shows_the_cells_that_ran(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from netdebug_nb import runner
    from netdebug_nb.errors import ExecutionError

    fixture = Path(__file__).parent / "fixtures" / "notebooks" / "failing.ipynb"
    with pytest.raises(ExecutionError):
        runner.run(str(fixture), out=tmp_path)
    page = (tmp_path / "failing" / "failing.html").read_text()
    verdict = page.index('id="netdebug-verdict"')
    assert _title(page, "failing") < verdict
    block = page[verdict : page.index('id="netdebug-parameters"')]
    assert "The run failed in cell 3: <code>RuntimeError: boom at the failing cell</code>" in block
    assert 'href="#papermill-error-cell"' in block and "test.before" in block
    assert "An Exception was encountered" not in page  # papermill's top banner gives way to the verdict
    assert 'id="papermill-error-cell"' in page  # the anchor at the failing cell stays
    assert "boom at the failing cell" in page[page.index('id="papermill-error-cell"') :]  # the traceback


def test_a_run_without_findings_says_so() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Just text, no title.")]
    page = to_html(nb, title="netdebug: plain", error="timed out after 5 s")
    assert _title(page, "plain") < page.index('id="netdebug-verdict"')
    assert "The run failed: <code>timed out after 5 s</code>" in page


def test_the_verdict_names_the_section_of_the_failing_cell() -> None:
    nb = _analysis_notebook()
    broken = nbformat.v4.new_code_cell("dns.read(path)")
    broken.outputs = [
        nbformat.v4.new_output("error", ename="KeyError", evalue="'qname'", traceback=["KeyError: 'qname'"])
    ]
    nb.cells.insert(4, broken)  # under "## TCP health", before "## Findings"
    page = to_html(nb, title="netdebug: t")
    block = page[page.index('id="netdebug-verdict"') : page.index('id="netdebug-parameters"')]
    assert "The run failed in cell 3 (section “TCP health”): <code>KeyError: 'qname'</code>" in html.unescape(
        block
    )


def test_an_inconclusive_run_says_so_first() -> None:
    from netdebug_nb import findings

    nb = _analysis_notebook()
    f = findings.Finding("capture.none", "info", "No capture given: nothing was analysed", inconclusive=True)
    nb.cells[3].outputs.append(
        nbformat.v4.new_output(
            "display_data",
            data={findings.MIME: f.to_dict(), "text/html": f._repr_html_(), "text/plain": str(f)},
        )
    )
    page = to_html(nb, title="netdebug: t")
    block = page[page.index('id="netdebug-verdict"') : page.index('id="netdebug-parameters"')]
    assert (
        '<p class="netdebug-status netdebug-status-failed">Inconclusive: No capture given: nothing was analysed.</p>'
        in block
    )  # red: a critical finding is among them too

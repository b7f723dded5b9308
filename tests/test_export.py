"""The report view renders notebook HTML (markdown, tables, findings) and strips anything active."""

from __future__ import annotations

import nbformat

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

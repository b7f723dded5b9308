"""Executed notebook → the report view: one self-contained, sanitized HTML file.

Verdict first: the page opens with the notebook's title, then the verdict (how the run ended and,
for a failed run, the error and the cell that failed; then every finding, most severe first, each
linking to the section that holds its evidence), then a compact box of the parameters; the
notebook's own cells follow in their order of analysis. Only the report view is rearranged: the
executed ``.ipynb`` keeps its order. Which section holds the evidence of a finding: the notebook's
metadata ``netdebug.evidence`` maps finding-id prefixes to section headings (longest prefix wins,
for findings recorded together at the end); otherwise the section of the cell that recorded it.

The report hides code cells (readers want results, not source), keeps plots (already embedded
as base64 by matplotlib's inline backend), and drops every script loaded from the network so
the file opens offline and is safe to hand around.

Sanitizing: nbconvert's own ``clean_html`` filter allows so few tags (no headings, paragraphs or
table headers) that it escapes markdown and DataFrame output into visible tag soup. We register
our own filter under the same name: a real allowlist of structural tags, attributes and inline
CSS properties; no scripts, no event handlers, no ``<style>`` blocks, ``data:`` URLs only for images.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import html
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netdebug_nb import findings

_REMOTE_SCRIPT = re.compile(r"<script[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>", re.IGNORECASE)
_MATHJAX_CONFIG = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_EMPTY_SCRIPT = re.compile(r"<script[^>]*\bsrc=[\"'][\"'][^>]*>\s*</script>", re.IGNORECASE)
_REMOTE_MODULE = re.compile(
    r"<script type=\"module\">(?:(?!</script>).)*https?://(?:(?!</script>).)*</script>", re.S
)
_BLOCKS = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.S | re.IGNORECASE)

ALLOWED_TAGS = frozenset(
    [
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "col",
        "colgroup",
        "dd",
        "del",
        "details",
        "div",
        "dl",
        "dt",
        "em",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strong",
        "sub",
        "summary",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    ]
)
ALLOWED_CSS = frozenset(
    [
        "color",
        "background",
        "background-color",
        "border",
        "border-left",
        "border-bottom",
        "border-collapse",
        "padding",
        "padding-left",
        "padding-right",
        "margin",
        "margin-top",
        "margin-bottom",
        "font-size",
        "font-weight",
        "font-style",
        "text-align",
        "vertical-align",
        "white-space",
        "width",
        "max-width",
        "overflow-x",
    ]
)
_COMMON_ATTRS = frozenset({"class", "id", "title", "style", "align"})
_TAG_ATTRS = {
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
    "ol": {"start"},
    "details": {"open"},
}

# The sanitizer removes what it does not know, so findings, the verdict and tables are styled by
# class here. The page never scrolls sideways: tables scroll in their own box, images shrink,
# long output lines wrap.
REPORT_CSS = """<style>
body{max-width:1240px;margin:0 auto}
.jp-Notebook{padding:8px 16px}
.jp-Cell,.jp-OutputArea-output,.jp-RenderedHTMLCommon{max-width:100%;min-width:0}
.jp-OutputArea-child,.jp-OutputArea-output{overflow-x:auto}
.jp-RenderedImage img,.jp-OutputArea-output img{max-width:100%;height:auto}
.jp-OutputArea-output pre{white-space:pre-wrap;overflow-wrap:anywhere}
.netdebug-finding{border-left:6px solid #1f5fa8;padding:.5em .8em;margin:.4em 0;background:#fafafa}
.netdebug-finding.netdebug-critical{border-left-color:#b00020}.netdebug-critical .netdebug-severity{color:#b00020}
.netdebug-finding.netdebug-warning{border-left-color:#b26a00}.netdebug-warning .netdebug-severity{color:#b26a00}
.netdebug-info .netdebug-severity{color:#1f5fa8}
.netdebug-finding table{display:block;overflow-x:auto;max-width:100%}
.netdebug-verdict{border:1px solid #ddd;border-radius:4px;padding:.6em 1em;margin:.6em 0;background:#fff}
.netdebug-verdict h2{margin-top:.2em}
.netdebug-evidence{font-size:90%;margin-top:.3em}
.netdebug-status{font-weight:bold;margin:.3em 0}.netdebug-status-failed{color:#b00020}
.netdebug-status-ok{color:#2e7d32}.netdebug-status-warning{color:#b26a00}
.netdebug-parameters{border:1px solid #ddd;border-radius:4px;padding:.4em 1em;margin:.6em 0;font-size:90%;background:#fcfcfc}
.netdebug-param-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:.1em 1.5em;margin:.3em 0}
.netdebug-param-grid div{overflow-wrap:anywhere}.netdebug-default{color:#555}
.netdebug-parameters .netdebug-given{font-weight:bold}
.netdebug-table-box{overflow-x:auto;max-width:100%;margin:.4em 0}
.jp-RenderedHTMLCommon table.netdebug-table{font-size:12px;border-collapse:collapse;table-layout:auto;margin:0}
.jp-RenderedHTMLCommon table.netdebug-table td,.jp-RenderedHTMLCommon table.netdebug-table th{text-align:left;vertical-align:top;padding:2px 8px;max-width:40em;overflow-wrap:break-word}
.jp-RenderedHTMLCommon table.netdebug-table td.num,.jp-RenderedHTMLCommon table.netdebug-table th.num{text-align:right;white-space:nowrap}
.jp-RenderedHTMLCommon table.netdebug-table td.na{color:#888}
.jp-RenderedHTMLCommon table.netdebug-table caption{caption-side:top;text-align:left;font-weight:bold;padding:2px 0}
.netdebug-more{font-size:90%;color:#555;margin:.2em 0 .6em}
.jp-RenderedHTMLCommon table.dataframe{font-size:12px}
</style>"""
FINDING_CSS = REPORT_CSS  # the name older callers used


def _allowed_attribute(tag: str, name: str, value: str) -> bool:
    if name not in _COMMON_ATTRS and name not in _TAG_ATTRS.get(tag, ()):
        return False
    low = value.strip().lower()
    if name == "src":
        return low.startswith("data:image/")
    if name == "href":
        return not low.startswith(("javascript:", "data:", "vbscript:"))
    return True


def clean_html(element: Any) -> str:
    """Sanitize HTML produced by a notebook (outputs, rendered markdown)."""
    text = element.decode() if isinstance(element, bytes) else str(element)
    done = _cleaned.get(text)
    if done is None:
        with _cleaning:  # one Cleaner, not thread-safe: the runner's pre-cleaning shares it
            done = _cleaned[text] = str(_cleaner().clean(_BLOCKS.sub("", text)))
    return done


def preclean(cell: Any) -> None:
    """Sanitize a just-executed cell's HTML outputs ahead of the export (remembered by content).

    Sanitizing is half of a report's export; the runner does it cell by cell on a thread while
    the kernel runs the next cells, so the report is written sooner after the last one.
    """
    for output in cell.get("outputs", []) or []:
        shown = _html_of(output)
        if shown:
            clean_html(shown)


def _html_of(output: Mapping[str, Any]) -> str | None:
    """An output's ``text/html``, as one string (a saved notebook may hold it as a list of lines)."""
    shown = (output.get("data") or {}).get("text/html")
    return "".join(shown) if isinstance(shown, list) else shown


# sanitized HTML by its source text, for the reports of this process (a CLI run writes one)
_cleaned: dict[str, str] = {}


@functools.cache
def _cleaner() -> Any:
    """One sanitizer for the whole report (bleach builds its parser and serializer per Cleaner)."""
    from bleach.css_sanitizer import CSSSanitizer
    from bleach.sanitizer import Cleaner

    return Cleaner(
        tags=ALLOWED_TAGS,
        attributes=_allowed_attribute,
        protocols=["http", "https", "mailto", "data"],
        css_sanitizer=CSSSanitizer(allowed_css_properties=ALLOWED_CSS),
        strip=True,
        strip_comments=True,
    )


def to_html(nb: Any, *, title: str, error: str | None = None) -> str:
    """HTML for an executed notebook (a ``nbformat.NotebookNode``), verdict first.

    ``error`` is the run's one-line failure when the runner knows one (a timeout or a dead kernel
    leaves no error output in the notebook); a failing cell is found in the notebook itself.
    """
    view = verdict_first(nb, error=error, title=title)
    view.metadata["title"] = title
    with _exporting:
        body, _ = _exporter().from_notebook_node(view)
    _cleaned.clear()
    body = str(body)
    for pattern in (_MATHJAX_CONFIG, _REMOTE_SCRIPT, _EMPTY_SCRIPT, _REMOTE_MODULE):
        body = pattern.sub("", body)
    return body.replace("</head>", REPORT_CSS + "\n</head>", 1)


def warm() -> None:
    """Import nbconvert and the sanitizer and compile the templates, before there is a notebook.

    That is a second of a headless run's wall time; the runner does it on a thread while the
    kernel executes the notebook (the CLI process waits on the kernel then), so the report is
    written as soon as the last cell ends. Errors are left to the real export to report.
    """
    import nbformat

    with contextlib.suppress(Exception):
        to_html(nbformat.v4.new_notebook(), title="")


@functools.cache
def _exporter() -> Any:
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class Exporter(HTMLExporter):  # type: ignore[misc]  # nbconvert is untyped
        """nbconvert's HTML exporter without its last step: parsing the whole page again with
        BeautifulSoup's pure-Python parser, only to add image alt texts and tabindex attributes
        (0.15 s for a report with figures, after the last cell). They are added to the text here.
        """

        def from_notebook_node(self, nb: Any, resources: Any = None, **kw: Any) -> tuple[str, Any]:  # type: ignore[override]
            langinfo = nb.metadata.get("language_info", {})
            lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
            self.register_filter(
                "highlight_code",
                self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)),
            )
            resources = self._init_resources(resources)
            self.register_filter(
                "filter_data_type",
                WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self, resources=resources),
            )
            page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _accessible(page), resources

    exporter = Exporter(
        template_name="lab",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        sanitize_html=True,
    )
    exporter.register_filter("clean_html", clean_html)
    exporter.mathjax_url = ""
    exporter.require_js_url = ""
    return exporter


_NO_ALT = re.compile(r"<img\b(?![^>]*\balt=)")
_FOCUSABLE = re.compile(
    r'<div class="(?=[^"]*\bjp-(?:Cell-inputWrapper|OutputArea-output)\b)([^"]*)"(?![^>]*\btabindex=)'
)


def _accessible(page: str) -> str:
    """What nbconvert's HTML exporter adds to a page: an alt text on images without one, and
    ``tabindex="0"`` on each input and output area (reachable with the keyboard)."""
    page = _NO_ALT.sub('<img alt="No description has been provided for this image"', page)
    return _FOCUSABLE.sub(r'<div class="\1" tabindex="0"', page)


_exporting = threading.Lock()  # one export at a time per exporter (its resources are per call)
_cleaning = threading.Lock()


def write_html(nb: Any, path: Path, *, title: str, error: str | None = None) -> Path:
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(to_html(nb, title=title, error=error), encoding="utf-8")
    tmp.replace(path)
    return path


# -- verdict first ------------------------------------------------------------------------------

VERDICT_ID = "netdebug-verdict"
PARAMETERS_ID = "netdebug-parameters"
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_PAPERMILL_TAG = "papermill-error-cell-tag"
_PAPERMILL_ANCHOR = "papermill-error-cell"


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str


@dataclass(frozen=True)
class Failure:
    """Where and how a run stopped, as far as the executed notebook (or the runner) tells."""

    message: str
    cell_index: int | None = None
    section: Section | None = None


def verdict_first(nb: Any, *, error: str | None = None, title: str = "") -> Any:
    """A copy of ``nb`` arranged for reading: title, verdict, parameters, then the cells in order."""
    import nbformat

    view = copy.deepcopy(nb)
    failure = _failure(view, error)
    # papermill's banner at the top says only "an exception was encountered": the verdict says more
    cells = [
        c
        for c in view.cells
        if not (_tagged(c, _PAPERMILL_TAG) and f'id="{_PAPERMILL_ANCHOR}"' not in c.source)
    ]
    title_cell, cells = _split_title(cells, title)
    found = _findings_with_sections(cells, _evidence_map(view))
    verdict = nbformat.v4.new_code_cell(source="")
    verdict.outputs = [_html_output(_verdict_html(found, failure))]
    params = nbformat.v4.new_code_cell(source="")
    params.outputs = [_html_output(_parameters_html(view))]
    view.cells = [title_cell, verdict, params, *cells]
    return view


def _failure(nb: Any, error: str | None) -> Failure | None:
    section: Section | None = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            for level, text in _headings(cell.source):
                if level >= 2:  # the title is no section
                    section = Section("", text)
            continue
        for output in cell.get("outputs", []) or []:
            if output.get("output_type") == "error":
                message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".rstrip(": ")
                return Failure(message, _code_index(nb, index), section)
        if cell.get("metadata", {}).get("papermill", {}).get("exception") is True:
            return Failure(error or "the cell did not complete", _code_index(nb, index), section)
    return Failure(error) if error else None


def _code_index(nb: Any, index: int) -> int:
    """The failing cell's number among the notebook's code cells (1-based), as people count them."""
    return sum(1 for c in nb.cells[: index + 1] if c.cell_type == "code")


def _split_title(cells: list[Any], title: str) -> tuple[Any, list[Any]]:
    import nbformat

    first = cells[0] if cells else None
    if first is not None and first.cell_type == "markdown":
        match = _HEADING.search(first.source)
        if match and len(match.group(1)) == 1 and not first.source[: match.start()].strip():
            rest = first.source[match.end() :].strip()
            head = nbformat.v4.new_markdown_cell(first.source[: match.end()])
            tail = [nbformat.v4.new_markdown_cell(rest)] if rest else []
            return head, [*tail, *cells[1:]]
    name = title.removeprefix("netdebug: ") or "Report"
    return nbformat.v4.new_markdown_cell(f"# {name}"), cells


def _headings(source: str) -> list[tuple[int, str]]:
    text = re.sub(r"```.*?```", "", source, flags=re.S)
    return [(len(m.group(1)), m.group(2).strip()) for m in _HEADING.finditer(text)]


def _evidence_map(nb: Any) -> dict[str, str]:
    meta = nb.metadata.get("netdebug", {}) or {}
    return {str(k): str(v) for k, v in (meta.get("evidence", {}) or {}).items()}


# a finding, the section holding its evidence, and its HTML as the kernel displayed it (if it did)
Shown = tuple[findings.Finding, Section | None, str | None]


def _findings_with_sections(cells: list[Any], evidence: Mapping[str, str]) -> list[Shown]:
    """Every finding shown in ``cells`` with the section of its evidence; adds anchors to headings."""
    sections: dict[str, Section] = {}
    current: Section | None = None
    located: list[Shown] = []
    counter = 0
    for cell in cells:
        if cell.cell_type == "markdown":
            lines = []
            for line in cell.source.split("\n"):
                match = _HEADING.match(line)
                if match and len(match.group(1)) >= 2:
                    counter += 1
                    current = Section(f"netdebug-section-{counter}", match.group(2).strip())
                    sections.setdefault(_plain(current.title), current)
                    lines += [f'<a id="{current.anchor}"></a>', ""]
                lines.append(line)
            cell.source = "\n".join(lines)
            continue
        for output in cell.get("outputs", []) or []:
            for f in findings.from_notebook({"cells": [{"outputs": [output]}]}):
                located.append((f, current, _html_of(output)))
    out: list[Shown] = []
    for f, recorded_in, shown in located:
        prefix = max((p for p in evidence if f.id.startswith(p)), key=len, default=None)
        target = sections.get(_plain(evidence[prefix])) if prefix is not None else None
        out.append((f, target or recorded_in, shown))
    order = {id(f): i for i, (f, _, _) in enumerate(out)}
    return sorted(out, key=lambda fs: (findings.SEVERITIES.index(fs[0].severity), order[id(fs[0])]))


def _plain(title: str) -> str:
    return re.sub(r"[`*_]", "", title).strip().lower()


def _verdict_html(found: list[Shown], failure: Failure | None) -> str:
    e = html.escape
    parts = [f'<div class="{VERDICT_ID}" id="{VERDICT_ID}">', "<h2>Verdict</h2>"]
    if failure is not None:
        where = ""
        if failure.cell_index is not None:
            where = f" in cell {failure.cell_index}"
            if failure.section is not None:
                where += f" (section “{e(failure.section.title)}”)"
        link = (
            f' <a href="#{_PAPERMILL_ANCHOR}">Go to the failing cell.</a>'
            if failure.cell_index is not None
            else ""
        )
        parts.append(
            f'<p class="netdebug-status netdebug-status-failed">The run failed{where}: '
            f"<code>{e(failure.message)}</code>. The results of the cells that ran are below; "
            f"findings may be missing.{link}</p>"
        )
    counts = {s: sum(1 for f, _, _ in found if f.severity == s) for s in findings.SEVERITIES}
    inconclusive = any(f.inconclusive for f, _, _ in found)
    cls = (
        "netdebug-status-failed"
        if counts["critical"]
        else "netdebug-status-warning"
        if counts["warning"] or inconclusive
        else "netdebug-status-ok"
    )
    if failure is None:  # how the run ended, in the words the notebook's own summary uses
        parts.append(f'<p class="netdebug-status {cls}">{e(findings.verdict(f for f, _, _ in found))}.</p>')
    elif found:
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        parts.append(f'<p class="netdebug-status {cls}">Before it stopped: {e(summary)}.</p>')
    for f, section, shown in found:
        parts.append(shown or f._repr_html_())  # as the kernel drew it: evidence tables are not redrawn
        if section is not None:
            parts.append(
                f'<div class="netdebug-evidence">Evidence: <a href="#{section.anchor}">{e(section.title)}</a></div>'
            )
    parts.append("</div>")
    return "\n".join(parts)


def _parameters_html(nb: Any) -> str:
    from netdebug_nb.declaration import parse_cell

    e = html.escape
    given = dict(nb.metadata.get("papermill", {}).get("parameters", {}) or {})
    declared: dict[str, Any] = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and _tagged(cell, "parameters"):
            try:
                declared = {p.name: p.default for p in parse_cell(cell.source)}
            except Exception:  # a broken parameters cell must not cost the report
                declared = {}
            break
    names = [n for n in given if n in declared or n not in declared] + [n for n in declared if n not in given]
    if not names:
        return f'<div class="netdebug-parameters" id="{PARAMETERS_ID}"><b>Parameters:</b> none.</div>'
    items = []
    for name in names:
        is_given = name in given and given[name] != declared.get(name, object())
        value = given[name] if name in given else declared[name]
        items.append(
            f'<div class="{"netdebug-given" if is_given else "netdebug-default"}"><code>{e(name)}</code> = '
            f"<code>{e(_literal(value))}</code></div>"
        )
    n_given = sum(1 for n in names if n in given and given[n] != declared.get(n, object()))
    return (
        f'<details class="netdebug-parameters" id="{PARAMETERS_ID}" open><summary><b>Parameters</b> '
        f'({n_given} given, the rest default)</summary><div class="netdebug-param-grid">{"".join(items)}</div>'
        "</details>"
    )


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _tagged(cell: Any, tag: str) -> bool:
    return tag in (cell.get("metadata", {}).get("tags", []) or [])


def _html_output(text: str) -> Any:
    import nbformat

    return nbformat.v4.new_output("display_data", data={"text/html": text, "text/plain": ""})

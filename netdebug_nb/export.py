"""Executed notebook → the report view: one self-contained, sanitized HTML file.

The report hides code cells (readers want results, not source), keeps plots (already embedded
as base64 by matplotlib's inline backend), and drops every script loaded from the network so
the file opens offline and is safe to hand around.

Sanitizing: nbconvert's own ``clean_html`` filter allows so few tags (no headings, paragraphs or
table headers) that it escapes markdown and DataFrame output into visible tag soup. We register
our own filter under the same name: a real allowlist of structural tags, attributes and inline
CSS properties; no scripts, no event handlers, no ``<style>`` blocks, ``data:`` URLs only for images.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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
    ]
)
_COMMON_ATTRS = frozenset({"class", "id", "title", "style", "align"})
_TAG_ATTRS = {
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "th": {"colspan", "rowspan", "scope"},
    "td": {"colspan", "rowspan"},
    "ol": {"start"},
}

# The sanitizer removes what it does not know, so findings and tables are styled by class here.
FINDING_CSS = """<style>
.netdebug-finding{border-left:6px solid #1f5fa8;padding:.5em .8em;margin:.4em 0;background:#fafafa}
.netdebug-finding.netdebug-critical{border-left-color:#b00020}.netdebug-critical .netdebug-severity{color:#b00020}
.netdebug-finding.netdebug-warning{border-left-color:#b26a00}.netdebug-warning .netdebug-severity{color:#b26a00}
.netdebug-info .netdebug-severity{color:#1f5fa8}
.jp-RenderedHTMLCommon table.dataframe{font-size:12px}
</style>"""


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
    import bleach
    from bleach.css_sanitizer import CSSSanitizer

    text = element.decode() if isinstance(element, bytes) else str(element)
    text = _BLOCKS.sub("", text)
    return str(
        bleach.clean(
            text,
            tags=ALLOWED_TAGS,
            attributes=_allowed_attribute,
            protocols=["http", "https", "mailto", "data"],
            css_sanitizer=CSSSanitizer(allowed_css_properties=ALLOWED_CSS),
            strip=True,
            strip_comments=True,
        )
    )


def to_html(nb: Any, *, title: str) -> str:
    """HTML for an executed notebook (a ``nbformat.NotebookNode``)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
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
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb)
    for pattern in (_MATHJAX_CONFIG, _REMOTE_SCRIPT, _EMPTY_SCRIPT, _REMOTE_MODULE):
        body = pattern.sub("", body)
    return body.replace("</head>", FINDING_CSS + "\n</head>", 1)


def write_html(nb: Any, path: Path, *, title: str) -> Path:
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(to_html(nb, title=title), encoding="utf-8")
    tmp.replace(path)
    return path

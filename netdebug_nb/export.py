"""Executed notebook → the report view: one self-contained, sanitized HTML file.

The report hides code cells (readers want results, not source), keeps plots (already embedded
as base64 by matplotlib's inline backend), and drops every script loaded from the network so
the file opens offline and is safe to hand around.
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
# The sanitizer removes inline styles from outputs, so findings are styled by class here.
FINDING_CSS = """<style>
.netdebug-finding{border-left:6px solid #1f5fa8;padding:.5em .8em;margin:.4em 0;background:#fafafa}
.netdebug-finding.netdebug-critical{border-left-color:#b00020}.netdebug-critical .netdebug-severity{color:#b00020}
.netdebug-finding.netdebug-warning{border-left-color:#b26a00}.netdebug-warning .netdebug-severity{color:#b26a00}
.netdebug-info .netdebug-severity{color:#1f5fa8}
.jp-OutputArea-output table{border-collapse:collapse}.jp-OutputArea-output td,.jp-OutputArea-output th{padding:.2em .5em}
</style>"""


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

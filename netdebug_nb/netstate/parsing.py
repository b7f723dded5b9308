"""Shared helpers for the section parsers: JSON documents and errors that name file and line."""

from __future__ import annotations

import json
from typing import Any

from netdebug_nb.errors import ParseError


def json_list(text: str, source: str, *, what: str) -> list[dict[str, Any]]:
    """A JSON array of objects (what ``ip -j`` prints), or a :class:`ParseError` with the line."""
    if not text.strip():
        return []
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(source, f"not valid JSON from {what}: {exc.msg}", line=exc.lineno) from exc
    if not isinstance(doc, list) or not all(isinstance(d, dict) for d in doc):
        raise ParseError(source, f"expected a JSON array of objects from {what}", line=1)
    return doc


def json_object(text: str, source: str, *, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(source, f"not valid JSON from {what}: {exc.msg}", line=exc.lineno) from exc
    if not isinstance(doc, dict):
        raise ParseError(source, f"expected a JSON object from {what}", line=1)
    return doc


def intval(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None

"""Saved tool output given to a parser by path: the one place that reads it as text.

Every failure to read becomes an :class:`InputError` that names the file and what it should
have held, so ``read`` functions of the parsers end in one clear line instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path

from netdebug_nb.errors import InputError


def read(path: str | Path, what: str) -> str:
    """The text of ``path`` (undecodable bytes replaced); ``what`` names it in errors."""
    p = Path(path)
    try:
        return p.read_text(errors="replace")
    except FileNotFoundError as exc:
        raise InputError(p, f"no such file ({what})") from exc
    except OSError as exc:
        raise InputError(p, f"cannot read: {exc.strerror or exc}") from exc

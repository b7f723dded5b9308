"""A notebook's declared parameters, and turning user input into values of those types.

The ``parameters`` cell is plain Python, one parameter a line::

    pcap: str = ""          # capture file (.pcap, .pcapng, optionally .gz)
    top_n: int = 10         # rows in the top-talkers tables
    targets: list = []      # names or IPs to probe

This module reads those lines with :mod:`ast` (no execution) into :class:`Parameter` records and
converts ``-p NAME VALUE`` strings or YAML values to the declared type, so a wrong name or value
is rejected before a kernel is started.
"""

from __future__ import annotations

import ast
import io
import json
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netdebug_nb.errors import (
    NotebookFormatError,
    ParameterTypeError,
    UnknownParameterError,
)

TYPES = ("str", "int", "float", "bool", "list", "dict")
_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n"}


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: Any
    help: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": self.default, "help": self.help}


def parse_cell(source: str, *, origin: str = "parameters cell") -> list[Parameter]:
    """Parameters declared in the source of a ``parameters`` cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise NotebookFormatError(
            origin, f"parameters cell is not valid Python: {exc.msg} (line {exc.lineno})"
        ) from exc
    comments = _comments_by_line(source)
    params: list[Parameter] = []
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, annotation, value = node.target.id, ast.unparse(node.annotation), node.value
        elif (
            isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ):
            name, annotation, value = node.targets[0].id, "", node.value
        else:
            continue
        try:
            default = ast.literal_eval(value)
        except ValueError as exc:
            raise NotebookFormatError(origin, f"default of {name!r} must be a literal") from exc
        ptype = _normalise_type(annotation) if annotation else _type_of(default)
        # the help comment may sit on any line of the statement (formatters wrap long lines)
        end = node.end_lineno or node.lineno
        help_text = next((comments[ln] for ln in range(node.lineno, end + 1) if ln in comments), "")
        params.append(Parameter(name, ptype, default, help_text))
    return params


def convert(param: Parameter, value: Any) -> Any:
    """``value`` (a CLI string or a YAML value) as the parameter's declared type."""
    t = param.type
    try:
        if isinstance(value, str) and t != "str":
            return _from_text(t, value)
        return _from_value(t, value)
    except (ValueError, TypeError) as exc:
        raise ParameterTypeError(param.name, value, t, str(exc)) from exc


def validate(declared: Sequence[Parameter], given: Mapping[str, Any], *, notebook: str) -> dict[str, Any]:
    """Check names and convert values; the returned dict is what papermill injects."""
    by_name = {p.name: p for p in declared}
    out: dict[str, Any] = {}
    for name, value in given.items():
        if name not in by_name:
            raise UnknownParameterError(name, notebook, sorted(by_name))
        out[name] = convert(by_name[name], value)
    return out


def _from_text(t: str, text: str) -> Any:
    s = text.strip()
    if t == "int":
        return int(s, 0) if s.lower().startswith(("0x", "0o", "0b")) else int(s)
    if t == "float":
        return float(s)
    if t == "bool":
        if s.lower() in _TRUE:
            return True
        if s.lower() in _FALSE:
            return False
        raise ValueError("expected true/false, yes/no, on/off or 1/0")
    if t == "list":
        if s.startswith("["):
            v = json.loads(s)
            if not isinstance(v, list):
                raise ValueError("expected a list")
            return v
        return [part.strip() for part in s.split(",") if part.strip()]
    if t == "dict":
        v = json.loads(s)
        if not isinstance(v, dict):
            raise ValueError("expected a JSON object")
        return v
    return text


def _from_value(t: str, v: Any) -> Any:
    if t == "str":
        if isinstance(v, str | int | float) and not isinstance(v, bool):
            return str(v)
        raise TypeError(f"expected a string, got {type(v).__name__}")
    if t == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"expected an integer, got {type(v).__name__}")
        return v
    if t == "float":
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise TypeError(f"expected a number, got {type(v).__name__}")
        return float(v)
    if t == "bool":
        if not isinstance(v, bool):
            raise TypeError(f"expected true or false, got {type(v).__name__}")
        return v
    if t == "list":
        if isinstance(v, list | tuple):
            return list(v)
        raise TypeError(f"expected a list, got {type(v).__name__}")
    if t == "dict":
        if isinstance(v, dict):
            return v
        raise TypeError(f"expected a mapping, got {type(v).__name__}")
    return v


def _normalise_type(annotation: str) -> str:
    base = annotation.split("[", 1)[0].strip().lower()
    aliases = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "sequence": "list"}
    base = aliases.get(base, base)
    return base if base in TYPES else "str"


def _type_of(default: Any) -> str:
    for t, py in (("bool", bool), ("int", int), ("float", float), ("list", list), ("dict", dict)):
        if isinstance(default, py):
            return t
    return "str"


def _comments_by_line(source: str) -> dict[int, str]:
    out: dict[int, str] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = tok.string.lstrip("#").strip()
    except tokenize.TokenError:
        pass
    return out


def read_file(path: str) -> dict[str, Any]:
    """Parameters from a YAML (or JSON) file given with ``-f``: a mapping of name → value."""
    import yaml

    from netdebug_nb.errors import ParametersFileError

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except OSError as exc:
        raise ParametersFileError(path, exc.strerror or str(exc)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ParametersFileError(path, f"not valid YAML{where}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParametersFileError(
            path, f"must be a mapping of parameter names to values, got {type(data).__name__}"
        )
    return {str(k): v for k, v in data.items()}

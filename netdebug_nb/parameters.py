"""Turning user input into checked values of a notebook's declared parameters (:mod:`declaration`).

The ``parameters`` cell is plain Python, one parameter a line, its help in the comment and its
domain (what values it accepts) in braces at the end of that comment::

    pcap: str = ""          # capture file (.pcap, .pcapng, optionally .gz) {capture?}
    top_n: int = 10         # rows in the top-talkers tables {1..1000}
    targets: list = []      # names or IPs to probe {host}
    resolver: str = "glibc" # resolver to replay {glibc|musl}

:mod:`netdebug_nb.declaration` reads those lines into :class:`Parameter` records; this module
converts ``-p NAME VALUE`` strings or YAML values to the declared type and checks them against the
domain, so a wrong name or value is rejected with one line before a kernel is started. The same
check runs inside the notebook (:func:`check`, the cell after the parameters) for JupyterLab.

Domains (``?`` after a kind also accepts the empty string; for a list, every item is checked):

- numbers: ``A..B`` (inclusive), ``A..`` (at least A), ``..B``, ``>A`` (more than A), ``>A..B``
- choices: ``a|b|c``
- input paths, which must exist and be readable: ``file``, ``dir``, ``capture`` (pcap, pcapng or
  gzip), ``captures`` (what :func:`netdebug_nb.pcap.captureset.resolve` accepts, or a
  ``pcap export`` directory), ``yaml``; output paths whose directory must exist and be writable: ``outfile``, ``outdir``
- words: ``host`` (name or IP), ``address`` (IP), ``cidr``, ``name`` (DNS name), ``port``
  (``80``, ``tcp/443``, ``udp/53``), ``interface``, ``target`` (host or Kubernetes selector),
  ``rate`` (``100M``), ``rrtype`` (``AAAA``), ``word``, ``text`` (anything)

Relative input paths are looked up in the current directory first, then in the notebooks
directory (``$NETDEBUG_NOTEBOOK_DIR`` when set, else the folder of the notebook being run), and
replaced by the absolute path found; a capture dropped next to the notebooks is found by its name.
"""

from __future__ import annotations

import glob
import ipaddress
import json
import os
import re
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from netdebug_nb.declaration import (
    INPUT_PATHS,
    KINDS,
    OUTPUT_PATHS,
    TYPES,
    WORDS,
    Domain,
    Parameter,
    number_text,
    parse_cell,
    parse_domain,
)
from netdebug_nb.errors import (
    NetdebugError,
    ParameterDomainError,
    ParameterTypeError,
    UnknownParameterError,
)

__all__ = [
    "INPUT_PATHS",
    "KINDS",
    "OUTPUT_PATHS",
    "TYPES",
    "WORDS",
    "Domain",
    "Parameter",
    "check",
    "convert",
    "parse_cell",
    "parse_domain",
    "read_file",
    "search_dirs",
    "validate",
]

_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n"}
NOTEBOOK_DIR_ENV = "NETDEBUG_NOTEBOOK_DIR"
"""Where uploaded inputs sit next to the notebooks (JupyterLab's root); searched for relative paths."""

# first bytes of the capture containers the reader understands (pcap either byte order, µs or ns;
# pcapng section header; gzip of either)
_CAPTURE_MAGIC = (
    b"\xa1\xb2\xc3\xd4",
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x4d\x3c\xb2\xa1",
    b"\x0a\x0d\x0d\x0a",
    b"\x1f\x8b",
)
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")
_PORT = re.compile(r"^(?:(?P<p1>tcp|udp)/(?P<n1>\d+)|(?P<n2>\d+)(?:/(?P<p2>tcp|udp))?)$", re.IGNORECASE)
_IFACE = re.compile(r"^[^\s/:]{1,15}$")
_RATE = re.compile(r"^\d+(?:\.\d+)?[KMGTkmgt]?(?:/\d+)?$")
_RRTYPE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|TYPE\d+)$", re.IGNORECASE)
_WORD = re.compile(r"^[A-Za-z0-9_.-]+$")
_K8S_SELECTOR = re.compile(r"^(?:nodes?(?::.*)?|pods?:.+|(?:service|svc):.+)$", re.IGNORECASE)


def convert(param: Parameter, value: Any) -> Any:
    """``value`` (a CLI string or a YAML value) as the parameter's declared type."""
    t = param.type
    try:
        if isinstance(value, str) and t != "str":
            return _from_text(t, value)
        return _from_value(t, value)
    except (ValueError, TypeError) as exc:
        raise ParameterTypeError(param.name, value, t, str(exc)) from exc


def validate(
    declared: Sequence[Parameter],
    given: Mapping[str, Any],
    *,
    notebook: str,
    search: Sequence[Path] | None = None,
) -> dict[str, Any]:
    """Check names, convert values and check every value (given or default) against its domain.

    The returned dict is what papermill injects: the given values, converted, plus any value the
    check changed (a relative input path becomes the absolute path found). ``search`` is where
    relative input paths are looked up (:func:`search_dirs`); None checks the form of paths only
    (a fleet run names files on the nodes, not here).
    """
    by_name = {p.name: p for p in declared}
    out: dict[str, Any] = {}
    for name, value in given.items():
        if name not in by_name:
            raise UnknownParameterError(name, notebook, sorted(by_name))
        try:
            out[name] = convert(by_name[name], value)
        except ParameterTypeError as exc:
            p = by_name[name]
            domain = f" ({p.domain.describe()})" if p.domain else ""
            raise ParameterTypeError(name, value, f"{_article(p.type)}{domain}", notebook=notebook) from exc
    for p in declared:
        value = out.get(p.name, p.default)
        checked = check_value(p, value, notebook=notebook, search=search)
        if p.name in out or checked != value:
            out[p.name] = checked
    return out


def check_value(param: Parameter, value: Any, *, notebook: str, search: Sequence[Path] | None = None) -> Any:
    """``value`` checked against the parameter's domain; paths come back absolute when ``search``."""
    d = param.domain
    if d is None:
        return value
    if param.type == "list" and isinstance(value, list):
        return [_check_one(param, d, v, notebook, search, item=i + 1) for i, v in enumerate(value)]
    return _check_one(param, d, value, notebook, search)


def check(notebook: str, namespace: MutableMapping[str, Any]) -> None:
    """The notebook's parameters in ``namespace`` (its globals) checked as ``netdebug-nb run`` does.

    Called in the cell after the parameters cell, so a value typed in JupyterLab gets the same
    one-line message as on the command line. Values are converted to their declared type and
    relative input paths replaced by the absolute path found, in ``namespace``.
    """
    from netdebug_nb import catalogue

    info = catalogue.find(notebook)
    given = {p.name: namespace[p.name] for p in info.parameters if p.name in namespace}
    namespace.update(validate(info.parameters, given, notebook=info.name, search=search_dirs(info.path)))


def search_dirs(notebook_path: Path | None = None) -> list[Path]:
    """Where a relative input path is looked for: the current directory, then the notebooks directory."""
    dirs = [Path.cwd()]
    env = os.environ.get(NOTEBOOK_DIR_ENV, "")
    nb_dir = Path(env).expanduser() if env else (notebook_path.parent if notebook_path else None)
    if nb_dir is not None and nb_dir.resolve() != dirs[0].resolve():
        dirs.append(nb_dir)
    return dirs


def _check_one(
    param: Parameter,
    d: Domain,
    value: Any,
    notebook: str,
    search: Sequence[Path] | None,
    *,
    item: int | None = None,
) -> Any:
    where = f" (item {item})" if item is not None else ""

    def fail(reason: str, shown: str | None = None) -> ParameterDomainError:
        return ParameterDomainError(notebook, param.name, value, f"{where} {reason}".strip(), shown=shown)

    if d.kind == "range":
        if item is not None and isinstance(value, str):  # -p sizes 56,1200 gives the items as text
            value = _number(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"is not a number ({d.describe()})", repr(value))
        ok = (
            (d.low is None or (value > d.low if d.low_open else value >= d.low))
            and (d.high is None or value <= d.high)
            and value == value  # NaN
        )
        if not ok:
            raise fail(f"is not {d.describe()}", number_text(value))
        return value
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    if text is None:
        raise fail(f"is not {KINDS.get(d.kind, 'one of ' + ', '.join(d.choices))}", repr(value))
    if d.kind == "choice":
        if text not in d.choices:
            raise fail(f"is not {d.describe()}", repr(value))
        return value
    if text == "":
        if d.optional or d.kind == "text":
            return value
        raise fail(f"is empty; expected {KINDS[d.kind]}", "''")
    if d.is_path:
        if search is None:
            return value
        try:
            return _check_path(d.kind, text, search)
        except ValueError as exc:
            raise fail(str(exc), text) from exc
    reason = _word_problem(d.kind, text)
    if reason:
        raise fail(reason, repr(value))
    return value


def _check_path(kind: str, text: str, search: Sequence[Path]) -> str:
    """The absolute path of an input or output path parameter, or ValueError saying what is wrong."""
    what = KINDS[kind]
    p = Path(text).expanduser()
    if kind in OUTPUT_PATHS:
        target = p if p.is_absolute() else Path.cwd() / p
        if kind == "outfile" and target.is_dir():
            raise ValueError(f"is a directory; expected {what}")
        if kind == "outdir" and target.exists() and not target.is_dir():
            raise ValueError(f"is not a directory; expected {what}")
        parent = target if kind == "outdir" and target.is_dir() else target.parent
        if not parent.is_dir():
            raise ValueError(f"cannot be written: {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ValueError(f"cannot be written: {parent} is not writable")
        return str(target)
    if kind == "captures":
        return _check_captures(text, search)
    candidates = [p] if p.is_absolute() else [d / p for d in search]
    found = next((c for c in candidates if c.exists()), None)
    if found is None:
        looked = "" if p.is_absolute() else " (looked in " + ", ".join(str(d) for d in search) + ")"
        raise ValueError(f"does not exist{looked}; expected {what}")
    found = found.absolute()
    if kind == "dir":
        if not found.is_dir():
            raise ValueError(f"is not a directory; expected {what}")
        if not os.access(found, os.R_OK | os.X_OK):
            raise ValueError("is a directory that cannot be read (permission denied)")
        return str(found)
    if found.is_dir():
        raise ValueError(f"is a directory; expected {what}")
    if not found.is_file():
        raise ValueError(f"is not a regular file; expected {what}")
    try:
        with open(found, "rb") as fh:
            head = fh.read(4 if kind == "capture" else 0)
    except OSError as exc:
        raise ValueError(f"cannot be read: {exc.strerror or exc}") from exc
    if kind == "capture" and not head.startswith(_CAPTURE_MAGIC):
        raise ValueError(
            "is empty; expected a capture file"
            if not head
            else "is not a capture file (pcap, pcapng, or either gzip-compressed)"
        )
    if kind == "yaml":
        _check_yaml(found)
    return str(found)


def _check_captures(text: str, search: Sequence[Path]) -> str:
    """A capture set (file, directory, glob, comma-separated list) or export, each part made absolute."""
    from netdebug_nb.errors import InputError
    from netdebug_nb.pcap import captureset, dataset

    whole = Path(text).expanduser()
    single = (whole.is_absolute() and whole.exists()) or "," not in text
    parts = [text] if single else [t.strip() for t in text.split(",") if t.strip()]
    found: list[str] = []
    for part in parts:
        p = Path(part).expanduser()
        bases = [p] if p.is_absolute() else [d / p for d in search]
        hit = next((b for b in bases if b.exists() or captureset.resolve_quietly(str(b))), None)
        name = "" if single else f"{part} "
        if hit is None:
            looked = "" if p.is_absolute() else " (looked in " + ", ".join(str(d) for d in search) + ")"
            what = "matches no file" if glob.has_magic(part) else "does not exist"
            raise ValueError(f"{name}{what}{looked}; expected {KINDS['captures']}")
        if dataset.is_dataset(hit) and single:
            return str(hit.absolute())
        try:
            files = captureset.resolve(str(hit.absolute()))
        except InputError as exc:
            raise ValueError(f"{name}{exc.reason}; expected {KINDS['captures']}") from exc
        for f in files:
            named = name if f == hit else f"{f} "
            if not os.access(f, os.R_OK):
                raise ValueError(f"{named}cannot be read (permission denied)")
            if not captureset.looks_like_capture(f):
                raise ValueError(f"{named}is not a capture file (pcap, pcapng, or either gzip-compressed)")
        found.append(str(hit.absolute()))
    return ",".join(found)


def _check_yaml(path: Path) -> None:
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            list(yaml.safe_load_all(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot be read as text: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"is not valid YAML{where}") from exc


def _word_problem(kind: str, text: str) -> str:
    """Why ``text`` is not a ``kind`` word, or "" when it is."""
    expected = f"is not {KINDS[kind]}"
    if kind == "text":
        return ""
    if kind == "host":
        return "" if _is_address(text) or _is_hostname(text) else expected
    if kind == "address":
        return "" if _is_address(text) else expected
    if kind == "cidr":
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            return expected
        return ""
    if kind == "name":
        return "" if text.strip() == text and 0 < len(text) <= 253 and " " not in text else expected
    if kind == "port":
        m = _PORT.match(text.strip())
        n = int(m["n1"] or m["n2"]) if m else 0
        return "" if 0 < n < 65536 else f"{expected}; ports are 1..65535"
    if kind == "interface":
        return "" if _IFACE.match(text) else f"{expected} (at most 15 characters, no '/', ':' or space)"
    if kind == "target":
        if _K8S_SELECTOR.match(text):
            from netdebug_nb.k8s import discovery

            try:
                discovery.parse_spec(text)
            except NetdebugError as exc:
                return f"is not a Kubernetes selector: {exc}"
            return ""
        return "" if _is_address(text) or _is_hostname(text) else expected
    if kind == "rate":
        return "" if _RATE.match(text) else expected
    if kind == "rrtype":
        return "" if _RRTYPE.match(text) else expected
    if kind == "word":
        return "" if _WORD.match(text) else expected
    return ""


def _number(text: str) -> int | float | str:
    """``"56"`` → 56, ``"0.5"`` → 0.5; anything else stays text (and is refused as not a number)."""
    for kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            continue
    return text


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _is_hostname(text: str) -> bool:
    name = text[:-1] if text.endswith(".") else text
    return 0 < len(name) <= 253 and all(_HOST_LABEL.match(label) for label in name.split("."))


def _article(t: str) -> str:
    return {"int": "an integer", "float": "a number", "bool": "true or false", "list": "a list"}.get(
        t, f"a {t}"
    )


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

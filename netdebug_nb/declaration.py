"""A notebook's declared parameters: its ``parameters`` cell read into :class:`Parameter` records.

The ``parameters`` cell is plain Python, one parameter a line, its help in the comment and its
domain (what values it accepts) in braces at the end of that comment::

    pcap: str = ""          # capture file (.pcap, .pcapng, optionally .gz) {capture?}
    top_n: int = 10         # rows in the top-talkers tables {1..1000}

The cell is read with :mod:`ast` (nothing is executed). What values are then accepted, and how a
``-p NAME VALUE`` string becomes a value of the declared type, is :mod:`netdebug_nb.parameters`;
the catalogue of notebooks needs only the declarations, which is why they live here, below both.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Any

from netdebug_nb.errors import NotebookFormatError

TYPES = ("str", "int", "float", "bool", "list", "dict")
INPUT_PATHS = {
    "file": "a file",
    "dir": "a directory",
    "capture": "a capture file",
    "yaml": "a YAML file",
    "captures": "a capture file (or a directory, glob or comma-separated list of them, or a pcap export)",
}
OUTPUT_PATHS = {"outfile": "a file to write", "outdir": "a directory to write into"}
WORDS = {
    "host": "a host name or IP address",
    "address": "an IP address",
    "cidr": "an IP network (CIDR)",
    "name": "a DNS name",
    "port": "a port (80, tcp/443, udp/53)",
    "interface": "an interface name",
    "target": "a host name, IP address or Kubernetes selector",
    "rate": "a bit rate (100M, 1G, 500K)",
    "rrtype": "a DNS record type (A, AAAA, SRV ...)",
    "word": "a name made of letters, digits, '.', '_' and '-'",
    "text": "text",
}
KINDS = {**INPUT_PATHS, **OUTPUT_PATHS, **WORDS}
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^(?P<open>>)?(?P<low>{_NUM})?(?:(?P<dots>\.\.)(?P<high>{_NUM})?)?$")


@dataclass(frozen=True)
class Domain:
    """The values a parameter accepts, as declared in braces at the end of its help comment."""

    text: str
    kind: str  # "range", "choice", or a key of KINDS
    optional: bool = False  # "?": the empty string is accepted too
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """The domain as a reader would say it: ``in 1..100000``, ``>= 0``, ``one of tcp, udp``."""
        if self.kind == "range":
            if self.low is not None and self.high is not None:
                if self.low_open:
                    return f"> {number_text(self.low)} and <= {number_text(self.high)}"
                return f"in {number_text(self.low)}..{number_text(self.high)}"
            if self.low is not None:
                return f"{'>' if self.low_open else '>='} {number_text(self.low)}"
            return f"<= {number_text(self.high)}" if self.high is not None else "any number"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        return KINDS[self.kind] + (", or empty" if self.optional else "")

    @property
    def is_path(self) -> bool:
        return self.kind in INPUT_PATHS or self.kind in OUTPUT_PATHS


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    default: Any
    help: str
    domain: Domain | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "help": self.help,
            "domain": self.domain.text if self.domain else None,
        }


def parse_domain(text: str, *, origin: str = "parameters cell", name: str = "") -> Domain:
    """``1..100000`` / ``>0`` / ``tcp|udp`` / ``capture?`` → :class:`Domain` (a typo is a notebook error)."""
    s = text.strip()
    m = _RANGE.match(s)
    if s and m and (m["low"] or m["high"]) and (m["dots"] or m["open"]):
        low = float(m["low"]) if m["low"] else None
        high = float(m["high"]) if m["high"] else None
        if m["open"] and low is None:
            raise NotebookFormatError(origin, f"domain of {name!r}: '>' needs a number: {{{text}}}")
        if low is not None and high is not None and high < low:
            raise NotebookFormatError(origin, f"domain of {name!r}: empty range {{{text}}}")
        return Domain(s, "range", low=low, low_open=bool(m["open"]), high=high)
    if "|" in s:
        choices = tuple(c.strip() for c in s.split("|"))
        if not all(choices):
            raise NotebookFormatError(origin, f"domain of {name!r}: empty choice in {{{text}}}")
        return Domain(s, "choice", choices=choices)
    kind, optional = (s[:-1], True) if s.endswith("?") else (s, False)
    if kind not in KINDS:
        raise NotebookFormatError(
            origin,
            f"domain of {name!r}: {{{text}}} is not a range (1..10, >0), choices (a|b) or one of {', '.join(KINDS)}",
        )
    return Domain(s, kind, optional=optional)


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
        comment = next((comments[ln] for ln in range(node.lineno, end + 1) if ln in comments), "")
        help_text, domain = comment, None
        m = re.search(r"\s*\{([^{}]*)\}\s*$", comment)
        if m:
            help_text, domain = comment[: m.start()].rstrip(), parse_domain(m[1], origin=origin, name=name)
        params.append(Parameter(name, ptype, default, help_text, domain))
    return params


def number_text(v: float) -> str:
    """``5`` for 5.0, ``0.5`` for 0.5: bounds as people wrote them."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() and abs(v) < 1e15 else str(v)


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

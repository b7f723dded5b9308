"""resolv.conf as the C resolvers read it: nameservers, search list and options.

Parsing is pure and forgiving in the way glibc is (a bad line is skipped, the rest still
applies), but unlike glibc it keeps every skipped line with its number and the reason, because
"the option you think is set is silently ignored" is a classic DNS incident. Limits follow glibc
(``MAXNS`` = 3 nameservers; ndots ≤ 15, timeout ≤ 30 s, attempts ≤ 5) and the defaults of both
glibc and musl (ndots 1, timeout 5 s, attempts 2).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from netdebug_nb.errors import InputError
from netdebug_nb.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

MAXNS = 3
"""glibc (and musl) use only the first three ``nameserver`` lines."""
NODELOCAL_ADDRESS = "169.254.20.10"
"""The link-local address NodeLocal DNSCache listens on by default."""
DEFAULT_NDOTS, DEFAULT_TIMEOUT_S, DEFAULT_ATTEMPTS = 1, 5, 2
_CAPS = {"ndots": 15, "timeout": 30, "attempts": 5}  # glibc RES_MAXNDOTS, RES_MAXRETRANS, RES_MAXRETRY
_FLAGS = (
    "rotate",
    "single-request",
    "single-request-reopen",
    "use-vc",
    "edns0",
    "trust-ad",
    "no-tld-query",
    "no-aaaa",
)
_KNOWN_IGNORED = (
    "debug",
    "inet6",
    "no-check-names",
    "no-reload",
    "ip6-bytestring",
    "ip6-dotint",
    "no-ip6-dotint",
)
_KEYWORDS = ("nameserver", "search", "domain", "options", "sortlist")

PROBLEMS_SCHEMA: Schema = {
    "line": "Int64",  # 1-based line number in the file (empty for whole-file problems)
    "text": "string",  # the offending line as written
    "problem": "string",
    "effect": "string",  # what the resolver does about it
}

OPTIONS_SCHEMA: Schema = {
    "option": "string",
    "value": "string",  # effective value (after defaults and caps)
    "source": "string",  # "default", "resolv.conf line N"
    "meaning": "string",
}


@dataclass(frozen=True)
class Problem:
    line: int | None
    text: str
    problem: str
    effect: str


@dataclass(frozen=True)
class ResolvConf:
    """The effective resolver configuration (what the C library will actually use)."""

    nameservers: tuple[str, ...] = ()
    """Every valid ``nameserver`` line in order, including those beyond :data:`MAXNS`."""
    search: tuple[str, ...] = ()
    ndots: int = DEFAULT_NDOTS
    timeout_s: int = DEFAULT_TIMEOUT_S
    attempts: int = DEFAULT_ATTEMPTS
    flags: frozenset[str] = frozenset()
    unknown_options: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    source: str = "resolv.conf"
    option_lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def used_nameservers(self) -> tuple[str, ...]:
        return self.nameservers[:MAXNS]

    @property
    def ignored_nameservers(self) -> tuple[str, ...]:
        return self.nameservers[MAXNS:]

    def has(self, flag: str) -> bool:
        return flag in self.flags

    def with_nameservers(self, servers: tuple[str, ...] | list[str]) -> ResolvConf:
        """The same options with an explicit server list (the notebook's ``nameservers`` override).

        Entries that are not IP addresses are dropped and reported as problems, like bad lines.
        """
        good, bad = [], []
        for s in servers:
            try:
                ipaddress.ip_address(str(s).split("%", 1)[0])
                good.append(str(s))
            except ValueError:
                bad.append(
                    Problem(None, str(s), f"nameservers parameter: {s!r} is not an IP address", "ignored")
                )
        return _replace(self, nameservers=tuple(good), problems=(*self.problems, *bad))


def _replace(conf: ResolvConf, **changes: object) -> ResolvConf:
    import dataclasses

    return dataclasses.replace(conf, **changes)  # type: ignore[arg-type]


def parse(text: str, *, source: str = "resolv.conf") -> ResolvConf:
    """The configuration the resolver would use, plus every line it would skip and why."""
    nameservers: list[str] = []
    search: tuple[str, ...] = ()
    values = {"ndots": DEFAULT_NDOTS, "timeout": DEFAULT_TIMEOUT_S, "attempts": DEFAULT_ATTEMPTS}
    flags: set[str] = set()
    unknown: list[str] = []
    problems: list[Problem] = []
    option_lines: dict[str, int] = {}
    search_line: int | None = None

    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        key, args = words[0], words[1:]
        if key == "nameserver":
            if not args:
                problems.append(Problem(lineno, raw, "nameserver without an address", "line ignored"))
                continue
            addr = args[0].split("%", 1)[0]
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                problems.append(Problem(lineno, raw, f"{args[0]!r} is not an IP address", "line ignored"))
                continue
            nameservers.append(args[0])
        elif key in ("search", "domain"):
            if not args:
                problems.append(Problem(lineno, raw, f"{key} without a domain", "line ignored"))
                continue
            if search_line is not None:
                problems.append(
                    Problem(
                        lineno,
                        raw,
                        f"{key} replaces the search list set on line {search_line}",
                        "the last search/domain line wins",
                    )
                )
            search = tuple(a.rstrip(".") or "." for a in (args if key == "search" else args[:1]))
            search_line = lineno
        elif key == "options":
            if not args:
                problems.append(Problem(lineno, raw, "options without any option", "line ignored"))
            for opt in args:
                name, sep, val = opt.partition(":")
                if name in _CAPS:
                    if not sep or not val.isdigit():
                        problems.append(
                            Problem(
                                lineno, raw, f"option {opt!r} needs a non-negative integer", "option ignored"
                            )
                        )
                        continue
                    n = int(val)
                    if n > _CAPS[name]:
                        problems.append(
                            Problem(
                                lineno,
                                raw,
                                f"{name}:{n} is above the maximum {_CAPS[name]}",
                                f"capped to {_CAPS[name]}",
                            )
                        )
                        n = _CAPS[name]
                    if name == "attempts" and n == 0:
                        n = 1
                    values[name] = n
                    option_lines[name] = lineno
                elif opt in _FLAGS:
                    flags.add(opt)
                    option_lines[opt] = lineno
                elif opt in _KNOWN_IGNORED:
                    option_lines[opt] = lineno
                else:
                    unknown.append(opt)
                    problems.append(Problem(lineno, raw, f"unknown option {opt!r}", "option ignored"))
        elif key == "sortlist":
            continue
        else:
            problems.append(Problem(lineno, raw, f"unknown keyword {key!r}", "line ignored"))

    if len(nameservers) > MAXNS:
        problems.append(
            Problem(
                None,
                "",
                f"{len(nameservers)} nameservers listed, the resolver uses only the first {MAXNS}",
                f"ignored: {', '.join(nameservers[MAXNS:])}",
            )
        )
    return ResolvConf(
        nameservers=tuple(nameservers),
        search=search,
        ndots=values["ndots"],
        timeout_s=values["timeout"],
        attempts=values["attempts"],
        flags=frozenset(flags),
        unknown_options=tuple(unknown),
        problems=tuple(problems),
        source=source,
        option_lines=option_lines,
    )


def read(path: str | Path) -> ResolvConf:
    """Parse a resolv.conf file; an unreadable file is an :class:`InputError` naming it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(p, f"cannot read resolv.conf: {exc.strerror or exc}") from exc
    return parse(text, source=str(p))


def problems(conf: ResolvConf) -> pd.DataFrame:
    from netdebug_nb import schema

    return schema.frame([vars(p) for p in conf.problems], PROBLEMS_SCHEMA)


_MEANING = {
    "nameservers": "servers queried, in order (first 3 only)",
    "search": "suffixes tried for names with fewer than ndots dots",
    "ndots": "names with at least this many dots are tried as-is first",
    "timeout": "seconds to wait for a server before the next try (glibc: first server)",
    "attempts": "rounds over the server list before giving up",
    "rotate": "spread queries over the servers instead of always starting with the first",
    "single-request": "send A then AAAA sequentially (conntrack race workaround)",
    "single-request-reopen": "new socket for the second query of a pair",
    "use-vc": "always use TCP",
    "edns0": "advertise EDNS0 (1200-byte UDP answers)",
    "trust-ad": "set the AD bit in queries and trust it in answers",
    "no-tld-query": "never query a single-label name as-is",
    "no-aaaa": "suppress AAAA queries (glibc >= 2.36)",
}


def options(conf: ResolvConf) -> pd.DataFrame:
    """The effective settings, one row each, with where they came from: the resolv.conf analysis table."""
    from netdebug_nb import schema

    def src(key: str) -> str:
        n = conf.option_lines.get(key)
        return f"line {n}" if n else "default"

    rows = [
        {
            "option": "nameservers",
            "value": " ".join(conf.used_nameservers)
            + (f" (ignored: {' '.join(conf.ignored_nameservers)})" if conf.ignored_nameservers else ""),
            "source": "resolv.conf" if conf.nameservers else "none",
            "meaning": _MEANING["nameservers"],
        },
        {
            "option": "search",
            "value": " ".join(conf.search),
            "source": "resolv.conf" if conf.search else "none",
            "meaning": _MEANING["search"],
        },
        {"option": "ndots", "value": str(conf.ndots), "source": src("ndots"), "meaning": _MEANING["ndots"]},
        {
            "option": "timeout",
            "value": f"{conf.timeout_s} s",
            "source": src("timeout"),
            "meaning": _MEANING["timeout"],
        },
        {
            "option": "attempts",
            "value": str(conf.attempts),
            "source": src("attempts"),
            "meaning": _MEANING["attempts"],
        },
    ]
    for flag in _FLAGS:
        rows.append(
            {
                "option": flag,
                "value": "on" if conf.has(flag) else "off",
                "source": src(flag),
                "meaning": _MEANING[flag],
            }
        )
    for opt in conf.unknown_options:
        rows.append(
            {
                "option": opt,
                "value": "unknown",
                "source": "resolv.conf",
                "meaning": "not a resolver option: ignored",
            }
        )
    return schema.frame(rows, OPTIONS_SCHEMA)

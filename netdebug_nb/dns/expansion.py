"""The exact order of names a C resolver asks for, and when it stops: glibc and musl.

Both libraries turn one ``getaddrinfo("api.example.com")`` into a list of candidate names built
from the search list and ``ndots``, but they differ in two ways that bite in Kubernetes, where
``ndots:5`` makes almost every external name go through every search suffix first:

* glibc (``res_nsearch``): a name with at least ``ndots`` dots is tried as-is first, then with
  every suffix; a name with fewer dots is tried with every suffix first, then as-is. It moves
  on after NXDOMAIN, NODATA and SERVFAIL, and stops on an answer or a timeout.
* musl (``name_from_dns_search``): a name with at least ``ndots`` dots is tried as-is ONLY (no
  search fallback); otherwise suffixes then as-is. It moves on only after NXDOMAIN: NODATA,
  SERVFAIL and timeouts end the lookup.

A trailing dot makes the name absolute in both: one candidate, no search. Everything here is
pure so the tracer and the pcap path share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from netdebug_nb.dns.resolvconf import ResolvConf
from netdebug_nb.errors import InputError
from netdebug_nb.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

Resolver = Literal["glibc", "musl"]
RESOLVERS: tuple[Resolver, ...] = ("glibc", "musl")

EXPANSION_SCHEMA: Schema = {
    "name": "string",  # the name the application asked for
    "resolver": "string",  # glibc | musl
    "step": "int64",  # 1-based position in the candidate list
    "qname": "string",  # absolute name sent (trailing dot)
    "qtypes": "string",  # query types sent for this candidate, e.g. "A+AAAA"
    "why": "string",  # which rule produced the candidate
    "continues_on": "string",  # outcomes after which the resolver tries the next candidate
}

CONTINUES_ON: dict[Resolver, tuple[str, ...]] = {
    "glibc": ("NXDOMAIN", "NODATA", "SERVFAIL"),
    "musl": ("NXDOMAIN",),
}


class InvalidNameError(InputError):
    """A name that no resolver would send (empty label, label > 63 bytes, name > 253...)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        super().__init__("names", f"{name!r} is not a valid DNS name: {reason}")


def validate(name: str) -> str:
    """``name`` unchanged, or :class:`InvalidNameError` saying why a resolver would refuse it."""
    if not name or (not name.strip(".") and name != "."):
        raise InvalidNameError(name, "empty name")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidNameError(name, "contains whitespace or control characters")
    body = name[:-1] if name.endswith(".") else name
    if name == ".":
        return name
    labels = body.split(".")
    for label in labels:
        if not label:
            raise InvalidNameError(name, "empty label (two dots in a row or a leading dot)")
        if len(label.encode("idna" if not label.isascii() else "ascii", errors="replace")) > 63:
            raise InvalidNameError(name, f"label {label[:20]!r}... is longer than 63 bytes")
    if len(body) > 253:
        raise InvalidNameError(name, f"{len(body)} characters, more than 253")
    return name


def _absolute(name: str, suffix: str | None = None) -> str:
    base = name.rstrip(".")
    if suffix and suffix != ".":
        return f"{base}.{suffix.strip('.')}."
    return f"{base}."


def candidates(name: str, conf: ResolvConf, resolver: Resolver = "glibc") -> list[tuple[str, str]]:
    """Absolute names the resolver tries, in order, each with the rule that produced it."""
    validate(name)
    if name.endswith("."):
        return [(name if name != "." else ".", "absolute name (trailing dot): no search")]
    dots = name.count(".")
    search = [s for s in conf.search if s]
    out: list[tuple[str, str]] = []
    if resolver == "musl":
        if dots >= conf.ndots:
            return [(_absolute(name), f"as-is: {dots} dots >= ndots:{conf.ndots} (musl never searches then)")]
        for i, s in enumerate(search, start=1):
            if len(name) + 1 + len(s) < 255:
                out.append(
                    (_absolute(name, s), f"search suffix {i}/{len(search)}: {dots} dots < ndots:{conf.ndots}")
                )
        out.append((_absolute(name), "as-is, after the search list"))
        return out
    # glibc __res_context_search
    tried_as_is = False
    if dots >= conf.ndots:
        out.append((_absolute(name), f"as-is first: {dots} dots >= ndots:{conf.ndots}"))
        tried_as_is = True
    root_on_list = False
    for i, s in enumerate(search, start=1):
        if s == ".":
            root_on_list = True
        if root_on_list and tried_as_is:
            continue
        out.append((_absolute(name, s), f"search suffix {i}/{len(search)}"))
    no_tld = conf.has("no-tld-query")
    if not tried_as_is and not root_on_list and (dots or not search or not no_tld):
        out.append((_absolute(name), "as-is, after the search list"))
    # de-duplicate while keeping the first position (a root suffix equals the as-is name)
    unique: dict[str, str] = {}
    for q, w in out:
        unique.setdefault(q, w)
    return list(unique.items())


def qtypes_for(conf: ResolvConf, qtypes: Sequence[str]) -> list[str]:
    """The record types a lookup sends: ``no-aaaa`` drops AAAA like glibc 2.36+."""
    types = [t.upper() for t in qtypes]
    if conf.has("no-aaaa"):
        types = [t for t in types if t != "AAAA"]
    return types


def continues(resolver: Resolver, outcome: str) -> bool:
    """Whether the resolver tries the next candidate after ``outcome`` for the current one."""
    return outcome in CONTINUES_ON[resolver]


def table(names: Sequence[str], conf: ResolvConf, qtypes: Sequence[str] = ("A", "AAAA")) -> pd.DataFrame:
    """Every candidate for every valid name under both resolvers (invalid names are skipped; see ``validate``)."""
    from netdebug_nb import schema

    rows = []
    types = "+".join(qtypes_for(conf, qtypes))
    for name in names:
        try:
            validate(name)
        except InvalidNameError:
            continue
        for resolver in RESOLVERS:
            for step, (qname, why) in enumerate(candidates(name, conf, resolver), start=1):
                rows.append(
                    {
                        "name": name,
                        "resolver": resolver,
                        "step": step,
                        "qname": qname,
                        "qtypes": types if resolver == "glibc" else "+".join(qtypes),
                        "why": why,
                        "continues_on": ", ".join(CONTINUES_ON[resolver]),
                    }
                )
    return schema.frame(rows, EXPANSION_SCHEMA)


def side_by_side(expansion: pd.DataFrame) -> pd.DataFrame:
    """glibc and musl candidates in two columns per name and step, for reading at a glance."""
    import pandas as pd

    if expansion.empty:
        return pd.DataFrame(
            {
                "name": pd.Series([], dtype="string"),
                "step": pd.Series([], dtype="int64"),
                "glibc": pd.Series([], dtype="string"),
                "musl": pd.Series([], dtype="string"),
            }
        )
    wide = expansion.pivot_table(index=["name", "step"], columns="resolver", values="qname", aggfunc="first")
    wide = wide.reindex(columns=list(RESOLVERS)).reset_index()
    wide.columns.name = None
    for r in RESOLVERS:
        wide[r] = wide[r].astype("string").fillna("—")
    order = {n: i for i, n in enumerate(dict.fromkeys(expansion["name"]))}
    wide = wide.sort_values(["name", "step"], key=lambda s: s.map(order) if s.name == "name" else s)
    return wide.reset_index(drop=True)


def wasted_queries(
    name: str, conf: ResolvConf, qtypes: Sequence[str] = ("A", "AAAA"), resolver: Resolver = "glibc"
) -> int:
    """Queries sent before the as-is name when every search candidate is NXDOMAIN (the ndots cost)."""
    cands = [q for q, _ in candidates(name, conf, resolver)]
    absolute = _absolute(name)
    before = cands.index(absolute) if absolute in cands else len(cands)
    return before * len(qtypes_for(conf, qtypes))


def invalid(names: Sequence[str]) -> list[str]:
    """One error line per name no resolver would send (the rest can still be traced)."""
    out = []
    for name in names:
        try:
            validate(name)
        except InvalidNameError as exc:
            out.append(str(exc))
    return out

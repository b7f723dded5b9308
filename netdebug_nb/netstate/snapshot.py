"""A snapshot directory: the raw outputs of the state commands, one file each.

Collecting and analysing are separated by a directory of plain files so a report can be made
from what someone else collected on a node where the kit is not installed. :func:`collect` writes
the directory (running the commands through :mod:`netdebug_nb.tools`), :func:`read` loads one.

Layout (file → command that produces it; every file is optional)::

    ip-route.json          ip -j route show table all
    ip-rule.json           ip -j rule show
    ip-neigh.json          ip -j neigh show
    ip-link.json           ip -j -s -s link show
    ip-addr.json           ip -j addr show
    ss-tulpn.txt           ss -tulpn
    ss-tin.txt             ss -tinp
    conntrack-S.txt        conntrack -S
    conntrack-count.txt    conntrack -C
    sysctl.txt             sysctl net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_count ...
    nf_conntrack-stat.txt  cat /proc/net/stat/nf_conntrack   (the conntrack -S counters, readable without NET_ADMIN)
    iptables-save.txt      iptables-save -c        (backend read from its header: nf_tables or legacy)
    ip6tables-save.txt     ip6tables-save -c
    iptables-legacy-save.txt  iptables-legacy-save -c
    nft.json               nft -j list ruleset
    ipvsadm.txt            ipvsadm -Ln
    meta.json              {"hostname", "collected_at", "collector_pid"}   (written by collect)
    collect-notes.json     what could not be collected and why (written by collect)

A missing file means that section is skipped with a note; a file that cannot be parsed is
reported with its name and line by the section parsers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from netdebug_nb import schema, tools
from netdebug_nb.errors import InputError, NetdebugError, ToolNotFoundError, ToolPermissionError

#: file name → argv that produces it (by hand: ``argv > file``).
COMMANDS: Mapping[str, tuple[str, ...]] = {
    "ip-route.json": ("ip", "-j", "route", "show", "table", "all"),
    "ip-rule.json": ("ip", "-j", "rule", "show"),
    "ip-neigh.json": ("ip", "-j", "neigh", "show"),
    "ip-link.json": ("ip", "-j", "-s", "-s", "link", "show"),
    "ip-addr.json": ("ip", "-j", "addr", "show"),
    "ss-tulpn.txt": ("ss", "-tulpn"),
    "ss-tin.txt": ("ss", "-tinp"),
    "conntrack-S.txt": ("conntrack", "-S"),
    "conntrack-count.txt": ("conntrack", "-C"),
    "iptables-save.txt": ("iptables-save", "-c"),
    "ip6tables-save.txt": ("ip6tables-save", "-c"),
    "iptables-legacy-save.txt": ("iptables-legacy-save", "-c"),
    "nft.json": ("nft", "-j", "list", "ruleset"),
    "ipvsadm.txt": ("ipvsadm", "-Ln"),
}

#: sysctl keys saved in ``sysctl.txt`` (``key = value`` lines, as ``sysctl KEY...`` prints them).
SYSCTLS: tuple[str, ...] = (
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_count",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.ip_local_port_range",
    "net.core.somaxconn",
)

#: which section each file feeds (for the "skipped" notes).
SECTIONS: Mapping[str, str] = {
    "ip-route.json": "routes",
    "ip-rule.json": "routes",
    "ip-neigh.json": "neighbours",
    "ip-link.json": "interfaces",
    "ip-addr.json": "interfaces",
    "ss-tulpn.txt": "sockets",
    "ss-tin.txt": "sockets",
    "conntrack-S.txt": "conntrack",
    "conntrack-count.txt": "conntrack",
    "sysctl.txt": "conntrack",
    "nf_conntrack-stat.txt": "conntrack",
    "iptables-save.txt": "firewall",
    "ip6tables-save.txt": "firewall",
    "iptables-legacy-save.txt": "firewall",
    "nft.json": "firewall",
    "ipvsadm.txt": "kubeproxy",
}

if TYPE_CHECKING:
    import pandas as pd

NOTES_FILE = "collect-notes.json"
META_FILE = "meta.json"

NOTE_SCHEMA: schema.Schema = {
    "section": "string",  # routes, neighbours, interfaces, sockets, conntrack, firewall, kubeproxy ...
    "source": "string",  # file name or tool
    "kind": "string",  # tool_missing | permission | failed | timeout | missing_file | unparseable
    "message": "string",  # one line, names the file/tool (and line for unparseable)
    "hint": "string",  # package to install / capability to add, when known
}


@dataclass(frozen=True)
class Note:
    """Something that could not be collected or read; the rest of the report still stands."""

    section: str
    source: str
    kind: str
    message: str
    hint: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "section": self.section,
            "source": self.source,
            "kind": self.kind,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass
class Snapshot:
    """The raw texts of one snapshot, keyed by file name, plus what was missing."""

    dir: Path
    texts: dict[str, str] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
    hostname: str = ""
    collected_at: str = ""
    collector_pid: int | None = None  # the collecting process: its own (kernel) sockets are not the host's

    def text(self, name: str) -> str | None:
        return self.texts.get(name)

    def source(self, name: str) -> str:
        """How a file is named in messages (its path)."""
        return str(self.dir / name)


def notes_frame(notes: Sequence[Note]) -> pd.DataFrame:
    return schema.frame([n.to_dict() for n in notes], NOTE_SCHEMA)


def note_from_error(section: str, source: str, exc: NetdebugError) -> Note:
    """A tool or parse error as a note: which package or capability is missing, which file/line."""
    if isinstance(exc, ToolNotFoundError):
        return Note(section, source, "tool_missing", exc.message, exc.hint or "")
    if isinstance(exc, ToolPermissionError):
        return Note(section, source, "permission", exc.message, exc.hint or "")
    if isinstance(exc, InputError):
        return Note(section, source, "unparseable", str(exc))
    kind = "timeout" if type(exc).__name__ == "ToolTimeoutError" else "failed"
    return Note(section, source, kind, str(exc))


def collect(
    out: Path,
    *,
    files: Sequence[str] | None = None,
    timeout: float = 20.0,
    proc: Path = Path("/proc"),
) -> Snapshot:
    """Run every state command and write its output into ``out``; failures become notes.

    A tool that is missing or not permitted never stops the collection: the note names the
    Debian package or the capability, and the other files are still written.
    """
    out.mkdir(parents=True, exist_ok=True)
    snap = Snapshot(dir=out, hostname=socket.gethostname(), collected_at=dt.datetime.now(dt.UTC).isoformat())
    for name, argv in COMMANDS.items():
        if files is not None and name not in files:
            continue
        section = SECTIONS.get(name, "")
        try:
            done = tools.run(argv, timeout=timeout)
        except NetdebugError as exc:
            if name == "ipvsadm.txt" and "Protocol not available" in getattr(exc, "stderr", ""):
                # no IPVS in this kernel/namespace: kube-proxy is not in IPVS mode, nothing to report
                (out / name).write_text("", encoding="utf-8")
                snap.texts[name] = ""
                continue
            snap.notes.append(note_from_error(section, name, exc))
            continue
        (out / name).write_text(done.stdout, encoding="utf-8")
        snap.texts[name] = done.stdout
    if files is None or "nf_conntrack-stat.txt" in files:
        try:
            text = (proc / "net/stat/nf_conntrack").read_text(encoding="utf-8")
        except OSError:
            pass  # no conntrack module: conntrack -S says so too
        else:
            (out / "nf_conntrack-stat.txt").write_text(text, encoding="utf-8")
            snap.texts["nf_conntrack-stat.txt"] = text
    if files is None or "sysctl.txt" in files:
        lines = []
        for key in SYSCTLS:
            path = proc / "sys" / key.replace(".", "/")
            try:
                value = " ".join(path.read_text(encoding="utf-8").split())
            except OSError:
                continue
            lines.append(f"{key} = {value}")
        text = "".join(f"{ln}\n" for ln in lines)
        (out / "sysctl.txt").write_text(text, encoding="utf-8")
        snap.texts["sysctl.txt"] = text
    snap.collector_pid = os.getpid()
    meta = {"hostname": snap.hostname, "collected_at": snap.collected_at, "collector_pid": snap.collector_pid}
    (out / META_FILE).write_text(
        json.dumps(meta, indent=1) + "\n",
        encoding="utf-8",
    )
    (out / NOTES_FILE).write_text(
        json.dumps([n.to_dict() for n in snap.notes], indent=1) + "\n", encoding="utf-8"
    )
    return snap


def read(directory: Path | str) -> Snapshot:
    """Load a snapshot directory; files that are absent become ``missing_file`` notes."""
    d = Path(directory)
    if not d.is_dir():
        raise InputError(d, "snapshot directory does not exist or is not a directory")
    snap = Snapshot(dir=d)
    collected_notes: list[Note] = []
    notes_path = d / NOTES_FILE
    if notes_path.is_file():
        try:
            raw = json.loads(notes_path.read_text(encoding="utf-8"))
            collected_notes = [Note(**{k: str(v) for k, v in item.items()}) for item in raw]
        except (json.JSONDecodeError, TypeError, AttributeError) as exc:
            line = getattr(exc, "lineno", None)
            snap.notes.append(
                Note(
                    "snapshot",
                    NOTES_FILE,
                    "unparseable",
                    str(InputError(notes_path, "not a list of notes", line=line)),
                )
            )
    meta_path = d / META_FILE
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            snap.hostname = str(meta.get("hostname", ""))
            snap.collected_at = str(meta.get("collected_at", ""))
            pid = meta.get("collector_pid")
            snap.collector_pid = pid if isinstance(pid, int) else None
        except (json.JSONDecodeError, AttributeError):
            snap.notes.append(Note("snapshot", META_FILE, "unparseable", f"{meta_path}: not a JSON object"))
    explained = {n.source for n in collected_notes}
    snap.notes.extend(collected_notes)
    for name in [*COMMANDS, "sysctl.txt", "nf_conntrack-stat.txt"]:
        path = d / name
        if path.is_file():
            try:
                snap.texts[name] = path.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                snap.notes.append(
                    Note(SECTIONS.get(name, ""), name, "missing_file", f"{path}: {exc.strerror}")
                )
        elif name not in explained:
            snap.notes.append(
                Note(SECTIONS.get(name, ""), name, "missing_file", f"{path}: not in the snapshot, skipped")
            )
    if not snap.texts:
        raise InputError(d, f"no snapshot files found (expected some of: {', '.join(COMMANDS)})")
    return snap

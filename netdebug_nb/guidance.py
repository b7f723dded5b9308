"""What a notebook says when it has nothing to work on, instead of drawing empty axes and tables.

A notebook run with its defaults (no capture, no targets, no names) says **once, at the top**,
what to give it: the parameter, an example value and, for a capture, the files already next to
the notebooks. Below that, tables and plots give way to a one-line :class:`Note`:

- plot functions return a ``Note`` for empty data (``no packets — nothing to draw``);
- :func:`show` (one call per notebook, right after the parameters) installs a display formatter
  for DataFrames in the running IPython: an empty table becomes a one-line note, and while the
  notebook has no input every table does (``nothing to show: no capture given``).

The decision is in :func:`table_note`, a pure function any other DataFrame presenter can call.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz")
_NOTE_STYLE = "color:#555;font-style:italic;margin:.3em 0"


@dataclass(frozen=True)
class Note:
    """A one-line note where a plot or a table would have been."""

    text: str

    def _repr_html_(self) -> str:
        return f"<div class='netdebug-note' style='{_NOTE_STYLE}'>{html.escape(self.text)}</div>"

    def __repr__(self) -> str:
        return self.text


def nothing_to_draw(what: str) -> Note:
    """The note a plot function returns for empty data: ``no packets — nothing to draw``."""
    return Note(f"{what} — nothing to draw")


@dataclass(frozen=True)
class Option:
    """One way to give a notebook its input: a parameter, an example value, what it means."""

    parameter: str
    example: str
    help: str


@dataclass(frozen=True)
class Need:
    """What a notebook needs to have anything to show."""

    missing: str  # "no capture given": the reason every table below gives way to a note
    options: tuple[Option, ...]
    example_run: str  # the headless equivalent
    list_captures: bool = False


NEEDS: dict[str, Need] = {
    "pcap_analysis": Need(
        "no capture given",
        (
            Option(
                "pcap",
                '"capture.pcap"',
                "a capture file (.pcap, .pcapng, optionally .gz): drag it into the file browser, "
                "or kubectl cp it next to the notebooks; its name is enough",
            ),
            Option(
                "capture_interface",
                '"eth0"',
                "capture live with tcpdump instead (needs NET_RAW), bounded by capture_seconds "
                '(30), optionally capture_filter ("tcp or port 53"), capture_packets and '
                'capture_file ("live.pcap" keeps the file)',
            ),
        ),
        "netdebug-nb run pcap_analysis -p pcap capture.pcap --out /tmp/reports",
        list_captures=True,
    ),
    "latency": Need(
        "no targets given",
        (
            Option(
                "targets",
                '["10.0.0.5", "db.prod", "service:shop/api"]',
                "names, IPs or Kubernetes selectors (nodes, pods:NS/label=v, service:NS/NAME) to probe",
            ),
            Option("fping_output", '"run.txt"', "or a saved fping -C run to report on (also mtr_output)"),
        ),
        "netdebug-nb run latency -p targets 10.0.0.5,db.prod --out /tmp/reports",
    ),
    "dns_trace": Need(
        "no names given",
        (
            Option("names", '["api.example.com", "web"]', "names to look up as the application would"),
            Option("pcap", '"dns.pcap"', "or a capture to build the same tables from, offline"),
        ),
        "netdebug-nb run dns_trace -p names '[\"api.example.com\"]' --out /tmp/reports",
        list_captures=True,
    ),
    "capture_compare": Need(
        "no captures given",
        (
            Option(
                "captures",
                '["client.pcap", "server.pcap"]',
                "two or more captures of the same traffic from different points, next to the notebooks, "
                "or one netdebug-nb fleet capture output directory",
            ),
        ),
        "netdebug-nb run capture_compare -p captures client.pcap,server.pcap --out /tmp/reports",
        list_captures=True,
    ),
    "endpoint_probe": Need(
        "no targets given",
        (
            Option(
                "targets",
                '["https://api.example.com/healthz", "service:shop/api"]',
                "http(s)://, grpc(s)://, tcp://HOST:PORT or service:NS/NAME[:PORT] endpoints to probe",
            ),
            Option(
                "curl_json", '"curl.json"', "or saved curl -w '%{json}' lines to report on (also tls_chain)"
            ),
        ),
        "netdebug-nb run endpoint_probe -p targets https://api.example.com/healthz --out /tmp/reports",
    ),
    "service_path": Need(
        "no destination given",
        (
            Option(
                "destination",
                '"service:payments/api"',
                "the Service, DNS name, ns/pod or IP that A cannot reach",
            ),
            Option(
                "source", '"shop/web-7d9f"', "the pod that cannot reach it (empty: where this notebook runs)"
            ),
        ),
        "netdebug-nb run service_path -p source shop/app=web -p destination service:payments/api --out /tmp/reports",
    ),
    "fleet_mesh": Need(
        "no fleet directory given",
        (Option("fleet_dir", '"fleet-latency-ab12cd"', "the --out directory of netdebug-nb fleet run"),),
        "netdebug-nb run fleet_mesh -p fleet_dir fleet-latency-ab12cd --out /tmp/reports",
    ),
}
"""Notebooks that can have nothing to work on (netstate always has this host)."""

_state: dict[str, str] = {"missing": ""}


def table_note(df: pd.DataFrame, *, nested: bool = False) -> Note | None:
    """The note that replaces ``df`` on screen, or None to show the table.

    An empty table is a note; while the notebook has no input (:func:`show` with
    ``given=False``) every table is, since it can only hold placeholders — except one ``nested``
    in another output (a finding's evidence) and the findings summary (``attrs["netdebug.keep"]``),
    which are shown unless they are empty.
    """
    if _state["missing"] and not nested and not df.attrs.get("netdebug.keep"):  # findings.KEEP
        return Note(f"nothing to show: {_state['missing']} (see the top of the notebook)")
    if len(df) == 0:
        cols = [str(c) for c in df.columns]
        which = f" (columns {', '.join(cols[:4])}{', …' if len(cols) > 4 else ''})" if cols else ""
        return Note(f"no rows — nothing to show{which}")
    return None


def captures(*directories: str | Path, limit: int = 10) -> list[Path]:
    """Capture files directly in ``directories`` (default: the working directory and the
    notebooks root of ``netdebug-nb lab``), newest first."""
    dirs = [Path(d) for d in directories] or [
        Path.cwd(),
        *(Path(os.environ[v]) for v in ("NETDEBUG_NOTEBOOK_DIR", "NETDEBUG_LAB_ROOT") if os.environ.get(v)),
    ]
    found: dict[Path, Path] = {}
    for d in dirs:
        try:
            for p in d.iterdir():
                if p.name.lower().endswith(CAPTURE_SUFFIXES) and p.is_file():
                    found.setdefault(p.resolve(), p)
        except OSError:
            continue
    return sorted(found.values(), key=lambda p: (-p.stat().st_mtime, p.name))[:limit]


@dataclass(frozen=True)
class Guidance:
    """The block shown at the top of a notebook that has nothing to work on."""

    notebook: str
    need: Need
    found: tuple[Path, ...] = ()

    def lines(self) -> list[str]:
        out = [
            f"Nothing to analyse yet: {self.need.missing}. Set one of these in the parameters cell, then Run All:"
        ]
        out += [f"  {o.parameter} = {o.example}  # {o.help}" for o in self.need.options]
        if self.need.list_captures:
            if self.found:
                out.append("Captures next to the notebooks: " + ", ".join(p.name for p in self.found))
            else:
                out.append("No capture files next to the notebooks yet.")
        out.append(f"Headless: {self.need.example_run}")
        out.append("The cells below show nothing until then.")
        return out

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        e = html.escape
        items = "".join(
            f"<li><code>{e(o.parameter)} = {e(o.example)}</code> — {e(o.help)}</li>"
            for o in self.need.options
        )
        found = ""
        if self.need.list_captures:
            found = (
                "<p>Captures next to the notebooks: "
                + ", ".join(f"<code>{e(p.name)}</code>" for p in self.found)
                + "</p>"
                if self.found
                else "<p>No capture files next to the notebooks yet (drag one into the file browser).</p>"
            )
        return (
            "<div class='netdebug-guidance' style='border-left:6px solid #1f5fa8;padding:.5em .8em;"
            "margin:.4em 0;background:#f3f7fc'>"
            f"<b>Nothing to analyse yet: {e(self.need.missing)}.</b> Set one of these in the parameters "
            f"cell, then Run All:<ul>{items}</ul>{found}"
            f"<p>Headless: <code>{e(self.need.example_run)}</code></p>"
            "<p>The cells below show nothing until then.</p></div>"
        )


def guide(notebook: str, *, given: bool, directories: tuple[str | Path, ...] = ()) -> Guidance | None:
    """What to tell the user of ``notebook``: None when it was given its input."""
    need = NEEDS.get(notebook)
    if given or need is None:
        return None
    return Guidance(notebook, need, tuple(captures(*directories)) if need.list_captures else ())


def show(notebook: str, *, given: bool) -> Guidance | None:
    """The notebook's guidance cell: install the table notes and return what to give (shown as
    the cell's result), or None when there is input."""
    found = guide(notebook, given=given)
    _state["missing"] = found.need.missing if found is not None else ""
    install()
    return found


def install() -> bool:
    """Show DataFrames through :func:`table_note` in the running IPython (False outside one).

    A presenter already registered for DataFrames (:mod:`netdebug_nb.present`, which asks
    :func:`table_note` itself) is left in place, whichever cell runs again."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    import pandas as pd

    shell = get_ipython()
    if shell is None:
        return False
    formatters = shell.display_formatter.formatters
    try:
        current = formatters["text/html"].lookup_by_type(pd.DataFrame)
    except KeyError:
        current = None
    if current is not None and current is not _html:
        return True
    formatters["text/html"].for_type(pd.DataFrame, _html)
    formatters["text/plain"].for_type(pd.DataFrame, _plain)
    return True


def _html(df: pd.DataFrame) -> str | None:
    note = table_note(df)
    if note is not None:
        return note._repr_html_()
    shown: str | None = getattr(df, "_repr_html_")()  # noqa: B009  (not in pandas-stubs)
    return shown


def _plain(df: pd.DataFrame, p: Any, cycle: bool) -> None:
    note = table_note(df)
    p.text(note.text if note is not None else repr(df))

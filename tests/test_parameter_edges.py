"""Property test, per notebook: every declared parameter at its edge values either is refused in one
line naming it (exit 2) or runs to a consistent result — never a traceback, never an ``*.ok``
beside a critical or inconclusive finding.

Runs on the bundled saved outputs (the demo parameters), never on the network: values that would
switch a notebook to live probing are pinned offline (:func:`offline`). Accepted edge values are
executed in-process (:mod:`inprocess`): a path edge alone (the other saved inputs kept), every other
accepted edge at least once in a combined run (all parameters at their k-th accepted edge, on the
saved inputs), then a few random combinations of edges and defaults drawn by hypothesis.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import inprocess
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdebug_nb import catalogue, demo, errors, findings
from netdebug_nb.errors import ParameterError
from netdebug_nb.parameters import Parameter, search_dirs, validate

NOTEBOOKS = catalogue.names()
RANDOM_EXAMPLES = {"dns_trace": 0, "latency": 2, "pcap_analysis": 2, "netstate": 6, "fleet_mesh": 4}
"""Random combinations per notebook on top of the deterministic edge runs (dns_trace costs ~4 s a run)."""


def edges(p: Parameter, tmp: Path) -> list[str]:
    """Values a user mistypes or pushes to the limits, written as ``-p NAME VALUE`` would give them."""
    d = p.domain
    common = ["", "10s", "-1", "0"]
    if p.type == "bool":
        return ["true", "false", "maybe", ""]
    if d is None:
        return common
    if d.kind == "range":
        step = 1 if p.type in ("int", "list") else 1e-3
        vals: list[float] = [0, -1, 10**12]
        if d.low is not None:
            vals += [d.low, d.low - step] + ([d.low + step] if d.low_open else [])
        if d.high is not None:
            vals += [d.high, d.high + step]
        texts = [_num(v, p.type) for v in vals] + ["10s", ""] + (["nan"] if p.type == "float" else [])
        if p.type == "list":
            return ["", "[]", "x"] + [f"[{t}]" for t in texts if t and t != "10s"]
        return texts
    if d.kind == "choice":
        return [*d.choices, "", "X"]
    if d.is_path:
        folder = tmp / "a-dir"
        folder.mkdir(exist_ok=True)
        out = ["", "missing-file", str(folder), "/etc/hostname", "/nonexistent/dir/x"]
        if d.kind in ("outfile", "outdir"):
            out.append(str(tmp / "out-here"))
        return out
    words = {
        "host": ["127.0.0.1", "::1", "a b", "-rf", "host.example"],
        "address": ["127.0.0.1", "::1", "300.1.1.1", "host"],
        "name": ["example.com", "a b", "web"],
        "port": ["80", "tcp/443", "udp/53", "0", "65536", "http"],
        "interface": ["lo", "a/b", "x" * 16],
        "target": ["127.0.0.1", "nodes", "pods:", "a b", "service:ns/api"],
        "rate": ["100M", "fast", "1G"],
        "rrtype": ["A", "TYPE65", "1x"],
        "word": ["latency", "a/b"],
        "cidr": ["10.0.0.0/8", "10.0.0.0/33"],
        "text": ["anything at all"],
    }[d.kind]
    return ["", *words]


def offline(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """Pin the values that would make a notebook probe or query live back to offline ones."""
    v = dict(values)
    if name == "latency" and not (v.get("fping_output") and v.get("mtr_output") and v.get("mtu_output")):
        v["targets"] = []
    if name == "pcap_analysis" and not v.get("pcap"):
        v["capture_interface"] = ""
    if name == "dns_trace" and not v.get("pcap"):
        v |= {"names": [], "iterative_names": [], "root_hints": [], "cache_probe_zone": ""}
        v |= {"compare_servers": False, "kubernetes": False}
    if name == "netstate":
        v |= {"targets": [], "iperf_server": ""}  # live state collection reads this host only
    if name == "service_path":
        v["probe"] = False  # connects and live DNS would leave this host's namespace
    return v


def accepted_edges(info: catalogue.NotebookInfo, tmp: Path) -> dict[str, list[Any]]:
    """Every edge value checked alone (on top of the demo values); the accepted ones, converted."""
    base = demo.parameters_for(info)
    out: dict[str, list[Any]] = {}
    for p in info.parameters:
        for text in edges(p, tmp):
            try:
                values = validate(info.parameters, base | {p.name: text}, notebook=info.name, search=[tmp])
            except ParameterError as exc:
                msg = str(exc)
                assert "\n" not in msg and f"parameter {p.name!r} of {info.name}:" in msg, msg
                continue
            out.setdefault(p.name, []).append(values[p.name])
    return out


def check_outcome(name: str, values: Mapping[str, Any], outcome: inprocess.Outcome) -> None:
    err = outcome.error
    if err is not None:
        assert isinstance(err, errors.NetdebugError) and errors.is_input_error(type(err)), (
            f"{name} with {dict(values)} failed in cell {outcome.cell}: {type(err).__name__}: {err}"
        )
        assert str(err) and "\n" not in str(err), str(err)
        return
    severities = {f.severity for f in outcome.found}
    oks = [f.id for f in outcome.found if f.id.endswith(".ok")]
    if oks:
        assert "critical" not in severities, (name, values, oks)
        assert findings.status(outcome.found) == "ok", (name, values, oks)


@contextmanager
def limit(seconds: int) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise TimeoutError(f"notebook run exceeded {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run(name: str, info: catalogue.NotebookInfo, values: dict[str, Any], tmp: Path, seen: set[str]) -> None:
    values = offline(name, values)
    try:
        checked = validate(info.parameters, values, notebook=name, search=[tmp, *search_dirs(info.path)])
    except ParameterError as exc:  # a combination may still be refused (it is then one line)
        assert "\n" not in str(exc)
        return
    key = repr(sorted(({p.name: p.default for p in info.parameters} | checked).items()))
    if key in seen:  # the same run again (an edge equal to the saved value, a pinned one)
        return
    seen.add(key)
    with limit(120):
        outcome = inprocess.execute(name, checked)
    check_outcome(name, checked, outcome)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_edge_value_is_refused_in_one_line_or_runs_consistently(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    info = catalogue.find(name)
    accepted = accepted_edges(info, tmp_path)
    assert accepted, "no edge value was accepted at all"
    base = demo.parameters_for(info)
    seen: set[str] = set()
    paths = {p.name for p in info.parameters if p.domain is not None and p.domain.is_path}
    for pname in paths & set(accepted):  # a path edge alone: the other inputs stay the saved ones
        for v in accepted[pname]:
            run(name, info, base | {pname: v}, tmp_path, seen)
    others = {n: vals for n, vals in accepted.items() if n not in paths}
    for k in range(max(len(v) for v in others.values())):  # every accepted edge at least once
        run(name, info, base | {n: vals[k % len(vals)] for n, vals in others.items()}, tmp_path, seen)
    defaults = {p.name: base.get(p.name, p.default) for p in info.parameters}

    @settings(
        max_examples=max(RANDOM_EXAMPLES.get(name, 3), 1),
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.fixed_dictionaries({n: st.sampled_from([defaults[n], *vals]) for n, vals in others.items()}))
    def random_combination(drawn: dict[str, Any]) -> None:
        run(name, info, base | drawn, tmp_path, seen)

    if RANDOM_EXAMPLES.get(name, 3):
        random_combination()


def _num(v: float, ptype: str) -> str:
    if ptype in ("int", "list"):
        return str(int(v)) if not math.isinf(v) else "0"
    return repr(float(v))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_the_check_cell_gives_the_cli_message_when_run_in_jupyterlab(name: str) -> None:
    """Executed without ``netdebug-nb run`` (JupyterLab, plain papermill), a bad value stops the
    notebook at the cell after the parameters with the message the CLI gives."""
    info = catalogue.find(name)
    p = next(p for p in info.parameters if p.domain is not None and p.domain.kind == "range")
    outcome = inprocess.execute(name, {p.name: -(10**9)})
    assert outcome.cell == 2 and isinstance(outcome.error, errors.ParameterDomainError)
    with pytest.raises(errors.ParameterDomainError) as cli:
        validate(info.parameters, {p.name: -(10**9)}, notebook=name)
    assert str(outcome.error) == str(cli.value)
    assert str(outcome.error).startswith(f"parameter {p.name!r} of {name}: -1000000000 is not ")

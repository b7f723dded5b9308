"""The DNS tables computed in a helper process are the ones computed in the caller, whatever happens to it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from pcap_read import generate

from netdebug_nb import tools
from netdebug_nb.pcap import dnsjob, tables


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bench's mix: ~12 % DNS, retries and all."""
    p = tmp_path_factory.mktemp("dnsjob") / "mixed.pcap"
    generate(p, 40_000, seed=3)
    return p


@pytest.fixture
def helped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A helper for any capture, and the code of every helper process started."""
    monkeypatch.setattr(dnsjob, "MIN_CAPTURE_BYTES", 0)
    monkeypatch.setattr(dnsjob, "MIN_CANDIDATES", 100)
    started: list[str] = []
    real = tools.python
    monkeypatch.setattr(tools, "python", lambda code, *a, **kw: started.append(code) or real(code, *a, **kw))
    return started


def _alone(capture: Path) -> tables.Tables:
    old = dnsjob.MIN_CAPTURE_BYTES
    dnsjob.MIN_CAPTURE_BYTES = 1 << 62
    try:
        return tables.load([capture])
    finally:
        dnsjob.MIN_CAPTURE_BYTES = old


def _no_child_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def _same_dns(a: tables.Tables, b: tables.Tables) -> None:
    assert len(a.dns_messages) > 1000
    pd.testing.assert_frame_equal(a.dns_messages, b.dns_messages, check_exact=True)
    pd.testing.assert_frame_equal(a.dns_transactions, b.dns_transactions, check_exact=True)


def test_the_helpers_tables_are_the_callers(
    capture: Path, helped: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from netdebug_nb.pcap import dns

    with monkeypatch.context() as m:  # the caller must not parse DNS itself: the helper's answer is used
        m.setattr(dns, "read", lambda *a, **k: pytest.fail("the caller parsed the DNS messages itself"))
        with_helper = tables.load([capture])
    assert helped == ["from netdebug_nb.pcap import dnsjob; dnsjob._serve()"]
    _same_dns(with_helper, _alone(capture))
    assert _no_child_left()


def test_a_helper_that_dies_leaves_the_work_to_the_caller(
    capture: Path, helped: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tools.python
    monkeypatch.setattr(
        tools, "python", lambda code, args=(), **kw: real("import os; os._exit(3)", args, **kw)
    )
    _same_dns(tables.load([capture]), _alone(capture))
    assert _no_child_left()


def test_few_dns_packets_or_no_job_let_the_helper_go(
    capture: Path, helped: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(dnsjob, "MIN_CANDIDATES", 10**9)
    _same_dns(tables.load([capture]), _alone(capture))
    assert len(helped) == 1 and _no_child_left()
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all" * 10)
    with pytest.raises(Exception, match="bad.pcap"):
        tables.load([bad])
    assert _no_child_left()
    helper = dnsjob.start([capture])  # given no job: it ends
    assert helper is not None and len(helped) >= 2
    helper.close()
    assert _no_child_left()


def test_one_cpu_or_a_small_capture_starts_no_helper(capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert dnsjob.start([capture], workers=1) is None
    monkeypatch.setattr(dnsjob, "MIN_CAPTURE_BYTES", capture.stat().st_size + 1)
    assert dnsjob.start([capture], workers=2) is None

from __future__ import annotations

import shutil
from pathlib import Path

from netdebug_nb import schema
from netdebug_nb.netstate import firewall, snapshot, state


def test_build_router(fixtures: Path) -> None:
    st = state.build(snapshot.read(fixtures / "netstate/router"))
    assert st.notes == []
    schema.check(st.firewall, firewall.RULE_SCHEMA)
    assert len(st.routes) > 5 and len(st.neighbours) == 6 and not st.interfaces.empty
    assert list(st.listening["local_port"]) == [9090]


def test_collector_sockets_dropped(fixtures: Path) -> None:
    st = state.build(snapshot.read(fixtures / "netstate/client"))
    assert list(st.listening["local_port"]) == [8080]  # the notebook kernel's own ports are not the host's


def test_unparseable_file_is_a_note_others_stand(tmp_path: Path, fixtures: Path) -> None:
    snap_dir = tmp_path / "snap"
    shutil.copytree(fixtures / "netstate/router", snap_dir)
    (snap_dir / "ip-route.json").write_text('[{"dst":"default",\n"dev": eth0}]\n')
    (snap_dir / "ss-tulpn.txt").write_text("Netid State Recv-Q\ntcp LISTEN x\n")
    st = state.build(snapshot.read(snap_dir))
    bad = {n.source: n.message for n in st.notes if n.kind == "unparseable"}
    assert bad["ip-route.json"].startswith(f"{snap_dir / 'ip-route.json'}:2: ")
    assert bad["ss-tulpn.txt"].startswith(f"{snap_dir / 'ss-tulpn.txt'}:2: ")
    assert st.routes.empty and not st.neighbours.empty and not st.firewall.empty

"""The NetworkPolicy truth table: for every ordered pair of pods and every port, allowed or not.

"What can talk to what" is the question after any policy change, and answering it one
connection at a time with :meth:`.netpol.Engine.allows` costs pods² × ports × rules label
matches. Here each selector is evaluated once over all pods (boolean vectors, pods × rules
matrices) and the pair × port table comes from two matrix products per port and direction, so
500 pods × 200 policies × 5 ports takes well under the 5 s budget (``bench/netpol_matrix.py``).
The semantics are exactly the engine's, including which answers depend on the CNI; a property
test holds the two equal.

Usage::

    engine = netpol.compile(objects.read("dump.yaml"))
    m = policymatrix.compute(engine, parse_ports("tcp/80,udp/53"), namespaces=["shop"])
    m.allowed[i, j, k]        # source pod i → destination pod j on port k (m.pods, m.ports)
    m.frame()                 # one row per ordered pair of distinct pods and port (MATRIX_SCHEMA)
    print(m.grid())           # cyclonus-like grids, one per port
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from netdebug_nb import schema
from netdebug_nb.k8s.netpol import (
    EGRESS,
    INGRESS,
    PROTOCOLS,
    Engine,
    IpBlock,
    LabelTable,
    NetpolError,
    Pod,
    Policy,
    Rule,
    Selector,
    iter_rules,
)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    BoolArray = npt.NDArray[np.bool_]

MATRIX_SCHEMA: schema.Schema = {
    "source": "string",  # ns/pod
    "destination": "string",
    "protocol": "string",  # TCP | UDP | SCTP
    "port": "Int64",
    "allowed": "boolean",  # under the usual CNI behaviour
    "cni_dependent": "boolean",  # hostNetwork pods or ipBlock on pod IPs decide: see netpol
}

NAMESPACES_SCHEMA: schema.Schema = {
    "source_namespace": "string",
    "destination_namespace": "string",
    "protocol": "string",
    "port": "Int64",
    "allowed": "Int64",  # connections (ordered pod pairs) allowed
    "denied": "Int64",
    "cni_dependent": "Int64",  # of all of them, how many depend on the CNI
}

Port = tuple[str, int]

MAX_DEFAULT_PORTS = 8


def parse_ports(text: str) -> list[Port]:
    """``tcp/80,udp/53,8080`` → [("TCP", 80), ("UDP", 53), ("TCP", 8080)]."""
    out: list[Port] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        proto, _, number = item.rpartition("/")
        proto = (proto or "TCP").upper()
        if proto not in PROTOCOLS:
            raise NetpolError("--ports", f"{item!r}: protocol must be one of {', '.join(PROTOCOLS)}")
        if not number.isdigit() or not 1 <= int(number) <= 65535:
            raise NetpolError("--ports", f"{item!r}: port must be a number 1-65535 (like tcp/8080)")
        if (proto, int(number)) not in out:
            out.append((proto, int(number)))
    if not out:
        raise NetpolError("--ports", "no ports given (like tcp/80,udp/53)")
    return out


def default_ports(pods: Iterable[Pod]) -> list[Port]:
    """The container ports the pods declare, most common first (at most 8); TCP/80 if none."""
    counts = Counter((p.protocol, p.port) for pod in pods for p in pod.container_ports)
    ports = [port for port, _ in counts.most_common(MAX_DEFAULT_PORTS)]
    return sorted(ports) or [("TCP", 80)]


@dataclass
class Matrix:
    pods: list[Pod]
    ports: list[Port]
    allowed: BoolArray  # [source, destination, port]
    certain: BoolArray
    other_policies: tuple[str, ...] = ()

    def cells(self) -> Iterator[tuple[int, int, int]]:
        """Indices of every ordered pair of distinct pods and port, in output order."""
        n = len(self.pods)
        for i in range(n):
            for j in range(n):
                if i != j:
                    for k in range(len(self.ports)):
                        yield i, j, k

    def frame(self) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        n, kk = len(self.pods), len(self.ports)
        if n < 2:
            return schema.empty(MATRIX_SCHEMA)
        ii, jj, k = np.meshgrid(np.arange(n), np.arange(n), np.arange(kk), indexing="ij")
        keep = (ii != jj).ravel()
        ii, jj, k = ii.ravel()[keep], jj.ravel()[keep], k.ravel()[keep]
        names = np.array([p.key for p in self.pods], dtype=object)
        protos = np.array([p for p, _ in self.ports], dtype=object)
        numbers = np.array([n for _, n in self.ports])
        df = pd.DataFrame(
            {
                "source": names[ii],
                "destination": names[jj],
                "protocol": protos[k],
                "port": numbers[k],
                "allowed": self.allowed[ii, jj, k],
                "cni_dependent": ~self.certain[ii, jj, k],
            }
        )
        return schema.conform(df, MATRIX_SCHEMA)

    def write_json(self, out: IO[str]) -> None:
        """The rows as one JSON array, streamed one source at a time (a 500-pod table has over
        a million rows; building them as dicts first would cost seconds and hundreds of MB)."""
        names = [json.dumps(p.key) for p in self.pods]
        ports = [(json.dumps(proto), number) for proto, number in self.ports]
        allowed = self.allowed.tolist()
        certain = self.certain.tolist()
        kk = range(len(self.ports))
        sep = "\n"
        out.write("[")
        for i, src in enumerate(names):
            head = f'{{"source": {src}, "destination": '
            chunk = []
            for j, dst in enumerate(names):
                if i == j:
                    continue
                a_row, c_row = allowed[i][j], certain[i][j]
                for k in kk:
                    proto, number = ports[k]
                    chunk.append(
                        f'{sep}{head}{dst}, "protocol": {proto}, "port": {number}, '
                        f'"allowed": {"true" if a_row[k] else "false"}, '
                        f'"cni_dependent": {"false" if c_row[k] else "true"}}}'
                    )
                    sep = ",\n"
            out.write("".join(chunk))
        out.write("\n]\n")

    def by_namespace(self) -> pd.DataFrame:
        """Counts per source namespace → destination namespace and port: the overview that
        still reads on a 500-pod cluster, where the grid does not."""
        import numpy as np

        names = sorted({p.namespace for p in self.pods})
        idx = np.array([names.index(p.namespace) for p in self.pods], dtype=np.int64)
        off = ~np.eye(len(self.pods), dtype=bool)
        rows = []
        for a, src in enumerate(names):
            for b, dst in enumerate(names):
                pairs = (idx[:, None] == a) & (idx[None, :] == b) & off
                if not pairs.any():
                    continue
                for k, (proto, number) in enumerate(self.ports):
                    allowed = int((self.allowed[:, :, k] & pairs).sum())
                    rows.append(
                        {
                            "source_namespace": src,
                            "destination_namespace": dst,
                            "protocol": proto,
                            "port": number,
                            "allowed": allowed,
                            "denied": int(pairs.sum()) - allowed,
                            "cni_dependent": int((~self.certain[:, :, k] & pairs).sum()),
                        }
                    )
        return schema.frame(rows, NAMESPACES_SCHEMA)

    def summary(self) -> str:
        import numpy as np

        n = len(self.pods)
        off = ~np.eye(n, dtype=bool)[:, :, None]
        total = int(off.sum()) * len(self.ports)
        allowed = int((self.allowed & off).sum())
        unsure = int((~self.certain & off).sum())
        text = f"{n} pods, {len(self.ports)} ports: {allowed} of {total} connections allowed"
        if unsure:
            text += f", {unsure} CNI-dependent"
        return text

    def grid(self) -> str:
        """One grid per port: rows are sources, columns destinations (cyclonus' layout);
        ``.`` allowed, ``X`` denied, ``?`` depends on the CNI."""
        n = len(self.pods)
        width = len(str(max(n - 1, 0)))
        label_w = max([len(p.key) for p in self.pods] + [6]) + width + 1
        blocks = []
        for k, (proto, number) in enumerate(self.ports):
            lines = [
                f"{proto}/{number}   (rows: source, columns: destination; . allowed  X denied  ? CNI-dependent)"
            ]
            for d in range(width):
                digits = " ".join(str(j).rjust(width)[d] for j in range(n))
                lines.append(" " * (label_w + 1) + digits)
            for i, p in enumerate(self.pods):
                cells = []
                for j in range(n):
                    if i == j:
                        cells.append("-")
                    elif not self.certain[i, j, k]:
                        cells.append("?")
                    else:
                        cells.append("." if self.allowed[i, j, k] else "X")
                lines.append(f"{str(i).rjust(width)} {p.key}".ljust(label_w) + " " + " ".join(cells))
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)


# --- the vectorised evaluation -------------------------------------------------------------


class _Pods:
    """Per-pod arrays the masks are built from, computed once."""

    def __init__(self, engine: Engine, pods: Sequence[Pod]) -> None:
        import numpy as np

        self.pods = pods
        self.n = len(pods)
        self.table = LabelTable([p.labels for p in pods])
        ns_names = sorted({p.namespace for p in pods} | set(engine.namespaces))
        self.ns_index = {name: i for i, name in enumerate(ns_names)}
        self.ns_table = LabelTable([engine.namespaces.get(name, {}) for name in ns_names])
        self.pod_ns = np.array([self.ns_index[p.namespace] for p in pods], dtype=np.int64)
        self.host = np.array([p.host_network for p in pods], dtype=bool)
        nodes = {name: i for i, name in enumerate(sorted({p.node for p in pods if p.node}))}
        self.node = np.array([nodes[p.node] if p.node else -1 for p in pods], dtype=np.int64)
        v4_idx, v4_val, self.v6 = [], [], []
        for i, p in enumerate(pods):
            for ip in p.ips:
                try:
                    addr = ipaddress.ip_address(ip)
                except ValueError:
                    continue
                if addr.version == 4:
                    v4_idx.append(i)
                    v4_val.append(int(addr))
                else:
                    self.v6.append((i, addr))
        self.v4_idx = np.array(v4_idx, dtype=np.int64)
        self.v4_val = np.array(v4_val, dtype=np.int64)
        self._sel: dict[Selector, BoolArray] = {}
        self._nsel: dict[Selector, BoolArray] = {}
        self._named: dict[tuple[str, str], npt.NDArray[np.int64]] = {}

    def selected(self, sel: Selector) -> BoolArray:
        if sel not in self._sel:
            self._sel[sel] = sel.mask(self.table)
        return self._sel[sel]

    def in_namespaces(self, sel: Selector) -> BoolArray:
        if sel not in self._nsel:
            self._nsel[sel] = sel.mask(self.ns_table)[self.pod_ns]
        return self._nsel[sel]

    def in_namespace(self, ns: str) -> BoolArray:
        out: BoolArray = self.pod_ns == self.ns_index.get(ns, -1)
        return out

    def named_port(self, name: str, protocol: str) -> npt.NDArray[np.int64]:
        import numpy as np

        key = (name, protocol)
        if key not in self._named:
            self._named[key] = np.array(
                [p.named_port(name, protocol) or -1 for p in self.pods], dtype=np.int64
            )
        return self._named[key]

    def in_block(self, block: IpBlock) -> BoolArray:
        import numpy as np

        net, excepts = block.networks()
        m = np.zeros(self.n, dtype=bool)
        if net.version == 4 and len(self.v4_val):
            hit = (self.v4_val >= int(net.network_address)) & (self.v4_val <= int(net.broadcast_address))
            for e in excepts:
                if e.version == 4:
                    hit &= ~(
                        (self.v4_val >= int(e.network_address)) & (self.v4_val <= int(e.broadcast_address))
                    )
            m[self.v4_idx[hit]] = True
        for i, addr in self.v6:
            if block.contains(str(addr)):
                m[i] = True
        return m


def _rule_masks(px: _Pods, pol: Policy, rule: Rule) -> tuple[BoolArray, BoolArray]:
    """(sure, maybe) peer masks over pods, as :meth:`Engine._peer_match` decides per pod."""
    import numpy as np

    if not rule.peers:
        return np.ones(px.n, dtype=bool), np.zeros(px.n, dtype=bool)
    sure = np.zeros(px.n, dtype=bool)
    maybe = np.zeros(px.n, dtype=bool)
    for peer in rule.peers:
        if peer.ip_block is not None:
            maybe |= px.in_block(peer.ip_block)
            continue
        if peer.namespace_selector is None:
            m = px.in_namespace(pol.namespace)
        else:
            m = px.in_namespaces(peer.namespace_selector)
        if peer.pod_selector is not None:
            m = m & px.selected(peer.pod_selector)
        sure |= m & ~px.host
        maybe |= m & px.host
    return sure, maybe & ~sure


def _port_mask(px: _Pods, rule: Rule, ports: Sequence[Port]) -> BoolArray:
    """[destination pod, port]: the rule's ports admit that port on that pod."""
    import numpy as np

    if not rule.ports:
        return np.ones((px.n, len(ports)), dtype=bool)
    m = np.zeros((px.n, len(ports)), dtype=bool)
    for spec in rule.ports:
        for k, (proto, number) in enumerate(ports):
            if proto != spec.protocol:
                continue
            if spec.name is not None:
                m[:, k] |= px.named_port(spec.name, proto) == number
            elif spec.matches(proto, number, None):
                m[:, k] = True
    return m


def _direction(
    px: _Pods, engine: Engine, direction: str, ports: Sequence[Port]
) -> tuple[BoolArray, BoolArray, BoolArray]:
    """(isolated[pod], any[src, dst, port], sure[src, dst, port]) for one direction."""
    import numpy as np

    n, kk = px.n, len(ports)
    isolated = np.zeros(n, dtype=bool)
    pol_masks: dict[int, BoolArray] = {}
    for idx, pol in enumerate(engine.policies):
        if direction in pol.types:
            sel = px.in_namespace(pol.namespace) & px.selected(pol.pod_selector)
            pol_masks[idx] = sel
            isolated |= sel
    rows = [(pol, rule) for pol, rule in iter_rules(engine.policies, direction)]
    index = {id(pol): i for i, pol in enumerate(engine.policies)}
    r = len(rows)
    judged = np.zeros((r, n), dtype=np.float32)  # the pod the policy selects
    peer_any = np.zeros((r, n), dtype=np.float32)
    peer_sure = np.zeros((r, n), dtype=np.float32)
    port = np.zeros((r, n, kk), dtype=bool)  # on the destination pod
    for x, (pol, rule) in enumerate(rows):
        judged[x] = pol_masks[index[id(pol)]]
        sure, maybe = _rule_masks(px, pol, rule)
        peer_sure[x] = sure
        peer_any[x] = sure | maybe
        port[x] = _port_mask(px, rule, ports)
    any_ = np.zeros((n, n, kk), dtype=bool)
    sure_ = np.zeros((n, n, kk), dtype=bool)
    if r:
        for k in range(kk):
            pk = port[:, :, k].astype(np.float32)
            if direction == INGRESS:  # peer = source i, judged = destination j, port on j
                b = judged * pk
                any_[:, :, k] = (peer_any.T @ b) > 0
                sure_[:, :, k] = (peer_sure.T @ b) > 0
            else:  # judged = source i, peer = destination j, port on j
                any_[:, :, k] = (judged.T @ (peer_any * pk)) > 0
                sure_[:, :, k] = (judged.T @ (peer_sure * pk)) > 0
    return isolated, any_, sure_


def compute(engine: Engine, ports: Sequence[Port], namespaces: Sequence[str] = ()) -> Matrix:
    """The table over the engine's pods (only those of ``namespaces`` when given); pods that
    have terminated (Succeeded, Failed) are left out, as they have no network."""
    import numpy as np

    for ns in namespaces:
        if ns not in engine.namespaces:
            import difflib

            near = difflib.get_close_matches(ns, sorted(engine.namespaces), n=3, cutoff=0.5)
            hint = f"; nearest: {', '.join(near)}" if near else ""
            raise NetpolError("-n", f"no namespace {ns!r}{hint}")
    pods = [p for p in engine.pods if not p.terminated and (not namespaces or p.namespace in namespaces)]
    pods.sort(key=lambda p: (p.namespace, p.name))
    px = _Pods(engine, pods)
    n = px.n
    iso_in, any_in, sure_in = _direction(px, engine, INGRESS, ports)
    iso_eg, any_eg, sure_eg = _direction(px, engine, EGRESS, ports)
    src_host = px.host[:, None, None]
    dst_host = px.host[None, :, None]
    same_node = (px.node[:, None] == px.node[None, :]) & (px.node[:, None] >= 0)
    # ingress: judged = destination j, peer = source i
    iso_j = iso_in[None, :, None]
    node_ok = src_host & same_node[:, :, None]  # from a pod's own node: always allowed
    in_allowed = ~iso_j | node_ok | any_in
    in_certain = ~iso_j | node_ok | ((sure_in | (~any_in & ~src_host)) & ~dst_host)
    # egress: judged = source i, peer = destination j
    iso_i = iso_eg[:, None, None]
    eg_allowed = ~iso_i | any_eg
    eg_certain = ~iso_i | ((sure_eg | ~any_eg) & ~src_host)
    allowed = in_allowed & eg_allowed
    certain = np.where(
        allowed, in_certain & eg_certain, (~in_allowed & in_certain) | (~eg_allowed & eg_certain)
    )
    del n
    scoped = sorted({p.namespace for p in pods})
    return Matrix(pods, list(ports), allowed, certain, engine.other_policies_for(*scoped))


def records(m: Matrix) -> list[dict[str, Any]]:
    """The JSON rows as dicts (small tables, tests)."""
    return [
        {
            "source": m.pods[i].key,
            "destination": m.pods[j].key,
            "protocol": m.ports[k][0],
            "port": m.ports[k][1],
            "allowed": bool(m.allowed[i, j, k]),
            "cni_dependent": not bool(m.certain[i, j, k]),
        }
        for i, j, k in m.cells()
    ]

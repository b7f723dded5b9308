"""``netdebug-nb``: argument parsing only. Every command calls the library; :func:`main` is the
one place that turns errors into a one-line message on stderr and an exit code.

Exit codes: 0 ok · 1 error · 2 bad usage or input · 3 notebook failed · 4 timeout ·
5 kernel died · 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from netdebug_nb import __version__
from netdebug_nb.errors import NetdebugError, UsageError

if TYPE_CHECKING:
    from netdebug_nb.fleet.controller import FleetResult


@dataclass
class Env:
    """The process environment a command sees; tests pass their own streams."""

    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    @property
    def interactive(self) -> bool:
        return bool(getattr(self.stderr, "isatty", lambda: False)())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netdebug-nb",
        description="Run netdebug's network-troubleshooting notebooks and build incident reports.",
    )
    p.add_argument("--version", action="version", version=f"netdebug-nb {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("list", help="list shipped notebooks and their parameters")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("--markdown", action="store_true", help="the README's notebook reference")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("run", help="execute a notebook headless and write its report")
    s.add_argument("notebook", nargs="?", help="notebook name (see 'list') or path to an .ipynb")
    s.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    s.add_argument("-f", "--parameters-file", metavar="FILE", help="YAML file of parameter values")
    s.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR", help="incident directory")
    s.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="limit for the whole run")
    s.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show cell progress (default: when stderr is a terminal)",
    )
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("report", help="build DIR/index.html and merged findings.json from runs in DIR")
    s.add_argument("dir", type=Path)
    s.add_argument("--bundle", action="store_true", help="also write DIR.tar.gz")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("demo", help="run every notebook on bundled sample data and build the report")
    s.add_argument("--out", type=Path, default=None, metavar="DIR")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("kernel", help="install the kit's Jupyter kernel spec for this Python")
    s.set_defaults(func=cmd_kernel)

    s = sub.add_parser(
        "lab",
        help="start JupyterLab as the lab image does (landing page, token, offline settings)",
        description="Start JupyterLab with the kit's settings: token required (JUPYTER_TOKEN, "
        "JUPYTER_TOKEN_FILE, else a random one in the log), START.md as the landing page, no news "
        "or update checks. Arguments after '--' go to JupyterLab (as root: -- --allow-root).",
    )
    s.add_argument("--ip", default=None, help="address to listen on (default: $NETDEBUG_LAB_IP or 127.0.0.1)")
    s.add_argument("--port", type=int, default=None, help="default: $NETDEBUG_LAB_PORT or 8888")
    s.add_argument(
        "--root",
        type=Path,
        default=None,
        metavar="DIR",
        help="notebooks folder; missing notebooks and START.md are copied in (default: ~/notebooks)",
    )
    s.add_argument("extra", nargs="*", metavar="-- EXTRA_JUPYTER_ARGS", help="passed to JupyterLab")
    s.set_defaults(func=cmd_lab)

    _add_k8s(sub)
    _add_fleet(sub)
    _add_pcap(sub)
    return p


def cmd_list(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb import catalogue

    infos = catalogue.all_notebooks()
    if args.json:
        doc = [
            {"name": i.name, "purpose": i.purpose, "parameters": [p.to_dict() for p in i.parameters]}
            for i in infos
        ]
        json.dump(doc, env.stdout, indent=2)
        env.stdout.write("\n")
        return 0
    if args.markdown:
        env.stdout.write(catalogue.markdown(infos))
        return 0
    for i in infos:
        env.stdout.write(f"{i.name}: {i.purpose}\n")
        for prm in i.parameters:
            accepts = f"; {prm.domain.describe()}" if prm.domain else ""
            env.stdout.write(f"    {prm.name} ({prm.type}, default {prm.default!r}{accepts}): {prm.help}\n")
    return 0


def cmd_run(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb import catalogue, findings, runner
    from netdebug_nb.errors import NotebookNotFoundError

    if not args.notebook:
        raise NotebookNotFoundError("", catalogue.names())
    params = _parameters(args)
    progress = env.interactive if args.progress is None else args.progress
    result = runner.run(
        args.notebook, params, out=args.out, timeout=args.timeout, progress=env.stderr if progress else None
    )
    if result.status == "inconclusive":  # not an error, but never to be mistaken for an all-clear
        env.stderr.write(f"netdebug-nb: {result.notebook}: {findings.verdict(result.findings)}\n")
    if env.interactive:
        env.stderr.write(f"{result.notebook}: {len(result.findings)} finding(s); report {result.html}\n")
    return 0


def cmd_report(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb import report

    index = report.build(args.dir, bundle=args.bundle)
    env.stdout.write(f"{index}\n")
    if args.bundle:
        env.stdout.write(f"{args.dir.resolve()}.tar.gz\n")
    return 0


def cmd_demo(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb import demo

    def started(name: str) -> None:
        env.stderr.write(f"running {name} ...\n")

    res = demo.run(args.out, progress=env.stderr if env.interactive else None, on_start=started)
    for name, err in res.failures.items():
        env.stderr.write(f"netdebug-nb: demo: {name}: {err}\n")
    env.stdout.write(f"report: {res.index}\n")
    return 3 if res.failures else 0


def cmd_kernel(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb import kernel

    data_dir = kernel.ensure()
    env.stdout.write(f"kernel spec {kernel.NAME!r} in {data_dir / 'kernels' / kernel.NAME}\n")
    return 0


def cmd_lab(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb import jupyter, kernel, tools

    launch = jupyter.plan(
        ip=args.ip, port=args.port, root=args.root, extra=args.extra, kernel_dir=kernel.ensure()
    )
    for path in jupyter.seed(launch):
        env.stderr.write(f"netdebug-nb lab: copied {path.name} into {launch.root}\n")
    env.stderr.write(f"netdebug-nb lab: JupyterLab on {launch.url} (notebooks in {launch.root})\n")
    tools.replace(launch.argv, launch.env)


def _parameters(args: argparse.Namespace) -> dict[str, object]:
    """``-f FILE`` values overridden by ``-p NAME VALUE`` pairs (not yet validated)."""
    from netdebug_nb.parameters import read_file

    params = read_file(args.parameters_file) if args.parameters_file else {}
    params.update({name: value for name, value in args.parameter})
    return params


def _cluster_args(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--kubeconfig", default="", metavar="FILE", help="default: in-cluster, $KUBECONFIG, ~/.kube/config"
    )
    s.add_argument("--context", default="", help="kubeconfig context (default: current)")


# --- k8s: cluster inventory and the lab pod (netdebug_nb.k8s) -------------------------------


def _add_k8s(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    k8s = sub.add_parser("k8s", help="Kubernetes: cluster inventory, apply the JupyterLab pod")
    ks = k8s.add_subparsers(dest="k8s_command", required=True, metavar="K8S_COMMAND")

    def cluster_args(s: argparse.ArgumentParser) -> None:
        _cluster_args(s)
        s.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="per API call")

    s = ks.add_parser("inventory", help="nodes, pods and services with their addresses")
    cluster_args(s)
    s.add_argument("-n", "--namespace", default="", help="only this namespace (nodes are always listed)")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_k8s_inventory)

    s = ks.add_parser("targets", help="addresses to probe from Kubernetes selectors")
    cluster_args(s)
    s.add_argument("spec", nargs="+", help="nodes[:label=value] | pods:NS[/label=value] | service:NS/NAME")
    s.add_argument("--family", type=int, choices=(4, 6), default=None, help="only IPv4 or IPv6")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_k8s_targets)

    s = ks.add_parser("dns", help="cluster DNS: kube-dns, CoreDNS endpoints, NodeLocal DNSCache, this pod")
    cluster_args(s)
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_k8s_dns)

    s = ks.add_parser("lab", help="create the JupyterLab pod (+ read-only RBAC, token Secret)")
    cluster_args(s)
    s.add_argument("-n", "--namespace", default="netdebug")
    s.add_argument("--image", default="ghcr.io/netdebug/netdebug:lab")
    s.add_argument("--host-network", action="store_true", help="run in a node's network namespace")
    s.add_argument("--node", default="", help="the node for --host-network")
    s.add_argument("--dry-run", action="store_true", help="print the objects as YAML, touch nothing")
    s.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait for the pod to be Ready")
    s.set_defaults(func=cmd_k8s_lab)

    _add_k8s_netpol(ks, cluster_args)

    s = ks.add_parser("why", help="why can't SOURCE reach DESTINATION: the service path ladder")
    cluster_args(s)
    s.add_argument("source", help="NS/POD | NS/label=value | IP | '' (where this runs)")
    s.add_argument("destination", help="service:NS/NAME | DNS name | NS/POD | IP")
    s.add_argument("--port", default="", help="port number or name (http)")
    s.add_argument("--protocol", default="tcp", type=str.upper, choices=("TCP", "UDP", "SCTP"))
    s.add_argument(
        "--manifests", default="", metavar="PATH", help="file/dir of YAML/JSON objects (default: live)"
    )
    s.add_argument("--kubeproxy-snapshot", default="", metavar="PATH",
                   help="iptables-save / ipvsadm -Ln / nft -j output or a netstate snapshot dir from the source's node")  # fmt: skip
    s.add_argument(
        "--probe", action="store_true", help="also connect to the ClusterIP and every endpoint from here"
    )
    s.add_argument("--tries", type=int, default=3, help="connects per address with --probe")
    s.add_argument("--probe-timeout", type=float, default=2.0, metavar="SECONDS", help="per connect attempt")
    s.add_argument(
        "--resolv-conf", default="/etc/resolv.conf", help="resolver of the live DNS check (--probe)"
    )
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_k8s_why)


def cmd_k8s_inventory(args: argparse.Namespace, env: Env) -> int:
    import pandas as pd

    from netdebug_nb.k8s import client, inventory

    cluster = client.connect(args.kubeconfig, args.context, timeout_s=args.timeout)
    inv = inventory.collect(cluster, args.namespace or None)
    tables = {
        "nodes": inv.nodes[
            ["name", "internal_ip", "external_ip", "pod_cidrs", "ready", "roles", "zone", "problems"]
        ],
        "pods": inv.pods[
            ["namespace", "name", "node", "pod_ips", "host_network", "phase", "ready", "restarts", "workload"]
        ],
        "services": inv.services[["namespace", "name", "type", "cluster_ips", "external_ips", "ports"]],
    }
    if args.json:

        def records(df: pd.DataFrame) -> list[dict[str, object]]:
            return [
                {str(k): (None if v is pd.NA else v) for k, v in r.items()} for r in df.to_dict("records")
            ]

        doc: dict[str, object] = {
            "cluster": inv.cluster,
            "namespace": inv.namespace,
            "warnings": inv.warnings,
        }
        doc |= {name: records(getattr(inv, name)) for name in ("nodes", "pods", "services", "endpoints")}
        json.dump(doc, env.stdout, indent=2, default=str)
        env.stdout.write("\n")
    else:
        env.stdout.write(f"{inv.cluster}: {inv.summary()}\n")
        for name, df in tables.items():
            env.stdout.write(f"\n{name.upper()}\n")
            env.stdout.write((df.to_string(index=False) if len(df) else "(none)") + "\n")
    for w in inv.warnings:
        env.stderr.write(f"netdebug-nb: warning: {w}\n")
    return 0


def cmd_k8s_targets(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.k8s import client, discovery

    for spec in args.spec:  # a typo is a usage error before any connection
        discovery.parse_spec(spec)
    cluster = client.connect(args.kubeconfig, args.context, timeout_s=args.timeout)
    found = discovery.targets(args.spec, cluster, family=args.family)
    if args.json:
        env.stdout.write(found.to_json(orient="records") + "\n")
    else:
        env.stdout.write((found.to_string(index=False) if len(found) else "(no targets)") + "\n")
    return 0


def cmd_k8s_dns(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.k8s import client, discovery

    cluster = client.connect(args.kubeconfig, args.context, timeout_s=args.timeout)
    dns = discovery.cluster_dns(cluster)
    servers = dns.servers()
    if args.json:
        doc = {
            "summary": dns.summary(),
            "service": dns.service_name,
            "service_ips": dns.service_ips,
            "nodelocal_ip": dns.nodelocal_ip if dns.nodelocal else None,
            "own_pod": dns.own_pod,
            "dns_policy": dns.dns_policy,
            "dns_config": dns.dns_config,
            "notes": dns.notes,
            "servers": json.loads(servers.to_json(orient="records")),
        }
        json.dump(doc, env.stdout, indent=2)
        env.stdout.write("\n")
    else:
        env.stdout.write(dns.summary() + "\n\n")
        env.stdout.write(
            (servers.to_string(index=False) if len(servers) else "(no DNS servers found)") + "\n"
        )
    for note in dns.notes:
        env.stderr.write(f"netdebug-nb: warning: {note}\n")
    return 0


def cmd_k8s_lab(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.k8s import client, lab, manifests

    objs = lab.plan(args.namespace, args.image, host_network=args.host_network, node=args.node)
    if args.dry_run:
        env.stdout.write(manifests.to_yaml(objs))
        return 0
    cluster = client.connect(args.kubeconfig, args.context, timeout_s=args.timeout)
    result = lab.apply(cluster, objs)
    for kind, name, action in result.actions:
        env.stdout.write(f"{kind}/{name}: {action}\n")
    if args.wait > 0:
        lab.wait_ready(cluster, result.namespace, result.pod, args.wait)
        env.stdout.write(f"pod/{result.pod}: Ready\n")
    env.stdout.write(result.instructions() + "\n")
    return 0


# --- k8s netpol: NetworkPolicy truth table (netdebug_nb.k8s.netpol, .policymatrix) -------


def _add_k8s_netpol(ks: argparse._SubParsersAction, cluster_args: object) -> None:  # type: ignore[type-arg]
    np_ = ks.add_parser("netpol", help="NetworkPolicy (networking.k8s.io/v1) evaluated offline or live")
    nps = np_.add_subparsers(dest="netpol_command", required=True, metavar="NETPOL_COMMAND")
    s = nps.add_parser("matrix", help="truth table: every ordered pair of pods × port, allowed or denied")
    assert callable(cluster_args)
    cluster_args(s)
    s.add_argument(
        "--manifests",
        action="append",
        default=[],
        metavar="PATH",
        help="YAML/JSON file or directory (kubectl get ns,pods,networkpolicies -A -o yaml); default: the cluster",
    )
    s.add_argument(
        "-n", "--namespace", action="append", default=[], help="only pods of this namespace (repeatable)"
    )
    s.add_argument("--ports", default="", help="tcp/80,tcp/8080,udp/53 (default: the pods' container ports)")
    s.add_argument("--json", action="store_true", help="one row per source, destination and port")
    s.set_defaults(func=cmd_k8s_netpol_matrix)

    s = nps.add_parser(
        "check", help="why one connection is allowed or denied: both directions, the deciding rules"
    )
    cluster_args(s)
    s.add_argument("source", help="ns/pod or an IP address")
    s.add_argument("destination", help="ns/pod, an IP address, or service:ns/name (judged on each backend)")
    s.add_argument("--port", required=True, help="number, or a port name (of the pod, or of the Service)")
    s.add_argument(
        "--protocol", default="tcp", type=str.upper, choices=["TCP", "UDP", "SCTP"], metavar="PROTO"
    )
    s.add_argument("--manifests", action="append", default=[], metavar="PATH", help="as for matrix")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_k8s_netpol_check)


def cmd_k8s_netpol_matrix(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.k8s import netpol, objects, policymatrix

    ports = policymatrix.parse_ports(args.ports) if args.ports else None  # typos before any I/O
    objs = objects.load(
        args.manifests,
        kubeconfig=args.kubeconfig,
        context=args.context,
        timeout_s=args.timeout,
        namespace=args.namespace[0] if len(args.namespace) == 1 else None,
    )
    engine = netpol.compile(objs)
    scoped = [p for p in engine.pods if not args.namespace or p.namespace in args.namespace]
    m = policymatrix.compute(engine, ports or policymatrix.default_ports(scoped), args.namespace)
    if args.json:
        m.write_json(env.stdout)
    else:
        overview = m.by_namespace()
        env.stdout.write(f"{objs.summary()}\n{m.summary()}\n\n")
        if len(overview):
            env.stdout.write("BY NAMESPACE (ordered pod pairs)\n" + overview.to_string(index=False) + "\n\n")
        env.stdout.write(m.grid() + "\n")
    notes = [*objs.warnings, objs.unsupported_line()]
    if m.other_policies:
        notes.append(
            f"{len(m.other_policies)} policies of other kinds not evaluated: "
            + ", ".join(m.other_policies[:5])
        )
    for note in filter(None, notes):
        env.stderr.write(f"netdebug-nb: warning: {note}\n")
    return 0


def cmd_k8s_netpol_check(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.k8s import netpol, objects

    objs = objects.load(
        args.manifests, kubeconfig=args.kubeconfig, context=args.context, timeout_s=args.timeout
    )
    engine = netpol.compile(objs)
    verdicts = [
        engine.allows(t)
        for t in netpol.connections(engine, objs, args.source, args.destination, args.port, args.protocol)
    ]
    if args.json:
        doc = {
            "verdict": netpol.overall(verdicts),
            "connections": [v.to_dict() for v in verdicts],
            "findings": [f.kwargs() for v in verdicts for f in v.findings()],
        }
        json.dump(doc, env.stdout, indent=2)
        env.stdout.write("\n")
        return 0
    for v in verdicts:
        env.stdout.write(f"{v.traffic.describe()}: {v.status}\n")
        for d in (v.egress, v.ingress):
            env.stdout.write(f"  {d.direction:<7} of {d.pod}: {d.status} — {d.reason}\n")
            for note in d.notes:
                env.stdout.write(f"          note: {note}\n")
        if v.other_policies:
            env.stdout.write(f"  not evaluated: {', '.join(v.other_policies)}\n")
    line = objs.unsupported_line()
    for note in filter(None, [*objs.warnings, line]):
        env.stderr.write(f"netdebug-nb: warning: {note}\n")
    return 0


def cmd_k8s_why(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.path import ladder

    opts = ladder.Options(
        port=args.port or 0,
        protocol=args.protocol,
        probe=args.probe,
        tries=max(1, args.tries),
        timeout_s=args.probe_timeout,
        resolv_conf=args.resolv_conf,
    )
    result = ladder.investigate(
        args.source,
        args.destination,
        opts,
        manifests=args.manifests,
        kubeproxy_snapshot=args.kubeproxy_snapshot,
        kubeconfig=args.kubeconfig,
        context=args.context,
        timeout_s=args.timeout,
    )
    if args.json:
        json.dump(result.to_dict(), env.stdout, indent=2, default=str)
        env.stdout.write("\n")
    else:
        env.stdout.write(result.text())
    return 0


# --- fleet: one notebook on many nodes as Jobs (netdebug_nb.fleet) --------------------------


def _add_fleet(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from netdebug_nb.fleet.result import DEFAULT_LIMIT

    fleet = sub.add_parser("fleet", help="run a notebook on many nodes as Kubernetes Jobs, merge the results")
    fs = fleet.add_subparsers(dest="fleet_command", required=True, metavar="FLEET_COMMAND")

    def cluster_args(s: argparse.ArgumentParser) -> None:
        _cluster_args(s)
        s.add_argument(
            "-n", "--namespace", default="netdebug", help="namespace of the Jobs (default: netdebug)"
        )

    s = fs.add_parser("run", help="one Job per node; collect DIR/<node>/NOTEBOOK/, merge, incident index")
    s.add_argument("notebook", help="notebook name (see 'list')")
    cluster_args(s)
    s.add_argument("--nodes", default="all", help="all | a label selector (role=worker) | name,name")
    s.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    s.add_argument("-f", "--parameters-file", metavar="FILE", help="YAML file of parameter values")
    s.add_argument("--out", type=Path, default=None, metavar="DIR", help="default: fleet-NOTEBOOK-RUNID")
    s.add_argument(
        "--mesh", action="store_true", help="latency mesh: each node probes every other node's InternalIP"
    )
    s.add_argument("--mesh-pods", action="store_true", help="with --mesh: also probe the other Jobs' pod IPs")
    s.add_argument("--host-network", action="store_true", help="run in each node's network namespace")
    s.add_argument("--image", default=None, help="lab image (default: ghcr.io/netdebug/netdebug:lab)")
    s.add_argument(
        "--service-account", default="netdebug", help="the read-only ServiceAccount (deploy/rbac.yaml)"
    )
    s.add_argument(
        "--timeout",
        type=int,
        default=300,
        metavar="SECONDS",
        help="notebook limit; Job deadline adds --start-margin",
    )
    s.add_argument(
        "--start-margin", type=int, default=120, metavar="SECONDS", help="image pull and start-up allowance"
    )
    s.add_argument(
        "--ttl", type=int, default=3600, metavar="SECONDS", help="ttlSecondsAfterFinished (backstop cleanup)"
    )
    s.add_argument(
        "--pin", choices=("affinity", "nodeName"), default="affinity", help="how Jobs are pinned to nodes"
    )
    s.add_argument("--tolerations", default="all", help="all | none | KEY[=VALUE][:EFFECT],...")
    s.add_argument("--cpu", default="1", help="CPU limit per Job (request 100m)")
    s.add_argument("--memory", default="1Gi", help="memory limit per Job (request 256Mi)")
    s.add_argument(
        "--result-limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="BYTES",
        help="max compressed result per node",
    )
    s.add_argument("--qps", type=float, default=20.0, help="Job creations per second")
    s.add_argument("--burst", type=int, default=20, help="creations allowed at once")
    s.add_argument("--batch-size", type=int, default=50, help="Jobs per creation batch")
    s.add_argument("--collect-concurrency", type=int, default=8, help="pod logs read at once")
    s.add_argument(
        "--pending-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="give up on unschedulable / image-pull pods",
    )
    s.add_argument("--keep-jobs", action="store_true", help="leave the Jobs (their TTL still applies)")
    s.add_argument("--no-merge", action="store_true", help="skip the fleet_mesh merge notebook")
    s.set_defaults(func=cmd_fleet_run)

    s = fs.add_parser("clean", help="delete Jobs created by fleet runs")
    cluster_args(s)
    s.add_argument("--run", default="", metavar="RUN_ID", help="only this run (default: every fleet Job)")
    s.add_argument("-A", "--all-namespaces", action="store_true")
    s.set_defaults(func=cmd_fleet_clean)

    s = fs.add_parser("emit", help="write a run directory to stdout as a framed result (used in Jobs)")
    s.add_argument("run_dir", type=Path, help="OUT/NOTEBOOK directory of a run")
    s.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="BYTES", help="max compressed size")
    s.set_defaults(func=cmd_fleet_emit)

    s = fs.add_parser("exec", help="run a notebook then emit its result (the command of each Job)")
    s.add_argument("notebook")
    s.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    s.add_argument("--out", type=Path, default=Path("/tmp/out"), metavar="DIR")
    s.add_argument("--timeout", type=float, default=None, metavar="SECONDS")
    s.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="BYTES")
    s.add_argument(
        "--fping-first", action="store_true", help="mesh mode: probe, then run the notebook offline"
    )
    s.add_argument("--peers", type=int, default=0, help="mesh with pods: also probe this many peer pods")
    s.add_argument("--run-id", default="", help="the fleet run whose pods are the peers")
    s.set_defaults(func=cmd_fleet_exec)

    s = fs.add_parser(
        "capture", help="synchronised tcpdump on several nodes (and a pod's veth); compare the captures"
    )
    cluster_args(s)
    s.add_argument(
        "--nodes", default="", help="all | a label selector | name,name (default: only --pod's node)"
    )
    s.add_argument("--pod", default="", metavar="NS/NAME", help="also capture this pod's traffic on its node")
    s.add_argument("--filter", default="", metavar="BPF", help='tcpdump filter, e.g. "host 10.96.0.10"')
    s.add_argument("--interface", default="any", help="interface on every node (default: any)")
    s.add_argument("--seconds", type=float, default=30.0, help="capture duration (default: 30)")
    s.add_argument("--snaplen", type=int, default=256, help="bytes kept per packet (default: 256)")
    s.add_argument("--max-mb", type=float, default=100.0, help="capture size cap per node (default: 100)")
    s.add_argument(
        "--start-in", type=float, default=30.0, metavar="SECONDS", help="common start T0 = now + this"
    )
    s.add_argument("--out", type=Path, default=None, metavar="DIR", help="default: fleet-capture-RUNID")
    s.add_argument("--image", default=None, help="lab image (default: ghcr.io/netdebug/netdebug:lab)")
    s.add_argument("--service-account", default="netdebug", help="the Jobs' ServiceAccount")
    s.add_argument("--tolerations", default="all", help="all | none | KEY[=VALUE][:EFFECT],...")
    s.add_argument("--pending-timeout", type=float, default=300.0, metavar="SECONDS")
    s.add_argument("--no-compare", action="store_true", help="skip the capture_compare notebook")
    s.set_defaults(func=cmd_fleet_capture)

    s = fs.add_parser("capture-exec", help="wait for T0, capture, emit the result (the command of each Job)")
    s.add_argument("--out", type=Path, default=Path("/tmp/out"), metavar="DIR")
    s.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="BYTES")
    s.add_argument("--t0", default="", help="common start: seconds since the epoch or ISO 8601")
    s.add_argument("--interface", default="any")
    s.add_argument("--filter", default="", metavar="BPF")
    s.add_argument("--seconds", type=float, default=30.0)
    s.add_argument("--snaplen", type=int, default=256)
    s.add_argument("--max-mb", type=float, default=100.0)
    s.add_argument("--pod-ip", default="", help="capture on the interface routing this pod IP (its veth)")
    s.add_argument("--label", default="", help="name of this capture point (default: the node)")
    s.set_defaults(func=cmd_fleet_capture_exec)


def cmd_fleet_run(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.fleet import controller, jobspec
    from netdebug_nb.fleet.api import Api
    from netdebug_nb.fleet.controller import Node
    from netdebug_nb.fleet.progress import Progress

    job = controller.plan(
        args.notebook,
        _parameters(args),
        mesh=args.mesh,
        mesh_pods=args.mesh_pods,
        image=args.image or jobspec.DEFAULT_IMAGE,
        namespace=args.namespace,
        service_account=args.service_account,
        timeout_s=args.timeout,
        start_margin_s=args.start_margin,
        ttl_s=args.ttl,
        host_network=args.host_network,
        pin=args.pin,
        tolerations=jobspec.parse_tolerations(args.tolerations),
        cpu_limit=args.cpu,
        memory_limit=args.memory,
        result_limit=args.result_limit,
    )
    fopts = controller.FleetOptions(
        nodes=args.nodes,
        qps=args.qps,
        burst=args.burst,
        batch_size=args.batch_size,
        collect_concurrency=args.collect_concurrency,
        pending_timeout_s=args.pending_timeout,
        keep_jobs=args.keep_jobs,
        mesh=args.mesh,
        merge=not args.no_merge,
    )
    out = args.out or Path(f"fleet-{job.notebook}-{job.run_id}")
    progress = Progress(env.stderr, total=0, interactive=env.interactive)
    last: dict[str, int] = {}

    def started(nodes: Sequence[Node]) -> None:
        progress.total = len(nodes)
        env.stderr.write(
            f"fleet run {job.run_id}: {job.notebook} on {len(nodes)} node(s), Jobs in {job.namespace}\n"
        )

    def moved(counts: Mapping[str, int], final: bool) -> None:
        last.update(counts)
        progress.update(counts, force=final)

    api = Api.connect(args.kubeconfig, args.context)
    res = controller.run(api, job, fopts, out, on_start=started, on_progress=moved)
    progress.done(last)
    return _fleet_outcome(res, env, merge="fleet: merge notebook")


def _fleet_outcome(res: FleetResult, env: Env, *, merge: str) -> int:
    """A fleet run's ending, the same for notebooks and captures: each failed node, then the report."""
    for run in res.failed:
        why = run.message if run.state == "failed" else run.result
        env.stdout.write(f"{run.node}: {run.reason or 'no result'}: {why}\n")
    if res.merge_error is not None:
        env.stderr.write(f"netdebug-nb: {merge} failed: {res.merge_error}\n")
    env.stdout.write(f"report: {res.index}\n")
    return 3 if res.failed or res.merge_error else 0


def cmd_fleet_clean(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.fleet import controller
    from netdebug_nb.fleet.api import Api

    api = Api.connect(args.kubeconfig, args.context)
    n = controller.clean(api, None if args.all_namespaces else args.namespace, args.run or None)
    env.stdout.write(f"deleted {n} fleet Job(s)\n")
    return 0


def cmd_fleet_emit(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.fleet import result

    rec = result.emit(args.run_dir, env.stdout, limit=args.limit)
    if not rec.ok:
        env.stderr.write(
            f"netdebug-nb: fleet emit: {args.run_dir}: {rec.error} ({rec.size} bytes, limit {args.limit})\n"
        )
    return 0 if rec.ok else 1


def cmd_fleet_exec(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.fleet import pod

    return pod.execute(
        args.notebook,
        {name: value for name, value in args.parameter},
        out=args.out,
        stdout=env.stdout,
        stderr=env.stderr,
        timeout=args.timeout,
        limit=args.limit,
        fping_first=args.fping_first,
        peers=args.peers,
        run_id=args.run_id,
    )


def cmd_fleet_capture(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.fleet import capture, controller, jobspec
    from netdebug_nb.fleet.api import Api

    copts = capture.CaptureOptions(
        interface=args.interface,
        bpf=args.filter,
        seconds=args.seconds,
        snaplen=args.snaplen,
        max_mb=args.max_mb,
        start_in_s=args.start_in,
    )
    copts.validate()
    fopts = controller.FleetOptions(
        nodes=args.nodes, pending_timeout_s=args.pending_timeout, merge=not args.no_compare
    )
    fields = {
        "image": args.image or jobspec.DEFAULT_IMAGE,
        "namespace": args.namespace,
        "service_account": args.service_account,
        "tolerations": jobspec.parse_tolerations(args.tolerations),
    }
    api = Api.connect(args.kubeconfig, args.context)

    def started(nodes: Sequence[object]) -> None:
        env.stderr.write(
            f"fleet capture: {len(nodes)} node(s), start in {args.start_in:g} s, {args.seconds:g} s each\n"
        )

    out = args.out or Path(f"fleet-capture-{controller.new_run_id()}")
    res = capture.run(api, copts, fopts, out, pod=args.pod, job_fields=fields, on_start=started)
    for line in capture.summary(out):
        env.stdout.write(line + "\n")
    return _fleet_outcome(res, env, merge="fleet capture: capture_compare")


def cmd_fleet_capture_exec(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.fleet import capture

    return capture.execute(
        out=args.out,
        stdout=env.stdout,
        stderr=env.stderr,
        t0=capture.parse_t0(args.t0) if args.t0 else None,
        interface=args.interface,
        bpf=args.filter,
        seconds=args.seconds,
        snaplen=args.snaplen,
        max_mb=args.max_mb,
        pod_ip=args.pod_ip,
        label=args.label,
        limit=args.limit,
    )


def _add_pcap(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    pcap = sub.add_parser("pcap", help="packet captures: export a capture set to Parquet")
    ps = pcap.add_subparsers(dest="pcap_command", required=True, metavar="PCAP_COMMAND")
    s = ps.add_parser(
        "export",
        help="read captures once; write the packet table and the analysis tables as Parquet",
        description="CAPTURE: a file, a directory, a glob or several of these (pcap, pcapng, .gz).",
    )
    s.add_argument("captures", nargs="+", metavar="CAPTURE")
    s.add_argument("--out", type=Path, required=True, metavar="DIR", help="directory to write (see README)")
    s.add_argument("--memory-mb", type=int, default=2048, metavar="MB", help="memory the analysis may use")
    s.add_argument("--io-interval", type=float, default=1.0, metavar="SECONDS", help="IO graph bin width")
    s.add_argument(
        "--partition",
        choices=("file", "hour"),
        default="file",
        help="packet files: one per capture file, or Hive partitions by UTC hour (packets/hour=.../)",
    )
    s.add_argument(
        "--l7-port",
        type=int,
        action="append",
        default=[],
        metavar="PORT",
        help="server port always read as HTTP/gRPC/TLS (others when their first bytes look so); repeatable",
    )
    s.set_defaults(func=cmd_pcap_export)


def cmd_pcap_export(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb.pcap import dataset, dns, progress

    if args.memory_mb < 64:
        raise UsageError(f"--memory-mb: at least 64, got {args.memory_mb}")
    if args.io_interval <= 0:
        raise UsageError(f"--io-interval: must be positive, got {args.io_interval}")
    tables = dataset.export(
        args.captures,
        args.out,
        memory_mb=args.memory_mb,
        io_interval_s=args.io_interval,
        packets_by=args.partition,
        l7_ports=args.l7_port,
        progress=progress.Terminal(env.stderr),
    )
    o = tables.overview.iloc[0]
    env.stdout.write(
        f"{args.out}: {int(o['packets'])} packets from {len(tables.files)} file(s), "
        f"{len(tables.conversations)} flows, {len(tables.tcp.health)} TCP, "
        f"{dns.summary(tables).queries} DNS transactions, {tables.application.flows_read} HTTP/TLS connections\n"
    )
    return 0


def main(argv: list[str] | None = None, env: Env | None = None) -> int:
    env = env or Env()
    _skip_slow_imports()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its usage message
        return int(exc.code or 0)
    try:
        code: int = args.func(args, env)
        return code
    except NetdebugError as exc:
        env.stderr.write(f"netdebug-nb: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        env.stderr.write("netdebug-nb: interrupted\n")
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as cat does
        _drop_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for cat there


def _skip_slow_imports() -> None:
    """Keep optional imports that cost a second and serve nothing here out of this process.

    nbformat's jsonschema imports ``rfc3987_syntax`` (when installed, as JupyterLab's
    jupyter-events brings it) only to check the ``iri`` string format, and that import compiles a
    grammar: ~1 s of every ``netdebug-nb run``. Our notebooks' schema has no such format. Only the
    CLI's own process is changed (a kernel or a library user's process is not).
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  # import → ImportError


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that flushing what is still buffered does not fail again."""
    import os

    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # not a file (a test's StringIO): nothing buffered there
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)


def entry() -> NoReturn:
    _exit(main())


def _exit(code: int) -> NoReturn:
    """End the command without tearing the interpreter down.

    A ``run`` has imported papermill, nbconvert, jupyter_client and zmq and holds ~200,000
    objects; the interpreter's own teardown (modules, the zmq context, a last collection) then
    takes 0.2-0.5 s after everything was written. Exit handlers still run (``weakref.finalize``
    removes temporary files, logging flushes), and so does a normal exit when a thread is still
    working, which the interpreter would wait for.
    """
    import atexit
    import contextlib
    import os
    import threading

    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (| head): nothing to keep
            stream.flush()
    os._exit(code)

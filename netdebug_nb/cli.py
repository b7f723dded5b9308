"""``netdebug-nb``: argument parsing only. Every command calls the library; :func:`main` is the
one place that turns errors into a one-line message on stderr and an exit code.

Exit codes: 0 ok · 1 error · 2 bad usage or input · 3 notebook failed · 4 timeout ·
5 kernel died · 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from netdebug_nb import __version__
from netdebug_nb.errors import NetdebugError


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

    for add in _EXTENSIONS:
        add(sub)
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
            env.stdout.write(f"    {prm.name} ({prm.type}, default {prm.default!r}): {prm.help}\n")
    return 0


def cmd_run(args: argparse.Namespace, env: Env) -> int:
    from netdebug_nb import catalogue, runner
    from netdebug_nb.errors import NotebookNotFoundError
    from netdebug_nb.parameters import read_file

    if not args.notebook:
        raise NotebookNotFoundError("", catalogue.names())
    params = read_file(args.parameters_file) if args.parameters_file else {}
    params.update({name: value for name, value in args.parameter})
    progress = env.interactive if args.progress is None else args.progress
    result = runner.run(
        args.notebook, params, out=args.out, timeout=args.timeout, progress=env.stderr if progress else None
    )
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


_EXTENSIONS: list = []  # type: ignore[type-arg]
"""Sub-command groups added by use-case packages (k8s, fleet): callables taking the subparsers."""


def main(argv: list[str] | None = None, env: Env | None = None) -> int:
    env = env or Env()
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


def entry() -> None:
    sys.exit(main())

#!/usr/bin/env python3
"""Record netdebug_nb/data/probe/: real ``curl -w '%{json}'`` output and a certificate chain.

Run from the repository root (no root needed, loopback only)::

    .venv/bin/python scripts/make_probe_demo.py

Servers (tests/probe/servers.py) on 127.0.0.11-13:18080 stand for the three endpoints of a
Service (.12 answers 120 ms late), 127.0.0.1:18081 fails every fourth request with 503,
127.0.0.1:18082 has nothing listening. The real curl binary requests each 20 times, the Service
through ``--connect-to`` with its cluster name in the URL, plus a name that does not resolve.
``chain.pem`` is a leaf for api.shop.example sent without its intermediate (made with
tests/probe/certs.py, valid for ten years), what ``openssl s_client -showcerts`` would save.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "probe"))

from certs import pki  # noqa: E402

OUT = ROOT / "netdebug_nb" / "data" / "probe"
SERVICE = "web.shop.svc.cluster.local"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        try:
            for addr, cfg in (
                ("127.0.0.11", {}),
                ("127.0.0.12", {"delay_ms": {"*": 120}}),
                ("127.0.0.13", {}),
            ):
                (t / f"{addr}.json").write_text(json.dumps(cfg))
                procs.append(subprocess.Popen([sys.executable, str(ROOT / "tests/probe/servers.py"), "http", addr, "18080", str(t / f"{addr}.json")], stdout=subprocess.DEVNULL))  # fmt: skip
            (t / "flaky.json").write_text(
                json.dumps({"fail_every": {"/checkout": 4}, "delay_ms": {"/checkout": 15}})
            )
            procs.append(subprocess.Popen([sys.executable, str(ROOT / "tests/probe/servers.py"), "http", "127.0.0.1", "18081", str(t / "flaky.json")], stdout=subprocess.DEVNULL))  # fmt: skip
            time.sleep(1.5)
            lines: list[str] = []

            def curl(*args: str) -> None:
                done = subprocess.run(["curl", "-s", "-o", "/dev/null", "--max-time", "3", "-w", "%{json}\\n", *args],
                                      capture_output=True, text=True)  # fmt: skip
                lines.append(done.stdout.strip())

            for _ in range(20):
                for addr in ("127.0.0.11", "127.0.0.12", "127.0.0.13"):
                    curl("--connect-to", f"{SERVICE}:80:{addr}:18080", f"http://{SERVICE}/api/cart")
                curl("http://127.0.0.1:18081/checkout")
            for _ in range(5):
                curl("http://127.0.0.1:18082/")
                curl("http://nosuch.invalid/")
            (OUT / "curl.jsonl").write_text("\n".join(lines) + "\n")
        finally:
            for p in procs:
                p.terminate()
                p.wait()
        made = pki(t / "pki", "api.shop.example", leaf_days=3650)
        chain = made["nointermediate"].chain  # type: ignore[union-attr]
        (OUT / "chain.pem").write_text(
            "# openssl s_client -connect api.shop.example:443 -servername api.shop.example -showcerts\n"
            "# (leaf only: the server does not send its intermediate)\n"
            + chain.read_text()
            + "    Protocol  : TLSv1.2\n    Cipher    : ECDHE-ECDSA-AES128-GCM-SHA256\n"
        )
    print(f"wrote {OUT / 'curl.jsonl'} ({len(lines)} lines) and {OUT / 'chain.pem'}")


if __name__ == "__main__":
    main()

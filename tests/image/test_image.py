"""The netdebug images: built once with ``image/build-local.sh`` (buildah, a debootstrap base, no
Docker engine, no registry), then exercised from inside with ``buildah run --isolation chroot``,
the way a pod would use them: the tools answer, the non-root lab user can send raw packets thanks
to file capabilities, the kit's demo runs, and JupyterLab wants its token.

Slow (a cold build downloads Debian packages and the Python wheels): marked ``image``. The image
sizes and the build time are printed in the test output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BUILD_TIMEOUT_S = 25 * 60
# The first test also pays for the build (about 5.5 min cold here, 1 min warm): pytest-timeout's
# 600 s default would cut a cold build on a busy machine.
pytestmark = [pytest.mark.image, pytest.mark.timeout(BUILD_TIMEOUT_S + 300)]

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "image" / "build-local.sh"
NAME = os.environ.get("NETDEBUG_IMAGE_NAME", "localhost/netdebug")
SIZE_LIMITS = {"tools": 450e6, "lab": 1.4e9}  # bytes, uncompressed, decimal units as buildah prints them
# lab: 1.33 GB since pyarrow, duckdb, grpcio, cryptography and pycurl joined (Parquet export, probes)
LAB_UID = "1000"

# Every tool the kit documents -> (command, what its answer must contain). Exit codes are not
# checked: iperf 2 exits 1 after --version and dhcping has no version flag, only a usage line.
TOOLS: dict[str, tuple[str, str]] = {
    "ab": ("ab -V", r"ApacheBench"),
    "bash": ("bash --version", r"GNU bash"),
    "dig": ("dig -v", r"DiG 9\."),
    "host": ("host -V", r"host 9\."),
    "nslookup": ("nslookup -version", r"nslookup 9\."),
    "brctl": ("brctl -V", r"bridge-utils"),
    "busybox": ("busybox --help", r"BusyBox v"),
    "conntrack": ("conntrack --version", r"conntrack v"),
    "curl": ("curl --version", r"curl \d"),
    "dhcping": ("dhcping", r"dhcping -c ciaddr"),
    "drill": ("drill -v", r"drill version"),
    "ethtool": ("ethtool --version", r"ethtool version"),
    "file": ("file --version", r"file-\d"),
    "fping": ("fping --version", r"fping: Version"),
    "http": ("http --version", r"^\d+\.\d+"),
    "hping3": ("hping3 --version", r"hping3 version"),
    "iftop": ("iftop -h", r"iftop: display bandwidth"),
    "iperf": ("iperf --version", r"iperf version 2\."),
    "iperf3": ("iperf3 --version", r"iperf 3\."),
    "ip": ("ip -V", r"iproute2"),
    "ss": ("ss -V", r"iproute2"),
    "ipset": ("ipset --version", r"ipset v\d"),
    "iptraf-ng": ("iptraf-ng -h", r"usage: iptraf-ng"),
    "ping": ("ping -V", r"iputils"),
    "tracepath": ("tracepath -V", r"iputils"),
    "arping": ("arping -V", r"iputils"),
    # ipvsadm talks to the kernel before anything else; without the ip_vs module it can only say so.
    "ipvsadm": ("ipvsadm --help", r"ipvsadm v\d|Can't initialize ipvs"),
    "jq": ("jq --version", r"jq-\d"),
    "oping": ("oping -h", r"Usage: oping"),
    "mtr": ("mtr --version", r"mtr 0\."),
    "snmpget": ("snmpget --version", r"NET-SNMP version"),
    "snmpwalk": ("snmpwalk --version", r"NET-SNMP version"),
    "nc": ("nc -h", r"OpenBSD netcat"),
    "nft": ("nft --version", r"nftables v"),
    "iptables": ("iptables --version", r"iptables v.*nf_tables"),
    "ip6tables": ("ip6tables --version", r"ip6tables v"),
    "ngrep": ("ngrep -V", r"ngrep: V"),
    "nmap": ("nmap --version", r"Nmap version"),
    "nping": ("nping --version", r"Nping version"),
    "openssl": ("openssl version", r"OpenSSL 3"),
    "socat": ("socat -V", r"socat version"),
    "strace": ("strace -V", r"strace -- version"),
    "tcpdump": ("tcpdump --version", r"tcpdump version"),
    "tcptraceroute": ("tcptraceroute -v", r"tcptraceroute 1\."),
    "nsenter": ("nsenter --version", r"util-linux"),
    "tshark": ("tshark --version", r"TShark \(Wireshark\)"),
    "tini": ("tini --version", r"tini version"),
}
# The tools the lab user runs without root: they carry file capabilities.
CAPTURE_TOOLS = ("fping", "mtr-packet", "hping3", "nmap", "nping", "arping", "ping", "tcpdump", "dumpcap")


@dataclass(frozen=True)
class Build:
    duration_s: float
    sizes: dict[str, float]  # target -> bytes
    log: Path
    revision: str  # the commit the build labelled its images with


def _size_bytes(text: str) -> float:
    """buildah prints go-units sizes ("441 MB", "1.02 GB"): decimal units."""
    m = re.fullmatch(r"\s*([\d.]+)\s*([kMGT]?B)\s*", text)
    assert m, f"unexpected size {text!r}"
    return float(m.group(1)) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[m.group(2)]


def _image_size(target: str) -> float:
    out = subprocess.run(
        ["buildah", "images", "--json", f"{NAME}:{target}"], check=True, capture_output=True, text=True
    ).stdout
    return _size_bytes(json.loads(out)[0]["size"])


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    missing = [t for t in ("buildah", "debootstrap") if shutil.which(t) is None]
    reason = ""
    if os.geteuid() != 0:
        reason = "the image build needs root"
    elif missing:
        reason = f"{' and '.join(missing)} not installed (apt-get install -y buildah debootstrap)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"image tests cannot run in CI: {reason}")
        pytest.skip(reason)
    log = tmp_path_factory.mktemp("image") / "build.log"
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    revision = head.stdout.strip() if head.returncode == 0 else "unknown"
    start = time.monotonic()
    with open(log, "w") as fh:
        proc = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "all"],
            env={**os.environ, "NETDEBUG_REVISION": revision},
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    duration = time.monotonic() - start
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:])
        pytest.fail(f"image/build-local.sh failed ({proc.returncode}); last lines of {log}:\n{tail}")
    return Build(
        duration_s=duration, sizes={t: _image_size(t) for t in SIZE_LIMITS}, log=log, revision=revision
    )


def _container(target: str) -> Iterator[str]:
    ctr = subprocess.run(
        ["buildah", "from", "--pull-never", f"{NAME}:{target}"], check=True, capture_output=True, text=True
    ).stdout.strip()
    try:
        yield ctr
    finally:
        subprocess.run(["buildah", "rm", ctr], capture_output=True, check=False)


@pytest.fixture(scope="module")
def tools_ctr(build: Build) -> Iterator[str]:
    yield from _container("tools")


@pytest.fixture(scope="module")
def lab_ctr(build: Build) -> Iterator[str]:
    yield from _container("lab")


def run_argv(
    ctr: str,
    *argv: str,
    user: str | None = None,
    caps: tuple[str, ...] = ("CAP_NET_RAW",),
    env: dict[str, str] | None = None,
    volumes: tuple[str, ...] = (),
) -> list[str]:
    """``buildah run`` argv; the default capability set adds only NET_RAW, like a default pod."""
    cmd = ["buildah", "run", "--isolation", "chroot"]
    for cap in caps:
        cmd += ["--cap-add", cap]
    if user:
        cmd += ["--user", user]
    for key, value in (env or {}).items():
        cmd += ["--env", f"{key}={value}"]
    for vol in volumes:
        cmd += ["--volume", vol]
    return [*cmd, ctr, "--", *argv]


def run(ctr: str, *argv: str, timeout: float = 300, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        run_argv(ctr, *argv, **kw),  # type: ignore[arg-type]
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_sizes_and_build_time(build: Build, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\n[image] build-local.sh all took {build.duration_s:.0f} s (log {build.log})")
        for target, size in build.sizes.items():
            print(
                f"[image] {NAME}:{target} {size / 1e6:.0f} MB uncompressed (limit {SIZE_LIMITS[target] / 1e6:.0f} MB)"
            )
    for target, size in build.sizes.items():
        assert size < SIZE_LIMITS[target], f"{target} image is {size / 1e6:.0f} MB"


def test_every_documented_tool_answers(tools_ctr: str) -> None:
    script = "\n".join(f"echo '@@ {name}'; {cmd} </dev/null 2>&1" for name, (cmd, _) in TOOLS.items())
    proc = run(tools_ctr, "bash", "-c", script, caps=("CAP_NET_RAW", "CAP_NET_ADMIN"))
    answers = dict(re.findall(r"^@@ (\S+)\n(.*?)(?=^@@ |\Z)", proc.stdout, flags=re.S | re.M))
    wrong = {
        name: answers.get(name, "<no answer>")[:200]
        for name, (_, pattern) in TOOLS.items()
        if not re.search(pattern, answers.get(name, ""), flags=re.M)
    }
    assert not wrong, f"tools that did not answer as expected: {wrong}"


def test_tools_image_runs_a_shell_under_tini(build: Build, tools_ctr: str) -> None:
    config = _inspect("tools")["Docker"]["config"]
    assert config["Entrypoint"] == ["/usr/bin/tini", "--"]
    assert config["Cmd"] == ["/bin/bash"]
    assert config["Labels"]["org.opencontainers.image.revision"] == build.revision


def _inspect(target: str) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(
        ["buildah", "inspect", "--type", "image", f"{NAME}:{target}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def test_lab_image_config(lab_ctr: str) -> None:
    config = _inspect("lab")["Docker"]["config"]
    assert config["User"] == f"{LAB_UID}:{LAB_UID}"
    assert config["Cmd"] == ["netdebug-nb", "lab"]
    assert config["Healthcheck"]["Test"][0] == "CMD-SHELL"
    labels = config["Labels"]
    for key in ("source", "version", "revision"):
        assert labels[f"org.opencontainers.image.{key}"], key
    proc = run(lab_ctr, "id", "-u")
    assert proc.stdout.strip() == LAB_UID


def test_capture_tools_carry_only_net_raw(lab_ctr: str) -> None:
    script = "for t in " + " ".join(CAPTURE_TOOLS) + '; do getcap "$(command -v "$t")"; done'
    proc = run(lab_ctr, "bash", "-c", script)
    caps = dict(line.split(" ", 1) for line in proc.stdout.splitlines())
    assert len(caps) == len(CAPTURE_TOOLS), proc.stdout + proc.stderr
    assert all(value.strip() == "cap_net_raw=ep" for value in caps.values()), caps


def test_capture_tools_start_for_the_lab_user_with_only_net_raw(lab_ctr: str) -> None:
    """A file capability the container does not grant makes exec fail: NET_RAW alone must do."""
    script = "set -e; tcpdump --version; nmap --version; hping3 --version; nping --version; fping --version"
    proc = run(lab_ctr, "bash", "-c", script, user=f"{LAB_UID}:{LAB_UID}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_lab_user_pings_with_fping_thanks_to_file_capabilities(lab_ctr: str) -> None:
    proc = run(lab_ctr, "fping", "-c1", "127.0.0.1", user=f"{LAB_UID}:{LAB_UID}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "127.0.0.1 : xmt/rcv/%loss = 1/1/0%" in proc.stderr


def test_without_net_raw_fping_is_refused(lab_ctr: str) -> None:
    proc = run(lab_ctr, "fping", "-c1", "127.0.0.1", user=f"{LAB_UID}:{LAB_UID}", caps=())
    assert proc.returncode != 0
    assert "operation not permitted" in (proc.stdout + proc.stderr).lower()


def test_file_capabilities_need_privilege_escalation_allowed(lab_ctr: str) -> None:
    """allowPrivilegeEscalation: false sets no_new_privs, and the kernel then ignores file
    capabilities: the lab pod must leave it true for uid 1000 to probe."""
    proc = run(lab_ctr, "setpriv", "--no-new-privs", "fping", "-c1", "127.0.0.1", user=f"{LAB_UID}:{LAB_UID}")
    assert proc.returncode != 0
    assert "can't create socket" in proc.stdout + proc.stderr


def test_lab_user_captures_with_tcpdump(lab_ctr: str) -> None:
    script = (
        "tcpdump -i lo -nn -c 1 icmp >/tmp/cap.txt 2>&1 & pid=$!; sleep 2; "
        "fping -c1 127.0.0.1 >/dev/null 2>&1; "
        "for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; "
        "kill $pid 2>/dev/null; wait $pid; rc=$?; cat /tmp/cap.txt; exit $rc"
    )
    proc = run(lab_ctr, "bash", "-c", script, user=f"{LAB_UID}:{LAB_UID}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"IP 127\.0\.0\.1 > 127\.0\.0\.1: ICMP echo request", proc.stdout), proc.stdout


def test_notebooks_are_in_the_home_and_the_kernel_is_installed(lab_ctr: str) -> None:
    proc = run(
        lab_ctr,
        "bash",
        "-c",
        "netdebug-nb list --json && ls /home/netdebug/notebooks && jupyter kernelspec list",
    )
    assert proc.returncode == 0, proc.stderr
    names = {nb["name"] for nb in json.loads(proc.stdout[: proc.stdout.rindex("]") + 1])}
    listed = set(re.findall(r"^(\S+)\.ipynb$", proc.stdout, flags=re.M))
    assert names == listed
    assert re.search(r"^START\.md$", proc.stdout, flags=re.M)  # the landing page of netdebug-nb lab
    assert re.search(r"^\s+netdebug\s+/opt/netdebug/share/jupyter/kernels/netdebug$", proc.stdout, flags=re.M)


def test_netdebug_nb_demo_succeeds(lab_ctr: str) -> None:
    proc = run(lab_ctr, "netdebug-nb", "demo", "--out", "/home/netdebug/demo", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "report: /home/netdebug/demo/" in proc.stdout
    check = run(lab_ctr, "test", "-s", proc.stdout.split("report: ", 1)[1].strip())
    assert check.returncode == 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@pytest.fixture(params=["env", "file", "empty", "empty-file"])
def jupyter(request: pytest.FixtureRequest, lab_ctr: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """JupyterLab started by the image's default command, as uid 1000, its token from the
    environment, from a mounted file (a Kubernetes Secret), or, when both are empty or the file
    is missing, a random token the server logs; yields (base URL, token)."""
    port = _free_port()
    token = f"t0k-{request.param}-{os.getpid()}"
    env = {"NETDEBUG_LAB_PORT": str(port)}
    volumes: tuple[str, ...] = ()
    if request.param == "env":
        env["JUPYTER_TOKEN"] = token
    elif request.param == "empty":
        env["JUPYTER_TOKEN"] = ""
    else:
        secret = tmp_path / "token"
        secret.write_text(token + "\n" if request.param == "file" else "")
        secret.chmod(0o644)
        volumes = (f"{secret}:/run/secrets/netdebug/token:ro",)
    config = _inspect("lab")["Docker"]["config"]
    cmd = [*config["Entrypoint"], *config["Cmd"]]  # what a pod runs (tini warns: it is not PID 1 here)
    log = tmp_path / "jupyter.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            run_argv(lab_ctr, *cmd, user=f"{LAB_UID}:{LAB_UID}", env=env, volumes=volumes),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if _get(f"{base}/api")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, f"jupyter lab exited: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"jupyter lab did not answer: {log.read_text()[-2000:]}"
            time.sleep(0.5)
        if request.param.startswith("empty"):
            logged = re.search(r"[?&]token=([\w-]+)", log.read_text())
            assert logged, f"no token in the server log: {log.read_text()[-2000:]}"
            token = logged.group(1)
        yield base, token
    finally:
        try:
            urllib.request.urlopen(
                urllib.request.Request(
                    f"{base}/api/shutdown", method="POST", headers={"Authorization": f"token {token}"}
                ),
                timeout=5,
            )
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def test_jupyterlab_answers_with_the_token_and_refuses_without(
    jupyter: tuple[str, str], lab_ctr: str
) -> None:
    base, token = jupyter
    status, body = _get(f"{base}/api/status", token)
    assert status == 200 and "kernels" in json.loads(body)
    assert _get(f"{base}/api/status")[0] == 403
    assert _get(f"{base}/api/status", "not-the-token")[0] == 403
    assert _get(f"{base}/api/kernelspecs")[0] == 403
    # netdebug-nb lab's settings: the landing page, and no news feed (nor its pop-up)
    req = urllib.request.Request(f"{base}/?token={token}")
    opener = urllib.request.build_opener(
        type("NoRedirect", (urllib.request.HTTPRedirectHandler,), {"redirect_request": lambda *a, **k: None})
    )
    try:
        opener.open(req, timeout=5)
        location = ""
    except urllib.error.HTTPError as exc:
        location = exc.headers.get("Location", "")
    assert location.startswith("/lab/tree/START.md"), location
    assert '"news": {"disabled": true}' in _get(f"{base}/lab", token)[1]
    specs = json.loads(_get(f"{base}/api/kernelspecs", token)[1])
    assert "netdebug" in specs["kernelspecs"]
    # /api itself (version only) is open by design: it is what the HEALTHCHECK probes.
    health = _inspect("lab")["Docker"]["config"]["Healthcheck"]["Test"][1]
    port = base.rsplit(":", 1)[1]
    proc = run(lab_ctr, "sh", "-c", health, user=f"{LAB_UID}:{LAB_UID}", env={"NETDEBUG_LAB_PORT": port})
    assert proc.returncode == 0, proc.stdout + proc.stderr

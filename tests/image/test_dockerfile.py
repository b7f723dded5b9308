"""Static checks of image/Dockerfile: they run everywhere (no build), so a dropped tool, an
unpinned download or a root default is caught even where the slow ``image`` tests are skipped."""

from __future__ import annotations

import re
from pathlib import Path

DOCKERFILE = Path(__file__).resolve().parents[2] / "image" / "Dockerfile"
TEXT = DOCKERFILE.read_text()

# The tool set the kit documents, as Debian packages (grpcurl is a pinned download, nping is in nmap).
DOCUMENTED = [
    "apache2-utils",
    "bash",
    "bind9-dnsutils",
    "bridge-utils",
    "busybox",
    "conntrack",
    "curl",
    "dhcping",
    "ldnsutils",
    "ethtool",
    "file",
    "fping",
    "httpie",
    "hping3",
    "iftop",
    "iperf",
    "iperf3",
    "iproute2",
    "ipset",
    "iptraf-ng",
    "iputils-ping",
    "iputils-tracepath",
    "iputils-arping",
    "ipvsadm",
    "jq",
    "oping",
    "mtr-tiny",
    "snmp",
    "netcat-openbsd",
    "nftables",
    "iptables",
    "ngrep",
    "nmap",
    "openssl",
    "socat",
    "strace",
    "tcpdump",
    "tcptraceroute",
    "util-linux",
    "tshark",
    "tini",
    "libcap2-bin",
    "ca-certificates",
]


def stage(name: str) -> str:
    """The instructions of one build stage."""
    m = re.search(rf"^FROM \S+ AS {name}\n(.*?)(?=^FROM |\Z)", TEXT, flags=re.S | re.M)
    assert m, f"no stage {name}"
    return m.group(1)


def apt_packages(text: str) -> set[str]:
    m = re.search(r"apt-get install -y --no-install-recommends \\\n(.*?)\n \&\&", text, flags=re.S)
    assert m, "no apt-get install in the stage"
    return set(m.group(1).replace("\\", " ").split())


def test_every_documented_package_is_installed() -> None:
    missing = set(DOCUMENTED) - apt_packages(stage("toolbox"))
    assert not missing


def test_base_defaults_to_debian_bookworm_slim() -> None:
    assert re.search(r"^ARG BASE=debian:bookworm-slim$", TEXT, flags=re.M)
    assert re.search(r"^FROM \$\{BASE\} AS toolbox$", TEXT, flags=re.M)


def test_downloads_are_pinned_and_checksummed() -> None:
    assert not re.search(r"\blatest\b", TEXT, flags=re.I)
    assert re.search(r"^ARG GRPCURL_VERSION=\d+\.\d+\.\d+$", TEXT, flags=re.M)
    for arch in ("AMD64", "ARM64"):
        assert re.search(rf"^ARG GRPCURL_SHA256_{arch}=[0-9a-f]{{64}}$", TEXT, flags=re.M), arch
    assert "sha256sum -c" in stage("toolbox")


def test_tools_target_is_a_shell_under_tini() -> None:
    toolbox = stage("toolbox")
    assert 'ENTRYPOINT ["/usr/bin/tini", "--"]' in toolbox
    assert 'CMD ["/bin/bash"]' in toolbox


def test_lab_runs_as_numeric_non_root_user_with_a_healthcheck() -> None:
    lab = stage("lab")
    users = re.findall(r"^USER (\S+)$", lab, flags=re.M)
    assert users and users[-1] == "1000:1000"
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD curl ", lab, flags=re.M)
    assert re.search(r'^CMD \["netdebug-nb", "lab"\]$', lab, flags=re.M)
    assert "NETDEBUG_LAB_IP=127.0.0.1" in lab


def test_capture_tools_get_file_capabilities_in_the_final_stage() -> None:
    lab = stage("lab")
    m = re.search(r"for tool in ([^;]+); do \\\n\s+setcap \"\$CAPTURE_CAPS\"", lab)
    assert m
    assert {"tcpdump", "fping", "mtr-packet", "nmap", "hping3"} <= set(m.group(1).split())
    assert re.search(r"^ARG CAPTURE_CAPS=cap_net_raw\+ep$", lab, flags=re.M)


def test_both_targets_carry_oci_labels() -> None:
    for name in ("tools", "lab"):
        for key in ("source", "version", "revision"):
            assert f"org.opencontainers.image.{key}=" in stage(name), (name, key)


def test_lab_installs_the_package_as_a_wheel_with_the_pinned_constraints() -> None:
    venv, wheel, lab = stage("venv"), stage("wheel"), stage("lab")
    assert "-c constraints.txt ." in venv
    assert "pip wheel" in wheel and "--no-deps -w /wheel ." in wheel
    assert "pip install --no-index --no-deps" in lab
    assert "netdebug-nb kernel" in lab
    assert "/home/netdebug/notebooks" in lab
    assert "-e " not in venv + wheel + lab


def test_lab_starts_jupyterlab_the_way_a_laptop_does() -> None:
    """The CMD is ``netdebug-nb lab``: the server config, settings overrides and landing page come
    with the package (netdebug_nb/data/jupyter), not from files only the image has."""
    lab = stage("lab")
    assert re.search(r'^CMD \["netdebug-nb", "lab"\]$', lab, flags=re.M)
    assert "jupyter_server_config" not in TEXT and "etc/jupyter" not in TEXT
    root = DOCKERFILE.parents[1]
    assert (root / "netdebug_nb" / "data" / "jupyter" / "jupyter_server_config.py").is_file()
    assert (
        root / "netdebug_nb" / "data" / "jupyter" / "labconfig" / "default_setting_overrides.json"
    ).is_file()
    assert (root / "notebooks" / "START.md").is_file()  # copied with the notebooks into ~/notebooks

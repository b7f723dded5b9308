#!/usr/bin/env bash
# netdebug developer entry point. Each command sets up everything it needs first, so on a fresh
# Debian (bookworm) machine, as root:
#   ./dev.sh demo    # system packages, venv, kernel spec, then `netdebug-nb demo`
#   ./dev.sh test    # the same set-up, then lint, types and every test (unit, lab, image)
#   ./dev.sh setup   # only the set-up
# Environment: NETDEBUG_SKIP_IMAGE=1 skips the (slow) image build tests.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
VENV=$ROOT/.venv

# Tools the notebooks and the live tests run, plus what builds the image locally.
APT_PACKAGES=(
  python3 python3-venv ca-certificates
  fping mtr-tiny tcpdump tshark dnsmasq-base iperf3 nmap iptables nftables ethtool iproute2
  conntrack netcat-openbsd ipvsadm bind9-dnsutils iputils-ping procps psmisc curl openssl
)
# Only for the tests: a real browser for the report and JupyterLab checks.
TEST_APT_PACKAGES=(chromium chromium-driver)
IMAGE_APT_PACKAGES=(buildah debootstrap)

log() { printf '==> %s\n' "$*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "dev.sh: $1 needs root (apt packages, network namespaces); run it with sudo" >&2
    exit 2
  fi
}

missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || printf '%s\n' "$p"
  done
}

install_apt() {
  local missing
  mapfile -t missing < <(missing_packages "$@")
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

pick_python() {
  local py
  for py in python3.13 python3.12 python3.11 python3; do
    if command -v "$py" >/dev/null && "$py" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$py"; return
    fi
  done
  echo "dev.sh: no Python >= 3.11 with venv found" >&2
  exit 2
}

setup() {
  need_root setup
  install_apt "${APT_PACKAGES[@]}"
  if [ "${1:-}" = test ]; then
    install_apt "${TEST_APT_PACKAGES[@]}"
  fi
  if [ "${NETDEBUG_SKIP_IMAGE:-0}" != 1 ] && [ "${1:-}" = test ]; then
    install_apt "${IMAGE_APT_PACKAGES[@]}"
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment $VENV"
    "$(pick_python)" -m venv "$VENV"
  fi
  local stamp="$VENV/.netdebug-installed"
  local want
  want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing netdebug_nb and its pinned dependencies"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -c constraints.txt -e ".[dev]"
    echo "$want" > "$stamp"
  fi
  "$VENV/bin/netdebug-nb" kernel >/dev/null
}

run_tests() {
  export PATH="$VENV/bin:$PATH"
  log "ruff (lint, format) and mypy"
  ruff check netdebug_nb tests bench notebooks
  ruff format --check netdebug_nb tests bench notebooks
  mypy
  log "tests"
  local rc=0
  python -m pytest -m "not image" "$@" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then
    return "$rc"
  fi
  if [ "${NETDEBUG_SKIP_IMAGE:-0}" != 1 ]; then
    log "image build and smoke tests (slow, once)"
    rc=0
    python -m pytest -m image -s "$@" || rc=$?
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then
      return "$rc"
    fi
  fi
}

cmd=${1:-help}
shift || true
case "$cmd" in
  setup) setup ;;
  demo)
    setup
    "$VENV/bin/netdebug-nb" demo "$@"
    ;;
  test)
    setup test
    run_tests "$@"
    ;;
  *)
    echo "usage: ./dev.sh setup | demo [--out DIR] | test [pytest args]" >&2
    exit 2
    ;;
esac

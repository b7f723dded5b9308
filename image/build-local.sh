#!/usr/bin/env bash
# Build the netdebug images on a machine without a Docker engine and without a registry:
# a Debian bookworm base from debootstrap (cached), then `buildah bud` of image/Dockerfile.
#
#   image/build-local.sh [tools|lab|all]        (default: all)
#
# Needs root and the Debian packages: buildah debootstrap (nothing else; see image/README.md).
# Environment knobs (all optional):
#   NETDEBUG_IMAGE_CACHE  where the debootstrap base tarball is kept   (/var/cache/netdebug-image)
#   NETDEBUG_IMAGE_NAME   image name, tagged :tools and :lab          (localhost/netdebug)
#   DEBIAN_MIRROR         Debian mirror for the base and its apt      (the host's, from /etc/apt)
#   DEBIAN_SECURITY_MIRROR  its security archive                      ($DEBIAN_MIRROR-security)
#   PIP_CA                CA bundle mounted into the build for pip     (/etc/ssl/certs/ca-certificates.crt)
#   PIP_INDEX_URL         index pip uses inside the build             (https://pypi.org/simple)
#   STORAGE_DRIVER        buildah storage driver                      (buildah's default: overlay)
#   WITH_GRPCURL          1 = download the pinned grpcurl release (needs github.com); default 0
#   NETDEBUG_REVISION     the org.opencontainers.image.revision label  (git rev-parse HEAD)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
targets=${1:-all}
cache=${NETDEBUG_IMAGE_CACHE:-/var/cache/netdebug-image}
name=${NETDEBUG_IMAGE_NAME:-localhost/netdebug}
base_image=localhost/netdebug-base:bookworm
pip_ca=${PIP_CA:-/etc/ssl/certs/ca-certificates.crt}
pip_index=${PIP_INDEX_URL:-https://pypi.org/simple}
with_grpcurl=${WITH_GRPCURL:-0}

log() { printf 'build-local: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root (debootstrap and buildah chroot isolation need it)"
for tool in buildah debootstrap; do
  command -v "$tool" >/dev/null || die "$tool not found: apt-get install -y --no-install-recommends buildah debootstrap"
done
[[ -r $pip_ca ]] || die "CA bundle $pip_ca not readable (set PIP_CA)"
case $targets in tools | lab | all) ;; *) die "unknown target '$targets' (tools, lab or all)" ;; esac

# The Debian mirror the host itself uses: the only package network this machine may reach.
host_mirror() {
  local uri
  uri=$(grep -hoE '^(URIs:|deb) *(\[[^]]*\] *)?https?://[^ ]+/debian/?( |$)' \
    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | grep -oE 'https?://[^ ]+' | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
mirror=${DEBIAN_MIRROR:-$(host_mirror)}
mirror=${mirror%/}
security=${DEBIAN_SECURITY_MIRROR:-${mirror}-security}

# 1. The base root filesystem: debootstrap once, keep the tarball, re-import it when missing.
base_tar=$cache/bookworm-minbase-slim.tar
mkdir -p "$cache"
if [[ ! -s $base_tar ]]; then
  log "debootstrap --variant=minbase bookworm from $mirror (cached in $base_tar)"
  rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    die "debootstrap failed, see $cache/debootstrap.log"
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  # Slim like debian:bookworm-slim: no docs, man pages or translations (the same dpkg filter
  # the Dockerfile installs keeps later packages slim too).
  cp "$here/dpkg-slim.cfg" "$rootfs/etc/dpkg/dpkg.cfg.d/netdebug-slim"
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{man,info,lintian,linda}/* "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs"/tmp/*
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  tar --numeric-owner --xattrs --xattrs-include='*' -C "$rootfs" -cf "$base_tar.tmp" .
  mv "$base_tar.tmp" "$base_tar"
  rm -rf "$rootfs"
  trap - EXIT
  buildah rmi -f "$base_image" >/dev/null 2>&1 || true
fi
if ! buildah inspect --type image "$base_image" >/dev/null 2>&1; then
  log "importing $base_tar as $base_image"
  ctr=$(buildah from scratch)
  buildah add --quiet "$ctr" "$base_tar" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$ctr"
  buildah commit --quiet --rm "$ctr" "$base_image" >/dev/null
fi

# 2. The targets. --layers reuses unchanged steps between runs (the pip step is the slow one).
# buildah's layer cache ignores build-arg values in LABEL steps (and --label), so a fully cached
# build would keep an old revision label: relabel() sets them on the result (one empty layer).
revision=${NETDEBUG_REVISION:-$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)}
version=$(sed -nE 's/^version *= *"([^"]+)".*/\1/p' "$repo/pyproject.toml" | head -n1)
build() {
  local target=$1
  log "buildah bud --target $target -> $name:$target"
  buildah bud --isolation chroot --layers --format docker --cap-add CAP_NET_RAW \
    --build-arg BASE="$base_image" \
    --build-arg PIP_CERT=/run/host-ca.crt \
    --build-arg PIP_INDEX_URL="$pip_index" \
    --build-arg WITH_GRPCURL="$with_grpcurl" \
    --build-arg VERSION="${version:-0.0.0}" \
    --build-arg REVISION="$revision" \
    -v "$pip_ca":/run/host-ca.crt:ro \
    --target "$target" -t "$name:$target" -f "$here/Dockerfile" "$repo"
  relabel "$name:$target"
}
relabel() {
  local image=$1 ctr
  ctr=$(buildah from --pull-never "$image")
  buildah config --label org.opencontainers.image.version="${version:-0.0.0}" \
    --label org.opencontainers.image.revision="$revision" "$ctr"
  buildah commit --quiet --rm --format docker "$ctr" "$image" >/dev/null
}
if [[ $targets == all || $targets == tools ]]; then build tools; fi
if [[ $targets == all || $targets == lab ]]; then build lab; fi
log "built $targets in $SECONDS s (base included)"
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' | grep -E "^$name:(tools|lab) " >&2 || true

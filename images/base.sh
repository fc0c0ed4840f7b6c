#!/usr/bin/env bash
# The base of the locally built images (images/build.sh calls this; see there):
# Debian bookworm made with debootstrap --variant=minbase plus python3, imported with
# `docker import` as gameday-base:bookworm. The root filesystem is cached as a tarball under
# .gameday/images/, keyed by suite, packages, mirror, the host's CA bundle and this file,
# so debootstrap (root, about a minute) runs once; the image is re-imported only when
# its key label differs.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates
MIRROR=${GAMEDAY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_IMAGE=${BASE_IMAGE:-gameday-base:$SUITE}
CACHE=.gameday/images
HOST_CA=/etc/ssl/certs/ca-certificates.crt
T0=${T0:-$SECONDS}

say() { printf '[images %4ds] %s\n' "$((SECONDS - T0))" "$*"; }
die() { printf 'images: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
  else die "building the base image needs root once (debootstrap); run \`sudo make images\`"
  fi
}

ca_sum=none
[ -f "$HOST_CA" ] && ca_sum=$(sha256sum "$HOST_CA" | cut -c1-16)
key=$(printf '%s\n' "$SUITE" "$PACKAGES" "$MIRROR" "$ca_sum" "$(sha256sum "$0" | cut -c1-16)" \
      | sha256sum | cut -c1-16)
tarball=$CACHE/base-$SUITE-$key.tar

if [ "$(docker image inspect -f '{{index .Config.Labels "gameday.base-key"}}' "$BASE_IMAGE" 2>/dev/null)" = "$key" ]; then
  say "$BASE_IMAGE is up to date"
else
  mkdir -p "$CACHE"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
    rootfs=$CACHE/rootfs-$key
    as_root rm -rf "$rootfs"
    say "debootstrap $SUITE ($PACKAGES) from $MIRROR (about a minute)…"
    as_root debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$MIRROR" \
      > "$CACHE/debootstrap.log" 2>&1 || die "debootstrap failed; see $CACHE/debootstrap.log"
    if [ -f "$HOST_CA" ]; then
      as_root cp "$HOST_CA" "$rootfs/etc/ssl/certs/ca-certificates.crt"
    fi
    # pip trusts the system store; apt installs no recommends and no docs (like slim images).
    as_root sh -c "printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > '$rootfs/etc/pip.conf'
      printf 'APT::Install-Recommends \"false\";\nAPT::Install-Suggests \"false\";\n' > '$rootfs/etc/apt/apt.conf.d/90gameday'
      printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n' > '$rootfs/etc/dpkg/dpkg.cfg.d/90gameday'
      rm -rf '$rootfs'/var/cache/apt/archives/*.deb '$rootfs'/var/lib/apt/lists/* \
             '$rootfs'/usr/share/doc/* '$rootfs'/usr/share/man/* '$rootfs'/usr/share/locale/*"
    rm -f "$CACHE"/base-"$SUITE"-*.tar  # tarballs of other keys are stale
    as_root tar -C "$rootfs" -cf "$tarball.tmp" .
    as_root chown "$(id -u):$(id -g)" "$tarball.tmp"
    mv "$tarball.tmp" "$tarball"
    as_root rm -rf "$rootfs"
    say "base root filesystem cached in $tarball ($(du -h "$tarball" | cut -f1))"
  fi
  say "docker import $tarball → $BASE_IMAGE"
  docker import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change "LABEL gameday.base-key=$key" \
    --change 'CMD ["/bin/bash"]' \
    "$tarball" "$BASE_IMAGE" >/dev/null
fi


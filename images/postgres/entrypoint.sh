#!/bin/sh
# First start: initdb with POSTGRES_USER (default postgres) as superuser and
# POSTGRES_PASSWORD, password auth for every network client, POSTGRES_DB created.
# Every start: the server in the foreground, listening on every interface of the container.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "gameday-postgres: set POSTGRES_PASSWORD (network clients log in with it)" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    quoted=$(printf '%s' "$db" | sed 's/"/""/g')
    printf 'CREATE DATABASE "%s";\n' "$quoted" | postgres --single -D "$PGDATA" -j postgres >/dev/null
  fi
  echo "gameday-postgres: initialised $PGDATA (superuser $user, database $db)"
fi
# Arguments are the server's, as with the official image: `postgres -c a=b` or `-c a=b`.
if [ "${1:-}" = postgres ]; then shift; fi
exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"

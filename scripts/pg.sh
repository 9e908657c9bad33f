#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server (Debian's packages) on 127.0.0.1 for the tests.
#
#   eval "$(scripts/pg.sh start)"   # installs if needed, starts, prints the export line:
#                                   #   export TOLLGATE_TEST_PG_URL=postgres://tollgate@127.0.0.1:PORT/tollgate
#   scripts/pg.sh stop              # stops it and removes its files
#
# The cluster lives in a temporary directory, runs as a non-root user (the `postgres` user
# the package creates, when run as root), listens on a free port on loopback only, and trusts
# local connections (it is reachable from this machine alone and holds test data only).
# Everything but the export line goes to standard error.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE="$PWD/target/pg.state"
PG_BIN=/usr/lib/postgresql/15/bin

log() { echo "pg.sh: $*" >&2; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  log "no free port found"
  exit 1
}

start() {
  if [ ! -x "$PG_BIN/initdb" ]; then
    log "installing postgresql-15"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq postgresql-15; } >&2
  fi
  if [ -f "$STATE" ]; then
    stop
  fi
  local dir port
  dir="$(mktemp -d /tmp/tollgate-pg.XXXXXX)"
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
  fi
  port="$(free_port)"
  mkdir -p target
  printf 'DIR=%s\nPORT=%s\n' "$dir" "$port" >"$STATE"
  as_pg "$PG_BIN/initdb" -D "$dir/data" -U tollgate -A trust --no-sync -E UTF8 >&2
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300" start >&2
  as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U tollgate tollgate >&2
  log "PostgreSQL 15 on 127.0.0.1:$port (data in $dir)"
  echo "export TOLLGATE_TEST_PG_URL=postgres://tollgate@127.0.0.1:$port/tollgate"
}

stop() {
  [ -f "$STATE" ] || return 0
  # shellcheck disable=SC1090
  . "$STATE"
  if [ -d "$DIR/data" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
  fi
  rm -rf "$DIR" "$STATE"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

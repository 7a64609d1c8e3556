#!/usr/bin/env bash
# A throwaway PostgreSQL server for the cluster tests (and for trying
# `memtrace runner` by hand), on a loopback port, in its own directory.
#
#   scripts/postgres.sh start [DIR] [PORT]   prints the connection URL on stdout
#   scripts/postgres.sh stop DIR             stops the server and removes DIR
#   scripts/postgres.sh install              installs PostgreSQL if missing
#
# start: installs PostgreSQL from Debian's packages when it is missing
# (apt-get, as root), creates a cluster in DIR (default: a new temporary
# directory), listening on 127.0.0.1 only, PORT (default: a free port), with
# password authentication for the user `memtrace` (random password), and
# prints `postgres://memtrace:PASSWORD@127.0.0.1:PORT/memtrace`. The server runs
# as the `postgres` user when the script runs as root (initdb refuses root),
# else as the calling user. The data directory's path is on stderr.
#
# Exit status: 0 ok; 3 PostgreSQL is not installed and could not be installed;
# 1 any other failure (the server log is printed on stderr).
set -euo pipefail

find_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

install() {
  if find_bin >/dev/null; then return 0; fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "postgres.sh: PostgreSQL is not installed and installing it needs root (apt-get install postgresql)" >&2
    return 3
  fi
  echo "postgres.sh: installing PostgreSQL (apt-get install postgresql)" >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2; then
    echo "postgres.sh: apt-get install postgresql failed" >&2
    return 3
  fi
  find_bin >/dev/null || { echo "postgres.sh: initdb not found after installing" >&2; return 3; }
}

# Runs a command as the server's user.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "postgres.sh: no free port found" >&2
  return 1
}

start() {
  local dir="${1:-}" port="${2:-}" bin password
  install || exit $?
  bin="$(find_bin)"
  [ -n "$dir" ] || dir="$(mktemp -d /tmp/memtrace-pg.XXXXXX)"
  mkdir -p "$dir"
  [ -n "$port" ] || port="$(free_port)"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    chown postgres: "$dir"
  fi
  chmod 700 "$dir"
  password="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  printf '%s\n' "$password" >"$dir/.pwfile"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$dir/.pwfile"
  as_owner "$bin/initdb" -D "$dir/data" -U memtrace --pwfile="$dir/.pwfile" -A scram-sha-256 -E UTF8 \
    --no-instructions >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  rm -f "$dir/.pwfile"
  # Loopback only; the socket directory is ours (not /var/run/postgresql).
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start >/dev/null; then
    cat "$dir/server.log" >&2 || true
    exit 1
  fi
  PGPASSWORD="$password" "$bin/psql" -h 127.0.0.1 -p "$port" -U memtrace -d postgres -qAt \
    -c "CREATE DATABASE memtrace" >/dev/null
  echo "postgres.sh: server in $dir (stop with: scripts/postgres.sh stop $dir)" >&2
  echo "postgres://memtrace:$password@127.0.0.1:$port/memtrace"
}

stop() {
  local dir="${1:?usage: postgres.sh stop DIR}" bin
  bin="$(find_bin)"
  if [ -d "$dir/data" ]; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  install) install ;;
  *) echo "usage: $0 start [DIR] [PORT] | stop DIR | install" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Private tracking vs public on the same announce load (bench/private_load.rs):
# runs alternate public / private in one process; the private side is the real
# service (hook, sessions, ledger, journal, flusher) over a real database.
#
# Runs, each with ROUNDS rounds of SECS-second runs, modes alternating:
#   1. SQLite (a fresh file per run in a temporary directory), flush every 3 s
#      (the default); public / private / hook (the hook alone, no database),
#      then a probe: one full batch through the journal and the database alone;
#   2. the same database, flush every 1 s; public / private;
#   3. fewer sessions (8 clients per torrent instead of 64), flush every 3 s:
#      batches small enough for the database to keep up; public / private;
#   4. with BENCH_POSTGRES=1: a throwaway PostgreSQL cluster (Debian's
#      initdb/pg_ctl, as the postgres user when run as root, listening on a
#      free 127.0.0.1 port only, stopped and removed on exit), flush every 3 s;
#      public / private.
# Bounded: every run stops after SECS seconds (or 50M announces); a stop waits
# at most ~12 s for the last batch, as the tracker's does.
# Usage: [BENCH_POSTGRES=1] bash bench/private.sh [SECS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-20}
rounds=${2:-3}
dir=$(mktemp -d)
pg_bin=""
run_as=()
cleanup() {
  if [[ -n $pg_bin && -f $dir/pg/data/postmaster.pid ]]; then
    "${run_as[@]}" "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}
trap cleanup EXIT

cargo build --release --example private_load
bin=target/release/examples/private_load
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(free -g | awk '/^Mem:/ {print $2}') GB RAM, kernel $(uname -r)"
echo "sqlite: libsqlite3-sys $(grep -A1 '^name = "libsqlite3-sys"' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')"

run() {
  echo "== $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  "$bin" --secs "$secs" --rounds "$rounds" "$@"
  echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

run --flush-secs 3 --dir "$dir/sqlite-3s" --modes public,private,hook --probe
run --flush-secs 1 --dir "$dir/sqlite-1s"
run --flush-secs 3 --dir "$dir/sqlite-light" --peers-per-torrent 8

if [[ ${BENCH_POSTGRES:-0} == 1 ]]; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  chmod 755 "$dir"
  mkdir -p "$dir/pg/sock"
  if [[ $(id -u) == 0 ]]; then
    chown -R postgres:postgres "$dir/pg"
    run_as=(runuser -u postgres --)
  fi
  "${run_as[@]}" "$pg_bin/initdb" -D "$dir/pg/data" -U chihaya --auth=trust --no-sync \
    --no-instructions --encoding=UTF8 --locale=C >/dev/null
  "${run_as[@]}" "$pg_bin/pg_ctl" -D "$dir/pg/data" -l "$dir/pg/log" -w \
    -o "-p $port -k $dir/pg/sock -c listen_addresses=127.0.0.1" start >/dev/null
  echo "postgresql: $("$pg_bin/postgres" --version) on 127.0.0.1:$port (fsync on, the defaults)"
  run --flush-secs 3 --dir "$dir/pg-run" --database "postgres://chihaya@127.0.0.1:$port/postgres" --probe
fi

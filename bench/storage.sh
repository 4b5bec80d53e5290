#!/usr/bin/env bash
# Memory vs Redis storage on the same announce load (bench/storage_load.rs).
# Loopback only: starts a throwaway redis-server (no persistence) on a free
# port, and stops it on exit. Bounded: at most ANNOUNCES announces and 60 s
# per engine. Usage: bash bench/storage.sh [ANNOUNCES] [TASKS]
set -euo pipefail
cd "$(dirname "$0")/.."

announces=${1:-100000}
tasks=${2:-64}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dir=$(mktemp -d)

redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
  >"$dir/redis.log" 2>&1 &
redis_pid=$!
trap 'kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done

cargo build --release --example storage_load
bin=target/release/examples/storage_load
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "redis: $(redis-server --version | cut -d' ' -f3)"
"$bin" --engine memory --announces "$announces" --tasks "$tasks"
"$bin" --engine redis --broker "redis://127.0.0.1:$port/0" --announces "$announces" --tasks "$tasks"

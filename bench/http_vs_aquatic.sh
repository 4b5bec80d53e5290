#!/usr/bin/env bash
# HTTP side by side: chihaya vs aquatic_http 0.9.0, plain HTTP announces over
# loopback, with and without keep-alive, the same load for both.
#
# Load generators (each run drives one server):
#   wrk-keepalive  wrk 4 + bench/http_announce.lua, CONNECTIONS persistent
#                  connections;
#   wrk-close      the same with `Connection: close`: one TCP connection per
#                  announce (what most real clients do);
#   aquatic-lt     aquatic_http_load_test 0.9.0 (aquatic's own tester:
#                  10,000 torrents, a quarter seeders, gamma-distributed
#                  popularity), CONNECTIONS kept alive;
#   aquatic-lt-close  the same, a new connection per request; not in the
#                  defaults: aquatic_http answered it at ~36 responses/s
#                  here (chihaya ~4,000), which says more about that pairing
#                  than about throughput.
# It reports no latency, and its random ports include 0, which we refuse
# (`invalid port`) and aquatic accepts: a handful per run, counted as errors.
# The Lua script sends a random torrent of TORRENTS and a random peer of
# PEERS (its own peer_id and port) per request, one in four a seeder, numwant
# 50, compact: the swarms grow and replies carry real peer lists.
#
# Pinning: both servers get the same core, CPU 0 (`taskset -c 0`; aquatic_http
# runs a socket worker and a swarm worker there, we run tokio's one worker),
# and the generator gets CPU 1. A 2-core machine has no third core, and giving
# a server both cores would make it fight its own load generator. Runs
# alternate chihaya / aquatic RUNS times per mode, each with a fresh server,
# each bounded by `timeout`; every process started here is killed on exit.
#
# Per run: responses/s as the generator counts them, the server's CPU time
# over the run (utime+stime of all its threads, /proc/PID/stat), responses per
# server CPU-second, p99 latency as the generator reports it, and the server's
# peak RSS (VmHWM). Then the medians per server and mode, and the ratios
# chihaya/aquatic. When the generator saturates its core before a server does,
# responses/s measures the generator; responses per server CPU-second still
# compares the servers, and the "server CPU" column says how busy each was.
#
# Then, for each of wrk-keepalive and wrk-close that ran, latency at a fixed
# load: bench/http_latency.rs sends the same announces open loop at 70% of
# each server's median responses/s in that mode, over the same number of
# connections (kept alive, or one per announce), and counts each announce's
# latency from the time it was due; runs alternate chihaya / aquatic RUNS
# times, same pinning, a fresh server each run. A table gives p50, p99 and
# p99.9, the answered share and the errors per server and mode, and how late
# the generator itself started requests that had a free connection (p99): if
# that is not far below the server's figures, they measure the generator.
#
# Usage: bash bench/http_vs_aquatic.sh [RUNS] [DURATION] [MODES]
#   defaults: 3 15 "wrk-keepalive wrk-close aquatic-lt"
#   environment: CONNECTIONS (default 256), TORRENTS (10000), PEERS (60000),
#   CHIHAYA (our binary; default: build target/release/chihaya),
#   LATENCY_SECS (seconds per latency run, default 10; 0: no latency phase),
#   LATENCY_BIN (a bench/http_latency.rs build; default: build it)
#
# The first run installs aquatic_http and aquatic_http_load_test 0.9.0 into
# bench/.tools (gitignored; several minutes on 2 cores) and Debian's wrk (apt,
# as root) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-3}
duration=${2:-15}
modes=${3:-wrk-keepalive wrk-close aquatic-lt}
connections=${CONNECTIONS:-256}
export TORRENTS=${TORRENTS:-10000} PEERS=${PEERS:-60000} NUMWANT=50
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "RUNS must be 1-99" >&2; exit 2; }
[[ $duration =~ ^[1-9][0-9]{0,2}$ ]] || { echo "DURATION must be 1-999 s" >&2; exit 2; }
[[ $connections =~ ^[1-9][0-9]{0,3}$ ]] || { echo "CONNECTIONS must be 1-9999" >&2; exit 2; }
latency_secs=${LATENCY_SECS:-10}
[[ $latency_secs =~ ^[0-9]{1,3}$ ]] || { echo "LATENCY_SECS must be 0-999" >&2; exit 2; }
# The modes that get a latency phase: the wrk ones among those asked for.
latency_modes=
if ((latency_secs > 0)); then
  for m in $modes; do
    [[ $m == wrk-keepalive || $m == wrk-close ]] && latency_modes+=" $m"
  done
fi
for m in $modes; do
  case $m in wrk-keepalive | wrk-close | aquatic-lt | aquatic-lt-close) ;; *) echo "unknown mode $m" >&2; exit 2 ;; esac
done

aquatic_version=0.9.0
tools=bench/.tools
aquatic_http=$tools/bin/aquatic_http
load_test=$tools/bin/aquatic_http_load_test

# 1. The peers and the generators, each installed once, pinned versions, no
#    --locked (aquatic's locked `metrics` crate does not build with current rustc).
if [[ ! -x $aquatic_http ]]; then
  timeout 1800 cargo install --version "$aquatic_version" --root "$tools" aquatic_http
fi
if [[ $modes == *aquatic-lt* && ! -x $load_test ]]; then
  timeout 1800 cargo install --version "$aquatic_version" --root "$tools" aquatic_http_load_test
fi
if ! command -v wrk >/dev/null; then
  apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }
fi

# 2. Our tracker (CHIHAYA=path measures another build, e.g. an older one)
#    and the latency generator.
if [[ -n ${CHIHAYA:-} ]]; then
  chihaya=$CHIHAYA
else
  cargo build --release
  chihaya=target/release/chihaya
fi
latency=${LATENCY_BIN:-target/release/examples/http_latency}
if [[ -n $latency_modes && -z ${LATENCY_BIN:-} ]]; then
  cargo build --release --example http_latency
fi

free_tcp_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_ours=$(free_tcp_port)
port_aq=$(free_tcp_port)
while [[ $port_aq == "$port_ours" ]]; do port_aq=$(free_tcp_port); done

dir=$(mktemp -d)
server_pid=
gen_pid=
cleanup() {
  for pid in $gen_pid $server_pid; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
}
trap cleanup EXIT

# Thousands of connections per second: room for descriptors.
ulimit -n "$(ulimit -H -n)"

# Every server and generator runs as `$prio taskset -c CPU ...`:
# - without RUST_BACKTRACE: with it set (as in some shells here), every
#   anyhow error captures a backtrace, and aquatic_http's profile under this
#   load showed it doing so (`perf`: Backtrace::create, _Unwind_Find_FDE);
# - at nice -20 where allowed: on a machine shared with builds, a request /
#   reply ping-pong otherwise waits for the CPU at every wake-up, and both
#   servers and the generator sit mostly idle (measured: 14-25% busy at
#   nice 0 or -10), which measures the scheduler, not the servers. A
#   real-time class would fix that too, but aquatic's two threads on one
#   core then starve each other (p99 156 ms, the core 100% busy for 600
#   responses/s), so both get the same ordinary, favoured priority.
prio=(env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE)
if nice -n -20 true 2>/dev/null; then prio+=(nice -n -20); fi

# 3. Configurations: HTTP only, keep-alive on (off for the *-close modes,
#    whose clients also ask each connection to close), numwant up to 100.
cat >"$dir/chihaya.yaml" <<EOF
chihaya:
  announce_interval: "30m"
  min_announce_interval: "15m"
  metrics_addr: ""
  http:
    addr: "127.0.0.1:$port_ours"
    enable_keepalive: true
    max_numwant: 100
    default_numwant: 50
    max_connections: 10000
  storage:
    name: "memory"
EOF
"$chihaya" check-config "$dir/chihaya.yaml" >/dev/null
# Without keep-alive (the *-close modes) each server is told so too.
sed 's/enable_keepalive: true/enable_keepalive: false/' "$dir/chihaya.yaml" >"$dir/chihaya-close.yaml"
"$chihaya" check-config "$dir/chihaya-close.yaml" >/dev/null

# Set KEY = VALUE in a TOML file generated by `-p`, inside [SECTION] or, with
# an empty section, at the top; fail if KEY is absent (a changed default
# config must not silently leave a setting out).
toml_set() { # file section key value
  python3 - "$@" <<'PY'
import re, sys
path, section, key, value = sys.argv[1:]
lines = open(path).read().split("\n")
current, done = "", False
for i, line in enumerate(lines):
    m = re.match(r"^\[([^\]]+)\]\s*$", line)
    if m:
        current = m.group(1)
    elif current == section and re.match(rf"^{re.escape(key)}\s*=", line):
        lines[i] = f"{key} = {value}"
        done = True
        break
if not done:
    sys.exit(f"{path}: no key {key} in [{section}]")
open(path, "w").write("\n".join(lines))
PY
}
"$aquatic_http" -p >"$dir/aquatic.toml"
toml_set "$dir/aquatic.toml" "" socket_workers 1
toml_set "$dir/aquatic.toml" "" swarm_workers 1
toml_set "$dir/aquatic.toml" network address "\"127.0.0.1:$port_aq\""
toml_set "$dir/aquatic.toml" network enable_tls false
toml_set "$dir/aquatic.toml" protocol max_peers 100
toml_set "$dir/aquatic.toml" protocol peer_announce_interval 1800
cp "$dir/aquatic.toml" "$dir/aquatic-close.toml"
toml_set "$dir/aquatic-close.toml" network keep_alive false

if [[ $modes == *aquatic-lt* ]]; then
  # Its defaults already match the Lua script: 10,000 torrents, one peer in
  # four a seeder; announces only, plain HTTP.
  "$load_test" -p >"$dir/load_base.toml"
  toml_set "$dir/load_base.toml" "" num_workers 1
  toml_set "$dir/load_base.toml" "" num_connections "$connections"
  toml_set "$dir/load_base.toml" "" duration "$duration"
  toml_set "$dir/load_base.toml" "" enable_tls false
  toml_set "$dir/load_base.toml" torrents number_of_torrents "$TORRENTS"
  toml_set "$dir/load_base.toml" torrents weight_announce 1
  toml_set "$dir/load_base.toml" torrents weight_scrape 0
  for s in ours aq; do
    for k in keepalive close; do
      f=$dir/load_${s}_$k.toml
      cp "$dir/load_base.toml" "$f"
      port=$port_ours
      [[ $s == aq ]] && port=$port_aq
      toml_set "$f" "" server_address "\"127.0.0.1:$port\""
      if [[ $k == close ]]; then
        # A new connection per request, opened as fast as they close.
        toml_set "$f" "" keep_alive false
        toml_set "$f" "" connection_creation_interval_ms 0
      fi
    done
  done
fi

clk_tck=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of a process, all its threads
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}
wait_listening() { # port: until something listens on 127.0.0.1:port (10 s)
  for _ in $(seq 100); do
    ss -Htln "src 127.0.0.1:$1" | grep -q . && return 0
    sleep 0.1
  done
  echo "server did not listen on 127.0.0.1:$1" >&2
  return 1
}

# One announce as the Lua script makes them; the reply must be a real peer
# list, not a bencoded failure (which is also HTTP 200).
check_reply() { # port
  local hash peer
  hash=$(python3 -c 'print("".join("%%%02X" % b for b in range(20)))')
  peer=$(python3 -c 'print("".join("%%%02X" % (b + 100) for b in range(20)))')
  local reply
  reply=$(curl -sS --max-time 5 \
    "http://127.0.0.1:$1/announce?info_hash=$hash&peer_id=$peer&port=7000&left=1&uploaded=0&downloaded=0&compact=1&numwant=50")
  if [[ $reply != d*5:peers* || $reply == *"failure reason"* ]]; then
    echo "unexpected announce reply from 127.0.0.1:$1: $reply" >&2
    return 1
  fi
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "aquatic_http $aquatic_version, $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "runs: $runs per server and mode, $duration s each; modes: $modes; $connections connections;" \
  "$TORRENTS torrents, $PEERS peers per generator thread"
echo "priority: ${prio[*]}"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
results=$dir/results.tsv
: >"$results"

start_server() { # name mode -> server_pid, port
  local close=
  [[ $2 == *-close ]] && close=-close
  case $1 in
    chihaya) port=$port_ours
      "${prio[@]}" taskset -c 0 "$chihaya" --config "$dir/chihaya$close.yaml" >"$dir/server.log" 2>&1 &
      server_pid=$! ;;
    aquatic) port=$port_aq
      "${prio[@]}" taskset -c 0 "$aquatic_http" -c "$dir/aquatic$close.toml" >"$dir/server.log" 2>&1 &
      server_pid=$! ;;
  esac
  wait_listening "$port" || { cat "$dir/server.log" >&2; exit 1; }
}

run_one() { # mode name run
  local mode=$1 name=$2 i=$3 port log
  start_server "$name" "$mode"
  check_reply "$port" || exit 1
  log=$dir/${mode}_${name}_$i.log
  local load_before c0 c1 t0 t1
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  c0=$(cpu_ticks "$server_pid"); t0=$(date +%s.%N)
  case $mode in
    wrk-keepalive | wrk-close)
      local close=()
      [[ $mode == wrk-close ]] && close=(-H "Connection: close")
      timeout $((duration + 60)) /usr/bin/time -f '%U %S' -o "$log.cpu" "${prio[@]}" taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" \
        --timeout 5s --latency "${close[@]}" -s bench/http_announce.lua \
        "http://127.0.0.1:$port/announce" >"$log" 2>&1 &
      ;;
    aquatic-lt | aquatic-lt-close)
      local cfg=$dir/load_ours_keepalive.toml
      [[ $name == aquatic ]] && cfg=$dir/load_aq_keepalive.toml
      [[ $mode == aquatic-lt-close ]] && cfg=${cfg/keepalive/close}
      timeout $((duration + 60)) /usr/bin/time -f '%U %S' -o "$log.cpu" "${prio[@]}" taskset -c 1 "$load_test" -c "$cfg" >"$log" 2>&1 &
      ;;
  esac
  gen_pid=$!
  wait "$gen_pid" || { echo "$mode failed or timed out ($name run $i):" >&2; tail -20 "$log" >&2; exit 1; }
  gen_pid=
  c1=$(cpu_ticks "$server_pid"); t1=$(date +%s.%N)
  local hwm
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
  local rps secs p99 errors
  case $mode in
    wrk-*)
      local requests us
      requests=$(awk '/^BENCH requests/ { print $3 }' "$log")
      us=$(awk '/^BENCH duration_us/ { print $3 }' "$log")
      errors=$(awk '/^BENCH errors/ { print $3 }' "$log")
      p99=$(awk '/^BENCH p99_us/ { print $3 / 1000 }' "$log")
      [[ -n $requests && -n $us ]] || { echo "no report in $log" >&2; tail -20 "$log" >&2; exit 1; }
      rps=$(awk -v r="$requests" -v u="$us" 'BEGIN { printf "%.1f", r / (u / 1e6) }')
      secs=$(awk -v u="$us" 'BEGIN { printf "%.2f", u / 1e6 }')
      ;;
    aquatic-lt*)
      rps=$(awk -F': ' '/^Average responses per second/ { print $2 }' "$log" | tr -d ' ')
      # It prints each failure reply it gets; count them as errors.
      secs=$duration; errors=$(grep -c '^failure response' "$log" || true); p99=NA
      [[ -n $rps ]] || { echo "no report in $log" >&2; tail -20 "$log" >&2; exit 1; }
      ;;
  esac
  local cpu wall gen_cpu
  cpu=$(awk -v a="$c0" -v b="$c1" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }')
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  # The generator's CPU over its whole life (wrk's includes building its
  # request tables, about a second).
  gen_cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$log.cpu")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$name" "$i" "$rps" "$secs" "$cpu" \
    "$hwm" "$p99" "$errors" "$load_before/$(cut -d' ' -f1 /proc/loadavg)" "$gen_cpu" "$wall" >>"$results"
  printf '%-13s %-8s run %d: %9.0f responses/s over %s s, server CPU %s s, generator CPU %s s (wall %s s), p99 %s ms, errors %s, VmHWM %d MB, load %s -> %s\n' \
    "$mode" "$name" "$i" "$rps" "$secs" "$cpu" "$gen_cpu" "$wall" "$p99" "$errors" $((hwm / 1024)) \
    "$load_before" "$(cut -d' ' -f1 /proc/loadavg)"
}

# 4. Alternate A/B/A/B within each mode.
for mode in $modes; do
  for i in $(seq "$runs"); do
    run_one "$mode" chihaya "$i"
    run_one "$mode" aquatic "$i"
  done
done

# 5. Latency at 70% of each server's median responses/s in that mode,
#    alternating again, a fresh server per run.
median_rps() { # mode name
  awk -F'\t' -v m="$1" -v n="$2" '$1 == m && $2 == n { print $4 }' "$results" | sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
latencies=$dir/latency.tsv
: >"$latencies"
declare -A rate
for mode in $latency_modes; do
  for name in chihaya aquatic; do
    rate[$name]=$(awk -v r="$(median_rps "$mode" "$name")" 'BEGIN { printf "%d", r * 0.7 }')
  done
  for i in $(seq "$runs"); do
    for name in chihaya aquatic; do
      if ((rate[$name] < 1)); then
        echo "$mode $name: no rate to measure latency at (70% of its median: ${rate[$name]}/s)" >&2
        continue
      fi
      start_server "$name" "$mode"
      check_reply "$port" || exit 1
      close=()
      [[ $mode == wrk-close ]] && close=(--close)
      load_before=$(cut -d' ' -f1 /proc/loadavg)
      c0=$(cpu_ticks "$server_pid")
      out=$(timeout $((2 * latency_secs + 30)) "${prio[@]}" taskset -c 1 "$latency" \
        --server "127.0.0.1:$port" --rate "${rate[$name]}" --secs "$latency_secs" \
        --connections "$connections" --torrents "$TORRENTS" --peers "$PEERS" "${close[@]}" \
        2>"$dir/latency.err") || {
        echo "latency run failed ($mode $name run $i):" >&2; cat "$dir/latency.err" >&2; exit 1; }
      c1=$(cpu_ticks "$server_pid")
      kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
      printf '%s\t%s\t%s\t%s\t%s\n' "$mode" "$name" "$i" "${rate[$name]}" "$out" >>"$latencies"
      printf '%-13s %-8s latency run %d at %d/s: %s, server CPU %s s, load %s -> %s\n' "$mode" "$name" "$i" \
        "${rate[$name]}" "$out" "$(awk -v a="$c0" -v b="$c1" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }')" \
        "$load_before" "$(cut -d' ' -f1 /proc/loadavg)"
      # The generator's first error, if any, to say what the errors were.
      if [[ -s $dir/latency.err ]]; then sed 's/^/  /' "$dir/latency.err"; fi
    done
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# 6. The tables (each latency column: the median over the runs).
python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
modes = list(dict.fromkeys(r[0] for r in rows))
print()
print("| mode | server | median responses/s | server / generator CPU per second | responses per server CPU-second | p99 | peak RSS |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for mode in modes:
    med = {}
    for name in ("chihaya", "aquatic"):
        rs = [r for r in rows if r[0] == mode and r[1] == name]
        rps = statistics.median(float(r[3]) for r in rs)
        busy = statistics.median(float(r[5]) / float(r[4]) for r in rs)
        gen = statistics.median(float(r[10]) / float(r[11]) for r in rs)
        per_cpu = statistics.median(float(r[3]) * float(r[4]) / float(r[5]) for r in rs)
        p99s = [float(r[7]) for r in rs if r[7] != "NA"]
        p99 = f"{statistics.median(p99s):.1f} ms" if p99s else "n/a"
        hwm = statistics.median(int(r[6]) for r in rs) / 1024
        med[name] = (rps, per_cpu, hwm)
        print(f"| {mode} | {name} | {rps:,.0f} | {busy:.0%} / {gen:.0%} | {per_cpu:,.0f} | {p99} | {hwm:,.0f} MB |")
    o, a = med["chihaya"], med["aquatic"]
    print(f"| {mode} | ratio chihaya/aquatic | {o[0]/a[0]:.2f} | | {o[1]/a[1]:.2f} | | {o[2]/a[2]:.2f} |")
EOF
python3 - "$latencies" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
if rows:
    print()
    print("| mode | server | rate (70% of its median) | p50 | p99 | p99.9 | answered | errors | generator late, p99 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for mode in dict.fromkeys(r[0] for r in rows):
    for name in ("chihaya", "aquatic"):
        rs = [dict(kv.split("=") for kv in r[4].split()) | {"rate": r[3]} for r in rows
              if r[0] == mode and r[1] == name]
        if not rs:
            continue
        m = lambda k: statistics.median(float(r[k]) for r in rs)
        ms = lambda k: "n/a" if m("answered") == 0 else f"{m(k) / 1000:,.2f} ms"
        print(f"| {mode} | {name} | {int(rs[0]['rate']):,}/s | {ms('p50_us')} | {ms('p99_us')} "
              f"| {ms('p999_us')} | {m('answered'):,.0f} of {m('sent'):,.0f} | {m('errors'):,.0f} "
              f"| {m('gen_late_p99_us') / 1000:,.2f} ms |")
EOF

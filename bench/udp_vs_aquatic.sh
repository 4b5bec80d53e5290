#!/usr/bin/env bash
# UDP side by side: chihaya vs aquatic_udp 0.9.0 vs a bare UDP echo server,
# all driven with the same request mix by two generators in turn:
#   tester   aquatic_udp_load_test 0.9.0, aquatic's own. One datagram per
#            system call: on 2 cores it is the bottleneck near the echo
#            server's rate, so the fastest servers all measure the tester.
#   batched  bench/udp_load.rs: the tester's load (requests, swarms, peers)
#            sent and received 64 datagrams per system call, a window in
#            flight per socket. The servers are the bottleneck (their CPU
#            busy ~1.0, the echo server answers far above the trackers).
# then round-trip times at 70% of each server's measured peak (bench/udp_latency.rs).
#
# Loopback only. Each server is pinned to CPU 0 (taskset -c 0), the load
# generator to CPU 1. Runs alternate chihaya / aquatic / echo RUNS times each,
# every run DURATION seconds and bounded by `timeout`. Every server started
# here is killed on exit.
#
# Usage: bash bench/udp_vs_aquatic.sh [RUNS] [DURATION]     (defaults: 3 20)
# Environment:
#   SERVERS="chihaya aquatic echo"  which servers, in the order each round runs them
#   CHIHAYA_BIN=path                measure this binary instead of target/release/chihaya
#   LATENCY_BIN=path                use this bench/udp_latency.rs build (with CHIHAYA_BIN: no cargo build)
#   LATENCY_SECS=10                 seconds per latency run (0: no latency runs)
#   LOADGEN="tester batched"        which generators, in the order each round runs them
#   LOAD_BIN=path                   use this bench/udp_load.rs build (with CHIHAYA_BIN: no cargo build)
#   PEERS=2000000 TORRENTS=1000000  the simulated peers and torrents, for both generators (fewer
#                                   peers: most announces are re-announces, as on a real tracker;
#                                   2M peers in a 15 s run: most are a peer's first)
#
# First run installs aquatic_udp (io_uring build; falls back to the plain
# build if that fails) and aquatic_udp_load_test into bench/.tools
# (gitignored): several minutes on 2 cores. Later runs reuse them. The echo
# server (bench/udp_echo.c) is built with gcc into bench/.tools/bin.
#
# Per throughput run it records the generator's responses per second (and
# how many of them were error replies), the server's CPU time
# over the run (utime+stime from /proc/PID/stat, all threads) and its peak
# RSS (VmHWM from /proc/PID/status), then prints the median of each per
# server and the ratios. Per latency run: p50/p99/p99.9 round trip at a fixed
# rate of 70% of that server's median responses/s under the first generator.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/udp_common.sh

runs=${1:-3}
duration=${2:-20}
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "RUNS must be 1-99" >&2; exit 2; }
[[ $duration =~ ^[1-9][0-9]{0,2}$ ]] || { echo "DURATION must be 1-999 s" >&2; exit 2; }
# The load tester learns connection IDs from its connect requests; a run
# longer than the 120 s ID lifetime needs connects in the mix (kept here).
servers=${SERVERS:-chihaya aquatic echo}
latency_secs=${LATENCY_SECS:-10}
[[ $latency_secs =~ ^[0-9]{1,3}$ ]] || { echo "LATENCY_SECS must be 0-999" >&2; exit 2; }
for s in $servers; do
  [[ $s =~ ^(chihaya|aquatic|echo)$ ]] || { echo "unknown server $s" >&2; exit 2; }
done
read_load_shape
loadgens=${LOADGEN:-tester batched}
for g in $loadgens; do
  [[ $g =~ ^(tester|batched)$ ]] || { echo "unknown generator $g" >&2; exit 2; }
done

aquatic_version=0.9.0
tools=bench/.tools
aquatic_udp=$tools/bin/aquatic_udp
load_test=$tools/bin/aquatic_udp_load_test
echo_bin=$tools/bin/udp_echo
aquatic_build=io-uring

# 1. Install the peers, each once, pinned version, no --locked (its locked
#    `metrics` crate does not build with current rustc).
if [[ ! -x $aquatic_udp ]]; then
  if ! timeout 1800 cargo install --version "$aquatic_version" --root "$tools" \
      --features io-uring aquatic_udp; then
    echo "io-uring build of aquatic_udp failed; installing the plain build" >&2
    timeout 1800 cargo install --version "$aquatic_version" --root "$tools" aquatic_udp
  fi
fi
if [[ ! -x $load_test ]]; then
  timeout 1800 cargo install --version "$aquatic_version" --root "$tools" aquatic_udp_load_test
fi
# Which aquatic build is installed: the io_uring one has `use_io_uring`.
"$aquatic_udp" -p | grep -q '^use_io_uring' || aquatic_build=plain
if [[ ! -x $echo_bin || bench/udp_echo.c -nt $echo_bin ]]; then
  mkdir -p "$tools/bin"
  gcc -O2 -Wall -o "$echo_bin" bench/udp_echo.c
fi

# 2. Our tracker and our generators.
chihaya=${CHIHAYA_BIN:-target/release/chihaya}
latency=${LATENCY_BIN:-target/release/examples/udp_latency}
udp_load=${LOAD_BIN:-target/release/examples/udp_load}
# Two builds, not one: built with an example, the binary would carry the
# features the dev-dependencies turn on (cargo unifies them), and so would
# not be the binary operators run.
if [[ -z ${CHIHAYA_BIN:-} ]]; then
  cargo build --release --bin chihaya
fi
if [[ -z ${LATENCY_BIN:-} ]]; then
  cargo build --release --example udp_latency
fi
if [[ -z ${LOAD_BIN:-} ]]; then
  cargo build --release --example udp_load
fi

declare -A port
for s in chihaya aquatic echo; do
  p=$(free_udp_port)
  while [[ " ${port[*]} " == *" $p "* ]]; do p=$(free_udp_port); done
  port[$s]=$p
done
make_workdir

# 3. Configurations.
write_chihaya_config "$dir/chihaya.yaml" "${port[chihaya]}"
"$chihaya" check-config "$dir/chihaya.yaml" >/dev/null

# Set KEY = VALUE in a TOML file generated by `-p`; fail if KEY is absent
# (a changed default config must not silently leave a setting out).
toml_set() { # file key value
  grep -q "^$2 = " "$1" || { echo "$1: no key $2" >&2; exit 1; }
  sed -i "s|^$2 = .*|$2 = $3|" "$1"
}
"$aquatic_udp" -p >"$dir/aquatic.toml"
toml_set "$dir/aquatic.toml" socket_workers 1
toml_set "$dir/aquatic.toml" address "\"127.0.0.1:${port[aquatic]}\""

"$load_test" -p >"$dir/load_base.toml"
toml_set "$dir/load_base.toml" workers 1
toml_set "$dir/load_base.toml" duration "$duration"
toml_set "$dir/load_base.toml" summarize_last 0
toml_set "$dir/load_base.toml" number_of_torrents "$torrents"
toml_set "$dir/load_base.toml" number_of_peers "$peers"
toml_set "$dir/load_base.toml" announce_peers_wanted 30
toml_set "$dir/load_base.toml" weight_connect 1
toml_set "$dir/load_base.toml" weight_announce 100
toml_set "$dir/load_base.toml" weight_scrape 1
# Per-infohash statistics cost the load tester CPU; off when the key exists.
for k in extra_statistics peer_histogram; do
  grep -q "^$k = " "$dir/load_base.toml" && toml_set "$dir/load_base.toml" "$k" false
done
for s in chihaya aquatic echo; do
  cp "$dir/load_base.toml" "$dir/load_$s.toml"
  toml_set "$dir/load_$s.toml" server_address "\"127.0.0.1:${port[$s]}\""
done

clk_tck=$(getconf CLK_TCK)
cpu_ticks() { # utime+stime of a process, all its threads
  awk '{ print $14 + $15 }' "/proc/$1/stat"
}
start_server() { # name: start it pinned to CPU 0, wait until bound
  case $1 in
    chihaya) taskset -c 0 "$chihaya" --config "$dir/chihaya.yaml" >"$dir/server.log" 2>&1 & ;;
    aquatic) taskset -c 0 "$aquatic_udp" -c "$dir/aquatic.toml" >"$dir/server.log" 2>&1 & ;;
    echo) taskset -c 0 "$echo_bin" 127.0.0.1 "${port[echo]}" >"$dir/server.log" 2>&1 & ;;
  esac
  server_pid=$!
  wait_bound "${port[$1]}" || { cat "$dir/server.log" >&2; exit 1; }
}
stop_server() {
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), kernel $(uname -r)"
echo "chihaya: $chihaya ($(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo +changes))"
echo "aquatic_udp $aquatic_version ($aquatic_build build), aquatic_udp_load_test $aquatic_version, echo: bench/udp_echo.c, generators: $loadgens"
echo "load: $peers peers over $torrents torrents; runs: $runs per server, $duration s each; rmem_max $(cat /proc/sys/net/core/rmem_max); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
results=$dir/results.tsv
: >"$results"

# 4. Throughput, alternating A/B/C, each generator in turn.
run_one() { # generator name run
  local gen=$1 name=$2 i=$3 log
  start_server "$name"
  log=$dir/load_${gen}_${name}_$i.log
  local load_before t0 t1 c0 c1
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  c0=$(cpu_ticks "$server_pid"); t0=$(date +%s.%N)
  if [[ $gen == tester ]]; then
    timeout $((duration + 60)) taskset -c 1 "$load_test" -c "$dir/load_$name.toml" >"$log" 2>&1
  else
    timeout $((duration + 60)) taskset -c 1 "$udp_load" --server "127.0.0.1:${port[$name]}" \
      --secs "$duration" --peers "$peers" --torrents "$torrents" >"$log" 2>&1
  fi || { echo "$gen failed or timed out ($name run $i):" >&2; tail -20 "$log" >&2; exit 1; }
  c1=$(cpu_ticks "$server_pid"); t1=$(date +%s.%N)
  local hwm rps secs errs
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
  stop_server
  if [[ $gen == tester ]]; then
    rps=$(awk -F': ' '/^Average responses per second:/ { print $2 }' "$log")
    errs=$(awk '/^Average responses per second:/ { f = 1 } f && /Error responses:/ { print $4; exit }' "$log")
    secs=$(awk '/^Test ran for/ { print $4 }' "$log")
  else
    # One line of key=value pairs; errors as a rate, like the tester's.
    local lost
    rps=$(kv rate "$log"); secs=$(kv secs "$log"); lost=$(kv lost "$log")
    errs=$(awk -v e="$(kv error "$log")" -v t="$secs" 'BEGIN { if (t > 0) printf "%.2f", e / t }')
    [[ ${lost:-0} == 0 ]] || echo "$name run $i: the generator wrote off $lost requests as lost" >&2
  fi
  [[ -n $rps && -n $secs && -n $errs ]] || { echo "no report in $log" >&2; tail -20 "$log" >&2; exit 1; }
  # Responses over the run / server CPU seconds over the run (the server is
  # idle while the load tester builds its peers, so that time adds ~nothing).
  local cpu
  cpu=$(awk -v a="$c0" -v b="$c1" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }')
  printf 'tput\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$gen" "$name" "$i" "$rps" "$secs" "$cpu" "$hwm" "$errs" >>"$results"
  printf '%-7s %-8s run %d: %10.0f responses/s (errors %s/s) over %s s, server CPU %s s, wall %.1f s, VmHWM %d MB, load %s -> %s\n' \
    "$gen" "$name" "$i" "$rps" "$errs" "$secs" "$cpu" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" $((hwm / 1024)) \
    "$load_before" "$(cut -d' ' -f1 /proc/loadavg)"
}

for i in $(seq "$runs"); do
  for g in $loadgens; do
    for s in $servers; do
      run_one "$g" "$s" "$i"
    done
  done
done

# 5. Latency at 70% of each server's median peak (under the first
#    generator), alternating again.
median_rps() { # name
  awk -F'\t' -v g="${loadgens%% *}" -v n="$1" '$1 == "tput" && $2 == g && $3 == n { print $5 }' "$results" | sort -g |
    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
if ((latency_secs > 0)); then
  declare -A rate
  for s in $servers; do
    rate[$s]=$(awk -v r="$(median_rps "$s")" 'BEGIN { printf "%d", r * 0.7 }')
  done
  for i in $(seq "$runs"); do
    for s in $servers; do
      start_server "$s"
      out=$(timeout $((2 * latency_secs + 30)) taskset -c 1 "$latency" --server "127.0.0.1:${port[$s]}" \
        --rate "${rate[$s]}" --secs "$latency_secs") || { echo "latency run failed ($s)" >&2; exit 1; }
      stop_server
      printf 'lat\t%s\t%s\t%s\t%s\n' "$s" "$i" "${rate[$s]}" "$out" >>"$results"
      printf '%-8s latency run %d at %d/s: %s\n' "$s" "$i" "${rate[$s]}" "$out"
    done
  done
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# 6. The tables.
python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
names = [n for n in ("chihaya", "aquatic", "echo") if any(n in r[1:3] for r in rows)]
about = {
    "tester": "aquatic_udp_load_test (one datagram per system call)",
    "batched": "bench/udp_load.rs (64 datagrams per system call)",
}
for gen in [g for g in ("tester", "batched") if any(r[0] == "tput" and r[1] == g for r in rows)]:
    tput = [r[2:] for r in rows if r[0] == "tput" and r[1] == gen]  # name run rps secs cpu hwm errs
    med = {}
    for name in names:
        rs = [r for r in tput if r[0] == name]
        if not rs:
            continue
        rps = statistics.median(float(r[2]) for r in rs)
        per_cpu = statistics.median(float(r[2]) * float(r[3]) / float(r[4]) for r in rs)
        hwm = statistics.median(int(r[5]) for r in rs) / 1024
        errs = statistics.median(float(r[6]) for r in rs)
        # Server CPU seconds per second of the test: ~1.0 means the server was
        # the bottleneck; well under it, the generator was.
        busy = statistics.median(float(r[4]) / float(r[3]) for r in rs)
        med[name] = (rps, per_cpu, hwm, errs, busy)
    print()
    print(f"Generator: {about[gen]}")
    print()
    print("| server | median responses/s | responses per server CPU-second | peak RSS (VmHWM) | error replies/s | server busy |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (rps, per_cpu, hwm, errs, busy) in med.items():
        print(f"| {name} | {rps:,.0f} | {per_cpu:,.0f} | {hwm:,.0f} MB | {errs:,.0f} | {busy:.2f} |")
    for a, b in (("chihaya", "aquatic"), ("chihaya", "echo"), ("aquatic", "echo")):
        if a in med and b in med:
            x, y = med[a], med[b]
            # Memory is compared between trackers only: the echo server stores nothing.
            rss = f"{x[2]/y[2]:.2f}" if b != "echo" else ""
            print(f"| ratio {a}/{b} | {x[0]/y[0]:.2f} | {x[1]/y[1]:.2f} | {rss} | | |")
    # The machine drifts between speeds from one run to the next; the runs
    # of one round are closest in time, so their ratio is the steadiest figure.
    rps_of = {(r[0], r[1]): float(r[2]) for r in tput}
    rounds = sorted({int(r[1]) for r in tput})
    for a, b in (("chihaya", "aquatic"), ("chihaya", "echo"), ("aquatic", "echo")):
        pairs = [rps_of[(a, str(i))] / rps_of[(b, str(i))] for i in rounds
                 if (a, str(i)) in rps_of and (b, str(i)) in rps_of]
        if pairs:
            listed = " ".join(f"{p:.2f}" for p in pairs)
            print(f"{a}/{b} round by round: {listed}; median {statistics.median(pairs):.2f}, "
                  f"lowest {min(pairs):.2f}")
lat = [r for r in rows if r[0] == "lat"]
if lat:
    print()
    print("| server | rate (70% of its peak) | p50 | p99 | p99.9 | answered | lost |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        rs = [dict(kv.split("=") for kv in r[4].split()) | {"rate": r[3]} for r in lat if r[1] == name]
        if not rs:
            continue
        m = lambda k: statistics.median(float(r[k]) for r in rs)
        print(f"| {name} | {int(rs[0]['rate']):,}/s | {m('p50_us'):,.0f} µs | {m('p99_us'):,.0f} µs "
              f"| {m('p999_us'):,.0f} µs | {m('answered'):,.0f} of {m('sent'):,.0f} | {m('lost'):,.0f} |")
EOF

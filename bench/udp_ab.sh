#!/usr/bin/env bash
# A/B of tracker builds under bench/udp_load.rs: our own CPU time per response.
#
# bench/udp_vs_aquatic.sh says where we stand against the others; this says
# whether a change to our code paid. On this machine the throughput of one
# binary swings +-15% between rounds (the host's mood moves the kernel's
# share most), so a small change cannot be judged by responses/s. What it
# can be judged by is the user time per response (utime from /proc/PID/stat
# over the run, divided by the responses): the code we wrote, and the part
# of the cost that separates us from the echo server (whose user time is
# ~0.01 us). The system time per response is printed beside it, to see the
# rounds where the whole machine was slow.
#
# Each build runs freshly started, pinned to CPU 0, udp_load pinned to CPU 1,
# the builds alternating A B A B ... so neighbouring runs share the machine's
# state. Loopback only, every loop bounded, every server killed on exit.
#
# Usage: bash bench/udp_ab.sh RUNS SECS LABEL=BINARY [LABEL=BINARY ...]
#   e.g. cp target/release/chihaya /tmp/before; (change, build)
#        bash bench/udp_ab.sh 8 6 before=/tmp/before after=target/release/chihaya
# A BINARY is run as `BINARY --config FILE` (a wrapper script may add
# environment or swap the config); a BINARY of `echo` (as in `echo=echo`)
# runs bench/udp_echo.c instead, for reference.
# Environment: PEERS / TORRENTS (default 2000000 / 1000000, as
# udp_vs_aquatic.sh), LOAD_BIN (a built udp_load; default: cargo builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/udp_common.sh

runs=${1:-}
secs=${2:-}
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "RUNS must be 1-99" >&2; exit 2; }
[[ $secs =~ ^[1-9][0-9]?$ ]] || { echo "SECS must be 1-99" >&2; exit 2; }
shift 2
(($# >= 1)) || { echo "usage: $0 RUNS SECS LABEL=BINARY ..." >&2; exit 2; }
labels=()
declare -A bin
for spec in "$@"; do
  label=${spec%%=*}
  path=${spec#*=}
  [[ $label =~ ^[A-Za-z0-9_-]+$ && $spec == *=* ]] || { echo "not LABEL=BINARY: $spec" >&2; exit 2; }
  [[ -z ${bin[$label]:-} ]] || { echo "label $label given twice" >&2; exit 2; }
  if [[ $path == echo ]]; then
    path=bench/.tools/bin/udp_echo
    if [[ ! -x $path || bench/udp_echo.c -nt $path ]]; then
      mkdir -p bench/.tools/bin
      gcc -O2 -Wall -o "$path" bench/udp_echo.c
    fi
  fi
  [[ -x $path ]] || { echo "$label: $path is not an executable" >&2; exit 2; }
  labels+=("$label")
  bin[$label]=$path
done
read_load_shape
udp_load=${LOAD_BIN:-target/release/examples/udp_load}
[[ -n ${LOAD_BIN:-} ]] || cargo build --release --example udp_load

make_workdir
port=$(free_udp_port)
write_chihaya_config "$dir/chihaya.yaml" "$port"

clk_tck=$(getconf CLK_TCK)
results=$dir/results.tsv
: >"$results"

run_one() { # label round
  local label=$1 round=$2 path=${bin[$1]} log=$dir/load.log
  if [[ $path == */udp_echo ]]; then
    taskset -c 0 "$path" 127.0.0.1 "$port" >"$dir/server.log" 2>&1 &
  else
    taskset -c 0 "$path" --config "$dir/chihaya.yaml" >"$dir/server.log" 2>&1 &
  fi
  server_pid=$!
  wait_bound "$port" || { cat "$dir/server.log" >&2; exit 1; }
  local u0 s0 u1 s1
  read -r u0 s0 < <(awk '{ print $14, $15 }' "/proc/$server_pid/stat")
  timeout $((secs + 60)) taskset -c 1 "$udp_load" --server "127.0.0.1:$port" --secs "$secs" \
    --peers "$peers" --torrents "$torrents" >"$log" 2>&1 ||
    { echo "udp_load failed or timed out ($label, round $round):" >&2; tail -20 "$log" >&2; exit 1; }
  read -r u1 s1 < <(awk '{ print $14, $15 }' "/proc/$server_pid/stat")
  local hwm
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
  local rate took
  rate=$(kv rate "$log")
  took=$(kv secs "$log")
  [[ -n $rate && -n $took ]] || { echo "no report from udp_load ($label, round $round)" >&2; cat "$log" >&2; exit 1; }
  awk -v l="$label" -v r="$round" -v rate="$rate" -v t="$took" -v u=$((u1 - u0)) -v s=$((s1 - s0)) \
    -v hz="$clk_tck" -v h="$hwm" 'BEGIN {
      n = rate * t
      printf "%s\t%d\t%.0f\t%.3f\t%.3f\t%.2f\t%d\n", l, r, rate, u / hz / n * 1e6, s / hz / n * 1e6, (u + s) / hz / t, h / 1024
    }' | tee -a "$results" | awk -F'\t' '{
      printf "%-12s round %2d: %8d responses/s, user %s us, sys %s us per response, busy %s, VmHWM %d MB\n", $1, $2, $3, $4, $5, $6, $7
    }'
}

echo "udp_ab: ${labels[*]}; $runs rounds of $secs s; $peers peers over $torrents torrents; $(git rev-parse --short HEAD)"
for round in $(seq "$runs"); do
  for label in "${labels[@]}"; do
    run_one "$label" "$round"
  done
done

median() { # printf format: the median of the numbers on stdin
  sort -g | awk -v f="$1\n" '{ a[NR] = $1 } END { printf f, (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
echo
echo "| build | median responses/s | median user us/response | median sys us/response | user below ${labels[0]}'s, rounds |"
echo "| --- | --- | --- | --- | --- |"
for label in "${labels[@]}"; do
  col() { awk -F'\t' -v l="$label" -v c="$1" '$1 == l { print $c }' "$results" | median "$2"; }
  below=$(awk -F'\t' -v a="${labels[0]}" -v b="$label" '
    $1 == a { ua[$2] = $4 } $1 == b { ub[$2] = $4 }
    END { n = 0; k = 0; for (r in ua) if (r in ub) { n++; if (ub[r] < ua[r]) k++ } print k " of " n }' "$results")
  [[ $label == "${labels[0]}" ]] && below="-"
  echo "| $label | $(col 3 %.0f) | $(col 4 %.3f) | $(col 5 %.3f) | $below |"
done

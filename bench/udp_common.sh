# Sourced by bench/udp_vs_aquatic.sh and bench/udp_ab.sh: what both need to
# run our tracker under UDP load the same way, so an A/B of two builds
# measures the configuration the side-by-side runs measure.

# The simulated load's shape, both scripts' defaults: $peers peers over
# $torrents torrents, from PEERS and TORRENTS.
read_load_shape() {
  peers=${PEERS:-2000000}
  torrents=${TORRENTS:-1000000}
  [[ $peers =~ ^[1-9][0-9]{0,8}$ ]] || { echo "PEERS must be 1-999999999" >&2; exit 2; }
  [[ $torrents =~ ^[1-9][0-9]{0,8}$ ]] || { echo "TORRENTS must be 1-999999999" >&2; exit 2; }
}

# The value of KEY in bench/udp_load.rs's one-line key=value report in FILE.
kv() { # key file
  grep -o "\b$1=[0-9.]*" "$2" | head -1 | cut -d= -f2
}

# A free UDP port on 127.0.0.1 (the kernel's pick).
free_udp_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until a UDP socket is bound on 127.0.0.1:PORT (at most 10 s).
wait_bound() { # port
  for _ in $(seq 100); do
    ss -Hunl "src 127.0.0.1:$1" | grep -q . && return 0
    sleep 0.1
  done
  echo "server did not bind 127.0.0.1:$1" >&2
  return 1
}

# The tracker as measured: UDP only on 127.0.0.1:PORT, no metrics listener,
# a fixed private key (connection IDs stay valid across its restarts), the
# memory engine on its defaults.
write_chihaya_config() { # file port
  cat >"$1" <<CONFIG
chihaya:
  announce_interval: "30m"
  min_announce_interval: "15m"
  metrics_addr: ""
  udp:
    addr: "127.0.0.1:$2"
    private_key: "bench-udp-fixed-private-key-not-secret"
    max_numwant: 100
    default_numwant: 50
  storage:
    name: "memory"
CONFIG
}

# A scratch directory in $dir, removed on exit, when the server in
# $server_pid (if any) is killed too.
make_workdir() {
  dir=$(mktemp -d)
  server_pid=
  trap cleanup_workdir EXIT
}
cleanup_workdir() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}

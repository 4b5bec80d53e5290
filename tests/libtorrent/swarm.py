#!/usr/bin/python3
"""Drive two real libtorrent sessions through a tracker and report what happened.

Run with Debian's /usr/bin/python3 (the python3 first on PATH may not import
libtorrent). tests/libtorrent.rs starts the tracker, runs this script and
asserts on the JSON it prints on stdout.

The tracker is the only way the two sessions can meet: no DHT, LSD, UPnP,
NAT-PMP, no PEX (the session is built without the default plugins), and both
listen on the loopback address of one family only. libtorrent's default
allow_multiple_connections_per_ip=False is kept: both peers share one IP, so
a tracker that hands a peer its own address back makes the swarm fail.

Steps (each wait bounded by --timeout, failing with a message that says what
was awaited):
  0. (private trackers) the torrent is registered through the admin API
  1. the seeder joins with a random file; scrape
  2. the leecher joins with an empty directory while the seeder may not upload
     (rate limit 1 B/s, applied to loopback too); scrape: 1 seeder + 1 leecher
  3. the seeder re-announces (force_reannounce: libtorrent's minimum interval
     is 300 s) and must get the leecher back
  4. the limit is lifted, the leecher downloads and announces completed; the
     file's SHA-1 and SHA-256 are compared; scrape (also libtorrent's own)
  5. the leecher stops; scrape.  6. the seeder stops; scrape.

Scrapes are sent by this script itself (HTTP GET /scrape, or BEP 15 connect +
scrape over UDP) so the exact counts, including `downloaded`, are reported.
"""

import argparse
import hashlib
import json
import os
import random
import socket
import struct
import sys
import tempfile
import time
import urllib.parse
import urllib.request

try:
    import libtorrent as lt
except ImportError as e:  # a clear failure, never a skip: scripts/setup installs it
    print(
        json.dumps(
            {
                "ok": False,
                "error": f"cannot import libtorrent under {sys.executable}: {e} "
                "(run scripts/setup to install python3-libtorrent)",
            }
        )
    )
    sys.exit(1)


class Failure(Exception):
    pass


def log(msg):
    print(f"[swarm {time.monotonic() - START:6.2f}s] {msg}", file=sys.stderr, flush=True)


START = time.monotonic()


# ---------------------------------------------------------------- scrapes


def bdecode(data):
    """Minimal strict bencode decoder (bytes in, Python values out)."""

    def item(i):
        c = data[i : i + 1]
        if c == b"i":
            end = data.index(b"e", i)
            return int(data[i + 1 : end]), end + 1
        if c == b"l":
            i += 1
            out = []
            while data[i : i + 1] != b"e":
                v, i = item(i)
                out.append(v)
            return out, i + 1
        if c == b"d":
            i += 1
            out = {}
            last = None
            while data[i : i + 1] != b"e":
                k, i = item(i)
                if not isinstance(k, bytes):
                    raise ValueError("dictionary key is not a string")
                if last is not None and k <= last:
                    raise ValueError(f"dictionary keys not sorted: {last!r} then {k!r}")
                last = k
                v, i = item(i)
                out[k] = v
            return out, i + 1
        if c.isdigit():
            colon = data.index(b":", i)
            n = int(data[i:colon])
            start = colon + 1
            if start + n > len(data):
                raise ValueError("string runs past the end")
            return data[start : start + n], start + n
        raise ValueError(f"unexpected byte {c!r} at {i}")

    value, end = item(0)
    if end != len(data):
        raise ValueError(f"trailing bytes after offset {end}")
    return value


def scrape_http(announce_url, info_hash, timeout):
    parts = urllib.parse.urlsplit(announce_url)
    path = parts.path.rsplit("/", 1)
    if path[-1] != "announce":
        raise Failure(f"cannot derive a scrape URL from {announce_url}")
    scrape_path = path[0] + "/scrape"
    query = "info_hash=" + urllib.parse.quote_from_bytes(info_hash, safe="")
    url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, scrape_path, query, ""))
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        body = resp.read()
    reply = bdecode(body)
    if b"failure reason" in reply:
        raise Failure(f"scrape failed: {reply[b'failure reason']!r}")
    files = reply[b"files"]
    if info_hash not in files:
        return {"complete": 0, "incomplete": 0, "downloaded": 0, "absent": True}
    f = files[info_hash]
    return {
        "complete": f[b"complete"],
        "incomplete": f[b"incomplete"],
        "downloaded": f[b"downloaded"],
    }


def udp_exchange(sock, addr, packet, want_action, tid, deadline):
    """Sends `packet` until a reply with our transaction id arrives (bounded)."""
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        sock.sendto(packet, addr)
        sock.settimeout(min(1.0, max(0.05, deadline - time.monotonic())))
        try:
            while True:
                data, _ = sock.recvfrom(2048)
                if len(data) < 8:
                    continue
                action, rtid = struct.unpack(">II", data[:8])
                if rtid != tid:
                    continue
                if action == 3:
                    raise Failure(f"UDP tracker error: {data[8:]!r}")
                if action != want_action:
                    raise Failure(f"UDP reply action {action}, expected {want_action}")
                return data
        except socket.timeout:
            log(f"UDP attempt {attempt}: no reply, retrying")
    raise Failure(f"no UDP reply from {addr} (action {want_action}) after {attempt} attempts")


def scrape_udp(announce_url, info_hash, timeout):
    parts = urllib.parse.urlsplit(announce_url)
    host, port = parts.hostname, parts.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    addr = (host, port)
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        tid = random.getrandbits(32)
        reply = udp_exchange(
            sock, addr, struct.pack(">QII", 0x41727101980, 0, tid), 0, tid, deadline
        )
        if len(reply) < 16:
            raise Failure(f"short UDP connect reply: {len(reply)} bytes")
        (conn_id,) = struct.unpack(">Q", reply[8:16])
        tid = random.getrandbits(32)
        reply = udp_exchange(
            sock, addr, struct.pack(">QII", conn_id, 2, tid) + info_hash, 2, tid, deadline
        )
        if len(reply) != 20:
            raise Failure(f"UDP scrape reply for one hash is {len(reply)} bytes, expected 20")
        seeders, completed, leechers = struct.unpack(">III", reply[8:20])
        return {"complete": seeders, "incomplete": leechers, "downloaded": completed}


def scrape(announce_url, info_hash, timeout):
    if announce_url.startswith("udp://"):
        return scrape_udp(announce_url, info_hash, timeout)
    return scrape_http(announce_url, info_hash, timeout)


# ---------------------------------------------------------------- sessions


def new_session(name, family):
    iface = "127.0.0.1:0" if family == 4 else "[::1]:0"
    settings = {
        "listen_interfaces": iface,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "allow_multiple_connections_per_ip": False,
        # lets libtorrent's own scrape reach a tracker on 127.0.0.1
        "ssrf_mitigation": False,
        # rate limits must apply to loopback peers too (step 2)
        "ignore_limits_on_local_network": False,
        "announce_to_all_trackers": True,
        "peer_fingerprint": "-LT2080-",
        "user_agent": f"chihaya-e2e-{name}",
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.tracker_notification
        | lt.alert.category_t.storage_notification
        | lt.alert.category_t.peer_notification
        | lt.alert.category_t.connect_notification,
    }
    # flags 0: no default plugins, so no ut_pex / ut_metadata / smart_ban
    ses = lt.session(settings, 0)
    return ses


class Peer:
    def __init__(self, name, ses):
        self.name = name
        self.ses = ses
        self.backlog = []  # alerts seen but not yet consumed
        self.tracker_errors = []

    def poll(self):
        for a in self.ses.pop_alerts():
            if isinstance(a, (lt.tracker_error_alert, lt.scrape_failed_alert)):
                self.tracker_errors.append(a.message())
                log(f"{self.name}: {a.message()}")
            elif isinstance(a, lt.tracker_warning_alert):
                log(f"{self.name}: {a.message()}")
            self.backlog.append(a)

    def wait(self, what, pred, timeout):
        """Waits (bounded) for an alert matching `pred`; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            for i, a in enumerate(self.backlog):
                if pred(a):
                    del self.backlog[: i + 1]
                    return a
            self.backlog.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                errs = "; ".join(self.tracker_errors[-3:]) or "none"
                raise Failure(
                    f"{self.name}: timed out after {timeout}s waiting for {what} "
                    f"(last tracker errors: {errs})"
                )
            self.ses.wait_for_alert(int(min(left, 0.2) * 1000) + 1)
            self.poll()

    def wait_tracker_reply(self, what, timeout):
        a = self.wait(
            f"a tracker reply ({what})",
            lambda a: isinstance(a, lt.tracker_reply_alert),
            timeout,
        )
        return a.num_peers


def wait_until(what, cond, timeout, peers=()):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout}s waiting for {what}")
        for p in peers:
            p.poll()
        time.sleep(0.02)


def digests(path):
    sha1, sha256 = hashlib.sha1(), hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            sha1.update(chunk)
            sha256.update(chunk)
    return sha1.hexdigest(), sha256.hexdigest()


def run(args, report):
    timeout = args.timeout
    with tempfile.TemporaryDirectory(prefix="chihaya-swarm-") as tmp:
        seed_dir = os.path.join(tmp, "seed")
        leech_dir = os.path.join(tmp, "leech")
        os.makedirs(seed_dir)
        os.makedirs(leech_dir)
        name = "payload.bin"
        with open(os.path.join(seed_dir, name), "wb") as f:
            f.write(os.urandom(args.size))
        want_sha1, want_sha256 = digests(os.path.join(seed_dir, name))

        fs = lt.file_storage()
        lt.add_files(fs, os.path.join(seed_dir, name))
        # v1 only: a hybrid torrent is announced twice (v1 and truncated v2 hash)
        ct = lt.create_torrent(fs, 64 * 1024, flags=lt.create_torrent.v1_only)
        lt.set_piece_hashes(ct, seed_dir)
        ti = lt.torrent_info(ct.generate())
        info_hash = ti.info_hashes().v1.to_bytes()
        report["info_hash"] = info_hash.hex()
        if args.register_torrent:
            register_torrent(args.register_torrent, info_hash, timeout)
        log(f"torrent {info_hash.hex()} ({args.size} bytes) on {args.announce}")

        flags = lt.torrent_flags.disable_dht | lt.torrent_flags.disable_lsd | lt.torrent_flags.disable_pex

        def add(peer, save_path, announce):
            atp = lt.add_torrent_params()
            atp.ti = lt.torrent_info(ti)
            # Each peer's own announce URL (a private tracker's carry the
            # user's passkey), so the torrent itself names no tracker.
            atp.trackers = [announce]
            atp.save_path = save_path
            atp.flags = (atp.flags | flags) & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
            return peer.ses.add_torrent(atp)

        seeder = Peer("seeder", new_session("seeder", args.family))
        leecher = Peer("leecher", new_session("leecher", args.family))
        report["listen_ports"] = {"seeder": seeder.ses.listen_port(), "leecher": leecher.ses.listen_port()}
        # Step 2 needs the seeder unable to upload; lifted in step 4.
        seeder.ses.apply_settings({"upload_rate_limit": 1})

        # 1. seeder joins
        sh = add(seeder, seed_dir, args.announce)
        n = seeder.wait_tracker_reply("seeder started", timeout)
        if not sh.status().is_seeding:
            raise Failure("seeder is not seeding after its announce (file check failed?)")
        report["peers"]["seeder_started"] = n
        report["scrapes"]["seeder_started"] = scrape(args.announce, info_hash, timeout)
        log(f"seeder started: got {n} peers; scrape {report['scrapes']['seeder_started']}")

        # 2. leecher joins; the tracker is its only way to the seeder
        lh = add(leecher, leech_dir, args.leecher_announce or args.announce)
        n = leecher.wait_tracker_reply("leecher started", timeout)
        report["peers"]["leecher_started"] = n
        report["scrapes"]["both_started"] = scrape(args.announce, info_hash, timeout)
        log(f"leecher started: got {n} peers; scrape {report['scrapes']['both_started']}")

        # 3. the seeder re-announces and must be told about the leecher
        sh.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
        n = seeder.wait_tracker_reply("seeder re-announce", timeout)
        report["peers"]["seeder_reannounce"] = n
        log(f"seeder re-announced: got {n} peers")

        # 4. transfer (first proving the rate limit held while the counts were read)
        report["leecher_bytes_before_transfer"] = lh.status().total_wanted_done
        t0 = time.monotonic()
        seeder.ses.apply_settings({"upload_rate_limit": 0})
        leecher.wait(
            "the download to finish",
            lambda a: isinstance(a, lt.torrent_finished_alert),
            timeout,
        )
        report["transfer_seconds"] = round(time.monotonic() - t0, 3)
        n = leecher.wait_tracker_reply("leecher completed", timeout)
        report["peers"]["leecher_completed"] = n
        got_sha1, got_sha256 = digests(os.path.join(leech_dir, name))
        report["sha1_match"] = got_sha1 == want_sha1
        report["sha256_match"] = got_sha256 == want_sha256
        report["scrapes"]["completed"] = scrape(args.announce, info_hash, timeout)
        log(f"leecher completed in {report['transfer_seconds']}s; scrape {report['scrapes']['completed']}")

        # libtorrent's own scrape must understand the tracker's reply too
        sh.scrape_tracker()
        a = seeder.wait(
            "libtorrent's scrape reply",
            lambda a: isinstance(a, lt.scrape_reply_alert),
            timeout,
        )
        report["lt_scrape"] = {"complete": a.complete, "incomplete": a.incomplete}

        # 5. leecher stops (graceful pause announces `stopped`)
        lh.pause(lt.torrent_handle.graceful_pause)
        report["scrapes"]["leecher_stopped"] = scrape_until_changed(
            args.announce, info_hash, report["scrapes"]["completed"], timeout, "the leecher's stop"
        )
        # What each client reported in its `stopped` announce: libtorrent
        # announces its payload counters, and nothing moves once paused.
        report["totals"] = {}
        report["totals"]["leecher"] = payload_totals(lh)

        # 6. seeder stops
        sh.pause(lt.torrent_handle.graceful_pause)
        report["scrapes"]["seeder_stopped"] = scrape_until_changed(
            args.announce,
            info_hash,
            report["scrapes"]["leecher_stopped"],
            timeout,
            "the seeder's stop",
        )
        report["totals"]["seeder"] = payload_totals(sh)
        report["tracker_errors"] = seeder.tracker_errors + leecher.tracker_errors
        for p in (seeder, leecher):
            del p.ses


def register_torrent(url, info_hash, timeout):
    """What a private tracker's site does when a torrent is uploaded: tell
    the tracker through its admin API (token in CHIHAYA_ADMIN_TOKEN)."""
    body = json.dumps({"info_hash": info_hash.hex()}).encode()
    req = urllib.request.Request(url, data=body, method="PUT")
    req.add_header("Authorization", "Bearer " + os.environ["CHIHAYA_ADMIN_TOKEN"])
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        if resp.status != 200:
            raise Failure(f"registering the torrent at {url}: HTTP {resp.status}")
    log(f"torrent registered at {url}")


def payload_totals(handle):
    st = handle.status()
    return {"uploaded": st.total_payload_upload, "downloaded": st.total_payload_download}


def scrape_until_changed(url, info_hash, before, timeout, what):
    """libtorrent posts nothing we can wait for when a `stopped` announce is
    answered, so poll the scrape (bounded) until the counts move."""
    deadline = time.monotonic() + timeout
    while True:
        now = scrape(url, info_hash, timeout)
        if now != before:
            log(f"after {what}: scrape {now}")
            return now
        if time.monotonic() > deadline:
            raise Failure(f"scrape counts did not change within {timeout}s after {what}: still {now}")
        time.sleep(0.05)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--announce", required=True, help="http://HOST:PORT/announce or udp://HOST:PORT")
    p.add_argument(
        "--leecher-announce",
        help="the leecher's own announce URL (default: --announce); a private tracker's carry another passkey",
    )
    p.add_argument(
        "--register-torrent",
        help="admin API URL to PUT the new torrent's info hash to (private trackers) before announcing",
    )
    p.add_argument("--family", type=int, choices=(4, 6), required=True)
    p.add_argument("--size", type=int, default=3 * 1024 * 1024)
    p.add_argument("--timeout", type=float, default=60.0)
    args = p.parse_args()

    report = {"ok": False, "announce": args.announce, "family": args.family, "peers": {}, "scrapes": {}}
    try:
        run(args, report)
        report["ok"] = True
    except Failure as e:
        report["error"] = str(e)
    except Exception as e:  # report anything else the same way
        report["error"] = f"{type(e).__name__}: {e}"
    report["seconds"] = round(time.monotonic() - START, 3)
    print(json.dumps(report, indent=1))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

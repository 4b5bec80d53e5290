//! The admin API of the real binary: off without a token, 401 with a wrong
//! one; approval lists changed at runtime take effect on HTTP and UDP
//! announces and survive a reload; a swarm lookup shows exactly the peers
//! that announced (memory and Redis); a forced GC removes silent peers.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};
use support::admin::{Admin, TOKEN, request};
use support::http::{escape, get};
use support::redis::RedisServer;
use support::udp::{Announce, Client};

const HASH_A: [u8; 20] = [0xaa; 20];
const HASH_B: [u8; 20] = [0xbb; 20];
const MEMORY: &str = "  storage:\n    name: memory\n";

fn hex(hash: &[u8; 20]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// An HTTP announce's bencoded reply, as text.
fn http_announce(t: &Admin, hash: &[u8; 20], peer_id: &[u8; 20], port: u16, left: u64) -> String {
    let target = format!(
        "/announce?info_hash={}&peer_id={}&port={port}&uploaded=0&downloaded=0&left={left}&compact=1",
        escape(hash),
        escape(peer_id),
    );
    let (status, body) = get(t.addr, &target);
    assert!(status.contains(" 200 "), "{status}");
    String::from_utf8_lossy(&body).into_owned()
}

fn udp_announce(t: &Admin, hash: [u8; 20], peer_id: [u8; 20], port: u16) -> Result<(), String> {
    let mut udp = Client::connect(t.addr);
    udp.try_announce(&Announce {
        info_hash: hash,
        peer_id,
        left: 10,
        event: 0,
        port,
    })
    .map(drop)
}

fn reload(t: &Admin) {
    t.running.signal(1); // SIGHUP
    t.running.wait_log("configuration reloaded");
}

#[test]
fn without_a_token_the_api_does_not_exist() {
    let t = Admin::start(None, "", MEMORY);
    for path in ["/api/approval/torrents", "/api/gc", "/api/swarms/x"] {
        let (status, _, _) = request(t.ops, "GET", path, Some(TOKEN), None);
        assert_eq!(status, 404, "{path}");
    }
    let (status, _, _) = request(t.ops, "POST", "/api/gc", Some(TOKEN), None);
    assert_eq!(status, 404);
    // The rest of the ops server is as before.
    assert_eq!(request(t.ops, "GET", "/healthz", None, None).0, 200);
}

#[test]
fn tokens_methods_and_bad_input_get_clear_json_errors() {
    let t = Admin::start(Some(TOKEN), "", MEMORY);
    for token in [None, Some("wrong-token-0123456789")] {
        let (status, head, body) = request(t.ops, "GET", "/api/approval/torrents", token, None);
        assert_eq!(status, 401, "{token:?}");
        assert!(
            head.to_ascii_lowercase()
                .contains("www-authenticate: bearer")
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
    }
    let (status, head, body) = request(t.ops, "GET", "/api/gc", Some(TOKEN), None);
    assert_eq!(status, 405, "{body}");
    assert!(head.contains("allow: POST"), "{head}");
    let (status, body) = t.call("DELETE", "/api/approval/clients", None);
    assert_eq!(
        (status, &body["error"]),
        (
            405,
            &json!("method DELETE is not allowed here; use GET, POST")
        )
    );
    let (status, body) = t.call("GET", "/api/swarms/zz", None);
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "info_hash: \"zz\" is not a 40-digit hex info hash"
    );
    let (status, body) = t.call("GET", "/api/nothing", None);
    assert_eq!(
        (status, &body["error"]),
        (404, &json!("no such endpoint: /api/nothing"))
    );
    // No approval hook configured: nothing to change.
    let add = format!("{{\"add\": [\"{}\"]}}", hex(&HASH_A));
    let (status, body) = t.call("POST", "/api/approval/torrents", Some(&add));
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no \"torrent approval\" hook")
    );
    let (status, body) = t.call("POST", "/api/approval/clients", Some("{\"add\": "));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().starts_with("body: "),
        "{body}"
    );
    let big = format!("{{\"add\": [\"{}\"]}}", "x".repeat(70 * 1024));
    let (status, _) = t.call("POST", "/api/approval/torrents", Some(&big));
    assert_eq!(status, 413);
}

#[test]
fn a_torrent_banned_at_runtime_is_refused_over_http_and_udp_even_after_a_reload() {
    let other = hex(&[0x11; 20]);
    let hooks = format!(
        "  prehooks:\n    - name: torrent approval\n      options:\n        blacklist: [\"{other}\"]\n"
    );
    let t = Admin::start(Some(TOKEN), &hooks, MEMORY);
    let (peer, port) = ([7u8; 20], 6007);
    assert!(!http_announce(&t, &HASH_A, &peer, port, 10).contains("failure reason"));

    let ban = format!("{{\"add\": [\"{}\"]}}", hex(&HASH_A));
    let (status, body) = t.call("POST", "/api/approval/torrents", Some(&ban));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hooks"][0]["mode"], "blacklist");
    let mut listed = vec![hex(&HASH_A), other.clone()];
    listed.sort();
    assert_eq!(body["hooks"][0]["entries"], json!(listed));
    assert_eq!(body["runtime"]["added"], json!([hex(&HASH_A)]));

    let refused = |t: &Admin| {
        assert!(http_announce(t, &HASH_A, &peer, port, 10).contains("unapproved torrent"));
        let udp = udp_announce(t, HASH_A, peer, port).unwrap_err();
        assert!(udp.contains("unapproved torrent"), "{udp}");
    };
    refused(&t);
    reload(&t);
    refused(&t);
    let (_, shown) = t.call("GET", "/api/approval/torrents", None);
    assert_eq!(
        shown["runtime"]["added"],
        json!([hex(&HASH_A)]),
        "kept by the reload"
    );

    let unban = format!("{{\"remove\": [\"{}\"]}}", hex(&HASH_A));
    assert_eq!(
        t.call("POST", "/api/approval/torrents", Some(&unban)).0,
        200
    );
    assert!(!http_announce(&t, &HASH_A, &peer, port, 10).contains("failure reason"));
    udp_announce(&t, HASH_A, peer, port).expect("accepted again over UDP");
    // Taking the configured entry off lets that torrent in too.
    let (status, body) = t.call(
        "POST",
        "/api/approval/torrents",
        Some(&format!("{{\"remove\": [\"{other}\"]}}")),
    );
    assert_eq!((status, &body["hooks"][0]["entries"]), (200, &json!([])));
    assert!(!http_announce(&t, &[0x11; 20], &peer, port, 10).contains("failure reason"));
}

#[test]
fn a_client_banned_at_runtime_is_refused_until_it_is_taken_off() {
    let hooks = "  prehooks:\n    - name: client approval\n      options:\n        blacklist: [\"TR3000\"]\n";
    let t = Admin::start(Some(TOKEN), hooks, MEMORY);
    let mut qbit = [b'x'; 20];
    qbit[..8].copy_from_slice(b"-qB4520-");
    assert!(!http_announce(&t, &HASH_A, &qbit, 6001, 10).contains("failure reason"));
    let (status, body) = t.call(
        "POST",
        "/api/approval/clients",
        Some("{\"add\": [\"qB4520\"]}"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hooks"][0]["entries"], json!(["TR3000", "qB4520"]));
    assert!(http_announce(&t, &HASH_A, &qbit, 6001, 10).contains("unapproved client"));
    let udp = udp_announce(&t, HASH_A, qbit, 6001).unwrap_err();
    assert!(udp.contains("unapproved client"), "{udp}");
    reload(&t);
    assert!(http_announce(&t, &HASH_A, &qbit, 6001, 10).contains("unapproved client"));
    let (status, body) = t.call(
        "POST",
        "/api/approval/clients",
        Some("{\"remove\": [\"qB4520\"]}"),
    );
    assert_eq!(status, 200, "{body}");
    assert!(!http_announce(&t, &HASH_A, &qbit, 6001, 10).contains("failure reason"));
    let (status, body) = t.call(
        "POST",
        "/api/approval/clients",
        Some("{\"add\": [\"qB45\"]}"),
    );
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "add[0]: client ID \"qB45\" must be exactly 6 bytes"
    );
}

/// Two HTTP leechers, one HTTP seeder and one UDP leecher on HASH_B.
fn known_swarm(t: &Admin) -> HashSet<(String, u64, bool)> {
    http_announce(t, &HASH_B, &[1; 20], 6001, 10);
    http_announce(t, &HASH_B, &[2; 20], 6002, 10);
    http_announce(t, &HASH_B, &[3; 20], 6003, 0);
    udp_announce(t, HASH_B, [4; 20], 6004).unwrap();
    [(6001, false), (6002, false), (6003, true), (6004, false)]
        .into_iter()
        .map(|(port, seeder)| ("127.0.0.1".to_string(), port, seeder))
        .collect()
}

/// `keeps_ids`: Redis keeps each peer's peer_id and shows it; the memory
/// engine keeps none (docs/ARCHITECTURE.md), and the key is then left out.
fn check_swarm(t: &Admin, expected: &HashSet<(String, u64, bool)>, keeps_ids: bool) {
    let (status, body) = t.call("GET", &format!("/api/swarms/{}", hex(&HASH_B)), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["seeders"].as_u64(), body["leechers"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(body["ipv4"]["leechers"], 3);
    assert_eq!(body["ipv6"]["peers"], json!([]));
    let peers = body["ipv4"]["peers"].as_array().unwrap();
    let seen: HashSet<_> = peers
        .iter()
        .map(|p| {
            (
                p["ip"].as_str().unwrap().to_string(),
                p["port"].as_u64().unwrap(),
                p["seeder"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(&seen, expected);
    assert_eq!(peers.len(), 4);
    let seeder = peers.iter().find(|p| p["port"] == 6003).unwrap();
    if keeps_ids {
        assert_eq!(seeder["peer_id"], hex(&[3; 20]));
    } else {
        assert!(seeder.get("peer_id").is_none(), "{seeder}");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(seeder["last_seen"].as_u64().unwrap()) < 60,
        "{seeder}"
    );
    // Seeders come first, and the limit cuts the list but not the counts.
    let (_, one) = t.call(
        "GET",
        &format!("/api/swarms/{}?limit=1", hex(&HASH_B)),
        None,
    );
    assert_eq!(one["ipv4"]["peers"].as_array().unwrap().len(), 1);
    assert_eq!(one["ipv4"]["peers"][0]["port"], 6003);
    assert_eq!(one["leechers"], 3);
    let (status, _) = t.call("GET", &format!("/api/swarms/{}", hex(&HASH_A)), None);
    assert_eq!(status, 404, "nobody announced A");
}

#[test]
fn a_swarm_lookup_shows_exactly_the_peers_that_announced() {
    let t = Admin::start(Some(TOKEN), "", MEMORY);
    let expected = known_swarm(&t);
    check_swarm(&t, &expected, false);
}

#[test]
fn a_swarm_lookup_on_redis_shows_exactly_the_peers_that_announced() {
    let redis = RedisServer::start();
    let storage = format!(
        "  storage:\n    name: redis\n    config:\n      redis_broker: \"{}\"\n",
        redis.url()
    );
    let t = Admin::start(Some(TOKEN), "", &storage);
    let expected = known_swarm(&t);
    check_swarm(&t, &expected, true);
}

#[test]
fn a_forced_gc_removes_the_peers_that_went_silent() {
    let storage = "  storage:\n    name: memory\n    config:\n      peer_lifetime: 1s\n      gc_interval: 1h\n";
    let t = Admin::start(Some(TOKEN), "", storage);
    http_announce(&t, &HASH_A, &[1; 20], 6001, 10);
    http_announce(&t, &HASH_A, &[2; 20], 6002, 0);
    let (status, body) = t.call("POST", "/api/gc", None);
    assert_eq!((status, &body["peers_removed"]), (200, &json!(0)), "{body}");
    // Past the lifetime, rounded to whole seconds either way.
    std::thread::sleep(Duration::from_millis(2_500));
    let (status, body) = t.call("POST", "/api/gc", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["peers_removed"], &body["swarms_removed"]),
        (&json!(2), &json!(1))
    );
    let (status, _) = t.call("GET", &format!("/api/swarms/{}", hex(&HASH_A)), None);
    assert_eq!(status, 404);
}

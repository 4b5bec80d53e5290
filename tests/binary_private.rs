//! Private tracking end to end on the embedded database (SQLite): the site
//! registers users and torrents through the admin API, clients announce with
//! passkeys over HTTP and UDP, and the database holds what they moved,
//! through a clean stop and a `kill -9`.

mod support;

use std::net::{IpAddr, SocketAddr};

use support::private::{Http, PrivateTracker, Reply, USER_TOTALS, expect, query};
use support::udp::{Client, RawAnnounce};

const HASH: [u8; 20] = [0x11; 20];
const FREE_HASH: [u8; 20] = [0x22; 20];

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn http(peer: u8, uploaded: u64, downloaded: u64, left: u64, event: &'static str) -> Http {
    support::private::http(HASH, peer, (uploaded, downloaded, left), event)
}

struct Site {
    _dir: tempfile::TempDir,
    database: String,
    journal: std::path::PathBuf,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("tracker.sqlite").display());
    let journal = dir.path().join("journal");
    Site {
        _dir: dir,
        database,
        journal,
    }
}

/// alice (uploads ×2), bob (may not leech), dave; a normal and a free torrent.
fn register(t: &PrivateTracker) {
    t.add_user(1, "alicekey", ", \"upload_multiplier\": 2.0");
    t.add_user(2, "bobkey", ", \"can_leech\": false");
    t.add_user(3, "davekey", "");
    t.add_torrent(10, HASH, "");
    t.add_torrent(11, FREE_HASH, ", \"freeleech\": \"free\"");
}

#[test]
fn strangers_are_refused_with_the_reasons_clients_show() {
    let site = site();
    let t = PrivateTracker::start(&site.database, &site.journal, "200ms");
    register(&t);
    let me = ip("127.0.0.1");
    let refused = |passkey: &str, a: &Http| match t.announce(me, passkey, a) {
        Reply::Failure(reason) => reason,
        Reply::Peers(p) => panic!("not refused: {p:?}"),
    };
    assert_eq!(
        refused("nobody", &http(1, 0, 0, 0, "started")),
        "unknown passkey"
    );
    let mut unregistered = http(1, 0, 0, 0, "started");
    unregistered.info_hash = [0x99; 20];
    assert_eq!(refused("alicekey", &unregistered), "unregistered torrent");
    assert_eq!(
        refused("bobkey", &http(2, 0, 0, 100, "started")),
        "leeching forbidden"
    );
    // Bob may seed.
    assert!(matches!(
        t.announce(me, "bobkey", &http(2, 0, 0, 0, "started")),
        Reply::Peers(_)
    ));

    // Over UDP the passkey is the first segment of the BEP 41 path.
    let mut udp = Client::connect(t.addr);
    let announce = RawAnnounce {
        info_hash: HASH,
        peer_id: [7; 20],
        downloaded: 0,
        left: 10,
        uploaded: 0,
        event: 2,
        ip: 0,
        key: 1,
        num_want: -1,
        port: 7007,
    };
    assert_eq!(
        udp.try_announce_url(&announce, b"/nobody/announce")
            .unwrap_err(),
        "unknown passkey"
    );
    assert_eq!(
        udp.try_announce_url(&announce, b"/announce").unwrap_err(),
        "unknown passkey"
    );
    assert_eq!(
        udp.try_announce_url(&announce, b"/bobkey/announce")
            .unwrap_err(),
        "leeching forbidden"
    );
    let reply = udp
        .try_announce_url(&announce, b"/davekey/announce")
        .unwrap();
    assert_eq!((reply.seeders, reply.leechers), (1, 1));
    // A BEP 15 scrape has no room for a passkey (BEP 41 options follow
    // announces only): it is answered for registered torrents alone.
    let counts = udp.scrape(HASH);
    assert_eq!((counts.seeders, counts.leechers), (1, 1));
    // Over HTTP the passkey is checked.
    let (_, body) = support::http::get(
        t.addr,
        &format!("/nobody/scrape?info_hash={}", support::http::escape(&HASH)),
    );
    assert!(
        String::from_utf8_lossy(&body).contains("14:failure reason15:unknown passkey"),
        "{body:?}"
    );
    let (_, body) = support::http::get(
        t.addr,
        &format!(
            "/davekey/scrape?info_hash={}",
            support::http::escape(&[0x99; 20])
        ),
    );
    assert!(
        String::from_utf8_lossy(&body).contains("unregistered torrent"),
        "{body:?}"
    );
    // Nothing refused reached the database.
    expect(
        &site.database,
        "SELECT user_id FROM peers ORDER BY user_id",
        vec![vec![2], vec![3]],
    );
}

#[test]
fn bytes_moved_reach_the_database_with_multipliers_and_freeleech() {
    let site = site();
    let t = PrivateTracker::start(&site.database, &site.journal, "200ms");
    register(&t);
    let (home, seedbox, dave_ip) = (ip("127.0.0.1"), ip("127.0.0.3"), ip("127.0.0.4"));
    let peer = |from: IpAddr, p: u8| SocketAddr::new(from, 6000 + p as u16);

    t.announce(home, "alicekey", &http(1, 0, 0, 0, "started"))
        .peers();
    // Alice's second client (leeching what her first one seeds) is not
    // handed her first: a leecher would be handed any seeder.
    assert_eq!(
        t.announce(seedbox, "alicekey", &http(2, 0, 0, 1000, "started"))
            .peers(),
        vec![]
    );
    let mut got = t
        .announce(dave_ip, "davekey", &http(3, 0, 0, 1000, "started"))
        .peers();
    got.sort();
    assert_eq!(got, vec![peer(home, 1), peer(seedbox, 2)]);

    t.announce(dave_ip, "davekey", &http(3, 0, 1000, 0, "completed"))
        .peers();
    t.announce(home, "alicekey", &http(1, 600, 0, 0, ""))
        .peers();
    t.announce(seedbox, "alicekey", &http(2, 400, 0, 1000, "stopped"))
        .peers();
    // On the free torrent Dave's download is not counted, Alice's upload is.
    let free = |p: u8, up: u64, down: u64, left: u64, event| Http {
        info_hash: FREE_HASH,
        ..http(p, up, down, left, event)
    };
    t.announce(home, "alicekey", &free(1, 0, 0, 0, "started"))
        .peers();
    t.announce(dave_ip, "davekey", &free(3, 0, 0, 500, "started"))
        .peers();
    t.announce(dave_ip, "davekey", &free(3, 0, 500, 0, "completed"))
        .peers();
    t.announce(home, "alicekey", &free(1, 500, 0, 0, ""))
        .peers();

    // Alice: (600 + 400 + 500) raw, ×2; Dave: 1000 counted + 500 free.
    expect(
        &site.database,
        USER_TOTALS,
        vec![
            vec![1, 3000, 0, 1500, 0],
            vec![2, 0, 0, 0, 0],
            vec![3, 0, 1000, 0, 1500],
        ],
    );
    expect(
        &site.database,
        "SELECT user_id, torrent_id, uploaded, downloaded, raw_uploaded, raw_downloaded FROM transfers ORDER BY user_id, torrent_id",
        vec![
            vec![1, 10, 2000, 0, 1000, 0],
            vec![1, 11, 1000, 0, 500, 0],
            vec![3, 10, 0, 1000, 0, 1000],
            vec![3, 11, 0, 0, 0, 500],
        ],
    );
    expect(
        &site.database,
        "SELECT user_id, torrent_id FROM snatches ORDER BY torrent_id",
        vec![vec![3, 10], vec![3, 11]],
    );
    expect(
        &site.database,
        "SELECT id, snatched FROM torrents ORDER BY id",
        vec![vec![10, 1], vec![11, 1]],
    );
    // The stopped session's row went; the others hold their last counters.
    expect(
        &site.database,
        "SELECT user_id, torrent_id, uploaded, downloaded, left_bytes FROM peers ORDER BY user_id, torrent_id",
        vec![
            vec![1, 10, 600, 0, 0],
            vec![1, 11, 500, 0, 0],
            vec![3, 10, 0, 1000, 0],
            vec![3, 11, 0, 500, 0],
        ],
    );
}

#[test]
fn a_clean_stop_and_a_kill_lose_nothing_and_count_nothing_twice() {
    let site = site();
    let port = support::free_port("127.0.0.1");
    let me = ip("127.0.0.1");
    let mut t = PrivateTracker::start_on(port, &site.database, &site.journal, "200ms");
    register(&t);
    t.announce(me, "alicekey", &http(1, 0, 0, 0, "started"))
        .peers();
    t.announce(me, "alicekey", &http(1, 100, 0, 0, "")).peers();
    // SIGTERM: the last batch is written before the process exits.
    t.running.signal(15);
    let status = t
        .running
        .wait_exit(support::STOP)
        .expect("stops on SIGTERM");
    assert!(status.success(), "{}", t.running.stderr());
    // Read at once: the process is gone, so this is what its stop wrote.
    assert_eq!(
        query(&site.database, USER_TOTALS)[0],
        vec![1, 200, 0, 100, 0]
    );

    // A restart continues from the stored baseline: 100 → 250 is 150 more.
    let mut t = PrivateTracker::start_on(port, &site.database, &site.journal, "200ms");
    t.announce(me, "alicekey", &http(1, 250, 0, 0, "")).peers();
    t.wait_committed(1);
    t.announce(me, "alicekey", &http(1, 330, 0, 0, "")).peers();
    // kill -9 right after an announce: it may or may not be journaled yet.
    t.running.signal(9);
    t.running.wait_exit(support::STOP).expect("killed");
    let t = PrivateTracker::start_on(port, &site.database, &site.journal, "200ms");
    // Whatever the kill cut off, the client's cumulative counter still has it.
    t.announce(me, "alicekey", &http(1, 400, 0, 0, "stopped"))
        .peers();
    expect(
        &site.database,
        USER_TOTALS,
        vec![
            vec![1, 800, 0, 400, 0],
            vec![2, 0, 0, 0, 0],
            vec![3, 0, 0, 0, 0],
        ],
    );
    t.wait_committed(1);
    let left = std::fs::read_dir(&site.journal).unwrap().count();
    assert_eq!(left, 0, "every journaled batch was committed and removed");
}

#[test]
fn the_admin_api_changes_passkeys_and_refuses_clashes() {
    let site = site();
    let t = PrivateTracker::start(&site.database, &site.journal, "200ms");
    register(&t);
    let me = ip("127.0.0.1");
    let (status, body) = t.api("PUT", "/api/users/3", Some("{\"passkey\": \"alicekey\"}"));
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "passkey already belongs to user 1");
    let (status, _) = t.api(
        "PUT",
        "/api/users/3/passkey",
        Some("{\"passkey\": \"newdavekey\"}"),
    );
    assert_eq!(status, 200);
    assert_eq!(
        t.announce(me, "davekey", &http(3, 0, 0, 5, "started")),
        Reply::Failure("unknown passkey".into())
    );
    t.announce(me, "newdavekey", &http(3, 0, 0, 5, "started"))
        .peers();
    let (status, body) = t.api("PUT", "/api/users/4", Some("{\"passkey\": \"bad key\"}"));
    assert_eq!(status, 400, "{body}");
    let (status, body) = t.api(
        "PUT",
        "/api/torrents/12",
        Some("{\"info_hash\": \"1111111111111111111111111111111111111111\"}"),
    );
    assert_eq!(status, 409, "{body}");
    let (status, _) = t.api("DELETE", "/api/torrents/10", None);
    assert_eq!(status, 200);
    assert_eq!(
        t.announce(me, "newdavekey", &http(3, 0, 0, 5, "")),
        Reply::Failure("unregistered torrent".into())
    );
    // What the API changed is in the database: the periodic reload keeps it.
    let (status, _) = t.api("POST", "/api/private/reload", None);
    assert_eq!(status, 200);
    let (_, user) = t.api("GET", "/api/users/3", None);
    assert_eq!(user["passkey"], "newdavekey");
    let (status, _) = t.api("GET", "/api/torrents/10", None);
    assert_eq!(status, 404);
    let (_, state) = t.api("GET", "/api/private", None);
    assert_eq!(
        (state["users"].as_u64(), state["torrents"].as_u64()),
        (Some(3), Some(1))
    );
}

/// dist/private.yaml is a configuration the binary accepts (with its token
/// file made, as an operator would), and means what its comments say.
#[test]
fn the_shipped_private_example_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("admin-token");
    std::fs::write(&token, "0123456789abcdef0123456789abcdef\n").unwrap();
    let yaml = include_str!("../dist/private.yaml")
        .replace("/etc/chihaya/admin-token", token.to_str().unwrap());
    let config = chihaya::config::Config::parse(&yaml).unwrap();
    let private = config.private.expect("a private section");
    assert!(private.database.starts_with("postgres://"));
    assert_eq!(private.flush_interval, std::time::Duration::from_secs(3));
    let file = support::write_config(&yaml);
    let out = support::run_to_end(&["check-config", file.path.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("postgres://chihaya:<redacted>@127.0.0.1:5432/tracker"),
        "{}",
        out.stdout
    );
    // Without a passkey route the HTTP frontend could never authenticate.
    let no_route = yaml.replace("/:passkey/announce", "/announce");
    let err = chihaya::config::Config::parse(&no_route).unwrap_err().0;
    assert!(
        err.starts_with(
            "chihaya.http.announce_routes: private tracking needs a route with a :passkey segment"
        ),
        "{err}"
    );
}

/// A hybrid torrent is announced under both of its hashes with the same
/// counters (libtorrent does this): one torrent, one account, nothing twice.
#[test]
fn both_hashes_of_a_hybrid_torrent_are_one_account() {
    let site = site();
    let t = PrivateTracker::start(&site.database, &site.journal, "200ms");
    register(&t);
    let v2 = [0x44; 20];
    let v2_hex: String = v2.iter().map(|b| format!("{b:02x}")).collect();
    t.add_torrent(12, [0x55; 20], &format!(", \"info_hash_v2\": \"{v2_hex}\""));
    let me = ip("127.0.0.1");
    for (up, event) in [(0, "started"), (700, "")] {
        for hash in [[0x55; 20], v2] {
            let a = Http {
                info_hash: hash,
                ..http(1, up, 0, 0, event)
            };
            t.announce(me, "alicekey", &a).peers();
        }
    }
    expect(
        &site.database,
        "SELECT user_id, torrent_id, raw_uploaded, announces FROM transfers",
        vec![vec![1, 12, 700, 4]],
    );
    // The accounting is visible to Prometheus too.
    let (status, _, metrics) = support::admin::request(t.ops, "GET", "/metrics", None, None);
    assert_eq!(status, 200);
    for line in [
        "chihaya_private_users 3",
        "chihaya_private_torrents 3",
        "chihaya_private_batches_pending 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line:?} in\n{metrics}");
    }
    assert!(
        metrics.contains("chihaya_private_batches_committed_total "),
        "{metrics}"
    );
}

/// A site that writes users and torrents straight into the database, without
/// the admin API: the periodic reload picks them up.
#[test]
fn rows_the_site_writes_itself_are_picked_up_by_the_periodic_reload() {
    let site = site();
    let port = support::free_port("127.0.0.1");
    let yaml = support::private::config_with(
        port,
        &site.database,
        &site.journal,
        "200ms",
        "    reload_interval: 300ms\n",
    );
    let running = support::Running::start(Some(support::write_config(&yaml)), &[]);
    let t = PrivateTracker::wait_up(running, port);
    let me = ip("127.0.0.1");
    assert_eq!(
        t.announce(me, "sitekey", &http(1, 0, 0, 0, "started")),
        Reply::Failure("unknown passkey".into())
    );
    support::private::execute(
        &site.database,
        &[
            "INSERT INTO users (id, passkey, can_leech, upload_multiplier, download_multiplier) VALUES (9, 'sitekey', 1, 1.0, 1.0)",
            "INSERT INTO torrents (id, info_hash, freeleech, upload_multiplier, download_multiplier) VALUES (90, '1111111111111111111111111111111111111111', 'normal', 1.0, 1.0)",
        ],
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match t.announce(me, "sitekey", &http(1, 0, 0, 0, "started")) {
            Reply::Peers(_) => break,
            Reply::Failure(reason) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "still refused: {reason}"
                );
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

//! Private tracking against a real PostgreSQL through the binary, and the
//! fault the issue names: the database goes away, clients keep announcing,
//! the tracker is killed with SIGKILL, then the tracker and the database come
//! back, and every delta has arrived exactly once.

mod support;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use support::postgres::PostgresServer;
use support::private::{Http, PrivateTracker, USER_TOTALS, config, expect, query};
use support::{Running, write_config};

const HASH: [u8; 20] = [0x33; 20];

fn http(peer: u8, uploaded: u64, downloaded: u64, left: u64, event: &'static str) -> Http {
    support::private::http(HASH, peer, (uploaded, downloaded, left), event)
}

/// The (uploaded, downloaded) of user `user`'s session in the newest
/// journaled batch that holds it.
fn journaled(journal: &Path, user: i64) -> Option<(u64, u64)> {
    let mut files: Vec<_> = std::fs::read_dir(journal)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "batch"))
        .collect();
    files.sort();
    files.iter().rev().find_map(|f| {
        let batch: serde_json::Value = serde_json::from_slice(&std::fs::read(f).ok()?).ok()?;
        batch["peers"].as_array()?.iter().find_map(|row| {
            (row["key"]["user"] == user).then(|| {
                (
                    row["uploaded"].as_u64().unwrap(),
                    row["downloaded"].as_u64().unwrap(),
                )
            })
        })
    })
}

fn wait_journaled(journal: &Path, user: i64, want: (u64, u64)) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while journaled(journal, user) != Some(want) {
        assert!(
            Instant::now() < deadline,
            "user {user}'s {want:?} never reached the journal (newest: {:?})",
            journaled(journal, user)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn database_down_then_kill_9_then_everything_back_counts_every_delta_once() {
    let mut pg = PostgresServer::new();
    let database = pg.create_database();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let port = support::free_port("127.0.0.1");
    let (alice, dave): (IpAddr, IpAddr) =
        ("127.0.0.1".parse().unwrap(), "127.0.0.4".parse().unwrap());

    let mut t = PrivateTracker::start_on(port, &database, &journal, "200ms");
    t.add_user(1, "alicekey", "");
    t.add_user(2, "davekey", "");
    t.add_torrent(10, HASH, "");
    t.announce(alice, "alicekey", &http(1, 0, 0, 0, "started"))
        .peers();
    t.announce(dave, "davekey", &http(2, 0, 0, 1000, "started"))
        .peers();
    t.announce(alice, "alicekey", &http(1, 100, 0, 0, ""))
        .peers();
    t.announce(dave, "davekey", &http(2, 0, 100, 900, ""))
        .peers();
    expect(
        &database,
        USER_TOTALS,
        vec![vec![1, 100, 0, 100, 0], vec![2, 0, 100, 0, 100]],
    );

    // The database goes away; clients go on announcing.
    pg.stop();
    for step in 1..=4u64 {
        let moved = 100 + step * 100;
        t.announce(alice, "alicekey", &http(1, moved, 0, 0, ""))
            .peers();
        t.announce(dave, "davekey", &http(2, 0, moved, 1000 - moved, ""))
            .peers();
        std::thread::sleep(Duration::from_millis(250));
    }
    // What was announced is on disk before the kill (the batches pile up there).
    wait_journaled(&journal, 1, (500, 0));
    wait_journaled(&journal, 2, (0, 500));
    let (_, state) = t.api("GET", "/api/private", None);
    assert!(
        state["flush"]["pending_batches"].as_u64() >= Some(1),
        "{state}"
    );
    t.running.signal(9);
    t.running.wait_exit(support::STOP).expect("killed");

    // The tracker comes back first and waits for its database ...
    let running = Running::start(
        Some(write_config(&config(port, &database, &journal, "200ms"))),
        &[],
    );
    running.wait_log("private database unavailable; waiting for it before serving");
    // ... which comes back: the journal is replayed, exactly once.
    pg.start();
    let t = PrivateTracker::wait_up(running, port);
    t.running.wait_log("private: journal replayed");
    let users = query(&database, USER_TOTALS);
    assert_eq!(
        users,
        vec![vec![1, 500, 0, 500, 0], vec![2, 0, 500, 0, 500]],
        "right after the replay\n{}",
        t.running.stderr()
    );
    assert_eq!(
        std::fs::read_dir(&journal).unwrap().count(),
        0,
        "the journal is empty once replayed"
    );

    // And the clients carry on from the restored baselines.
    t.announce(dave, "davekey", &http(2, 0, 1000, 0, "completed"))
        .peers();
    t.announce(alice, "alicekey", &http(1, 1000, 0, 0, "stopped"))
        .peers();
    expect(
        &database,
        USER_TOTALS,
        vec![vec![1, 1000, 0, 1000, 0], vec![2, 0, 1000, 0, 1000]],
    );
    expect(
        &database,
        "SELECT user_id, torrent_id FROM snatches",
        vec![vec![2, 10]],
    );
    expect(&database, "SELECT user_id FROM peers", vec![vec![2]]);
}

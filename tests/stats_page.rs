//! The stats page in a real browser: headless Chromium (Debian's `chromium`,
//! installed by scripts/setup) loads `/` from the real binary after a known
//! set of announces; the numbers the page rendered must be /stats' numbers,
//! and a screenshot must come out as a PNG. A missing browser fails the test:
//! a skipped test here would prove nothing.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::ops::Tracker;

const CHROMIUM: &str = "chromium";
/// Chromium's own start-up on a loaded 2-core machine takes seconds; a hang is cut here.
const BROWSER_LIMIT: Duration = Duration::from_secs(90);

/// Runs chromium headless with `args`; returns its stdout. The flags keep it
/// off the network (this machine has none) and out of the user's profile.
fn chromium(profile: &Path, args: &[&str]) -> String {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {CHROMIUM} ({e}); scripts/setup installs Debian's chromium")
        });
    let deadline = Instant::now() + BROWSER_LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish within {BROWSER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chromium {args:?}: {}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `data-value` the page gave the element with this id.
fn rendered(dom: &str, id: &str) -> String {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the page:\n{dom}"));
    let tag_end = at + dom[at..].find('>').unwrap();
    let tag = &dom[at..tag_end];
    let value = tag
        .split("data-value=\"")
        .nth(1)
        .unwrap_or_else(|| panic!("#{id} has no data-value: {tag}"));
    value[..value.find('"').unwrap()].to_string()
}

fn screenshot_path() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("stats-page.png")
}

#[test]
fn the_page_shows_the_numbers_of_stats_and_draws() {
    let t = Tracker::start();
    // Two swarms: 3 leechers and a completed seeder, then 2 seeders.
    for peer in 1..=3 {
        t.http_announce(&[0x11; 20], peer, 100, "&event=started");
    }
    t.http_announce(&[0x11; 20], 4, 0, "&event=completed");
    t.http_announce(&[0x22; 20], 5, 0, "");
    t.http_announce(&[0x22; 20], 6, 0, "");
    t.http_scrape(&[0x11; 20]);

    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{}/", t.ops);
    let dom = chromium(
        profile.path(),
        &["--virtual-time-budget=5000", "--dump-dom", &url],
    );
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the page never loaded /stats:\n{dom}"
    );
    let stats = t.stats();
    for (id, key) in [
        ("stat-torrents", "torrents"),
        ("stat-peers", "peers"),
        ("stat-seeders", "seeders"),
        ("stat-leechers", "leechers"),
        ("stat-snatches", "snatches"),
    ] {
        assert_eq!(
            rendered(&dom, id),
            stats[key].to_string(),
            "#{id} vs /stats {key}"
        );
    }
    assert_eq!(rendered(&dom, "stat-torrents"), "2");
    assert_eq!(rendered(&dom, "stat-peers"), "6");
    assert_eq!(rendered(&dom, "stat-snatches"), "1");
    assert_eq!(rendered(&dom, "stat-announces"), "6");
    assert!(
        dom.contains(&"11".repeat(20)),
        "the largest swarm is listed:\n{dom}"
    );
    assert!(dom.contains("<path"), "the charts drew lines:\n{dom}");

    let shot = screenshot_path();
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    chromium(
        profile.path(),
        &[
            "--virtual-time-budget=5000",
            "--window-size=1200,900",
            &arg,
            &url,
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 10_000, "a blank page? only {} bytes", png.len());
}

use std::time::Instant;

use super::*;
use crate::middleware::testing;
use crate::protocol::PeerId;

const A: &str = "a1b2c3d4e5a1b2c3d4e5a1b2c3d4e5a1b2c3d4e5";
const B: &str = "e1d2c3b4a5e1b2c3b4a5e1d2c3b4e5e1d2c3b4a5";
const C: &str = "0000000000000000000000000000000000000001";

fn hash(hex: &str) -> InfoHash {
    parse_hash(hex).unwrap()
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn hook(text: &str) -> Result<TorrentApproval, String> {
    TorrentApproval::new(&yaml(text), CancellationToken::new())
}

#[test]
fn hashes_are_forty_hex_digits_in_either_case() {
    assert_eq!(hash(A), hash(&A.to_uppercase()));
    assert_eq!(hash(C).0[19], 1);
    assert_eq!(
        parse_hash("a1b2").unwrap_err(),
        "\"a1b2\" is not a 40-digit hex info hash"
    );
    let not_hex = "g1b2c3d4e5a1b2c3d4e5a1b2c3d4e5a1b2c3d4e5";
    assert!(parse_hash(not_hex).is_err());
    // 40 bytes, but not 40 ASCII characters.
    assert!(parse_hash(&format!("é{}", &A[2..])).is_err());
}

#[test]
fn whitelist_and_blacklist_decide() {
    let allow = hook(&format!("whitelist: [\"{A}\"]")).unwrap();
    assert!(allow.approves(&hash(A)));
    assert!(!allow.approves(&hash(B)));
    let deny = hook(&format!("blacklist: [\"{}\"]", A.to_uppercase())).unwrap();
    assert!(!deny.approves(&hash(A)));
    assert!(deny.approves(&hash(B)));
}

#[test]
fn refused_announce_reads_unapproved_torrent() {
    let h = hook(&format!("blacklist: [\"{A}\"]")).unwrap();
    let mut req = testing::announce(PeerId([1; 20]));
    req.info_hash = hash(A);
    let err = h
        .before_announce(&mut req, &mut AnnounceResponse::default())
        .unwrap_err();
    assert_eq!(err.0, "unapproved torrent");
    req.info_hash = hash(B);
    assert!(
        h.before_announce(&mut req, &mut AnnounceResponse::default())
            .is_ok()
    );
}

#[test]
fn scrapes_of_unapproved_torrents_read_zero() {
    let h = hook(&format!("whitelist: [\"{A}\"]")).unwrap();
    let busy = Scrape {
        complete: 3,
        incomplete: 2,
        downloaded: 9,
    };
    let req = ScrapeRequest {
        info_hashes: vec![hash(A), hash(B)],
        ip: "10.0.0.1".parse().unwrap(),
        params: Default::default(),
    };
    let mut resp = ScrapeResponse {
        files: vec![(hash(A), busy), (hash(B), busy)],
    };
    h.after_scrape(&req, &mut resp).unwrap();
    assert_eq!(
        resp.files,
        [(hash(A), busy), (hash(B), Scrape::default())],
        "one entry per asked hash, in order; unapproved ones are zeros"
    );
}

#[test]
fn option_errors_name_the_key_and_the_entry() {
    let err = |text: &str| hook(text).unwrap_err();
    assert_eq!(
        err(&format!("whitelist: [\"{A}\"]\nblacklist: [\"{B}\"]")),
        "whitelist and blacklist are both set"
    );
    assert!(err("{}").starts_with("neither whitelist nor blacklist is set"));
    assert_eq!(
        err("blacklist: []"),
        "blacklist is empty and no file is given"
    );
    assert_eq!(
        err(&format!("whitelist: [\"{A}\", \"nope\"]")),
        "whitelist[1]: \"nope\" is not a 40-digit hex info hash"
    );
    assert!(err("whitelist: []\nfiel: x").contains("unknown field `fiel`"));
    let missing = err("whitelist: []\nfile: /nonexistent/chihaya-approval.txt");
    assert!(
        missing.starts_with("file: /nonexistent/chihaya-approval.txt: "),
        "{missing}"
    );
}

#[test]
fn the_file_allows_comments_and_blank_lines() {
    let text = format!(
        "# approved\n\n{A}\n  {}  # trailing comment\n",
        B.to_uppercase()
    );
    let list = parse_list(&text).unwrap();
    assert_eq!(list, HashSet::from([hash(A), hash(B)]));
    assert_eq!(
        parse_list(&format!("{A}\n\nnot-a-hash\n")).unwrap_err(),
        "line 3: \"not-a-hash\" is not a 40-digit hex info hash"
    );
}

#[tokio::test]
async fn a_bad_file_at_start_is_an_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.txt");
    std::fs::write(&path, format!("{A}\nzz\n")).unwrap();
    let err = hook(&format!("whitelist: []\nfile: {}", path.display())).unwrap_err();
    assert_eq!(
        err,
        format!(
            "file: {}: line 2: \"zz\" is not a 40-digit hex info hash",
            path.display()
        )
    );
}

/// Polls `check` every 10 ms for at most 5 s.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "not within 5s: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_file_is_re_read_when_it_changes_and_a_bad_edit_keeps_the_old_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.txt");
    std::fs::write(&path, format!("{A}\n")).unwrap();
    let stop = CancellationToken::new();
    let options = yaml(&format!(
        "whitelist: [\"{C}\"]\nfile: {}\nfile_poll_interval: 20ms",
        path.display()
    ));
    let h = TorrentApproval::new(&options, stop.clone()).unwrap();
    assert!(h.approves(&hash(A)) && h.approves(&hash(C)) && !h.approves(&hash(B)));

    std::fs::write(&path, format!("{B}\n# A is gone\n")).unwrap();
    eventually("B approved after the edit", || h.approves(&hash(B))).await;
    assert!(!h.approves(&hash(A)), "A left the file");
    assert!(h.approves(&hash(C)), "the inline list stays");

    std::fs::write(&path, format!("{A}\nbroken\n")).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        h.approves(&hash(B)) && !h.approves(&hash(A)),
        "a bad edit keeps the old list"
    );

    // Replaced by rename, as editors save.
    let fresh = dir.path().join("list.new");
    std::fs::write(&fresh, format!("{A}\n")).unwrap();
    std::fs::rename(&fresh, &path).unwrap();
    eventually("A approved after the rename", || h.approves(&hash(A))).await;

    stop.cancel();
    tokio::time::sleep(Duration::from_millis(50)).await;
    std::fs::write(&path, format!("{B}\n{C}\n")).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !h.approves(&hash(B)),
        "a cancelled generation's watcher no longer reads the file"
    );
}

/// A plain test, outside any runtime: `new` would spawn the file's watcher
/// (and panic here), `validate` only reads the file once.
#[test]
fn validate_reads_the_file_without_spawning_its_watcher() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.txt");
    std::fs::write(&path, format!("{A}\n")).unwrap();
    let options = yaml(&format!("whitelist: []\nfile: {}", path.display()));
    assert_eq!(TorrentApproval::validate(&options), Ok(()));
    std::fs::write(&path, "zz\n").unwrap();
    assert_eq!(
        TorrentApproval::validate(&options),
        Err(format!(
            "file: {}: line 1: \"zz\" is not a 40-digit hex info hash",
            path.display()
        ))
    );
    let both = yaml(&format!("whitelist: [\"{A}\"]\nblacklist: []"));
    assert_eq!(
        TorrentApproval::validate(&both),
        Err("whitelist and blacklist are both set".into())
    );
}

/// The admin API's overlay wins over the inline list and the file alike, and
/// the effective list shows it.
#[tokio::test]
async fn runtime_changes_win_over_the_inline_list_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("list.txt");
    std::fs::write(&path, format!("{B}\n")).unwrap();
    let runtime = Arc::new(Approvals::default());
    let h = hook(&format!("blacklist: [\"{A}\"]\nfile: {}", path.display()))
        .unwrap()
        .with_runtime(runtime.clone());
    assert!(!h.approves(&hash(A)) && !h.approves(&hash(B)) && h.approves(&hash(C)));
    runtime.torrents.apply(&[hash(C)], &[hash(A), hash(B)]);
    assert!(h.approves(&hash(A)), "taken off the inline list");
    assert!(h.approves(&hash(B)), "taken off the file's list");
    assert!(!h.approves(&hash(C)), "put on the blacklist");
    let list = h.approval_list().unwrap();
    assert_eq!(list.mode, "blacklist");
    assert_eq!(list.entries, vec![C.to_string()]);
}

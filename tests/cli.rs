//! The binary's command line as an operator uses it: exit codes, and error
//! messages that name the file and the key.

mod support;

use std::time::Duration;

use support::{Running, example_config, run_to_end, write_config};

#[test]
fn check_config_prints_the_effective_config() {
    let path = example_config();
    let out = run_to_end(&["check-config", path.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "stderr: {}", out.stderr);
    assert!(out.stdout.starts_with("chihaya:\n"), "{}", out.stdout);
    for line in [
        "  announce_interval: 30m\n",
        "    addr: 0.0.0.0:6969\n",
        "    read_timeout: 5s\n",
        "    real_ip_header: x-real-ip\n",
        "    connection_id_lifetime: 2m\n",
        "    name: memory\n",
        "      peer_lifetime: 31m\n",
        "  prehooks: []\n",
    ] {
        assert!(
            out.stdout.contains(line),
            "missing {line:?} in:\n{}",
            out.stdout
        );
    }
    // What it prints is itself a valid config that means the same.
    let again = write_config(&out.stdout);
    let out2 = run_to_end(&["check-config", again.path.to_str().unwrap()]);
    assert_eq!(out2.code, Some(0), "stderr: {}", out2.stderr);
    assert_eq!(out2.stdout, out.stdout);
}

#[test]
fn check_config_names_the_file_and_the_unknown_key() {
    let config = write_config("chihaya:\n  udp:\n    addr: \":1\"\n    privat_key: x\n");
    let path = config.path.to_str().unwrap();
    let out = run_to_end(&["check-config", path]);
    assert_eq!(out.code, Some(1));
    assert!(out.stdout.is_empty(), "nothing on stdout: {}", out.stdout);
    let expected = format!("error: {path}: chihaya.udp: unknown field `privat_key`");
    assert!(out.stderr.starts_with(&expected), "{}", out.stderr);
    assert!(out.stderr.contains("at line 4 column 5"), "{}", out.stderr);
}

/// A hook config with `hooks` under `chihaya:` and nothing else to fault.
fn with_hooks(hooks: &str) -> support::ConfigFile {
    write_config(&format!(
        "chihaya:\n  udp:\n    addr: \"127.0.0.1:1\"\n{hooks}"
    ))
}

#[test]
fn check_config_names_the_hook_and_key_at_fault() {
    let cases = [
        (
            "  prehooks:\n    - name: client approval\n      options:\n        whitelist: [\"qB4520\"]\n        blacklist: [\"TR3000\"]\n",
            "chihaya.prehooks[0] (client approval): whitelist and blacklist are both set",
        ),
        (
            "  prehooks:\n    - name: prefer subnet\n    - name: fixed peers\n      options:\n        fixed_peers: [\"192.0.2.1\"]\n",
            "chihaya.prehooks[1] (fixed peers): fixed_peers[0]: \"192.0.2.1\" is not ip:port",
        ),
        (
            "  posthooks:\n    - name: torrent approval\n      options:\n        whitelist: []\n        file: /nonexistent/chihaya-approved.txt\n",
            "chihaya.posthooks[0] (torrent approval): file: /nonexistent/chihaya-approved.txt: ",
        ),
        (
            "  prehooks:\n    - name: prefer subnet\n      options: {ipv4_prefix_len: 33}\n",
            "chihaya.prehooks[0] (prefer subnet): ipv4_prefix_len: 33 is longer than an address (32 bits)",
        ),
        (
            "  prehooks:\n    - name: jwt\n      options:\n        issuer: \"https://issuer.example\"\n        jwk_set_url: \"https://issuer.example/keys\"\n",
            "chihaya.prehooks[0] (jwt): missing field `audience`",
        ),
        (
            "  posthooks:\n    - name: client aproval\n",
            "chihaya.posthooks[0]: unknown hook \"client aproval\"; known hooks: ",
        ),
    ];
    for (hooks, expected) in cases {
        let config = with_hooks(hooks);
        let path = config.path.to_str().unwrap();
        let out = run_to_end(&["check-config", path]);
        assert_eq!(out.code, Some(1), "{hooks}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "nothing on stdout: {}", out.stdout);
        let expected = format!("error: {path}: {expected}");
        assert!(out.stderr.starts_with(&expected), "{}", out.stderr);
    }
}

/// Good hooks pass, a torrent approval file included, and a `jwt` hook whose
/// key set is never fetched (nothing listens at its URL).
#[test]
fn check_config_accepts_good_hook_options() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("approved.txt");
    std::fs::write(&list, "a1b2c3d4e5a1b2c3d4e5a1b2c3d4e5a1b2c3d4e5\n").unwrap();
    let config = with_hooks(&format!(
        "  prehooks:\n    - name: prefer subnet\n      options: {{ipv4_prefix_len: 24, ipv6_prefix_len: 64}}\n    - name: torrent approval\n      options:\n        whitelist: []\n        file: \"{}\"\n    - name: jwt\n      options:\n        issuer: \"https://issuer.example\"\n        audience: \"https://tracker.example\"\n        jwk_set_url: \"http://127.0.0.1:1/keys\"\n  posthooks:\n    - name: interval variation\n      options: {{modify_response_probability: 0.5, max_increase_delta: 10}}\n",
        list.display()
    ));
    let out = run_to_end(&["check-config", config.path.to_str().unwrap()]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("name: torrent approval"),
        "{}",
        out.stdout
    );
}

#[test]
fn check_config_names_a_missing_file() {
    let out = run_to_end(&["check-config", "/nonexistent/chihaya.yaml"]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .starts_with("error: /nonexistent/chihaya.yaml: cannot read config file:"),
        "{}",
        out.stderr
    );
}

#[test]
fn startup_with_a_bad_config_exits_1_with_the_message() {
    let bad = write_config("chihaya:\n  http:\n    addr: \":1\"\n    read_timeout: soon\n");
    let path = bad.path.to_str().unwrap().to_string();
    let mut tracker = Running::start(Some(bad), &[]);
    let status = tracker.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(1));
    let expected = format!("error: {path}: chihaya.http.read_timeout: invalid duration \"soon\"");
    assert!(tracker.stderr().contains(&expected), "{}", tracker.stderr());
    assert!(
        !tracker.stderr().contains("panicked"),
        "{}",
        tracker.stderr()
    );
}

#[test]
fn startup_with_a_missing_config_exits_1_naming_it() {
    let out = run_to_end(&["--config", "/nonexistent/chihaya.yaml"]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains("/nonexistent/chihaya.yaml: cannot read config file"),
        "{}",
        out.stderr
    );
}

#[test]
fn startup_without_any_frontend_says_so() {
    let config = write_config("chihaya:\n  announce_interval: 30m\n");
    let mut tracker = Running::start(Some(config), &[]);
    let status = tracker.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(1));
    assert!(
        tracker.stderr().contains("error: no frontend configured"),
        "{}",
        tracker.stderr()
    );
}

#[test]
fn help_lists_the_subcommands_and_flags() {
    let out = run_to_end(&["--help"]);
    assert_eq!(out.code, Some(0));
    for word in ["check-config", "e2e", "--config", "--debug", "--json"] {
        assert!(
            out.stdout.contains(word),
            "missing {word} in:\n{}",
            out.stdout
        );
    }
    let out = run_to_end(&["e2e", "--help"]);
    for word in ["--httpaddr", "--udpaddr", "--delay"] {
        assert!(
            out.stdout.contains(word),
            "missing {word} in:\n{}",
            out.stdout
        );
    }
}

#[test]
fn unknown_flags_are_usage_errors() {
    let out = run_to_end(&["--confg", "x.yaml"]);
    assert_eq!(out.code, Some(2), "clap's usage-error code");
    assert!(out.stderr.contains("--confg"), "{}", out.stderr);
}

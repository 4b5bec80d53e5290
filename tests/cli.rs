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

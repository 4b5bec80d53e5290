//! The configuration as an operator meets it: Go chihaya's files load
//! unchanged, defaults are Go chihaya's, and every mistake names its key.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chihaya::config::{Config, StorageConfig};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn addr(text: &str) -> Option<SocketAddr> {
    Some(text.parse().unwrap())
}

/// The error text for a config that must be refused.
fn refused(yaml: &str) -> String {
    match Config::parse(yaml) {
        Ok(c) => panic!("accepted {yaml:?} as {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_starts(text: &str, prefix: &str) {
    assert!(
        text.starts_with(prefix),
        "{text:?} should start with {prefix:?}"
    );
}

#[test]
fn go_chihayas_example_config_loads_unchanged() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/go_example_config.yaml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.announce_interval, secs(30 * 60));
    assert_eq!(c.min_announce_interval, secs(15 * 60));
    assert_eq!(c.metrics_addr, "0.0.0.0:6880");

    let h = c.http.as_ref().expect("http section");
    assert_eq!(h.addr, addr("0.0.0.0:6969"));
    assert_eq!(h.https_addr, None);
    assert_eq!(
        (h.tls_cert_path.as_str(), h.tls_key_path.as_str()),
        ("", "")
    );
    assert_eq!((h.read_timeout, h.write_timeout), (secs(5), secs(5)));
    assert!(!h.enable_keepalive);
    assert_eq!(h.idle_timeout, secs(30));
    assert!(!h.enable_request_timing);
    assert_eq!(h.announce_routes, ["/announce"]);
    assert_eq!(h.scrape_routes, ["/scrape"]);
    assert!(!h.allow_ip_spoofing);
    assert_eq!(h.real_ip_header, "x-real-ip");
    assert_eq!((h.max_numwant, h.default_numwant), (100, 50));
    assert_eq!(h.max_scrape_infohashes, 50);
    assert_eq!(h.max_connections, 10_000);

    let u = c.udp.as_ref().expect("udp section");
    assert_eq!(u.addr, addr("0.0.0.0:6969"));
    assert_eq!(u.max_clock_skew, secs(10));
    assert_eq!(
        u.private_key,
        "paste a random string here that will be used to hmac connection IDs"
    );
    assert!(!u.enable_request_timing && !u.allow_ip_spoofing);
    assert_eq!((u.max_numwant, u.default_numwant), (100, 50));
    assert_eq!(u.max_scrape_infohashes, 50);

    let StorageConfig::Memory(m) = &c.storage else {
        panic!("expected the memory engine")
    };
    assert_eq!(m.gc_interval, secs(3 * 60));
    assert_eq!(m.peer_lifetime, secs(31 * 60));
    assert_eq!(m.shard_count, 1024);
    assert_eq!(m.prometheus_reporting_interval, secs(1));

    assert!(
        c.prehooks.is_empty(),
        "`prehooks:` with no value is no hooks"
    );
    assert!(c.posthooks.is_empty());
}

/// Our example only spells out keys Go chihaya lacks at their defaults, so
/// it means exactly what Go chihaya's example means.
#[test]
fn our_example_config_means_what_go_chihayas_means() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ours = Config::load(&root.join("dist/example_config.yaml")).unwrap();
    let go = Config::load(&root.join("tests/fixtures/go_example_config.yaml")).unwrap();
    assert_eq!(ours.to_yaml(), go.to_yaml());
}

#[test]
fn defaults_are_go_chihayas() {
    let c = Config::parse("chihaya:\n  http:\n    addr: \":6969\"\n  udp:\n    addr: \":6969\"\n")
        .unwrap();
    assert_eq!(c.announce_interval, secs(30 * 60));
    assert_eq!(c.min_announce_interval, secs(15 * 60));
    let h = c.http.unwrap();
    assert_eq!((h.read_timeout, h.write_timeout), (secs(2), secs(2)));
    assert_eq!(h.idle_timeout, secs(30));
    assert!(!h.enable_keepalive && !h.allow_ip_spoofing);
    assert_eq!(h.announce_routes, ["/announce"]);
    assert_eq!(h.scrape_routes, ["/scrape"]);
    assert_eq!(h.real_ip_header, "");
    assert_eq!((h.max_numwant, h.default_numwant), (100, 50));
    assert_eq!(h.max_scrape_infohashes, 50);
    assert_eq!(h.https_addr, None);
    let u = c.udp.unwrap();
    assert_eq!(u.max_clock_skew, secs(10));
    assert_eq!(u.connection_id_lifetime, secs(120));
    assert_eq!(u.private_key, "");
    assert_eq!((u.max_numwant, u.default_numwant), (100, 50));
    assert_eq!(u.max_scrape_infohashes, 50);
    let StorageConfig::Memory(m) = c.storage else {
        panic!("expected the memory engine")
    };
    assert_eq!(m.gc_interval, secs(3 * 60));
    assert_eq!(m.peer_lifetime, secs(30 * 60));
    assert_eq!(m.shard_count, 1024);
    assert_eq!(m.prometheus_reporting_interval, secs(1));
}

#[test]
fn embedded_config_serves_http_and_udp_on_6969_everywhere() {
    let c = Config::embedded();
    assert_eq!(c.http.unwrap().addr, addr("[::]:6969"));
    assert_eq!(c.udp.unwrap().addr, addr("[::]:6969"));
}

#[test]
fn a_section_left_out_disables_that_frontend() {
    let c = Config::parse("chihaya:\n  udp:\n    addr: \"127.0.0.1:1\"\n").unwrap();
    assert!(c.http.is_none());
    assert!(c.udp.is_some());
    let c = Config::parse("chihaya:\n  http:\n    addr: \"127.0.0.1:1\"\n").unwrap();
    assert!(c.http.is_some());
    assert!(c.udp.is_none());
    let c = Config::parse("chihaya:\n  http:\n  udp:\n").unwrap();
    assert!(
        c.http.is_none() && c.udp.is_none(),
        "an empty section is absent"
    );
}

#[test]
fn durations_in_go_syntax() {
    let c = Config::parse(
        "chihaya:\n  announce_interval: \"1m30s\"\n  min_announce_interval: 60000000000\n  http:\n    addr: \":1\"\n    read_timeout: \"500ms\"\n",
    )
    .unwrap();
    assert_eq!(c.announce_interval, secs(90));
    assert_eq!(
        c.min_announce_interval,
        secs(60),
        "bare integers are nanoseconds"
    );
    assert_eq!(c.http.unwrap().read_timeout, Duration::from_millis(500));
}

#[test]
fn bad_durations_name_the_key_and_line() {
    let e = refused("chihaya:\n  http:\n    addr: \":1\"\n    read_timeout: \"5 seconds\"\n");
    assert_starts(
        &e,
        "chihaya.http.read_timeout: invalid duration \"5 seconds\"",
    );
    assert!(e.ends_with("at line 4 column 19"), "{e}");
    let e = refused("chihaya:\n  announce_interval: true\n");
    assert_starts(
        &e,
        "chihaya.announce_interval: invalid type: boolean `true`",
    );
    let e = refused("chihaya:\n  announce_interval: \"-1m\"\n");
    assert_starts(
        &e,
        "chihaya.announce_interval: invalid duration \"-1m\": must not be negative",
    );
    let e = refused("chihaya:\n  storage:\n    name: memory\n    config:\n      gc_interval: 3x\n");
    assert_starts(
        &e,
        "chihaya.storage.config.gc_interval: invalid duration \"3x\"",
    );
}

#[test]
fn unknown_keys_are_errors_at_every_level() {
    let cases = [
        ("chihya: {}\n", "unknown field `chihya`, expected `chihaya`"),
        ("chihaya:\n  htp: {}\n", "chihaya: unknown field `htp`"),
        (
            "chihaya:\n  http:\n    adr: \":1\"\n",
            "chihaya.http: unknown field `adr`",
        ),
        (
            "chihaya:\n  udp:\n    adr: \":1\"\n",
            "chihaya.udp: unknown field `adr`",
        ),
        (
            "chihaya:\n  storage:\n    nam: memory\n",
            "chihaya.storage: unknown field `nam`",
        ),
        (
            "chihaya:\n  storage:\n    name: memory\n    config:\n      gc_intervl: 3m\n",
            "chihaya.storage.config: unknown field `gc_intervl`",
        ),
        (
            "chihaya:\n  prehooks:\n    - name: jwt\n      optons: {}\n",
            "chihaya.prehooks[0]: unknown field `optons`",
        ),
    ];
    for (yaml, prefix) in cases {
        assert_starts(&refused(yaml), prefix);
    }
    assert!(refused("chihaya:\n  http:\n    adr: \":1\"\n").contains("at line 3 column 5"));
}

#[test]
fn bad_values_name_the_key() {
    let cases = [
        (
            "chihaya:\n  http:\n    addr: \":1\"\n    max_numwant: lots\n",
            "chihaya.http.max_numwant: invalid type: string \"lots\", expected u32",
        ),
        (
            "chihaya:\n  http:\n    addr: nowhere\n",
            "chihaya.http.addr: invalid address \"nowhere\"",
        ),
        (
            "chihaya:\n  udp:\n    addr: \"0.0.0.0:99999\"\n",
            "chihaya.udp.addr: invalid port in address \"0.0.0.0:99999\"",
        ),
        (
            "chihaya:\n  http:\n    addr: \"no-such-host.invalid:6969\"\n",
            "chihaya.http.addr: cannot resolve host \"no-such-host.invalid\"",
        ),
        (
            "chihaya:\n  storage:\n    name: etcd\n",
            "chihaya.storage.name: unknown variant `etcd`, expected `memory` or `redis`",
        ),
        (
            "chihaya:\n  storage:\n    name: memory\n    config:\n      shard_count: -1\n",
            "chihaya.storage.config.shard_count: invalid type: integer `-1`",
        ),
        (
            "chihaya:\n  http:\n    addr: \":1\"\n    enable_keepalive: maybe\n",
            "chihaya.http.enable_keepalive: invalid type: string \"maybe\", expected a boolean",
        ),
    ];
    for (yaml, prefix) in cases {
        assert_starts(&refused(yaml), prefix);
    }
}

#[test]
fn inconsistent_values_name_the_key() {
    let cases = [
        (
            "chihaya:\n  announce_interval: 0s\n",
            "chihaya.announce_interval: must be greater than zero",
        ),
        (
            "chihaya:\n  announce_interval: 1m\n  min_announce_interval: 2m\n",
            "chihaya.min_announce_interval: must not be greater than announce_interval",
        ),
        (
            "chihaya:\n  http:\n    addr: \"\"\n",
            "chihaya.http: neither addr nor https_addr is set",
        ),
        (
            "chihaya:\n  http:\n    https_addr: \":443\"\n",
            "chihaya.http.https_addr: requires tls_cert_path and tls_key_path",
        ),
        (
            "chihaya:\n  http:\n    addr: \":1\"\n    default_numwant: 200\n",
            "chihaya.http.default_numwant: 200 is greater than max_numwant 100",
        ),
        (
            "chihaya:\n  http:\n    addr: \":1\"\n    announce_routes: [\"announce\"]\n",
            "chihaya.http.announce_routes: route \"announce\" must start with '/'",
        ),
        (
            "chihaya:\n  udp:\n    max_numwant: 5\n",
            "chihaya.udp.addr: is required",
        ),
        (
            "chihaya:\n  storage:\n    name: memory\n    config:\n      shard_count: 0\n",
            "chihaya.storage.config.shard_count: must be at least 1",
        ),
        (
            "chihaya:\n  storage:\n    name: memory\n    config:\n      shard_count: 100000000000\n",
            "chihaya.storage.config.shard_count: must be at most 1048576",
        ),
        (
            "chihaya:\n  http:\n    addr: \":1\"\n    max_connections: 0\n",
            "chihaya.http.max_connections: must be at least 1",
        ),
    ];
    for (yaml, prefix) in cases {
        assert_starts(&refused(yaml), prefix);
    }
}

#[test]
fn bare_port_addresses_listen_everywhere() {
    let c = Config::parse("chihaya:\n  http:\n    addr: \":6969\"\n  udp:\n    addr: \":6970\"\n")
        .unwrap();
    assert_eq!(c.http.unwrap().addr, addr("[::]:6969"));
    assert_eq!(c.udp.unwrap().addr, addr("[::]:6970"));
}

#[test]
fn hostnames_resolve_when_the_config_is_read() {
    let c = Config::parse("chihaya:\n  udp:\n    addr: \"localhost:6969\"\n").unwrap();
    assert_eq!(c.udp.unwrap().addr, addr("127.0.0.1:6969"));
}

#[test]
fn storage_config_may_be_left_out() {
    for yaml in [
        "chihaya:\n  storage:\n    name: memory\n",
        "chihaya:\n  storage:\n    name: memory\n    config:\n",
    ] {
        let StorageConfig::Memory(m) = Config::parse(yaml).unwrap().storage else {
            panic!("expected the memory engine")
        };
        assert_eq!(m.shard_count, 1024, "{yaml:?}");
    }
}

#[test]
fn hooks_keep_name_and_options() {
    let c = Config::parse(
        "chihaya:\n  prehooks:\n    - name: \"client approval\"\n      options:\n        whitelist: [\"OP1011\"]\n    - name: jwt\n  posthooks:\n    - name: accounting\n      options: {flush: 5s}\n",
    )
    .unwrap();
    let names: Vec<&str> = c.prehooks.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["client approval", "jwt"]);
    assert_eq!(
        c.prehooks[0].options["whitelist"][0].as_str(),
        Some("OP1011")
    );
    assert!(c.prehooks[1].options.is_null(), "no options is null");
    assert_eq!(c.posthooks[0].name, "accounting");
    assert_eq!(c.posthooks[0].options["flush"].as_str(), Some("5s"));
}

#[test]
fn empty_private_key_is_allowed() {
    let c = Config::parse("chihaya:\n  udp:\n    addr: \":1\"\n    private_key: \"\"\n").unwrap();
    assert_eq!(c.udp.unwrap().private_key, "");
}

#[test]
fn missing_file_is_named() {
    let e = Config::load(Path::new("/nonexistent/chihaya.yaml"))
        .unwrap_err()
        .to_string();
    assert_starts(&e, "/nonexistent/chihaya.yaml: cannot read config file:");
}

#[test]
fn load_errors_name_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "chihaya:\n  http:\n    adr: \":1\"\n").unwrap();
    let e = Config::load(&path).unwrap_err().to_string();
    assert_starts(
        &e,
        &format!("{}: chihaya.http: unknown field `adr`", path.display()),
    );
}

#[test]
fn effective_config_round_trips_through_yaml() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/example_config.yaml");
    let c = Config::load(&path).unwrap();
    let yaml = c.to_yaml();
    assert!(yaml.starts_with("chihaya:\n"), "{yaml}");
    assert!(yaml.contains("announce_interval: 30m"), "{yaml}");
    assert!(yaml.contains("addr: 0.0.0.0:6969"), "{yaml}");
    let again = Config::parse(&yaml).unwrap();
    assert_eq!(again.to_yaml(), yaml);
    let embedded = Config::embedded().to_yaml();
    assert_eq!(Config::parse(&embedded).unwrap().to_yaml(), embedded);
}

#[test]
fn storage_config_may_come_before_its_name() {
    let c = Config::parse(
        "chihaya:\n  storage:\n    config:\n      shard_count: 8\n    name: memory\n",
    )
    .unwrap();
    let StorageConfig::Memory(m) = c.storage else {
        panic!("expected the memory engine")
    };
    assert_eq!(m.shard_count, 8);
    let e = refused("chihaya:\n  storage:\n    config:\n      shard_cont: 8\n    name: memory\n");
    assert_starts(&e, "chihaya.storage: config: unknown field `shard_cont`");
    assert_starts(
        &refused("chihaya:\n  storage:\n    config: {}\n"),
        "chihaya.storage: missing field `name`",
    );
}

#[test]
fn redis_storage_takes_go_chihayas_keys_and_defaults() {
    let yaml = "chihaya:\n  storage:\n    name: redis\n    config:\n      redis_broker: \"redis://u:p@10.0.0.5:6380/2\"\n      redis_read_timeout: 2s\n      gc_interval: 1m\n";
    let StorageConfig::Redis(r) = Config::parse(yaml).unwrap().storage else {
        panic!("expected the redis engine")
    };
    assert_eq!(r.redis_broker, "redis://u:p@10.0.0.5:6380/2");
    assert_eq!(r.redis_read_timeout, secs(2));
    assert_eq!(r.gc_interval, secs(60));
    assert_eq!(r.redis_write_timeout, secs(15));
    assert_eq!(r.redis_connect_timeout, secs(15));
    assert_eq!(r.peer_lifetime, secs(30 * 60));
    assert_eq!(r.prometheus_reporting_interval, secs(1));
    assert_eq!(r.redis_key_prefix, "chihaya");

    let StorageConfig::Redis(r) = Config::parse("chihaya:\n  storage:\n    name: redis\n")
        .unwrap()
        .storage
    else {
        panic!("expected the redis engine")
    };
    assert_eq!(r.redis_broker, "redis://myRedis@127.0.0.1:6379/0");
}

#[test]
fn redis_storage_mistakes_name_their_key() {
    let base = "chihaya:\n  storage:\n    name: redis\n    config:\n";
    let typo = refused(&format!("{base}      redis_brokr: \"redis://h:1/0\"\n"));
    assert!(typo.contains("unknown field `redis_brokr`"), "{typo}");
    let bad_url = refused(&format!("{base}      redis_broker: \"http://h/\"\n"));
    assert!(
        bad_url.contains("chihaya.storage.config.redis_broker"),
        "{bad_url}"
    );
    let bad_prefix = refused(&format!("{base}      redis_key_prefix: \"a{{b}}\"\n"));
    assert!(
        bad_prefix.contains("chihaya.storage.config.redis_key_prefix"),
        "{bad_prefix}"
    );
    let zero = refused(&format!("{base}      gc_interval: 0s\n"));
    assert!(zero.contains("gc_interval"), "{zero}");
}

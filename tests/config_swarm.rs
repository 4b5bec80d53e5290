//! The `swarm:` section and dist/lbry.yaml: LBRY's settings load, plain
//! BitTorrent is the default, and mistakes name their key.

use std::path::Path;

use chihaya::config::{Config, SwarmConfig};

fn refused(yaml: &str) -> String {
    match Config::parse(yaml) {
        Ok(c) => panic!("accepted {yaml:?} as {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn lbry_example_is_udp_on_9252_with_all_peers_and_port_zero_queries() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/lbry.yaml");
    let c = Config::load(&path).unwrap();
    assert!(c.http.is_none(), "lbry-sdk speaks UDP only");
    let udp = c.udp.expect("udp section");
    assert_eq!(udp.addr, Some("0.0.0.0:9252".parse().unwrap()));
    assert_eq!(
        c.swarm,
        SwarmConfig {
            all_peers: true,
            query_only_below_port: 1,
        }
    );
    assert!(c.swarm.accepts_port(0));
    assert!(c.swarm.selection(0).query_only);
}

#[test]
fn absent_or_empty_swarm_section_is_plain_bittorrent() {
    for yaml in ["chihaya: {}\n", "chihaya:\n  swarm:\n"] {
        let c = Config::parse(yaml).unwrap();
        assert_eq!(c.swarm, SwarmConfig::DEFAULT, "{yaml:?}");
        assert!(!c.swarm.accepts_port(0), "port 0 must stay invalid");
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/example_config.yaml");
    assert_eq!(Config::load(&example).unwrap().swarm, SwarmConfig::DEFAULT);
}

#[test]
fn swarm_mistakes_name_the_key() {
    let cases = [
        (
            "chihaya:\n  swarm:\n    all_peer: true\n",
            "chihaya.swarm: unknown field `all_peer`",
        ),
        (
            "chihaya:\n  swarm:\n    query_only_below_port: 70000\n",
            "chihaya.swarm.query_only_below_port: invalid value",
        ),
        (
            "chihaya:\n  swarm:\n    query_only_below_port: -1\n",
            "chihaya.swarm.query_only_below_port: invalid type",
        ),
        (
            "chihaya:\n  swarm:\n    all_peers: sometimes\n",
            "chihaya.swarm.all_peers: invalid type",
        ),
    ];
    for (yaml, prefix) in cases {
        let err = refused(yaml);
        assert!(
            err.starts_with(prefix),
            "{err:?} should start with {prefix:?}"
        );
    }
}

#[test]
fn effective_config_shows_the_swarm_section() {
    let c = Config::parse("chihaya:\n  swarm:\n    all_peers: true\n").unwrap();
    let again = Config::parse(&c.to_yaml()).unwrap();
    assert_eq!(
        again.swarm,
        SwarmConfig {
            all_peers: true,
            query_only_below_port: 0,
        }
    );
}

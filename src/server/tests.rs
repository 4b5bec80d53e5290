use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;

fn loopback_config() -> Config {
    Config::parse(
        "chihaya:\n  metrics_addr: \"127.0.0.1:0\"\n  http:\n    addr: \"127.0.0.1:0\"\n  udp:\n    addr: \"127.0.0.1:0\"\n",
    )
    .unwrap()
}

#[tokio::test]
async fn stops_cleanly_and_promptly_when_cancelled() {
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(run(
        loopback_config(),
        ConfigSource::Embedded,
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!server.is_finished(), "serves until told to stop");
    shutdown.cancel();
    let result = tokio::time::timeout(SHUTDOWN_GRACE + Duration::from_secs(2), server)
        .await
        .expect("run returns within the grace period")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn refuses_to_run_without_any_frontend() {
    let config = Config::parse("chihaya:\n  announce_interval: 30m\n").unwrap();
    let err = run(config, ConfigSource::Embedded, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("no frontend configured"),
        "{err}"
    );
}

//! The connection to Redis: one server or a cluster, found out at start.
//!
//! Both kinds multiplex every request over shared connections, so concurrent
//! announces (and the per-hash scripts of a scrape) are pipelined on the wire
//! rather than waiting for each other's round trips. Both reconnect by
//! themselves after Redis comes back.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Client, FromRedisValue, Script, ScriptInvocation};

use super::broker::Broker;
use crate::config::RedisConfig;

/// The budget of one request, from the three configured timeouts.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    /// redis-rs has one timeout for a command's round trip; it gets the
    /// write and read budgets together.
    pub response: Duration,
}

impl Timeouts {
    pub fn of(config: &RedisConfig) -> Self {
        Timeouts {
            connect: config.redis_connect_timeout,
            response: config.redis_write_timeout + config.redis_read_timeout,
        }
    }

    /// The most one request may take end to end, a reconnect included: the
    /// bound no announce waits past, whatever redis-rs does inside.
    pub fn request(&self) -> Duration {
        self.connect + self.response
    }
}

#[derive(Clone)]
pub enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Connects, then asks the server whether it is part of a cluster; a
    /// cluster is then reached through a cluster client seeded with this node.
    pub async fn open(broker: &Broker, timeouts: Timeouts) -> Result<Conn, String> {
        let client = Client::open(broker.info.clone()).map_err(|e| e.to_string())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(timeouts.response))
            // One quick retry; the request bound above caps any reconnect anyway.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(Duration::from_millis(200));
        let bounded = tokio::time::timeout(
            timeouts.request(),
            ConnectionManager::new_with_config(client, config),
        );
        let mut single = match bounded.await {
            Ok(conn) => conn.map_err(|e| e.to_string())?,
            Err(_) => return Err(format!("no connection within {:?}", timeouts.request())),
        };
        let info: String = tokio::time::timeout(
            timeouts.request(),
            redis::cmd("INFO").arg("cluster").query_async(&mut single),
        )
        .await
        .map_err(|_| "no reply to INFO in time".to_string())?
        .map_err(|e| e.to_string())?;
        if !info.contains("cluster_enabled:1") {
            return Ok(Conn::Single(single));
        }
        Self::open_cluster(broker, timeouts).await
    }

    async fn open_cluster(broker: &Broker, timeouts: Timeouts) -> Result<Conn, String> {
        let client = ClusterClient::builder(vec![broker.info.clone()])
            .connection_timeout(timeouts.connect)
            .response_timeout(timeouts.response)
            .retries(1)
            .build()
            .map_err(|e| e.to_string())?;
        let conn = tokio::time::timeout(timeouts.request(), client.get_async_connection())
            .await
            .map_err(|_| format!("no cluster connection within {:?}", timeouts.request()))?
            .map_err(|e| e.to_string())?;
        Ok(Conn::Cluster(conn))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    /// Runs a prepared script (EVALSHA, loading it on first use).
    pub async fn run<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> redis::RedisResult<T> {
        match self.clone() {
            Conn::Single(mut c) => invocation.invoke_async(&mut c).await,
            Conn::Cluster(mut c) => invocation.invoke_async(&mut c).await,
        }
    }
}

/// The scripts, hashed once.
pub struct Scripts {
    pub announce: Script,
    pub scrape: Script,
    pub gc: Script,
    pub stats: Script,
    pub top: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            announce: Script::new(include_str!("announce.lua")),
            scrape: Script::new(include_str!("scrape.lua")),
            gc: Script::new(include_str!("gc.lua")),
            stats: Script::new(include_str!("stats.lua")),
            top: Script::new(include_str!("top.lua")),
        }
    }
}

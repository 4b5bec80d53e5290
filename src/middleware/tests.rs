//! The chain as the tracker runs it: order, rejection, additions, posthooks,
//! replacement, and building from config.

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::hook::Hook;
use super::testing;
use super::*;
use crate::config::MemoryConfig;
use crate::protocol::{InfoHash, Peer, PeerId};
use crate::storage::memory::MemoryStorage;

/// Writes what each of its steps saw into a shared log; refuses when told to.
struct Recorder {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
    refuse: bool,
}

impl Recorder {
    fn note(&self, step: &str) {
        self.log
            .lock()
            .unwrap()
            .push(format!("{}.{step}", self.name));
    }

    fn verdict(&self) -> Result<(), ClientError> {
        if self.refuse {
            Err(ClientError::new(format!("refused by {}", self.name)))
        } else {
            Ok(())
        }
    }
}

impl Hook for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }

    fn before_announce(
        &self,
        req: &mut AnnounceRequest,
        _resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        self.note(&format!("before(numwant={})", req.numwant));
        req.numwant += 1;
        self.verdict()
    }

    fn after_announce(
        &self,
        req: &AnnounceRequest,
        resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        self.note(&format!(
            "after(numwant={},peers={})",
            req.numwant,
            resp.peers.len()
        ));
        Ok(())
    }

    fn before_scrape(
        &self,
        _req: &mut ScrapeRequest,
        _resp: &mut ScrapeResponse,
    ) -> Result<(), ClientError> {
        self.note("before_scrape");
        self.verdict()
    }

    fn after_scrape(
        &self,
        _req: &ScrapeRequest,
        _resp: &mut ScrapeResponse,
    ) -> Result<(), ClientError> {
        self.note("after_scrape");
        Ok(())
    }
}

fn recorder(name: &'static str, log: &Arc<Mutex<Vec<String>>>, refuse: bool) -> Arc<dyn Hook> {
    Arc::new(Recorder {
        name,
        log: log.clone(),
        refuse,
    })
}

fn storage() -> Arc<Storage> {
    Arc::new(Storage::Memory(
        MemoryStorage::new(&MemoryConfig::default()),
    ))
}

fn tracker(prehooks: Vec<Arc<dyn Hook>>, posthooks: Vec<Arc<dyn Hook>>) -> Tracker {
    let chain = Chain::from_hooks(&Config::default(), prehooks, posthooks);
    Tracker::with_chain(chain, storage())
}

fn peer(n: u8) -> AnnounceRequest {
    let ip: IpAddr = format!("10.0.0.{n}").parse().unwrap();
    testing::announce_from(PeerId([n; 20]), ip, 6881)
}

fn scrape_of(hash: InfoHash) -> ScrapeRequest {
    ScrapeRequest {
        info_hashes: vec![hash],
        ip: "10.0.0.1".parse().unwrap(),
        params: Default::default(),
    }
}

#[tokio::test]
async fn prehooks_run_in_order_around_the_one_storage_call() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let t = tracker(
        vec![recorder("a", &log, false), recorder("b", &log, false)],
        vec![],
    );
    t.announce(&peer(1)).await.unwrap();
    let resp = t.announce(&peer(2)).await.unwrap();
    assert_eq!(resp.peers.len(), 1, "storage ran: peer 1 is in the swarm");
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log[4..],
        [
            "a.before(numwant=50)",
            "b.before(numwant=51)",
            "a.after(numwant=52,peers=1)",
            "b.after(numwant=52,peers=1)",
        ],
        "each before sees the previous one's change; afters see the swarm's peers"
    );
}

#[tokio::test]
async fn a_refusal_stops_the_chain_and_never_reaches_storage() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let t = tracker(
        vec![recorder("no", &log, true), recorder("later", &log, false)],
        vec![],
    );
    let err = t.announce(&peer(1)).await.unwrap_err();
    assert_eq!(err.client_message(), "refused by no");
    let err = t.scrape(&scrape_of(peer(1).info_hash)).await.unwrap_err();
    assert_eq!(err.client_message(), "refused by no");
    assert_eq!(
        *log.lock().unwrap(),
        ["no.before(numwant=50)", "no.before_scrape"],
        "nothing after the refusal ran"
    );
    // The same storage without hooks: the refused peer was never added.
    let plain = Tracker::new(&Config::default(), t.storage().clone());
    let resp = plain.announce(&peer(2)).await.unwrap();
    assert_eq!(
        (resp.complete, resp.incomplete),
        (0, 1),
        "only peer 2 itself"
    );
    assert!(resp.peers.is_empty(), "{resp:?}");
}

/// Adds a peer and a seeder in `before_announce`, before the swarm answers.
struct Adds;

impl Hook for Adds {
    fn name(&self) -> &'static str {
        "adds"
    }

    fn before_announce(
        &self,
        _req: &mut AnnounceRequest,
        resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        resp.peers.push(Peer {
            id: Some(PeerId([0xaa; 20])),
            ip: "192.0.2.1".parse().unwrap(),
            port: 1,
        });
        resp.complete += 1;
        Ok(())
    }
}

#[tokio::test]
async fn peers_and_counts_a_prehook_adds_are_kept_beside_the_swarms() {
    let t = tracker(vec![Arc::new(Adds)], vec![]);
    t.announce(&peer(1)).await.unwrap();
    let resp = t.announce(&peer(2)).await.unwrap();
    let ips: Vec<IpAddr> = resp.peers.iter().map(|p| p.ip).collect();
    assert_eq!(
        ips,
        [
            "192.0.2.1".parse::<IpAddr>().unwrap(),
            "10.0.0.1".parse().unwrap()
        ]
    );
    assert_eq!((resp.complete, resp.incomplete), (1, 2));
    assert_eq!((resp.interval, resp.min_interval), (1800, 900));
}

/// `announce_into` answers what `announce` answers, peers and all: with no
/// hook (storage hands the peers straight to the sink) and with a hook
/// that adds a peer (the hooks' final list goes to the sink).
#[tokio::test]
async fn announcing_into_a_sink_answers_what_announce_answers() {
    for hooks in [vec![], vec![Arc::new(Adds) as Arc<dyn Hook>]] {
        let hooked = !hooks.is_empty();
        let t = tracker(hooks, vec![]);
        assert_eq!(t.chain().is_bare(), !hooked);
        for n in 1..=3 {
            t.announce(&peer(n)).await.unwrap();
        }
        let expected = t.announce(&peer(4)).await.unwrap();
        let mut peers = Vec::new();
        let summary = t
            .announce_into(&peer(4), SystemTime::now(), &mut peers)
            .await
            .unwrap();
        assert_eq!(summary, expected.summary(), "hooked {hooked}");
        assert_eq!(summary.complete, u32::from(hooked), "hooked {hooked}");
        assert_eq!(summary.incomplete, 4, "hooked {hooked}");
        let sorted = |mut v: Vec<Peer>| {
            v.sort_by_key(|p| (p.ip, p.port));
            v
        };
        assert_eq!(peers.len(), 3 + usize::from(hooked), "hooked {hooked}");
        assert_eq!(sorted(peers), sorted(expected.peers), "hooked {hooked}");
    }
}

/// A posthook that waits for the test's go-ahead, then reports what it saw.
struct Gate {
    go: Mutex<mpsc::Receiver<()>>,
    seen: Mutex<mpsc::Sender<(u32, usize)>>,
}

impl Hook for Gate {
    fn name(&self) -> &'static str {
        "gate"
    }

    fn after_announce(
        &self,
        req: &AnnounceRequest,
        resp: &mut AnnounceResponse,
    ) -> Result<(), ClientError> {
        let _ = self.go.lock().unwrap().recv_timeout(Duration::from_secs(5));
        let _ = self
            .seen
            .lock()
            .unwrap()
            .send((req.numwant, resp.peers.len()));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posthooks_run_later_on_a_copy_and_never_delay_the_reply() {
    let (go, wait) = mpsc::channel();
    let (seen, observed) = mpsc::channel();
    let gate = Arc::new(Gate {
        go: Mutex::new(wait),
        seen: Mutex::new(seen),
    });
    let log = Arc::new(Mutex::new(Vec::new()));
    let t = tracker(vec![recorder("pre", &log, false)], vec![gate]);
    t.announce(&peer(1)).await.unwrap();
    go.send(()).unwrap();
    assert_eq!(
        observed.recv_timeout(Duration::from_secs(5)),
        Ok((51, 0)),
        "the posthook sees the request as the prehooks left it"
    );
    // Now the posthook blocks until told; the reply must not wait for it.
    let asked = Instant::now();
    let resp = tokio::time::timeout(Duration::from_secs(2), t.announce(&peer(2)))
        .await
        .expect("the reply does not wait for a blocked posthook")
        .unwrap();
    assert!(asked.elapsed() < Duration::from_secs(2));
    assert_eq!(resp.peers.len(), 1);
    assert_eq!(observed.try_recv(), Err(mpsc::TryRecvError::Empty));
    go.send(()).unwrap();
    assert_eq!(observed.recv_timeout(Duration::from_secs(5)), Ok((51, 1)));
    assert_eq!(t.posthooks_dropped(), 0);
}

#[tokio::test]
async fn a_replaced_chain_keeps_the_swarms_and_retires_the_old_generation() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let t = tracker(vec![], vec![]);
    t.announce(&peer(1)).await.unwrap();
    let parent = CancellationToken::new();
    let config = Config::parse(
        "chihaya:\n  announce_interval: 10m\n  min_announce_interval: 1m\n  prehooks:\n    - name: \"client approval\"\n      options:\n        blacklist: [\"\\x07\\x07\\x07\\x07\\x07\\x07\"]\n",
    )
    .unwrap();
    let first = Chain::build(&config, &parent, &Default::default())
        .await
        .unwrap();
    let first_generation = first.generation().clone();
    t.replace_chain(first);
    assert_eq!(t.intervals(), (600, 60));
    let refused = testing::announce(PeerId([7; 20]));
    let err = t.announce(&refused).await.unwrap_err();
    assert_eq!(err.client_message(), "unapproved client");
    let resp = t.announce(&peer(2)).await.unwrap();
    assert_eq!(
        resp.peers.len(),
        1,
        "peer 1 from before the swap is still there"
    );
    assert_eq!(resp.interval, 600);

    t.replace_chain(Chain::from_hooks(
        &config,
        vec![recorder("x", &log, false)],
        vec![],
    ));
    assert!(
        first_generation.is_cancelled(),
        "the old generation is told to stop"
    );
    assert!(
        t.announce(&refused).await.is_ok(),
        "the new chain is in force"
    );
    assert!(!parent.is_cancelled());
}

#[tokio::test]
async fn build_errors_name_the_list_the_position_and_the_hook() {
    let build = |yaml: &str| {
        let config = Config::parse(yaml).unwrap();
        async move {
            Chain::build(&config, &CancellationToken::new(), &Default::default())
                .await
                .err()
                .unwrap()
                .0
        }
    };
    let both = build(
        "chihaya:\n  prehooks:\n    - name: \"fixed peers\"\n      options: {fixed_peers: [\"192.0.2.1:1\"]}\n    - name: \"client approval\"\n      options: {whitelist: [\"AAAAAA\"], blacklist: [\"BBBBBB\"]}\n",
    )
    .await;
    assert_eq!(
        both,
        "chihaya.prehooks[1] (client approval): whitelist and blacklist are both set"
    );
    let unknown = build("chihaya:\n  posthooks:\n    - name: \"acounting\"\n").await;
    assert_eq!(
        unknown,
        "chihaya.posthooks[0]: unknown hook \"acounting\"; known hooks: \"client approval\", \"fixed peers\", \"interval variation\", \"jwt\", \"prefer subnet\", \"torrent approval\""
    );
    let key = build(
        "chihaya:\n  prehooks:\n    - name: \"interval variation\"\n      options: {modify_response_probability: 0.5, max_increase_delta: 5, jitter: 1}\n",
    )
    .await;
    assert!(
        key.starts_with("chihaya.prehooks[0] (interval variation): unknown field `jitter`"),
        "{key}"
    );
}

#[tokio::test]
async fn a_failed_build_stops_the_tasks_of_hooks_built_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "").unwrap();
    let config = |then: &str| {
        Config::parse(&format!(
            "chihaya:\n  prehooks:\n    - name: \"torrent approval\"\n      options: {{whitelist: [], file: \"{}\"}}\n{then}",
            list.display()
        ))
        .unwrap()
    };
    let (good, bad) = (config(""), config("    - name: nope\n"));
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let parent = CancellationToken::new();
    let running = Chain::build(&good, &parent, &Default::default())
        .await
        .unwrap();
    assert_eq!(metrics.num_alive_tasks(), before + 1, "the file's poller");
    assert!(
        Chain::build(&bad, &parent, &Default::default())
            .await
            .is_err()
    );
    drop(running);
    let deadline = Instant::now() + Duration::from_secs(5);
    while metrics.num_alive_tasks() > before {
        assert!(
            Instant::now() < deadline,
            "a poller outlived its generation"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!parent.is_cancelled(), "only the generations end");
}

/// The hook entries commented out at the end of dist/example_config.yaml,
/// uncommented: each must build (all but `jwt`, which fetches keys at start).
#[tokio::test]
async fn the_example_configs_commented_hooks_are_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dist/example_config.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let (_, examples) = text
        .split_once("# Each hook is a list entry")
        .expect("the hook examples");
    let yaml: String = examples
        .lines()
        .filter(|l| *l == "#" || l.starts_with("# -") || l.starts_with("#   "))
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or("")))
        .collect();
    let hooks: Vec<crate::config::HookConfig> = serde_yaml_ng::from_str(&yaml).unwrap();
    let names: Vec<&str> = hooks.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "jwt",
            "client approval",
            "interval variation",
            "torrent approval",
            "fixed peers"
        ]
    );
    let generation = CancellationToken::new();
    for hook in hooks.iter().filter(|h| h.name != "jwt") {
        let built =
            registry::build(&hook.name, &hook.options, &generation, &Default::default()).await;
        assert!(built.is_ok(), "{}: {:?}", hook.name, built.err());
    }
}

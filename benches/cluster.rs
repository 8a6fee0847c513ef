//! Replicas, measured: (1) failover, a camera's owner killed (SIGKILL) until the new owner's first
//! analysis, against a hand-over (SIGTERM: the leases released on the way out) in the same run
//! and against the bound the leases promise (`lease_ttl_s` + a lease round + a detection
//! interval); (2) fan-out across replicas, a change made on one replica to 3 × BENCH_CLIENTS
//! dashboards spread over three, against the same dashboards all on the replica that made it.
//!
//! Run: `cargo bench --bench cluster` (or `make bench-cluster`). Options by environment:
//! BENCH_CLIENTS (per replica, default 3000), BENCH_ROUNDS (default 5), BENCH_FAILOVERS
//! (default 3).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{mpsc, Semaphore};

use common::lot::{pklot_camera, ufpr05_spaces};
use common::metrics::metric;
use common::sim::{pklot, SimCamera};
use common::wsclient::{client, pct, raise_fd_limit, round};
use common::{call, env_or, eventually, Server};
use smartpark::storage::embedded_pg::EmbeddedPostgres;

const TTL_S: f64 = 5.0;
const DETECT_INTERVAL_S: f64 = 2.0;

fn replica(node: &str, url: &str, detect: bool) -> Server {
    let ttl = TTL_S.to_string();
    let interval = DETECT_INTERVAL_S.to_string();
    let mut env = vec![
        ("DATABASE_URL", url),
        ("SMARTPARK_CLUSTER__NODE", node),
        ("SMARTPARK_CLUSTER__LEASE_TTL_S", ttl.as_str()),
        ("RUST_LOG", "warn"),
    ];
    if detect {
        env.extend([
            ("SMARTPARK_DETECT__ENABLED", "true"),
            ("SMARTPARK_DETECT__DEVICE", "cpu"),
            ("SMARTPARK_DETECT__THREADS", "1"),
            ("SMARTPARK_DETECT__IMGSZ", "640"),
            ("SMARTPARK_DETECT__INTERVAL_S", interval.as_str()),
        ]);
    }
    Server::start_with(&env)
}

fn start_pg(dir: &std::path::Path) -> EmbeddedPostgres {
    std::thread::scope(|s| s.spawn(|| EmbeddedPostgres::start(dir, None).expect("PostgreSQL")).join()).unwrap()
}

fn now_s() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Camera → owner node, once every camera has one.
async fn owners(http: &reqwest::Client, s: &Server, cameras: usize) -> Option<Vec<(String, String)>> {
    let (st, view) = call(http.get(s.url("/api/cluster"))).await;
    if st != 200 || !view["unowned"].as_array()?.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for r in view["replicas"].as_array()? {
        for c in r["cameras"].as_array()? {
            out.push((c.as_str()?.to_string(), r["node"].as_str()?.to_string()));
        }
    }
    (out.len() == cameras).then_some(out)
}

/// When `camera` was last analysed on `s` (0 when it was not); a fresh client each time, since
/// replicas are killed and started again on the same ports.
async fn analysed_at(s: &Server, camera: &str) -> f64 {
    metric(&common::client(), s, "smartpark_analysis_last_timestamp_seconds")
        .await
        .into_iter()
        .filter(|(l, _)| l.contains(&format!("camera=\"{camera}\"")))
        .map(|(_, v)| v)
        .sum()
}

/// One owner taken away (`kill` or stop) → seconds until the new owner's first analysis.
async fn take_owner_away(replicas: &mut [Server], cameras: usize, kill: bool) -> f64 {
    let owned = eventually(Duration::from_secs(60), "every camera owned", || async {
        owners(&common::client(), &replicas[0], cameras).await
    })
    .await;
    // A camera not owned by the first replica, which answers the questions.
    let (camera, node) = owned.into_iter().find(|(_, n)| n != "r1").expect("a camera on r2 or r3");
    let victim: usize = node[1..].parse::<usize>().unwrap() - 1;
    let at = now_s();
    let t0 = Instant::now();
    if kill {
        replicas[victim].kill();
    } else {
        replicas[victim].stop();
    }
    eventually(Duration::from_secs(60), "the new owner's first analysis", || async {
        for s in replicas.iter().filter(|s| s.pid().is_some()) {
            if analysed_at(s, &camera).await > at {
                return Some(());
            }
        }
        None
    })
    .await;
    let took = t0.elapsed().as_secs_f64();
    replicas[victim].relaunch_on_same_port();
    took
}

async fn failover(url: &str, failovers: usize) -> serde_json::Value {
    let sim = SimCamera::start_frames(&pklot("day-2013-02-24"), 0, 1.0);
    let mut replicas: Vec<Server> = ["r1", "r2", "r3"].iter().map(|n| replica(n, url, true)).collect();
    let http = common::client();
    let xml = ufpr05_spaces();
    let cameras = 3;
    for i in 0..cameras {
        pklot_camera(&http, &replicas[0], &format!("cam{i}"), &sim.url(&format!("/stream?camera={i}")), &xml).await;
    }
    let mut killed = Vec::new();
    let mut stopped = Vec::new();
    for _ in 0..failovers {
        killed.push(take_owner_away(&mut replicas, cameras, true).await);
        stopped.push(take_owner_away(&mut replicas, cameras, false).await);
    }
    killed.sort_by(f64::total_cmp);
    stopped.sort_by(f64::total_cmp);
    let bound = TTL_S + TTL_S / 3.0 + DETECT_INTERVAL_S;
    println!("failover (SIGKILL → first analysis by the new owner): {killed:.2?} s");
    println!("hand-over (SIGTERM, leases released → first analysis): {stopped:.2?} s");
    json!({
        "lease_ttl_s": TTL_S,
        "detect_interval_s": DETECT_INTERVAL_S,
        "bound_s": bound,
        "killed_median_s": (pct(&killed, 0.5) * 100.0).round() / 100.0,
        "killed_max_s": (killed.last().copied().unwrap_or(f64::NAN) * 100.0).round() / 100.0,
        "stopped_median_s": (pct(&stopped, 0.5) * 100.0).round() / 100.0,
        "killed_vs_bound": (pct(&killed, 0.5) / bound * 100.0).round() / 100.0,
        "killed_vs_stopped": (pct(&killed, 0.5) / pct(&stopped, 0.5) * 100.0).round() / 100.0,
    })
}

/// `per[i]` dashboards on replica i, then `rounds` changes made on replica 0: every delivery.
async fn fan_out(replicas: &[Server], per: &[usize], slot: i64, rounds: usize) -> (Vec<f64>, usize) {
    let http = common::client();
    let permits = Arc::new(Semaphore::new(256));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (got_tx, mut got_rx) = mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for (s, n) in replicas.iter().zip(per) {
        let addr = s.base.trim_start_matches("http://").to_string();
        for _ in 0..*n {
            tasks.push(tokio::spawn(client(addr.clone(), slot, ready_tx.clone(), got_tx.clone(), permits.clone())));
        }
    }
    drop(ready_tx);
    let clients: usize = per.iter().sum();
    for _ in 0..clients {
        ready_rx.recv().await.expect("client ready");
    }
    // Every phase starts from a free space, so each round is a change.
    common::set_state(&http, &replicas[0], slot, "free").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    while got_rx.try_recv().is_ok() {}
    let mut all = Vec::new();
    for r in 0..rounds {
        let state = if r % 2 == 0 { "occupied" } else { "free" };
        let got = round(&http, &replicas[0], slot, state, clients, &mut got_rx, Duration::from_secs(30)).await;
        all.extend(got);
    }
    for t in tasks {
        t.abort();
    }
    all.sort_by(f64::total_cmp);
    (all, clients * rounds)
}

async fn fan_out_both(url: &str, per_replica: usize, rounds: usize) -> serde_json::Value {
    let replicas: Vec<Server> = ["f1", "f2", "f3"].iter().map(|n| replica(n, url, false)).collect();
    let http = common::client();
    common::create_camera(&http, &replicas[0], "fan").await;
    let mut slot = 0;
    for i in 0..40 {
        slot = common::create_slot(&http, &replicas[0], "fan", &format!("S{i}")).await;
    }
    common::set_state(&http, &replicas[0], slot, "free").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let total = per_replica * 3;
    let (one, one_expected) = fan_out(&replicas, &[total, 0, 0], slot, rounds).await;
    let (three, three_expected) = fan_out(&replicas, &[per_replica; 3], slot, rounds).await;
    // The failover's replicas deal only their own cameras.
    let (st, _) = call(http.delete(replicas[0].url("/api/cameras/fan"))).await;
    assert_eq!(st, 204);
    let p99 = |v: &[f64], expected: usize| if v.len() == expected { pct(v, 0.99) } else { f64::INFINITY };
    println!(
        "one replica: {} of {one_expected} deliveries, p50 {:.1} ms, p99 {:.1} ms",
        one.len(),
        pct(&one, 0.5),
        p99(&one, one_expected)
    );
    println!(
        "three replicas: {} of {three_expected} deliveries, p50 {:.1} ms, p99 {:.1} ms",
        three.len(),
        pct(&three, 0.5),
        p99(&three, three_expected)
    );
    json!({
        "clients": total,
        "rounds": rounds,
        "one_replica_p50_ms": (pct(&one, 0.5) * 10.0).round() / 10.0,
        "one_replica_p99_ms": (p99(&one, one_expected) * 10.0).round() / 10.0,
        "three_replicas_p50_ms": (pct(&three, 0.5) * 10.0).round() / 10.0,
        "three_replicas_p99_ms": (p99(&three, three_expected) * 10.0).round() / 10.0,
        "p99_ratio_three_vs_one": (p99(&three, three_expected) / p99(&one, one_expected) * 100.0).round() / 100.0,
    })
}

fn main() {
    raise_fd_limit();
    let per_replica: usize = env_or("BENCH_CLIENTS", 3000);
    let rounds: usize = env_or("BENCH_ROUNDS", 5);
    let failovers: usize = env_or("BENCH_FAILOVERS", 3);
    let dir = common::data_dir();
    let pg = start_pg(dir.path());
    let url = pg.url().to_string();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let fan = rt.block_on(fan_out_both(&url, per_replica, rounds));
    let fail = rt.block_on(failover(&url, failovers));
    println!("{}", json!({ "fan_out": fan, "failover": fail }));
}

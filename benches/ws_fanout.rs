//! WebSocket fan-out: how long a slot change takes to reach each of 10,000 connected dashboards.
//! The reference, in the same run, is the same change delivered to a single client.
//!
//! Run: `cargo bench --bench ws_fanout` (or `make bench-ws`). Options by environment:
//! BENCH_CLIENTS (default 10000), BENCH_ROUNDS (default 5).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Semaphore};

use common::cpu_seconds;
use common::wsclient::{client, pct, raise_fd_limit, round};

/// How long a round waits for every client.
const ROUND_DEADLINE: Duration = Duration::from_secs(20);

fn main() {
    raise_fd_limit();
    let clients: usize = std::env::var("BENCH_CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let rounds: usize = std::env::var("BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let server = common::Server::start_with(&[("RUST_LOG", "warn")]);
    // The clients get one thread; the server keeps the rest of the machine.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let http = common::client();
        common::create_camera(&http, &server, "lot").await;
        let mut slot = 0;
        for i in 0..40 {
            slot = common::create_slot(&http, &server, "lot", &format!("S{i}")).await;
        }
        common::set_state(&http, &server, slot, "free").await;
        let permits = Arc::new(Semaphore::new(256));
        let addr = server.base.trim_start_matches("http://").to_string();

        // Reference: one client.
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        let (got_tx, mut got_rx) = mpsc::unbounded_channel();
        let solo = tokio::spawn(client(addr.clone(), slot, ready_tx, got_tx, permits.clone()));
        ready_rx.recv().await.expect("solo client ready");
        let mut reference = Vec::new();
        for r in 0..rounds * 2 {
            let state = if r % 2 == 0 { "occupied" } else { "free" };
            reference.extend(round(&http, &server, slot, state, 1, &mut got_rx, ROUND_DEADLINE).await);
        }
        solo.abort();
        reference.sort_by(f64::total_cmp);

        // The crowd.
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
        let (got_tx, mut got_rx) = mpsc::unbounded_channel();
        let connect_start = Instant::now();
        let tasks: Vec<_> = (0..clients)
            .map(|_| tokio::spawn(client(addr.clone(), slot, ready_tx.clone(), got_tx.clone(), permits.clone())))
            .collect();
        drop(ready_tx);
        for _ in 0..clients {
            ready_rx.recv().await.expect("client ready");
        }
        println!("ws_fanout: {clients} clients connected in {:.1} s", connect_start.elapsed().as_secs_f64());
        let mut all = Vec::new();
        let mut delivered = 0usize;
        let server_cpu = cpu_seconds(server.pid().expect("server pid"));
        let own_cpu = cpu_seconds(std::process::id());
        for r in 0..rounds {
            let state = if r % 2 == 0 { "occupied" } else { "free" };
            let mut got = round(&http, &server, slot, state, clients, &mut got_rx, ROUND_DEADLINE).await;
            delivered += got.len();
            got.sort_by(f64::total_cmp);
            println!(
                "round {r}: {} of {clients} clients, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                got.len(),
                pct(&got, 0.5),
                pct(&got, 0.99),
                got.last().copied().unwrap_or(f64::NAN)
            );
            all.extend(got);
        }
        let server_cpu = cpu_seconds(server.pid().expect("server pid")) - server_cpu;
        let own_cpu = cpu_seconds(std::process::id()) - own_cpu;
        println!("CPU during the rounds: server {server_cpu:.2} s, clients {own_cpu:.2} s");
        all.sort_by(f64::total_cmp);
        let expected = clients * rounds;
        let within = all.iter().filter(|&&l| l <= 250.0).count() as f64 / expected as f64;
        let p99 = if delivered == expected { pct(&all, 0.99) } else { f64::INFINITY };
        println!("reference (1 client): p50 {:.2} ms, p99 {:.2} ms", pct(&reference, 0.5), pct(&reference, 0.99));
        println!(
            "{}",
            serde_json::json!({
                "clients": clients,
                "rounds": rounds,
                "delivered": delivered,
                "expected": expected,
                "p50_ms": (pct(&all, 0.5) * 10.0).round() / 10.0,
                "p99_ms": (p99 * 10.0).round() / 10.0,
                "max_ms": (all.last().copied().unwrap_or(f64::NAN) * 10.0).round() / 10.0,
                "share_within_250ms": (within * 10000.0).round() / 10000.0,
                "reference_p99_ms": (pct(&reference, 0.99) * 100.0).round() / 100.0,
                "ratio_vs_reference": ((p99 / pct(&reference, 0.99)) * 10.0).round() / 10.0,
            })
        );
        for t in tasks {
            t.abort();
        }
    });
}

//! WebSocket fan-out: how long a slot change takes to reach each of 10,000 connected dashboards.
//! The reference, in the same run, is the same change delivered to a single client.
//!
//! Run: `cargo bench --bench ws_fanout` (or `make bench-ws`). Options by environment:
//! BENCH_CLIENTS (default 10000), BENCH_ROUNDS (default 5).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

use common::cpu_seconds;

/// A dashboard client, written against the wire format so that 10,000 of them cost the benchmark
/// little CPU: an HTTP upgrade, then server frames parsed in place (they are never masked).
/// It answers pings, and reports when the watched slot's change arrives.
async fn client(
    addr: String,
    slot: i64,
    ready: mpsc::UnboundedSender<()>,
    got: mpsc::UnboundedSender<(u32, Instant)>,
    permit: Arc<Semaphore>,
) {
    let guard = permit.acquire().await.expect("semaphore");
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    let upgrade = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {}\r\n\r\n",
        common::ADMIN_TOKEN
    );
    stream.write_all(upgrade.as_bytes()).await.expect("upgrade");
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed during upgrade");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    assert!(buf.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&buf[..head_end]));
    buf.drain(..head_end);
    let id_marker = format!("\"slot\":{{\"id\":{slot},");
    let mut snapshot_seen = false;
    let mut guard = Some(guard);
    loop {
        // Every whole frame in the buffer.
        let mut used = 0;
        while let Some((opcode, start, end)) = frame(&buf[used..]) {
            let payload = &buf[used + start..used + end];
            match opcode {
                0x1 => {
                    if !snapshot_seen {
                        assert!(payload.starts_with(b"{\"type\":\"snapshot\""));
                        snapshot_seen = true;
                        guard.take();
                        ready.send(()).ok();
                    } else if payload.starts_with(b"{\"type\":\"slot\"") {
                        let text = std::str::from_utf8(payload).expect("UTF-8 text frame");
                        if text.contains(&id_marker) {
                            let round = u32::from(text.contains("\"state\":\"occupied\""));
                            got.send((round, Instant::now())).ok();
                        }
                    }
                }
                // Ping: answer with an empty masked pong (all-zero mask).
                0x9 => stream.write_all(&[0x8A, 0x80, 0, 0, 0, 0]).await.expect("pong"),
                0x8 => return,
                _ => {}
            }
            used += end;
        }
        buf.drain(..used);
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A whole unmasked frame at the start of `b`: (opcode, payload start, payload end).
fn frame(b: &[u8]) -> Option<(u8, usize, usize)> {
    if b.len() < 2 {
        return None;
    }
    let opcode = b[0] & 0x0F;
    let (len, head) = match b[1] & 0x7F {
        126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
        127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().ok()?) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    (b.len() >= head + len).then_some((opcode, head, head + len))
}

fn raise_fd_limit() {
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

struct Round {
    latencies_ms: Vec<f64>,
}

/// Flips the slot and waits until `expect` clients have seen it (or 20 s pass).
async fn round(
    http: &reqwest::Client,
    server: &common::Server,
    slot: i64,
    state: &str,
    expect: usize,
    got: &mut mpsc::UnboundedReceiver<(u32, Instant)>,
) -> Round {
    let want = u32::from(state == "occupied");
    let t0 = Instant::now();
    common::set_state(http, server, slot, state).await;
    let mut latencies_ms = Vec::with_capacity(expect);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while latencies_ms.len() < expect {
        match tokio::time::timeout_at(deadline, got.recv()).await {
            Ok(Some((r, at))) if r == want => latencies_ms.push(at.duration_since(t0).as_secs_f64() * 1000.0),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    Round { latencies_ms }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p) as usize]
}

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
            reference.extend(round(&http, &server, slot, state, 1, &mut got_rx).await.latencies_ms);
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
            let mut got = round(&http, &server, slot, state, clients, &mut got_rx).await.latencies_ms;
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

//! `GET /api/slots` requests per second for a 40-space lot (the PKLot camera), against `/healthz`
//! on the same server in the same run as the reference: the ratio is what the slot list costs
//! over the server's floor. Then what the guard costs: the same list signed in with an API
//! token, against a second server with `auth.enabled = false` (no guard), measured in turns.
//!
//! Run: `cargo bench --bench api_load` (or `make bench-api`). Options by environment:
//! BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 64).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Outcome {
    requests: u64,
    bytes: u64,
    latencies_us: Vec<u32>,
    elapsed: Duration,
}

/// One keep-alive connection sending the same GET until the deadline, one request in flight.
async fn hammer(addr: String, path: String, token: Option<String>, until: Instant) -> (u64, u64, Vec<u32>) {
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    stream.set_nodelay(true).ok();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\n").into_bytes();
    let mut buf = vec![0u8; 256 * 1024];
    let (mut n, mut bytes, mut lat) = (0u64, 0u64, Vec::new());
    while Instant::now() < until {
        let t = Instant::now();
        stream.write_all(&request).await.expect("write");
        let mut have = 0usize;
        let total = loop {
            let r = stream.read(&mut buf[have..]).await.expect("read");
            assert!(r > 0, "server closed the connection");
            have += r;
            if let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..end]).expect("header");
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
                    })
                    .expect("content-length");
                break end + 4 + len;
            }
        };
        while have < total {
            let r = stream.read(&mut buf[have..]).await.expect("read");
            assert!(r > 0);
            have += r;
        }
        lat.push(t.elapsed().as_micros() as u32);
        n += 1;
        bytes += total as u64;
    }
    (n, bytes, lat)
}

async fn load(addr: &str, path: &str, token: Option<&str>, connections: usize, secs: u64) -> Outcome {
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(hammer(addr.to_string(), path.to_string(), token.map(str::to_string), until)))
        .collect();
    let mut out = Outcome { requests: 0, bytes: 0, latencies_us: Vec::new(), elapsed: Duration::ZERO };
    for t in tasks {
        let (n, b, l) = t.await.expect("load task");
        out.requests += n;
        out.bytes += b;
        out.latencies_us.extend(l);
    }
    out.elapsed = start.elapsed();
    out.latencies_us.sort_unstable();
    out
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p) as usize] as f64 / 1000.0
}

fn report(name: &str, o: &Outcome) -> f64 {
    let rps = o.requests as f64 / o.elapsed.as_secs_f64();
    println!(
        "{name:<14} {rps:>9.0} req/s  {:>6.1} MB/s  p50 {:.2} ms  p99 {:.2} ms  ({} requests, {} B each)",
        o.bytes as f64 / o.elapsed.as_secs_f64() / 1e6,
        pct(&o.latencies_us, 0.5),
        pct(&o.latencies_us, 0.99),
        o.requests,
        o.bytes / o.requests.max(1)
    );
    rps
}

/// The PKLot camera's 40 spaces, a third free.
async fn lot(server: &common::Server) {
    let xml = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/pklot/annotated/sequence1/bounding_boxes/2013-02-22_06_25_00.xml");
    let http = common::client();
    common::create_camera(&http, server, "ufpr05").await;
    let res = http
        .post(server.url("/api/cameras/ufpr05/import-pklot"))
        .header("content-type", "application/xml")
        .body(std::fs::read(&xml).expect("PKLot fixture"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let slots: Vec<serde_json::Value> = http.get(server.url("/api/slots")).send().await.unwrap().json().await.unwrap();
    assert_eq!(slots.len(), 40);
    for (i, s) in slots.iter().enumerate() {
        let state = if i % 3 == 0 { "free" } else { "occupied" };
        common::set_state(&http, server, s["id"].as_i64().unwrap(), state).await;
    }
}

fn main() {
    let secs: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let connections: usize = std::env::var("BENCH_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let server = common::Server::start_with(&[("RUST_LOG", "warn")]);
    let open = common::Server::start_with(&[("RUST_LOG", "warn"), ("SMARTPARK_AUTH__ENABLED", "false")]);
    let token = Some(common::ADMIN_TOKEN);
    // The load generator gets one thread; the server keeps the rest of the machine.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        lot(&server).await;
        lot(&open).await;
        let addr = server.base.trim_start_matches("http://").to_string();
        let open_addr = open.base.trim_start_matches("http://").to_string();
        println!("api_load: {connections} keep-alive connections, {secs} s per endpoint, 40 spaces");
        load(&addr, "/healthz", None, connections, 1).await; // warm-up
        load(&open_addr, "/healthz", None, connections, 1).await;
        let reference = report("/healthz", &load(&addr, "/healthz", None, connections, secs).await);
        let slots = report("/api/slots", &load(&addr, "/api/slots", token, connections, secs).await);
        let filtered =
            report("/api/slots?state=free", &load(&addr, "/api/slots?state=free", token, connections, secs).await);
        // The guard's cost: turns of signed-in and unguarded, each side's best turn counts.
        let (mut guarded, mut unguarded) = (0f64, 0f64);
        for _ in 0..2 {
            guarded = guarded.max(report("token", &load(&addr, "/api/slots", token, connections, secs).await));
            unguarded =
                unguarded.max(report("no guard", &load(&open_addr, "/api/slots", None, connections, secs).await));
        }
        println!(
            "{}",
            serde_json::json!({
                "slots_rps": slots.round(),
                "filtered_rps": filtered.round(),
                "reference_healthz_rps": reference.round(),
                "ratio_vs_reference": (slots / reference * 1000.0).round() / 1000.0,
                "signed_in_rps": guarded.round(),
                "no_guard_rps": unguarded.round(),
                "guard_ratio": (guarded / unguarded * 1000.0).round() / 1000.0,
                "target_rps": 15000,
            })
        );
    });
}

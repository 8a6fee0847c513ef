//! A WebSocket dashboard client written against the wire format, for the fan-out benchmarks:
//! thousands of them cost the benchmark little CPU.

use std::sync::Arc;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

/// A dashboard client, written against the wire format so that 10,000 of them cost the benchmark
/// little CPU: an HTTP upgrade, then server frames parsed in place (they are never masked).
/// It answers pings, and reports when the watched slot's change arrives.
pub async fn client(
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
        super::ADMIN_TOKEN
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

pub fn raise_fd_limit() {
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Flips `slot` to `state` on `server` and collects, in milliseconds from just before the `PUT`,
/// the deliveries of up to `expect` clients that arrive within `deadline`.
pub async fn round(
    http: &reqwest::Client,
    server: &super::Server,
    slot: i64,
    state: &str,
    expect: usize,
    got: &mut mpsc::UnboundedReceiver<(u32, Instant)>,
    deadline: std::time::Duration,
) -> Vec<f64> {
    let want = u32::from(state == "occupied");
    let t0 = Instant::now();
    super::set_state(http, server, slot, state).await;
    let mut latencies_ms = Vec::with_capacity(expect);
    let until = tokio::time::Instant::now() + deadline;
    while latencies_ms.len() < expect {
        match tokio::time::timeout_at(until, got.recv()).await {
            Ok(Some((r, at))) if r == want => latencies_ms.push(at.duration_since(t0).as_secs_f64() * 1000.0),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    latencies_ms
}

pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p) as usize]
}

//! Soak: 20 simulated cameras analysed for 30 minutes with the default detector, space
//! classifier, schedule and archive, one dashboard connected. Every minute it prints the
//! server's resident memory and the analyses done against planned; at the end, memory at the
//! start and end of the measured time, the floor (lowest sample) of its first and last thirds
//! (a leak raises the floor) and the peak, analyses done against planned, and every kind of
//! error seen. The reference in the same run is the server itself in the first third.
//!
//! Each camera is an MJPEG stream from one `sim-camera` replaying the PKLot day
//! (`../shared/fixtures/pklot/day-2013-02-24`, 1280x720) at 1 fps, with the 40 PKLot spaces.
//!
//! Run: `make soak` (or `cargo bench --bench soak`). Options by environment: BENCH_CAMERAS
//! (default 20), SOAK_MINUTES (default 30), SOAK_SAMPLE_S (default 60), BENCH_WARMUP_SECONDS
//! (default 60).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::lot::ReplayedLot;
use common::metrics::{done, failed, metric};
use common::{client, env_or};
use futures_util::StreamExt;
use serde_json::json;

/// The server's resident memory in MiB (`VmRSS`).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// The lowest sample taken between `from` and `to` seconds. Resident memory jumps for a while
/// when every camera's frame changes at once (the models' batches); what stays between the
/// jumps is the floor, and a leak raises the floor.
fn floor(samples: &[(f64, f64)], from: f64, to: f64) -> f64 {
    samples.iter().filter(|(t, _)| *t >= from && *t <= to).map(|(_, m)| *m).fold(f64::NAN, f64::min)
}

fn sum(v: &[(String, f64)], pick: impl Fn(&str) -> bool) -> f64 {
    // + 0.0: an empty sum is -0.0, printed "-0".
    v.iter().filter(|(l, _)| pick(l)).map(|(_, v)| v).sum::<f64>() + 0.0
}

#[tokio::main]
async fn main() {
    let cameras: usize = env_or("BENCH_CAMERAS", 20);
    let minutes: u64 = env_or("SOAK_MINUTES", 30);
    let sample_s: u64 = env_or("SOAK_SAMPLE_S", 60);
    let warmup: u64 = env_or("BENCH_WARMUP_SECONDS", 60);
    let interval = 5.0;
    let lot = ReplayedLot::start();
    let s = ReplayedLot::server(&[]);
    let http = client();
    lot.add_cameras(&http, &s, cameras).await;
    // One dashboard, reading everything, for the whole run.
    let ws_messages = Arc::new(AtomicU64::new(0));
    let ws_closed = Arc::new(AtomicU64::new(0));
    {
        let (mut ws, counted, closed) = (common::ws_connect(&s).await, ws_messages.clone(), ws_closed.clone());
        tokio::spawn(async move {
            while let Some(m) = ws.next().await {
                match m {
                    Ok(_) => counted.fetch_add(1, Ordering::Relaxed),
                    Err(_) => break,
                };
            }
            closed.fetch_add(1, Ordering::Relaxed);
        });
    }
    tokio::time::sleep(Duration::from_secs(warmup)).await;

    let pid = s.pid().expect("server pid");
    let errors = |text: &str| text.lines().filter(|l| l.contains(" ERROR ")).count();
    let (d0, f0, e0) = (done(&http, &s).await, failed(&http, &s).await, errors(&s.log()));
    let rss0 = rss_mib(pid);
    let t0 = Instant::now();
    let mut samples = vec![(0.0, rss0)];
    println!("soak: {cameras} cameras, {minutes} min measured after {warmup} s of warm-up; start RSS {rss0:.1} MiB");
    let total = Duration::from_secs(minutes * 60);
    while t0.elapsed() < total {
        tokio::time::sleep(Duration::from_secs(sample_s).min(total - t0.elapsed())).await;
        let (t, rss) = (t0.elapsed().as_secs_f64(), rss_mib(pid));
        let d: f64 = done(&http, &s).await.iter().map(|(k, v)| v - d0.get(k).copied().unwrap_or(0.0)).sum();
        let planned = cameras as f64 * t / interval;
        println!("  {:>5.0} s: RSS {rss:.1} MiB, analyses {d:.0} of {planned:.0} planned ({:.3})", t, d / planned);
        samples.push((t, rss));
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let d1 = done(&http, &s).await;
    let analyses: f64 = d1.iter().map(|(k, v)| v - d0.get(k).copied().unwrap_or(0.0)).sum();
    let planned = cameras as f64 * elapsed / interval;
    let failed_analyses = failed(&http, &s).await - f0;
    let detect_failures = sum(&metric(&http, &s, "smartpark_detect_failures_total").await, |_| true);
    let http_5xx = sum(&metric(&http, &s, "smartpark_http_requests_total").await, |l| l.contains("status=\"5"));
    let dropped = sum(&metric(&http, &s, "smartpark_captures_dropped_total").await, |_| true);
    let stored = sum(&metric(&http, &s, "smartpark_captures_stored_total").await, |_| true);
    let log_errors = errors(&s.log()) - e0;
    let rss1 = rss_mib(pid);
    let (early, late) = (floor(&samples, 0.0, elapsed / 3.0), floor(&samples, elapsed * 2.0 / 3.0, elapsed));
    let peak = samples.iter().map(|(_, m)| *m).fold(f64::NAN, f64::max);
    println!(
        "memory: start {rss0:.1} MiB, end {rss1:.1} MiB ({:+.1} MiB); floor {early:.1} MiB in the first third, \
         {late:.1} MiB in the last ({:+.1} MiB); peak {peak:.1} MiB",
        rss1 - rss0,
        late - early
    );
    println!("analyses: {analyses:.0} done of {planned:.0} planned, ratio {:.3}", analyses / planned);
    println!(
        "errors: {failed_analyses:.0} failed analyses, {detect_failures:.0} detector failures, {http_5xx:.0} HTTP 5xx, \
         {log_errors} ERROR log lines, {dropped:.0} captures dropped ({stored:.0} stored); dashboard: {} messages, {} disconnects",
        ws_messages.load(Ordering::Relaxed),
        ws_closed.load(Ordering::Relaxed)
    );
    println!(
        "{}",
        json!({
            "cameras": cameras, "seconds": elapsed,
            "rss_start_mib": rss0, "rss_end_mib": rss1, "rss_floor_first_third_mib": early,
            "rss_floor_last_third_mib": late, "rss_peak_mib": peak,
            "rss_samples": samples,
            "analyses_done": analyses, "analyses_planned": planned, "ratio_done_vs_planned": analyses / planned,
            "failed_analyses": failed_analyses, "detect_failures": detect_failures, "http_5xx": http_5xx,
            "log_errors": log_errors, "captures_dropped": dropped, "captures_stored": stored,
            "ws_messages": ws_messages.load(Ordering::Relaxed), "ws_disconnects": ws_closed.load(Ordering::Relaxed),
        })
    );
}

//! Capacity: cameras analysed on this machine with the default detector, space classifier and
//! schedule. Each camera is an MJPEG stream from one `sim-camera` replaying the PKLot day
//! (`../shared/fixtures/pklot/day-2013-02-24`, 1280x720) at 1 fps, with the 40 PKLot spaces;
//! each is to be analysed every `detect.interval_s` (5 s). The reference in the same run is the
//! schedule itself: analyses done (the detector ran, or the motion gate found nothing changed)
//! against analyses planned. Also printed: how old each camera's latest analysis is at the end
//! (the lag), the detector's busy share, and the server's CPU.
//!
//! Run: `make bench-capacity` (or `cargo bench --bench capacity`). Options by environment:
//! BENCH_CAMERAS (default "20,40": one run per count), BENCH_SECONDS (measured, default 120),
//! BENCH_WARMUP_SECONDS (default 20).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::lot::ReplayedLot;
use common::metrics::{done, failed, metric, percentile};
use common::{client, cpu_seconds, env_or};
use serde_json::json;

async fn run(lot: &ReplayedLot, cameras: usize, seconds: u64, warmup: u64) -> serde_json::Value {
    let interval = 5.0;
    let s = ReplayedLot::server(&[("SMARTPARK_ARCHIVE__INTERVAL_S", "0")]);
    let http = client();
    lot.add_cameras(&http, &s, cameras).await;
    tokio::time::sleep(Duration::from_secs(warmup)).await;

    let pid = s.pid().expect("server pid");
    let busy = |v: Vec<(String, f64)>| v.iter().find(|(l, _)| l.is_empty()).map_or(0.0, |(_, v)| *v);
    let (d0, f0, b0) =
        (done(&http, &s).await, failed(&http, &s).await, busy(metric(&http, &s, "smartpark_detect_seconds_sum").await));
    let (c0, t0) = (cpu_seconds(pid), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (c1, elapsed) = (cpu_seconds(pid), t0.elapsed().as_secs_f64());
    let (d1, f1, b1) =
        (done(&http, &s).await, failed(&http, &s).await, busy(metric(&http, &s, "smartpark_detect_seconds_sum").await));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let mut lags: Vec<f64> =
        metric(&http, &s, "smartpark_analysis_last_timestamp_seconds").await.iter().map(|(_, at)| now - at).collect();
    lags.sort_by(f64::total_cmp);

    let analyses: f64 = d1.iter().map(|(k, v)| v - d0.get(k).copied().unwrap_or(0.0)).sum();
    let planned = cameras as f64 * elapsed / interval;
    let cpu = (c1 - c0) / elapsed;
    let detector_busy = (b1 - b0) / elapsed;
    println!(
        "{cameras} cameras, {elapsed:.0} s: analyses done {analyses:.0} of {planned:.1} planned, ratio {:.3}; failed {:.0}",
        analyses / planned,
        f1 - f0
    );
    println!(
        "  latest analysis per camera: median {:.1} s old, max {:.1} s (interval {interval} s)",
        percentile(&lags, 0.5),
        percentile(&lags, 1.0)
    );
    println!("  server CPU {:.2} of the machine's cores; detector busy {:.0}% of the time", cpu, detector_busy * 100.0);
    json!({
        "cameras": cameras, "seconds": elapsed, "analyses_done": analyses, "analyses_planned": planned,
        "ratio_done_vs_planned": analyses / planned, "failed": f1 - f0,
        "lag_median_s": percentile(&lags, 0.5), "lag_max_s": percentile(&lags, 1.0),
        "server_cpu_cores": cpu, "detector_busy_fraction": detector_busy,
    })
}

#[tokio::main]
async fn main() {
    let counts: Vec<usize> = std::env::var("BENCH_CAMERAS")
        .unwrap_or_else(|_| "20,40".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let seconds: u64 = env_or("BENCH_SECONDS", 120);
    let warmup: u64 = env_or("BENCH_WARMUP_SECONDS", 20);
    let lot = ReplayedLot::start();
    let mut results = Vec::new();
    for cameras in counts {
        results.push(run(&lot, cameras, seconds, warmup).await);
    }
    println!("{}", json!({ "runs": results }));
}

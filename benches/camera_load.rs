//! Capture load: the server's CPU while it pulls 100 simulated cameras at 5 fps each (real PKLot
//! frames, 1280x720 JPEGs of about 250 kB). The reference in the same run is the CPU of the
//! simulated cameras sending those same bytes: serving an MJPEG stream is the least work any
//! program can do with them, so the ratio says what capture costs on top of moving the bytes.
//!
//! Run: `cargo bench --bench camera_load` (or `make bench-cameras`). Options by environment:
//! BENCH_CAMERAS (default 100), BENCH_FPS (default 5), BENCH_SECONDS (default 15).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{call, client, cpu_seconds, env_or, eventually, Server};
use serde_json::json;

async fn total_frames(http: &reqwest::Client, s: &Server) -> (u64, usize) {
    let (_, body) = call(http.get(s.url("/api/cameras"))).await;
    let cams = body.as_array().expect("camera list");
    let frames = cams.iter().map(|c| c["frames"].as_u64().unwrap_or(0)).sum();
    let online = cams.iter().filter(|c| c["status"] == "online").count();
    (frames, online)
}

#[tokio::main]
async fn main() {
    let cameras: usize = env_or("BENCH_CAMERAS", 100);
    let fps: f64 = env_or("BENCH_FPS", 5.0);
    let seconds: u64 = env_or("BENCH_SECONDS", 15);
    let frames_dir = common::sim::pklot("day-2013-02-24");
    assert!(frames_dir.is_dir(), "{} is missing", frames_dir.display());

    let mut sim = Command::new(env!("CARGO_BIN_EXE_smartpark"))
        .args(["sim-camera", "--port", "0", "--fps", &fps.to_string(), "--frames"])
        .arg(&frames_dir)
        .env("SMARTPARK_LOG__LEVEL", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("sim-camera");
    let sim_url = {
        use std::io::BufRead;
        let mut line = String::new();
        std::io::BufReader::new(sim.stdout.take().unwrap()).read_line(&mut line).expect("sim-camera output");
        line.trim()
            .strip_prefix("sim-camera serving ")
            .expect("sim-camera address")
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    // Periodic captures off: this measures capture, not the image store.
    let s = Server::start_with(&[("SMARTPARK_ARCHIVE__INTERVAL_S", "0"), ("SMARTPARK_LOG__LEVEL", "warn")]);
    let http = client();
    for i in 0..cameras {
        let (st, body) = call(http.post(s.url("/api/cameras")).json(&json!({
            "id": format!("cam{i:03}"), "name": format!("Camera {i}"),
            "source": {"kind": "mjpeg", "url": format!("{sim_url}?camera={i}")}
        })))
        .await;
        assert_eq!(st, 201, "{body}");
    }
    eventually(Duration::from_secs(60), "every camera online", || async {
        (total_frames(&http, &s).await.1 == cameras).then_some(())
    })
    .await;
    // Let connection set-up settle before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let server_pid = s.pid().expect("server pid");
    let (f0, _) = total_frames(&http, &s).await;
    let (c0, r0, t0) = (cpu_seconds(server_pid), cpu_seconds(sim.id()), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (c1, r1, elapsed) = (cpu_seconds(server_pid), cpu_seconds(sim.id()), t0.elapsed().as_secs_f64());
    let (f1, online) = total_frames(&http, &s).await;

    let frames = (f1 - f0) as f64;
    let server_cpu = (c1 - c0) / elapsed;
    let sim_cpu = (r1 - r0) / elapsed;
    let mean_frame: f64 = {
        let sizes: Vec<u64> =
            std::fs::read_dir(&frames_dir).unwrap().flatten().map(|e| e.metadata().unwrap().len()).collect();
        sizes.iter().sum::<u64>() as f64 / sizes.len() as f64
    };
    println!("cameras: {cameras} at {fps} fps ({online} online at the end), {seconds} s measured");
    println!(
        "frames received: {:.1}/s of {:.1}/s sent ({:.1} MB/s)",
        frames / elapsed,
        cameras as f64 * fps,
        frames * mean_frame / elapsed / 1e6
    );
    println!(
        "server CPU: {:.1}% of one core, {:.1} us per frame",
        server_cpu * 100.0,
        server_cpu * 1e6 / (frames / elapsed)
    );
    println!("reference, the cameras sending the same bytes: {:.1}% of one core", sim_cpu * 100.0);
    println!("ratio server/reference: {:.2}", server_cpu / sim_cpu);
    println!(
        "{}",
        json!({
            "cameras": cameras, "fps": fps, "frames_per_s": frames / elapsed,
            "server_cpu_core_fraction": server_cpu, "server_us_per_frame": server_cpu * 1e6 / (frames / elapsed),
            "reference_cpu_core_fraction": sim_cpu, "ratio_vs_reference": server_cpu / sim_cpu,
        })
    );
    let _ = sim.kill();
    let _ = sim.wait();
}

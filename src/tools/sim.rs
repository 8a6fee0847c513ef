//! A simulated camera: folders of JPEG/PNG frames played in order, looping, either served the
//! way an ESP32-CAM serves them (MJPEG on `/stream`, one JPEG on `/capture`) or posted to a
//! server the way a pushing board does. It is the camera of the demo, the tests and the load
//! benchmark.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::{bail, Context};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream;

use crate::camera::jpeg;

/// The part boundary of the ESP32 CameraWebServer sketch.
pub const ESP32_BOUNDARY: &str = "123456789000000000000987654321";

/// Frames on a clock: every viewer at a given instant sees the same frame, as with a real camera.
#[derive(Clone)]
pub struct Replay {
    frames: Arc<Vec<Bytes>>,
    period: Duration,
    started: Instant,
    /// Open `/stream` connections, answered on `/clients` (tests check a proxy opens only one).
    clients: Arc<AtomicUsize>,
}

/// Counts a stream connection while it is open.
struct Client(Arc<AtomicUsize>);

impl Client {
    fn new(n: &Arc<AtomicUsize>) -> Client {
        n.fetch_add(1, Ordering::SeqCst);
        Client(n.clone())
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Replay {
    pub fn new(frames: Vec<Bytes>, fps: f64) -> anyhow::Result<Replay> {
        if frames.is_empty() {
            bail!("no frames to play");
        }
        if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
            bail!("fps must be above 0 and at most 1000");
        }
        Ok(Replay {
            frames: Arc::new(frames),
            period: Duration::from_secs_f64(1.0 / fps),
            started: Instant::now(),
            clients: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    /// The frame showing now.
    pub fn current(&self) -> Bytes {
        let n = (self.started.elapsed().as_nanos() / self.period.as_nanos().max(1)) as usize;
        self.frames[n % self.frames.len()].clone()
    }

    pub fn frame(&self, i: usize) -> Bytes {
        self.frames[i % self.frames.len()].clone()
    }
}

/// The images of each folder (or of its `frames/` subfolder, as in the PKLot fixtures), sorted by
/// name, folders in the order given. PNGs are encoded to JPEG, as a camera would send them.
pub fn load_frames(dirs: &[PathBuf]) -> anyhow::Result<Vec<Bytes>> {
    let mut frames = Vec::new();
    for dir in dirs {
        let dir = if dir.join("frames").is_dir() { dir.join("frames") } else { dir.clone() };
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| image_kind(p).is_some())
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("{} holds no .jpg, .jpeg or .png frames", dir.display());
        }
        for file in files {
            frames.push(load_frame(&file)?);
        }
    }
    Ok(frames)
}

#[derive(PartialEq)]
enum Kind {
    Jpeg,
    Png,
}

fn image_kind(p: &Path) -> Option<Kind> {
    match p.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => Some(Kind::Jpeg),
        "png" => Some(Kind::Png),
        _ => None,
    }
}

fn load_frame(path: &Path) -> anyhow::Result<Bytes> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let jpeg = if image_kind(path) == Some(Kind::Png) {
        let img = image::load_from_memory_with_format(&data, image::ImageFormat::Png)
            .with_context(|| format!("decoding {}", path.display()))?
            .to_rgb8();
        let mut out = Vec::with_capacity(data.len() / 4);
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .encode_image(&img)
            .with_context(|| format!("encoding {} as JPEG", path.display()))?;
        out
    } else {
        data
    };
    jpeg::inspect(&jpeg).with_context(|| format!("{} is not a usable JPEG", path.display()))?;
    Ok(Bytes::from(jpeg))
}

/// One part as the ESP32 sketch writes it: the delimiter first, then headers and the JPEG.
fn esp32_part(jpeg: &Bytes, since_start: Duration) -> Bytes {
    let head = format!(
        "\r\n--{ESP32_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {}.{:06}\r\n\r\n",
        jpeg.len(),
        since_start.as_secs(),
        since_start.subsec_micros()
    );
    let mut buf = BytesMut::with_capacity(head.len() + jpeg.len());
    buf.put_slice(head.as_bytes());
    buf.put_slice(jpeg);
    buf.freeze()
}

async fn mjpeg(replay: web::Data<Replay>) -> HttpResponse {
    let replay = replay.get_ref().clone();
    let mut ticker = tokio::time::interval(replay.period());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let client = Client::new(&replay.clients);
    let parts = stream::unfold((replay, ticker, client), |(replay, mut ticker, client)| async move {
        ticker.tick().await;
        let part = esp32_part(&replay.current(), replay.started.elapsed());
        Some((Ok::<_, actix_web::Error>(part), (replay, ticker, client)))
    });
    HttpResponse::Ok()
        .content_type(format!("multipart/x-mixed-replace;boundary={ESP32_BOUNDARY}"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .streaming(parts)
}

async fn capture(replay: web::Data<Replay>) -> HttpResponse {
    HttpResponse::Ok().content_type("image/jpeg").body(replay.current())
}

async fn clients(replay: web::Data<Replay>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "stream_clients": replay.clients.load(Ordering::SeqCst) }))
}

/// Serves the replay on `addr` in the current actix system: `/stream` (also `/`) as MJPEG,
/// `/capture` (also `/snapshot.jpg`) as one JPEG, `/clients` as the number of open streams. Returns the bound address and the server.
pub fn serve(replay: Replay, addr: SocketAddr) -> std::io::Result<(SocketAddr, actix_web::dev::Server)> {
    let data = web::Data::new(replay);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/", web::get().to(mjpeg))
            .route("/stream", web::get().to(mjpeg))
            .route("/capture", web::get().to(capture))
            .route("/snapshot.jpg", web::get().to(capture))
            .route("/clients", web::get().to(clients))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(addr)?;
    let bound = server.addrs().first().copied().unwrap_or(addr);
    Ok((bound, server.run()))
}

/// Posts the frames to `url` in order at the replay's rate, as a pushing board does; `passes`
/// bounds how many times the frames are played (None: forever). Failures are reported and the
/// next frame is sent on time, as a board would.
pub async fn push(replay: Replay, url: &str, token: &str, passes: Option<u32>) -> anyhow::Result<(u64, u64)> {
    let client = awc::Client::builder().timeout(Duration::from_secs(10)).finish();
    let mut ticker = tokio::time::interval(replay.period());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let total = passes.map(|p| p as usize * replay.len());
    let (mut sent, mut failed) = (0u64, 0u64);
    let mut i = 0usize;
    while total.is_none_or(|t| i < t) {
        ticker.tick().await;
        let result = client
            .post(url)
            .insert_header(("Authorization", format!("Bearer {token}")))
            .content_type("image/jpeg")
            .send_body(replay.frame(i))
            .await;
        match result {
            Ok(res) if res.status().is_success() => sent += 1,
            Ok(mut res) => {
                failed += 1;
                let body = res.body().await.unwrap_or_default();
                tracing::warn!(status = %res.status(), body = %String::from_utf8_lossy(&body), "frame refused");
            }
            Err(e) => {
                failed += 1;
                tracing::warn!(error = %e, "posting a frame failed");
            }
        }
        i += 1;
    }
    Ok((sent, failed))
}

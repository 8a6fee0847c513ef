//! `CaptureActor`: one per camera, run under an actix `Supervisor`. It pulls the camera's MJPEG
//! stream (or polls its snapshot URL) and publishes every good frame to the camera's feed. Any
//! failure (refused connection, HTTP error, a stall, garbage) ends the attempt; the actor waits
//! out a jittered, growing backoff and stops, and the supervisor starts it again with its fields
//! intact, so each reconnect is a fresh actor context with the failure count carried over.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;

use super::backoff::Backoff;
use super::feed::{CameraFeed, Origin};
use super::jpeg;
use super::mjpeg::MjpegParser;
use super::source::CameraSource;

/// Capture settings shared by every camera.
#[derive(Debug, Clone)]
pub struct CaptureSettings {
    pub stall_timeout: Duration,
    pub connect_timeout: Duration,
    pub backoff: Backoff,
    pub max_frame_bytes: usize,
    pub status_interval: Duration,
    /// Where cameras may be reached.
    pub network: super::network::NetworkPolicy,
}

impl CaptureSettings {
    /// Fails on a `capture.allowed_networks` entry that is not a network.
    pub fn from_config(c: &crate::config::CaptureConfig) -> Result<CaptureSettings, String> {
        Ok(CaptureSettings {
            stall_timeout: Duration::from_secs(c.stall_timeout_s.max(1)),
            connect_timeout: Duration::from_secs(c.connect_timeout_s.max(1)),
            backoff: Backoff {
                initial: Duration::from_millis(c.backoff_initial_ms.max(1)),
                max: Duration::from_millis(c.backoff_max_ms.max(c.backoff_initial_ms).max(1)),
            },
            max_frame_bytes: c.max_frame_bytes,
            status_interval: Duration::from_secs(c.status_interval_s.max(1)),
            network: super::network::NetworkPolicy::new(&c.allowed_networks)?,
        })
    }
}

pub struct CaptureActor {
    feed: Arc<CameraFeed>,
    source: CameraSource,
    settings: CaptureSettings,
    /// Failures in a row without a frame between them; sets the backoff.
    failures: u32,
    retired: bool,
}

/// Stops the capture for good (the camera was deleted or given another source).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

/// How one attempt at the camera ended.
struct Attempt {
    frames: u64,
    error: String,
}

impl CaptureActor {
    pub fn new(feed: Arc<CameraFeed>, source: CameraSource, settings: CaptureSettings) -> CaptureActor {
        CaptureActor { feed, source, settings, failures: 0, retired: false }
    }

    fn attempt_ended(&mut self, attempt: Attempt, ctx: &mut Context<Self>) {
        if attempt.frames > 0 {
            self.failures = 0;
        }
        let delay = self.settings.backoff.delay(self.failures);
        self.failures = self.failures.saturating_add(1);
        tracing::warn!(
            camera = %self.feed.id(),
            error = %attempt.error,
            frames = attempt.frames,
            retry_in_ms = delay.as_millis() as u64,
            "camera capture failed"
        );
        self.feed.failed(attempt.error);
        // Stopping hands the actor back to its supervisor, which restarts it: the next attempt.
        ctx.run_later(delay, |_, ctx| ctx.stop());
    }
}

impl Actor for CaptureActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if self.retired {
            ctx.stop();
            return;
        }
        let (feed, settings) = (self.feed.clone(), self.settings.clone());
        match self.source.clone() {
            CameraSource::Mjpeg { url } => {
                pull_stream(url, feed, settings)
                    .into_actor(self)
                    .map(|a, act, ctx| act.attempt_ended(a, ctx))
                    .spawn(ctx);
            }
            CameraSource::Snapshot { url, interval_ms } => {
                poll_snapshots(url, Duration::from_millis(interval_ms), feed, settings)
                    .into_actor(self)
                    .map(|a, act, ctx| act.attempt_ended(a, ctx))
                    .spawn(ctx);
            }
            CameraSource::Push {} => {}
        }
        ctx.run_interval(self.settings.status_interval, |act, _| act.feed.tick(act.settings.stall_timeout));
    }
}

impl Supervised for CaptureActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        tracing::debug!(camera = %self.feed.id(), failures = self.failures, "reconnecting camera");
    }
}

impl Handler<Retire> for CaptureActor {
    type Result = ();

    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        self.retired = true;
        ctx.stop();
    }
}

fn client(settings: &CaptureSettings) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(std::sync::Arc::new(settings.network.clone()))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// Sends the request and waits for the answer's headers, at most the connect timeout.
async fn open(client: &reqwest::Client, url: &str, settings: &CaptureSettings) -> Result<reqwest::Response, String> {
    // What the status, the log and the API show: never the URL's password.
    let shown = super::source::redact_url(url);
    settings.network.check_url(url).map_err(|e| format!("{shown}: {e}"))?;
    let request = client.get(url).header("Accept", "multipart/x-mixed-replace, image/jpeg").send();
    let res = tokio::time::timeout(settings.connect_timeout, request)
        .await
        .map_err(|_| format!("{shown} did not answer within {} s", settings.connect_timeout.as_secs()))?
        .map_err(|e| format!("connecting to {shown}: {}", error_chain(&e.without_url())))?;
    if !res.status().is_success() {
        return Err(format!("{shown} answered HTTP {}", res.status()));
    }
    Ok(res)
}

/// reqwest's own message leaves out the cause ("error sending request"); the chain says it.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Reads an MJPEG stream until it fails; returns how it ended.
async fn pull_stream(url: String, feed: Arc<CameraFeed>, settings: CaptureSettings) -> Attempt {
    feed.connecting();
    let mut frames = 0u64;
    let error = match read_stream(&url, &feed, &settings, &mut frames).await {
        Ok(()) => "the camera ended the stream".to_string(),
        Err(e) => e,
    };
    Attempt { frames, error }
}

async fn read_stream(url: &str, feed: &CameraFeed, settings: &CaptureSettings, frames: &mut u64) -> Result<(), String> {
    let mut res = open(&client(settings)?, url, settings).await?;
    let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut parser = MjpegParser::new(content_type.as_deref(), settings.max_frame_bytes);
    let mut last_frame = Instant::now();
    loop {
        let chunk = match tokio::time::timeout(settings.stall_timeout, res.chunk()).await {
            Err(_) => return Err(format!("stalled: no data for {} s", settings.stall_timeout.as_secs())),
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(e)) => return Err(format!("reading the stream: {}", error_chain(&e))),
            Ok(Ok(Some(chunk))) => chunk,
        };
        parser.push(&chunk);
        while let Some(part) = parser.next_part().map_err(|e| format!("not an MJPEG stream: {e}"))? {
            // The parser has walked each JPEG to its end already; it hands over the dimensions.
            match part.info {
                Some(info) => {
                    feed.publish(part.data, info, Origin::Pulled);
                    *frames += 1;
                    last_frame = Instant::now();
                }
                None => feed.bad_frame("no frame header (SOF)"),
            }
        }
        // Bytes that never complete a frame are as dead as silence.
        if last_frame.elapsed() >= settings.stall_timeout {
            return Err(format!("stalled: no frame for {} s", settings.stall_timeout.as_secs()));
        }
    }
}

/// Fetches a JPEG every `interval` until a fetch fails; returns how it ended.
async fn poll_snapshots(url: String, interval: Duration, feed: Arc<CameraFeed>, settings: CaptureSettings) -> Attempt {
    feed.connecting();
    let mut frames = 0u64;
    let client = match client(&settings) {
        Ok(c) => c,
        Err(error) => return Attempt { frames, error },
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let result = async {
            let mut res = open(&client, &url, &settings).await?;
            let body = tokio::time::timeout(settings.stall_timeout, async {
                let mut body = bytes::BytesMut::new();
                while let Some(chunk) =
                    res.chunk().await.map_err(|e| format!("reading the snapshot: {}", error_chain(&e)))?
                {
                    if body.len() + chunk.len() > settings.max_frame_bytes {
                        return Err(format!("the snapshot is over {} bytes", settings.max_frame_bytes));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(body.freeze())
            })
            .await
            .map_err(|_| format!("stalled: the snapshot took over {} s", settings.stall_timeout.as_secs()))??;
            let info = jpeg::inspect(&body).map_err(|e| format!("the snapshot is not a usable JPEG: {e}"))?;
            Ok::<_, String>((body, info))
        }
        .await;
        match result {
            Ok((body, info)) => {
                feed.publish(body, info, Origin::Pulled);
                frames += 1;
            }
            Err(error) => return Attempt { frames, error },
        }
    }
}

//! One camera's newest frame and health, shared by whoever produces frames (its capture actor,
//! or the push handler) and whoever reads them (stream viewers, snapshots, the archive, the
//! status list). Frames travel through a `watch` channel: a reader that falls behind sees only
//! the newest frame, so no reader can slow the capture.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;
use utoipa::ToSchema;

use super::id::CameraId;
use super::jpeg::JpegInfo;

/// A JPEG frame as it arrived, with what the server learnt about it.
#[derive(Debug)]
pub struct Frame {
    pub jpeg: Bytes,
    pub width: u16,
    pub height: u16,
    /// When the server received it (board clocks are not trusted).
    pub taken_at: DateTime<Utc>,
    /// 1 for the camera's first frame since the server started, then counting up.
    pub seq: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CameraHealth {
    /// Frames are arriving.
    Online,
    /// The server is opening the camera's stream and has no frame from it yet.
    Connecting,
    /// No frames: the camera failed or has been silent too long; a pulled camera is retried.
    Offline,
}

/// A camera's health and figures, as the API and the dashboards show them.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct CameraLive {
    pub status: CameraHealth,
    /// Frames per second over the last few seconds; 0 when none arrive.
    pub fps: f64,
    pub last_frame_at: Option<DateTime<Utc>>,
    /// Frames received since the server started.
    pub frames: u64,
    /// Frames that arrived damaged and were dropped.
    pub bad_frames: u64,
    /// Connections (or polls) that failed and were retried.
    pub reconnects: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Clients watching the camera's MJPEG stream through the server.
    pub viewers: usize,
    /// Analyses of this camera that failed (the models erred or timed out, or a frame would not
    /// decode) since the server started.
    pub analysis_failures: u64,
    /// Why its latest analysis failed; null once one succeeds again.
    pub analysis_error: Option<String>,
}

impl Default for CameraLive {
    /// A camera this server does not capture.
    fn default() -> Self {
        CameraLive {
            status: CameraHealth::Offline,
            fps: 0.0,
            last_frame_at: None,
            frames: 0,
            bad_frames: 0,
            reconnects: 0,
            last_error: None,
            last_error_at: None,
            viewers: 0,
            analysis_failures: 0,
            analysis_error: None,
        }
    }
}

/// A camera's figures with its id: the body of the `camera` WebSocket event.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct CameraStatus {
    pub id: String,
    #[serde(flatten)]
    pub live: CameraLive,
}

/// How many recent arrival times the frame rate is measured over.
const FPS_WINDOW: usize = 32;

/// How a frame reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The server fetched it (MJPEG stream or snapshot URL).
    Pulled,
    /// The camera posted it.
    Pushed,
}

/// A camera's new frame, for a sink that wants every one (the archive chooses what it keeps).
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct FrameArrived {
    pub camera: String,
    pub frame: Arc<Frame>,
    pub origin: Origin,
}

pub struct CameraFeed {
    id: CameraId,
    frames: watch::Sender<Option<Arc<Frame>>>,
    state: Mutex<State>,
    notify: Box<dyn Fn(CameraStatus) + Send + Sync>,
    sink: Option<actix::Recipient<FrameArrived>>,
    counter: Option<prometheus::IntCounterVec>,
}

struct State {
    health: CameraHealth,
    frames: u64,
    bad_frames: u64,
    reconnects: u64,
    last_frame_at: Option<DateTime<Utc>>,
    last_frame: Option<Instant>,
    recent: VecDeque<Instant>,
    last_error: Option<(String, DateTime<Utc>)>,
    analysis_failures: u64,
    analysis_error: Option<String>,
    /// What was last announced, so figures that drift (fps) are re-announced only when they moved.
    announced: Option<CameraStatus>,
}

impl CameraFeed {
    /// `notify` is called with the new status whenever the camera's health changes.
    pub fn new(
        id: CameraId,
        initial: CameraHealth,
        notify: impl Fn(CameraStatus) + Send + Sync + 'static,
    ) -> CameraFeed {
        CameraFeed {
            id,
            frames: watch::Sender::new(None),
            state: Mutex::new(State {
                health: initial,
                frames: 0,
                bad_frames: 0,
                reconnects: 0,
                last_frame_at: None,
                last_frame: None,
                recent: VecDeque::with_capacity(FPS_WINDOW),
                last_error: None,
                analysis_failures: 0,
                analysis_error: None,
                announced: None,
            }),
            notify: Box::new(notify),
            sink: None,
            counter: None,
        }
    }

    /// Hands every frame to `sink` as well.
    pub fn with_sink(mut self, sink: actix::Recipient<FrameArrived>) -> CameraFeed {
        self.sink = Some(sink);
        self
    }

    pub fn with_counter(mut self, counter: prometheus::IntCounterVec) -> CameraFeed {
        self.counter = Some(counter);
        self
    }

    pub fn id(&self) -> &CameraId {
        &self.id
    }

    /// Makes `jpeg` the camera's newest frame, wakes every reader, and hands it to the sink.
    pub fn publish(&self, jpeg: Bytes, info: JpegInfo, origin: Origin) -> Arc<Frame> {
        let now = Instant::now();
        let (frame, came_online) = {
            let mut s = self.state.lock();
            s.frames += 1;
            s.last_frame = Some(now);
            let taken_at = Utc::now();
            s.last_frame_at = Some(taken_at);
            if s.recent.len() == FPS_WINDOW {
                s.recent.pop_front();
            }
            s.recent.push_back(now);
            let frame = Arc::new(Frame { jpeg, width: info.width, height: info.height, taken_at, seq: s.frames });
            let came_online = s.health != CameraHealth::Online;
            s.health = CameraHealth::Online;
            (frame, came_online)
        };
        self.frames.send_replace(Some(frame.clone()));
        if let Some(sink) = &self.sink {
            sink.do_send(FrameArrived { camera: self.id.to_string(), frame: frame.clone(), origin });
        }
        if let Some(c) = &self.counter {
            let origin = match origin {
                Origin::Pulled => "pulled",
                Origin::Pushed => "pushed",
            };
            c.with_label_values(&[self.id.as_str(), origin]).inc();
        }
        if came_online {
            self.announce();
        }
        frame
    }

    /// A frame arrived damaged and was dropped.
    pub fn bad_frame(&self, why: &str) {
        let mut s = self.state.lock();
        s.bad_frames += 1;
        s.last_error = Some((format!("bad frame: {why}"), Utc::now()));
    }

    /// The capture is (re)opening the camera.
    pub fn connecting(&self) {
        let changed = {
            let mut s = self.state.lock();
            std::mem::replace(&mut s.health, CameraHealth::Connecting) != CameraHealth::Connecting
        };
        if changed {
            self.announce();
        }
    }

    /// The capture failed; it will be retried.
    pub fn failed(&self, error: String) {
        {
            let mut s = self.state.lock();
            s.health = CameraHealth::Offline;
            s.reconnects += 1;
            s.last_error = Some((error, Utc::now()));
        }
        self.announce();
    }

    /// An analysis of this camera failed: the status says why until one succeeds.
    pub fn analysis_failed(&self, why: String) {
        {
            let mut s = self.state.lock();
            s.analysis_failures += 1;
            s.analysis_error = Some(why);
        }
        self.announce();
    }

    /// An analysis of this camera succeeded.
    pub fn analysed(&self) {
        let cleared = self.state.lock().analysis_error.take().is_some();
        if cleared {
            self.announce();
        }
    }

    /// Called every few seconds: marks a camera that has sent nothing for `silence` offline, and
    /// re-announces a status whose figures have moved.
    pub fn tick(&self, silence: Duration) {
        {
            let mut s = self.state.lock();
            if s.health == CameraHealth::Online && s.last_frame.is_none_or(|t| t.elapsed() >= silence) {
                s.health = CameraHealth::Offline;
                s.last_error = Some((format!("no frame for {} s", silence.as_secs()), Utc::now()));
            }
        }
        self.announce();
    }

    pub fn latest(&self) -> Option<Arc<Frame>> {
        self.frames.borrow().clone()
    }

    /// A receiver that always holds the newest frame; `changed()` wakes on each new one and fails
    /// once the camera is gone.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Frame>>> {
        self.frames.subscribe()
    }

    pub fn status(&self) -> CameraStatus {
        let s = self.state.lock();
        self.status_of(&s)
    }

    fn status_of(&self, s: &State) -> CameraStatus {
        let live = CameraLive {
            status: s.health,
            fps: fps(&s.recent),
            last_frame_at: s.last_frame_at,
            frames: s.frames,
            bad_frames: s.bad_frames,
            reconnects: s.reconnects,
            last_error: s.last_error.as_ref().map(|(e, _)| e.clone()),
            last_error_at: s.last_error.as_ref().map(|(_, t)| *t),
            // The watch channel counts its receivers; the feed itself holds none.
            viewers: self.frames.receiver_count(),
            analysis_failures: s.analysis_failures,
            analysis_error: s.analysis_error.clone(),
        };
        CameraStatus { id: self.id.to_string(), live }
    }

    /// Tells listeners the status if it differs from what they last heard.
    fn announce(&self) {
        let status = {
            let mut s = self.state.lock();
            let status = self.status_of(&s);
            if s.announced.as_ref() == Some(&status) {
                return;
            }
            s.announced = Some(status.clone());
            status
        };
        (self.notify)(status);
    }
}

/// Frames per second over the recent arrivals, counting the silence since the last one, so a
/// camera that stops drifts to 0 instead of freezing at its last rate.
fn fps(recent: &VecDeque<Instant>) -> f64 {
    let Some(first) = recent.front().filter(|_| recent.len() >= 2) else { return 0.0 };
    let span = first.elapsed().as_secs_f64();
    if span <= 0.0 {
        return 0.0;
    }
    let rate = (recent.len() - 1) as f64 / span;
    (rate * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> JpegInfo {
        JpegInfo { width: 4, height: 2 }
    }

    #[test]
    fn health_follows_frames_failures_and_silence() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let feed =
            CameraFeed::new("cam".parse().unwrap(), CameraHealth::Connecting, move |s| sink.lock().push(s.live.status));
        let mut rx = feed.subscribe();
        assert!(feed.latest().is_none());
        let f = feed.publish(Bytes::from_static(b"jpeg"), info(), Origin::Pulled);
        assert_eq!((f.seq, f.width), (1, 4));
        assert!(rx.has_changed().unwrap());
        assert_eq!(rx.borrow_and_update().as_ref().map(|f| f.seq), Some(1));
        feed.publish(Bytes::from_static(b"jpeg2"), info(), Origin::Pulled);
        assert_eq!(feed.latest().map(|f| f.seq), Some(2), "readers see the newest frame only");
        feed.failed("connection reset".into());
        let st = feed.status().live;
        assert_eq!((st.status, st.frames, st.reconnects, st.viewers), (CameraHealth::Offline, 2, 1, 1));
        assert_eq!(st.last_error.as_deref(), Some("connection reset"));
        feed.publish(Bytes::from_static(b"jpeg3"), info(), Origin::Pushed);
        feed.tick(Duration::ZERO);
        assert_eq!(feed.status().live.status, CameraHealth::Offline, "silence turns a camera offline");
        let healths: Vec<CameraHealth> = seen.lock().clone();
        assert_eq!(
            healths,
            vec![CameraHealth::Online, CameraHealth::Offline, CameraHealth::Online, CameraHealth::Offline]
        );
    }

    #[test]
    fn frame_rate_counts_recent_arrivals() {
        let now = Instant::now();
        let recent: VecDeque<Instant> = (0..11).map(|i| now - Duration::from_millis(1000 - i * 100)).collect();
        let r = fps(&recent);
        assert!((9.0..=10.5).contains(&r), "{r}");
        assert_eq!(fps(&VecDeque::new()), 0.0);
    }
}

//! `Cameras`: every camera of the lot with its source and device token, and for the cameras this
//! replica owns (the lease loop, `cluster::keeper`, says which) their feed and capture actor.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::capture::{CaptureActor, CaptureSettings, Retire};
use super::feed::{CameraFeed, CameraHealth, CameraStatus, FrameArrived};
use super::id::CameraId;
use super::source::CameraSource;
use crate::live::feed::ChangeFeed;
use crate::metrics::Metrics;

struct Entry {
    /// Only while this replica owns the camera.
    running: Option<Running>,
    source: CameraSource,
    token_sha256: Option<String>,
}

struct Running {
    feed: Arc<CameraFeed>,
    capture: Addr<CaptureActor>,
}

/// Why a pushed frame was not taken here.
#[derive(Debug, PartialEq, Eq)]
pub enum NotTaken {
    /// The server is stopping.
    Stopping,
    NoSuchCamera,
    /// Another replica owns the camera (or nobody does, for a moment).
    NotOwned,
}

pub struct Cameras {
    /// Capture actors share one arbiter: parsing a stream is light, and they stay off the
    /// HTTP workers.
    arbiter: ArbiterHandle,
    settings: CaptureSettings,
    changes: ChangeFeed,
    /// Where every frame goes besides the readers (the archive).
    sink: Recipient<FrameArrived>,
    metrics: Metrics,
    entries: RwLock<HashMap<String, Entry>>,
    /// False once the server is stopping: no frame is taken any more. Held for reading while a
    /// pushed frame is handed on, so that after `stop_taking` returns none is on its way.
    accepting: RwLock<bool>,
}

/// The outcome of checking a device token.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenCheck {
    Valid,
    Invalid,
    NoSuchCamera,
}

/// What a device token is stored as.
pub fn token_digest(token: &str) -> String {
    crate::storage::hex(&Sha256::digest(token.as_bytes()))
}

/// A new device token: 32 random bytes, URL-safe base64.
pub fn new_token() -> String {
    use base64::Engine;
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Cameras {
    pub fn new(
        settings: CaptureSettings,
        changes: ChangeFeed,
        sink: Recipient<FrameArrived>,
        metrics: Metrics,
    ) -> Arc<Cameras> {
        Arc::new(Cameras {
            arbiter: Arbiter::new().handle(),
            settings,
            changes,
            sink,
            metrics,
            entries: RwLock::new(HashMap::new()),
            accepting: RwLock::new(true),
        })
    }

    /// Knows `id` with its source and token; a camera this replica runs switches to the new
    /// source (its feed, and so its viewers, carry over the switch).
    pub fn run(&self, id: &CameraId, source: CameraSource, token_sha256: Option<String>) {
        let mut entries = self.entries.write();
        if let Some(entry) = entries.get_mut(id.as_str()) {
            entry.token_sha256 = token_sha256;
            if entry.source == source {
                return;
            }
            entry.source = source.clone();
            if let Some(running) = &mut entry.running {
                let old = std::mem::replace(&mut running.capture, self.start_capture(running.feed.clone(), source));
                retire(old);
            }
            return;
        }
        entries.insert(id.to_string(), Entry { running: None, source, token_sha256 });
    }

    /// This replica now owns `id`: its capture starts (a pushing camera waits for frames).
    /// False when the camera is unknown here or already running.
    pub fn own(&self, id: &str) -> bool {
        let mut entries = self.entries.write();
        let Some(entry) = entries.get_mut(id) else { return false };
        if entry.running.is_some() || !*self.accepting.read() {
            return false;
        }
        let Ok(camera_id) = id.parse::<CameraId>() else { return false };
        let initial = if entry.source.is_pulled() { CameraHealth::Connecting } else { CameraHealth::Offline };
        let changes = self.changes.clone();
        let feed = Arc::new(
            CameraFeed::new(camera_id, initial, move |status| changes.camera_changed(status))
                .with_sink(self.sink.clone())
                .with_counter(self.metrics.camera_frames.clone()),
        );
        let capture = self.start_capture(feed.clone(), entry.source.clone());
        self.changes.camera_changed(feed.status());
        entry.running = Some(Running { feed, capture });
        self.metrics.cameras_owned.inc();
        true
    }

    /// This replica no longer owns `id`: its capture stops and its viewers' streams end (they
    /// reconnect, through the relay, to the new owner).
    pub fn disown(&self, id: &str) -> bool {
        let running = self.entries.write().get_mut(id).and_then(|e| e.running.take());
        match running {
            Some(r) => {
                retire(r.capture);
                self.metrics.cameras_owned.dec();
                true
            }
            None => false,
        }
    }

    fn start_capture(&self, feed: Arc<CameraFeed>, source: CameraSource) -> Addr<CaptureActor> {
        let settings = self.settings.clone();
        Supervisor::start_in_arbiter(&self.arbiter, move |_| CaptureActor::new(feed, source, settings))
    }

    /// Forgets `id` (deleted); its capture stops and its viewers' streams end.
    pub fn remove(&self, id: &str) {
        if let Some(entry) = self.entries.write().remove(id) {
            if let Some(r) = entry.running {
                retire(r.capture);
                self.metrics.cameras_owned.dec();
            }
            self.changes.camera_removed(id.to_string());
        }
    }

    /// Stops every capture as the server shuts down: the feeds go with their actors, so every
    /// viewer's stream ends instead of holding the graceful stop for its whole timeout.
    /// The first step of a stop: no frame is taken from now on (pulls end, pushes are refused),
    /// while the feeds stay for the analyses still under way.
    pub fn stop_taking(&self) {
        *self.accepting.write() = false;
        for running in self.entries.read().values().filter_map(|e| e.running.as_ref()) {
            running.capture.do_send(Retire);
        }
    }

    pub fn accepting(&self) -> bool {
        *self.accepting.read()
    }

    /// The last step of a stop: the feeds go, and with them the stream viewers' responses end
    /// (they would otherwise hold HTTP's graceful stop for its whole timeout).
    pub fn close(&self) {
        *self.accepting.write() = false;
        for (_, entry) in self.entries.write().drain() {
            if let Some(r) = entry.running {
                retire(r.capture);
            }
        }
    }

    /// Hands a pushed frame to the camera's feed through `take`, unless the server is stopping,
    /// there is no such camera, or this replica does not run it.
    pub fn take<R>(&self, id: &str, take: impl FnOnce(&CameraFeed) -> R) -> Result<R, NotTaken> {
        let accepting = self.accepting.read();
        if !*accepting {
            return Err(NotTaken::Stopping);
        }
        let feed = {
            let entries = self.entries.read();
            let entry = entries.get(id).ok_or(NotTaken::NoSuchCamera)?;
            entry.running.as_ref().ok_or(NotTaken::NotOwned)?.feed.clone()
        };
        Ok(take(&feed))
    }

    /// Where the cameras may be reached (`capture.allowed_networks`, parsed at start).
    pub fn network(&self) -> &super::network::NetworkPolicy {
        &self.settings.network
    }

    /// The feed of a camera this replica runs.
    pub fn feed(&self, id: &str) -> Option<Arc<CameraFeed>> {
        self.entries.read().get(id).and_then(|e| e.running.as_ref()).map(|r| r.feed.clone())
    }

    /// The status of a camera this replica runs.
    pub fn status(&self, id: &str) -> Option<CameraStatus> {
        self.feed(id).map(|f| f.status())
    }

    /// The ids of the cameras this replica runs, without computing their status.
    pub fn ids(&self) -> Vec<String> {
        self.entries.read().iter().filter(|(_, e)| e.running.is_some()).map(|(id, _)| id.clone()).collect()
    }

    /// Whether the camera exists (as far as this replica has heard).
    pub fn knows(&self, id: &str) -> bool {
        self.entries.read().contains_key(id)
    }

    /// Every camera's id, run here or not.
    pub fn known(&self) -> Vec<String> {
        self.entries.read().keys().cloned().collect()
    }

    /// The statuses of the cameras this replica runs.
    pub fn statuses(&self) -> Vec<CameraStatus> {
        let mut all: Vec<CameraStatus> =
            self.entries.read().values().filter_map(|e| e.running.as_ref()).map(|r| r.feed.status()).collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    pub fn source(&self, id: &str) -> Option<CameraSource> {
        self.entries.read().get(id).map(|e| e.source.clone())
    }

    pub fn set_token(&self, id: &str, token_sha256: Option<String>) {
        if let Some(e) = self.entries.write().get_mut(id) {
            e.token_sha256 = token_sha256;
        }
    }

    /// Compares digests in constant time, so the answer's timing says nothing about the token.
    pub fn check_token(&self, id: &str, presented: &str) -> TokenCheck {
        let entries = self.entries.read();
        let Some(entry) = entries.get(id) else { return TokenCheck::NoSuchCamera };
        let Some(expected) = &entry.token_sha256 else { return TokenCheck::Invalid };
        let digest = token_digest(presented);
        if bool::from(digest.as_bytes().ct_eq(expected.as_bytes())) {
            TokenCheck::Valid
        } else {
            TokenCheck::Invalid
        }
    }
}

/// The address is dropped right after the message, so the supervisor sees no one left to
/// restart the actor for.
fn retire(capture: Addr<CaptureActor>) {
    capture.do_send(Retire);
    drop(capture);
}

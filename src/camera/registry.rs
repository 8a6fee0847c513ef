//! `Cameras`: every camera this server captures, with its feed, its capture actor and its device
//! token. It is the one seam that decides which cameras this replica runs; with several
//! replicas, a lease in Postgres would decide it here.

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
    feed: Arc<CameraFeed>,
    capture: Addr<CaptureActor>,
    source: CameraSource,
    token_sha256: Option<String>,
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

    /// Starts capturing `id` from `source`, or switches a running camera to it; the camera's feed
    /// (and so its viewers) carries over a switch.
    pub fn run(&self, id: &CameraId, source: CameraSource, token_sha256: Option<String>) {
        let mut entries = self.entries.write();
        if let Some(entry) = entries.get_mut(id.as_str()) {
            entry.token_sha256 = token_sha256;
            if entry.source == source {
                return;
            }
            let old = std::mem::replace(&mut entry.capture, self.start_capture(entry.feed.clone(), source.clone()));
            entry.source = source;
            retire(old);
            return;
        }
        let initial = if source.is_pulled() { CameraHealth::Connecting } else { CameraHealth::Offline };
        let changes = self.changes.clone();
        let feed = Arc::new(
            CameraFeed::new(id.clone(), initial, move |status| changes.camera_changed(status))
                .with_sink(self.sink.clone())
                .with_counter(self.metrics.camera_frames.clone()),
        );
        let capture = self.start_capture(feed.clone(), source.clone());
        self.changes.camera_changed(feed.status());
        entries.insert(id.to_string(), Entry { feed, capture, source, token_sha256 });
    }

    fn start_capture(&self, feed: Arc<CameraFeed>, source: CameraSource) -> Addr<CaptureActor> {
        let settings = self.settings.clone();
        Supervisor::start_in_arbiter(&self.arbiter, move |_| CaptureActor::new(feed, source, settings))
    }

    /// Stops capturing `id`; its viewers' streams end.
    pub fn remove(&self, id: &str) {
        if let Some(entry) = self.entries.write().remove(id) {
            retire(entry.capture);
            self.changes.camera_removed(id.to_string());
        }
    }

    /// Stops every capture as the server shuts down: the feeds go with their actors, so every
    /// viewer's stream ends instead of holding the graceful stop for its whole timeout.
    /// The first step of a stop: no frame is taken from now on (pulls end, pushes are refused),
    /// while the feeds stay for the analyses still under way.
    pub fn stop_taking(&self) {
        *self.accepting.write() = false;
        for entry in self.entries.read().values() {
            entry.capture.do_send(Retire);
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
            retire(entry.capture);
        }
    }

    /// Hands a pushed frame to the camera's feed through `take`, unless the server is stopping
    /// (Err(true)) or there is no such camera (Err(false)).
    pub fn take<R>(&self, id: &str, take: impl FnOnce(&CameraFeed) -> R) -> Result<R, bool> {
        let accepting = self.accepting.read();
        if !*accepting {
            return Err(true);
        }
        let feed = self.feed(id).ok_or(false)?;
        Ok(take(&feed))
    }

    /// Where the cameras may be reached (`capture.allowed_networks`, parsed at start).
    pub fn network(&self) -> &super::network::NetworkPolicy {
        &self.settings.network
    }

    pub fn feed(&self, id: &str) -> Option<Arc<CameraFeed>> {
        self.entries.read().get(id).map(|e| e.feed.clone())
    }

    pub fn status(&self, id: &str) -> Option<CameraStatus> {
        self.entries.read().get(id).map(|e| e.feed.status())
    }

    /// The running cameras' ids, without computing their status.
    pub fn ids(&self) -> Vec<String> {
        self.entries.read().keys().cloned().collect()
    }

    pub fn statuses(&self) -> Vec<CameraStatus> {
        let mut all: Vec<CameraStatus> = self.entries.read().values().map(|e| e.feed.status()).collect();
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

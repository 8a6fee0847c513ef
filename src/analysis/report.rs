//! What the analyses tell the spaces: the changes they confirmed, each at the time of the frame
//! that first showed it with that frame kept as evidence, and `unknown` for a camera unseen.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::camera_loop::Change;
use super::watch::Watching;
use crate::archive::{Keep, Reason};
use crate::camera::feed::Frame;
use crate::parking::slot::Observe;
use crate::parking::state::{SlotState, Source};

/// How long a change waits for its evidence capture's id before it is recorded without one
/// (the image store or the database may be out; the change must not wait for them).
const EVIDENCE_WAIT: Duration = Duration::from_secs(3);

/// A camera that delivers no usable frame cannot say what its spaces hold: they become
/// `unknown`, stored as the camera's own change with the reason. Stays stay open (a dark
/// camera does not mean the cars left); the next analyses give the spaces their states again.
pub(super) async fn forget(s: &Watching, id: &str, unseen_for: Duration) {
    let reason = format!("camera {id}: no usable frame for {} s", unseen_for.as_secs());
    let known: Vec<_> = s
        .board
        .list()
        .into_iter()
        .filter(|v| v.camera_id == id && v.held.unwrap_or(v.state) != SlotState::Unknown)
        .collect();
    if known.is_empty() {
        return;
    }
    // Only the camera's owner speaks for it.
    let Some(fence) = s.cluster.fence(id) else { return };
    tracing::warn!(
        camera = id,
        spaces = known.len(),
        seconds = unseen_for.as_secs(),
        "camera unseen: its spaces are unknown until frames return"
    );
    for view in known {
        let observation = Observe {
            state: SlotState::Unknown,
            source: Source::Camera,
            confidence: None,
            at: Utc::now(),
            capture_id: None,
            actor: None,
            reason: Some(reason.clone()),
            reported_time: false,
            fence: Some(fence.clone()),
        };
        if let Err(e) = s.lot.observe(view.id, observation).await {
            tracing::warn!(camera = id, slot = view.id, error = %e, "an unseen space could not be marked unknown");
        }
    }
}

/// Tells the slot actors what the analyses agreed on: each change at the time of the frame that
/// first showed it, with that frame kept as its evidence.
pub(super) async fn record(s: &Watching, id: &str, changes: Vec<Change<Arc<Frame>>>) {
    // The lease the camera was owned by when its analyses agreed; the database refuses the
    // changes if it has passed to another replica since.
    let Some(fence) = s.cluster.fence(id) else {
        tracing::info!(camera = id, "not recorded: this replica no longer owns the camera");
        return;
    };
    let mut kept: HashMap<u64, Option<i64>> = HashMap::new();
    for change in changes {
        let frame = &change.first;
        let capture_id = match kept.get(&frame.seq) {
            Some(c) => *c,
            None => {
                let c = keep_evidence(s, id, frame, &fence).await;
                kept.insert(frame.seq, c);
                c
            }
        };
        let observation = Observe {
            state: if change.occupied { SlotState::Occupied } else { SlotState::Free },
            source: Source::Detector,
            confidence: Some(change.confidence),
            at: frame.taken_at,
            capture_id,
            actor: None,
            reason: None,
            reported_time: false,
            fence: Some(fence.clone()),
        };
        if let Err(e) = s.lot.observe(change.slot, observation).await {
            tracing::warn!(camera = id, slot = change.slot, error = %e, "the detector's change was not recorded");
        }
    }
}

/// Keeps the frame behind a change and waits (briefly) for its capture id.
async fn keep_evidence(
    s: &Watching,
    camera: &str,
    frame: &Arc<Frame>,
    fence: &crate::storage::leases::Fence,
) -> Option<i64> {
    let (reply, rx) = tokio::sync::oneshot::channel();
    s.archive.do_send(Keep {
        camera: camera.to_string(),
        frame: frame.clone(),
        reason: Reason::Evidence,
        stored: Some(reply),
        fence: Some(fence.clone()),
    });
    match tokio::time::timeout(EVIDENCE_WAIT, rx).await {
        Ok(Ok(id)) => Some(id),
        _ => {
            tracing::warn!(camera, "the evidence capture is not stored yet; the change is recorded without it");
            None
        }
    }
}

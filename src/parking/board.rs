//! The latest published view of every space. Each slot actor writes its own entry after it has
//! stored a change, so a read that follows a write sees it; readers (HTTP handlers, the
//! Broadcaster's snapshots) never wait on an actor.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use serde::Serialize;

use super::state::{SlotState, SlotView};

#[derive(Default)]
pub struct SlotBoard {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    slots: BTreeMap<i64, Arc<SlotView>>,
    /// `GET /api/slots` without filters, serialised once per change rather than once per request.
    all_json: Option<Bytes>,
}

/// Free, occupied and unknown spaces of a set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub total: usize,
    pub free: usize,
    pub occupied: usize,
    pub unknown: usize,
    /// Occupied share of the spaces whose state is known (0 when none is).
    pub occupancy: f64,
}

impl Counts {
    fn add(&mut self, state: SlotState) {
        self.total += 1;
        match state {
            SlotState::Free => self.free += 1,
            SlotState::Occupied => self.occupied += 1,
            SlotState::Unknown => self.unknown += 1,
        }
        let known = self.free + self.occupied;
        self.occupancy = if known == 0 { 0.0 } else { self.occupied as f64 / known as f64 };
    }
}

impl SlotBoard {
    pub fn put(&self, view: Arc<SlotView>) {
        let mut inner = self.inner.write();
        inner.slots.insert(view.id, view);
        inner.all_json = None;
    }

    pub fn remove(&self, id: i64) {
        let mut inner = self.inner.write();
        inner.slots.remove(&id);
        inner.all_json = None;
    }

    pub fn get(&self, id: i64) -> Option<Arc<SlotView>> {
        self.inner.read().slots.get(&id).cloned()
    }

    /// Every space, ordered by id.
    pub fn list(&self) -> Vec<Arc<SlotView>> {
        self.inner.read().slots.values().cloned().collect()
    }

    pub fn all_json(&self) -> Bytes {
        if let Some(b) = &self.inner.read().all_json {
            return b.clone();
        }
        let mut inner = self.inner.write();
        if let Some(b) = &inner.all_json {
            return b.clone();
        }
        let views: Vec<&SlotView> = inner.slots.values().map(|v| v.as_ref()).collect();
        let bytes = Bytes::from(serde_json::to_vec(&views).unwrap_or_else(|_| b"[]".to_vec()));
        inner.all_json = Some(bytes.clone());
        bytes
    }

    /// Counts for the whole lot and for each camera.
    pub fn counts(&self) -> (Counts, BTreeMap<String, Counts>) {
        let inner = self.inner.read();
        let mut all = Counts::default();
        let mut per_camera: BTreeMap<String, Counts> = BTreeMap::new();
        for v in inner.slots.values() {
            all.add(v.state);
            match per_camera.get_mut(&v.camera_id) {
                Some(c) => c.add(v.state),
                None => {
                    let mut c = Counts::default();
                    c.add(v.state);
                    per_camera.insert(v.camera_id.clone(), c);
                }
            }
        }
        (all, per_camera)
    }
}

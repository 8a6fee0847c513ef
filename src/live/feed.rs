//! The one seam through which a stored change is published: to this replica's Broadcaster and,
//! for what only this replica knows (its cameras' health), to the other replicas. A space's
//! change reaches them by the NOTIFY its own transaction sends (`storage::slots`).

use std::sync::Arc;

use actix::Addr;

use super::broadcaster::{Broadcaster, CameraChanged, CameraRemoved, SlotChanged, SlotRemoved};
use crate::camera::feed::CameraStatus;
use crate::cluster::Cluster;
use crate::parking::state::SlotView;

#[derive(Clone)]
pub struct ChangeFeed {
    broadcaster: Addr<Broadcaster>,
    cluster: Arc<Cluster>,
}

impl ChangeFeed {
    pub fn new(broadcaster: Addr<Broadcaster>, cluster: Arc<Cluster>) -> ChangeFeed {
        ChangeFeed { broadcaster, cluster }
    }

    pub fn slot_changed(&self, view: Arc<SlotView>, sessions_moved: bool) {
        self.broadcaster.do_send(SlotChanged { view, sessions_moved });
    }

    pub fn slot_removed(&self, id: i64) {
        self.broadcaster.do_send(SlotRemoved(id));
    }

    /// A camera this replica runs changed health (or its figures are due again).
    pub fn camera_changed(&self, status: CameraStatus) {
        self.cluster.publish_status(status.clone());
        self.broadcaster.do_send(CameraChanged(status));
    }

    /// Another replica's camera, as its owner reported it: for this replica's dashboards only.
    pub fn camera_reported(&self, status: CameraStatus) {
        self.broadcaster.do_send(CameraChanged(status));
    }

    pub fn camera_removed(&self, id: String) {
        self.broadcaster.do_send(CameraRemoved(id));
    }
}

//! The one seam through which a stored change is published. Today it reaches this replica's
//! Broadcaster; with several replicas it is where Postgres NOTIFY (and MQTT, webhooks) plug in.

use std::sync::Arc;

use actix::Addr;

use super::broadcaster::{Broadcaster, CameraChanged, CameraRemoved, SlotChanged, SlotRemoved};
use crate::camera::feed::CameraStatus;
use crate::parking::state::SlotView;

#[derive(Clone)]
pub struct ChangeFeed {
    broadcaster: Addr<Broadcaster>,
}

impl ChangeFeed {
    pub fn new(broadcaster: Addr<Broadcaster>) -> ChangeFeed {
        ChangeFeed { broadcaster }
    }

    pub fn slot_changed(&self, view: Arc<SlotView>, sessions_moved: bool) {
        self.broadcaster.do_send(SlotChanged { view, sessions_moved });
    }

    pub fn slot_removed(&self, id: i64) {
        self.broadcaster.do_send(SlotRemoved(id));
    }

    pub fn camera_changed(&self, status: CameraStatus) {
        self.broadcaster.do_send(CameraChanged(status));
    }

    pub fn camera_removed(&self, id: String) {
        self.broadcaster.do_send(CameraRemoved(id));
    }
}

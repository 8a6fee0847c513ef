//! One actor that turns slot changes into WebSocket messages: each change is serialised once and
//! handed to every connection's outbox.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use bytestring::ByteString;

use super::events::{Event, Stats};
use super::outbox::{Key, Outbox};
use crate::camera::feed::CameraStatus;
use crate::metrics::Metrics;
use crate::parking::board::SlotBoard;
use crate::parking::state::SlotView;
use crate::storage::db::Db;
use crate::storage::stats::DayFigures;

/// Today's figures are re-read this often even when nothing changes (the day rolls over).
const DAY_REFRESH: Duration = Duration::from_secs(60);
/// How often the database is asked whether it is there, so dashboards can say when it is not.
const DATABASE_PROBE: Duration = Duration::from_secs(2);
/// After a change, today's figures are re-read at most this often.
const DAY_REFRESH_AFTER_CHANGE: Duration = Duration::from_millis(500);

/// Tells a connection that its outbox has messages.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// Tells a connection to close with a WebSocket close code: the server is going away (1001), so
/// the dashboard reconnects at once rather than after the shutdown grace period; or the client
/// stopped reading (1008), so it reconnects and starts again from a snapshot.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub code: u16,
    pub reason: &'static str,
}

#[derive(Message)]
#[rtype(result = "u64")]
pub struct Subscribe {
    pub outbox: Arc<Outbox>,
    pub wake: Recipient<Wake>,
    pub disconnect: Recipient<Disconnect>,
}

/// Closes every connection; the server is stopping.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseAll;

#[derive(Message)]
#[rtype(result = "()")]
pub struct Unsubscribe(pub u64);

/// A space's new view, published by its slot actor after the change is stored.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SlotChanged {
    pub view: Arc<SlotView>,
    /// A parking session opened or closed, so today's figures moved.
    pub sessions_moved: bool,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct SlotRemoved(pub i64);

#[derive(Message)]
#[rtype(result = "()")]
pub struct CameraChanged(pub CameraStatus);

#[derive(Message)]
#[rtype(result = "()")]
pub struct CameraRemoved(pub String);

struct Client {
    outbox: Arc<Outbox>,
    wake: Recipient<Wake>,
    disconnect: Recipient<Disconnect>,
}

pub struct Broadcaster {
    board: Arc<SlotBoard>,
    db: Db,
    metrics: Metrics,
    clients: HashMap<u64, Client>,
    /// The newest status of every camera, for snapshots.
    cameras: BTreeMap<String, CameraStatus>,
    next_client: u64,
    seq: u64,
    day: DayFigures,
    day_refresh_scheduled: bool,
    /// A connection whose messages have waited this long is dropped from the fan-out.
    stall_limit: Duration,
    database_up: bool,
    probing: bool,
}

impl Broadcaster {
    pub fn new(board: Arc<SlotBoard>, db: Db, metrics: Metrics, stall_limit: Duration) -> Broadcaster {
        Broadcaster {
            board,
            db,
            metrics,
            clients: HashMap::new(),
            cameras: BTreeMap::new(),
            next_client: 0,
            seq: 0,
            day: DayFigures::default(),
            day_refresh_scheduled: false,
            stall_limit,
            database_up: true,
            probing: false,
        }
    }

    fn stats(&self) -> Stats {
        Stats::new(&self.board, self.day)
    }

    fn publish(&mut self, key: Key, frame: ByteString) {
        self.seq += 1;
        for client in self.clients.values() {
            if client.outbox.put(key.clone(), self.seq, frame.clone()) {
                client.wake.do_send(Wake);
            }
        }
        self.metrics.ws_messages.inc_by(self.clients.len() as u64);
    }

    fn publish_stats(&mut self) {
        let stats = self.stats();
        self.publish(Key::Stats, Event::Stats { stats: &stats }.to_frame());
    }

    fn refresh_day(&mut self, ctx: &mut Context<Self>) {
        let db = self.db.clone();
        async move {
            let mut conn = db.conn().await?;
            crate::storage::stats::today(&mut conn).await
        }
        .into_actor(self)
        .map(|result, act, _ctx| match result {
            Ok(day) => {
                if day != act.day {
                    act.day = day;
                    act.publish_stats();
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read today's parking figures"),
        })
        .spawn(ctx);
    }

    fn probe_database(&mut self, ctx: &mut Context<Self>) {
        if self.probing {
            return;
        }
        self.probing = true;
        let db = self.db.clone();
        async move { tokio::time::timeout(DATABASE_PROBE, db.ping()).await.is_ok_and(|r| r.is_ok()) }
            .into_actor(self)
            .map(|up, act, ctx| {
                act.probing = false;
                if up != act.database_up {
                    act.database_up = up;
                    act.publish(Key::Database, Event::Database { up }.to_frame());
                    if up {
                        act.refresh_day(ctx);
                    }
                }
            })
            .spawn(ctx);
    }

    /// Connections whose outbox has not been taken for too long are written off: their socket
    /// is not being read. They are told to close, which takes effect if they ever read again.
    fn drop_stalled(&mut self) {
        let limit = self.stall_limit;
        let stalled: Vec<u64> = self
            .clients
            .iter()
            .filter(|(_, c)| c.outbox.stalled_since().is_some_and(|t| t.elapsed() >= limit))
            .map(|(id, _)| *id)
            .collect();
        for id in &stalled {
            if let Some(client) = self.clients.remove(id) {
                client.disconnect.do_send(Disconnect { code: 1008, reason: "not reading; reconnect for a snapshot" });
            }
        }
        if !stalled.is_empty() {
            tracing::warn!(dropped = stalled.len(), "dropped WebSocket clients that stopped reading");
            self.metrics.ws_clients.set(self.clients.len() as i64);
        }
    }
}

impl Actor for Broadcaster {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.refresh_day(ctx);
        ctx.run_interval(DAY_REFRESH, |act, ctx| act.refresh_day(ctx));
        ctx.run_interval(Duration::from_secs(1), |act, _| act.drop_stalled());
        ctx.run_interval(DATABASE_PROBE, |act, ctx| act.probe_database(ctx));
    }
}

impl Handler<Subscribe> for Broadcaster {
    type Result = u64;

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) -> u64 {
        let id = self.next_client;
        self.next_client += 1;
        let views = self.board.list();
        let stats = self.stats();
        let snapshot = Event::Snapshot {
            slots: views.iter().map(|v| v.as_ref()).collect(),
            stats: &stats,
            cameras: self.cameras.values().collect(),
            database_up: self.database_up,
        }
        .to_frame();
        self.seq += 1;
        if msg.outbox.reset(self.seq, snapshot) {
            msg.wake.do_send(Wake);
        }
        self.clients.insert(id, Client { outbox: msg.outbox, wake: msg.wake, disconnect: msg.disconnect });
        self.metrics.ws_clients.set(self.clients.len() as i64);
        id
    }
}

impl Handler<Unsubscribe> for Broadcaster {
    type Result = ();

    fn handle(&mut self, msg: Unsubscribe, _: &mut Context<Self>) {
        self.clients.remove(&msg.0);
        self.metrics.ws_clients.set(self.clients.len() as i64);
    }
}

impl Handler<SlotChanged> for Broadcaster {
    type Result = ();

    fn handle(&mut self, msg: SlotChanged, ctx: &mut Context<Self>) {
        self.publish(Key::Slot(msg.view.id), Event::Slot { slot: &msg.view }.to_frame());
        self.publish_stats();
        if msg.sessions_moved && !self.day_refresh_scheduled {
            self.day_refresh_scheduled = true;
            ctx.run_later(DAY_REFRESH_AFTER_CHANGE, |act, ctx| {
                act.day_refresh_scheduled = false;
                act.refresh_day(ctx);
            });
        }
    }
}

impl Handler<SlotRemoved> for Broadcaster {
    type Result = ();

    fn handle(&mut self, msg: SlotRemoved, _: &mut Context<Self>) {
        self.publish(Key::Slot(msg.0), Event::SlotRemoved { id: msg.0 }.to_frame());
        self.publish_stats();
    }
}

impl Handler<CameraChanged> for Broadcaster {
    type Result = ();

    fn handle(&mut self, msg: CameraChanged, _: &mut Context<Self>) {
        let status = msg.0;
        self.publish(Key::Camera(status.id.clone()), Event::Camera { camera: &status }.to_frame());
        self.cameras.insert(status.id.clone(), status);
    }
}

impl Handler<CameraRemoved> for Broadcaster {
    type Result = ();

    fn handle(&mut self, msg: CameraRemoved, _: &mut Context<Self>) {
        self.cameras.remove(&msg.0);
        self.publish(Key::Camera(msg.0.clone()), Event::CameraRemoved { id: &msg.0 }.to_frame());
    }
}

impl Handler<CloseAll> for Broadcaster {
    type Result = ();

    fn handle(&mut self, _: CloseAll, _: &mut Context<Self>) {
        for (_, client) in self.clients.drain() {
            client.disconnect.do_send(Disconnect { code: 1001, reason: "server shutting down" });
        }
        self.metrics.ws_clients.set(0);
    }
}

//! One `WsSession` actor per dashboard connection on `/ws`. actix-web-actors is deprecated
//! upstream in favour of actix-ws; it stays inside this file so a move stays local.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web_actors::ws;

use super::broadcaster::{Broadcaster, Disconnect, Subscribe, Unsubscribe, Wake};
use super::outbox::Outbox;
use crate::auth::service::Revoked;
use crate::auth::{Auth, Principal};
use tokio::sync::broadcast;

pub struct WsSession {
    broadcaster: Addr<Broadcaster>,
    /// Who opened it, checked again when its access is revoked in this process, so a removed
    /// user's, a signed-out session's or a revoked token's dashboard closes at once.
    caller: Option<(actix_web::web::Data<Auth>, Principal)>,
    outbox: Arc<Outbox>,
    subscription: Option<u64>,
    last_heard: Instant,
    heartbeat: Duration,
    timeout: Duration,
}

impl WsSession {
    pub fn new(broadcaster: Addr<Broadcaster>, heartbeat: Duration, timeout: Duration) -> WsSession {
        WsSession {
            broadcaster,
            caller: None,
            outbox: Arc::new(Outbox::default()),
            subscription: None,
            last_heard: Instant::now(),
            heartbeat,
            timeout,
        }
    }
}

impl Actor for WsSession {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some((auth, _)) = &self.caller {
            let revocations = futures_util::stream::unfold(auth.revocations(), |mut rx| async move {
                match rx.recv().await {
                    Ok(what) => Some((Recheck(Some(what)), rx)),
                    // Missed some: check, whatever they were.
                    Err(broadcast::error::RecvError::Lagged(_)) => Some((Recheck(None), rx)),
                    Err(broadcast::error::RecvError::Closed) => None,
                }
            });
            ctx.add_stream(revocations);
        }
        ctx.run_interval(self.heartbeat, |act, ctx| {
            if act.last_heard.elapsed() > act.timeout {
                tracing::info!("WebSocket client timed out");
                ctx.stop();
                return;
            }
            ctx.ping(b"");
        });
        let subscribe = Subscribe {
            outbox: self.outbox.clone(),
            wake: ctx.address().recipient(),
            disconnect: ctx.address().recipient(),
        };
        self.broadcaster
            .send(subscribe)
            .into_actor(self)
            .map(|res, act, ctx| match res {
                Ok(id) => act.subscription = Some(id),
                Err(_) => ctx.stop(),
            })
            .wait(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(id) = self.subscription.take() {
            self.broadcaster.do_send(Unsubscribe(id));
        }
    }
}

impl Handler<Wake> for WsSession {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Self::Context) {
        for frame in self.outbox.drain() {
            ctx.text(frame);
        }
    }
}

impl Handler<Disconnect> for WsSession {
    type Result = ();

    fn handle(&mut self, msg: Disconnect, ctx: &mut Self::Context) {
        // The Broadcaster has already forgotten this connection.
        self.subscription = None;
        ctx.close(Some(ws::CloseReason { code: ws::CloseCode::from(msg.code), description: Some(msg.reason.into()) }));
        ctx.stop();
    }
}

impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for WsSession {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                tracing::info!(error = %e, "WebSocket protocol error");
                ctx.stop();
                return;
            }
        };
        self.last_heard = Instant::now();
        match msg {
            ws::Message::Ping(p) => ctx.pong(&p),
            ws::Message::Close(reason) => {
                ctx.close(reason);
                ctx.stop();
            }
            // Dashboards only listen; anything they send counts as a sign of life.
            ws::Message::Pong(_) | ws::Message::Text(_) | ws::Message::Binary(_) | ws::Message::Nop => {}
            ws::Message::Continuation(_) => {}
        }
    }
}

/// Some access was revoked (`None`: unknown which): is this connection's caller still allowed?
pub struct Recheck(Option<Revoked>);

impl StreamHandler<Recheck> for WsSession {
    fn handle(&mut self, Recheck(what): Recheck, ctx: &mut Self::Context) {
        let Some((auth, who)) = self.caller.clone() else { return };
        if what.is_some_and(|w| !w.concerns(&who)) {
            return;
        }
        let Some(credential) = who.credential() else { return };
        let check = async move { auth.authenticate(&credential).await }.into_actor(self).map(|still, _, ctx| {
            // A database that cannot answer now is not a reason to drop a dashboard.
            if let Ok(None) = still {
                ctx.close(Some(ws::CloseReason {
                    code: ws::CloseCode::Policy,
                    description: Some("signed out".into()),
                }));
                ctx.stop();
            }
        });
        // Spawned, not awaited: messages keep flowing while the database answers.
        ctx.spawn(check);
    }

    // The revocation stream ending (the server stopping) must not stop the session.
    fn finished(&mut self, _: &mut Self::Context) {}
}

/// Settings every connection is started with.
#[derive(Clone)]
pub struct WsSettings {
    pub broadcaster: Addr<Broadcaster>,
    pub heartbeat: Duration,
    pub timeout: Duration,
}

/// `GET /ws`: upgrades to a WebSocket whose first message is a snapshot of the lot.
pub async fn route(
    req: actix_web::HttpRequest,
    stream: actix_web::web::Payload,
    settings: actix_web::web::Data<WsSettings>,
    auth: actix_web::web::Data<Auth>,
    who: Principal,
) -> Result<actix_web::HttpResponse, actix_web::Error> {
    let mut session = WsSession::new(settings.broadcaster.clone(), settings.heartbeat, settings.timeout);
    session.caller = who.credential().is_some().then_some((auth, who));
    ws::start(session, &req, stream)
}

//! Live updates: the Broadcaster fans each stored change out to every WebSocket connection.

pub mod broadcaster;
pub mod events;
pub mod feed;
pub mod outbox;
pub mod ws;

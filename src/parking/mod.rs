//! Spaces: their geometry, their state and the parking sessions that happen in them. A slot
//! actor is the one writer of its space; what it stores it publishes through `live`.

pub mod board;
pub mod geometry;
pub mod lot;
pub mod pklot;
pub mod slot;
pub mod state;

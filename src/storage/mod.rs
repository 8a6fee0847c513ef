//! Everything that is kept: PostgreSQL through diesel_async, and the private server it can run.

pub mod accounts;
pub mod audit;
pub mod cameras;
pub mod captures;
pub mod db;
pub mod embedded_pg;
pub mod images;
pub mod leases;
pub mod models;
pub mod notify;
pub mod schema;
pub mod sessions;
pub mod slots;
pub mod stats;

/// Lower-case hexadecimal, as digests are stored.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

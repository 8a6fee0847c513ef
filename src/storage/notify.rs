//! Postgres `NOTIFY` on the one channel the replicas listen to. A payload names what changed
//! (ids only); a listener reads the rows back. Sent inside a transaction it is delivered only
//! if that commits.

use diesel::sql_types::Text;
use diesel_async::RunQueryDsl;

/// The channel every replica listens on.
pub const CHANNEL: &str = "smartpark";

pub async fn send(conn: &mut diesel_async::AsyncPgConnection, payload: &str) -> Result<(), diesel::result::Error> {
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(CHANNEL)
        .bind::<Text, _>(payload)
        .execute(conn)
        .await?;
    Ok(())
}

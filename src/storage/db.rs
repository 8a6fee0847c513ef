//! The connection pool and the migrations.

use std::time::Duration;

use diesel::sql_types::Integer;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

pub type Conn = Object<AsyncPgConnection>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database unavailable: {0}")]
    Unavailable(#[from] PoolError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("migrations failed: {0}")]
    Migration(String),
    #[error("database pool: {0}")]
    Build(String),
}

impl DbError {
    /// The database cannot be reached (or the connection broke): the same request may succeed
    /// later, unlike a refused or failed query.
    pub fn is_outage(&self) -> bool {
        use diesel::result::{DatabaseErrorKind as K, Error as E};
        matches!(
            self,
            DbError::Unavailable(_)
                | DbError::Query(
                    E::DatabaseError(K::ClosedConnection | K::UnableToSendCommand, _) | E::BrokenTransactionManager
                )
        )
    }

    /// The constraint (unique, foreign key, check) the database refused a row with, if that is
    /// what failed: the client asked for a conflict. Other database errors are the server's.
    pub fn violation(&self) -> Option<&diesel::result::DatabaseErrorKind> {
        use diesel::result::DatabaseErrorKind as K;
        match self {
            DbError::Query(diesel::result::Error::DatabaseError(
                kind @ (K::UniqueViolation | K::ForeignKeyViolation | K::CheckViolation),
                _,
            )) => Some(kind),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct Db {
    pool: Pool<AsyncPgConnection>,
}

impl Db {
    pub fn connect(url: &str, size: usize, acquire_timeout: Duration) -> Result<Db, DbError> {
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
        let pool = Pool::builder(manager)
            .max_size(size.max(1))
            .wait_timeout(Some(acquire_timeout))
            .create_timeout(Some(acquire_timeout))
            .recycle_timeout(Some(acquire_timeout))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::Build(e.to_string()))?;
        Ok(Db { pool })
    }

    pub async fn conn(&self) -> Result<Conn, DbError> {
        Ok(self.pool.get().await?)
    }

    /// One round trip to the server: what `/readyz` asks.
    pub async fn ping(&self) -> Result<(), DbError> {
        let mut conn = self.conn().await?;
        diesel::select(diesel::dsl::sql::<Integer>("1")).execute(&mut conn).await?;
        Ok(())
    }

    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.pool.status();
        (s.size, s.available)
    }
}

/// The advisory lock replicas take around migrations, so that several starting together apply
/// them once (the others wait, then find nothing pending).
const MIGRATION_LOCK: i64 = 0x736d_6172_7470_6b01;

/// Applies pending migrations and returns their names. Synchronous: call it outside any async
/// runtime (diesel_async's wrapper makes its own), as the start-up does before the server runs.
pub fn run_migrations(url: &str) -> Result<Vec<String>, DbError> {
    use diesel::Connection;
    let fail = |e: &dyn std::fmt::Display| DbError::Migration(e.to_string());
    let mut conn = diesel_async::async_connection_wrapper::AsyncConnectionWrapper::<AsyncPgConnection>::establish(url)
        .map_err(|e| fail(&e))?;
    let lock = diesel::sql_query("SELECT pg_advisory_lock($1)").bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK);
    diesel::RunQueryDsl::execute(lock, &mut conn).map_err(|e| fail(&e))?;
    let applied = conn.run_pending_migrations(MIGRATIONS).map(|v| v.iter().map(|v| v.to_string()).collect());
    // The lock also ends with the connection; unlocking says so sooner.
    let unlock =
        diesel::sql_query("SELECT pg_advisory_unlock($1)").bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK);
    let _ = diesel::RunQueryDsl::execute(unlock, &mut conn);
    applied.map_err(|e| fail(&e))
}

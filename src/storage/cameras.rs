//! Camera rows.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use super::db::{Conn, DbError};
use super::models::{CameraRow, NewCamera};
use super::schema::{cameras, slots};

pub async fn list(conn: &mut Conn) -> Result<Vec<(CameraRow, i64)>, DbError> {
    let rows: Vec<CameraRow> = cameras::table.select(CameraRow::as_select()).order(cameras::id).load(conn).await?;
    let counts: Vec<(String, i64)> = slots::table
        .group_by(slots::camera_id)
        .select((slots::camera_id, diesel::dsl::count_star()))
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|c| {
            let n = counts.iter().find(|(id, _)| *id == c.id).map_or(0, |(_, n)| *n);
            (c, n)
        })
        .collect())
}

pub async fn get(conn: &mut Conn, id: &str) -> Result<Option<CameraRow>, DbError> {
    Ok(cameras::table.find(id).select(CameraRow::as_select()).first(conn).await.optional()?)
}

pub async fn insert(conn: &mut Conn, new: &NewCamera<'_>) -> Result<CameraRow, DbError> {
    Ok(diesel::insert_into(cameras::table).values(new).returning(CameraRow::as_returning()).get_result(conn).await?)
}

/// Creates the camera or gives it the declared name and source (and token, when one is declared);
/// used for cameras declared in the config.
pub async fn upsert(conn: &mut Conn, new: &NewCamera<'_>) -> Result<CameraRow, DbError> {
    let token = cameras::token_sha256.eq(diesel::dsl::sql::<diesel::sql_types::Nullable<diesel::sql_types::Text>>(
        "COALESCE(excluded.token_sha256, cameras.token_sha256)",
    ));
    Ok(diesel::insert_into(cameras::table)
        .values(new)
        .on_conflict(cameras::id)
        .do_update()
        .set((
            cameras::name.eq(new.name),
            cameras::source.eq(&new.source),
            token,
            cameras::updated_at.eq(diesel::dsl::now),
        ))
        .returning(CameraRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn update(
    conn: &mut Conn,
    id: &str,
    name: &str,
    source: &serde_json::Value,
) -> Result<Option<CameraRow>, DbError> {
    Ok(diesel::update(cameras::table.find(id))
        .set((cameras::name.eq(name), cameras::source.eq(source), cameras::updated_at.eq(diesel::dsl::now)))
        .returning(CameraRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

pub async fn set_token(conn: &mut Conn, id: &str, token_sha256: &str) -> Result<bool, DbError> {
    Ok(diesel::update(cameras::table.find(id))
        .set((cameras::token_sha256.eq(token_sha256), cameras::updated_at.eq(diesel::dsl::now)))
        .execute(conn)
        .await?
        > 0)
}

/// Deletes the camera with its slots, their sessions and events (by cascade).
pub async fn delete(conn: &mut Conn, id: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(cameras::table.find(id)).execute(conn).await? > 0)
}

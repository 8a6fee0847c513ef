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

pub async fn insert(conn: &mut Conn, id: &str, name: &str) -> Result<CameraRow, DbError> {
    Ok(diesel::insert_into(cameras::table)
        .values(NewCamera { id, name })
        .returning(CameraRow::as_returning())
        .get_result(conn)
        .await?)
}

/// Creates the camera or gives it the declared name; used for cameras declared in the config.
pub async fn upsert(conn: &mut Conn, id: &str, name: &str) -> Result<CameraRow, DbError> {
    Ok(diesel::insert_into(cameras::table)
        .values(NewCamera { id, name })
        .on_conflict(cameras::id)
        .do_update()
        .set((cameras::name.eq(name), cameras::updated_at.eq(diesel::dsl::now)))
        .returning(CameraRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn rename(conn: &mut Conn, id: &str, name: &str) -> Result<Option<CameraRow>, DbError> {
    Ok(diesel::update(cameras::table.find(id))
        .set((cameras::name.eq(name), cameras::updated_at.eq(diesel::dsl::now)))
        .returning(CameraRow::as_returning())
        .get_result(conn)
        .await
        .optional()?)
}

/// Deletes the camera with its slots, their sessions and events (by cascade).
pub async fn delete(conn: &mut Conn, id: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(cameras::table.find(id)).execute(conn).await? > 0)
}

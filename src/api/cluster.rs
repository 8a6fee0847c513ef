//! `GET /api/cluster`: the live replicas and what each owns, read from the leases.

use actix_web::{web, HttpResponse};

use super::error::ApiError;
use super::AppState;
use crate::cluster::Replica;
use crate::storage::leases::{self, JOBS_LEASE};

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ClusterView {
    /// The replica that answered.
    pub node: String,
    pub replicas: Vec<Replica>,
    /// Cameras no replica owns right now (changing hands).
    pub unowned: Vec<String>,
}

#[utoipa::path(get, path = "/api/cluster", tag = "cluster", responses((status = 200, body = ClusterView)))]
pub async fn view(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut conn = state.db.conn().await?;
    let replicas = leases::replicas(&mut conn).await?;
    let rows = leases::leases(&mut conn).await?;
    let cameras: Vec<String> = crate::storage::cameras::list(&mut conn).await?.into_iter().map(|(c, _)| c.id).collect();
    let owner_of = |camera: &str| {
        let name = leases::camera_lease(camera);
        rows.iter().find(|r| r.name == name && r.live).and_then(|r| r.holder.clone())
    };
    let jobs = rows.iter().find(|r| r.name == JOBS_LEASE && r.live).and_then(|r| r.holder.clone());
    let view = ClusterView {
        node: state.cluster.node.clone(),
        replicas: replicas
            .into_iter()
            .map(|r| Replica {
                cameras: cameras.iter().filter(|c| owner_of(c).as_deref() == Some(r.node.as_str())).cloned().collect(),
                jobs: jobs.as_deref() == Some(r.node.as_str()),
                node: r.node,
                advertise_url: r.advertise_url,
                started_at: r.started_at,
                leaving: r.leaving,
            })
            .collect(),
        unowned: cameras.iter().filter(|c| owner_of(c).is_none()).cloned().collect(),
    };
    Ok(HttpResponse::Ok().json(view))
}

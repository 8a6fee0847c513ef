//! Every route, with the access it needs, in one table: the router is built from it and the
//! guard reads it, so a route cannot exist without a declared access. Anything the guard finds
//! no declaration for is refused.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::{web, Route};

use super::{
    audit, auth, cameras, captures, cluster, frames, health, openapi, overlay, sessions, slots, stats, streams, tokens,
    users,
};
use crate::auth::{Access, Role};
use crate::live::ws;

const VIEWER: Access = Access::Role(Role::Viewer);
const OPERATOR: Access = Access::Role(Role::Operator);
const ADMIN: Access = Access::Role(Role::Admin);

/// The routes anyone may call without signing in. A unit test holds the table to this list, so
/// making a route public is a visible decision.
pub const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/dashboard/{path:.*}"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/auth/login"),
];

/// One method on one path.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    handler: fn() -> Route,
}

fn ep(method: Method, path: &'static str, access: Access, handler: fn() -> Route) -> Endpoint {
    Endpoint { method, path, access, handler }
}

pub fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        ep(M::GET, "/", Access::Public, || web::to(crate::dashboard::index)),
        ep(M::GET, "/dashboard/{path:.*}", Access::Public, || web::to(crate::dashboard::file)),
        ep(M::GET, "/healthz", Access::Public, || web::to(health::healthz)),
        ep(M::GET, "/readyz", Access::Public, || web::to(health::readyz)),
        ep(M::GET, "/metrics", VIEWER, || web::to(health::metrics)),
        ep(M::GET, "/api/openapi.json", VIEWER, || web::to(openapi::openapi_json)),
        ep(M::POST, "/api/auth/login", Access::Public, || web::to(auth::login)),
        ep(M::POST, "/api/auth/logout", VIEWER, || web::to(auth::logout)),
        ep(M::GET, "/api/auth/me", VIEWER, || web::to(auth::me)),
        ep(M::GET, "/api/users", ADMIN, || web::to(users::list)),
        ep(M::POST, "/api/users", ADMIN, || web::to(users::create)),
        ep(M::PATCH, "/api/users/{username}", ADMIN, || web::to(users::edit)),
        ep(M::DELETE, "/api/users/{username}", ADMIN, || web::to(users::remove)),
        ep(M::GET, "/api/tokens", ADMIN, || web::to(tokens::list)),
        ep(M::POST, "/api/tokens", ADMIN, || web::to(tokens::create)),
        ep(M::DELETE, "/api/tokens/{id}", ADMIN, || web::to(tokens::remove)),
        ep(M::GET, "/api/audit", ADMIN, || web::to(audit::list)),
        ep(M::GET, "/api/cluster", ADMIN, || web::to(cluster::view)),
        ep(M::GET, "/api/slots", VIEWER, || web::to(slots::list)),
        ep(M::GET, "/api/slots/{id}", VIEWER, || web::to(slots::get_one)),
        ep(M::PUT, "/api/slots/{id}", OPERATOR, || web::to(slots::set_state)),
        ep(M::PATCH, "/api/slots/{id}", ADMIN, || web::to(slots::edit)),
        ep(M::DELETE, "/api/slots/{id}", ADMIN, || web::to(slots::remove)),
        ep(M::POST, "/api/slots/{id}/observations", OPERATOR, || web::to(slots::observe)),
        ep(M::GET, "/api/cameras", VIEWER, || web::to(cameras::list)),
        ep(M::POST, "/api/cameras", ADMIN, || web::to(cameras::create)),
        ep(M::GET, "/api/cameras/{id}", VIEWER, || web::to(cameras::get_one)),
        ep(M::PUT, "/api/cameras/{id}", ADMIN, || web::to(cameras::update)),
        ep(M::DELETE, "/api/cameras/{id}", ADMIN, || web::to(cameras::remove)),
        ep(M::GET, "/api/cameras/{id}/slots", VIEWER, || web::to(cameras::list_slots)),
        ep(M::POST, "/api/cameras/{id}/slots", ADMIN, || web::to(cameras::create_slot)),
        ep(M::POST, "/api/cameras/{id}/import-pklot", ADMIN, || web::to(cameras::import_pklot)),
        ep(M::POST, "/api/cameras/{id}/token", ADMIN, || web::to(cameras::new_device_token)),
        ep(M::POST, "/api/cameras/{id}/frames", Access::Device, || web::to(frames::push)),
        ep(M::POST, "/api/capture", Access::Device, || web::to(frames::capture)),
        ep(M::GET, "/api/cameras/{id}/stream", VIEWER, || web::to(streams::stream)),
        ep(M::GET, "/api/cameras/{id}/snapshot.jpg", VIEWER, || web::to(streams::snapshot)),
        ep(M::GET, "/api/cameras/{id}/overlay.jpg", VIEWER, || web::to(overlay::overlay)),
        ep(M::GET, "/api/captures", VIEWER, || web::to(captures::list)),
        ep(M::GET, "/api/captures/{id}", VIEWER, || web::to(captures::get_one)),
        ep(M::GET, "/api/captures/{id}/image", VIEWER, || web::to(captures::image)),
        ep(M::GET, "/api/sessions", VIEWER, || web::to(sessions::list)),
        ep(M::GET, "/api/sessions/{id}", VIEWER, || web::to(sessions::get_one)),
        ep(M::GET, "/api/stats", VIEWER, || web::to(stats::current)),
        ep(M::GET, "/api/stats/history", VIEWER, || web::to(stats::history)),
        ep(M::GET, "/ws", VIEWER, || web::to(ws::route)),
    ]
}

/// What the guard needs to know of a request's route.
pub enum Declared {
    Access(Access),
    /// A known path, another method: its resource answers 405.
    OtherMethod,
    /// Registered outside this table: refused.
    Undeclared,
}

pub struct Policy {
    by_path: HashMap<&'static str, Vec<(Method, Access)>>,
}

impl Policy {
    pub fn lookup(&self, pattern: &str, method: &Method) -> Declared {
        match self.by_path.get(pattern) {
            Some(methods) => match methods.iter().find(|(m, _)| m == method) {
                Some((_, access)) => Declared::Access(*access),
                None => Declared::OtherMethod,
            },
            None => Declared::Undeclared,
        }
    }
}

pub fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        let mut by_path: HashMap<&'static str, Vec<(Method, Access)>> = HashMap::new();
        for e in endpoints() {
            by_path.entry(e.path).or_default().push((e.method, e.access));
        }
        Policy { by_path }
    })
}

/// One resource per path, in the table's order: a known path with another method answers 405
/// naming the ones it serves.
pub fn register(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<(&'static str, Vec<Endpoint>)> = Vec::new();
    for e in endpoints() {
        match paths.iter_mut().find(|(p, _)| *p == e.path) {
            Some((_, list)) => list.push(e),
            None => paths.push((e.path, vec![e])),
        }
    }
    for (path, list) in paths {
        let allow: String = list.iter().map(|e| e.method.as_str()).collect::<Vec<_>>().join(", ");
        let mut resource = web::resource(path);
        for e in list {
            resource = resource.route((e.handler)().method(e.method));
        }
        cfg.service(resource.default_service(super::allow(allow)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_declares_its_access_and_only_the_listed_ones_are_public() {
        let all = endpoints();
        let mut public: Vec<(String, String)> = all
            .iter()
            .filter(|e| e.access == Access::Public)
            .map(|e| (e.method.to_string(), e.path.to_string()))
            .collect();
        public.sort();
        let mut listed: Vec<(String, String)> = PUBLIC.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        listed.sort();
        assert_eq!(public, listed, "a route became public (or stopped being) without the PUBLIC list saying so");
        // Device routes are the cameras' push routes and nothing else.
        let device: Vec<&str> = all.iter().filter(|e| e.access == Access::Device).map(|e| e.path).collect();
        assert_eq!(device, ["/api/cameras/{id}/frames", "/api/capture"]);
        // Every method on a path appears once.
        let mut seen = std::collections::HashSet::new();
        for e in &all {
            assert!(seen.insert((e.method.clone(), e.path)), "{} {} declared twice", e.method, e.path);
        }
    }

    #[test]
    fn the_guard_refuses_what_the_table_does_not_declare() {
        let p = policy();
        assert!(matches!(p.lookup("/api/slots", &Method::GET), Declared::Access(Access::Role(Role::Viewer))));
        assert!(matches!(p.lookup("/api/slots", &Method::DELETE), Declared::OtherMethod));
        assert!(matches!(p.lookup("/api/not-in-the-table", &Method::GET), Declared::Undeclared));
    }
}

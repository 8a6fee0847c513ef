//! Three replicas on one PostgreSQL and one S3 server, each a real `smartpark serve` process,
//! with simulated cameras streaming PKLot frames: every camera owned once, a killed owner's
//! cameras taken over and analysed, a paused owner fenced, every dashboard told every change,
//! and a rolling restart under steady changes that loses, splits and duplicates no stay.
//!
//! PKLot frames: Almeida et al., "PKLot – A robust dataset for parking lot classification",
//! Expert Systems with Applications 42(11), 2015 (CC BY 4.0).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::lot::{pklot_camera, ufpr05_spaces};
use common::s3::S3Server;
use common::sim::{pklot, SimCamera};
use common::{call, client, eventually, Server, ADMIN_TOKEN};
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use smartpark::storage::db::Db;
use smartpark::storage::embedded_pg::EmbeddedPostgres;
use tokio_tungstenite::tungstenite::Message;

const TTL_S: f64 = 3.0;
const DETECT_INTERVAL_S: f64 = 1.0;
const CAMERAS: usize = 4;

/// Fields drop in order: the replicas and the database before the database's directory.
struct Lot {
    replicas: Vec<Server>,
    pg: EmbeddedPostgres,
    _pg_dir: tempfile::TempDir,
    s3: S3Server,
    sim: SimCamera,
}

fn replica(node: &str, url: &str, s3: &str) -> Server {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (yolo, classifier) =
        (root.join("models/yolov5n.torchscript"), root.join("models/space-classifier.torchscript"));
    for m in [&yolo, &classifier] {
        assert!(m.is_file(), "{} is missing: run `make models`", m.display());
    }
    let ttl = TTL_S.to_string();
    let interval = DETECT_INTERVAL_S.to_string();
    Server::start_with(&[
        ("DATABASE_URL", url),
        ("SMARTPARK_CLUSTER__NODE", node),
        ("SMARTPARK_CLUSTER__LEASE_TTL_S", &ttl),
        ("SMARTPARK_STORAGE__KIND", "s3"),
        ("SMARTPARK_STORAGE__S3__ENDPOINT", s3),
        ("SMARTPARK_STORAGE__S3__BUCKET", "parking-images"),
        ("SMARTPARK_STORAGE__S3__ACCESS_KEY", "testing"),
        ("SMARTPARK_STORAGE__S3__SECRET_KEY", "testing"),
        ("SMARTPARK_DETECT__ENABLED", "true"),
        ("SMARTPARK_DETECT__MODEL", yolo.to_str().unwrap()),
        ("SMARTPARK_DETECT__SPACE_MODEL", classifier.to_str().unwrap()),
        ("SMARTPARK_DETECT__DEVICE", "cpu"),
        ("SMARTPARK_DETECT__THREADS", "1"),
        ("SMARTPARK_DETECT__IMGSZ", "640"),
        ("SMARTPARK_DETECT__INTERVAL_S", &interval),
        ("SMARTPARK_OCCUPANCY__CONFIRM", "2"),
        ("SMARTPARK_LIVE__HEARTBEAT_INTERVAL_S", "1"),
    ])
}

impl Lot {
    /// The database, the store, the cameras' frames and three replicas, with `CAMERAS` cameras
    /// of 40 PKLot spaces each created through the first.
    async fn start() -> Lot {
        let pg_dir = common::data_dir();
        let pg = start_pg(pg_dir.path());
        let s3 = S3Server::start();
        let sim = SimCamera::start_frames(&pklot("day-2013-02-24"), 0, 2.0);
        let url = pg.url().to_string();
        // The first applies the migrations; the others start together and find none to apply.
        let first = replica("r1", &url, &s3.endpoint);
        let (u2, u3, e2, e3) = (url.clone(), url.clone(), s3.endpoint.clone(), s3.endpoint.clone());
        let t2 = std::thread::spawn(move || replica("r2", &u2, &e2));
        let t3 = std::thread::spawn(move || replica("r3", &u3, &e3));
        let replicas = vec![first, t2.join().unwrap(), t3.join().unwrap()];
        let lot = Lot { _pg_dir: pg_dir, pg, s3, sim, replicas };
        let http = client();
        let xml = ufpr05_spaces();
        for i in 0..CAMERAS {
            let url = lot.sim.url(&format!("/stream?camera={i}"));
            pklot_camera(&http, &lot.replicas[i % 3], &format!("cam{i}"), &url, &xml).await;
        }
        lot
    }

    fn db(&self) -> Db {
        Db::connect(self.pg.url(), 2, Duration::from_secs(10)).expect("pool")
    }

    fn by_node(&self, node: &str) -> usize {
        node[1..].parse::<usize>().expect("node rN") - 1
    }
}

/// The replicas' PostgreSQL (its start talks to it synchronously: off the test's runtime).
fn start_pg(dir: &std::path::Path) -> EmbeddedPostgres {
    std::thread::scope(|s| s.spawn(|| EmbeddedPostgres::start(dir, None).expect("PostgreSQL for the replicas")).join())
        .unwrap()
}

/// Camera → owner, as `GET /api/cluster` on `s` says; None while any camera is unowned.
async fn owners(http: &reqwest::Client, s: &Server) -> Option<BTreeMap<String, String>> {
    let (st, view) = call(http.get(s.url("/api/cluster"))).await;
    assert_eq!(st, 200, "{view}");
    if !view["unowned"].as_array()?.is_empty() {
        return None;
    }
    let mut owners = BTreeMap::new();
    for r in view["replicas"].as_array()? {
        for c in r["cameras"].as_array()? {
            let before = owners.insert(c.as_str()?.to_string(), r["node"].as_str()?.to_string());
            assert!(before.is_none(), "camera {c} owned twice: {view}");
        }
    }
    (owners.len() == CAMERAS).then_some(owners)
}

async fn metric(http: &reqwest::Client, s: &Server, name: &str, label: &str) -> f64 {
    common::metrics::metric(http, s, name).await.into_iter().filter(|(l, _)| l.contains(label)).map(|(_, v)| v).sum()
}

async fn analysed_at(http: &reqwest::Client, s: &Server, camera: &str) -> f64 {
    metric(http, s, "smartpark_analysis_last_timestamp_seconds", &format!("camera=\"{camera}\"")).await
}

fn now_s() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// A dashboard: connected to one replica, it reconnects to the next one when its connection
/// ends (as behind a load balancer), and keeps what it was told.
struct Dashboard {
    /// Each space's newest (state, since) as the dashboard knows it.
    spaces: Arc<Mutex<HashMap<i64, (String, String)>>>,
    /// Every slot event it received.
    events: Arc<Mutex<Vec<Value>>>,
    /// From each connection's end to the next snapshot.
    gaps: Arc<Mutex<Vec<Duration>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Dashboard {
    fn open(urls: Vec<String>, first: usize) -> Dashboard {
        let spaces = Arc::new(Mutex::new(HashMap::new()));
        let events = Arc::new(Mutex::new(Vec::new()));
        let gaps = Arc::new(Mutex::new(Vec::new()));
        let (s, e, g) = (spaces.clone(), events.clone(), gaps.clone());
        let task = tokio::spawn(async move {
            let mut i = first;
            let mut lost_at: Option<Instant> = None;
            loop {
                use tokio_tungstenite::tungstenite::client::IntoClientRequest;
                let mut req = urls[i % urls.len()].as_str().into_client_request().unwrap();
                req.headers_mut().insert("authorization", format!("Bearer {ADMIN_TOKEN}").parse().unwrap());
                let Ok((mut ws, _)) = tokio_tungstenite::connect_async(req).await else {
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    let text = match msg {
                        Message::Text(t) => t,
                        Message::Ping(p) => {
                            let _ = ws.send(Message::Pong(p)).await;
                            continue;
                        }
                        Message::Close(_) => break,
                        _ => continue,
                    };
                    let v: Value = serde_json::from_str(text.as_str()).unwrap();
                    match v["type"].as_str() {
                        Some("snapshot") => {
                            if let Some(t) = lost_at.take() {
                                g.lock().unwrap().push(t.elapsed());
                            }
                            let mut spaces = s.lock().unwrap();
                            for slot in v["slots"].as_array().unwrap() {
                                spaces.insert(slot["id"].as_i64().unwrap(), state_of(slot));
                            }
                        }
                        Some("slot") => {
                            let slot = &v["slot"];
                            s.lock().unwrap().insert(slot["id"].as_i64().unwrap(), state_of(slot));
                            e.lock().unwrap().push(slot.clone());
                        }
                        _ => {}
                    }
                }
                lost_at.get_or_insert_with(Instant::now);
                i += 1;
            }
        });
        Dashboard { spaces, events, gaps, task }
    }

    fn spaces(&self) -> HashMap<i64, (String, String)> {
        self.spaces.lock().unwrap().clone()
    }
}

fn state_of(slot: &Value) -> (String, String) {
    (slot["state"].as_str().unwrap_or("").to_string(), slot["since"].as_str().unwrap_or("").to_string())
}

/// What the database holds of every space: its state and since.
async fn stored(db: &Db) -> HashMap<i64, (String, String)> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        id: i64,
        #[diesel(sql_type = Text)]
        state: String,
        #[diesel(sql_type = Timestamptz)]
        since: DateTime<Utc>,
    }
    let mut conn = db.conn().await.unwrap();
    let rows: Vec<Row> = diesel::sql_query("SELECT id, state, since FROM slots").load(&mut conn).await.unwrap();
    rows.into_iter().map(|r| (r.id, (r.state, r.since.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)))).collect()
}

/// Frees an occupied space straight in the database, as another replica would whose notice was
/// lost: the event, the state and its version, the stay closed. Answers the new since.
async fn poke_free(db: &Db, slot: i64) -> String {
    use diesel_async::AsyncConnection;
    let mut conn = db.conn().await.unwrap();
    let since: DateTime<Utc> = conn
        .transaction::<_, diesel::result::Error, _>(async |conn| {
            #[derive(QueryableByName)]
            struct Since {
                #[diesel(sql_type = Timestamptz)]
                since: DateTime<Utc>,
            }
            let rows: Vec<Since> = diesel::sql_query(
                "UPDATE slots SET state = 'free', since = now(), source = 'manual', actor = 'elsewhere',
                   version = version + 1 WHERE id = $1 AND state = 'occupied' RETURNING since",
            )
            .bind::<BigInt, _>(slot)
            .load(conn)
            .await?;
            let since = rows.into_iter().next().expect("the space was occupied").since;
            diesel::sql_query(
                "INSERT INTO slot_events (slot_id, at, from_state, to_state, source, actor)
                 VALUES ($1, $2, 'occupied', 'free', 'manual', 'elsewhere')",
            )
            .bind::<BigInt, _>(slot)
            .bind::<Timestamptz, _>(since)
            .execute(conn)
            .await?;
            diesel::sql_query(
                "UPDATE parking_sessions SET ended_at = $2, end_source = 'manual', ended_by = 'elsewhere'
                 WHERE slot_id = $1 AND ended_at IS NULL",
            )
            .bind::<BigInt, _>(slot)
            .bind::<Timestamptz, _>(since)
            .execute(conn)
            .await?;
            Ok(since)
        })
        .await
        .unwrap();
    since.to_rfc3339()
}

/// Waits until every dashboard shows what the database holds, space by space.
async fn dashboards_agree(db: &Db, dashboards: &[Dashboard]) {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let truth = stored(db).await;
        let differing: Vec<(usize, usize)> = dashboards
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let seen = d.spaces();
                let wrong = truth
                    .iter()
                    .filter(|(id, (state, since))| seen.get(id).is_none_or(|(s, t)| s != state || !chrono_eq(t, since)))
                    .count();
                (i, wrong)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        if differing.is_empty() {
            return;
        }
        assert!(Instant::now() < until, "dashboards (index, spaces differing from the database): {differing:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn chrono_eq(a: &str, b: &str) -> bool {
    match (DateTime::parse_from_rfc3339(a), DateTime::parse_from_rfc3339(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Replays each space's events and compares the stays they imply with the stored ones: a stay
/// opens when a space becomes occupied with none open and ends when it is seen free. Also each
/// event starts from the state the one before left (no change lost or applied twice).
async fn stays_are_whole(db: &Db) -> usize {
    #[derive(QueryableByName, Debug)]
    struct Event {
        #[diesel(sql_type = BigInt)]
        slot_id: i64,
        #[diesel(sql_type = Timestamptz)]
        at: DateTime<Utc>,
        #[diesel(sql_type = Text)]
        from_state: String,
        #[diesel(sql_type = Text)]
        to_state: String,
    }
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Stay {
        #[diesel(sql_type = BigInt)]
        slot_id: i64,
        #[diesel(sql_type = Timestamptz)]
        started_at: DateTime<Utc>,
        #[diesel(sql_type = Nullable<Timestamptz>)]
        ended_at: Option<DateTime<Utc>>,
    }
    let mut conn = db.conn().await.unwrap();
    let events: Vec<Event> =
        diesel::sql_query("SELECT slot_id, at, from_state, to_state FROM slot_events ORDER BY slot_id, id")
            .load(&mut conn)
            .await
            .unwrap();
    let stays: Vec<Stay> = diesel::sql_query(
        "SELECT slot_id, started_at, ended_at FROM parking_sessions ORDER BY slot_id, started_at, id",
    )
    .load(&mut conn)
    .await
    .unwrap();
    let mut implied: Vec<Stay> = Vec::new();
    let mut state: HashMap<i64, String> = HashMap::new();
    let mut open: HashMap<i64, usize> = HashMap::new();
    for e in &events {
        let before = state.get(&e.slot_id).cloned().unwrap_or_else(|| "unknown".into());
        assert_eq!(before, e.from_state, "space {} changed from {} but was {before}: {e:?}", e.slot_id, e.from_state);
        state.insert(e.slot_id, e.to_state.clone());
        match e.to_state.as_str() {
            "occupied" if !open.contains_key(&e.slot_id) => {
                open.insert(e.slot_id, implied.len());
                implied.push(Stay { slot_id: e.slot_id, started_at: e.at, ended_at: None });
            }
            "free" => {
                if let Some(i) = open.remove(&e.slot_id) {
                    implied[i].ended_at = Some(e.at);
                }
            }
            _ => {}
        }
    }
    implied.sort_by_key(|s| (s.slot_id, s.started_at));
    assert_eq!(stays.len(), implied.len(), "stored stays against the stays the events imply");
    for (s, i) in stays.iter().zip(&implied) {
        assert_eq!(s, i, "a stored stay differs from what the events imply");
    }
    stays.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_share_fail_over_fence_and_roll() {
    let mut lot = Lot::start().await;
    let http = client();
    let db = lot.db();

    // Every camera owned once, spread evenly.
    let owned = eventually(Duration::from_secs(30), "every camera owned", || owners(&http, &lot.replicas[0])).await;
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for node in owned.values() {
        *counts.entry(node).or_default() += 1;
    }
    assert_eq!(counts.len(), 3, "every replica owns a camera: {owned:?}");
    assert!(counts.values().max().unwrap() - counts.values().min().unwrap() <= 1, "{owned:?}");
    eventually(Duration::from_secs(10), "every replica naming every camera's owner", || async {
        for s in &lot.replicas {
            let (st, cams) = call(http.get(s.url("/api/cameras"))).await;
            assert_eq!(st, 200);
            for c in cams.as_array().unwrap() {
                if c["owner"].as_str() != owned.get(c["id"].as_str().unwrap()).map(String::as_str) {
                    return None;
                }
            }
        }
        Some(())
    })
    .await;
    eventually(Duration::from_secs(90), "every camera analysed", || async {
        for (camera, node) in &owned {
            if analysed_at(&http, &lot.replicas[lot.by_node(node)], camera).await == 0.0 {
                return None;
            }
        }
        Some(())
    })
    .await;

    // One upstream connection per camera in the whole cluster, and any replica serves any
    // camera's snapshot (relayed from its owner).
    for s in &lot.replicas {
        for camera in owned.keys() {
            let res = http.get(s.url(&format!("/api/cameras/{camera}/snapshot.jpg"))).send().await.unwrap();
            assert_eq!(res.status(), 200, "{camera} on {}", s.base);
            assert_eq!(res.headers()["content-type"], "image/jpeg");
        }
    }

    // A dashboard on each replica: a change made on one, by hand or by a camera's owner, reaches all.
    let urls: Vec<String> = lot.replicas.iter().map(|s| s.ws_url()).collect();
    let dashboards: Vec<Dashboard> = (0..3).map(|i| Dashboard::open(urls.clone(), i)).collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, slots) = call(http.get(lot.replicas[1].url("/api/slots"))).await;
    let some: Vec<i64> = slots.as_array().unwrap().iter().take(8).map(|s| s["id"].as_i64().unwrap()).collect();
    for (i, id) in some.iter().enumerate() {
        let s = &lot.replicas[i % 3];
        let (st, body) = call(http.put(s.url(&format!("/api/slots/{id}"))).json(&json!({"state": "occupied"}))).await;
        assert_eq!(st, 200, "{body}");
    }
    dashboards_agree(&db, &dashboards).await;
    let detector_events = dashboards[0].events.lock().unwrap().iter().filter(|e| e["source"] == "detector").count();
    println!("dashboard 0 saw {detector_events} detector changes so far");

    // A stale replica never answers "unchanged" against the database: each replica sets the
    // same space in turn, and each answer is the stored truth.
    let target = some[0];
    for (i, state) in ["free", "occupied", "free", "occupied"].iter().enumerate() {
        let s = &lot.replicas[i % 3];
        let (st, body) = call(http.put(s.url(&format!("/api/slots/{target}"))).json(&json!({"state": state}))).await;
        assert_eq!(st, 200, "{body}");
        assert_eq!(body["state"], *state, "{body}");
        let truth = stored(&db).await[&target].clone();
        assert_eq!(truth.0, *state);
    }

    // A replica that missed a change (its notice lost) still answers the stored truth: the
    // space is moved behind every replica's back, then changed through them.
    poke_free(&db, target).await;
    let (st, body) =
        call(http.put(lot.replicas[1].url(&format!("/api/slots/{target}"))).json(&json!({"state": "occupied"}))).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(stored(&db).await[&target].0, "occupied", "a stale 'unchanged' left the space free: {body}");
    let poked_since = poke_free(&db, target).await;
    let (st, body) =
        call(http.put(lot.replicas[2].url(&format!("/api/slots/{target}"))).json(&json!({"state": "free"}))).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["state"], "free", "{body}");
    assert!(chrono_eq(body["since"].as_str().unwrap(), &poked_since), "answered {body}, stored since {poked_since}");

    // SIGKILL a camera's owner: another replica owns the camera and analyses it within the
    // lease's length and an interval (with room for a loaded machine).
    let (camera, victim) = owned.iter().next().map(|(c, n)| (c.clone(), lot.by_node(n))).unwrap();
    let killed_at = now_s();
    let t0 = Instant::now();
    lot.replicas[victim].kill();
    let survivor = (victim + 1) % 3;
    let new_owner = eventually(Duration::from_secs(30), "the camera taken over", || async {
        let owned = owners(&http, &lot.replicas[survivor]).await?;
        let node = owned.get(&camera)?.clone();
        (lot.by_node(&node) != victim).then_some(node)
    })
    .await;
    let took_over = t0.elapsed();
    eventually(Duration::from_secs(30), "the new owner's first analysis", || async {
        (analysed_at(&http, &lot.replicas[lot.by_node(&new_owner)], &camera).await > killed_at).then_some(())
    })
    .await;
    let failover = t0.elapsed();
    println!(
        "failover of {camera}: owned by {new_owner} after {:.2} s, first analysis after {:.2} s (ttl {TTL_S} s, interval {DETECT_INTERVAL_S} s)",
        took_over.as_secs_f64(),
        failover.as_secs_f64()
    );
    assert!(
        failover.as_secs_f64() <= TTL_S + TTL_S / 3.0 + DETECT_INTERVAL_S + 5.0,
        "failover took {:.2} s",
        failover.as_secs_f64()
    );
    lot.replicas[victim].relaunch_on_same_port();
    eventually(Duration::from_secs(30), "the relaunched replica back with its share", || async {
        let owned = owners(&http, &lot.replicas[0]).await?;
        owned.values().any(|n| lot.by_node(n) == victim).then_some(())
    })
    .await;

    // SIGSTOP an owner past its lease: another replica takes its camera with a new epoch; woken,
    // its renewal under the old epoch is refused and it gives the camera up (it may take it
    // again later, as any replica may, under a newer epoch still).
    let owned = eventually(Duration::from_secs(30), "every camera owned", || owners(&http, &lot.replicas[0])).await;
    let (paused_camera, paused) = owned.iter().next().map(|(c, n)| (c.clone(), lot.by_node(n))).unwrap();
    let (holder, epoch) = lease_of(&db, &paused_camera).await;
    assert_eq!(holder.as_deref().map(|h| lot.by_node(h)), Some(paused));
    let pid = lot.replicas[paused].pid().unwrap() as i32;
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    eventually(Duration::from_secs(30), "the paused replica's camera taken over", || async {
        let (holder, now) = lease_of(&db, &paused_camera).await;
        (now > epoch && holder.is_some_and(|h| lot.by_node(&h) != paused)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs_f64(TTL_S)).await;
    unsafe { libc::kill(pid, libc::SIGCONT) };
    // A fresh client: connections kept alive across the pause are closed by the woken server.
    let fresh = client();
    eventually(Duration::from_secs(20), "the woken replica giving the camera up", || async {
        (metric(&fresh, &lot.replicas[paused], "smartpark_leases_lost_total", "").await >= 1.0).then_some(())
    })
    .await;
    assert!(lot.replicas[paused].log().contains("lease lost"), "the woken replica says it lost the lease");

    // A rolling restart of all three under a steady stream of changes by hand (the cameras'
    // changes go on too): no stay lost, split or duplicated, and every dashboard back within
    // its reconnect.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bases: Vec<String> = lot.replicas.iter().map(|s| s.base.clone()).collect();
    let acknowledged = Arc::new(Mutex::new(Vec::<(i64, String, String)>::new()));
    let refused = Arc::new(Mutex::new(Vec::<String>::new()));
    let writer = {
        let (stop, acknowledged, refused, bases, some) =
            (stop.clone(), acknowledged.clone(), refused.clone(), bases.clone(), some.clone());
        tokio::spawn(async move {
            let http = client();
            let mut n = 0usize;
            while !std::sync::atomic::AtomicBool::load(&stop, std::sync::atomic::Ordering::Relaxed) {
                let id = some[n % some.len()];
                let state = if (n / some.len()) % 2 == 0 { "free" } else { "occupied" };
                // As behind a load balancer: the next replica, and another if one is down.
                for k in 0..3 {
                    let base = &bases[(n + k) % 3];
                    match http.put(format!("{base}/api/slots/{id}")).json(&json!({"state": state})).send().await {
                        Ok(res) if res.status() == 200 => {
                            let v: Value = res.json().await.unwrap();
                            acknowledged.lock().unwrap().push((
                                id,
                                state.to_string(),
                                v["since"].as_str().unwrap().into(),
                            ));
                            break;
                        }
                        Ok(res) => {
                            let said = format!("{} {}", res.status(), res.text().await.unwrap_or_default());
                            refused.lock().unwrap().push(said);
                        }
                        Err(_) => {}
                    }
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    for i in 0..3 {
        lot.replicas[i].stop();
        lot.replicas[i].relaunch_on_same_port();
        eventually(Duration::from_secs(60), "the restarted replica ready", || async {
            let res = http.get(lot.replicas[i].url("/readyz")).send().await.ok()?;
            (res.status() == 200).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() > 100, "only {} changes made during the restart", acknowledged.len());
    let refused = refused.lock().unwrap().clone();
    println!("{} manual changes acknowledged during the rolling restart; refused: {refused:?}", acknowledged.len());
    assert!(
        refused.iter().all(|r| r.starts_with("503")),
        "a manual change refused other than 'try again': {refused:?}"
    );

    // Every acknowledged answer is the stored truth of its moment: an event took the space to
    // that state at that time (the change itself, or the earlier one an "unchanged" answer names).
    {
        #[derive(QueryableByName)]
        struct Event {
            #[diesel(sql_type = BigInt)]
            slot_id: i64,
            #[diesel(sql_type = Text)]
            to_state: String,
            #[diesel(sql_type = Timestamptz)]
            at: DateTime<Utc>,
        }
        let mut conn = db.conn().await.unwrap();
        let events: Vec<Event> =
            diesel::sql_query("SELECT slot_id, to_state, at FROM slot_events").load(&mut conn).await.unwrap();
        let stored: HashSet<(i64, String, DateTime<Utc>)> =
            events.into_iter().map(|e| (e.slot_id, e.to_state, e.at)).collect();
        for (id, state, since) in &acknowledged {
            let since = DateTime::parse_from_rfc3339(since).unwrap().to_utc();
            assert!(
                stored.contains(&(*id, state.clone(), since)),
                "acknowledged {id} → {state} at {since} is not stored"
            );
        }
    }
    let stays = stays_are_whole(&db).await;
    println!("{stays} stays checked against their events");
    dashboards_agree(&db, &dashboards).await;
    for (i, d) in dashboards.iter().enumerate() {
        let gaps = d.gaps.lock().unwrap().clone();
        println!("dashboard {i}: reconnected {} times, longest {:?}", gaps.len(), gaps.iter().max());
        for g in &gaps {
            assert!(*g < Duration::from_secs(5), "dashboard {i} was without updates for {g:?}");
        }
    }
    for d in &dashboards {
        d.task.abort();
    }
    let _ = &mut lot.s3;
}

/// The holder and epoch of a camera's lease, from the database.
async fn lease_of(db: &Db, camera: &str) -> (Option<String>, i64) {
    #[derive(QueryableByName)]
    struct Lease {
        #[diesel(sql_type = Nullable<Text>)]
        holder: Option<String>,
        #[diesel(sql_type = BigInt)]
        epoch: i64,
    }
    let mut conn = db.conn().await.unwrap();
    let rows: Vec<Lease> = diesel::sql_query("SELECT holder, epoch FROM leases WHERE name = $1")
        .bind::<Text, _>(format!("camera:{camera}"))
        .load(&mut conn)
        .await
        .unwrap();
    rows.into_iter().next().map(|l| (l.holder, l.epoch)).unwrap_or((None, 0))
}

/// The database itself refuses a write under a lease that has passed on: a detector's change
/// and an evidence capture made with the old epoch are not stored.
#[tokio::test]
async fn a_stale_epoch_cannot_write() {
    use smartpark::parking::state::{SlotState, Source};
    use smartpark::storage::leases::{self, Fence};
    use smartpark::storage::slots::{self, Change, Recorded};
    let dir = common::data_dir();
    let pg = start_pg(dir.path());
    let url = pg.url().to_string();
    std::thread::spawn(move || smartpark::storage::db::run_migrations(&url)).join().unwrap().unwrap();
    let db = Db::connect(pg.url(), 2, Duration::from_secs(10)).unwrap();
    let mut conn = db.conn().await.unwrap();
    diesel::sql_query("INSERT INTO cameras (id, name, source) VALUES ('gate', 'Gate', '{\"kind\":\"push\"}')")
        .execute(&mut conn)
        .await
        .unwrap();
    let slot = slots::insert(&mut conn, "gate", "A1", json!([[0, 0], [10, 0], [10, 10], [0, 10]])).await.unwrap();
    let lease = leases::camera_lease("gate");
    let a = leases::claim(&mut conn, &lease, "a", 0.5).await.unwrap().expect("free lease");
    assert_eq!(leases::claim(&mut conn, &lease, "b", 5.0).await.unwrap(), None, "held by a");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let b = leases::claim(&mut conn, &lease, "b", 5.0).await.unwrap().expect("lapsed lease");
    assert_eq!(b, a + 1);
    let change = |holder: &str, epoch: i64, version: i64| Change {
        slot_id: slot.id,
        at: Utc::now(),
        from: SlotState::Unknown,
        to: SlotState::Occupied,
        source: Source::Detector,
        confidence: Some(0.9),
        capture_id: None,
        actor: None,
        reason: None,
        version,
        fence: Some(Fence { lease: lease.clone(), holder: holder.into(), epoch }),
        notice: "{}".into(),
    };
    assert_eq!(slots::record_change(&mut conn, change("a", a, 0)).await.unwrap(), Recorded::Fenced);
    let renewed = leases::renew(&mut conn, "a", &[(lease.clone(), a, None)], 5.0).await.unwrap();
    assert!(renewed.is_empty(), "a's renewal is refused");
    let stored = slots::record_change(&mut conn, change("b", b, 0)).await.unwrap();
    assert!(matches!(stored, Recorded::Stored { version: 1, open: Some(_) }), "{stored:?}");
    // From a version that moved on: nothing written, whoever asks.
    assert_eq!(slots::record_change(&mut conn, change("b", b, 0)).await.unwrap(), Recorded::Moved);
    let capture = smartpark::storage::models::NewCapture {
        camera_id: "gate",
        storage_key: "captures/gate/x.jpg",
        taken_at: Utc::now(),
        size_bytes: 1,
        width: 1,
        height: 1,
        sha256: "00",
        reason: "evidence",
    };
    let old = Fence { lease: lease.clone(), holder: "a".into(), epoch: a };
    assert!(smartpark::storage::captures::insert_fenced(&mut conn, &capture, &old).await.unwrap().is_none());
    let current = Fence { lease, holder: "b".into(), epoch: b };
    assert!(smartpark::storage::captures::insert_fenced(&mut conn, &capture, &current).await.unwrap().is_some());
}

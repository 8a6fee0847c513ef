//! A manual change travels through the slot actor to Postgres and to every dashboard.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::*;

const LIVE: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_manual_change_reaches_two_dashboards_and_records_the_stay() {
    let s = Server::start();
    let http = client();
    create_camera(&http, &s, "north").await;
    let slot = create_slot(&http, &s, "north", "A1").await;
    let other = create_slot(&http, &s, "north", "A2").await;

    let mut a = ws_connect(&s).await;
    let mut b = ws_connect(&s).await;
    for ws in [&mut a, &mut b] {
        let snap = ws_next(ws, LIVE).await;
        assert_eq!(snap["type"], "snapshot", "first message is the snapshot: {snap}");
        let slots = snap["slots"].as_array().unwrap();
        assert_eq!(slots.len(), 2);
        assert!(slots.iter().all(|v| v["state"] == "unknown"));
        assert_eq!(snap["stats"]["total"], 2);
        assert_eq!(snap["stats"]["unknown"], 2);
    }

    let before = Utc::now();
    let view = set_state(&http, &s, slot, "occupied").await;
    let after = Utc::now();
    assert_eq!(view["state"], "occupied");
    let session_id = view["session_id"].as_i64().expect("an open session");
    let since = time(&view["since"]);
    assert!(before <= since && since <= after, "since {since} is the time of the change");

    for ws in [&mut a, &mut b] {
        let ev = ws_until(ws, LIVE, |v| v["type"] == "slot").await;
        assert_eq!(ev["slot"]["id"], slot);
        assert_eq!(ev["slot"]["state"], "occupied");
        assert_eq!(ev["slot"]["session_id"], session_id);
        let st = ws_until(ws, LIVE, |v| v["type"] == "stats").await;
        assert_eq!(st["stats"]["occupied"], 1);
        assert_eq!(st["stats"]["unknown"], 1);
    }

    let (code, session) = call(http.get(s.url(&format!("/api/sessions/{session_id}")))).await;
    assert_eq!(code, 200);
    assert_eq!(session["slot_id"], slot);
    assert_eq!(time(&session["started_at"]), since, "the stay starts at the change");
    assert!(session["ended_at"].is_null());
    assert!(session["duration_s"].is_null());
    assert_eq!(session["source"], "manual");

    // Another space changing does not touch this stay.
    set_state(&http, &s, other, "free").await;
    tokio::time::sleep(Duration::from_millis(20)).await; // a measurable stay, not a synchronisation
    let freed = set_state(&http, &s, slot, "free").await;
    assert!(freed["session_id"].is_null());
    let ended = time(&freed["since"]);
    for ws in [&mut a, &mut b] {
        let ev = ws_until(ws, LIVE, |v| v["type"] == "slot" && v["slot"]["id"] == slot).await;
        assert_eq!(ev["slot"]["state"], "free");
    }
    let (_, session) = call(http.get(s.url(&format!("/api/sessions/{session_id}")))).await;
    assert_eq!(time(&session["ended_at"]), ended);
    let duration = session["duration_s"].as_f64().unwrap();
    let expected = (ended - since).num_microseconds().unwrap() as f64 / 1e6;
    assert!((duration - expected).abs() < 1e-6, "duration {duration} = ended - started {expected}");
    assert!(duration >= 0.02);
    assert_eq!(session["end_source"], "manual");

    // Setting the state it already has changes nothing and opens nothing.
    let again = set_state(&http, &s, slot, "free").await;
    assert_eq!(time(&again["since"]), ended);
    let (_, page) = call(http.get(s.url(&format!("/api/sessions?slot={slot}")))).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    let (_, stats) = call(http.get(s.url("/api/stats"))).await;
    assert_eq!(stats["total"], 2);
    assert_eq!(stats["free"], 2);
    assert_eq!(stats["occupancy"], 0.0);
    assert_eq!(stats["sessions_today"], 1);
    assert!((stats["average_stay_s"].as_f64().unwrap() - duration).abs() < 1e-6);
    assert_eq!(stats["cameras"]["north"]["free"], 2);

    // A client that reconnects gets a fresh snapshot with the current states.
    drop(a);
    let mut c = ws_connect(&s).await;
    let snap = ws_next(&mut c, LIVE).await;
    assert_eq!(snap["type"], "snapshot");
    assert!(snap["slots"].as_array().unwrap().iter().all(|v| v["state"] == "free"));
}

#[tokio::test]
async fn a_restart_keeps_states_and_the_open_stay() {
    let mut s = Server::start();
    let http = client();
    create_camera(&http, &s, "gate").await;
    let parked = create_slot(&http, &s, "gate", "P1").await;
    let empty = create_slot(&http, &s, "gate", "P2").await;
    let view = set_state(&http, &s, parked, "occupied").await;
    let session_id = view["session_id"].as_i64().unwrap();
    let started = time(&view["since"]);
    set_state(&http, &s, empty, "free").await;
    let mut watching = ws_connect(&s).await;
    ws_next(&mut watching, LIVE).await;

    s.restart();

    // The dashboard was told the server went away (1001), so it can reconnect at once.
    let close = loop {
        use futures_util::StreamExt;
        match tokio::time::timeout(LIVE, watching.next()).await.expect("a close frame") {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001));

    let (_, slot) = call(http.get(s.url(&format!("/api/slots/{parked}")))).await;
    assert_eq!(slot["state"], "occupied");
    assert_eq!(time(&slot["since"]), started, "since survives the restart to the microsecond");
    assert_eq!(slot["session_id"], session_id, "the open stay is the same one");
    let (_, slot2) = call(http.get(s.url(&format!("/api/slots/{empty}")))).await;
    assert_eq!(slot2["state"], "free");

    let mut ws = ws_connect(&s).await;
    let snap = ws_next(&mut ws, LIVE).await;
    let restored = snap["slots"].as_array().unwrap().iter().find(|v| v["id"] == parked).cloned().unwrap();
    assert_eq!(restored["state"], "occupied");

    // Seeing the car again after the restart does not split the stay in two.
    set_state(&http, &s, parked, "occupied").await;
    let freed = set_state(&http, &s, parked, "free").await;
    let (_, page) = call(http.get(s.url(&format!("/api/sessions?slot={parked}")))).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one stay across the restart: {page}");
    assert_eq!(items[0]["id"], session_id);
    assert_eq!(time(&items[0]["started_at"]), started);
    assert_eq!(time(&items[0]["ended_at"]), time(&freed["since"]));
}

#[tokio::test]
async fn sensor_observations_carry_their_time_and_confidence() {
    let s = Server::start();
    let http = client();
    create_camera(&http, &s, "c1").await;
    let slot = create_slot(&http, &s, "c1", "S").await;
    let created = Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await; // room for a time between creation and now
    let at = created + chrono::Duration::milliseconds(20);
    let at_s = at.to_rfc3339();
    let obs = |body: serde_json::Value| http.post(s.url(&format!("/api/slots/{slot}/observations"))).json(&body);

    let (code, res) = call(obs(serde_json::json!({"state": "occupied", "confidence": 0.9, "observed_at": at_s}))).await;
    assert_eq!(code, 200, "{res}");
    assert_eq!(res["changed"], true);
    let since = time(&res["slot"]["since"]);
    assert!((since - at).num_microseconds().unwrap().abs() <= 1, "since is the observed time");
    let (_, session) = call(http.get(s.url(&format!("/api/sessions/{}", res["slot"]["session_id"])))).await;
    assert_eq!(session["source"], "sensor");
    assert_eq!(time(&session["started_at"]), since);

    let (code, res) = call(obs(serde_json::json!({"state": "occupied"}))).await;
    assert_eq!((code, res["changed"].clone()), (200, serde_json::json!(false)));

    let older = (at - chrono::Duration::milliseconds(10)).to_rfc3339();
    let (code, res) = call(obs(serde_json::json!({"state": "free", "observed_at": older}))).await;
    assert_eq!(code, 409, "an observation older than the current state is refused: {res}");
    for ahead in [chrono::Duration::hours(1), chrono::Duration::seconds(30)] {
        let future = (Utc::now() + ahead).to_rfc3339();
        let (code, res) = call(obs(serde_json::json!({"state": "free", "observed_at": future}))).await;
        assert_eq!(code, 400, "{ahead}: {res}");
        assert_eq!(res["error"], "invalid_time");
    }
    let (code, _) = call(obs(serde_json::json!({"state": "free", "confidence": 1.5}))).await;
    assert_eq!(code, 400);
    let (_, slot_now) = call(http.get(s.url(&format!("/api/slots/{slot}")))).await;
    assert_eq!(slot_now["state"], "occupied", "refused observations change nothing");

    // unknown (a camera outage) keeps the stay open; free then closes it.
    let (_, res) = call(obs(serde_json::json!({"state": "unknown"}))).await;
    assert_eq!(res["slot"]["state"], "unknown");
    assert_eq!(res["slot"]["session_id"], session["id"]);
    let (_, res) = call(obs(serde_json::json!({"state": "free"}))).await;
    assert!(res["slot"]["session_id"].is_null());
    assert_eq!((res["slot"]["source"].as_str(), res["slot"]["actor"].as_str()), (Some("sensor"), Some("token:tests")));
    let (_, closed) = call(http.get(s.url(&format!("/api/sessions/{}", session["id"])))).await;
    assert_eq!(time(&closed["ended_at"]), time(&res["slot"]["since"]));

    // Within the small tolerance for clocks, a time ahead counts as now: the space's state never
    // begins in the future, so the next change (by hand, now) is not refused as older.
    let ahead = (Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let (code, res) = call(obs(serde_json::json!({"state": "occupied", "observed_at": ahead}))).await;
    assert_eq!(code, 200, "{res}");
    assert!(time(&res["slot"]["since"]) <= Utc::now(), "{res}");
    let by_hand = set_state(&http, &s, slot, "free").await;
    assert_eq!(by_hand["state"], "free");
    assert_eq!((by_hand["source"].as_str(), by_hand["actor"].as_str()), (Some("manual"), Some("token:tests")));
}

#[tokio::test]
async fn sessions_page_by_cursor_and_filter() {
    let s = Server::start();
    let http = client();
    create_camera(&http, &s, "east").await;
    let slot = create_slot(&http, &s, "east", "E1").await;
    let other = create_slot(&http, &s, "east", "E2").await;
    for _ in 0..5 {
        set_state(&http, &s, slot, "occupied").await;
        set_state(&http, &s, slot, "free").await;
    }
    set_state(&http, &s, other, "occupied").await;

    let mut seen = Vec::new();
    let mut url = s.url(&format!("/api/sessions?slot={slot}&limit=2"));
    loop {
        let (code, page) = call(http.get(&url)).await;
        assert_eq!(code, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| (time(&i["started_at"]), i["id"].as_i64().unwrap())));
        match page["next_cursor"].as_str() {
            Some(c) => url = s.url(&format!("/api/sessions?slot={slot}&limit=2&cursor={c}")),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "every stay once: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats");

    let (_, open) = call(http.get(s.url("/api/sessions?open=true"))).await;
    let open = open["items"].as_array().unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["slot_id"], other);
    let (_, closed) = call(http.get(s.url("/api/sessions?open=false&camera=east"))).await;
    assert_eq!(closed["items"].as_array().unwrap().len(), 5);
    let future = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (_, later) = call(http.get(s.url("/api/sessions")).query(&[("from", future.as_str())])).await;
    assert_eq!(later["items"].as_array().unwrap().len(), 1, "only the stay still going overlaps the future");

    let (code, hist) = call(http.get(s.url("/api/stats/history?bucket=minute"))).await;
    assert_eq!(code, 200);
    let buckets = hist["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 24);
    let arrivals: i64 = buckets.iter().map(|b| b["arrivals"].as_i64().unwrap()).sum();
    let departures: i64 = buckets.iter().map(|b| b["departures"].as_i64().unwrap()).sum();
    assert_eq!((arrivals, departures), (6, 5));
    // Each bucket's average stay is over the stays that ended in it.
    let ended: Vec<f64> =
        closed["items"].as_array().unwrap().iter().map(|i| i["duration_s"].as_f64().unwrap()).collect();
    let summed: f64 = buckets
        .iter()
        .filter(|b| b["departures"].as_i64() != Some(0))
        .map(|b| b["average_stay_s"].as_f64().unwrap() * b["departures"].as_i64().unwrap() as f64)
        .sum();
    assert!((summed - ended.iter().sum::<f64>()).abs() < 1e-6, "{summed} against {ended:?}");
    assert!(buckets.iter().filter(|b| b["departures"].as_i64() == Some(0)).all(|b| b["average_stay_s"].is_null()));
    assert!(buckets.last().unwrap()["occupancy"].as_f64().unwrap() > 0.0);
}

//! Captures in S3: the server keeps pushed frames in a real S3-protocol server (moto), keeps
//! taking frames while that server is down and stores them once it is back, and applies the
//! retention rules to images and rows together.

mod common;

use std::time::Duration;

use common::s3::S3Server;
use common::sim::jpeg_files;
use common::{call, client, create_push_camera, eventually, push_frame, Server};
use serde_json::Value;
use smartpark::storage::images::{ImageStore, S3Config, StorageConfig, StoreKind};

fn s3_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SMARTPARK_STORAGE__KIND", "s3".into()),
        ("SMARTPARK_STORAGE__S3__ENDPOINT", endpoint.into()),
        ("SMARTPARK_STORAGE__S3__BUCKET", "parking-images".into()),
        ("SMARTPARK_STORAGE__S3__ACCESS_KEY", "testing".into()),
        ("SMARTPARK_STORAGE__S3__SECRET_KEY", "testing".into()),
    ]
}

fn start(extra: &[(&'static str, String)], endpoint: &str) -> Server {
    let mut env = s3_env(endpoint);
    env.extend_from_slice(extra);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_with(&env)
}

async fn the_store(endpoint: &str) -> ImageStore {
    let cfg = StorageConfig {
        kind: StoreKind::S3,
        s3: S3Config {
            endpoint: Some(endpoint.into()),
            access_key: Some("testing".into()),
            secret_key: Some("testing".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    ImageStore::open(&cfg, std::path::Path::new("/nonexistent")).await.expect("open S3 store")
}

async fn push(http: &reqwest::Client, s: &Server, token: &str, frame: &[u8]) {
    let (st, body) = call(push_frame(http, s, "lot", token, frame.to_vec())).await;
    assert_eq!(st, 202, "{body}");
}

async fn captures(http: &reqwest::Client, s: &Server) -> Vec<Value> {
    let (st, body) = call(http.get(s.url("/api/captures?camera=lot"))).await;
    assert_eq!(st, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn captures_survive_an_s3_outage() {
    let mut s3 = S3Server::start();
    let s = start(&[], &s3.endpoint);
    let http = client();
    let token = create_push_camera(&http, &s, "lot").await;
    let frames = jpeg_files();
    push(&http, &s, &token, &frames[0]).await;
    let first = eventually(Duration::from_secs(20), "the first capture", || async {
        captures(&http, &s).await.into_iter().next()
    })
    .await;
    let store = the_store(&s3.endpoint).await;
    let key = first["storage_key"].as_str().unwrap();
    assert_eq!(store.get(key).await.unwrap().as_deref(), Some(&frames[0][..]), "the image is in the bucket");

    // The store goes away: frames are still taken (202, newest frame moves) and wait.
    s3.stop();
    for f in &frames[1..4] {
        push(&http, &s, &token, f).await;
    }
    let snap = http.get(s.url("/api/cameras/lot/snapshot.jpg")).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(snap[..], frames[3][..], "capture goes on during the outage");
    let (st, body) = call(http.get(s.url(first["image_url"].as_str().unwrap()))).await;
    assert_eq!((st, body["error"].as_str()), (503, Some("unavailable")), "{body}");
    assert_eq!(captures(&http, &s).await.len(), 1, "nothing is recorded that is not stored");

    // It comes back (empty, as moto keeps nothing): the waiting frames are stored, in order.
    s3.start_again();
    let all = eventually(Duration::from_secs(60), "the queued captures", || async {
        let all = captures(&http, &s).await;
        (all.len() == 4).then_some(all)
    })
    .await;
    let store = the_store(&s3.endpoint).await;
    for (item, original) in all.iter().take(3).zip(frames[1..4].iter().rev()) {
        let key = item["storage_key"].as_str().unwrap();
        assert_eq!(store.get(key).await.unwrap().as_deref(), Some(&original[..]));
        let res = http.get(s.url(item["image_url"].as_str().unwrap())).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.bytes().await.unwrap()[..], original[..]);
    }
}

#[tokio::test]
async fn a_store_that_is_out_at_start_does_not_stop_the_server() {
    let mut s3 = S3Server::start();
    s3.stop();
    let s = start(&[], &s3.endpoint);
    let http = client();
    let token = create_push_camera(&http, &s, "lot").await;
    let frame = jpeg_files().remove(0);
    push(&http, &s, &token, &frame).await;
    s3.start_again();
    let item = eventually(Duration::from_secs(60), "the capture once the store is up", || async {
        captures(&http, &s).await.into_iter().next()
    })
    .await;
    let store = the_store(&s3.endpoint).await;
    assert_eq!(store.get(item["storage_key"].as_str().unwrap()).await.unwrap().as_deref(), Some(&frame[..]));
}

#[tokio::test]
async fn retention_deletes_images_and_rows_together() {
    let s3 = S3Server::start();
    let s = start(
        &[("SMARTPARK_ARCHIVE__MAX_PER_CAMERA", "2".into()), ("SMARTPARK_ARCHIVE__SWEEP_INTERVAL_S", "1".into())],
        &s3.endpoint,
    );
    let http = client();
    let token = create_push_camera(&http, &s, "lot").await;
    let frames = jpeg_files();
    let mut keys = Vec::new();
    for f in &frames[..5] {
        push(&http, &s, &token, f).await;
        // Each is stored before the next is sent, so which are newest is certain.
        let sha = hex(f);
        let item = eventually(Duration::from_secs(20), "the capture", || async {
            captures(&http, &s).await.into_iter().find(|c| c["sha256"] == sha.as_str())
        })
        .await;
        keys.push(item["storage_key"].as_str().unwrap().to_string());
    }
    let kept = eventually(Duration::from_secs(20), "retention to leave two", || async {
        let all = captures(&http, &s).await;
        (all.len() == 2).then_some(all)
    })
    .await;
    let store = the_store(&s3.endpoint).await;
    let kept_sha: Vec<&str> = kept.iter().map(|c| c["sha256"].as_str().unwrap()).collect();
    let newest: Vec<String> = frames[3..5].iter().rev().map(|f| hex(f)).collect();
    assert_eq!(kept_sha, newest, "the newest two are kept");
    for key in &keys {
        let present = store.get(key).await.unwrap().is_some();
        let listed = kept.iter().any(|c| c["storage_key"] == key.as_str());
        assert_eq!(present, listed, "{key}: image present exactly when its row is");
    }
}

fn hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

//! The image store against a temporary directory and against a real S3-protocol server (moto,
//! installed by `bash scripts/install-moto.sh`): round trips, missing keys, bucket creation, key
//! rules, and an S3 outage that must fail fast with a retryable error and then heal.
//!
//! Moto keeps nothing across a restart, so after the outage the bucket is gone too: the store is
//! expected to notice `NoSuchBucket` on put and create the bucket itself (`create_bucket = true`),
//! which is also what a wiped MinIO needs in production.

#[path = "common/s3.rs"]
mod s3;

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use figment::providers::{Format, Toml};
use figment::Figment;
use smartpark::storage::images::{ImageStore, S3Config, StorageConfig, StoreError, StoreKind, S3_REQUEST_TIMEOUT};

use s3::S3Server;

fn key(n: u32) -> String {
    format!("captures/gate-1/2026/11/24/004500.{n:06}-0a1b2c3d.jpg")
}

/// Distinct, JPEG-looking contents, so a mix-up between keys cannot go unnoticed.
fn jpeg(n: u8) -> Bytes {
    let mut data = vec![0xFF, 0xD8, 0xFF, 0xE0];
    data.extend((0..4096u32).map(|i| (i as u8).wrapping_mul(31).wrapping_add(n)));
    data.extend([0xFF, 0xD9]);
    Bytes::from(data)
}

fn s3_config(server: &S3Server, bucket: &str) -> StorageConfig {
    StorageConfig {
        kind: StoreKind::S3,
        local_dir: None,
        s3: S3Config {
            bucket: bucket.into(),
            endpoint: Some(server.endpoint.clone()),
            // moto accepts any credentials; fixed ones keep the test independent of the environment.
            access_key: Some("test".into()),
            secret_key: Some("test".into()),
            ..S3Config::default()
        },
    }
}

async fn open_local(dir: &Path) -> ImageStore {
    let cfg = StorageConfig { local_dir: Some(dir.join("images")), ..StorageConfig::default() };
    ImageStore::open(&cfg, Path::new("/nonexistent")).await.expect("open local store")
}

/// The contract both backends share.
async fn round_trip(store: &ImageStore) {
    let (a, b) = (key(1), key(2));
    store.put(&a, jpeg(1), "image/jpeg").await.expect("put a");
    store.put(&b, jpeg(2), "image/jpeg").await.expect("put b");
    assert_eq!(store.get(&a).await.expect("get a"), Some(jpeg(1)));
    assert_eq!(store.get(&b).await.expect("get b"), Some(jpeg(2)));

    store.put(&a, jpeg(3), "image/jpeg").await.expect("overwrite a");
    assert_eq!(store.get(&a).await.expect("get a again"), Some(jpeg(3)));

    assert_eq!(store.get(&key(99)).await.expect("get missing"), None);
    assert_eq!(store.get("captures/gate-1").await.expect("get a 'directory'"), None);

    store.delete(&a).await.expect("delete a");
    assert_eq!(store.get(&a).await.expect("get deleted"), None);
    assert_eq!(store.get(&b).await.expect("get b after deleting a"), Some(jpeg(2)));
    store.delete(&a).await.expect("delete a twice");
    store.delete(&key(98)).await.expect("delete never stored");

    store.check().await.expect("check");
}

#[tokio::test]
async fn local_store_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_local(dir.path()).await;
    round_trip(&store).await;
    assert!(store.describe().contains("images"), "{}", store.describe());
}

#[tokio::test]
async fn local_store_defaults_to_data_dir_images_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&StorageConfig::default(), dir.path()).await.expect("open");
    let root = dir.path().join("images");
    assert!(root.is_dir(), "open creates {}", root.display());

    for n in 0..5 {
        store.put(&key(n), jpeg(n as u8), "image/jpeg").await.expect("put");
    }
    let day = root.join("captures/gate-1/2026/11/24");
    let mut names: Vec<String> =
        std::fs::read_dir(&day).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let expected: Vec<String> = (0..5).map(|n| key(n).rsplit('/').next().unwrap().to_string()).collect();
    assert_eq!(names, expected, "only the images themselves, no temporary files");
    assert_eq!(std::fs::read(day.join(&expected[0])).unwrap(), jpeg(0));
}

#[tokio::test]
async fn local_store_refuses_keys_that_could_escape() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_local(dir.path()).await;
    for bad in ["../x.jpg", "captures/../../x.jpg", "/tmp/x.jpg", "captures\\x.jpg", "captures//x.jpg", "", "x/"] {
        let err = store.put(bad, jpeg(1), "image/jpeg").await.expect_err(bad);
        assert!(matches!(err, StoreError::InvalidKey { .. }), "{bad:?}: {err}");
        assert!(!err.is_transient(), "{bad:?}");
        store.get(bad).await.expect_err(bad);
        store.delete(bad).await.expect_err(bad);
    }
    assert!(!dir.path().join("x.jpg").exists(), "nothing written next to the store");
}

#[tokio::test]
async fn local_store_check_fails_when_the_directory_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_local(dir.path()).await;
    store.check().await.expect("check");
    std::fs::remove_dir_all(dir.path().join("images")).unwrap();
    store.check().await.expect_err("check without the directory");
}

#[tokio::test]
async fn s3_store_round_trip() {
    let server = S3Server::start();
    let store = ImageStore::open(&s3_config(&server, "parking-images"), Path::new("/nonexistent")).await.expect("open");
    round_trip(&store).await;
    let described = store.describe();
    assert!(described.contains("parking-images") && described.contains(&server.endpoint), "{described}");
}

#[tokio::test]
async fn s3_store_creates_a_missing_bucket() {
    let server = S3Server::start();
    let mut cfg = s3_config(&server, "fresh-bucket");

    // Without create_bucket the missing bucket is a permanent, reported error.
    cfg.s3.create_bucket = false;
    let strict = ImageStore::open(&cfg, Path::new(".")).await.expect("open without creating");
    let err = strict.check().await.expect_err("check of a missing bucket");
    assert!(!err.is_transient(), "{err}");
    let err = strict.put(&key(1), jpeg(1), "image/jpeg").await.expect_err("put into a missing bucket");
    assert!(!err.is_transient(), "{err}");
    assert!(matches!(err, StoreError::Status { status: 404, .. }), "{err}");

    cfg.s3.create_bucket = true;
    let store = ImageStore::open(&cfg, Path::new(".")).await.expect("open creating the bucket");
    strict.check().await.expect("the bucket exists now");
    store.put(&key(1), jpeg(1), "image/jpeg").await.expect("put");
    assert_eq!(strict.get(&key(1)).await.expect("get"), Some(jpeg(1)));

    // Opening again finds the bucket there and keeps its contents.
    let again = ImageStore::open(&cfg, Path::new(".")).await.expect("open an existing bucket");
    assert_eq!(again.get(&key(1)).await.expect("get"), Some(jpeg(1)));
}

#[tokio::test]
async fn s3_store_prefix_is_a_key_prefix() {
    let server = S3Server::start();
    let mut cfg = s3_config(&server, "shared-bucket");
    cfg.s3.prefix = "site-a/".into();
    let site = ImageStore::open(&cfg, Path::new(".")).await.expect("open with prefix");
    cfg.s3.prefix = String::new();
    let whole = ImageStore::open(&cfg, Path::new(".")).await.expect("open without prefix");

    site.put(&key(1), jpeg(1), "image/jpeg").await.expect("put");
    assert_eq!(whole.get(&format!("site-a/{}", key(1))).await.expect("get"), Some(jpeg(1)));
    assert_eq!(whole.get(&key(1)).await.expect("get"), None);
}

#[tokio::test]
async fn s3_store_refuses_the_same_keys_as_the_local_store() {
    let server = S3Server::start();
    let store = ImageStore::open(&s3_config(&server, "parking-images"), Path::new(".")).await.expect("open");
    let err = store.put("../x.jpg", jpeg(1), "image/jpeg").await.expect_err("escaping key");
    assert!(matches!(err, StoreError::InvalidKey { .. }), "{err}");
}

#[tokio::test]
async fn s3_store_refuses_half_a_credential() {
    let cfg = StorageConfig {
        kind: StoreKind::S3,
        s3: S3Config { access_key: Some("only-the-id".into()), ..S3Config::default() },
        ..StorageConfig::default()
    };
    let err = ImageStore::open(&cfg, Path::new(".")).await.expect_err("access key without secret");
    assert!(matches!(err, StoreError::Config(_)) && !err.is_transient(), "{err}");
}

#[tokio::test]
async fn s3_outage_fails_fast_with_a_transient_error_and_heals() {
    let mut server = S3Server::start();
    let store = ImageStore::open(&s3_config(&server, "parking-images"), Path::new(".")).await.expect("open");
    store.put(&key(1), jpeg(1), "image/jpeg").await.expect("put before the outage");

    server.stop();
    let started = Instant::now();
    let err = store.put(&key(2), jpeg(2), "image/jpeg").await.expect_err("put during the outage");
    assert!(err.is_transient(), "{err}");
    assert!(started.elapsed() < S3_REQUEST_TIMEOUT, "took {:?}", started.elapsed());
    // A read during an outage must fail, not claim the image does not exist.
    let err = store.get(&key(1)).await.expect_err("get during the outage");
    assert!(err.is_transient(), "{err}");
    assert!(store.check().await.expect_err("check during the outage").is_transient());
    assert!(store.delete(&key(1)).await.expect_err("delete during the outage").is_transient());

    // The restarted server is empty: the put must recreate the bucket by itself.
    server.start_again();
    store.check().await.expect("check after the outage");
    store.put(&key(2), jpeg(2), "image/jpeg").await.expect("put after the outage");
    assert_eq!(store.get(&key(2)).await.expect("get after the outage"), Some(jpeg(2)));
    assert_eq!(store.get(&key(1)).await.expect("get of an image lost with the server"), None);
}

#[tokio::test]
async fn s3_hung_server_times_out_instead_of_hanging() {
    let server = S3Server::start();
    let store = ImageStore::open(&s3_config(&server, "parking-images"), Path::new(".")).await.expect("open");
    store.put(&key(1), jpeg(1), "image/jpeg").await.expect("put before the hang");

    server.pause();
    let (k1, k2) = (key(1), key(2));
    let started = Instant::now();
    let limit = S3_REQUEST_TIMEOUT + Duration::from_secs(5);
    // Concurrently, so that the test waits for one timeout rather than three.
    let (put, get, check) = tokio::join!(
        tokio::time::timeout(limit, store.put(&k2, jpeg(2), "image/jpeg")),
        tokio::time::timeout(limit, store.get(&k1)),
        tokio::time::timeout(limit, store.check()),
    );
    let elapsed = started.elapsed();
    server.resume();
    for (what, result) in
        [("put", put.map(|r| r.err())), ("get", get.map(|r| r.err())), ("check", check.map(|r| r.err()))]
    {
        let err = result
            .unwrap_or_else(|_| panic!("{what} still hanging after {limit:?}"))
            .unwrap_or_else(|| panic!("{what} succeeded against a hung server"));
        assert!(err.is_transient(), "{what}: {err}");
    }
    assert!(elapsed >= S3_REQUEST_TIMEOUT, "failed before the timeout ({elapsed:?})");

    store.put(&key(2), jpeg(2), "image/jpeg").await.expect("put after the server resumed");
    assert_eq!(store.get(&key(1)).await.expect("get after the server resumed"), Some(jpeg(1)));
}

#[test]
fn config_reads_from_toml_with_defaults() {
    let cfg: StorageConfig = Figment::from(Toml::string(
        r#"
        [storage]
        kind = "s3"
        [storage.s3]
        endpoint = "http://minio:9000"
        access_key = "k"
        secret_key = "s"
        "#,
    ))
    .extract_inner("storage")
    .expect("storage section");
    assert_eq!(cfg.kind, StoreKind::S3);
    assert_eq!(cfg.local_dir, None);
    assert_eq!(cfg.s3.bucket, "parking-images");
    assert_eq!(cfg.s3.region, "us-east-1");
    assert_eq!(cfg.s3.endpoint.as_deref(), Some("http://minio:9000"));
    assert!(cfg.s3.path_style && cfg.s3.create_bucket);
    assert_eq!(cfg.s3.prefix, "");

    let empty: StorageConfig = Figment::from(Toml::string("")).extract().expect("all defaults");
    assert_eq!(empty.kind, StoreKind::Local);

    let typo = Figment::from(Toml::string("[s3]\nbucket_name = \"x\"\n")).extract::<StorageConfig>();
    assert!(typo.is_err(), "unknown keys are refused");
    let kind = Figment::from(Toml::string("kind = \"gcs\"\n")).extract::<StorageConfig>();
    assert!(kind.is_err(), "unknown kinds are refused");
}

#[tokio::test]
async fn s3_store_creates_its_bucket_outside_us_east_1() {
    let server = S3Server::start();
    let mut cfg = s3_config(&server, "eu-bucket");
    cfg.s3.region = "eu-west-1".into();
    let store = ImageStore::open(&cfg, Path::new(".")).await.expect("open creating the bucket in eu-west-1");
    store.put(&key(1), jpeg(1), "image/jpeg").await.expect("put");
    assert_eq!(store.get(&key(1)).await.expect("get"), Some(jpeg(1)));
}

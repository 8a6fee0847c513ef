//! Object storage for JPEG captures: a local directory (the default) or an S3 bucket (AWS, MinIO,
//! anything speaking the S3 protocol), behind one cheap-to-clone [`ImageStore`] handle.
//!
//! Keys are relative, `/`-separated paths such as
//! `captures/<camera-id>/<yyyy>/<mm>/<dd>/<hhmmss.micros>-<sha256 prefix>.jpg`. Both backends apply
//! the same key rules (see [`validate_key`]), so a key that works on a laptop works on S3 and the
//! other way round.
//!
//! Errors say whether they are worth retrying ([`StoreError::is_transient`]): an unreachable or
//! overloaded server is, a malformed key or a refused credential is not.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use s3::command::Command;
use s3::creds::Credentials;
use s3::request::tokio_backend::ReqwestRequest;
use s3::request::{Request as _, ResponseData};
use s3::{Bucket, BucketConfiguration, Region};
use serde::{Deserialize, Serialize};

/// Every S3 request gives up after this long, so an outage fails callers (who retry) instead of
/// hanging them behind rust-s3's 60 s default.
pub const S3_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest key accepted; S3's own limit, applied locally too so both backends agree.
const MAX_KEY_LEN: usize = 1024;

/// Which backend holds the images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Local,
    S3,
}

/// The `[storage]` section of the configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub kind: StoreKind,
    /// Directory of the local store; `None` means `<data_dir>/images`.
    pub local_dir: Option<PathBuf>,
    pub s3: S3Config,
}

/// The `[storage.s3]` section.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// `None` means AWS itself, at `region`.
    pub endpoint: Option<String>,
    pub region: String,
    /// `https://host/bucket/key` rather than `https://bucket.host/key`: what MinIO and moto expect.
    pub path_style: bool,
    /// With `secret_key`; when both are absent the usual AWS sources are used
    /// (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, the profile file, instance metadata).
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    /// Create the bucket when it is missing, at open and when a put finds it gone.
    pub create_bucket: bool,
    /// Prepended to every key, with a `/` between, so that several sites can share one bucket.
    pub prefix: String,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            bucket: "parking-images".into(),
            endpoint: None,
            region: "us-east-1".into(),
            path_style: true,
            access_key: None,
            secret_key: None,
            create_bucket: true,
            prefix: String::new(),
        }
    }
}

// By hand so that logging the configuration at start-up cannot leak the secret key.
impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key", &self.access_key)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "<redacted>"))
            .field("create_bucket", &self.create_bucket)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The key breaks the key rules; nothing was sent or written.
    #[error("invalid image key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    /// The configuration cannot work (no credentials, bad endpoint, bucket owned by someone else).
    #[error("image store configuration: {0}")]
    Config(String),
    /// The local directory could not be used.
    #[error("image store: {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The S3 server answered with an error status.
    #[error("s3 {op} {key:?}: HTTP {status} {code}: {message}")]
    Status { op: &'static str, key: String, status: u16, code: String, message: String },
    /// No usable answer from the S3 server: connection refused or reset, timeout, TLS, ...
    /// `detail` is the whole cause chain, since reqwest's own message leaves out the reason.
    #[error("s3 {op} {key:?}: {detail}")]
    Transport { op: &'static str, key: String, transient: bool, detail: String },
}

impl StoreError {
    /// Whether the same request may succeed later (an outage, an overloaded server, a full disk):
    /// callers retry these and give up on the others.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::InvalidKey { .. } | StoreError::Config(_) => false,
            StoreError::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted
                    | io::ErrorKind::WouldBlock
                    | io::ErrorKind::ResourceBusy
                    // Retention may free space; dropping captures meanwhile would be worse.
                    | io::ErrorKind::StorageFull
                    | io::ErrorKind::QuotaExceeded
            ),
            StoreError::Status { status, code, .. } => status_is_transient(*status, code),
            StoreError::Transport { transient, .. } => *transient,
        }
    }

    fn is_no_such_bucket(&self) -> bool {
        matches!(self, StoreError::Status { status: 404, code, .. } if code == "NoSuchBucket")
    }
}

fn status_is_transient(status: u16, code: &str) -> bool {
    // 501 is moto's and MinIO's "not implemented": retrying cannot help. `RequestTimeout` comes
    // as a 400 and `OperationAborted` as a 409, yet AWS documents both as "try again".
    match status {
        501 => false,
        500..=599 | 408 | 429 => true,
        _ => matches!(code, "RequestTimeout" | "SlowDown" | "OperationAborted" | "InternalError"),
    }
}

/// Checks a key against the rules both backends share: relative, `/`-separated, no empty
/// segments, no segment starting with `.` (which rules out `.` and `..`, and keeps the local
/// store's hidden temporary files out of the key space), no backslash, no control characters,
/// at most 1024 bytes.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    let reason = if key.is_empty() {
        Some("empty")
    } else if key.len() > MAX_KEY_LEN {
        Some("longer than 1024 bytes")
    } else if key.starts_with('/') {
        Some("absolute")
    } else if key.contains('\\') {
        Some("contains a backslash")
    } else if key.chars().any(char::is_control) {
        Some("contains a control character")
    } else if key.split('/').any(str::is_empty) {
        Some("has an empty segment")
    } else if key.split('/').any(|s| s.starts_with('.')) {
        Some("has a segment starting with '.'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StoreError::InvalidKey { key: key.into(), reason }),
        None => Ok(()),
    }
}

/// Where captures are kept. Cloning is cheap and clones share everything.
#[derive(Clone)]
pub struct ImageStore {
    inner: Arc<Backend>,
}

enum Backend {
    Local(LocalStore),
    S3(S3Store),
}

impl fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ImageStore").field(&self.describe()).finish()
    }
}

impl ImageStore {
    /// Opens the configured backend: creates the local directory, or builds the S3 client and,
    /// with `create_bucket`, creates the bucket when it is missing.
    pub async fn open(cfg: &StorageConfig, data_dir: &Path) -> Result<ImageStore, StoreError> {
        let backend = match cfg.kind {
            StoreKind::Local => {
                let root = cfg.local_dir.clone().unwrap_or_else(|| data_dir.join("images"));
                Backend::Local(LocalStore::open(root).await?)
            }
            StoreKind::S3 => Backend::S3(S3Store::open(&cfg.s3).await?),
        };
        Ok(ImageStore { inner: Arc::new(backend) })
    }

    /// Stores `data` under `key`, replacing what was there.
    pub async fn put(&self, key: &str, data: Bytes, content_type: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        match &*self.inner {
            Backend::Local(s) => s.put(key, &data).await,
            Backend::S3(s) => s.put(key, &data, content_type).await,
        }
    }

    /// The object under `key`, or `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        validate_key(key)?;
        match &*self.inner {
            Backend::Local(s) => s.get(key).await,
            Backend::S3(s) => s.get(key).await,
        }
    }

    /// Removes the object under `key`; removing one that is not there is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        match &*self.inner {
            Backend::Local(s) => s.delete(key).await,
            Backend::S3(s) => s.delete(key).await,
        }
    }

    /// Where the images go, for logs and the status page.
    pub fn describe(&self) -> String {
        match &*self.inner {
            Backend::Local(s) => format!("local directory {}", s.root.display()),
            Backend::S3(s) => s.describe.clone(),
        }
    }

    /// A cheap probe for readiness: the directory is there, or the S3 server answers for the
    /// bucket (a missing bucket counts as ready when the store may create it on the next put).
    pub async fn check(&self) -> Result<(), StoreError> {
        match &*self.inner {
            Backend::Local(s) => s.check().await,
            Backend::S3(s) => s.check().await,
        }
    }
}

struct LocalStore {
    root: PathBuf,
}

/// Makes temporary names unique among concurrent puts of the same key in this process; the
/// process id covers other processes sharing the directory.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl LocalStore {
    async fn open(root: PathBuf) -> Result<LocalStore, StoreError> {
        tokio::fs::create_dir_all(&root).await.map_err(|e| io_error("creating", &root, e))?;
        Ok(LocalStore { root })
    }

    async fn put(&self, key: &str, data: &[u8]) -> Result<(), StoreError> {
        let path = self.root.join(key);
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(StoreError::InvalidKey { key: key.into(), reason: "has no file name" });
        };
        tokio::fs::create_dir_all(dir).await.map_err(|e| io_error("creating", dir, e))?;
        // Written aside then renamed over the key, so a reader never sees half an image and a
        // crash leaves only a hidden temporary file, never a truncated capture.
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{}.{}.{n}.tmp", name.to_string_lossy(), std::process::id()));
        if let Err(e) = tokio::fs::write(&tmp, data).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io_error("writing", &tmp, e));
        }
        if let Err(e) = tokio::fs::rename(&tmp, &path).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io_error("renaming into", &path, e));
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let path = self.root.join(key);
        match tokio::fs::read(&path).await {
            Ok(data) => Ok(Some(Bytes::from(data))),
            // A directory, or a path through a file, is no object either.
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(io_error("reading", &path, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        // Empty day directories are left behind on purpose: removing them would race with a put
        // that has just created one and is about to write into it.
        let path = self.root.join(key);
        match tokio::fs::remove_file(&path).await {
            Err(e) if !is_absent(&e) => Err(io_error("removing", &path, e)),
            _ => Ok(()),
        }
    }

    async fn check(&self) -> Result<(), StoreError> {
        let meta = tokio::fs::metadata(&self.root).await.map_err(|e| io_error("checking", &self.root, e))?;
        if meta.is_dir() {
            Ok(())
        } else {
            Err(StoreError::Config(format!("{} is not a directory", self.root.display())))
        }
    }
}

fn is_absent(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory)
}

fn io_error(op: &'static str, path: &Path, source: io::Error) -> StoreError {
    StoreError::Io { op, path: path.to_path_buf(), source }
}

struct S3Store {
    bucket: Box<Bucket>,
    /// Empty, or ending in `/`.
    prefix: String,
    create_bucket: bool,
    /// The LocationConstraint of a CreateBucket request: none for us-east-1, which refuses one.
    location: Option<Region>,
    describe: String,
}

/// What a probe of the bucket found.
enum BucketState {
    Present,
    Missing,
}

impl S3Store {
    async fn open(cfg: &S3Config) -> Result<S3Store, StoreError> {
        if cfg.bucket.is_empty() {
            return Err(StoreError::Config("s3.bucket is empty".into()));
        }
        let prefix = cfg.prefix.trim_matches('/');
        if !prefix.is_empty() {
            validate_key(prefix).map_err(|e| StoreError::Config(format!("s3.prefix: {e}")))?;
        }
        let credentials = credentials(cfg).await?;
        let (region, where_) = match &cfg.endpoint {
            Some(endpoint) => {
                let endpoint = endpoint.trim_end_matches('/').to_string();
                (Region::Custom { region: cfg.region.clone(), endpoint: endpoint.clone() }, endpoint)
            }
            None => {
                // rust-s3 knows a fixed list of AWS regions and turns any other name into an
                // endpoint equal to the name itself; the regional endpoint is right for all.
                let region = match cfg.region.parse::<Region>() {
                    Ok(Region::Custom { region, .. }) => {
                        let endpoint = format!("https://s3.{region}.amazonaws.com");
                        Region::Custom { region, endpoint }
                    }
                    Ok(region) => region,
                    Err(e) => return Err(StoreError::Config(format!("s3.region {:?}: {e}", cfg.region))),
                };
                (region, format!("AWS {}", cfg.region))
            }
        };
        let location = (cfg.region != "us-east-1").then(|| region.clone());
        let mut bucket =
            Bucket::new(&cfg.bucket, region, credentials).map_err(|e| StoreError::Config(format!("s3 client: {e}")))?;
        if cfg.path_style {
            bucket.set_path_style();
        }
        bucket.set_request_timeout(Some(S3_REQUEST_TIMEOUT));
        // rust-s3 silently retries reads once, after a second, on transport errors: a hung server
        // would hold a read for twice the timeout. Callers retry transient errors themselves, with
        // their own backoff. (A process-wide setting; this store is the only rust-s3 user.)
        s3::set_retries(0);
        let store = S3Store {
            bucket,
            prefix: if prefix.is_empty() { String::new() } else { format!("{prefix}/") },
            create_bucket: cfg.create_bucket,
            location,
            describe: format!("s3 bucket {} at {where_}", cfg.bucket),
        };
        if cfg.create_bucket {
            match store.ensure_bucket().await {
                // A store that is out when the server starts is an outage like any other: the
                // server runs, frames wait, and the first put makes the bucket.
                Err(e) if e.is_transient() => {
                    tracing::warn!(error = %e, "the {} cannot be reached yet; captures wait for it", store.describe)
                }
                other => other?,
            }
        }
        Ok(store)
    }

    async fn put(&self, key: &str, data: &[u8], content_type: &str) -> Result<(), StoreError> {
        let path = format!("{}{key}", self.prefix);
        match self.put_once(&path, data, content_type).await {
            // The bucket went away under us (a wiped MinIO, a restarted test server): recreate it
            // once rather than fail every capture until someone intervenes.
            Err(e) if self.create_bucket && e.is_no_such_bucket() => {
                tracing::warn!("the {} is gone; creating it again", self.describe);
                self.create().await?;
                self.put_once(&path, data, content_type).await
            }
            other => other,
        }
    }

    async fn put_once(&self, path: &str, data: &[u8], content_type: &str) -> Result<(), StoreError> {
        let command = Command::PutObject { content: data, content_type, custom_headers: None, multipart: None };
        self.send("put", path, command).await?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        let path = format!("{}{key}", self.prefix);
        match self.send("get", &path, Command::GetObject).await {
            Ok(response) => Ok(Some(response.into_bytes())),
            Err(StoreError::Status { status: 404, code, .. }) if code == "NoSuchKey" => Ok(None),
            // A store that owns its bucket treats a vanished bucket as an empty one; otherwise a
            // missing bucket is a configuration error worth surfacing.
            Err(e) if self.create_bucket && e.is_no_such_bucket() => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = format!("{}{key}", self.prefix);
        match self.send("delete", &path, Command::DeleteObject).await {
            // S3 answers 204 for a missing key already; some compatible servers say NoSuchKey.
            Ok(_) => Ok(()),
            Err(StoreError::Status { status: 404, code, .. }) if code == "NoSuchKey" => Ok(()),
            Err(e) if self.create_bucket && e.is_no_such_bucket() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn check(&self) -> Result<(), StoreError> {
        match self.probe().await? {
            BucketState::Present => Ok(()),
            BucketState::Missing if self.create_bucket => Ok(()),
            BucketState::Missing => Err(StoreError::Config(format!("the {} does not exist", self.describe))),
        }
    }

    /// Lists at most one key: cheap, needs only the permission the store needs anyway
    /// (`s3:ListBucket`, which S3 also requires to answer 404 rather than 403 for missing keys),
    /// and tells a missing bucket apart from an unreachable server.
    async fn probe(&self) -> Result<BucketState, StoreError> {
        let command = Command::ListObjectsV2 {
            prefix: self.prefix.clone(),
            delimiter: None,
            continuation_token: None,
            start_after: None,
            max_keys: Some(1),
        };
        match self.send("list", "/", command).await {
            Ok(_) => Ok(BucketState::Present),
            Err(e) if e.is_no_such_bucket() => Ok(BucketState::Missing),
            Err(e) => Err(e),
        }
    }

    /// Probes first so that credentials without `s3:CreateBucket` work with an existing bucket.
    async fn ensure_bucket(&self) -> Result<(), StoreError> {
        match self.probe().await? {
            BucketState::Present => Ok(()),
            BucketState::Missing => self.create().await,
        }
    }

    async fn create(&self) -> Result<(), StoreError> {
        // Built by hand rather than with `Bucket::create*`, which use a fresh client without our
        // timeout and, for any custom endpoint, send `LocationConstraint=us-east-1`, which AWS and
        // moto reject (InvalidLocationConstraint). `public()` only means "no ACL header": new
        // buckets are private anyway, and AWS refuses ACLs under its default BucketOwnerEnforced.
        let mut config = BucketConfiguration::public();
        if let Some(region) = &self.location {
            config.set_location_constraint(region.clone());
        }
        match self.send("create bucket", "", Command::CreateBucket { config }).await {
            Ok(_) => {
                tracing::info!("created the {}", self.describe);
                Ok(())
            }
            // Someone (another replica, a previous attempt whose answer was lost) was faster.
            Err(StoreError::Status { status: 409, code, .. }) if code == "BucketAlreadyOwnedByYou" => Ok(()),
            // The name is taken; it is still fine if these credentials can use it.
            Err(StoreError::Status { status: 409, code, .. }) if code == "BucketAlreadyExists" => {
                match self.probe().await? {
                    BucketState::Present => Ok(()),
                    BucketState::Missing => {
                        Err(StoreError::Config(format!("the {} cannot be created: name taken", self.describe)))
                    }
                }
            }
            Err(e) => Err(e),
        }
    }

    /// One request; any non-2xx answer becomes [`StoreError::Status`] with the S3 error code.
    async fn send(&self, op: &'static str, path: &str, command: Command<'_>) -> Result<ResponseData, StoreError> {
        let key = || if path == "/" || path.is_empty() { self.bucket.name() } else { path.to_string() };
        let result = async { ReqwestRequest::new(&self.bucket, path, command).await?.response_data(false).await };
        let response = result.await.map_err(|e| s3_error(op, key(), e))?;
        let status = response.status_code();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let body = String::from_utf8_lossy(response.as_slice());
        let (code, message) = error_code(&body);
        Err(StoreError::Status { op, key: key(), status, code, message })
    }
}

async fn credentials(cfg: &S3Config) -> Result<Credentials, StoreError> {
    let result = match (&cfg.access_key, &cfg.secret_key) {
        (Some(access), Some(secret)) => Credentials::new(Some(access), Some(secret), None, None, None),
        (None, None) => {
            // The fallback chain may ask instance metadata over blocking HTTP.
            tokio::task::spawn_blocking(Credentials::default)
                .await
                .map_err(|e| StoreError::Config(format!("looking for s3 credentials: {e}")))?
        }
        _ => return Err(StoreError::Config("s3.access_key and s3.secret_key go together".into())),
    };
    result.map_err(|e| StoreError::Config(format!("s3 credentials: {e}")))
}

/// Maps a failure that produced no HTTP answer we could read.
fn s3_error(op: &'static str, key: String, e: s3::error::S3Error) -> StoreError {
    use s3::error::S3Error as E;
    let transient = match &e {
        // With rust-s3's `fail-on-err` feature (off here, but features unify across a build)
        // error statuses arrive this way instead of as responses.
        E::HttpFailWithBody(status, body) => {
            let (code, message) = error_code(body);
            return StoreError::Status { op, key, status: *status, code, message };
        }
        E::Reqwest(e) => !e.is_builder(),
        // Credentials fail at request time only while refreshing temporary ones, from an endpoint.
        E::Io(_) | E::Credentials(_) => true,
        _ => false,
    };
    let mut detail = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(inner) = cause {
        // rust-s3's wrapper repeats its source's message; say each thing once.
        let text = inner.to_string();
        if !detail.contains(&text) {
            detail = format!("{detail}: {text}");
        }
        cause = inner.source();
    }
    StoreError::Transport { op, key, transient, detail }
}

/// `<Code>` and `<Message>` of an S3 error document; a tiny scan rather than an XML parser, since
/// the document is flat and only serves the error message.
fn error_code(body: &str) -> (String, String) {
    let field = |tag: &str| {
        let open = format!("<{tag}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find("</")? + start;
        Some(body[start..end].trim().to_string())
    };
    (field("Code").unwrap_or_default(), field("Message").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_could_escape_are_refused() {
        for key in [
            "",
            "/etc/passwd",
            "../x.jpg",
            "a/../b.jpg",
            "a//b.jpg",
            "a/b/",
            "./a.jpg",
            "a\\b.jpg",
            "a/.hidden",
            "a\nb",
        ] {
            let err = validate_key(key).expect_err(key);
            assert!(!err.is_transient(), "{key:?}");
        }
        validate_key("captures/gate-1/2026/11/24/004500.123456-0a1b2c3d.jpg").unwrap();
        validate_key(&"a".repeat(MAX_KEY_LEN)).unwrap();
        validate_key(&"a".repeat(MAX_KEY_LEN + 1)).unwrap_err();
    }

    #[test]
    fn s3_error_documents_are_read() {
        let body = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code>\
                    <Message>The specified bucket does not exist</Message></Error>";
        assert_eq!(error_code(body), ("NoSuchBucket".into(), "The specified bucket does not exist".into()));
        assert_eq!(error_code(""), (String::new(), String::new()));
    }

    #[test]
    fn statuses_are_classified() {
        assert!(status_is_transient(503, "SlowDown"));
        assert!(status_is_transient(500, ""));
        assert!(status_is_transient(429, ""));
        assert!(status_is_transient(400, "RequestTimeout"));
        assert!(!status_is_transient(501, "NotImplemented"));
        assert!(!status_is_transient(403, "AccessDenied"));
        assert!(!status_is_transient(404, "NoSuchBucket"));
        assert!(!status_is_transient(400, "InvalidBucketName"));
    }

    #[test]
    fn debug_hides_the_secret_key() {
        let cfg = S3Config { secret_key: Some("hunter2".into()), ..S3Config::default() };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}

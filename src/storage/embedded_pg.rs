//! A private PostgreSQL server in the data directory: the default when no `DATABASE_URL` is set,
//! so a fresh machine runs the whole system with nothing to configure.
//!
//! initdb and postgres refuse to run as root; as root, the server runs as the `postgres` user and
//! its cluster directory belongs to that user.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rand::distr::{Alphanumeric, SampleString};

const DB_USER: &str = "smartpark";
const DB_NAME: &str = "smartpark";

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedPgError {
    #[error("PostgreSQL binaries not found (looked for pg_ctl in {0}); install PostgreSQL or set DATABASE_URL")]
    NoBinaries(String),
    #[error("running as root, but there is no `postgres` user to run PostgreSQL as")]
    NoPostgresUser,
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{command} failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("{0} holds files but no PostgreSQL cluster; move them away or pick another data_dir")]
    NotACluster(PathBuf),
    #[error("{0} is in use by another smartpark process; stop it or pick another data_dir")]
    InUse(PathBuf),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EmbeddedPgError {
    let what = what.into();
    move |source| EmbeddedPgError::Io { what, source }
}

#[derive(Debug)]
pub struct EmbeddedPostgres {
    /// Held (flock) for the life of the process: the kernel releases it however the process
    /// ends, so a held lock means a live owner and a free one means any server found is orphaned.
    _lock: std::fs::File,
    bin_dir: PathBuf,
    cluster: PathBuf,
    run_as: Option<(u32, u32)>,
    url: String,
    running: bool,
}

impl EmbeddedPostgres {
    /// Initialises the cluster on first use, starts the server on a free loopback port and makes
    /// sure the application database exists. Blocking: call it from a blocking context.
    pub fn start(data_dir: &Path, bin_dir: Option<&Path>) -> Result<EmbeddedPostgres, EmbeddedPgError> {
        let bin_dir = match bin_dir {
            Some(d) => d.to_path_buf(),
            None => find_bin_dir()?,
        };
        if !bin_dir.join("pg_ctl").is_file() {
            return Err(EmbeddedPgError::NoBinaries(bin_dir.display().to_string()));
        }
        std::fs::create_dir_all(data_dir).map_err(io(format!("creating {}", data_dir.display())))?;
        let data_dir = data_dir.canonicalize().map_err(io(format!("resolving {}", data_dir.display())))?;
        let lock = lock_data_dir(&data_dir)?;
        let cluster = data_dir.join("postgres");
        let run_as = if unsafe { libc::geteuid() } == 0 { Some(postgres_user()?) } else { None };
        let password_file = data_dir.join("postgres-password");
        let mut pg = EmbeddedPostgres { _lock: lock, bin_dir, cluster, run_as, url: String::new(), running: false };
        let password = if pg.cluster.join("PG_VERSION").is_file() {
            read_password(&password_file)?
        } else {
            let password = create_password(&password_file)?;
            pg.init(&password)?;
            password
        };
        if let Some((uid, gid)) = pg.run_as {
            // A cluster made by an earlier run as another user, or copied in, must be the server's.
            chown_recursive(&pg.cluster, uid, gid)?;
        }
        // We hold the data directory's lock, so a server still running here was left by a
        // process that was killed: stop it before starting ours.
        if pg.pg_ctl(&["status"]).map(|o| o.status.success()).unwrap_or(false) {
            tracing::warn!(cluster = %pg.cluster.display(), "stopping a PostgreSQL left running by an earlier run");
            pg.pg_ctl(&["stop", "-m", "fast", "-w"])?;
        }
        let port = free_port()?;
        let opts = format!("-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''");
        let log = pg.cluster.join("server.log");
        let out = pg.pg_ctl(&["start", "-w", "-t", "60", "-l", &log.to_string_lossy(), "-o", &opts])?;
        if !out.status.success() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: String =
                tail.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
            return Err(EmbeddedPgError::Command {
                command: "pg_ctl start".into(),
                stderr: format!(
                    "{}{}\n{tail}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            });
        }
        pg.running = true;
        pg.url = format!("postgres://{DB_USER}:{password}@127.0.0.1:{port}/{DB_NAME}");
        let admin_url = format!("postgres://{DB_USER}:{password}@127.0.0.1:{port}/postgres");
        ensure_database(&admin_url)?;
        tracing::info!(port, cluster = %pg.cluster.display(), "private PostgreSQL started");
        Ok(pg)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops the server, waiting for it to finish writing. Idempotent.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        match self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"]) {
            Ok(o) if o.status.success() => tracing::info!("private PostgreSQL stopped"),
            Ok(o) => tracing::error!(stderr = %String::from_utf8_lossy(&o.stderr), "pg_ctl stop failed"),
            Err(e) => tracing::error!(error = %e, "pg_ctl stop failed"),
        }
    }

    fn init(&self, password: &str) -> Result<(), EmbeddedPgError> {
        if self.cluster.exists()
            && std::fs::read_dir(&self.cluster).map_err(io("reading the cluster directory"))?.next().is_some()
        {
            return Err(EmbeddedPgError::NotACluster(self.cluster.clone()));
        }
        std::fs::create_dir_all(&self.cluster).map_err(io("creating the cluster directory"))?;
        // initdb reads the superuser's password from a file the server user can read; it is
        // removed as soon as initdb is done.
        let pwfile = self.cluster.with_extension("initpw");
        // Readable by its owner only from the moment it exists: created 0600, then written.
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let _ = std::fs::remove_file(&pwfile);
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&pwfile)
                .map_err(io("creating the initdb password file"))?;
            f.write_all(password.as_bytes()).map_err(io("writing the initdb password file"))?;
        }
        if let Some((uid, gid)) = self.run_as {
            chown(&self.cluster, uid, gid)?;
            chown(&pwfile, uid, gid)?;
        }
        let out = self
            .command("initdb")
            .args(["-D"])
            .arg(&self.cluster)
            .args(["-U", DB_USER, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .map_err(io("running initdb"));
        let _ = std::fs::remove_file(&pwfile);
        check("initdb", out?)?;
        tracing::info!(cluster = %self.cluster.display(), "initialised a private PostgreSQL cluster");
        Ok(())
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<Output, EmbeddedPgError> {
        self.command("pg_ctl").arg("-D").arg(&self.cluster).args(args).output().map_err(io("running pg_ctl"))
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        // The server user may not be allowed into the caller's working directory.
        cmd.current_dir(self.cluster.parent().unwrap_or(Path::new("/")));
        cmd.env_remove("PGDATA").env_remove("PGPORT").env("LC_ALL", "C");
        if let Some((uid, gid)) = self.run_as {
            // std drops root's supplementary groups when it changes the uid.
            cmd.uid(uid).gid(gid);
        }
        cmd
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, EmbeddedPgError> {
    use std::os::fd::AsRawFd;
    let path = data_dir.join("smartpark.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(format!("opening {}", path.display())))?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(EmbeddedPgError::InUse(data_dir.to_path_buf()));
    }
    Ok(file)
}

fn check(command: &str, out: Output) -> Result<Output, EmbeddedPgError> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(EmbeddedPgError::Command {
            command: command.into(),
            stderr: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        })
    }
}

/// `pg_ctl` on the PATH (following links to the real installation), else the newest
/// /usr/lib/postgresql/*/bin.
fn find_bin_dir() -> Result<PathBuf, EmbeddedPgError> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("pg_ctl");
            if candidate.is_file() {
                if let Some(real) = candidate.canonicalize().ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
                    return Ok(real);
                }
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("pg_ctl").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, b)| b)
        .ok_or_else(|| EmbeddedPgError::NoBinaries("PATH and /usr/lib/postgresql/*/bin".into()))
}

fn postgres_user() -> Result<(u32, u32), EmbeddedPgError> {
    let name = CString::new("postgres").map_err(|_| EmbeddedPgError::NoPostgresUser)?;
    // getpwnam's result points into static storage; it is read at once, before any other call.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(EmbeddedPgError::NoPostgresUser);
    }
    Ok(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), EmbeddedPgError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io(format!("chown {}", path.display())))
}

fn chown_recursive(path: &Path, uid: u32, gid: u32) -> Result<(), EmbeddedPgError> {
    let meta = std::fs::symlink_metadata(path).map_err(io(format!("reading {}", path.display())))?;
    use std::os::unix::fs::MetadataExt;
    if meta.uid() == uid && meta.gid() == gid && !meta.is_dir() {
        return Ok(());
    }
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(io(format!("chown {}", path.display())))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(io(format!("reading {}", path.display())))? {
            chown_recursive(&entry.map_err(io("reading a directory entry"))?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// The password the cluster was made with; without it the cluster cannot be entered.
fn read_password(path: &Path) -> Result<String, EmbeddedPgError> {
    let password = std::fs::read_to_string(path).map_err(io(format!(
        "reading {} (the private cluster's password; without it, move the cluster away to start afresh)",
        path.display()
    )))?;
    Ok(password.trim().to_string())
}

fn create_password(path: &Path) -> Result<String, EmbeddedPgError> {
    let password = Alphanumeric.sample_string(&mut rand::rng(), 32);
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("writing {}", path.display())))?;
    f.write_all(password.as_bytes()).map_err(io(format!("writing {}", path.display())))?;
    Ok(password)
}

fn free_port() -> Result<u16, EmbeddedPgError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(listener.local_addr().map_err(io("finding a free port"))?.port())
}

/// Creates the application database on first start, through its own short-lived runtime: this
/// runs before the server's runtime exists, on a plain thread.
fn ensure_database(admin_url: &str) -> Result<(), EmbeddedPgError> {
    use diesel::prelude::*;
    use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
    let fail = |e: String| EmbeddedPgError::Command { command: "creating the database".into(), stderr: e };
    let mut conn = AsyncConnectionWrapper::<diesel_async::AsyncPgConnection>::establish(admin_url)
        .map_err(|e| fail(e.to_string()))?;
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bigint)]
        n: i64,
    }
    let found: Found = diesel::sql_query("SELECT count(*) AS n FROM pg_database WHERE datname = $1")
        .bind::<diesel::sql_types::Text, _>(DB_NAME)
        .get_result(&mut conn)
        .map_err(|e| fail(e.to_string()))?;
    if found.n == 0 {
        diesel::sql_query(format!("CREATE DATABASE {DB_NAME}")).execute(&mut conn).map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}

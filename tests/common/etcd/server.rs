//! A real, private etcd server for one test: loopback ports chosen at run
//! time, its own temporary data directory, killed (and reaped) on drop.
//!
//! Needs the `etcd` and `etcdctl` binaries (Debian/Ubuntu:
//! `apt-get install etcd-server etcd-client`, etcd 3.4). A missing binary is
//! a test failure, never a silent pass.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::process::{check_binary, etcd_bin, etcdctl_bin, run_bounded, INSTALL_HINT};
use super::tls::TlsFiles;

/// How long `start` waits for etcd to report healthy.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `stop` waits for etcd to exit after SIGTERM before SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on every etcdctl invocation.
pub const ETCDCTL_TIMEOUT: Duration = Duration::from_secs(120);

const BIND_ATTEMPTS: usize = 5;

/// Options for [`EtcdServer::start_with`].
#[derive(Debug, Clone, Default)]
pub struct EtcdOptions {
    /// `--quota-backend-bytes`; etcd's default (2 GiB) when `None`.
    pub quota_backend_bytes: Option<u64>,
    /// Directory to create the temporary directory in (default: the system
    /// temp dir). Useful to put a large run on a tmpfs.
    pub temp_parent: Option<PathBuf>,
    /// Extra command-line flags passed to etcd verbatim.
    pub extra_args: Vec<String>,
    /// Serve clients over TLS with client-certificate auth (as Kubernetes'
    /// etcd does), with certificates generated for this server.
    pub tls: bool,
}

/// A running etcd server owned by the test. Dropping it kills the process
/// (SIGKILL), waits for it, and deletes its data directory.
pub struct EtcdServer {
    /// Killed and reaped in `Drop::drop`, before `dir` is removed.
    child: Option<Child>,
    /// Removes the temp dir on drop; `None` once handed to [`StoppedEtcd`].
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    data_dir: PathBuf,
    client_port: u16,
    peer_port: u16,
    /// Health is probed here (plain http) when clients use TLS.
    metrics_port: Option<u16>,
    tls: Option<TlsFiles>,
}

/// The data directory of an etcd server that was stopped cleanly with
/// [`EtcdServer::stop`]. Deleted on drop.
pub struct StoppedEtcd {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data_dir: PathBuf,
    exit_status: ExitStatus,
}

impl EtcdServer {
    /// Starts etcd with default options. Panics (with the etcd log) when it
    /// does not become healthy within [`START_TIMEOUT`].
    pub fn start() -> EtcdServer {
        Self::start_with(EtcdOptions::default())
    }

    /// Starts etcd with `opts`.
    pub fn start_with(opts: EtcdOptions) -> EtcdServer {
        check_binary(&etcd_bin());
        let mut last_log = String::new();
        for attempt in 1..=BIND_ATTEMPTS {
            let dir = match &opts.temp_parent {
                Some(p) => tempfile::Builder::new().prefix("evf-etcd-").tempdir_in(p),
                None => tempfile::Builder::new().prefix("evf-etcd-").tempdir(),
            }
            .expect("creating a temp dir for etcd");
            let client_port = free_port();
            let mut peer_port = free_port();
            while peer_port == client_port {
                peer_port = free_port();
            }
            let data_dir = dir.path().join("data");
            let log_path = dir.path().join("etcd.log");
            let (tls, server_files) = if opts.tls {
                let (files, cert, key) = TlsFiles::generate(dir.path());
                (Some(files), Some((cert, key)))
            } else {
                (None, None)
            };
            let scheme = if tls.is_some() { "https" } else { "http" };
            let client_url = format!("{scheme}://127.0.0.1:{client_port}");
            let peer_url = format!("http://127.0.0.1:{peer_port}");
            let mut cmd = Command::new(etcd_bin());
            cmd.arg("--name")
                .arg("default")
                .arg("--data-dir")
                .arg(&data_dir)
                .arg("--listen-client-urls")
                .arg(&client_url)
                .arg("--advertise-client-urls")
                .arg(&client_url)
                .arg("--listen-peer-urls")
                .arg(&peer_url)
                .arg("--initial-advertise-peer-urls")
                .arg(&peer_url)
                .arg("--initial-cluster")
                .arg(format!("default={peer_url}"))
                .arg("--initial-cluster-state")
                .arg("new")
                .arg("--logger")
                .arg("zap")
                .arg("--log-outputs")
                .arg(&log_path)
                // No metrics/pprof listeners beyond the client URL.
                .arg("--enable-pprof=false");
            let mut metrics_port = None;
            if let (Some(files), Some((cert, key))) = (&tls, &server_files) {
                let mut port = free_port();
                while port == client_port || port == peer_port {
                    port = free_port();
                }
                metrics_port = Some(port);
                cmd.arg("--cert-file")
                    .arg(cert)
                    .arg("--key-file")
                    .arg(key)
                    .arg("--client-cert-auth")
                    .arg("--trusted-ca-file")
                    .arg(&files.ca)
                    .arg("--listen-metrics-urls")
                    .arg(format!("http://127.0.0.1:{port}"));
            }
            if let Some(q) = opts.quota_backend_bytes {
                cmd.arg("--quota-backend-bytes").arg(q.to_string());
            }
            cmd.args(&opts.extra_args);
            let stderr = std::fs::File::create(dir.path().join("etcd.stderr"))
                .expect("creating etcd.stderr");
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                // etcd reads ETCD_* variables as flags; keep the caller's out.
                .env_remove("ETCD_DATA_DIR")
                .env_remove("ETCD_NAME");
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("spawning {}: {e}; {INSTALL_HINT}", etcd_bin()));
            let mut server = EtcdServer {
                child: Some(child),
                root: dir.path().to_path_buf(),
                dir: Some(dir),
                data_dir,
                client_port,
                peer_port,
                metrics_port,
                tls,
            };
            match server.wait_healthy(START_TIMEOUT) {
                Ok(()) => return server,
                Err(StartError::Exited(status)) => {
                    let log = server.log();
                    // Another process took one of our ports between our
                    // probe and etcd's bind: try again with new ports.
                    if log.contains("address already in use") && attempt < BIND_ATTEMPTS {
                        last_log = log;
                        continue;
                    }
                    panic!(
                        "etcd exited during start-up ({status}); etcd log ({}):\n{}",
                        server.log_path().display(),
                        tail(&log, 80)
                    );
                }
                Err(StartError::Timeout) => {
                    panic!(
                        "etcd did not become healthy within {:?} at {}; etcd log:\n{}",
                        START_TIMEOUT,
                        server.endpoint(),
                        tail(&server.log(), 80)
                    );
                }
            }
        }
        panic!(
            "etcd could not bind free loopback ports after {BIND_ATTEMPTS} attempts; last log:\n{}",
            tail(&last_log, 40)
        );
    }

    /// `http://127.0.0.1:<client port>` (`https://` with TLS).
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// The certificates, when clients use TLS.
    pub fn tls(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// `--cacert --cert --key` for etcdctl or evforensics, when TLS is on.
    pub fn tls_args(&self) -> Vec<String> {
        match &self.tls {
            Some(t) => vec![
                "--cacert".into(),
                t.ca.display().to_string(),
                "--cert".into(),
                t.client_cert.display().to_string(),
                "--key".into(),
                t.client_key.display().to_string(),
            ],
            None => Vec::new(),
        }
    }

    /// The peer URL (`http://127.0.0.1:<peer port>`).
    pub fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// etcd's `--data-dir`.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The bbolt backend file: `<data dir>/member/snap/db`.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join("member").join("snap").join("db")
    }

    /// etcd's log file (zap JSON lines).
    pub fn log_path(&self) -> PathBuf {
        self.root.join("etcd.log")
    }

    /// The current content of etcd's log file, followed by anything etcd
    /// wrote to stderr (flag errors happen before logging starts).
    pub fn log(&self) -> String {
        let mut log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let stderr = std::fs::read_to_string(self.root.join("etcd.stderr")).unwrap_or_default();
        if !stderr.trim().is_empty() {
            log.push_str("\n--- etcd stderr ---\n");
            log.push_str(&stderr);
        }
        log
    }

    /// The OS process id of the etcd server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("etcd child").id()
    }

    /// `ETCDCTL_API=3 etcdctl --endpoints <endpoint> snapshot save <dest>`.
    /// Panics unless etcdctl exits 0 and `dest` exists.
    pub fn snapshot(&self, dest: &Path) {
        let out = self.etcdctl(&["snapshot", "save", &dest.to_string_lossy()]);
        assert!(
            dest.is_file(),
            "etcdctl snapshot save reported success but {} does not exist\n{}",
            dest.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `etcdctl --endpoints <endpoint> ARGS…` (API v3), bounded by
    /// [`ETCDCTL_TIMEOUT`]. Panics on a non-zero exit with its output.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        let out = self.etcdctl_unchecked(args);
        if !out.status.success() {
            panic!(
                "etcdctl {} failed ({}):\nstdout: {}\nstderr: {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }

    /// Like [`etcdctl`](Self::etcdctl) but returns a failing exit as is.
    pub fn etcdctl_unchecked(&self, args: &[&str]) -> Output {
        check_binary(&etcdctl_bin());
        let mut cmd = Command::new(etcdctl_bin());
        cmd.env("ETCDCTL_API", "3")
            .env_remove("ETCDCTL_ENDPOINTS")
            .env_remove("ETCDCTL_CACERT")
            .env_remove("ETCDCTL_CERT")
            .env_remove("ETCDCTL_KEY")
            .arg("--endpoints")
            .arg(self.endpoint())
            .args(self.tls_args())
            .args(args);
        run_bounded(cmd, ETCDCTL_TIMEOUT)
    }

    /// A tokio etcd client connected to this server.
    pub async fn client(&self) -> etcd_client::Client {
        let mut opts = etcd_client::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(60));
        if let Some(t) = &self.tls {
            let read = |p: &Path| std::fs::read(p).expect("reading a PEM file");
            opts = opts.with_tls(
                etcd_client::TlsOptions::new()
                    .ca_certificate(etcd_client::Certificate::from_pem(read(&t.ca)))
                    .identity(etcd_client::Identity::from_pem(
                        read(&t.client_cert),
                        read(&t.client_key),
                    )),
            );
        }
        etcd_client::Client::connect([self.endpoint()], Some(opts))
            .await
            .unwrap_or_else(|e| panic!("connecting to etcd at {}: {e}", self.endpoint()))
    }

    /// Stops etcd cleanly (SIGTERM, bounded wait, SIGKILL as a last resort)
    /// and hands back its data directory, now quiescent.
    pub fn stop(mut self) -> StoppedEtcd {
        let mut child = self.child.take().expect("etcd child");
        let pid = child.id().to_string();
        // std has no SIGTERM; `kill` targets exactly our child's pid.
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let status = child.wait().expect("waiting for etcd");
                    panic!(
                        "etcd did not exit within {STOP_TIMEOUT:?} of SIGTERM (killed: {status}); log:\n{}",
                        tail(&self.log(), 40)
                    );
                }
            }
        };
        // `self` is then dropped with neither child nor directory.
        StoppedEtcd {
            _dir: self.dir.take().expect("etcd temp dir"),
            root: self.root.clone(),
            data_dir: self.data_dir.clone(),
            exit_status: status,
        }
    }

    fn wait_healthy(&mut self, timeout: Duration) -> Result<(), StartError> {
        let deadline = Instant::now() + timeout;
        let addr = SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            self.metrics_port.unwrap_or(self.client_port),
        ));
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .expect("etcd child")
                .try_wait()
                .expect("polling etcd")
            {
                return Err(StartError::Exited(status));
            }
            // Only trust /health once our etcd logged that it serves
            // clients: until then the port could belong to someone else.
            if self.log().contains("serving client traffic") && health_ok(addr) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StartError::Timeout);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl StoppedEtcd {
    /// etcd's `--data-dir`.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `<data dir>/member/snap/db`.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir().join("member").join("snap").join("db")
    }

    /// The etcd log of the stopped server.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("etcd.log")).unwrap_or_default()
    }

    /// How etcd exited after SIGTERM.
    pub fn exit_status(&self) -> ExitStatus {
        self.exit_status
    }
}

enum StartError {
    Exited(ExitStatus),
    Timeout,
}

/// A loopback TCP port that was free a moment ago (bind :0, read, drop).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 to find a free port")
}

fn health_ok(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.") && buf.contains("\"health\":\"true\"")
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

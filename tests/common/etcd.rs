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

/// Certificates generated for a TLS etcd (PEM files in its temp dir).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA that signed the server and client certificates.
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here (a "wrong CA").
    pub other_ca: PathBuf,
    /// A client certificate and key signed by `other_ca`.
    pub foreign_client_cert: PathBuf,
    pub foreign_client_key: PathBuf,
}

impl TlsFiles {
    /// A CA, a server certificate for 127.0.0.1/localhost and a client
    /// certificate, written into `dir`; plus an unrelated CA and a client
    /// certificate it signed.
    pub fn generate(dir: &Path) -> (TlsFiles, PathBuf, PathBuf) {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair,
        };
        let ca = |name: &str| {
            let mut p = CertificateParams::new(Vec::<String>::new()).expect("ca params");
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.distinguished_name.push(DnType::CommonName, name);
            CertifiedIssuer::self_signed(p, KeyPair::generate().expect("ca key"))
                .expect("self-signed CA")
        };
        let leaf = |sans: Vec<String>, cn: &str, usage: Vec<ExtendedKeyUsagePurpose>, issuer| {
            let mut p = CertificateParams::new(sans).expect("leaf params");
            p.distinguished_name.push(DnType::CommonName, cn);
            p.extended_key_usages = usage;
            let key = KeyPair::generate().expect("leaf key");
            let cert = p.signed_by(&key, issuer).expect("signing");
            (cert.pem(), key.serialize_pem())
        };
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("writing a PEM file");
            path
        };
        let main_ca = ca("evforensics test etcd CA");
        let other = ca("some other CA");
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".into(), "localhost".into()],
            "etcd-server",
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            &main_ca,
        );
        let (client_cert, client_key) = leaf(
            vec![],
            "evforensics",
            vec![ExtendedKeyUsagePurpose::ClientAuth],
            &main_ca,
        );
        let (foreign_cert, foreign_key) = leaf(
            vec![],
            "intruder",
            vec![ExtendedKeyUsagePurpose::ClientAuth],
            &other,
        );
        let files = TlsFiles {
            ca: write("ca.crt", &main_ca.pem()),
            client_cert: write("client.crt", &client_cert),
            client_key: write("client.key", &client_key),
            other_ca: write("other-ca.crt", &other.pem()),
            foreign_client_cert: write("foreign-client.crt", &foreign_cert),
            foreign_client_key: write("foreign-client.key", &foreign_key),
        };
        let server_cert = write("server.crt", &server_cert);
        let server_key = write("server.key", &server_key);
        (files, server_cert, server_key)
    }
}

/// The `etcd` binary to run: `$EVF_ETCD_BIN` or `etcd` on `PATH`.
pub fn etcd_bin() -> String {
    std::env::var("EVF_ETCD_BIN").unwrap_or_else(|_| "etcd".to_string())
}

/// The `etcdctl` binary to run: `$EVF_ETCDCTL_BIN` or `etcdctl` on `PATH`.
pub fn etcdctl_bin() -> String {
    std::env::var("EVF_ETCDCTL_BIN").unwrap_or_else(|_| "etcdctl".to_string())
}

const INSTALL_HINT: &str = "these tests run a real etcd server: install etcd 3.4 \
     (`apt-get install etcd-server etcd-client`) or point EVF_ETCD_BIN / EVF_ETCDCTL_BIN at the binaries";

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

/// Panics, with install instructions, unless `bin` is a file or on `PATH`.
pub fn check_binary(bin: &str) {
    let found = if bin.contains('/') {
        Path::new(bin).is_file()
    } else {
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|p| p.join(bin).is_file()))
            .unwrap_or(false)
    };
    if !found {
        panic!("`{bin}` not found; {INSTALL_HINT}");
    }
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

/// Runs `cmd` to completion with captured output, killing it and panicking
/// if it takes longer than `timeout`.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Output {
    let desc = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {desc}: {e}; {INSTALL_HINT}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().expect("polling child") {
            Some(s) => break s,
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{desc} did not finish within {timeout:?}");
            }
        }
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

//! The etcd binaries and bounded child processes: which `etcd`/`etcdctl`
//! to run, a clear failure when one is missing, and running a command to
//! completion within a time bound.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The `etcd` binary to run: `$EVF_ETCD_BIN` or `etcd` on `PATH`.
pub fn etcd_bin() -> String {
    std::env::var("EVF_ETCD_BIN").unwrap_or_else(|_| "etcd".to_string())
}

/// The `etcdctl` binary to run: `$EVF_ETCDCTL_BIN` or `etcdctl` on `PATH`.
pub fn etcdctl_bin() -> String {
    std::env::var("EVF_ETCDCTL_BIN").unwrap_or_else(|_| "etcdctl".to_string())
}

pub(super) const INSTALL_HINT: &str = "these tests run a real etcd server: install etcd 3.4 \
     (`apt-get install etcd-server etcd-client`) or point EVF_ETCD_BIN / EVF_ETCDCTL_BIN at the binaries";

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

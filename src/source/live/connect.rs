//! Connecting to etcd: each endpoint probed first (TCP, then TLS), so that
//! an error says what is wrong — unreachable, which TLS file, or the login
//! — where the gRPC channel, balancing and retrying over the endpoints,
//! would only time out.

use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

use super::classify::classify;
use super::error::LiveError;
use super::options::LiveOptions;
use super::tls::{load_tls_files, tls_probe, TlsFiles};

/// Connects and checks that each endpoint answers, with errors that say
/// what was wrong: unreachable, TLS (which file), or login.
pub(super) async fn connect(opts: &LiveOptions) -> Result<Client, LiveError> {
    if opts.endpoints.is_empty() {
        return Err(LiveError::Config("no --endpoints given".into()));
    }
    if opts.page_size < 1 {
        return Err(LiveError::Config("--page-size must be at least 1".into()));
    }
    let tls = load_tls_files(opts)?;
    let urls = opts.urls();
    if tls.is_some() {
        if let Some(u) = urls.iter().find(|u| u.starts_with("http://")) {
            return Err(LiveError::Config(format!(
                "endpoint {u} is plain http but TLS files were given; use https://"
            )));
        }
    }
    // Probe each endpoint first: the gRPC channel balances over endpoints
    // and retries silently, which hides why a connection fails.
    let mut last_err = None;
    let mut reachable = Vec::new();
    for url in &urls {
        match probe(url, tls.as_ref(), opts).await {
            Ok(()) => reachable.push(url.clone()),
            Err(e) => last_err = Some(e),
        }
    }
    if reachable.is_empty() {
        return Err(last_err.unwrap_or(LiveError::Config("no endpoints".into())));
    }
    let mut copts = ConnectOptions::new()
        .with_connect_timeout(opts.dial_timeout)
        .with_keep_alive(Duration::from_secs(10), Duration::from_secs(10));
    if let Some(t) = &tls {
        let mut cfg = TlsOptions::new().ca_certificate(Certificate::from_pem(&t.ca));
        if let Some(identity) = &t.identity {
            cfg = cfg.identity(Identity::from_pem(&identity.cert, &identity.key));
        }
        copts = copts.with_tls(cfg);
    }
    let endpoints = opts.location();
    if let Some(user) = &opts.user {
        let (name, password) = match (user.split_once(':'), &opts.password) {
            (_, Some(p)) => (user.clone(), p.clone()),
            (Some((n, p)), None) => (n.to_string(), p.to_string()),
            (None, None) => {
                return Err(LiveError::Config(format!(
                    "--user {user} without a password: give --password, ETCDCTL_PASSWORD, or --user {user}:PASSWORD"
                )))
            }
        };
        copts = copts.with_user(name, password);
    }
    let client = tokio::time::timeout(
        opts.dial_timeout + opts.command_timeout,
        Client::connect(&reachable, Some(copts)),
    )
    .await
    .map_err(|_| LiveError::Unreachable {
        endpoint: endpoints.clone(),
        detail: format!(
            "no connection within --dial-timeout {:?}",
            opts.dial_timeout
        ),
    })?
    .map_err(|e| classify(&endpoints, "connect", e))?;
    Ok(client)
}

/// TCP connect (and TLS handshake) to one endpoint, to name what is wrong.
async fn probe(url: &str, tls: Option<&TlsFiles>, opts: &LiveOptions) -> Result<(), LiveError> {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let hostport = rest.split('/').next().unwrap_or(rest).to_string();
    let unreachable = |detail: String| LiveError::Unreachable {
        endpoint: url.to_string(),
        detail,
    };
    let tcp = tokio::time::timeout(
        opts.dial_timeout,
        tokio::net::TcpStream::connect(hostport.clone()),
    )
    .await
    .map_err(|_| {
        unreachable(format!(
            "no TCP connection within --dial-timeout {:?}",
            opts.dial_timeout
        ))
    })?
    .map_err(|e| unreachable(e.to_string()))?;
    let Some(tls) = tls else { return Ok(()) };
    tls_probe(url, &hostport, tcp, tls, opts).await
}

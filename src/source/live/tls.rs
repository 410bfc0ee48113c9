//! TLS: the files of `--cacert`, `--cert` and `--key`, read and checked as
//! PEM before any connection, and a handshake with one endpoint
//! ([`tls_probe`]) that says which file or certificate is wrong — the gRPC
//! channel itself only reports that it could not connect.

use std::io;
use std::path::Path;
use std::sync::Arc;

use super::error::LiveError;
use super::options::LiveOptions;

fn read_file(flag: &'static str, path: &Path) -> Result<Vec<u8>, LiveError> {
    std::fs::read(path).map_err(|source| LiveError::ReadFile {
        flag,
        path: path.display().to_string(),
        source,
    })
}

/// The TLS material, read and checked before any connection, so that a
/// wrong file is named.
pub(super) struct TlsFiles {
    /// `--cacert`: the CA that signed etcd's server certificate.
    pub(super) ca: Vec<u8>,
    pub(super) identity: Option<ClientIdentity>,
}

/// `--cert` and `--key`: the client certificate and its private key, PEM.
pub(super) struct ClientIdentity {
    pub(super) cert: Vec<u8>,
    pub(super) key: Vec<u8>,
}

/// The TLS files, each read and checked, when TLS is in use (`https://`
/// endpoints, `--cacert` or `--cert`).
pub(super) fn load_tls_files(opts: &LiveOptions) -> Result<Option<TlsFiles>, LiveError> {
    if !opts.tls() {
        return Ok(None);
    }
    let Some(ca_path) = &opts.cacert else {
        return Err(LiveError::Config(
            "TLS endpoints need --cacert: the CA that signed etcd's server certificate \
             (kubeadm: /etc/kubernetes/pki/etcd/ca.crt)"
                .into(),
        ));
    };
    let ca = read_file("--cacert", ca_path)?;
    check_pem_certs("--cacert", ca_path, &ca)?;
    let identity = match (&opts.cert, &opts.key) {
        (Some(c), Some(k)) => {
            let cert = read_file("--cert", c)?;
            check_pem_certs("--cert", c, &cert)?;
            let key = read_file("--key", k)?;
            check_pem_key(k, &key)?;
            Some(ClientIdentity { cert, key })
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(LiveError::Config(
                "--cert was given without --key (the client certificate's private key)".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(LiveError::Config(
                "--key was given without --cert (the client certificate)".into(),
            ))
        }
    };
    Ok(Some(TlsFiles { ca, identity }))
}

fn check_pem_certs(flag: &'static str, path: &Path, pem: &[u8]) -> Result<(), LiveError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let bad = |problem: String| LiveError::BadFile {
        flag,
        path: path.display().to_string(),
        problem,
    };
    let mut n = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| bad(format!("not a valid PEM certificate file: {e}")))?;
        n += 1;
    }
    if n == 0 {
        return Err(bad(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(())
}

fn check_pem_key(path: &Path, pem: &[u8]) -> Result<(), LiveError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::PrivateKeyDer;
    PrivateKeyDer::from_pem_slice(pem)
        .map(|_| ())
        .map_err(|e| LiveError::BadFile {
            flag: "--key",
            path: path.display().to_string(),
            problem: format!("holds no usable PEM private key: {e}"),
        })
}

/// A TLS handshake with `url` over `tcp`, and the server's first answer:
/// errors say which file or certificate is at fault.
pub(super) async fn tls_probe(
    url: &str,
    hostport: &str,
    tcp: tokio::net::TcpStream,
    files: &TlsFiles,
    opts: &LiveOptions,
) -> Result<(), LiveError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;

    let tls_err = |detail: String| LiveError::Tls {
        endpoint: url.to_string(),
        detail,
    };
    let cacert = opts
        .cacert
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&files.ca).flatten() {
        roots
            .add(cert)
            .map_err(|e| tls_err(format!("--cacert {cacert}: unusable CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?
        .with_root_certificates(roots);
    let config = match &files.identity {
        Some(identity) => {
            let certs: Vec<CertificateDer<'static>> =
                CertificateDer::pem_slice_iter(&identity.cert)
                    .flatten()
                    .collect();
            let key = PrivateKeyDer::from_pem_slice(&identity.key).map_err(|e| {
                tls_err(format!(
                    "--key {}: {e}",
                    opts.key.as_deref().unwrap_or(Path::new("")).display()
                ))
            })?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                tls_err(format!(
                    "--cert {} and --key {} do not form a usable client identity: {e}",
                    opts.cert.as_deref().unwrap_or(Path::new("")).display(),
                    opts.key.as_deref().unwrap_or(Path::new("")).display()
                ))
            })?
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = config;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let host = hostport
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(hostport)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let name = ServerName::try_from(host.clone())
        .map_err(|e| tls_err(format!("{host} is not a valid server name: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let explain = |e: io::Error| -> LiveError {
        let text = e.to_string();
        let detail = if text.contains("UnknownIssuer") || text.contains("BadSignature") {
            format!(
                "the server's certificate is not signed by the CA in --cacert {cacert} ({text})"
            )
        } else if text.contains("NotValidForName") || text.contains("not valid for name") {
            format!("the server's certificate is not valid for {host} ({text})")
        } else if text.contains("Expired") || text.contains("NotValidYet") {
            format!("the server's certificate is outside its validity period ({text})")
        } else if text.contains("CertificateRequired")
            || text.contains("HandshakeFailure")
            || text.contains("BadCertificate")
            || text.contains("UnknownCA")
        {
            match &opts.cert {
                None => format!(
                    "the server requires a client certificate: give --cert and --key ({text})"
                ),
                Some(c) => format!(
                    "the server rejected the client certificate --cert {} (not signed by a CA it trusts?) ({text})",
                    c.display()
                ),
            }
        } else if text.contains("InvalidContentType") || text.contains("corrupt message") {
            format!("the server does not speak TLS (use http://?) ({text})")
        } else {
            text
        };
        tls_err(detail)
    };
    let mut stream = tokio::time::timeout(opts.dial_timeout, connector.connect(name, tcp))
        .await
        .map_err(|_| tls_err(format!("no TLS handshake within {:?}", opts.dial_timeout)))?
        .map_err(explain)?;
    // With TLS 1.3 the server checks the client certificate after the
    // client's handshake is done: its verdict arrives with the first read.
    // Send the HTTP/2 preface and an empty SETTINGS frame, read its answer.
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let exchange = async {
        stream.write_all(&hello).await?;
        stream.flush().await?;
        let mut buf = [0u8; 9];
        stream.read_exact(&mut buf).await?;
        Ok::<_, io::Error>(())
    };
    tokio::time::timeout(opts.dial_timeout, exchange)
        .await
        .map_err(|_| {
            tls_err(format!(
                "no answer after the TLS handshake within {:?}",
                opts.dial_timeout
            ))
        })?
        .map_err(explain)?;
    let _ = stream.shutdown().await;
    Ok(())
}

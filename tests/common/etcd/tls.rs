//! Certificates for a TLS etcd: a CA, a server certificate for the loopback
//! address, a client certificate, and a foreign CA with a client
//! certificate it signed (to be refused).

use std::path::{Path, PathBuf};

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

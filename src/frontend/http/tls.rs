//! The HTTPS listener's TLS setup: PEM files in, an acceptor out.
//!
//! The ring provider is chosen explicitly so nothing depends on which
//! provider some other crate in the build happened to install as the default.

use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;

/// Reads the certificate chain and private key; errors name the file.
pub fn acceptor(cert_path: &str, key_path: &str) -> anyhow::Result<TlsAcceptor> {
    let open = |path: &str| {
        File::open(path)
            .map(BufReader::new)
            .with_context(|| format!("cannot open TLS file {path}"))
    };
    let certs = rustls_pemfile::certs(&mut open(cert_path)?)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot read certificates from {cert_path}"))?;
    if certs.is_empty() {
        bail!("no certificate found in {cert_path}");
    }
    let key = rustls_pemfile::private_key(&mut open(key_path)?)
        .with_context(|| format!("cannot read private key from {key_path}"))?
        .with_context(|| format!("no private key found in {key_path}"))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .with_context(|| format!("{cert_path} and {key_path} do not form a usable pair"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

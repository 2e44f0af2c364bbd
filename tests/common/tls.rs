//! Server-side TLS for the tests' HTTPS peers (the bad-peer HTTPS server and the
//! kube-apiserver stand-in), from the PEM fixtures they serve.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A rustls server configuration serving the certificate in `cert_pem` with `key_pem`.
pub fn server_config(cert_pem: &str, key_pem: &str) -> Arc<rustls::ServerConfig> {
    let chain = vec![CertificateDer::from_pem_file(cert_pem).expect("certificate")];
    let key = PrivateKeyDer::from_pem_file(key_pem).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("server config");
    Arc::new(config)
}

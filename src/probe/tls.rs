//! What `http` trusts for HTTPS, and the crypto it is allowed to use.
//!
//! Roots come from `--cacert` or the system's CA bundle (never a bundled copy: it would
//! cost the binary about 250 KB and go stale). The crypto provider is rustls' *ring*
//! provider cut down by hand: AES-GCM suites only and P-256/P-384 key exchange, so that
//! ChaCha20-Poly1305, X25519 (its 24 KB base-point table) and the private-key signing code
//! are never linked (about 130 KB of a binary with a size budget). Every server a probe
//! meets offers AES-GCM, and every TLS 1.3 server must offer P-256 (RFC 8446, 9.1), as the
//! TLS 1.2 servers of ECDHE do in practice; a client certificate is not something `http`
//! sends.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::ring::{cipher_suite as suite, kx_group};
use rustls::crypto::{self, WebPkiSupportedAlgorithms};
use rustls::crypto::{CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::SigningKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use webpki::ring as alg;

use crate::error::Error;

/// CA bundles of the common base images, in the order OpenSSL-based tools find them.
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// How the server's certificate is checked.
#[derive(Clone, Debug)]
pub enum Trust {
    /// `--insecure`: not at all.
    Nothing,
    /// These roots, read from `file`.
    Roots {
        file: String,
        certificates: Arc<Vec<CertificateDer<'static>>>,
    },
}

impl Trust {
    /// `--cacert FILE`, or the system bundle (`SSL_CERT_FILE` first, as OpenSSL does).
    pub fn load(cacert: Option<&Path>) -> Result<Trust, TrustError> {
        let path = match cacert {
            Some(p) => p.to_path_buf(),
            None => system_bundle()?,
        };
        let pem = crate::input::read_text(&path, Instant::now() + crate::input::READ_TIME)
            .map_err(|e| TrustError::Unreadable {
                path: path.clone(),
                source: match e {
                    Error::Read { source, .. } => source,
                    other => io::Error::other(other.to_string()),
                },
            })?;
        // Sections that are not certificates, or not valid PEM, are passed over.
        let certificates: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(pem.as_bytes())
                .filter_map(Result::ok)
                .collect();
        if certificates.is_empty() {
            return Err(TrustError::NoCertificate { path });
        }
        Ok(Trust::Roots {
            file: path.display().to_string(),
            certificates: Arc::new(certificates),
        })
    }
}

/// Why no roots could be loaded. What to do about it depends on the caller (`http` can skip
/// verification, the API read never does), so the caller gives the hint.
#[derive(Debug)]
pub enum TrustError {
    /// No `--cacert`, no `SSL_CERT_FILE`, and none of the usual bundles: a `FROM scratch`
    /// image such as svcprobe's own.
    NoBundle,
    Unreadable {
        path: PathBuf,
        source: io::Error,
    },
    /// The file holds no PEM certificate.
    NoCertificate {
        path: PathBuf,
    },
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustError::NoBundle => write!(
                f,
                "no CA bundle in this image (none of {})",
                SYSTEM_CA_FILES.join(", ")
            ),
            TrustError::Unreadable { path, source } => {
                write!(f, "cannot read the CA file {}: {source}", path.display())
            }
            TrustError::NoCertificate { path } => {
                write!(f, "no PEM certificate in the CA file {}", path.display())
            }
        }
    }
}

impl std::error::Error for TrustError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TrustError::Unreadable { source, .. } => Some(source),
            TrustError::NoBundle | TrustError::NoCertificate { .. } => None,
        }
    }
}

fn system_bundle() -> Result<PathBuf, TrustError> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        return Ok(PathBuf::from(file));
    }
    SYSTEM_CA_FILES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(TrustError::NoBundle)
}

/// The provider `http`'s TLS runs on (see the module comment for what is left out).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: vec![
            suite::TLS13_AES_128_GCM_SHA256,
            suite::TLS13_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![kx_group::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &KernelRandom,
        key_provider: &NoPrivateKeys,
    })
}

/// The client side of TLS for `trust`: webpki verification against the roots (certificates
/// that do not parse are left out, as rustls' `add_parsable_certificates` does), or, for
/// `--insecure`, any certificate, with the handshake signed by its key all the same.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let builder =
        ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
    let config = match trust {
        Trust::Roots { certificates, .. } => {
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(certificates.iter().cloned());
            builder.with_root_certificates(roots)
        }
        Trust::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(algorithms))),
    };
    Ok(Arc::new(config.with_no_client_auth()))
}

/// `--insecure`: the certificate is not checked (chain, name, dates), but the handshake's
/// signature must be one its key made, so the peer at least holds the key it shows.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Certificate and handshake signatures we verify: the *ring* provider's own list.
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        alg::ECDSA_P256_SHA256,
        alg::ECDSA_P256_SHA384,
        alg::ECDSA_P384_SHA256,
        alg::ECDSA_P384_SHA384,
        alg::ED25519,
        alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        alg::RSA_PKCS1_2048_8192_SHA256,
        alg::RSA_PKCS1_2048_8192_SHA384,
        alg::RSA_PKCS1_2048_8192_SHA512,
        alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
        ),
        (SignatureScheme::ED25519, &[alg::ED25519]),
        (
            SignatureScheme::RSA_PSS_SHA512,
            &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA384,
            &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA512,
            &[alg::RSA_PKCS1_2048_8192_SHA512],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA384,
            &[alg::RSA_PKCS1_2048_8192_SHA384],
        ),
        (
            SignatureScheme::RSA_PKCS1_SHA256,
            &[alg::RSA_PKCS1_2048_8192_SHA256],
        ),
    ],
};

/// Randomness for rustls (client random, session ids) straight from getrandom(2).
#[derive(Debug)]
struct KernelRandom;

impl SecureRandom for KernelRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        let mut filled = 0;
        while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
            // SAFETY: writes at most rest.len() bytes into rest.
            let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(GetRandomFailed);
            }
            filled += n as usize;
        }
        Ok(())
    }
}

/// `http` never presents a client certificate, so it never loads a private key.
#[derive(Debug)]
struct NoPrivateKeys;

impl KeyProvider for NoPrivateKeys {
    fn load_private_key(
        &self,
        _key_der: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "client certificates are not supported".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randomness_fills_the_whole_buffer() {
        let mut a = [0u8; 300];
        let mut b = [0u8; 300];
        KernelRandom.fill(&mut a).unwrap();
        KernelRandom.fill(&mut b).unwrap();
        assert_ne!(a, b);
        assert!(a.iter().any(|x| *x != 0));
    }

    #[test]
    fn a_ca_that_cannot_be_used_says_which_file_and_why() {
        let missing = Trust::load(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(
            matches!(missing, TrustError::Unreadable { .. }),
            "{missing:?}"
        );
        assert!(missing.to_string().contains("/nonexistent/ca.pem"));
        let not_pem = Trust::load(Some(Path::new("/proc/self/status"))).unwrap_err();
        assert!(
            matches!(not_pem, TrustError::NoCertificate { .. }),
            "{not_pem:?}"
        );
        // `http` says how to give a CA, the API server's included, or how to do without.
        let line = Error::Trust(TrustError::NoBundle).to_string();
        for hint in ["--cacert FILE", "serviceaccount/ca.crt", "--insecure"] {
            assert!(line.contains(hint), "{line}");
        }
    }

    #[test]
    fn the_provider_is_usable_by_rustls() {
        let provider = provider();
        assert!(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .is_ok());
    }
}

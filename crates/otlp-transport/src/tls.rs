//! TLS and mTLS settings from PEM, on rustls with the ring provider, for
//! every transport that runs on rustls (`otlp-http`, `otlp-ws`).
//!
//! Both sides take a plain `rustls` config, so anything rustls can do is
//! available; these helpers cover the usual cases. A transport sets its own
//! ALPN protocols on the config it is given.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
pub use rustls::{ClientConfig, ServerConfig};

/// PEM input or a TLS setting could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The PEM holds no certificate, or one that cannot be parsed.
    #[error("cannot read the {what} certificates from PEM: {reason}")]
    Certificates {
        /// Which certificates (server, client, CA).
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The PEM holds no private key, or one that cannot be parsed.
    #[error("cannot read the private key from PEM: {0}")]
    PrivateKey(String),
    /// rustls refused the combination (key does not match the certificate, …).
    #[error("invalid TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A server config presenting `cert_chain_pem` (leaf first) with `key_pem`;
/// with `client_ca_pem`, clients must present a certificate signed by one of
/// those CAs (mTLS).
pub fn server_config(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: Option<&[u8]>,
) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca_pem {
        Some(ca) => {
            let roots = roots(ca, "client CA")?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Certificates {
                    what: "client CA",
                    reason: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(builder.with_single_cert(certs(cert_chain_pem, "server")?, key(key_pem)?)?)
}

/// A client config trusting the CAs in `ca_pem`; with `identity` (certificate
/// chain PEM, key PEM) it presents a client certificate (mTLS).
pub fn client_config(
    ca_pem: &[u8],
    identity: Option<(&[u8], &[u8])>,
) -> Result<ClientConfig, TlsError> {
    client_trusting(roots(ca_pem, "CA")?, identity)
}

/// A client config trusting the system's root certificates, as browsers and
/// the OpenTelemetry Collector do: what an `https://` endpoint gets when no
/// CA is given. `SSL_CERT_FILE` and `SSL_CERT_DIR` replace the system store
/// when set, as with OpenSSL. With `identity`, it presents a client
/// certificate (mTLS).
#[cfg(feature = "tls-native-roots")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls-native-roots")))]
pub fn system_client_config(identity: Option<(&[u8], &[u8])>) -> Result<ClientConfig, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "the store is empty".to_owned(), ToString::to_string);
        return Err(TlsError::Certificates {
            what: "system root",
            reason: format!(
                "none could be loaded ({why}): install the system's CA certificates \
                 (e.g. the ca-certificates package), point SSL_CERT_FILE at a PEM bundle, \
                 or give the server's CA"
            ),
        });
    }
    client_trusting(roots, identity)
}

fn client_trusting(
    roots: RootCertStore,
    identity: Option<(&[u8], &[u8])>,
) -> Result<ClientConfig, TlsError> {
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
    Ok(match identity {
        Some((chain, key_pem)) => {
            builder.with_client_auth_cert(certs(chain, "client")?, key(key_pem)?)?
        }
        None => builder.with_no_client_auth(),
    })
}

fn certs(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificates {
            what,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificates {
            what,
            reason: "no CERTIFICATE block found".to_string(),
        });
    }
    Ok(certs)
}

fn roots(pem: &[u8], what: &'static str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs(pem, what)? {
        roots.add(cert).map_err(|e| TlsError::Certificates {
            what,
            reason: e.to_string(),
        })?;
    }
    Ok(roots)
}

fn key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::PrivateKey(e.to_string()))
}

//! TLS and mutual TLS settings, carried to tonic's rustls support.

use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// A server's certificate and, for mutual TLS, the CA its clients' certificates
/// must chain to.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerTls {
    pub(crate) identity: Option<Identity>,
    pub(crate) client_ca: Option<Certificate>,
}

impl ServerTls {
    /// The tonic configuration, `None` for plaintext.
    pub(crate) fn into_config(self) -> Result<Option<ServerTlsConfig>, String> {
        match (self.identity, self.client_ca) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(
                "a client CA (mutual TLS) needs the server's own certificate: call tls(cert, key) too"
                    .into(),
            ),
            (Some(identity), client_ca) => {
                let config = ServerTlsConfig::new().identity(identity);
                Ok(Some(match client_ca {
                    Some(ca) => config.client_ca_root(ca),
                    None => config,
                }))
            }
        }
    }
}

/// A client's trust anchors, its own certificate for mutual TLS, and the name
/// to verify the server's certificate against.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClientTls {
    pub(crate) enabled: bool,
    pub(crate) ca: Vec<Certificate>,
    pub(crate) identity: Option<Identity>,
    pub(crate) domain: Option<String>,
}

impl ClientTls {
    /// The tonic configuration, `None` for plaintext.
    pub(crate) fn config(&self) -> Option<ClientTlsConfig> {
        if !self.enabled {
            return None;
        }
        let mut config = ClientTlsConfig::new().ca_certificates(self.ca.iter().cloned());
        #[cfg(feature = "tls-native-roots")]
        if self.ca.is_empty() {
            // mTLS to a server with a public certificate: no CA given.
            config = config.with_native_roots();
        }
        if let Some(identity) = &self.identity {
            config = config.identity(identity.clone());
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        Some(config)
    }
}

//! TLS and mTLS settings from PEM, on rustls with the ring provider: the
//! helpers of [`otlp_transport::tls`], shared with the other transports.
//!
//! Both sides take a plain `rustls` config, so anything rustls can do is
//! available; these helpers cover the usual cases.

use rustls::ServerConfig;

#[cfg(feature = "tls-native-roots")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls-native-roots")))]
pub use otlp_transport::tls::system_client_config;
pub use otlp_transport::tls::{TlsError, client_config, server_config};

/// Offers HTTP/2 and HTTP/1.1 by ALPN unless the config already says.
pub(crate) fn with_alpn(mut config: ServerConfig) -> ServerConfig {
    if config.alpn_protocols.is_empty() {
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    config
}

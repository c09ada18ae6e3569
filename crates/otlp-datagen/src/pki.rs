//! Certificates for TLS tests: a private CA and leaf certificates it signs,
//! made fresh with rcgen, so no test carries a key or an expiry date.

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A private certificate authority.
///
/// ```
/// let ca = otlp_datagen::pki::Pki::new();
/// let server = ca.leaf(&["localhost"]);
/// assert!(ca.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(server.key_pem.contains("PRIVATE KEY"));
/// ```
pub struct Pki {
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate signed by a [`Pki`] and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

impl Pki {
    /// A new self-signed CA.
    ///
    /// # Panics
    /// If rcgen cannot generate a key or sign, which only a broken build does.
    pub fn new() -> Self {
        let key = KeyPair::generate().expect("rcgen generates a key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names to check");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_pem = params.self_signed(&key).expect("rcgen self-signs").pem();
        Self {
            ca_pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate, to trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A certificate for `names` (DNS names or IP addresses) signed by the CA.
    ///
    /// # Panics
    /// If a name is not a valid DNS name or IP address.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().expect("rcgen generates a key");
        let names = names
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>();
        let cert = CertificateParams::new(names)
            .expect("valid subject names")
            .signed_by(&key, &self.issuer)
            .expect("the CA signs");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

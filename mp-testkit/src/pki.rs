//! A throwaway certificate authority and a server certificate it signed,
//! for TLS tests (the `pki` feature).

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A fresh CA and a server certificate it signed for `127.0.0.1` and
/// `localhost`, all as PEM.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA's certificate (what clients trust).
    pub ca: String,
    /// The server's certificate.
    pub cert: String,
    /// The server's private key.
    pub key: String,
}

impl TestPki {
    /// Makes a new CA and server certificate (new keys every time).
    ///
    /// # Panics
    ///
    /// If key generation fails.
    pub fn new() -> TestPki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "mp test CA");
        let ca_key = KeyPair::generate().expect("a CA key");
        let ca = ca_params.self_signed(&ca_key).expect("a CA certificate");
        let params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("server parameters");
        let key = KeyPair::generate().expect("a server key");
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .expect("a server certificate");
        TestPki {
            ca: ca.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

impl Default for TestPki {
    fn default() -> TestPki {
        TestPki::new()
    }
}

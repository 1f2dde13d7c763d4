//! HTTPS: the certificate served comes from the current generation, so it is re-read and
//! swapped with everything else on reload. No HTTP semantics here.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::state::State;

/// Within this many seconds of its expiry, a certificate is warned about on every load.
pub const EXPIRY_WARNING_SECS: i64 = 30 * 86_400;

/// A certificate and key ready to serve, and when the certificate stops being valid.
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    /// Unix seconds of the leaf certificate's `notAfter`.
    pub not_after: i64,
}

/// The leaf certificate's validity period, in Unix seconds.
fn validity(cert: &Path, der: &CertificateDer<'_>) -> Result<(i64, i64), String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("{}: -: -: not an X.509 certificate: {e}", cert.display()))?;
    let v = parsed.validity();
    Ok((v.not_before.timestamp(), v.not_after.timestamp()))
}

/// A Unix time as an RFC 3339 date, for messages.
pub fn date(unix: i64) -> String {
    x509_parser::time::ASN1Time::from_timestamp(unix)
        .map_or_else(|_| unix.to_string(), |t| t.to_string())
}

/// Reads a PEM certificate chain and key and checks they belong together and that the
/// certificate is valid now (`now`, Unix seconds): an expired or not yet valid one is a
/// problem, so a reload keeps serving the previous one rather than one no client accepts.
pub fn load_key(cert: &Path, key: &Path, now: i64) -> Result<Loaded, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: -: -: cannot read certificate: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: -: -: bad PEM certificate: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "{}: -: -: no certificate in the file",
            cert.display()
        ));
    }
    let der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: -: -: cannot read private key: {e}", key.display()))?;
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der)
        .map_err(|e| format!("{}: -: -: unusable private key: {e}", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| {
        format!(
            "{}: -: -: key does not match the certificate: {e}",
            key.display()
        )
    })?;
    let (not_before, not_after) = validity(cert, &certified.cert[0])?;
    if now < not_before {
        return Err(format!(
            "{}: -: -: the certificate is not valid before {}",
            cert.display(),
            date(not_before)
        ));
    }
    if now > not_after {
        return Err(format!(
            "{}: -: -: the certificate expired on {}",
            cert.display(),
            date(not_after)
        ));
    }
    Ok(Loaded {
        key: Arc::new(certified),
        not_after,
    })
}

/// Hands rustls the certificate of the generation being served.
struct CurrentCert(Arc<State>);

impl std::fmt::Debug for CurrentCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurrentCert")
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.current().tls.clone()
    }
}

/// A TLS acceptor offering h2 and http/1.1.
pub fn acceptor(state: Arc<State>) -> TlsAcceptor {
    let mut cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(CurrentCert(state)));
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(cfg))
}

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

/// Reads a PEM certificate chain and key and checks they belong together.
pub fn load_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
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
    Ok(Arc::new(certified))
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

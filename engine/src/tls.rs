//! TLS settings of listeners and clients, from PEM files: certificate chains, private keys and CA bundles.
//! rustls with the `ring` provider, chosen explicitly (not the process default) so that no other crate in
//! the tree can change it. Paths are relative to the directory relais runs from, as a service manager or a
//! container mounts them.

use crate::components::types::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file; an error names the file and says what is wrong.
pub fn certificates(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read certificate file `{path}`: {e}"))?;
    certificates_in(&pem, path)
}

/// The certificates of PEM text read from `path` (named in the error): what [`certificates`] and
/// `relais check` (`compile::tls_files`) both accept.
pub fn certificates_in(pem: &[u8], path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate file `{path}` is not valid PEM: {}", pem_reason(&e)))?;
    if certs.is_empty() {
        return Err(format!("certificate file `{path}` holds no `BEGIN CERTIFICATE` block"));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read key file `{path}`: {e}"))?;
    private_key_in(&pem, path)
}

/// The private key of PEM text read from `path` (named in the error).
pub fn private_key_in(pem: &[u8], path: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => format!("key file `{path}` holds no private key"),
        other => format!("key file `{path}` is not a valid PEM private key: {}", pem_reason(&other)),
    })
}

/// What is wrong with PEM text, without quoting it: the file may be anything a config names (`ca: /etc/shadow`
/// under `relais run`), and a diagnostic must not carry its lines.
fn pem_reason(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::MissingSectionEnd { .. } => "a `-----BEGIN` section has no `-----END` line".into(),
        Error::IllegalSectionStart { .. } => "a `-----BEGIN` line is malformed".into(),
        Error::Base64Decode(_) => "a section is not valid base64".into(),
        Error::Io(e) => e.to_string(),
        Error::NoItemsFound => "it holds no PEM section".into(),
        Error::SectionTooLarge => "a section is too large".into(),
        _ => "it is not PEM".into(),
    }
}

/// Whether `key` is the private key of the first certificate of `chain`, as rustls checks it when a
/// listener or client is built.
pub fn key_fits(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Result<(), String> {
    rustls::sign::CertifiedKey::from_der(chain, key, &provider()).map(|_| ()).map_err(|e| e.to_string())
}

/// Whether every certificate of a CA bundle can serve as a trust anchor, as `client_config` adds them.
pub fn trust_anchors(certs: Vec<CertificateDer<'static>>) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    certs.into_iter().try_for_each(|cert| roots.add(cert).map_err(|e| e.to_string()))
}

fn pair(files: &TlsFiles, who: &str) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
    match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => Ok(Some((certificates(cert)?, private_key(key)?))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(format!("{who}: `tls.cert` is given without `tls.key`")),
        (None, Some(_)) => Err(format!("{who}: `tls.key` is given without `tls.cert`")),
    }
}

/// The server side of a listener: its certificate chain and key, ALPN for HTTP/2 and HTTP/1.1.
pub fn server_config(files: &TlsFiles, listener: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let who = format!("listener `{listener}`");
    let Some((chain, key)) = pair(files, &who)? else {
        return Err(format!("{who}: TLS needs `tls.cert` and `tls.key`"));
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{who}: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("{who}: the key does not fit the certificate: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client side of an `http.client`: trusted roots (the `tls.ca` bundle, else Mozilla's roots) and,
/// for mutual TLS, a client certificate. ALPN is left empty: the HTTPS connector sets it.
pub fn client_config(files: Option<&TlsFiles>, client: &str) -> Result<rustls::ClientConfig, String> {
    let who = format!("client `{client}`");
    let mut roots = rustls::RootCertStore::empty();
    match files.and_then(|f| f.ca.as_deref()) {
        Some(ca) => {
            for cert in certificates(ca)? {
                roots.add(cert).map_err(|e| format!("{who}: CA file `{ca}`: {e}"))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{who}: {e}"))?
        .with_root_certificates(roots);
    match files.map(|f| pair(f, &who)).transpose()?.flatten() {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| format!("{who}: the client key does not fit its certificate: {e}")),
        None => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(cert: Option<&str>, key: Option<&str>) -> TlsFiles {
        TlsFiles { cert: cert.map(String::from), key: key.map(String::from), ca: None }
    }

    #[test]
    fn a_missing_or_empty_certificate_file_is_named_in_the_error() {
        let missing = certificates("/nonexistent/cert.pem").unwrap_err();
        assert!(missing.contains("/nonexistent/cert.pem"), "{missing}");
        let empty = std::env::temp_dir().join(format!("relais-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let path = empty.to_str().unwrap();
        assert!(certificates(path).unwrap_err().contains("no `BEGIN CERTIFICATE`"));
        assert!(private_key(path).unwrap_err().contains("holds no private key"));
        let _ = std::fs::remove_file(empty);
    }

    #[test]
    fn malformed_pem_is_described_without_quoting_the_file() {
        let text = b"-----BEGIN hunter2-password\nAAAA\n";
        let err = certificates_in(text, "x.pem").unwrap_err();
        assert!(err.contains("x.pem") && !err.contains("hunter2"), "{err}");
        let err = private_key_in(text, "x.key").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let err = server_config(&files(Some("c.pem"), None), "api").unwrap_err();
        assert!(err.contains("without `tls.key`"), "{err}");
        let err = client_config(Some(&files(None, Some("k.pem"))), "crm").unwrap_err();
        assert!(err.contains("without `tls.cert`"), "{err}");
    }

    #[test]
    fn a_client_without_tls_settings_trusts_the_public_roots() {
        assert!(client_config(None, "crm").is_ok());
    }
}

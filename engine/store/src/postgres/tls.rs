//! TLS to PostgreSQL, shared by the state backend (`--state postgres://...?sslmode=verify-full&sslrootcert=ca.pem`)
//! and the engine's `db` connector (`sslmode:` and `tls.ca` of a `db` config), so both read `sslmode` as libpq
//! does: `disable` (plain TCP), `prefer` (TLS when the server offers it, the default), `require` (TLS or no
//! connection), `verify-ca` (and the server's certificate signed by the CA file) and `verify-full` (and issued
//! for the host connected to). As in libpq, `prefer` and `require` do not check who the server is, unless a CA
//! file is given to `require`, which then checks the chain as `verify-ca` does.
//!
//! rustls on the `ring` provider, chosen explicitly as in the engine's `tls` module, through
//! tokio-postgres-rustls (which also gives SCRAM channel binding).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

pub use tokio_postgres_rustls::MakeRustlsConnect;

/// How a connection uses TLS: libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, else plain TCP; the certificate is not checked (libpq's default).
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is checked only when a CA file is given.
    Require,
    /// TLS with a certificate signed by the CA file.
    VerifyCa,
    /// TLS with a certificate signed by the CA file and issued for the host name connected to.
    VerifyFull,
}

/// The values `sslmode` accepts, for messages.
pub const SSL_MODES: &str = "disable, prefer, require, verify-ca or verify-full";

impl FromStr for SslMode {
    type Err = String;

    fn from_str(text: &str) -> Result<SslMode, String> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => return Err(format!("sslmode `{other}` is not one of {SSL_MODES}")),
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

impl SslMode {
    /// Whether this mode needs a CA file (libpq refuses `verify-*` without a root certificate too).
    pub fn needs_ca(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }

    /// The driver's mode: tokio-postgres knows disable/prefer/require; the checks of `verify-*` are the
    /// connector's.
    pub fn driver(self) -> tokio_postgres::config::SslMode {
        match self {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => tokio_postgres::config::SslMode::Require,
        }
    }
}

/// The certificates of the PEM CA file at `path`; the error names the file, never its content.
pub fn read_ca(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read CA file `{path}`: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("CA file `{path}` is not valid PEM"))?;
    if certs.is_empty() {
        return Err(format!("CA file `{path}` holds no `BEGIN CERTIFICATE` block"));
    }
    Ok(certs)
}

/// The connector for `mode`, trusting the certificates of `ca` (empty: none given). Fails when `verify-*` has
/// no CA, or a CA certificate cannot be a trust anchor.
pub fn connector(mode: SslMode, ca: Vec<CertificateDer<'static>>) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    if mode.needs_ca() && ca.is_empty() {
        return Err(format!("sslmode {mode} needs a CA file to check the server's certificate against"));
    }
    let verifier: Arc<dyn ServerCertVerifier> = if ca.is_empty() {
        Arc::new(Unverified(provider.clone()))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for cert in ca {
            roots.add(cert).map_err(|e| format!("a CA certificate cannot be trusted: {e}"))?;
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| format!("cannot use the CA file: {e}"))?;
        match mode {
            SslMode::VerifyFull => webpki,
            _ => Arc::new(ChainOnly(webpki)),
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot configure TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `prefer` and `require` without a CA: the handshake is encrypted and its signatures checked, but the
/// certificate is taken as it is (libpq's behaviour: such modes guard against eavesdropping, not impersonation).
#[derive(Debug)]
struct Unverified(Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` (and `require` with a CA): the chain must lead to the CA; the host name is not compared.
/// webpki checks the name after the chain, so a name mismatch means the chain was good.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_libpq_sslmode_reads_back_as_written() {
        for text in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
            assert_eq!(text.parse::<SslMode>().map(|m| m.to_string()), Ok(text.to_string()));
        }
        assert!("allow".parse::<SslMode>().is_err_and(|e| e.contains("verify-full")));
    }

    #[test]
    fn verifying_modes_refuse_to_start_without_a_ca() {
        let refused = connector(SslMode::VerifyFull, Vec::new()).map(|_| ()).unwrap_err();
        assert!(refused.contains("needs a CA file"), "{refused}");
        assert!(connector(SslMode::Require, Vec::new()).is_ok());
    }
}

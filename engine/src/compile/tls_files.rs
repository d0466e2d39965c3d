//! The PEM files of `tls` in `http.listener`, `http.client`, `amqp`, `nats` and `db` configs, checked before traffic: a missing
//! or unreadable file, one that holds no PEM certificate or key, `cert` without `key` (or the reverse), a
//! key that does not belong to its certificate, a CA bundle that cannot be trusted. A listener used to find
//! out when its sources started and a client on its first call (`COMPONENT:UNAVAILABLE`).
//!
//! `relais check` reads the files inside the project root only (invariant 2: it may run on an untrusted
//! pull request, and `ca: /proc/self/environ` must not be echoed). Certificates usually live outside the
//! project (`/etc/relais/tls`), so `relais run`, on the deployment's own machine, checks the rest through
//! [`Roots::filesystem`] before it starts ([`Reach::Outside`]). Paths are relative to the directory relais
//! runs from, as the components read them (`crate::tls`).

use crate::load::{read_in, Loaded, ReadError, Roots};
use crate::tls;
use relais_dsl::syntax::Node;
use relais_dsl::{codes, Diagnostic, Diagnostics, Span};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

/// Largest PEM file read: a certificate chain or CA bundle is kilobytes; public CA bundles about 250 KiB.
const MAX_PEM: u64 = 1024 * 1024;

/// Which files a pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Those inside the command's roots (`relais check`, `test`, and `run` first).
    Project,
    /// Those outside them, read anywhere (`relais run` only).
    Outside,
}

/// One field of a `tls` block: its path and where it is written.
struct Field<'a> {
    name: &'static str,
    path: &'a str,
    span: Span,
    inside: bool,
}

/// Checks the `tls` files of every listener and client config that `reach` covers.
pub fn check(loaded: &mut Loaded, reach: Reach) {
    let mut diags = Diagnostics::new();
    let roots = match reach {
        Reach::Project => loaded.roots.clone(),
        Reach::Outside => Roots::filesystem(),
    };
    for config in loaded.set.configs() {
        let listener = match config.kind.value.as_str() {
            "http.listener" => true,
            "http.client" | "amqp" | "nats" | "db" => false,
            _ => continue,
        };
        let Some(block) = config.body.get("tls") else { continue };
        let field = |name: &'static str| {
            let node: &Node = block.get(name)?;
            let path = node.as_str()?;
            Some(Field { name, path, span: node.span, inside: loaded.roots.admit(Path::new(path)).is_ok() })
        };
        let (cert, key, ca) = (field("cert"), field("key"), field("ca"));
        let fields = [&cert, &key, &ca];
        let covered = |f: &Field<'_>| (reach == Reach::Project) == f.inside;
        if reach == Reach::Outside && !fields.iter().any(|f| f.as_ref().is_some_and(|f| !f.inside)) {
            continue;
        }
        if reach == Reach::Project {
            pairing(listener, block, cert.as_ref(), key.as_ref(), &mut diags);
        }
        let read = |f: &Option<Field<'_>>, diags: &mut Diagnostics| -> Option<Vec<u8>> {
            let f = f.as_ref()?;
            // A field the other pass covers is read for the pair check only, and reports nothing.
            match read_in(&roots, Path::new(f.path), MAX_PEM) {
                Ok(text) => Some(text.into_bytes()),
                Err(e) => {
                    if covered(f) {
                        diags.push(unreadable(f, &e));
                    }
                    None
                }
            }
        };
        let chain = read(&cert, &mut diags).and_then(|pem| {
            let f = cert.as_ref()?;
            parsed(tls::certificates_in(&pem, f.path), f, covered(f), &mut diags)
        });
        let private = read(&key, &mut diags).and_then(|pem| {
            let f = key.as_ref()?;
            parsed(tls::private_key_in(&pem, f.path), f, covered(f), &mut diags)
        });
        if let (Some(chain), Some(private), Some(c), Some(k)) = (chain, private, &cert, &key) {
            fits(chain, private, c, k, reach, &mut diags);
        }
        if let Some(f) = ca.as_ref().filter(|f| covered(f)) {
            let bundle =
                read(&ca, &mut diags).and_then(|pem| parsed(tls::certificates_in(&pem, f.path), f, true, &mut diags));
            if let Some(Err(e)) = bundle.map(tls::trust_anchors) {
                diags.push(
                    Diagnostic::error(
                        codes::BAD_TLS_FILE,
                        f.span,
                        format!("CA file `{}` cannot be trusted: {e}", f.path),
                    )
                    .label("not a usable CA certificate")
                    .help("`ca` is a PEM bundle of the CA certificates that sign the partner's certificate"),
                );
            }
        }
    }
    loaded.diags.extend(diags);
}

/// `cert` and `key` go together; a listener's `tls` needs both.
fn pairing(listener: bool, block: &Node, cert: Option<&Field<'_>>, key: Option<&Field<'_>>, diags: &mut Diagnostics) {
    let (message, span, label) = match (cert, key) {
        (Some(c), None) => ("`tls.cert` is given without `tls.key`", c.span, "a certificate needs its private key"),
        (None, Some(k)) => {
            ("`tls.key` is given without `tls.cert`", k.span, "a key needs the certificate it belongs to")
        }
        (None, None) if listener => {
            ("a listener's `tls` needs `cert` and `key`", block.span, "no certificate to serve")
        }
        _ => return,
    };
    diags.push(
        Diagnostic::error(codes::BAD_TLS_FILE, span, message)
            .label(label)
            .help("give both `cert` (the PEM certificate chain) and `key` (its PEM private key)"),
    );
}

fn unreadable(f: &Field<'_>, err: &ReadError) -> Diagnostic {
    let path = Path::new(f.path);
    let (code, message, help) = match err {
        ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => (
            codes::FILE_NOT_FOUND,
            format!("`tls.{}` file `{}` does not exist", f.name, f.path),
            "paths are relative to the directory relais runs from".to_string(),
        ),
        ReadError::Outside { root } => {
            (codes::OUTSIDE_PROJECT, crate::load::outside_message(path, root), crate::load::OUTSIDE_HELP.to_string())
        }
        ReadError::NotRegular => {
            (codes::NOT_REGULAR_FILE, crate::load::not_regular_message(path), crate::load::NOT_REGULAR_HELP.to_string())
        }
        ReadError::NotUtf8 { .. } => (
            codes::BAD_TLS_FILE,
            format!("`tls.{}` file `{}` is not PEM text", f.name, f.path),
            "relais reads PEM files (`-----BEGIN ...-----`); convert a DER file with `openssl x509 -inform der`"
                .to_string(),
        ),
        other => (
            codes::FILE_NOT_FOUND,
            format!("cannot read `tls.{}` file `{}`: {other}", f.name, f.path),
            "the file must be readable by the user relais runs as".to_string(),
        ),
    };
    Diagnostic::error(code, f.span, message).label("referenced here").help(help)
}

fn parsed<T>(result: Result<T, String>, f: &Field<'_>, report: bool, diags: &mut Diagnostics) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            if report {
                let what = if f.name == "key" { "a PEM private key" } else { "PEM certificates" };
                diags.push(Diagnostic::error(codes::BAD_TLS_FILE, f.span, e).label(format!("expected {what}")).help(
                    if f.name == "key" {
                        "the key is PEM: `-----BEGIN PRIVATE KEY-----` (PKCS#8), `RSA PRIVATE KEY` or `EC PRIVATE KEY`"
                    } else {
                        "certificates are PEM: `-----BEGIN CERTIFICATE-----` blocks"
                    },
                ));
            }
            None
        }
    }
}

fn fits(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert: &Field<'_>,
    key_field: &Field<'_>,
    reach: Reach,
    diags: &mut Diagnostics,
) {
    // Each pair is judged once: by the project pass when both files are inside, else by the outside pass.
    let both_inside = cert.inside && key_field.inside;
    if both_inside != (reach == Reach::Project) {
        return;
    }
    if let Err(e) = tls::key_fits(chain, key) {
        diags.push(
            Diagnostic::error(
                codes::BAD_TLS_FILE,
                key_field.span,
                format!("key `{}` does not belong to certificate `{}`: {e}", key_field.path, cert.path),
            )
            .label("not the certificate's private key")
            .with_label(cert.span, "the certificate")
            .help("give the key the certificate was issued for (the first certificate of the chain)"),
        );
    }
}

//! Who the server is: its host key checked against a known_hosts file or a pinned SHA-256 fingerprint,
//! before any credential is sent. An unknown key, a changed key or a certificate is refused, and the
//! reason kept so that the connection fails with `SFTP:HOST_KEY` saying which key the server showed and
//! what was expected, never with a bare "connection closed".

use russh::keys::{HashAlg, PublicKey, PublicKeyOrCertificate};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// How the server's host key is checked.
#[derive(Debug, Clone)]
pub enum HostKeys {
    /// Must be listed for the host (and port) in this known_hosts file; a line for the host with another
    /// key of the same kind means the key changed.
    KnownHosts(PathBuf),
    /// Must have this SHA-256 fingerprint (`SHA256:` and unpadded base64, as `ssh-keygen -l` prints it).
    Fingerprint(String),
}

/// The fingerprint of `key` as `ssh-keygen -l` prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Whether `text` is a SHA-256 fingerprint as `ssh-keygen -l` prints it (`SHA256:` + 43 base64
/// characters, a 32-byte digest).
pub fn is_fingerprint(text: &str) -> bool {
    use base64::Engine;
    text.strip_prefix("SHA256:")
        .and_then(|b64| base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64.trim_end_matches('=')).ok())
        .is_some_and(|digest| digest.len() == 32)
}

/// The client side of one connection: checks the host key, keeps why it refused one.
pub struct Client {
    pub(super) keys: HostKeys,
    pub(super) host: String,
    pub(super) port: u16,
    /// Why the host key was refused, for the error the connection attempt ends with.
    pub(super) refused: Arc<Mutex<Option<String>>>,
}

impl Client {
    /// Whether `key` is the server's known key; `Err` says why not.
    fn check(&self, key: &PublicKey) -> Result<(), String> {
        let shown = format!("{} key {}", key.algorithm(), fingerprint(key));
        let server = format!("{}:{}", self.host, self.port);
        match &self.keys {
            HostKeys::Fingerprint(pinned) => {
                if pinned.trim_end_matches('=') == fingerprint(key) {
                    Ok(())
                } else {
                    Err(format!(
                        "the server {server} shows the {shown}, not the pinned `host_key_fingerprint` {pinned} \
                         (a reinstalled server, or someone in between: check with the server's owner)"
                    ))
                }
            }
            HostKeys::KnownHosts(path) => match russh::keys::check_known_hosts_path(&self.host, self.port, key, path) {
                Ok(true) => Ok(()),
                Ok(false) => Err(format!(
                    "the server {server} shows the {shown}, which `{}` does not list for it; after checking the \
                         fingerprint with the server's owner, add it: `ssh-keyscan -p {} {} >> {}`",
                    path.display(),
                    self.port,
                    self.host,
                    path.display()
                )),
                Err(russh::keys::Error::KeyChanged { line }) => Err(format!(
                    "the host key of {server} changed: line {line} of `{}` holds another {} key, the server \
                         shows the {shown} (a reinstalled server, or someone in between: check with the server's \
                         owner before replacing the line)",
                    path.display(),
                    key.algorithm()
                )),
                Err(e) => Err(format!("cannot read the known_hosts file `{}`: {e}", path.display())),
            },
        }
    }
}

impl russh::client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, server: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let verdict = match server {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.check(key),
            PublicKeyOrCertificate::Certificate(_) => Err(format!(
                "the server {}:{} shows a host certificate; relais checks plain host keys only (known_hosts or \
                 `host_key_fingerprint`)",
                self.host, self.port
            )),
        };
        match verdict {
            Ok(()) => Ok(true),
            Err(why) => {
                *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_fingerprint;

    #[test]
    fn fingerprints_are_sha256_digests_as_ssh_keygen_prints_them() {
        assert!(is_fingerprint("SHA256:kOQe1nDdNgDA9uMv10L3im1/UU/N7j1HD2Fa+8tRrtQ"));
        assert!(!is_fingerprint("kOQe1nDdNgDA9uMv10L3im1/UU/N7j1HD2Fa+8tRrtQ"));
        assert!(!is_fingerprint("MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48"));
        assert!(!is_fingerprint("SHA256:short"));
    }
}

//! `${secret:NAME}`: resolved when a component is built, from the environment variable `NAME` or the file
//! named by `NAME_FILE` (as container platforms mount secrets). Each value is registered with the scrubber
//! (`scrub::known`) the moment it is resolved, in every form it can travel in, so that it leaves the process
//! by no way out: logs, problem+json, admin answers, `relais dlq`.
//!
//! [`lookup`] is the one resolution rule: `relais check` asks it which secrets cannot be resolved
//! (`compile::secrets`), and `relais run` refuses to start on those, so a step never finds out on its first
//! call.

/// Why a secret has no value: what `relais check` and `relais run` say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unset {
    /// Neither `NAME` nor `NAME_FILE` is in the environment.
    Missing,
    /// `NAME_FILE` names a file that cannot be read as text (the path and the reason).
    Unreadable {
        /// The path `NAME_FILE` holds.
        path: String,
        /// The operating system's reason, or "not UTF-8 text".
        reason: String,
    },
}

impl Unset {
    /// One sentence for a diagnostic or an error: what is wrong with secret `name`.
    pub fn describe(&self, name: &str) -> String {
        match self {
            Unset::Missing => format!("secret `{name}` is not set (environment variable {name} or {name}_FILE)"),
            Unset::Unreadable { path, reason } => {
                format!("secret `{name}` cannot be read: {name}_FILE names `{path}`, which cannot be read ({reason})")
            }
        }
    }
}

/// The value of secret `name`: the environment variable `name`, else the content of the file named by
/// `name_FILE` without its trailing line break. Not registered with the scrubber: [`resolve`] does that.
pub fn lookup(name: &str) -> Result<String, Unset> {
    if let Ok(value) = std::env::var(name) {
        return Ok(value);
    }
    let Ok(path) = std::env::var(format!("{name}_FILE")) else { return Err(Unset::Missing) };
    match std::fs::read_to_string(&path) {
        Ok(v) => Ok(v.trim_end_matches(['\n', '\r']).to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            Err(Unset::Unreadable { path, reason: "not UTF-8 text".into() })
        }
        Err(e) => Err(Unset::Unreadable { path, reason: e.to_string() }),
    }
}

/// Replaces every `${secret:NAME}` in `text`; the first missing secret is the error.
pub fn resolve(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${secret:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 9..];
        let Some(end) = after.find('}') else { return Err("unclosed `${secret:`".into()) };
        let name = &after[..end];
        let value = lookup(name).map_err(|unset| unset.describe(name))?;
        crate::scrub::known::remember_secret(&value);
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::Unset;

    #[test]
    fn secrets_come_from_the_environment_or_a_file() {
        std::env::set_var("RELAIS_TEST_SECRET_A", "s3cret");
        assert_eq!(super::resolve("Bearer ${secret:RELAIS_TEST_SECRET_A}").unwrap(), "Bearer s3cret");
        let file = std::env::temp_dir().join(format!("relais-secret-{}", std::process::id()));
        std::fs::write(&file, "from-file\n").unwrap();
        std::env::set_var("RELAIS_TEST_SECRET_B_FILE", &file);
        assert_eq!(super::resolve("${secret:RELAIS_TEST_SECRET_B}").unwrap(), "from-file");
        assert!(super::resolve("${secret:RELAIS_TEST_SECRET_MISSING}").unwrap_err().contains("not set"));
    }

    #[test]
    fn a_secret_file_that_cannot_be_read_is_named_with_the_reason() {
        std::env::set_var("RELAIS_TEST_SECRET_C_FILE", "/nonexistent/relais-secret");
        let unset = super::lookup("RELAIS_TEST_SECRET_C").unwrap_err();
        assert!(matches!(&unset, Unset::Unreadable { path, .. } if path == "/nonexistent/relais-secret"));
        assert!(unset
            .describe("RELAIS_TEST_SECRET_C")
            .contains("RELAIS_TEST_SECRET_C_FILE names `/nonexistent/relais-secret`"));
        assert_eq!(super::lookup("RELAIS_TEST_SECRET_NEVER_SET"), Err(Unset::Missing));
    }
}

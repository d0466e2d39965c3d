//! `${secret:NAME}`: resolved when a component is built, from the environment variable `NAME` or the file
//! named by `NAME_FILE` (as container platforms mount secrets). Each value is registered with the scrubber
//! (`scrub::known`) the moment it is resolved, in every form it can travel in, so that it leaves the process
//! by no way out: logs, problem+json, admin answers, `relais dlq`.

/// Replaces every `${secret:NAME}` in `text`; the first missing secret is the error.
pub fn resolve(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${secret:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 9..];
        let Some(end) = after.find('}') else { return Err("unclosed `${secret:`".into()) };
        let name = &after[..end];
        let value = std::env::var(name).ok().or_else(|| {
            std::env::var(format!("{name}_FILE"))
                .ok()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .map(|v| v.trim_end_matches(['\n', '\r']).to_string())
        });
        let value =
            value.ok_or_else(|| format!("secret `{name}` is not set (environment variable {name} or {name}_FILE)"))?;
        crate::scrub::known::remember_secret(&value);
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
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
}

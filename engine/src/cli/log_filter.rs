//! `RELAIS_LOG`: which logs `relais run` writes, in tracing's `EnvFilter` syntax (`debug`,
//! `relais_engine=debug,hyper=warn`). A value that does not parse is refused at start: falling back to a
//! default would hide the very logs the operator asked for.

use tracing_subscriber::EnvFilter;

/// Shown with every refusal, so the fix is on screen.
const EXAMPLES: &str = "`info`, `debug`, `warn`, `relais_engine=debug`, `relais_engine=debug,hyper=warn`";

/// The filter from `RELAIS_LOG`, `info` when it is unset; the error names the bad value.
pub(super) fn from_env() -> Result<EnvFilter, String> {
    match std::env::var("RELAIS_LOG") {
        Ok(value) => parse(&value),
        Err(std::env::VarError::NotPresent) => Ok(EnvFilter::new("info")),
        Err(std::env::VarError::NotUnicode(v)) => {
            Err(format!("RELAIS_LOG `{}` is not valid UTF-8\nvalid examples: {EXAMPLES}", v.to_string_lossy()))
        }
    }
}

/// Parses one `RELAIS_LOG` value. `EnvFilter` takes any word as a target (`nonsense!` would filter on a
/// target that never logs, so nothing is logged), so each directive's target must also be a module path.
fn parse(value: &str) -> Result<EnvFilter, String> {
    let refuse = |why: String| format!("RELAIS_LOG `{value}` is not a log filter: {why}\nvalid examples: {EXAMPLES}");
    for directive in directives(value) {
        let target = directive.split(['[', '=']).next().unwrap_or_default().trim();
        let is_level = target.parse::<tracing_subscriber::filter::LevelFilter>().is_ok();
        if !target.is_empty() && !is_level && !is_module_path(target) {
            return Err(refuse(format!("`{target}` is neither a level nor a module path")));
        }
    }
    EnvFilter::builder().parse(value).map_err(|e| refuse(e.to_string()))
}

/// The comma-separated directives, leaving commas inside a span's `[...]` or `{...}` alone.
fn directives(value: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in value.char_indices() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

/// `relais_engine`, `relais_engine::http_server`: identifiers joined by `::`.
fn is_module_path(target: &str) -> bool {
    target.split("::").all(|part| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn levels_and_per_crate_directives_are_accepted() {
        for ok in ["info", "debug", "relais_engine=debug", "relais_engine=debug,hyper=warn", "warn,relais_engine", ""] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok).err());
        }
    }

    #[test]
    fn a_word_that_is_no_module_path_is_refused_with_examples() {
        let err = parse("nonsense!").unwrap_err();
        assert!(err.contains("`nonsense!`") && err.contains("relais_engine=debug,hyper=warn"), "{err}");
        assert!(parse("relais_engine=loud").is_err());
        assert!(parse("info,[{").is_err());
    }
}

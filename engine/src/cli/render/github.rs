//! `--format github`: workflow commands that GitHub Actions shows as annotations on the pull request.

use super::Location;
use relais_dsl::{Diagnostic, Severity, SourceMap};
use std::io::Write;

/// Escapes a workflow-command message (`%`, CR, LF).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a workflow-command property value (also `:` and `,`).
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// Writes one `::error` / `::warning` line per diagnostic.
pub fn render(sources: &SourceMap, diags: &[Diagnostic], out: &mut dyn Write) -> std::io::Result<()> {
    for d in diags {
        let at = Location::of(sources, d.primary.span);
        let level = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        writeln!(
            out,
            "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}",
            escape_property(&at.file),
            at.line,
            at.column,
            at.end_line,
            at.end_column,
            escape_property(&format!("relais {}", d.code)),
            escape_data(&message)
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_values_are_escaped() {
        assert_eq!(escape_data("50%\nnext"), "50%25%0Anext");
        assert_eq!(escape_property("a:b,c"), "a%3Ab%2Cc");
    }
}

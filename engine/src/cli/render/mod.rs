//! Diagnostic renderers: human (miette), JSON, GitHub workflow annotations, SARIF 2.1.0.

mod github;
mod human;
mod json;
mod sarif;

pub use human::render_human;

use relais_dsl::{Diagnostic, SourceMap, Span};
use std::io::Write;

/// Output formats of `relais check` (and of diagnostics in other commands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Source snippets with labels, colour on a terminal.
    Human,
    /// One JSON document (schema in the README).
    Json,
    /// GitHub Actions workflow commands (`::error file=...`).
    Github,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

/// A span resolved to a file path and 1-based start and end positions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    /// File path as given.
    pub file: String,
    /// Start line.
    pub line: usize,
    /// Start column (characters).
    pub column: usize,
    /// End line.
    pub end_line: usize,
    /// End column (exclusive, characters).
    pub end_column: usize,
}

impl Location {
    /// Resolves a span.
    pub fn of(sources: &SourceMap, span: Span) -> Location {
        let file = sources.file(span.file);
        let start = file.line_col(span.start as usize);
        let end = file.line_col(span.end as usize);
        Location {
            file: file.path.clone(),
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
        }
    }
}

/// Renders diagnostics in a format.
pub fn render(format: Format, sources: &SourceMap, diags: &[Diagnostic], out: &mut dyn Write) -> std::io::Result<()> {
    // Buffered: thousands of diagnostics would otherwise cost one write per fragment.
    let mut buffered = std::io::BufWriter::new(out);
    render_to(format, sources, diags, &mut buffered)?;
    buffered.flush()
}

fn render_to(format: Format, sources: &SourceMap, diags: &[Diagnostic], out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        Format::Human => {
            let colour = std::io::IsTerminal::is_terminal(&std::io::stdout());
            for d in diags {
                out.write_all(render_human(sources, d, colour, 100).as_bytes())?;
            }
            Ok(())
        }
        Format::Json => json::render(sources, diags, out),
        Format::Github => github::render(sources, diags, out),
        Format::Sarif => sarif::render(sources, diags, out),
    }
}

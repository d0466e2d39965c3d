//! Human output through miette's graphical handler: the source line, a labelled underline, the code and help.

use super::Location;
use relais_dsl::{Diagnostic, Severity, SourceMap};
use std::fmt;

/// Adapts our plain diagnostic to `miette::Diagnostic` for one render.
struct Adapter<'a> {
    diag: &'a Diagnostic,
    source: miette::NamedSource<String>,
    help: Option<String>,
    labels: Vec<miette::LabeledSpan>,
}

impl fmt::Debug for Adapter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for Adapter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Adapter<'_> {}

impl miette::Diagnostic for Adapter<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help.as_ref().map(|h| Box::new(h.clone()) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// Renders one diagnostic as text; `colour` only on a terminal, `width` columns.
pub fn render_human(sources: &SourceMap, diag: &Diagnostic, colour: bool, width: usize) -> String {
    let file = sources.file(diag.primary.span.file);
    let mut labels = vec![miette::LabeledSpan::new_primary_with_span(
        Some(diag.primary.message.clone()).filter(|m| !m.is_empty()),
        diag.primary.span,
    )];
    // miette shows one source per report: labels in other files become notes under the help.
    let mut notes = Vec::new();
    for l in &diag.labels {
        if l.span.file == diag.primary.span.file {
            labels.push(miette::LabeledSpan::new_with_span(Some(l.message.clone()).filter(|m| !m.is_empty()), l.span));
        } else {
            let at = Location::of(sources, l.span);
            notes.push(format!("{}:{}:{}: {}", at.file, at.line, at.column, l.message));
        }
    }
    let help = match (&diag.help, notes.is_empty()) {
        (h, true) => h.clone(),
        (Some(h), false) => Some(format!("{h}\nsee also: {}", notes.join("; "))),
        (None, false) => Some(format!("see also: {}", notes.join("; "))),
    };
    let adapter =
        Adapter { diag, source: miette::NamedSource::new(file.path.clone(), file.text.clone()), help, labels };
    let theme = if colour { miette::GraphicalTheme::unicode() } else { miette::GraphicalTheme::unicode_nocolor() };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(width).with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, &adapter).is_err() {
        let at = Location::of(sources, diag.primary.span);
        out = format!(
            "{}:{}:{}: {} [{}] {}\n",
            at.file,
            at.line,
            at.column,
            diag.severity_word(),
            diag.code,
            diag.message
        );
    }
    out
}

trait SeverityWord {
    fn severity_word(&self) -> &'static str;
}

impl SeverityWord for Diagnostic {
    fn severity_word(&self) -> &'static str {
        match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

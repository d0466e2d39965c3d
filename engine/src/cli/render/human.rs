//! Human output through miette's graphical handler: the source line, a labelled underline, the code and help.

use super::Location;
use relais_dsl::span::SourceFile;
use relais_dsl::{Diagnostic, Severity, SourceMap, Span};
use std::fmt;

/// Lines longer than this (in bytes) are shown as a window around the span, not whole: a minified file's
/// one line would otherwise be printed in full for every diagnostic, and miette panics on a label that
/// starts past column 65,535.
const LONG_LINE: usize = 400;

/// Bytes shown on each side of a span on a long line.
const WINDOW: usize = 60;

/// A source file as miette reads it, through the file's line index: miette's own `&str` source scans from
/// the start of the text for every label, which made 20,000 diagnostics quadratic in the file's size.
struct IndexedSource<'a> {
    file: &'a SourceFile,
}

impl IndexedSource<'_> {
    /// The largest char boundary at or before `at`.
    fn floor(&self, mut at: usize) -> usize {
        while !self.file.text.is_char_boundary(at) {
            at -= 1;
        }
        at
    }

    /// The smallest char boundary at or after `at`.
    fn ceil(&self, mut at: usize) -> usize {
        at = at.min(self.file.text.len());
        while !self.file.text.is_char_boundary(at) {
            at += 1;
        }
        at
    }

    /// The byte range shown for a span with context lines, as miette's own reader chooses it (whole lines,
    /// `before` lines above and `after` below), or a window of the span's line when that line is long.
    fn context(&self, start: usize, end: usize, before: usize, after: usize) -> (usize, usize) {
        let file = self.file;
        let text_len = file.text.len();
        if before == 0 && after == 0 {
            // What miette reads for the `file:line:column` header: the span itself.
            return (start, end);
        }
        let first = file.line_index(start);
        let mut last = file.line_index(end.saturating_sub(1).max(start));
        if end > start && file.text.as_bytes().get(end - 1) == Some(&b'\n') {
            last += 1;
        }
        let line_start = file.line_start(first).unwrap_or(0);
        if file.line_end(first) - line_start > LONG_LINE {
            let from = self.floor(start.saturating_sub(WINDOW).max(line_start));
            let to = self.ceil((end.max(start + 1) + WINDOW).min(file.line_end(first)));
            return (from, to.max(from));
        }
        let from = if before == 0 { start } else { file.line_start(first.saturating_sub(before)).unwrap_or(0) };
        let to = if after == 0 { end } else { file.line_start(last + after + 1).unwrap_or(text_len) };
        (from, to.clamp(from, text_len))
    }
}

impl miette::SourceCode for IndexedSource<'_> {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let text = &self.file.text;
        let (start, end) = (span.offset(), span.offset() + span.len());
        if start > text.len() || end > text.len() {
            return Err(miette::MietteError::OutOfBounds);
        }
        let (from, to) = self.context(start, end, before, after);
        let data = text.as_bytes().get(from..to).ok_or(miette::MietteError::OutOfBounds)?;
        let line = self.file.line_index(from);
        let column = self.file.column_index(from);
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.file.path.clone(),
            data,
            (from, to - from).into(),
            line,
            column,
            self.file.line_index(to),
        )))
    }
}

/// Adapts our plain diagnostic to `miette::Diagnostic` for one render.
struct Adapter<'a> {
    diag: &'a Diagnostic,
    source: IndexedSource<'a>,
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
    let primary = diag.primary.span;
    let long = |span: Span| {
        let line = file.line_index(span.start as usize);
        file.line_end(line) - file.line_start(line).unwrap_or(0) > LONG_LINE
    };
    // On a long line a label is cut to a window's width, so that it fits the window shown.
    let clip = |span: Span| if long(span) { span.sub(0, WINDOW) } else { span };
    let mut labels = vec![miette::LabeledSpan::new_primary_with_span(
        Some(diag.primary.message.clone()).filter(|m| !m.is_empty()),
        clip(primary),
    )];
    // miette shows one source per report: labels in other files become notes under the help, and so do
    // labels on a long line that fall outside the window shown around the primary span.
    let mut notes = Vec::new();
    for l in &diag.labels {
        let near = l.span.start.abs_diff(primary.start) as usize <= WINDOW
            && file.line_index(l.span.start as usize) == file.line_index(primary.start as usize);
        if l.span.file == primary.file && (!(long(l.span) || long(primary)) || near) {
            labels.push(miette::LabeledSpan::new_with_span(
                Some(l.message.clone()).filter(|m| !m.is_empty()),
                clip(l.span),
            ));
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
    let adapter = Adapter { diag, source: IndexedSource { file }, help, labels };
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

#[cfg(test)]
mod tests {
    use super::*;
    use relais_dsl::codes;

    /// One 200 KB line with a span at `at`, as a minified file gives.
    fn long_line(sources: &mut SourceMap) -> relais_dsl::FileId {
        let mut text = "x".repeat(200_000);
        text.push('\n');
        sources.add("min.yaml", text)
    }

    #[test]
    fn a_label_past_column_65535_is_shown_in_a_window_of_its_line() {
        let mut sources = SourceMap::new();
        let file = long_line(&mut sources);
        let diag = Diagnostic::error(codes::UNKNOWN_STEP, Span::new(file, 100_000, 100_009), "unknown step")
            .label("here")
            .with_label(Span::new(file, 10, 12), "far away on the same line")
            .with_label(Span::new(file, 100_020, 100_030), "close by");
        let text = render_human(&sources, &diag, false, 100);
        assert!(text.contains("min.yaml:1:100001"), "{text}");
        assert!(text.contains("close by"), "{text}");
        assert!(text.contains("see also: min.yaml:1:11: far away on the same line"), "{text}");
        assert!(text.len() < 2_000, "{} bytes", text.len());
    }

    #[test]
    fn a_span_covering_a_whole_long_line_is_cut_to_the_window() {
        let mut sources = SourceMap::new();
        let file = long_line(&mut sources);
        let diag = Diagnostic::error(codes::EMPTY_FILE, Span::new(file, 0, 200_001), "whole file").label("all of it");
        let text = render_human(&sources, &diag, false, 100);
        assert!(text.contains("min.yaml:1:1") && text.contains("all of it"), "{text}");
        assert!(text.len() < 2_000, "{} bytes", text.len());
    }

    #[test]
    fn an_empty_span_at_the_end_of_a_file_renders() {
        let mut sources = SourceMap::new();
        let file = sources.add("a.yaml", "flows:\n  a: [\n");
        let diag = Diagnostic::error(codes::YAML_SYNTAX, Span::new(file, 14, 14), "ends early").label("here");
        let text = render_human(&sources, &diag, false, 100);
        assert!(text.contains("a.yaml"), "{text}");
    }
}

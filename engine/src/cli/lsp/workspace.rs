//! The open documents and the check of the workspace folder they belong to.
//!
//! Every check runs the pipeline of `relais check` (`cli::check::check_with_options`) on the whole folder,
//! with the open documents' texts in an overlay that every read of the pipeline goes through: an unsaved
//! buffer counts for the whole flow set (a flow renamed in one buffer is an unknown `flow_ref` in another).

use super::position::LineIndex;
use crate::load::{LoadOptions, Loaded, Overlay};
use lsp_types::{
    Diagnostic as LspDiagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Uri,
};
use relais_dsl::{Diagnostic, Severity, SourceMap, Span};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// One open document.
#[derive(Debug, Clone)]
pub struct Document {
    /// The text the editor holds.
    pub text: String,
    /// The editor's version of it.
    pub version: i32,
}

/// The documents, the folders and the last check.
#[derive(Default)]
pub struct Workspace {
    /// Workspace folders from `initialize` (absolute paths).
    pub folders: Vec<PathBuf>,
    /// Open documents by path.
    pub documents: BTreeMap<PathBuf, Document>,
    /// The last check of each folder checked, by folder.
    pub checks: BTreeMap<PathBuf, Loaded>,
    /// Files given diagnostics by the last publish (to clear them when they are fixed).
    published: BTreeSet<PathBuf>,
}

/// The diagnostics of one file, ready to publish.
pub struct Published {
    /// The file's URI.
    pub uri: Uri,
    /// The open document's version, when open.
    pub version: Option<i32>,
    /// Its diagnostics (empty clears the file's).
    pub diagnostics: Vec<LspDiagnostic>,
}

impl Workspace {
    /// The folder a document is checked in: the innermost workspace folder holding it, else its directory;
    /// inside a folder's `flows/` (the default of `relais check`), that directory, so a repository opened
    /// at its root is checked as `relais check` checks it, not with every YAML file of the repository.
    pub fn folder_of(&self, path: &Path) -> PathBuf {
        let folder = self
            .folders
            .iter()
            .filter(|f| path.starts_with(f))
            .max_by_key(|f| f.components().count())
            .cloned()
            .unwrap_or_else(|| path.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf));
        let flows = folder.join("flows");
        if path.starts_with(&flows) {
            flows
        } else {
            folder
        }
    }

    /// The last check covering `path`, if one ran.
    pub fn check_of(&self, path: &Path) -> Option<&Loaded> {
        self.checks.get(&self.folder_of(path))
    }

    /// Checks every folder holding an open document, and returns what to publish: every file with
    /// diagnostics now, every file that had some at the last publish, every open document.
    pub fn check(&mut self, registry: &crate::registry::Registry) -> Vec<Published> {
        let mut overlay = Overlay::new();
        for (path, doc) in &self.documents {
            overlay.insert(path, doc.text.clone());
        }
        let overlay = Some(Arc::new(overlay));
        let folders: BTreeSet<PathBuf> = self.documents.keys().map(|p| self.folder_of(p)).collect();
        self.checks.retain(|f, _| folders.contains(f));
        let mut by_file: BTreeMap<PathBuf, Vec<LspDiagnostic>> = BTreeMap::new();
        for folder in folders {
            let options =
                LoadOptions { env: None, substitute: true, root: Some(folder.clone()), overlay: overlay.clone() };
            let loaded = super::super::check::check_with_options(std::slice::from_ref(&folder), &options, registry);
            for d in loaded.diags.iter() {
                let file = &loaded.sources.file(d.primary.span.file).path;
                by_file.entry(absolute(&folder, file)).or_default().push(convert(&loaded.sources, &folder, d));
            }
            self.checks.insert(folder, loaded);
        }
        let mut targets: BTreeSet<PathBuf> = std::mem::take(&mut self.published);
        targets.extend(by_file.keys().cloned());
        targets.extend(self.documents.keys().cloned());
        let mut out = Vec::new();
        for path in targets {
            let Some(uri) = path_to_uri(&path) else { continue };
            let diagnostics = by_file.remove(&path).unwrap_or_default();
            if !diagnostics.is_empty() {
                self.published.insert(path.clone());
            }
            let version = self.documents.get(&path).map(|d| d.version);
            out.push(Published { uri, version, diagnostics });
        }
        out
    }
}

/// A source path as the check recorded it, made absolute against the folder checked.
fn absolute(folder: &Path, path: &str) -> PathBuf {
    crate::load::normalize(&folder.join(path))
}

/// The LSP form of a diagnostic: range in UTF-16 positions, the stable code, help after the message, the
/// other labels as related information.
fn convert(sources: &SourceMap, folder: &Path, d: &Diagnostic) -> LspDiagnostic {
    let mut message = d.message.clone();
    if !d.primary.message.is_empty() && d.primary.message != d.message {
        message.push_str(&format!("\n{}", d.primary.message));
    }
    if let Some(help) = &d.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    let related: Vec<DiagnosticRelatedInformation> = d
        .labels
        .iter()
        .filter_map(|l| {
            let (uri, range) = location_of(sources, folder, l.span)?;
            Some(DiagnosticRelatedInformation { location: Location { uri, range }, message: l.message.clone() })
        })
        .collect();
    LspDiagnostic {
        range: range_of(sources, d.primary.span),
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.to_string())),
        source: Some("relais".into()),
        message,
        related_information: (!related.is_empty()).then_some(related),
        ..LspDiagnostic::default()
    }
}

/// The range of a span in its file's text.
pub fn range_of(sources: &SourceMap, span: Span) -> lsp_types::Range {
    let file = sources.file(span.file);
    LineIndex::new(&file.text).range(span.start as usize, span.end as usize)
}

/// Where a span is, as an LSP location.
pub fn location_of(sources: &SourceMap, folder: &Path, span: Span) -> Option<(Uri, lsp_types::Range)> {
    let file = sources.file(span.file);
    let uri = path_to_uri(&absolute(folder, &file.path))?;
    Some((uri, range_of(sources, span)))
}

/// The path of a `file:` URI (percent-decoded); `None` for another scheme.
pub fn uri_to_path(uri: &Uri) -> Option<PathBuf> {
    let rest = uri.as_str().strip_prefix("file://")?;
    // `file://host/path`: only the local host (empty or `localhost`) names a file here.
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return None;
    }
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
    Some(crate::load::normalize(Path::new(decoded.as_ref())))
}

/// The `file:` URI of an absolute path.
pub fn path_to_uri(path: &Path) -> Option<Uri> {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    let text = path.to_str()?;
    Uri::from_str(&format!("file://{}", percent_encoding::utf8_percent_encode(text, KEEP))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_under_the_folders_flows_directory_is_checked_there_and_others_in_the_folder() {
        let ws =
            Workspace { folders: vec![PathBuf::from("/repo"), PathBuf::from("/repo/sub")], ..Workspace::default() };
        assert_eq!(ws.folder_of(Path::new("/repo/flows/a/b.yaml")), Path::new("/repo/flows"));
        assert_eq!(ws.folder_of(Path::new("/repo/examples/x.yaml")), Path::new("/repo"));
        assert_eq!(ws.folder_of(Path::new("/repo/sub/x.flow")), Path::new("/repo/sub"));
        assert_eq!(ws.folder_of(Path::new("/elsewhere/x.flow")), Path::new("/elsewhere"));
    }

    #[test]
    fn file_uris_and_paths_convert_both_ways_with_spaces_and_accents() {
        let path = Path::new("/tmp/flows dir/réservation.yaml");
        let uri = path_to_uri(path).unwrap_or_else(|| panic!("no URI for {}", path.display()));
        assert_eq!(uri.as_str(), "file:///tmp/flows%20dir/r%C3%A9servation.yaml");
        assert_eq!(uri_to_path(&uri).as_deref(), Some(path));
        let other = Uri::from_str("untitled:Untitled-1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(uri_to_path(&other), None);
    }
}

//! `relais lsp`: a language server on stdin/stdout, on the check pipeline of `relais check`.
//!
//! One thread reads and frames messages ([`transport`]); the main thread handles them in order. After a
//! batch of changes (every message already waiting is handled first) the workspace folder is checked once,
//! with the open documents' texts standing in for the files ([`workspace`]), and each file's diagnostics are
//! published. Requests are answered from the document's text ([`context`], [`complete`], [`navigate`]) and the
//! last check's names. A malformed message, unknown method or bad parameters gets a JSON-RPC error; a handler
//! that panicked anyway is answered `InternalError`, and the server goes on.

mod complete;
mod context;
mod knowledge;
mod navigate;
mod position;
mod transport;
mod workspace;

use super::Outcome;
use crate::load::Syntax;
use knowledge::Knowledge;
use lsp_server::{ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{self as note, Notification as _};
use lsp_types::request::{self as req, Request as _};
use lsp_types::{
    CompletionOptions, CompletionResponse, DocumentSymbolResponse, GotoDefinitionResponse, Hover, HoverContents,
    HoverProviderCapability, InitializeResult, MarkupContent, MarkupKind, OneOf, PositionEncodingKind,
    PublishDiagnosticsParams, ServerCapabilities, ServerInfo, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextEdit, Uri,
};
use position::LineIndex;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use workspace::{uri_to_path, Document, Workspace};

/// Arguments of `relais lsp` (none: it speaks on stdin and stdout).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Accepted for editors that pass it; stdio is the only transport.
    #[arg(long)]
    stdio: bool,
}

/// What a document is, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// A YAML flow file.
    Yaml,
    /// A `.flow` file.
    Flow,
    /// A test file (`*.test.yaml`).
    Tests,
    /// A Rhai script.
    Rhai,
}

impl DocKind {
    fn of(path: &Path) -> Option<DocKind> {
        if crate::load::is_test_file(path) {
            return Some(DocKind::Tests);
        }
        match path.extension()?.to_str()? {
            "rhai" => Some(DocKind::Rhai),
            _ => match Syntax::of(path)? {
                Syntax::Yaml => Some(DocKind::Yaml),
                Syntax::Flow => Some(DocKind::Flow),
            },
        }
    }
}

/// Runs the server until `exit` (0 after `shutdown`, 1 without it, as the protocol says) or end of input.
pub fn run(_: &Args, out: &mut dyn Write) -> Outcome {
    let (sender, receiver) = mpsc::sync_channel::<transport::Incoming>(64);
    // The reader ends with the input; the channel's closing tells the main loop.
    let reader = std::thread::Builder::new().name("lsp-reader".into()).spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        loop {
            let items = match transport::read(&mut input) {
                Ok(items) => items,
                Err(_) => vec![transport::Incoming::Closed],
            };
            for item in items {
                let closed = matches!(item, transport::Incoming::Closed);
                if sender.send(item).is_err() || closed {
                    return;
                }
            }
        }
    });
    if reader.is_err() {
        eprintln!("relais lsp: cannot start the reader thread");
        return Outcome::Failure;
    }
    let mut server = Server::new();
    loop {
        let Ok(first) = receiver.recv() else { return Outcome::Findings };
        let mut batch = vec![first];
        batch.extend(receiver.try_iter());
        for incoming in batch {
            let step = server.handle(incoming);
            for message in server.outbox.drain(..) {
                if transport::write(out, message).is_err() {
                    return Outcome::Failure;
                }
            }
            match step {
                Step::Go => {}
                Step::Exit => return if server.shut_down { Outcome::Success } else { Outcome::Findings },
            }
        }
        if server.dirty {
            server.publish();
            for message in server.outbox.drain(..) {
                if transport::write(out, message).is_err() {
                    return Outcome::Failure;
                }
            }
        }
    }
}

enum Step {
    Go,
    Exit,
}

/// An error answered to a request.
struct Refusal(ErrorCode, String);

struct Server {
    knowledge: Knowledge,
    workspace: Workspace,
    initialized: bool,
    shut_down: bool,
    /// Documents changed since the last check.
    dirty: bool,
    /// Messages to write, as JSON objects (without `jsonrpc`, which [`transport::write`] adds).
    outbox: Vec<serde_json::Value>,
}

impl Server {
    fn new() -> Server {
        Server {
            knowledge: Knowledge::new(crate::components::registry()),
            workspace: Workspace::default(),
            initialized: false,
            shut_down: false,
            dirty: false,
            outbox: Vec::new(),
        }
    }

    fn push(&mut self, message: Message) {
        self.outbox.push(to_json(message));
    }

    fn handle(&mut self, incoming: transport::Incoming) -> Step {
        match incoming {
            transport::Incoming::Closed => return Step::Exit,
            transport::Incoming::Malformed { id, code, message } => {
                // JSON-RPC answers a message whose id could not be read with `"id": null`, which
                // `RequestId` cannot hold, so this answer is written as JSON.
                let id = id.map_or(serde_json::Value::Null, to_json);
                let error = serde_json::json!({ "code": code as i32, "message": message });
                self.outbox.push(serde_json::json!({ "id": id, "error": error }));
            }
            transport::Incoming::Message(Message::Request(request)) => {
                let id = request.id.clone();
                let method = request.method.clone();
                let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.request(request)))
                    .unwrap_or_else(|_| {
                        Err(Refusal(ErrorCode::InternalError, format!("`{method}` failed inside the server")))
                    });
                self.push(Message::Response(match answer {
                    Ok(result) => Response { id, response_result: Ok(result) },
                    Err(Refusal(code, message)) => Response::new_err(id, code as i32, message),
                }));
            }
            transport::Incoming::Message(Message::Notification(n)) => {
                if n.method == note::Exit::METHOD {
                    return Step::Exit;
                }
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.notification(n)));
            }
            // Answers to requests we never send: nothing to do.
            transport::Incoming::Message(Message::Response(_)) => {}
        }
        Step::Go
    }

    fn request(&mut self, request: Request) -> Result<serde_json::Value, Refusal> {
        if request.method == req::Initialize::METHOD {
            let params: lsp_types::InitializeParams = params(request)?;
            return self.initialize(params);
        }
        if !self.initialized {
            return Err(Refusal(ErrorCode::ServerNotInitialized, "the server is not initialized yet".into()));
        }
        if self.shut_down {
            return Err(Refusal(ErrorCode::InvalidRequest, "the server is shut down: only `exit` is accepted".into()));
        }
        // Names come from the last check: one the latest changes have not had yet runs first (its
        // diagnostics are published before this answer).
        let needs_names = matches!(request.method.as_str(), req::Completion::METHOD | req::GotoDefinition::METHOD);
        if needs_names && self.dirty {
            self.publish();
        }
        let value = match request.method.as_str() {
            req::Shutdown::METHOD => {
                self.shut_down = true;
                serde_json::Value::Null
            }
            req::Completion::METHOD => {
                let p: lsp_types::CompletionParams = params(request)?;
                let doc = &p.text_document_position;
                let (path, kind, text, offset) = self.at(&doc.text_document.uri, doc.position)?;
                let loaded = self.workspace.check_of(&path);
                let items = complete::complete(&self.knowledge, loaded, kind, &text, offset);
                to_json(CompletionResponse::Array(items))
            }
            req::HoverRequest::METHOD => {
                let p: lsp_types::HoverParams = params(request)?;
                let doc = &p.text_document_position_params;
                let (_, kind, text, offset) = self.at(&doc.text_document.uri, doc.position)?;
                match complete::hover(&self.knowledge, kind, &text, offset) {
                    Some((value, start, end)) => to_json(Hover {
                        contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value }),
                        range: Some(LineIndex::new(&text).range(start, end)),
                    }),
                    None => serde_json::Value::Null,
                }
            }
            req::GotoDefinition::METHOD => {
                let p: lsp_types::GotoDefinitionParams = params(request)?;
                let doc = &p.text_document_position_params;
                let (path, _, text, offset) = self.at(&doc.text_document.uri, doc.position)?;
                let folder = self.workspace.folder_of(&path);
                let loaded = self.workspace.check_of(&path);
                match navigate::definition(loaded, &folder, &path, &text, offset) {
                    Some(location) => to_json(GotoDefinitionResponse::Scalar(location)),
                    None => serde_json::Value::Null,
                }
            }
            req::DocumentSymbolRequest::METHOD => {
                let p: lsp_types::DocumentSymbolParams = params(request)?;
                let (_, kind, text) = self.document(&p.text_document.uri)?;
                let symbols = match kind {
                    DocKind::Yaml => navigate::symbols(&text, Syntax::Yaml),
                    DocKind::Flow => navigate::symbols(&text, Syntax::Flow),
                    DocKind::Tests | DocKind::Rhai => Vec::new(),
                };
                to_json(DocumentSymbolResponse::Nested(symbols))
            }
            req::Formatting::METHOD => {
                let p: lsp_types::DocumentFormattingParams = params(request)?;
                let (path, kind, text) = self.document(&p.text_document.uri)?;
                let syntax = match kind {
                    DocKind::Yaml => Syntax::Yaml,
                    DocKind::Flow => Syntax::Flow,
                    DocKind::Tests | DocKind::Rhai => return Ok(serde_json::Value::Null),
                };
                let formatted =
                    super::fmt::format_text(&path.display().to_string(), &text, syntax, syntax).map_err(|_| {
                        Refusal(
                            ErrorCode::RequestFailed,
                            "the document has errors (see its diagnostics); fix them to format it".into(),
                        )
                    })?;
                let index = LineIndex::new(&text);
                let edits = if formatted == text {
                    Vec::new()
                } else {
                    let range = lsp_types::Range { start: lsp_types::Position::default(), end: index.end() };
                    vec![TextEdit { range, new_text: formatted }]
                };
                to_json(edits)
            }
            other => {
                return Err(Refusal(ErrorCode::MethodNotFound, format!("`{other}` is not supported by relais lsp")))
            }
        };
        Ok(value)
    }

    fn initialize(&mut self, params: lsp_types::InitializeParams) -> Result<serde_json::Value, Refusal> {
        if self.initialized {
            return Err(Refusal(ErrorCode::InvalidRequest, "`initialize` was already received".into()));
        }
        let mut folders: Vec<PathBuf> =
            params.workspace_folders.unwrap_or_default().iter().filter_map(|f| uri_to_path(&f.uri)).collect();
        #[allow(deprecated)] // Older clients send only `rootUri`.
        if folders.is_empty() {
            folders.extend(params.root_uri.as_ref().and_then(uri_to_path));
        }
        self.workspace.folders = folders;
        self.initialized = true;
        let capabilities = ServerCapabilities {
            position_encoding: Some(PositionEncodingKind::UTF16),
            text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
            completion_provider: Some(CompletionOptions {
                trigger_characters: Some(vec![":".into(), " ".into(), "{".into(), "(".into(), ".".into()]),
                ..CompletionOptions::default()
            }),
            hover_provider: Some(HoverProviderCapability::Simple(true)),
            definition_provider: Some(OneOf::Left(true)),
            document_symbol_provider: Some(OneOf::Left(true)),
            document_formatting_provider: Some(OneOf::Left(true)),
            ..ServerCapabilities::default()
        };
        let server_info = Some(ServerInfo { name: "relais".into(), version: Some(env!("CARGO_PKG_VERSION").into()) });
        Ok(to_json(InitializeResult { capabilities, server_info }))
    }

    fn notification(&mut self, n: Notification) {
        match n.method.as_str() {
            note::DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params) else { return };
                let Some(path) = uri_to_path(&p.text_document.uri) else { return };
                let doc = Document { text: p.text_document.text, version: p.text_document.version };
                self.workspace.documents.insert(path, doc);
                self.dirty = true;
            }
            note::DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params) else { return };
                let Some(path) = uri_to_path(&p.text_document.uri) else { return };
                let Some(doc) = self.workspace.documents.get_mut(&path) else { return };
                // Full sync: the last change holds the whole text. A ranged change (a client ignoring the
                // capability) is applied to the text it edits.
                for change in p.content_changes {
                    match change.range {
                        None => doc.text = change.text,
                        Some(range) => {
                            let index = LineIndex::new(&doc.text);
                            let (start, end) = (index.offset(range.start), index.offset(range.end));
                            if start <= end {
                                doc.text.replace_range(start..end, &change.text);
                            }
                        }
                    }
                }
                doc.version = p.text_document.version;
                self.dirty = true;
            }
            note::DidSaveTextDocument::METHOD => self.dirty = true,
            note::DidCloseTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params) else { return };
                if let Some(path) = uri_to_path(&p.text_document.uri) {
                    self.workspace.documents.remove(&path);
                    self.dirty = true;
                }
            }
            _ => {}
        }
    }

    fn publish(&mut self) {
        self.dirty = false;
        let registry = self.knowledge.registry;
        let published = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.workspace.check(registry)));
        for p in published.unwrap_or_default() {
            let params = PublishDiagnosticsParams { uri: p.uri, diagnostics: p.diagnostics, version: p.version };
            self.push(Message::Notification(Notification::new(note::PublishDiagnostics::METHOD.into(), params)));
        }
    }

    /// An open document's path, kind and text.
    fn document(&self, uri: &Uri) -> Result<(PathBuf, DocKind, String), Refusal> {
        let path = uri_to_path(uri)
            .ok_or_else(|| Refusal(ErrorCode::InvalidParams, format!("`{}` is not a file URI", uri.as_str())))?;
        let kind = DocKind::of(&path).ok_or_else(|| {
            Refusal(ErrorCode::InvalidParams, format!("`{}` is not a flow, test or .rhai file", path.display()))
        })?;
        let doc = self.workspace.documents.get(&path).ok_or_else(|| {
            Refusal(
                ErrorCode::InvalidParams,
                format!("`{}` is not open (send textDocument/didOpen first)", path.display()),
            )
        })?;
        Ok((path, kind, doc.text.clone()))
    }

    /// An open document and the byte offset of a position in it.
    fn at(&self, uri: &Uri, position: lsp_types::Position) -> Result<(PathBuf, DocKind, String, usize), Refusal> {
        let (path, kind, text) = self.document(uri)?;
        let offset = LineIndex::new(&text).offset(position);
        Ok((path, kind, text, offset))
    }
}

fn params<P: serde::de::DeserializeOwned>(request: Request) -> Result<P, Refusal> {
    let method = request.method.clone();
    serde_json::from_value(request.params)
        .map_err(|e| Refusal(ErrorCode::InvalidParams, format!("bad parameters for `{method}`: {e}")))
}

fn to_json<T: serde::Serialize>(value: T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every request a cursor can make, at many offsets of every fixture (valid and broken files, both
    /// syntaxes): none may panic, whatever the text around the cursor.
    #[test]
    fn no_request_panics_anywhere_in_the_fixtures() {
        let knowledge = Knowledge::new(crate::components::registry());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
        let mut files = Vec::new();
        for dir in ["ok", "err"] {
            files.extend(crate::load::discover(&root.join(dir)).unwrap_or_default());
        }
        assert!(files.len() > 50, "fixtures found: {}", files.len());
        let mut requests = 0;
        for path in files {
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let Some(kind) = DocKind::of(&path) else { continue };
            let syntax = Syntax::of(&path).unwrap_or(Syntax::Yaml);
            let _ = navigate::symbols(&text, syntax);
            let offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).step_by(5).collect();
            for offset in offsets {
                let _ = complete::complete(&knowledge, None, kind, &text, offset);
                let _ = complete::hover(&knowledge, kind, &text, offset);
                let _ = navigate::definition(None, &root, &path, &text, offset);
                requests += 1;
            }
        }
        assert!(requests > 1000, "{requests}");
    }
}

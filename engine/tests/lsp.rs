//! `relais lsp` as an editor meets it: the binary started on a project folder, spoken to in JSON-RPC over its
//! stdin and stdout. Diagnostics as the text changes (before it is saved), completion, hover, definition,
//! symbols, formatting, malformed messages, and a clean shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test stops loudly on a broken exchange

mod support;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long an answer may take: a check of the folder on a loaded machine, never a threshold.
const PATIENCE: Duration = Duration::from_secs(120);

const FLOWS: &str = r#"configs:
  crm:
    http.client: { base_url: "http://127.0.0.1:9" }
flows:
  orders:
    steps:
      - flow_ref: enrich
      - http.request: { path: "/😀é", config: crmx, method: POST }
  enrich:
    steps:
      - logger: "enriching"
"#;

const DSL: &str = "flow greet {\n    set_payload #[ upper(\"hi\") ]\n}\n";

struct Lsp {
    /// `None` once handed to [`Lsp::exit_status`].
    child: Option<Child>,
    stdin: ChildStdin,
    messages: mpsc::Receiver<Value>,
    next_id: i64,
}

impl Lsp {
    fn start() -> Lsp {
        let mut child = Command::new(env!("CARGO_BIN_EXE_relais"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("relais lsp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        length = v.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; length.expect("every message has a Content-Length")];
                reader.read_exact(&mut body).unwrap();
                if tx.send(serde_json::from_slice(&body).expect("the server writes JSON")).is_err() {
                    return;
                }
            }
        });
        Lsp { child: Some(child), stdin, messages, next_id: 1 }
    }

    fn send_raw(&mut self, body: &str) {
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send_raw(&json!({ "jsonrpc": "2.0", "method": method, "params": params }).to_string());
    }

    /// Sends a request and waits for its answer (publications met on the way are kept for later).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send_raw(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string());
        self.wait_for(&format!("the answer to {method}"), |m| m["id"] == json!(id))
    }

    fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(m) if wanted(&m) => return m,
                Ok(_) => {}
                Err(_) => panic!("no {what} from relais lsp within {PATIENCE:?}"),
            }
        }
    }

    /// The next diagnostics published for `uri`.
    fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let m = self.wait_for(&format!("diagnostics for {uri}"), |m| {
            m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri
        });
        m["params"]["diagnostics"].as_array().cloned().unwrap_or_default()
    }
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn project() -> PathBuf {
    support::write_files(&[("main.yaml", FLOWS), ("greet.flow", DSL)])
}

fn open(lsp: &mut Lsp, path: &Path, language: &str, text: &str) {
    let doc = json!({ "uri": uri(path), "languageId": language, "version": 1, "text": text });
    lsp.notify("textDocument/didOpen", json!({ "textDocument": doc }));
}

fn initialized(dir: &Path) -> Lsp {
    let mut lsp = Lsp::start();
    let answer = lsp.request("initialize", json!({ "capabilities": {}, "rootUri": uri(dir), "processId": null }));
    assert_eq!(answer["result"]["capabilities"]["positionEncoding"], "utf-16", "{answer}");
    assert_eq!(answer["result"]["capabilities"]["documentFormattingProvider"], true, "{answer}");
    lsp.notify("initialized", json!({}));
    lsp
}

/// Where `needle` is in `text`, as an LSP position (UTF-16 columns).
fn position_of(text: &str, needle: &str) -> Value {
    let at = text.find(needle).unwrap_or_else(|| panic!("{needle} in the text"));
    let line = text[..at].matches('\n').count();
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let character: usize = text[line_start..at].chars().map(char::len_utf16).sum();
    json!({ "line": line, "character": character })
}

fn labels(completion: &Value) -> Vec<String> {
    let items = completion["result"].as_array().cloned().unwrap_or_default();
    items.iter().filter_map(|i| i["label"].as_str().map(str::to_string)).collect()
}

#[test]
fn an_error_is_published_with_its_utf16_range_and_code_and_cleared_when_the_buffer_is_fixed() {
    let dir = project();
    let main = dir.join("main.yaml");
    let mut lsp = initialized(&dir);
    open(&mut lsp, &main, "yaml", FLOWS);
    let diagnostics = lsp.diagnostics(&uri(&main));
    let unknown = diagnostics.iter().find(|d| d["message"].as_str().unwrap_or("").contains("crmx"));
    let unknown = unknown.unwrap_or_else(|| panic!("an unknown config reported: {diagnostics:?}"));
    let start = position_of(FLOWS, "crmx");
    assert_eq!(unknown["range"]["start"], start, "{unknown}");
    let end = json!({ "line": start["line"], "character": start["character"].as_u64().unwrap() + 4 });
    assert_eq!(unknown["range"]["end"], end, "{unknown}");
    assert!(unknown["code"].as_str().unwrap_or("").starts_with("RL"), "{unknown}");
    assert_eq!(unknown["severity"], 1);

    // The fix is only in the editor's buffer: the file on disk still has `crmx`.
    let fixed = FLOWS.replace("crmx", "crm");
    let change = json!({ "textDocument": { "uri": uri(&main), "version": 2 }, "contentChanges": [{ "text": fixed }] });
    lsp.notify("textDocument/didChange", change);
    let diagnostics = lsp.diagnostics(&uri(&main));
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    assert!(std::fs::read_to_string(&main).unwrap().contains("crmx"));
}

#[test]
fn an_unsaved_rename_in_one_buffer_breaks_a_flow_ref_in_another_file() {
    let dir = project();
    let main = dir.join("main.yaml");
    let mut lsp = initialized(&dir);
    let fixed = FLOWS.replace("crmx", "crm");
    open(&mut lsp, &main, "yaml", &fixed);
    assert!(lsp.diagnostics(&uri(&main)).is_empty());
    let renamed = fixed.replace("  enrich:", "  enrich_v2:");
    let change =
        json!({ "textDocument": { "uri": uri(&main), "version": 2 }, "contentChanges": [{ "text": renamed }] });
    lsp.notify("textDocument/didChange", change);
    let diagnostics = lsp.diagnostics(&uri(&main));
    let message = diagnostics.iter().filter_map(|d| d["message"].as_str()).collect::<Vec<_>>().join("\n");
    assert!(message.contains("enrich"), "{message}");
    assert_eq!(diagnostics[0]["range"]["start"], position_of(&renamed, "enrich\n"), "{diagnostics:?}");
}

#[test]
fn completion_offers_step_kinds_config_names_and_mapping_functions() {
    let dir = project();
    let main = dir.join("main.yaml");
    let mut lsp = initialized(&dir);
    let text = FLOWS.replace("crmx", "crm");
    open(&mut lsp, &main, "yaml", &text);
    lsp.diagnostics(&uri(&main));

    // A new step: the kinds, built-in and from the registry, with their documentation.
    let with_item = text.replace("      - logger: \"enriching\"\n", "      - logger: \"enriching\"\n      - \n");
    let change =
        json!({ "textDocument": { "uri": uri(&main), "version": 2 }, "contentChanges": [{ "text": with_item }] });
    lsp.notify("textDocument/didChange", change);
    let line = with_item.lines().position(|l| l == "      - ").unwrap();
    let at = json!({ "textDocument": { "uri": uri(&main) }, "position": { "line": line, "character": 8 } });
    let kinds = labels(&lsp.request("textDocument/completion", at));
    for kind in ["set_payload", "flow_ref", "choice", "http.request", "db.query", "until_successful"] {
        assert!(kinds.contains(&kind.to_string()), "{kind} offered: {kinds:?}");
    }

    // The value of `config:`: the configs of the step's kind.
    let at = json!({ "textDocument": { "uri": uri(&main) }, "position": position_of(&with_item, ", method") });
    let configs = labels(&lsp.request("textDocument/completion", at));
    assert_eq!(configs, ["crm"]);

    // Inside `#[...]` in a .flow file: the mapping library.
    let greet = dir.join("greet.flow");
    open(&mut lsp, &greet, "relais", DSL);
    let at = json!({ "textDocument": { "uri": uri(&greet) }, "position": position_of(DSL, "upper") });
    let functions = labels(&lsp.request("textDocument/completion", at));
    for f in ["to_e164", "payload", "format_date"] {
        assert!(functions.contains(&f.to_string()), "{f} offered: {functions:?}");
    }
    // A step position in the .flow file.
    let at = json!({ "textDocument": { "uri": uri(&greet) }, "position": { "line": 1, "character": 4 } });
    let kinds = labels(&lsp.request("textDocument/completion", at));
    assert!(kinds.contains(&"http.request".to_string()) && kinds.contains(&"source".to_string()), "{kinds:?}");
}

#[test]
fn hover_shows_a_functions_and_a_fields_documentation() {
    let dir = project();
    let greet = dir.join("greet.flow");
    let main = dir.join("main.yaml");
    let mut lsp = initialized(&dir);
    open(&mut lsp, &greet, "relais", DSL);
    let at = json!({ "textDocument": { "uri": uri(&greet) }, "position": position_of(DSL, "pper") });
    let hover = lsp.request("textDocument/hover", at);
    let text = hover["result"]["contents"]["value"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("upper("), "{hover}");
    assert_eq!(hover["result"]["range"]["start"], position_of(DSL, "upper"), "{hover}");

    open(&mut lsp, &main, "yaml", FLOWS);
    let at = json!({ "textDocument": { "uri": uri(&main) }, "position": position_of(FLOWS, "base_url") });
    let hover = lsp.request("textDocument/hover", at);
    let text = hover["result"]["contents"]["value"].as_str().unwrap_or_default();
    assert!(text.contains("base_url") && text.len() > "**base_url**".len() + 10, "{hover}");
}

#[test]
fn definition_goes_to_the_flow_a_flow_ref_names_and_to_a_config() {
    let dir = project();
    let main = dir.join("main.yaml");
    let mut lsp = initialized(&dir);
    let text = FLOWS.replace("crmx", "crm");
    open(&mut lsp, &main, "yaml", &text);
    lsp.diagnostics(&uri(&main));
    let at = json!({ "textDocument": { "uri": uri(&main) }, "position": position_of(&text, "enrich\n") });
    let found = lsp.request("textDocument/definition", at);
    assert_eq!(found["result"]["uri"], uri(&main), "{found}");
    assert_eq!(found["result"]["range"]["start"], position_of(&text, "enrich:"), "{found}");

    let at = json!({ "textDocument": { "uri": uri(&main) }, "position": position_of(&text, "crm, method") });
    let found = lsp.request("textDocument/definition", at);
    assert_eq!(found["result"]["range"]["start"], position_of(&text, "crm:"), "{found}");
}

#[test]
fn document_symbols_list_configs_flows_and_their_steps() {
    let dir = project();
    let main = dir.join("main.yaml");
    let mut lsp = initialized(&dir);
    open(&mut lsp, &main, "yaml", FLOWS);
    let symbols = lsp.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri(&main) } }));
    let names: Vec<&str> = symbols["result"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["crm", "orders", "enrich"], "{symbols}");
    let orders = &symbols["result"][1];
    let steps: Vec<&str> = orders["children"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(steps, ["flow_ref", "http.request"], "{symbols}");
    assert_eq!(orders["selectionRange"]["start"], position_of(FLOWS, "orders"));
}

#[test]
fn formatting_returns_the_canonical_text_as_one_edit() {
    let dir = project();
    let greet = dir.join("greet.flow");
    let mut lsp = initialized(&dir);
    let messy = "flow   greet {\n  set_payload    #[ upper(\"hi\") ]\n}\n";
    open(&mut lsp, &greet, "relais", messy);
    let options = json!({ "tabSize": 4, "insertSpaces": true });
    let answer =
        lsp.request("textDocument/formatting", json!({ "textDocument": { "uri": uri(&greet) }, "options": options }));
    let edits = answer["result"].as_array().unwrap_or_else(|| panic!("edits: {answer}"));
    assert_eq!(edits.len(), 1, "{answer}");
    assert_eq!(edits[0]["newText"], "flow greet {\n    set_payload #[ upper(\"hi\") ]\n}\n", "{answer}");
    assert_eq!(edits[0]["range"]["end"], json!({ "line": 3, "character": 0 }));
}

#[test]
fn garbage_gets_json_rpc_errors_and_the_server_goes_on_then_exits_zero_after_shutdown() {
    let dir = project();
    let mut lsp = initialized(&dir);
    lsp.send_raw("this is not json");
    let error = lsp.wait_for("a parse error", |m| m.get("error").is_some());
    assert_eq!(error["error"]["code"], -32700, "{error}");
    assert_eq!(error["id"], Value::Null, "{error}");

    lsp.send_raw(r#"{"jsonrpc":"2.0","id":41,"method":17}"#);
    let error = lsp.wait_for("an invalid request", |m| m["id"] == 41);
    assert_eq!(error["error"]["code"], -32600, "{error}");

    let bad_params = lsp.request("textDocument/hover", json!({ "nonsense": true }));
    assert_eq!(bad_params["error"]["code"], -32602, "{bad_params}");
    let unknown = lsp.request("workspace/fly", json!({}));
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let not_open =
        json!({ "textDocument": { "uri": "file:///nowhere/x.yaml" }, "position": { "line": 99, "character": 99 } });
    assert_eq!(lsp.request("textDocument/completion", not_open)["error"]["code"], -32602);

    // Still alive: a real request is answered.
    let main = dir.join("main.yaml");
    open(&mut lsp, &main, "yaml", FLOWS);
    // A position far past the end is clamped, not a panic.
    let far = json!({ "textDocument": { "uri": uri(&main) }, "position": { "line": 4000, "character": 4000 } });
    assert!(lsp.request("textDocument/hover", far).get("error").is_none());
    let symbols = lsp.request("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri(&main) } }));
    assert!(symbols["result"].is_array(), "{symbols}");

    assert_eq!(lsp.request("shutdown", Value::Null)["result"], Value::Null);
    lsp.notify("exit", Value::Null);
    assert_eq!(lsp.exit_status().code(), Some(0));
}

#[test]
fn exit_without_shutdown_is_exit_code_one() {
    let dir = project();
    let mut lsp = initialized(&dir);
    lsp.notify("exit", Value::Null);
    assert_eq!(lsp.exit_status().code(), Some(1));
}

impl Lsp {
    /// Waits for the server to exit by itself (on a thread, so a server that never exits fails the test).
    fn exit_status(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
            let _ = child.kill();
        });
        rx.recv_timeout(PATIENCE).expect("relais lsp exits").unwrap()
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_test_file_gets_the_diagnostics_of_the_check_as_it_is_typed() {
    let dir = project();
    let tests = dir.join("orders.test.yaml");
    let text = "flow: ordres\ntests:\n  a case:\n    input:\n      payload: {}\n";
    std::fs::write(&tests, text).unwrap();
    let mut lsp = initialized(&dir);
    open(&mut lsp, &tests, "yaml", text);
    let diagnostics = lsp.diagnostics(&uri(&tests));
    let unknown = diagnostics.iter().find(|d| d["message"].as_str().unwrap_or("").contains("ordres"));
    let unknown = unknown.unwrap_or_else(|| panic!("the unknown flow reported: {diagnostics:?}"));
    assert_eq!(unknown["range"]["start"], position_of(text, "ordres"), "{unknown}");
    assert!(unknown["message"].as_str().unwrap_or("").contains("orders"), "did you mean: {unknown}");

    let fixed = text.replace("ordres", "orders");
    let change = json!({ "textDocument": { "uri": uri(&tests), "version": 2 }, "contentChanges": [{ "text": fixed }] });
    lsp.notify("textDocument/didChange", change);
    let diagnostics = lsp.diagnostics(&uri(&tests));
    assert!(!diagnostics.iter().any(|d| d["message"].as_str().unwrap_or("").contains("ordres")), "{diagnostics:?}");
}

#[test]
fn a_definition_asked_right_after_opening_is_answered_from_the_opened_text() {
    let dir = project();
    let main = dir.join("main.yaml");
    let mut lsp = initialized(&dir);
    // Only in the buffer: a flow the file on disk does not have.
    let text = FLOWS.replace("crmx", "crm").replace("flow_ref: enrich", "flow_ref: fresh")
        + "  fresh:\n    steps:\n      - logger: new\n";
    open(&mut lsp, &main, "yaml", &text);
    let at = json!({ "textDocument": { "uri": uri(&main) }, "position": position_of(&text, "fresh\n") });
    let found = lsp.request("textDocument/definition", at);
    assert_eq!(found["result"]["range"]["start"], position_of(&text, "fresh:"), "{found}");
}

#[test]
fn definition_opens_the_script_and_the_import_a_string_names() {
    let dir = project();
    std::fs::write(dir.join("double.rhai"), "payload * 2\n").unwrap();
    let text = "import \"main.yaml\"\n\nflow twice {\n    transform file \"double.rhai\"\n}\n";
    let twice = dir.join("twice.flow");
    std::fs::write(&twice, text).unwrap();
    let mut lsp = initialized(&dir);
    open(&mut lsp, &twice, "relais", text);
    for (at, file) in [("ouble.rhai", "double.rhai"), ("ain.yaml", "main.yaml")] {
        let at = json!({ "textDocument": { "uri": uri(&twice) }, "position": position_of(text, at) });
        let found = lsp.request("textDocument/definition", at);
        assert_eq!(found["result"]["uri"], uri(&dir.join(file)), "{found}");
    }
    // A `.rhai` document completes the mapping library.
    let script = dir.join("double.rhai");
    open(&mut lsp, &script, "rhai", "payload * 2\n");
    let at = json!({ "textDocument": { "uri": uri(&script) }, "position": { "line": 0, "character": 0 } });
    assert!(labels(&lsp.request("textDocument/completion", at)).contains(&"to_e164".to_string()));
}

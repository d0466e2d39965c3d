//! `relais graph`: draws the checked flows as a map of systems, zones, flows and data types (or one
//! flow's execution graph with `--flow`), with the volumes a daemon measured (`--metrics`).

use super::render::{render, Format as DiagFormat};
use super::{paths_or_default, Outcome};
use crate::graph::{self, drawing, volume};
use relais_dsl::Severity;
use std::io::Write;
use std::path::PathBuf;

/// What `relais graph` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A Mermaid flowchart (renders in GitHub Markdown).
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
    /// The map as JSON (stable, `version` field; shape in the README).
    Json,
    /// One self-contained HTML page: zones as regions, click a flow to highlight its path.
    Html,
}

/// Arguments of `relais graph`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories (searched for *.yaml, *.yml, *.flow); default `flows/`.
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Mermaid)]
    format: Format,
    /// Volumes on the edges: a running daemon's admin URL (`http://127.0.0.1:9464`, `/metrics` is
    /// fetched) or a saved `/metrics` scrape.
    #[arg(long, value_name = "URL|FILE")]
    metrics: Option<String>,
    /// Write here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Draw this flow's execution graph: steps, router branches, error handlers, retry scopes, systems.
    #[arg(long, value_name = "NAME")]
    flow: Option<String>,
    /// Environment whose properties apply (`env/<NAME>.yaml` next to the flows).
    #[arg(long)]
    env: Option<String>,
    /// The project root: no file outside it is read. Default: each directory given (a file's directory).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

fn fail(message: &str, help: Option<&str>) -> Outcome {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "relais graph: {message}");
    if let Some(help) = help {
        let _ = writeln!(err, "  help: {help}");
    }
    Outcome::Failure
}

/// Runs `relais graph`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let paths = paths_or_default(&args.paths);
    let loaded = super::check::check_paths_in(&paths, args.env.clone(), args.root.as_deref());
    if loaded.io_failed || loaded.diags.count(Severity::Error) > 0 {
        let diags: Vec<_> = loaded.diags.iter().filter(|d| d.severity == Severity::Error).cloned().collect();
        let mut err = std::io::stderr();
        let _ = render(DiagFormat::Human, &loaded.sources, &diags, &mut err);
        let _ = writeln!(err, "relais graph: the flows do not check ({} error(s)); nothing was drawn", diags.len());
        return if loaded.io_failed { Outcome::Failure } else { Outcome::Findings };
    }
    let mut map = graph::build(&loaded, crate::components::registry());
    if let Some(source) = &args.metrics {
        match volume::read(source) {
            Ok((info, samples)) => volume::attach(&mut map, info, &samples),
            Err(e) => {
                return fail(&e.to_string(), Some(e.help()));
            }
        }
    }
    let text = match &args.flow {
        Some(name) => {
            let Some(flow) = loaded.set.flow(name) else {
                let names: Vec<&str> = loaded.set.flows().map(|f| f.name.value.as_str()).collect();
                let help = relais_dsl::diagnostic::did_you_mean(name, names.iter().copied())
                    .unwrap_or_else(|| format!("the flows are: {}", names.join(", ")));
                return fail(&format!("no flow or sub-flow named `{name}`"), Some(&help));
            };
            let d = graph::flow::drawing(&loaded, &map, flow);
            match args.format {
                Format::Mermaid => graph::mermaid::render(&d),
                Format::Dot => graph::dot::render(&d),
                Format::Json => json(&serde_json::json!({ "version": graph::model::VERSION, "flow": name, "drawing": d })),
                Format::Html => graph::html::render(&d, &format!("execution graph of `{name}`: steps numbered in run order (as metrics and coverage number them); dashed arrows are loops, retries and error paths")),
            }
        }
        None => {
            let d = drawing::of_map(&map);
            match args.format {
                Format::Mermaid => graph::mermaid::render(&d),
                Format::Dot => graph::dot::render(&d),
                Format::Json => json(&map),
                Format::Html => graph::html::render(&d, &subtitle(&map, &paths)),
            }
        }
    };
    let written = match &args.out {
        Some(path) => std::fs::write(path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display())),
        None => out.write_all(text.as_bytes()).map_err(|e| format!("cannot write the graph: {e}")),
    };
    match written {
        Ok(()) => Outcome::Success,
        Err(e) => fail(&e, None),
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    // A map of strings, numbers and options always serializes.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// What the html page says under its title.
fn subtitle(map: &graph::Map, paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let mut s = format!(
        "{}: {} systems in {} zone(s), {} flows, {} data types. Click a flow to highlight its path.",
        shown.join(" "),
        map.systems.len(),
        map.zones.len(),
        map.flows.len(),
        map.data_types.len()
    );
    if let Some(m) = &map.metrics {
        s.push_str(&format!(" Volumes from {}.", m.source));
    }
    s
}

//! `relais run`: check exactly as `relais check` does, refuse to start on an error, then run the sources
//! until SIGINT or SIGTERM, and drain in-flight requests before exiting 0.

use super::render::{render, Format};
use super::{paths_or_default, Outcome};
use crate::connectors;
use crate::plan::compile_program;
use crate::runtime::Runtime;
use relais_dsl::Severity;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `relais run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories; default `flows/`.
    paths: Vec<PathBuf>,
    /// Environment whose properties apply (`env/<NAME>.yaml` next to the flows).
    #[arg(long)]
    env: Option<String>,
    /// Address of the admin endpoints (`/health`, `/ready`, `/metrics`); `off` disables them.
    #[arg(long, default_value = "127.0.0.1:9464")]
    admin: String,
    /// How long shutdown waits for in-flight requests.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    drain: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    relais_dsl::ir::parse_duration(text).ok_or_else(|| format!("`{text}` is not a duration such as 30s"))
}

fn init_logs() {
    let level = std::env::var("RELAIS_LOG").ok().and_then(|l| l.parse().ok()).unwrap_or(tracing::Level::INFO);
    let builder = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr);
    let _ = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        builder.try_init()
    } else {
        builder.json().try_init()
    };
}

/// Runs `relais run`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let paths = paths_or_default(&args.paths);
    let loaded = super::check::check_paths(&paths, args.env.clone());
    if loaded.io_failed || loaded.diags.count(Severity::Error) > 0 {
        let diags: Vec<_> = loaded.diags.iter().cloned().collect();
        let _ = render(Format::Human, &loaded.sources, &diags, out);
        let _ = writeln!(out, "relais run: the flows do not check; nothing was started");
        return if loaded.io_failed { Outcome::Failure } else { Outcome::Findings };
    }
    init_logs();
    let tokio = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(out, "relais run: cannot start the runtime: {e}");
            return Outcome::Failure;
        }
    };
    tokio.block_on(async {
        let program = match compile_program(&loaded, relais_stdlib::Clock::system(), &connectors::all()) {
            Ok(p) => p,
            Err(diags) => {
                let diags: Vec<_> = diags.iter().cloned().collect();
                let _ = render(Format::Human, &loaded.sources, &diags, out);
                return Outcome::Findings;
            }
        };
        let admin = match args.admin.as_str() {
            "off" => None,
            addr => match addr.parse() {
                Ok(a) => Some(a),
                Err(e) => {
                    let _ = writeln!(out, "relais run: --admin `{addr}`: {e}");
                    return Outcome::Failure;
                }
            },
        };
        let daemon = match crate::daemon::start_with_admin(&loaded, Runtime::new(program), admin).await {
            Ok(d) => d,
            Err(e) => {
                let _ = writeln!(out, "relais run: {e}");
                return Outcome::Failure;
            }
        };
        for (name, addr) in &daemon.listeners {
            tracing::info!(listener = %name, "listening on http://{addr}");
        }
        if let Some(addr) = daemon.admin {
            tracing::info!("admin endpoints on http://{addr}/health, /ready, /metrics");
        }
        wait_for_signal().await;
        tracing::info!("shutting down: draining in-flight requests for up to {:?}", args.drain);
        if !daemon.shutdown(args.drain).await {
            tracing::warn!("drain deadline reached with requests still in flight");
        }
        Outcome::Success
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

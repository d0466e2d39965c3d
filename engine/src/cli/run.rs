//! `relais run`: check exactly as `relais check` does, refuse to start on an error, then run the sources
//! until SIGINT or SIGTERM, and drain in-flight work before exiting: 0 when everything finished, 3 when the
//! drain deadline cut work short (what was cut is logged by the daemon). On SIGHUP, or when a file under the
//! paths changes, the flows are checked and compiled again: a clean result replaces the running program,
//! a broken one is logged with its diagnostics and the old program keeps running.

use super::render::{render, Format};
use super::{paths_or_default, Outcome};
use crate::runtime::Runtime;
use relais_dsl::Severity;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// The most threads the daemon keeps for blocking work (store transactions, large body checks, scripts
/// moved off the async workers) beside its async workers. tokio's default is 512: under a load of heavy
/// scripts it grew the daemon to over 300 threads, each with its stack and, past a few, its own malloc arena
/// (57-69 MiB resident). Work beyond the bound waits for a thread instead of making one.
const MAX_BLOCKING_THREADS: usize = 32;

/// How long an idle blocking thread lives before it exits: a burst's threads are gone soon after it.
const BLOCKING_THREAD_KEEP_ALIVE: Duration = Duration::from_secs(5);

/// Arguments of `relais run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories; default `flows/`.
    paths: Vec<PathBuf>,
    /// Environment whose properties apply (`env/<NAME>.yaml` next to the flows).
    #[arg(long)]
    env: Option<String>,
    /// The project root: no file outside it is read. Default: each directory given (a file's directory).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Address of the admin endpoints (`/health`, `/ready`, `/metrics`); `off` disables them.
    #[arg(long, default_value = "127.0.0.1:9464")]
    admin: String,
    /// File of the admin port's bearer tokens (one per line, at least 16 characters; `#` comments):
    /// dead letters and actions (replay, purge, run a flow) need `Authorization: Bearer TOKEN`. Without a
    /// token they are refused, unless --admin-insecure.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["admin_token_secret", "admin_insecure"])]
    admin_token_file: Option<PathBuf>,
    /// The admin token as a secret: the environment variable NAME, or the file NAME_FILE names.
    #[arg(long, value_name = "NAME", conflicts_with = "admin_insecure")]
    admin_token_secret: Option<String>,
    /// Let anyone who can reach the admin port see dead letters and act, without a token: accepted only on
    /// a loopback --admin address (a laptop, a demo).
    #[arg(long)]
    admin_insecure: bool,
    /// How often the flows' objectives are graded into incidents (README, "Incidents").
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    incident_tick: Duration,
    /// How long shutdown waits for work in flight (requests, scheduled runs, queue messages, `async`
    /// scopes). Requests still running then are answered 503 and relais run exits 3.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    drain: Duration,
    /// Do not reload when files change (SIGHUP still reloads).
    #[arg(long)]
    no_watch: bool,
    /// How long the files must be quiet after a change before the flows are reloaded (an editor or a
    /// `git checkout` finishing its writes); also how often they are compared when the system cannot send
    /// file events.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    watch_interval: Duration,
    /// Where persistent queues, persistent object stores, dead letters and scheduler leases are kept: a
    /// directory, `memory` (nowhere), or `postgres://user:password@host/db?schema=NAME` shared by replicas.
    #[arg(long, default_value = super::state::DEFAULT_STATE)]
    state: String,
    /// How long one script (mapping, condition, expression) may run before it fails with `EXPRESSION:LIMIT`.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    script_budget: Duration,
    /// How many long-running scripts (past a few milliseconds) may run at once; the others wait for a turn
    /// until their budget. Default: half the cores, at least 1.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    long_scripts: Option<u64>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    relais_dsl::ir::parse_duration(text).ok_or_else(|| format!("`{text}` is not a duration such as 30s"))
}

fn init_logs(filter: tracing_subscriber::EnvFilter) {
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(crate::scrub::LogWriter);
    let _ = if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        builder.try_init()
    } else {
        builder.json().try_init()
    };
}

/// The admin port's access rules from the command line.
fn admin_access(args: &Args) -> Result<crate::daemon::AdminAccess, String> {
    use crate::daemon::AdminAccess;
    if let Some(file) = &args.admin_token_file {
        return AdminAccess::from_token_file(file);
    }
    if let Some(name) = &args.admin_token_secret {
        let token = crate::connectors::secrets::lookup(name)
            .map_err(|unset| format!("--admin-token-secret: {}", unset.describe(name)))?;
        return AdminAccess::with_tokens([token]).map_err(|why| format!("--admin-token-secret `{name}`: {why}"));
    }
    Ok(if args.admin_insecure { AdminAccess::insecure_loopback() } else { AdminAccess::closed() })
}

/// Runs `relais run`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    // Checked before anything else, and on standard error where the logs would have gone.
    let filter = match super::log_filter::from_env() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("relais run: {e}");
            return Outcome::Failure;
        }
    };
    let paths = paths_or_default(&args.paths);
    // Started before the files are read, so that an edit made while starting is seen as a change.
    let (watch, watching) = super::watch::Watch::start(&paths, args.watch_interval, !args.no_watch);
    let loaded = super::check::check_paths_for_run(&paths, args.env.clone(), args.root.as_deref());
    if loaded.io_failed || loaded.diags.count(Severity::Error) > 0 {
        let diags: Vec<_> = loaded.diags.iter().cloned().collect();
        let _ = render(Format::Human, &loaded.sources, &diags, out);
        let _ = writeln!(out, "relais run: the flows do not check; nothing was started");
        return if loaded.io_failed { Outcome::Failure } else { Outcome::Findings };
    }
    let access = match admin_access(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(out, "relais run: {e}");
            return Outcome::Failure;
        }
    };
    let durable = match super::state::open(&args.state) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(out, "relais run: {e}");
            return Outcome::Failure;
        }
    };
    init_logs(filter);
    tracing::info!("state: {}", super::state::shown(&args.state));
    if let Some(why) = args.admin_token_file.as_deref().and_then(crate::daemon::token_file_exposure) {
        tracing::warn!(target: crate::daemon::AUDIT_TARGET, "{why}");
    }
    match watching {
        super::watch::Started::Off => {}
        super::watch::Started::Events => tracing::info!("watching the flow files for changes"),
        super::watch::Started::Polling(why) => tracing::warn!(
            "cannot watch the flow files for changes ({why}); comparing them every {:?} instead",
            args.watch_interval
        ),
    }
    // The state is ours alone while we run: any lease in it is a message a stopped process was working on.
    if durable.is_exclusive() {
        match durable.release_leases() {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!("{n} message(s) were being processed when relais last stopped; delivering them again")
            }
            Err(e) => {
                let _ = writeln!(out, "relais run: {e}");
                return Outcome::Failure;
            }
        }
    }
    if let Some(slots) = args.long_scripts {
        relais_stdlib::set_long_script_slots(usize::try_from(slots).unwrap_or(usize::MAX));
    }
    // Scripts run on these threads: the stack holds the deepest values a script can build (see the constant).
    // One async worker per core the process may use (tokio's default, which follows `taskset`), and at most
    // `MAX_BLOCKING_THREADS` more for blocking work, so the daemon's thread count stays bounded under load.
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .thread_stack_size(relais_stdlib::SCRIPT_STACK_SIZE)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_THREAD_KEEP_ALIVE)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(out, "relais run: cannot start the runtime: {e}");
            return Outcome::Failure;
        }
    };
    let state = std::sync::Arc::new(crate::state::State::with_store(durable));
    tokio.block_on(async {
        let program = match crate::plan::compile_program_in(
            &state,
            &loaded,
            relais_stdlib::Clock::system(),
            crate::components::registry(),
            None,
        ) {
            Ok(p) => crate::plan::Program { script_budget: args.script_budget, ..p },
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
        if let Some(addr) = admin {
            if let Err(e) = access.check_bind(addr) {
                let _ = writeln!(out, "relais run: {e}");
                return Outcome::Failure;
            }
        }
        // Off (and costing nothing) unless an OTLP endpoint is set; a setting that cannot work stops the start.
        let traces = match crate::trace::Tracing::start() {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(out, "relais run: tracing: {e}");
                return Outcome::Failure;
            }
        };
        crate::daemon::descriptors::raise_limit();
        let (tokens, insecure) = (access.token_count(), access.is_insecure());
        // Before the daemon announces itself: a signal sent as soon as it listens must drain it (or
        // reload it), not kill it with the signal's default action.
        let mut signals = Signals::new();
        let daemon = match crate::daemon::start_with_admin_access(
            crate::components::registry(),
            Runtime::new(program),
            admin,
            access,
        )
        .await
        {
            Ok(d) => d,
            Err(e) => {
                let _ = writeln!(out, "relais run: {e}");
                return Outcome::Failure;
            }
        };
        daemon.grade_incidents_every(args.incident_tick);
        for (name, addr) in &daemon.listeners {
            tracing::info!(listener = %name, "listening on http://{addr}");
        }
        if let Some(addr) = daemon.admin {
            tracing::info!("admin endpoints on http://{addr}/health, /ready, /metrics");
            match (tokens, insecure) {
                (0, false) => tracing::info!(
                    target: crate::daemon::AUDIT_TARGET,
                    "admin actions and dead letters are closed: no admin token (--admin-token-file FILE)"
                ),
                (0, true) => tracing::warn!(
                    target: crate::daemon::AUDIT_TARGET,
                    "admin actions and dead letters are open to anyone on this host (--admin-insecure)"
                ),
                (n, _) => tracing::info!(
                    target: crate::daemon::AUDIT_TARGET,
                    "admin actions and dead letters need a bearer token ({n} accepted)"
                ),
            }
        }
        let mut daemon = daemon;
        serve_until_stopped(&mut daemon, &mut signals, args, &paths, watch).await;
        tracing::info!("shutting down: draining in-flight work for up to {:?}", args.drain);
        let drained = daemon.shutdown(args.drain).await;
        if let Some(traces) = traces {
            traces.shutdown().await;
        }
        if drained {
            tracing::info!("drained: every request, run and message in flight finished");
            Outcome::Success
        } else {
            tracing::error!("stopped with work cut short by the drain deadline (--drain {:?}): exit 3", args.drain);
            Outcome::CutShort
        }
    })
}

/// Why a reload happens.
enum Trigger {
    Stop,
    Hangup,
    Files,
}

/// The signals `relais run` handles, registered together when it starts.
struct Signals {
    stop: Stop,
    hangup: Hangup,
}

impl Signals {
    fn new() -> Self {
        Signals { stop: Stop::new(), hangup: Hangup::new() }
    }
}

/// Waits for SIGINT/SIGTERM, reloading on SIGHUP and on file changes meanwhile.
async fn serve_until_stopped(
    daemon: &mut crate::daemon::Daemon,
    signals: &mut Signals,
    args: &Args,
    paths: &[PathBuf],
    mut watch: super::watch::Watch,
) {
    let Signals { stop, hangup } = signals;
    loop {
        let trigger = tokio::select! {
            _ = stop.recv() => Trigger::Stop,
            _ = hangup.recv() => Trigger::Hangup,
            _ = watch.changed() => Trigger::Files,
        };
        match trigger {
            Trigger::Stop => return,
            Trigger::Hangup => {
                tracing::info!("SIGHUP: reloading the flows");
                watch.resync();
            }
            Trigger::Files => tracing::info!("files changed: reloading the flows"),
        }
        reload(daemon, args, paths).await;
    }
}

/// Checks and compiles the flows again and swaps them in; a broken change keeps the old program running.
async fn reload(daemon: &mut crate::daemon::Daemon, args: &Args, paths: &[PathBuf]) {
    let loaded = super::check::check_paths_for_run(paths, args.env.clone(), args.root.as_deref());
    if loaded.io_failed || loaded.diags.count(Severity::Error) > 0 {
        let diags: Vec<_> = loaded.diags.iter().cloned().collect();
        let mut text = Vec::new();
        let _ = render(Format::Human, &loaded.sources, &diags, &mut text);
        tracing::error!(
            "reload refused, the previous flows keep running: the flows do not check\n{}",
            String::from_utf8_lossy(&text)
        );
        return;
    }
    let program = match crate::plan::compile_program_in(
        &daemon.state(),
        &loaded,
        relais_stdlib::Clock::system(),
        crate::components::registry(),
        None,
    ) {
        Ok(p) => crate::plan::Program { script_budget: args.script_budget, ..p },
        Err(diags) => {
            let diags: Vec<_> = diags.iter().cloned().collect();
            let mut text = Vec::new();
            let _ = render(Format::Human, &loaded.sources, &diags, &mut text);
            tracing::error!("reload refused, the previous flows keep running\n{}", String::from_utf8_lossy(&text));
            return;
        }
    };
    let flows = program.flows.len();
    match daemon.reload(crate::components::registry(), program).await {
        Ok(()) => {
            tracing::info!("reloaded: {flows} flows");
            for (name, addr) in &daemon.listeners {
                tracing::info!(listener = %name, "listening on http://{addr}");
            }
        }
        Err(e) => tracing::error!("reload refused, the previous flows keep running: {e}"),
    }
}

/// SIGHUP, where the platform has it.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn new() -> Self {
        #[cfg(unix)]
        {
            Hangup { signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok() }
        }
        #[cfg(not(unix))]
        {
            Hangup {}
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = self.signal.as_mut() {
            if signal.recv().await.is_some() {
                return;
            }
            // The signal stream ended (the runtime is going away): never fire again.
            self.signal = None;
        }
        std::future::pending::<()>().await
    }
}

/// SIGINT or SIGTERM: on Unix both are registered when this is made (a signal arriving later but before
/// anyone waits is kept); elsewhere Ctrl-C.
struct Stop {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Stop {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Stop { signals: signal(SignalKind::interrupt()).ok().zip(signal(SignalKind::terminate()).ok()) }
        }
        #[cfg(not(unix))]
        {
            Stop {}
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some((interrupt, terminate)) = self.signals.as_mut() {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

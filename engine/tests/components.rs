//! The component architecture from the outside: a component added to the registry from its own module
//! runs as a step and as a source; a config's resource is built once and shared by every step naming it;
//! a resource that is not ready turns `/ready` to 503; settings are read into their type at check time and
//! a component that cannot be built refuses the program.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed setup should stop the test loudly

mod support;

use relais_engine::component::{
    CallFuture, ComponentNode, Config, ConfigContext, Context, Readiness, Resource, Step, StepContext,
};
use relais_engine::event::{Event, Payload};
use relais_engine::registry::{ComponentSpec, Registry};
use relais_engine::runtime::Runtime;
use relais_engine::source::{Planned, Source, SourceUse, Stage, TaskPlanned};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `text.upper`: a step written the way a new component is, in its own module: typed settings, a build.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Upper {
    /// A suffix appended after upper-casing.
    #[serde(default)]
    suffix: String,
}

struct UpperNode(String);

impl ComponentNode for UpperNode {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let text = cx.read(&event.payload)?.as_str().unwrap_or_default().to_uppercase();
            let mut ev = event;
            ev.set_payload(Payload::value(serde_json::json!(format!("{text}{}", self.0))));
            Ok(ev)
        })
    }
}

impl Step for Upper {
    const NAME: &'static str = "text.upper";
    const SUMMARY: &'static str = "Upper-cases a text payload.";

    fn build(&self, _: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        Ok(Arc::new(UpperNode(self.suffix.clone())))
    }
}

/// `test.once`: a source that runs its flow once, at start, with a fixed payload.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Once {
    /// The payload of the one event.
    payload: String,
}

impl Source for Once {
    const NAME: &'static str = "test.once";
    const SUMMARY: &'static str = "Runs the flow once at start.";

    fn plan(uses: Vec<SourceUse<Self>>, runtime: &Runtime) -> Result<Vec<Box<dyn Planned>>, String> {
        Ok(uses
            .into_iter()
            .map(|u| {
                let runtime = runtime.clone();
                let (flow, payload) = (u.flow.clone(), u.settings.payload.clone());
                TaskPlanned::planned(
                    format!("test.once:{flow}"),
                    Stage::Intake,
                    Box::new(move |_stop, _in_flight| {
                        tokio::spawn(async move {
                            let _ = runtime.run_flow(&flow, Event::new(serde_json::json!(payload))).await;
                        })
                    }),
                )
            })
            .collect())
    }
}

/// `test.gauge`: a config kind whose resource is ready only when its settings say so.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Gauge {
    /// Whether the resource reports ready.
    ready: bool,
}

struct GaugeResource(bool);

impl Resource for GaugeResource {
    fn ready(&self) -> Readiness {
        if self.0 {
            Readiness::Ready
        } else {
            Readiness::NotReady("the gauge is down".into())
        }
    }
}

impl Config for Gauge {
    const NAME: &'static str = "test.gauge";
    const SUMMARY: &'static str = "A resource whose readiness a test sets.";

    fn build(&self, _: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String> {
        Ok(Arc::new(GaugeResource(self.ready)))
    }
}

fn registry() -> Registry {
    Registry::new(relais_engine::components::specs()).with(vec![
        ComponentSpec::step::<Upper>(),
        ComponentSpec::source::<Once>(),
        ComponentSpec::config::<Gauge>(),
    ])
}

fn compile(registry: &Registry, dir: &std::path::Path) -> Result<relais_engine::plan::Program, Vec<String>> {
    let loaded = relais_engine::cli::check::check_paths_with(&[dir.to_path_buf()], None, None, registry);
    let errors = support::errors(loaded.diags.iter());
    if !errors.is_empty() {
        return Err(errors);
    }
    relais_engine::plan::compile_program(&loaded, relais_stdlib::Clock::system(), registry)
        .map_err(|d| support::errors(d.iter()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_and_a_source_added_to_the_registry_are_checked_and_run_by_the_daemon_unchanged() {
    let dir = support::write_files(&[(
        "flows.yaml",
        r##"
configs:
  seen: { object_store: {} }
flows:
  shout:
    source: { test.once: { payload: "bonjour" } }
    steps:
      - text.upper: { suffix: "!" }
      - object_store.put: { config: seen, key: "last", value: "#[payload]" }
"##,
    )]);
    let registry = registry();
    let program = compile(&registry, &dir).unwrap();
    let state = program.state.clone();
    let daemon = relais_engine::daemon::start(&registry, Runtime::new(program)).await.unwrap();
    let store = state.existing_store("seen").unwrap();
    support::eventually("the source's event", || std::future::ready(store.get("last").ok().flatten().is_some())).await;
    assert_eq!(store.get("last").unwrap(), Some(serde_json::json!("BONJOUR!")));
    assert!(daemon.shutdown(Duration::from_secs(5)).await);
}

#[test]
fn a_registered_components_settings_are_validated_against_the_schema_of_its_type() {
    let dir =
        support::write_files(&[("flows.yaml", "flows:\n  shout:\n    steps:\n      - text.upper: { sufix: \"!\" }\n")]);
    let Err(errors) = compile(&registry(), &dir) else { panic!("a misspelt setting was accepted") };
    assert!(errors.iter().any(|e| e.starts_with("RL0501") && e.contains("sufix")), "{errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_that_is_not_ready_turns_ready_to_503_naming_its_config() {
    let flows = |ready: bool| {
        format!("configs:\n  gauge: {{ test.gauge: {{ ready: {ready} }} }}\nflows:\n  idle:\n    steps:\n      - logger: {{ message: hi }}\n")
    };
    let registry = registry();
    for ready in [true, false] {
        let dir = support::write_files(&[("flows.yaml", &flows(ready))]);
        let program = compile(&registry, &dir).unwrap();
        let admin = Some("127.0.0.1:0".parse().unwrap());
        let daemon = relais_engine::daemon::start_with_admin(&registry, Runtime::new(program), admin).await.unwrap();
        let (status, _, body) = support::request(daemon.admin.unwrap(), "GET", "/ready", &[], b"").await;
        if ready {
            assert_eq!(status, 200, "{body}");
        } else {
            assert_eq!(status, 503, "{body}");
            assert!(body.contains("gauge") && body.contains("the gauge is down"), "{body}");
        }
        daemon.shutdown(Duration::from_secs(5)).await;
    }
}

/// An upstream that counts the TCP connections it accepts and answers every request `{}`.
async fn counting_upstream() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = socket.accept().await else { return };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    let body = http_body_util::Full::new(hyper::body::Bytes::from_static(b"{}"));
                    let mut response = hyper::Response::new(body);
                    response.headers_mut().insert("content-type", "application/json".parse().unwrap());
                    Ok::<_, std::convert::Infallible>(response)
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_naming_one_http_client_config_share_its_connection_pool() {
    let (upstream, accepted) = counting_upstream().await;
    let runtime = support::yaml(&format!(
        r#"
configs:
  crm: {{ http.client: {{ base_url: "http://{upstream}" }} }}
flows:
  sync:
    steps:
      - http.request: {{ config: crm, method: GET, path: /contacts, target: contacts }}
      - http.request: {{ config: crm, method: GET, path: /deals, target: deals }}
      - http.request: {{ config: crm, method: GET, path: /notes, target: notes }}
"#
    ));
    for _ in 0..5 {
        runtime.run_flow("sync", Event::new(serde_json::json!({}))).await.unwrap();
    }
    // A pool per step opens at least one connection per step (3). One shared pool reuses its keep-alive
    // connections: fewer than one per step (one, or two when a request starts just before the previous
    // answer's connection is back in the pool).
    let opened = accepted.load(Ordering::SeqCst);
    assert!((1..3).contains(&opened), "{opened} connections for three steps naming one config");
}

static BUILDS: AtomicUsize = AtomicUsize::new(0);

/// `test.counted`: a config kind counting how often its resource is built.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Counted {}

impl Config for Counted {
    const NAME: &'static str = "test.counted";
    const SUMMARY: &'static str = "A resource that counts its builds.";

    fn build(&self, _: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String> {
        BUILDS.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::new(GaugeResource(true)))
    }
}

/// `test.use`: a step naming a `test.counted` config, holding its resource.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Use {}

struct UseNode(#[allow(dead_code)] Arc<GaugeResource>);

impl ComponentNode for UseNode {
    fn call<'a>(&'a self, _: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move { Ok(event) })
    }
}

impl Step for Use {
    const NAME: &'static str = "test.use";
    const SUMMARY: &'static str = "Holds its config's resource.";
    const CONFIG: Option<relais_engine::component::ConfigRef> =
        Some(relais_engine::component::ConfigRef { kind: "test.counted", required: true });

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        Ok(Arc::new(UseNode(cx.resource_as::<GaugeResource>()?)))
    }
}

#[test]
fn a_config_builds_its_resource_once_per_program_whatever_the_number_of_steps_naming_it() {
    let registry = registry().with(vec![ComponentSpec::config::<Counted>(), ComponentSpec::step::<Use>()]);
    let dir = support::write_files(&[(
        "flows.yaml",
        "configs:\n  pool: { test.counted: {} }\nflows:\n  a:\n    steps:\n      - test.use: { config: pool }\n      - test.use: { config: pool }\n  b:\n    steps:\n      - test.use: { config: pool }\n",
    )]);
    compile(&registry, &dir).unwrap();
    assert_eq!(BUILDS.load(Ordering::SeqCst), 1);
}

#[test]
fn a_program_compiled_without_a_check_refuses_a_component_no_registry_entry_builds() {
    let dir = support::write_files(&[("flows.yaml", "flows:\n  a:\n    steps:\n      - text.upper: {}\n")]);
    // Loaded (not checked) against the built-in registry, which has no `text.upper`.
    let loaded = relais_engine::load::load(&[dir], &relais_engine::load::LoadOptions::default());
    let Err(diags) = relais_engine::plan::compile_program(
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
    ) else {
        panic!("an unknown component was compiled")
    };
    assert!(diags.iter().any(|d| d.code.to_string() == "RL0512" && d.message.contains("text.upper")));
}

#[test]
fn settings_the_schema_accepts_but_the_type_cannot_hold_are_an_error_at_check() {
    let dir = support::write_files(&[(
        "flows.yaml",
        "configs:\n  api: { http.listener: { port: 8080, http2_max_concurrent_streams: 5000000000 } }\nflows:\n  ping:\n    source: { http.listener: { config: api, path: /ping } }\n    steps:\n      - logger: { message: ping }\n",
    )]);
    let loaded = relais_engine::cli::check::check_paths(&[dir], None);
    let found: Vec<String> = loaded.diags.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
    assert!(found.iter().any(|d| d.starts_with("RL0511") && d.contains("`http2_max_concurrent_streams`")), "{found:?}");
    let diag = loaded.diags.iter().find(|d| d.code.to_string() == "RL0511").unwrap();
    let at = loaded.sources.file(diag.primary.span.file).line_col(diag.primary.span.start as usize);
    assert_eq!(at.line, 2, "points at the value");
}

#[test]
fn a_client_that_cannot_be_built_refuses_the_program_naming_the_config_and_why() {
    let dir = support::write_files(&[(
        "flows.yaml",
        r#"
configs:
  crm:
    http.client:
      base_url: "https://crm.example"
      auth: { bearer: { token: "${secret:RELAIS_TEST_TOKEN_NEVER_SET}" } }
flows:
  sync:
    steps:
      - http.request: { config: crm, method: GET, path: /contacts }
"#,
    )]);
    let loaded = relais_engine::cli::check::check_paths(&[dir], None);
    let result = relais_engine::plan::compile_program(
        &loaded,
        relais_stdlib::Clock::system(),
        relais_engine::components::registry(),
    );
    let Err(diags) = result else { panic!("a client whose secret is not set was built") };
    let found: Vec<String> = diags.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
    assert!(
        found
            .iter()
            .any(|d| d.starts_with("RL0512") && d.contains("`crm`") && d.contains("RELAIS_TEST_TOKEN_NEVER_SET")),
        "{found:?}"
    );
}

#[test]
fn the_readme_components_table_is_the_one_generated_from_the_config_types() {
    use relais_engine::registry::reference::{components_table, README_END, README_START};
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let start = readme.find(README_START).expect("README has no generated components table") + README_START.len();
    let end = readme[start..].find(README_END).expect("the generated table is not closed") + start;
    let generated = components_table(relais_engine::components::registry());
    assert_eq!(
        readme[start..end].trim(),
        generated.trim(),
        "the README's components table is stale: regenerate it with `relais explain --components`"
    );
}

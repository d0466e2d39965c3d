//! The component registry: every source, step component and config kind of a build, with its config type
//! and what it builds. The built-in list is [`crate::components::registry`]; tests and embedders may add
//! their own components with [`Registry::with`].
//!
//! A component's config is a Rust type (serde + schemars, `deny_unknown_fields`, a doc comment and a default
//! on every field). Its JSON Schema, generated from that type, is the single source for validation of flow
//! files with spanned diagnostics ([`validate`]), the editor schema printed by `relais schema`, the tables
//! `relais explain COMPONENT` prints and the README's (checked by a test). The same type is what `check`
//! reads the settings into and what the node is built from.

pub mod builtin_steps;
pub mod reference;
mod validate;

pub use crate::component::{ConfigRef, Direction, Reach, Role};
pub use validate::validate_node;

use crate::component::{
    downcast, parse, Catalog, ComponentNode, Config, ConfigContext, Resource, SettingsError, Step, StepContext, Typed,
};
use crate::source::{Planned, Source, SourceDecl};
use crate::state::State;
use relais_dsl::syntax::Node;
use relais_dsl::Diagnostics;
use schemars::SchemaGenerator;
use serde_json::Value as Json;
use std::sync::Arc;

type PlanFn = fn(Vec<SourceDecl>, &crate::runtime::Runtime) -> Result<Vec<Box<dyn Planned>>, String>;
type StepFn = fn(&Typed, &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String>;
type MockedFn = fn(&Typed, &StepContext<'_>) -> Result<Option<Arc<dyn ComponentNode>>, String>;
type ConfigFn = fn(&Typed, &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String>;

/// What a registered component builds, by role.
enum Build {
    Step(StepFn, MockedFn),
    Config(ConfigFn),
    Source { declare: fn(&Typed, &Arc<State>), plan: PlanFn },
}

/// One registered component, erased from its config type.
pub struct ComponentSpec {
    /// Dotted name (`http.request`).
    pub name: &'static str,
    /// Where it may appear.
    pub role: Role,
    /// The config kind its `config:` names, if it takes one.
    pub config: Option<ConfigRef>,
    /// One-line description for docs and `relais schema`.
    pub summary: &'static str,
    /// Whether it reaches a system outside the process (flow tests never build it).
    pub outbound: bool,
    /// For a config kind: whether its named configs are systems on the map `relais graph` draws.
    pub system: bool,
    target: fn(&Typed) -> Option<String>,
    direction: fn(&Typed) -> Direction,
    reaches: fn(&Typed) -> Option<Reach>,
    trigger: fn(&Typed) -> Option<String>,
    schema: fn(&mut SchemaGenerator) -> schemars::Schema,
    parse: fn(&Json) -> Result<Typed, SettingsError>,
    check: fn(&Typed, &Node, &mut Diagnostics),
    build: Build,
}

fn check_step<T: Step>(typed: &Typed, at: &Node, diags: &mut Diagnostics) {
    if let Ok(t) = downcast::<T>(typed) {
        t.check(at, diags);
    }
}

fn check_config<T: Config>(typed: &Typed, at: &Node, diags: &mut Diagnostics) {
    if let Ok(t) = downcast::<T>(typed) {
        t.check(at, diags);
    }
}

fn check_source<T: Source>(typed: &Typed, at: &Node, diags: &mut Diagnostics) {
    if let Ok(t) = downcast::<T>(typed) {
        t.check(at, diags);
    }
}

fn target_of<T: Step>(typed: &Typed) -> Option<String> {
    downcast::<T>(typed).ok().and_then(|t| t.target().map(str::to_string))
}

fn no_target(_: &Typed) -> Option<String> {
    None
}

fn step_direction<T: Step>(typed: &Typed) -> Direction {
    downcast::<T>(typed).map_or(Direction::Calls, |t| t.direction())
}

fn step_reaches<T: Step>(typed: &Typed) -> Option<Reach> {
    downcast::<T>(typed).ok().and_then(|t| t.reaches())
}

fn source_reaches<T: Source>(typed: &Typed) -> Option<Reach> {
    downcast::<T>(typed).ok().and_then(|t| t.reaches())
}

fn source_trigger<T: Source>(typed: &Typed) -> Option<String> {
    downcast::<T>(typed).ok().and_then(|t| t.trigger())
}

fn receives(_: &Typed) -> Direction {
    Direction::Receives
}

fn reaches_nothing(_: &Typed) -> Option<Reach> {
    None
}

fn build_step<T: Step>(typed: &Typed, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
    downcast::<T>(typed)?.build(cx)
}

fn build_mocked<T: Step>(typed: &Typed, cx: &StepContext<'_>) -> Result<Option<Arc<dyn ComponentNode>>, String> {
    downcast::<T>(typed)?.mocked(cx)
}

fn build_config<T: Config>(typed: &Typed, cx: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String> {
    downcast::<T>(typed)?.build(cx)
}

fn declare_source<T: Source>(typed: &Typed, state: &Arc<State>) {
    if let Ok(t) = downcast::<T>(typed) {
        t.declare(state);
    }
}

fn plan_source<T: Source>(
    decls: Vec<SourceDecl>,
    runtime: &crate::runtime::Runtime,
) -> Result<Vec<Box<dyn Planned>>, String> {
    let mut uses = Vec::with_capacity(decls.len());
    for decl in decls {
        let settings = decl
            .settings
            .clone()
            .downcast::<T>()
            .map_err(|_| format!("flow `{}`: settings of another type than `{}`", decl.flow, T::NAME))?;
        uses.push(crate::source::SourceUse { flow: decl.flow, settings, config_name: decl.config_name });
    }
    T::plan(uses, runtime)
}

impl ComponentSpec {
    /// The entry of step component `T`.
    pub fn step<T: Step>() -> Self {
        ComponentSpec {
            name: T::NAME,
            role: Role::Step,
            config: T::CONFIG,
            summary: T::SUMMARY,
            outbound: T::OUTBOUND,
            system: false,
            target: target_of::<T>,
            direction: step_direction::<T>,
            reaches: step_reaches::<T>,
            trigger: no_target,
            schema: |g| g.subschema_for::<T>(),
            parse: parse::<T>,
            check: check_step::<T>,
            build: Build::Step(build_step::<T>, build_mocked::<T>),
        }
    }

    /// The entry of config kind `T`.
    pub fn config<T: Config>() -> Self {
        ComponentSpec {
            name: T::NAME,
            role: Role::Config,
            config: None,
            summary: T::SUMMARY,
            outbound: T::OUTBOUND,
            system: T::SYSTEM,
            target: no_target,
            direction: receives,
            reaches: reaches_nothing,
            trigger: no_target,
            schema: |g| g.subschema_for::<T>(),
            parse: parse::<T>,
            check: check_config::<T>,
            build: Build::Config(build_config::<T>),
        }
    }

    /// The entry of source `T`.
    pub fn source<T: Source>() -> Self {
        ComponentSpec {
            name: T::NAME,
            role: Role::Source,
            config: T::CONFIG,
            summary: T::SUMMARY,
            outbound: false,
            system: false,
            target: no_target,
            direction: receives,
            reaches: source_reaches::<T>,
            trigger: source_trigger::<T>,
            schema: |g| g.subschema_for::<T>(),
            parse: parse::<T>,
            check: check_source::<T>,
            build: Build::Source { declare: declare_source::<T>, plan: plan_source::<T> },
        }
    }

    /// The parameters' JSON Schema, registering shared definitions in `generator`.
    pub fn schema(&self, generator: &mut SchemaGenerator) -> schemars::Schema {
        (self.schema)(generator)
    }

    /// The settings read into the component's type (after schema validation; what runs is this value).
    /// A system config's `zone` is the map's and the guard's, not the kind's: it is left out here.
    pub fn parse(&self, params: &Json) -> Result<Typed, SettingsError> {
        if self.role == Role::Config && self.system && params.get("zone").is_some() {
            return (self.parse)(&zone_of(params.clone()).0);
        }
        (self.parse)(params)
    }

    /// How a step exchanges data with the system it reaches ([`Step::direction`]); a source receives.
    pub fn direction(&self, typed: &Typed) -> Direction {
        (self.direction)(typed)
    }

    /// A system the step or source reaches that no `config:` names ([`Step::reaches`]).
    pub fn reaches(&self, typed: &Typed) -> Option<Reach> {
        (self.reaches)(typed)
    }

    /// What starts a flow when no system does ([`crate::source::Source::trigger`]).
    pub fn trigger(&self, typed: &Typed) -> Option<String> {
        (self.trigger)(typed)
    }

    /// The component's own checks on its typed settings, with spans from `at`.
    pub fn check(&self, typed: &Typed, at: &Node, diags: &mut Diagnostics) {
        (self.check)(typed, at, diags)
    }
}

/// The zones a system config may declare (`zone:`), the default first.
pub const ZONES: [&str; 3] = ["internal", "private", "partner"];

/// Adds the `zone` setting every system config kind takes (the kind's own type does not hold it: the
/// check reads it from the settings, [`zone_of`]) to the kind's schema, or to the definition it refers to.
fn add_zone(schema: &mut Json, definitions: &mut serde_json::Map<String, Json>) {
    let target = match schema.get("$ref").and_then(Json::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
        Some(name) => match definitions.get_mut(name) {
            Some(def) => def,
            None => return,
        },
        None => schema,
    };
    if let Some(props) = target.get_mut("properties").and_then(Json::as_object_mut) {
        props.insert(
            "zone".into(),
            serde_json::json!({
                "type": "string",
                "enum": ZONES,
                "default": ZONES[0],
                "description": "Where the system stands: `private` (a private cloud holding sensitive data), `partner` (a third party: nothing declared sensitive may be sent to it) or `internal`."
            }),
        );
    }
}

/// The settings of a system config without its `zone` (what the kind's own type reads), and the zone.
pub fn zone_of(mut settings: Json) -> (Json, Option<String>) {
    let zone = settings.as_object_mut().and_then(|o| o.remove("zone")).and_then(|z| z.as_str().map(str::to_string));
    (settings, zone)
}

/// All components, looked up by name and role.
pub struct Registry {
    specs: Vec<ComponentSpec>,
    /// Parameter schemas (with `$ref`s resolved against `definitions`), parallel to `specs`.
    schemas: Vec<Json>,
    definitions: serde_json::Map<String, Json>,
}

impl Registry {
    /// Builds the registry from specs, generating every schema once.
    pub fn new(specs: Vec<ComponentSpec>) -> Self {
        let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        let mut schemas: Vec<Json> = specs.iter().map(|s| s.schema(&mut generator).to_value()).collect();
        let mut definitions = generator.take_definitions(true);
        for (spec, schema) in specs.iter().zip(&mut schemas) {
            if spec.role == Role::Config && spec.system {
                add_zone(schema, &mut definitions);
            }
        }
        Registry { specs, schemas, definitions }
    }

    /// This registry plus `extra` (a test's or an embedder's own components); a name and role already
    /// registered is replaced.
    pub fn with(self, extra: Vec<ComponentSpec>) -> Self {
        let mut specs = self.specs;
        for spec in extra {
            specs.retain(|s| !(s.name == spec.name && s.role == spec.role));
            specs.push(spec);
        }
        Registry::new(specs)
    }

    /// A component by name and role.
    pub fn get(&self, name: &str, role: Role) -> Option<(&ComponentSpec, &Json)> {
        self.specs.iter().zip(&self.schemas).find(|(s, _)| s.name == name && s.role == role)
    }

    /// Every role a name is registered under (to say "this is a source, not a step").
    pub fn roles_of(&self, name: &str) -> Vec<Role> {
        self.specs.iter().filter(|s| s.name == name).map(|s| s.role).collect()
    }

    /// Names registered for a role (for "did you mean").
    pub fn names(&self, role: Role) -> impl Iterator<Item = &'static str> + '_ {
        self.specs.iter().filter(move |s| s.role == role).map(|s| s.name)
    }

    /// Every spec with its schema.
    pub fn iter(&self) -> impl Iterator<Item = (&ComponentSpec, &Json)> {
        self.specs.iter().zip(&self.schemas)
    }

    /// Shared schema definitions (`$defs`) that component schemas refer to.
    pub fn definitions(&self) -> &serde_json::Map<String, Json> {
        &self.definitions
    }

    fn spec(&self, name: &str, role: Role) -> Result<&ComponentSpec, String> {
        self.get(name, role).map(|(s, _)| s).ok_or_else(|| format!("no {} named `{name}`", role.describe()))
    }

    /// Plans the sources of a program, kind by kind in registry order: what the daemon starts.
    pub fn plan_sources(
        &self,
        decls: &[SourceDecl],
        runtime: &crate::runtime::Runtime,
    ) -> Result<Vec<Box<dyn Planned>>, String> {
        let mut planned = Vec::new();
        for spec in self.specs.iter().filter(|s| s.role == Role::Source) {
            let Build::Source { plan, .. } = &spec.build else { continue };
            let mine: Vec<SourceDecl> = decls.iter().filter(|d| d.kind == spec.name).cloned().collect();
            if !mine.is_empty() {
                planned.extend(plan(mine, runtime)?);
            }
        }
        if let Some(unknown) = decls.iter().find(|d| self.get(&d.kind, Role::Source).is_none()) {
            return Err(format!("flow `{}`: no source named `{}` in this build", unknown.flow, unknown.kind));
        }
        Ok(planned)
    }
}

impl Catalog for Registry {
    fn parse(&self, role: Role, name: &str, params: &Json) -> Option<Result<Typed, SettingsError>> {
        self.get(name, role).map(|(spec, _)| spec.parse(params))
    }

    fn outbound(&self, role: Role, name: &str) -> bool {
        self.get(name, role).is_some_and(|(spec, _)| spec.outbound)
    }

    fn target(&self, name: &str, typed: &Typed) -> Option<String> {
        self.get(name, Role::Step).and_then(|(spec, _)| (spec.target)(typed))
    }

    fn build_config(&self, kind: &str, typed: &Typed, cx: &ConfigContext<'_>) -> Result<Arc<dyn Resource>, String> {
        match &self.spec(kind, Role::Config)?.build {
            Build::Config(build) => build(typed, cx),
            _ => Err(format!("`{kind}` is not a config kind")),
        }
    }

    fn build_step(&self, name: &str, typed: &Typed, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        match &self.spec(name, Role::Step)?.build {
            Build::Step(build, _) => build(typed, cx),
            _ => Err(format!("`{name}` is not a step")),
        }
    }

    fn build_mocked(
        &self,
        name: &str,
        typed: &Typed,
        cx: &StepContext<'_>,
    ) -> Result<Option<Arc<dyn ComponentNode>>, String> {
        match &self.spec(name, Role::Step)?.build {
            Build::Step(_, mocked) => mocked(typed, cx),
            _ => Err(format!("`{name}` is not a step")),
        }
    }

    fn declare_source(&self, name: &str, typed: &Typed, state: &Arc<State>) {
        if let Ok(ComponentSpec { build: Build::Source { declare, .. }, .. }) = self.spec(name, Role::Source) {
            declare(typed, state);
        }
    }
}

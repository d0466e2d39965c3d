//! The component registry: every source, step component and config kind relais knows, with its config type.
//!
//! A component's config is a Rust type (serde + schemars, `deny_unknown_fields`, a doc comment on every
//! field). Its JSON Schema, generated from that type, is the single source for three things: validation of
//! flow files with spanned diagnostics ([`validate`]), the editor schema printed by `relais schema`, and the
//! reference docs. Nothing about a component's fields is written twice.

pub mod builtin_steps;
mod validate;

pub use validate::validate_node;

use relais_dsl::syntax::Node;
use relais_dsl::Diagnostics;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::Value as Json;

/// Where a component may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Starts flows (`source:`).
    Source,
    /// Runs as a step.
    Step,
    /// A named config under `configs:`.
    Config,
}

impl Role {
    /// The word used in messages.
    pub fn describe(self) -> &'static str {
        match self {
            Role::Source => "a source",
            Role::Step => "a step",
            Role::Config => "a config kind",
        }
    }
}

/// Extra semantic checks a component runs over its parameters (cron syntax, path templates...), reporting
/// into `diags` with spans from `params`.
pub type ExtraCheck = fn(params: &Node, diags: &mut Diagnostics);

/// One registered component.
pub struct ComponentSpec {
    /// Dotted name (`http.request`).
    pub name: &'static str,
    /// Where it may appear.
    pub role: Role,
    /// The config kind its `config:` must name, if it takes one.
    pub config_kind: Option<&'static str>,
    /// Whether `config:` is required.
    pub config_required: bool,
    /// One-line description for docs and `relais schema`.
    pub summary: &'static str,
    schema: fn(&mut SchemaGenerator) -> schemars::Schema,
    /// Semantic checks beyond the schema.
    pub extra: Option<ExtraCheck>,
}

impl ComponentSpec {
    /// A spec whose parameters are the config type `T`.
    pub fn new<T: JsonSchema>(name: &'static str, role: Role, summary: &'static str) -> Self {
        ComponentSpec {
            name,
            role,
            config_kind: None,
            config_required: false,
            summary,
            schema: |g| g.subschema_for::<T>(),
            extra: None,
        }
    }

    /// Declares the config kind the component refers to with `config:`.
    pub fn with_config(mut self, kind: &'static str, required: bool) -> Self {
        self.config_kind = Some(kind);
        self.config_required = required;
        self
    }

    /// Adds semantic checks.
    pub fn with_check(mut self, check: ExtraCheck) -> Self {
        self.extra = Some(check);
        self
    }

    /// The parameters' JSON Schema, registering shared definitions in `generator`.
    pub fn schema(&self, generator: &mut SchemaGenerator) -> schemars::Schema {
        (self.schema)(generator)
    }
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
        let schemas = specs.iter().map(|s| s.schema(&mut generator).to_value()).collect();
        let definitions = generator.take_definitions(true);
        Registry { specs, schemas, definitions }
    }

    /// The built-in components.
    pub fn builtin() -> Self {
        Registry::new(crate::components::specs())
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
}

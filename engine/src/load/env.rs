//! Properties per environment: file defaults, then `env/<ENV>.yaml` next to the flows, then environment
//! variables `RELAIS_<NAME>` (upper case, `.` and `-` as `_`), each overriding the one before.

use super::Loaded;
use relais_dsl::codes;
use relais_dsl::syntax::{Node, Value};
use relais_dsl::{Diagnostic, Diagnostics, Span};
use std::collections::HashMap;
use std::path::PathBuf;

/// Resolved property values.
#[derive(Debug, Default, Clone)]
pub struct Properties {
    defaults: HashMap<String, (String, Span)>,
    env_file: HashMap<String, String>,
    /// The chosen profile and, for each property, the other profiles (`env/*.yaml` beside it) that define
    /// it: what to say when a property is missing under `--env prod` but set for `dev`.
    profile: Option<String>,
    in_other_profiles: HashMap<String, Vec<String>>,
}

fn scalar_text(node: &Node) -> Option<String> {
    Some(match &node.value {
        Value::Str(s) => s.text.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        Value::List(_) | Value::Map(_) => return None,
    })
}

fn flatten(prefix: &str, node: &Node, out: &mut Vec<(String, Node)>) {
    if let Value::Map(entries) = &node.value {
        for e in entries {
            let name = if prefix.is_empty() { e.key.clone() } else { format!("{prefix}.{}", e.key) };
            flatten(&name, &e.value, out);
        }
    } else {
        out.push((prefix.to_string(), node.clone()));
    }
}

/// Reports `--env NAME` when no directory has `env/NAME.yaml`: running on the defaults instead would put a
/// misspelt `--env prdo` into production with development values. Names the profiles that exist.
fn unknown_profile(dirs: &[PathBuf], env: &str, loaded: &mut Loaded) {
    let env_dirs: Vec<PathBuf> = dirs.iter().map(|d| d.join("env")).filter(|d| d.is_dir()).collect();
    let mut profiles: Vec<String> = env_dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.filter_map(Result::ok))
        .filter_map(|entry| {
            let path = entry.path();
            let is_yaml = path.extension().is_some_and(|e| e == "yaml") && path.is_file();
            is_yaml.then(|| path.file_stem()?.to_str().map(str::to_string)).flatten()
        })
        .collect();
    profiles.sort();
    profiles.dedup();
    let expected = dirs.first().cloned().unwrap_or_default().join("env").join(format!("{env}.yaml"));
    let file = loaded.sources.add(expected.display().to_string(), "");
    let message = if env_dirs.is_empty() {
        format!("no profile `{env}`: there is no `env/` directory next to the flows")
    } else if profiles.is_empty() {
        format!("no profile `{env}`: the `env/` directory holds no `.yaml` profile")
    } else {
        let list: Vec<String> = profiles.iter().map(|p| format!("`{p}`")).collect();
        format!("no profile `{env}`; the profiles are {}", list.join(", "))
    };
    loaded.diags.push(
        Diagnostic::error(codes::UNKNOWN_ENV_PROFILE, Span::new(file, 0, 0), message)
            .label("`--env` names this file, which does not exist")
            .maybe_help(relais_dsl::diagnostic::did_you_mean(env, profiles.iter().map(String::as_str))),
    );
}

/// For every property named by a profile other than `env` in the `env/` directories of `dirs`, those
/// profiles. Read only for the help of undefined properties: their own errors are reported when they are
/// chosen, so a broken one is skipped here.
fn other_profiles(dirs: &[PathBuf], env: &str, loaded: &Loaded) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir.join("env")) else { continue };
        let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let Some(profile) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else { continue };
            if path.extension().is_none_or(|e| e != "yaml") || profile == env {
                continue;
            }
            let Ok(text) = super::read_in(&loaded.roots, &path, super::MAX_FLOW_FILE) else { continue };
            let mut ignored = Diagnostics::new();
            let Some(doc) = relais_dsl::syntax::yaml::parse(&text, relais_dsl::FileId::default(), &mut ignored) else {
                continue;
            };
            let mut flat = Vec::new();
            flatten("", &doc, &mut flat);
            for (name, _) in flat {
                let profiles = out.entry(name).or_default();
                if !profiles.contains(&profile) {
                    profiles.push(profile.clone());
                }
            }
        }
    }
    out
}

impl Properties {
    /// Reads `env/<ENV>.yaml` from each directory among `roots` (when an environment is chosen).
    pub(super) fn load(roots: &[PathBuf], env: Option<&str>, loaded: &mut Loaded) -> Properties {
        let mut props = Properties::default();
        let Some(env) = env else { return props };
        let dirs: Vec<PathBuf> = roots
            .iter()
            .map(|root| if root.is_dir() { root.clone() } else { root.parent().map(PathBuf::from).unwrap_or_default() })
            .collect();
        if !dirs.iter().any(|dir| dir.join("env").join(format!("{env}.yaml")).exists()) {
            unknown_profile(&dirs, env, loaded);
            return props;
        }
        props.profile = Some(env.to_string());
        props.in_other_profiles = other_profiles(&dirs, env, loaded);
        for dir in &dirs {
            let path = dir.join("env").join(format!("{env}.yaml"));
            if !path.exists() {
                continue;
            }
            let text = match super::read_in(&loaded.roots, &path, super::MAX_FLOW_FILE) {
                Ok(t) => t,
                Err(e) => {
                    let file = loaded.sources.add(path.display().to_string(), "");
                    let code = match &e {
                        super::ReadError::Outside { .. } => codes::OUTSIDE_PROJECT,
                        super::ReadError::NotRegular => codes::NOT_REGULAR_FILE,
                        _ => codes::IO_UNREADABLE,
                    };
                    loaded.diags.push(Diagnostic::error(
                        code,
                        Span::new(file, 0, 0),
                        match &e {
                            super::ReadError::Outside { root } => super::outside_message(&path, root),
                            _ => format!("cannot read `{}`: {e}", path.display()),
                        },
                    ));
                    continue;
                }
            };
            let file = loaded.sources.add(path.display().to_string(), text.clone());
            if let Some(doc) = relais_dsl::syntax::yaml::parse(&text, file, &mut loaded.diags) {
                let mut flat = Vec::new();
                flatten("", &doc, &mut flat);
                for (name, node) in flat {
                    match scalar_text(&node) {
                        Some(v) => {
                            props.env_file.insert(name, v);
                        }
                        None => loaded.diags.push(
                            Diagnostic::error(
                                codes::WRONG_TYPE,
                                node.span,
                                format!("property `{name}` must be a text, number or boolean"),
                            )
                            .label("a list is not a property value"),
                        ),
                    }
                }
            }
        }
        props
    }

    /// Adds the `properties:` defaults of one document.
    pub(super) fn add_defaults(&mut self, doc: &Node, diags: &mut Diagnostics) {
        let Some(section) = doc.get("properties") else { return };
        let mut flat = Vec::new();
        flatten("", section, &mut flat);
        for (name, node) in flat {
            let Some(value) = scalar_text(&node) else { continue };
            if let Some((_, first)) = self.defaults.get(&name) {
                if *first != node.span {
                    diags.push(
                        Diagnostic::error(
                            codes::DUPLICATE_PROPERTY,
                            node.span,
                            format!("property `{name}` has two defaults"),
                        )
                        .label("second default")
                        .with_label(*first, "first default"),
                    );
                }
                continue;
            }
            self.defaults.insert(name, (value, node.span));
        }
    }

    /// Every property name with a value (for "did you mean").
    pub fn names(&self) -> Vec<&str> {
        self.defaults.keys().chain(self.env_file.keys()).map(String::as_str).collect()
    }

    /// The help for a property no value is found for, when other profiles define it: which ones, and where
    /// to add it.
    pub fn elsewhere(&self, name: &str) -> Option<String> {
        let profile = self.profile.as_deref()?;
        let others = self.in_other_profiles.get(name)?;
        let list: Vec<String> = others.iter().map(|p| format!("env/{p}.yaml")).collect();
        Some(format!(
            "`{name}` is set in {} but not in env/{profile}.yaml (the `--env {profile}` profile): add it there, \
             or give a default under `properties:`",
            list.join(", ")
        ))
    }

    /// The value of a property: environment variable, then env file, then default.
    pub fn get(&self, name: &str) -> Option<String> {
        let var = format!("RELAIS_{}", name.to_ascii_uppercase().replace(['.', '-'], "_"));
        std::env::var(var)
            .ok()
            .or_else(|| self.env_file.get(name).cloned())
            .or_else(|| self.defaults.get(name).map(|(v, _)| v.clone()))
    }
}

//! The check pipeline shared by `relais check`, `run` and `test`: after loading, every component config is
//! validated against the registry, every script and expression compiled, every referenced file opened,
//! what may reach a partner judged (contracts), and route conflicts found. What passes here starts; what fails never does (`relais run` refuses to start on any error).

mod amqp;
mod components;
pub mod conditions;
mod contracts;
pub mod error_types;
mod files;
mod queues;
pub mod routes;
mod script_text;
pub mod scripts;
pub mod secrets;
pub mod tls_files;

use crate::load::Loaded;
use crate::registry::Registry;

/// Runs every check on loaded flows, adding findings to `loaded.diags`.
pub fn check(loaded: &mut Loaded, registry: &Registry) {
    relais_dsl::check::check_flow_set(&loaded.set, &mut loaded.diags);
    components::check(loaded, registry);
    // One checking engine for the flows' scripts and the script files they reference.
    let mut checker = scripts::ScriptChecker::new();
    scripts::check(loaded, &mut checker);
    files::check(loaded, &mut checker);
    contracts::check(loaded);
    routes::check(loaded);
    queues::check(loaded);
    amqp::check(loaded);
    secrets::check(loaded);
    tls_files::check(loaded, tls_files::Reach::Project);
    loaded.diags.sort();
}

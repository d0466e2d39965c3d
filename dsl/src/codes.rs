//! The table of diagnostic codes. Codes are stable and never reused: CI configurations and editor
//! integrations key on them, and `relais explain CODE` prints the long text kept here.
//!
//! Ranges: `RL00xx` files and syntax, `RL01xx` structure, `RL02xx` expressions, `RL03xx` names and references,
//! `RL04xx` referenced files, `RL05xx` components, `RL06xx` lints, `RL07xx` flow tests, `RL08xx` zones and
//! contracts (what may reach a partner).

use std::fmt;

/// A stable diagnostic code such as `RL0100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(pub &'static str);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// A code's documentation: what `relais explain` prints.
#[derive(Debug, Clone, Copy)]
pub struct CodeDoc {
    /// The code.
    pub code: Code,
    /// Short title.
    pub title: &'static str,
    /// Long explanation with an example and the fix.
    pub explanation: &'static str,
}

macro_rules! codes {
    ($( $name:ident = $code:literal, $title:literal, $text:literal; )*) => {
        $(
            #[doc = $title]
            pub const $name: Code = Code($code);
        )*
        /// Every code with its documentation, in code order.
        pub const ALL: &[CodeDoc] = &[ $( CodeDoc { code: $name, title: $title, explanation: $text }, )* ];
    };
}

codes! {
    IO_UNREADABLE = "RL0001", "A flow file could not be read",
        "The path does not exist, is not a regular file, or cannot be opened (permissions).\nFix the path or the permissions. `relais check` exits with code 2 for I/O errors.";
    NOT_UTF8 = "RL0002", "A flow file is not valid UTF-8",
        "Flow files, scripts and schemas must be UTF-8 text. The label points at the first invalid byte.\nRe-save the file as UTF-8 (binary files do not belong among flows).";
    FILE_TOO_LARGE = "RL0003", "A file is larger than relais accepts",
        "Flow files are limited to 8 MiB and scripts to 4 MiB. A larger file is almost always generated data or a\nmistake; split it, or load data at run time (lookup tables, object store).";
    EMPTY_FILE = "RL0004", "A flow file is empty",
        "The file holds no flows, sub-flows, configs, properties or imports. Delete it or add content.";
    OUTSIDE_PROJECT = "RL0005", "A file outside the project",
        "`relais check`, `run` and `test` read only files inside the project: the directories given on the\ncommand line (a file's own directory), or `--root DIR`. An absolute path, a `../` path or a symlink\nthat leads out is refused and never read; the diagnostic names the path but shows none of its content,\nso a pull request cannot make CI print `/proc/self/environ`. Move the file into the project, or pass a\nwider `--root`.";
    NOT_REGULAR_FILE = "RL0006", "Not a regular file",
        "Flow files, scripts, schemas and data must be regular files. FIFOs, devices, sockets and directories\nare refused from their metadata, before they are opened, so that one cannot block or flood `relais\ncheck`.";
    UNKNOWN_ENV_PROFILE = "RL0007", "Unknown environment profile",
        "`--env NAME` reads `env/NAME.yaml` next to the flows (in each directory given, a file's own\ndirectory). No such file exists, so relais refuses to go on with the defaults alone: `--env prdo` must\nnot quietly run production flows on development values. The message lists the profiles that do exist\n(or says there is no `env/` directory); the help names the closest one.";
    YAML_SYNTAX = "RL0010", "YAML syntax error",
        "The YAML parser could not read the file. The label points where it stopped.\nCommon causes: tabs for indentation, a missing `:` or an unclosed quote or bracket.";
    NESTING_LIMIT = "RL0011", "Nesting or alias expansion over the limit",
        "Relais refuses YAML nested deeper than 128 levels, `.flow` files nested deeper than 256, and YAML alias\nexpansions that repeat nodes without bound (a \"billion laughs\" alias bomb). Flatten the document.";
    DSL_SYNTAX = "RL0012", "`.flow` syntax error",
        "The `.flow` parser could not read the file. The label shows what it expected at that point.\nExample: `flow name { set_payload \"x\" }`.";
    YAML_COMMENTED_EXPRESSION = "RL0013", "`#[...]` left unquoted in YAML is a comment",
        "In YAML, `#` after a space starts a comment, so `value: #[payload.id]` is the key `value` with no value\n(null) followed by a comment: the expression is silently dropped. Quote it: `value: \"#[payload.id]\"`.\nThe `.flow` syntax needs no quotes (`set_variable id = #[payload.id]`).";
    DUPLICATE_KEY = "RL0110", "Key written twice in one map",
        "A map holds the same key twice. YAML parsers disagree on which one wins, so relais refuses both.";
    UNKNOWN_KEY = "RL0100", "Unknown key",
        "The key is not part of this construct. Misspelt keys are never ignored, because a silently ignored\n`max_retries` or `timeout` changes behaviour in production. The help names the closest valid key.";
    WRONG_TYPE = "RL0101", "Wrong kind of value",
        "A value has the wrong shape: for example a list where a map is expected, or text where a number is.\nThe label says what was expected.";
    MISSING_KEY = "RL0102", "A required key is missing",
        "This construct needs the named key. Example: `set_variable` needs `name` and `value`.";
    UNKNOWN_STEP = "RL0103", "Unknown step",
        "The step name is neither a built-in step (`set_payload`, `transform`, `choice`, ...) nor a component\nname with a dot (`http.request`). The help names the closest built-in step.";
    STEP_SHAPE = "RL0104", "A step must name exactly one kind",
        "In YAML a step is a map with one step key (and optionally `id`): `- transform: { script: m.rhai }`.\nA step with no step key or with two is ambiguous.";
    BAD_DURATION = "RL0105", "Invalid duration",
        "Durations are a number followed by a unit, optionally repeated: `250ms`, `5s`, `1m30s`, `2h`, `7d`.\nUnits: ms, s, m, h, d.";
    BAD_ERROR_TYPE = "RL0106", "Invalid error type",
        "Error types are written `NAMESPACE:NAME` in upper case (`HTTP:NOT_FOUND`, `APP:INVALID_ORDER`), or `ANY`.";
    BAD_NAME = "RL0107", "Invalid name",
        "Flow, sub-flow, config, variable and step-id names start with a letter or `_` and hold letters, digits, `_`\nand `-`. They appear in logs, metrics and `flow_ref`, so they must be plain identifiers.";
    BAD_VALUE = "RL0108", "Value not allowed here",
        "The value is not one of those the key accepts (log levels: trace, debug, info, warn, error;\n`initial_state`: started, stopped). The label lists the accepted values.";
    BAD_NUMBER = "RL0109", "Number out of range",
        "The number is outside the accepted range, for example a `max_concurrency` of 0.";
    DURATION_RANGE = "RL0111", "Duration out of range",
        "A built-in step's duration is outside what it accepts: a `timeout` or `claim_timeout` of `0s` would\nfail or expire at once, an `until_successful` backoff whose `initial` exceeds its `max` cannot grow, and\na `time.delay` longer than `1h` is refused when it runs. The message gives the allowed range. (A\nduration computed by `#[...]` is checked when the step runs.)";
    EMPTY_SCOPE = "RL0112", "A scope without steps",
        "`foreach`, `parallel_foreach`, `until_successful`, `try` and `async` run the steps inside them; with none\nthey do nothing, which is never what was meant (most often the steps were indented under the wrong key,\nor the `.flow` block holds only options). Add the steps under `steps:`, or in `.flow` in the block after\nthe options: `foreach #[payload.items] { logger \"#[payload]\" }`.";
    BAD_PERCENTAGE = "RL0113", "Invalid percentage",
        "A percentage (an objective's `error_share`) is a number over 0 and at most 100 followed by `%`:\n`error_share: 2%`, `error_share: { max: 0.5%, over: 10m }`. `0%` would open an incident on the first\nfailure and `150%` never; a number without `%` is ambiguous (a share of 1 or 1 %?), so it is refused.";
    UNCLOSED_EXPRESSION = "RL0200", "Unclosed `#[` expression",
        "An expression opened with `#[` has no matching `]`. Brackets inside the expression must balance.";
    RHAI_SYNTAX = "RL0201", "Script or expression does not compile",
        "The Rhai code inside a `transform`, a script file or a `#[...]` expression failed to compile. The label\npoints at the exact place in the flow file. Scripts see `payload`, `attributes`, `vars`,\n`correlation_id` and, inside error handlers, `error`; any other variable is an error (strict variables).";
    BAD_PROPERTY_SYNTAX = "RL0202", "Invalid property reference",
        "Properties are written `${name}` (letters, digits, `.`, `_`, `-`), secrets `${secret:NAME}`.";
    UNKNOWN_FUNCTION = "RL0203", "Call to an unknown function or with the wrong number of arguments",
        "A script or `#[...]` expression calls a function that neither the mapping library (README, \"Mapping library\")\nnor the script itself (`fn name(a, b) { ... }`) defines with that many arguments; it would fail on every\nevent. A method call `x.f(a)` passes `x` as the first argument. The help suggests a close name or lists\nthe argument counts the function takes.";
    ASSIGNMENT_IN_CONDITION = "RL0204", "`=` where `==` was meant in a condition",
        "A condition (`choice` `when`, an `on_error` handler's `when`, a test's `assert`) holds a single `=`,\nwhich assigns instead of comparing: `#[payload.kind = \"vip\"]` sets the field and is never a boolean.\nWrite `==` to compare (`!=` for \"is not\").";
    PROPERTY_IN_EXPRESSION = "RL0205", "`${name}` inside `#[...]`",
        "Properties are substituted in the text around expressions, never inside `#[...]`, where `$` is not Rhai\n(Rhai's own interpolation is `${...}` inside a backtick string). Move the property out of the expression\n(`\"#[payload.id]-${suffix}\"`), or set a variable from it first (`set_variable suffix = \"${suffix}\"`)\nand read `vars.suffix` in the expression.";
    SCRIPT_PATH_AS_CODE = "RL0206", "A script path given to `transform` as code",
        "`transform: \"mappings/x.rhai\"` (and `transform \"mappings/x.rhai\"` in `.flow`) is inline Rhai code, so\nthe path is compiled as a division of variables. Name the file: `transform: { script: mappings/x.rhai }`,\nor in `.flow` `transform file \"mappings/x.rhai\"`.";
    UNDEFINED_FLOW = "RL0300", "`flow_ref` to an undefined flow",
        "No flow or sub-flow of that name exists in the files being checked (including imports).";
    UNDEFINED_CONFIG = "RL0301", "Undefined config",
        "The component names a config that no file defines. Define it under `configs:` or fix the name.";
    UNDEFINED_PROPERTY = "RL0302", "Undefined property",
        "The `${name}` property has no value for the selected environment: not in the file's `properties`, not in\n`env/<ENV>.yaml` next to the flows, not in the environment (RELAIS_<NAME> upper-cased, dots as `_`).";
    DUPLICATE_FLOW = "RL0303", "Duplicate flow name",
        "Flow and sub-flow names are global across all files; two definitions of one name are ambiguous for\n`flow_ref`, logs and metrics.";
    FLOW_REF_CYCLE = "RL0304", "`flow_ref` cycle",
        "Flows that call each other in a cycle recurse without end. Break the cycle; use `until_successful` for retries.";
    DUPLICATE_CONFIG = "RL0305", "Duplicate config name",
        "Config names are global across all files.";
    IMPORT_NOT_FOUND = "RL0306", "Imported file not found",
        "`imports` paths are relative to the importing file.";
    CONFIG_KIND_MISMATCH = "RL0308", "Config of the wrong kind",
        "A component names a config meant for another component, for example `http.request` with a `scheduler`\nconfig. The help names the kind the component expects.";
    DUPLICATE_PROPERTY = "RL0309", "Property defined twice",
        "Two files give a default for the same property; which one wins would depend on file order.";
    SECRET_UNSET = "RL0310", "Secret cannot be resolved",
        "A config or step uses `${secret:NAME}`, but neither the environment variable `NAME` nor `NAME_FILE`\n(the path of a file holding the value, as container platforms mount secrets) gives a value on this\nmachine. `relais check` reports it as a warning (an error under `--deny-warnings`): CI often has no\nproduction secrets. `relais run` refuses to start on it, because every call of the step would fail with\n`COMPONENT:UNAVAILABLE`. `relais test` needs no secrets: tests mock the outbound steps. Set\n`NAME=value`, or `NAME_FILE=/run/secrets/name`.";
    SECRET_NOT_RESOLVED = "RL0311", "`${secret:...}` where secrets are not resolved",
        "Secrets are resolved in configs only (an `http.client`'s `base_url`, `headers` and `auth`), where they\nare kept out of logs. In a flow's steps or source, `${secret:NAME}` stays literal text: it would reach a\npartner or a log line as `${secret:NAME}`. Move the value into the config the step names (an\n`http.client` `headers:` entry for an API key header).";
    UNKNOWN_ERROR_TYPE = "RL0312", "An error type no one can raise",
        "An `on_error` handler, a test's `expect: error:` or a mock's `raise` names an error type that nothing in\nthe files checked raises: not the engine (its namespaces are listed in the README, \"Events, errors\"),\nnot a `raise_error`, not a test mock. The handler can never run (or the test never pass), most often\nbecause of a typo: `HTTP:NOTFOUND` for `HTTP:NOT_FOUND`. In the engine's namespaces this is an error;\nfor your own namespace (`APP:...`) a warning, since only `raise_error` raises those.";
    IMPORT_CYCLE = "RL0313", "Files that import each other",
        "`imports` form a cycle (a.yaml imports b.yaml, which imports a.yaml). It is harmless to the check and\nto `run`: each file is loaded once, however often it is imported. It is reported because it usually\nmeans the files are not split the way their authors think; move what both need into a third file.";
    UNDEFINED_ALERT_FLOW = "RL0314", "Alert flow not defined",
        "A flow's `objectives:` names an `alert_flow` that no file defines. Relais calls that flow with each\nincident of the flow (its payload: flow, objective, severity, previous severity, observed and objective\nvalues, opened_at, state) when it opens, changes severity or closes; an alert flow that does not exist\nwould drop every alert. Define the flow (it may post, mail or page anywhere) or fix the name; the help\nnames the closest flow.";
    FILE_NOT_FOUND = "RL0400", "Referenced file not found",
        "A script, schema or lookup table named by a step does not exist. Paths are relative to the flow file.";
    INVALID_SCHEMA = "RL0401", "Referenced JSON Schema is invalid",
        "The file named by `validate` is not JSON or not a valid JSON Schema.";
    SCHEMA_UNRESOLVED = "RL0402", "JSON Schema cannot be compiled",
        "The schema is valid JSON Schema but cannot be compiled for validation, most often because a `$ref`\nnames a definition that does not exist (`#/$defs/missing`) or a remote document (relais never fetches\none). `relais run` refuses the same schema; the message gives the reason.";
    BAD_TLS_FILE = "RL0403", "TLS certificate or key unusable",
        "A `tls` file of an `http.listener` or `http.client` config cannot serve: it holds no PEM certificate\n(`-----BEGIN CERTIFICATE-----`) or no PEM private key (PKCS#8, PKCS#1 or SEC1), `cert` is given\nwithout `key` (or the other way round), or the key does not belong to the certificate. `relais check`\nreads the files inside the project root; `relais run` reads them wherever they are and refuses to start.\nPaths are relative to the directory relais runs from.";
    UNKNOWN_COMPONENT = "RL0500", "Unknown component",
        "No registered component has that dotted name. `relais schema` lists every component.";
    UNKNOWN_FIELD = "RL0501", "Unknown component field",
        "The component's config has no such field. The help names the closest field.";
    FIELD_TYPE = "RL0502", "Component field has the wrong type",
        "The field's value does not match its documented type.";
    MISSING_FIELD = "RL0503", "Required component field missing",
        "The component cannot work without this field.";
    BAD_CRON = "RL0504", "Invalid cron expression",
        "Cron expressions have 5 or 6 fields (`0 10 * * *` is every day at 10:00); time zones are IANA names\n(`Europe/Paris`).";
    BAD_PATH_TEMPLATE = "RL0505", "Invalid HTTP path template",
        "Paths start with `/`; parameters are `{name}` segments (`/access/{accreditation_id}/{service}`);\nbraces must balance and parameter names must be unique.";
    DUPLICATE_ROUTE = "RL0506", "Two HTTP listeners claim the same route",
        "Two flows listen on the same listener config, method and path (up to parameter names: `/a/{id}` and\n`/a/{x}` are one route; a route without `method` takes every method); requests could go to either.";
    NOT_A_SOURCE = "RL0507", "Component used in the wrong place",
        "Some components only start flows (`http.listener`, `scheduler`, `queue.listener`) and some only run as\nsteps (`http.request`). The label says which this one is.";
    CONFLICTING_FIELDS = "RL0508", "Fields that exclude each other",
        "Some components take one field or another, never both (a scheduler's `cron` and `frequency`).";
    QUEUE_WITHOUT_LISTENER = "RL0509", "Queue published to but never listened to",
        "A `queue.publish` names a queue no `queue.listener` reads. Messages would pile up until the queue is\nfull, then every publish would wait and fail with `QUEUE:TIMEOUT`. Check the queue name, or add the\nconsuming flow.";
    ROUTE_OVERLAP = "RL0510", "Two HTTP routes overlap and neither is more specific",
        "Routes are matched by specificity, not by the order they are declared: a literal segment wins over a\n`{name}` parameter, and a parameter over a `{*rest}` remainder (`/orders/export` is reached even if\n`/orders/{id}` is declared first). Two routes of one listener taking the same method that cannot be\nranked that way are refused: a `{name}` parameter and a `{*rest}` remainder starting at the same segment\n(`/files/{name}/meta` and `/files/{*rest}` both match `/files/a/meta`). Put a literal segment before one\nof them (`/files/meta/{name}`), or give the routes different methods.";
    COMPONENT_SETTINGS = "RL0511", "Component settings cannot be read into their type",
        "The settings passed the schema but cannot be read into the component's typed configuration (a value\nout of the range the type holds, say). What `relais check` reads here is exactly what runs.";
    COMPONENT_BUILD = "RL0512", "Component cannot be built",
        "Building the component's node or shared resource failed when the program was compiled (`relais run`\nat start or on reload, `relais test`): a TLS file that does not parse, an address that is not one. The\nmessage says why; `relais run` refuses to start rather than fail every event later.";
    SQL_EXPRESSION = "RL0513", "An expression inside SQL text",
        "SQL text is never templated: a `#[...]` in it would splice event data into the statement, the way SQL\ninjection happens. Bind the value instead: write a placeholder in the SQL (`:id` with named parameters,\n`$1` with a list) and give its value in `parameters:` (`parameters: { id: \"#[payload.id]\" }`). The\nvalue then travels apart from the statement and is never read as SQL.";
    SQL_PARAMETERS = "RL0514", "SQL placeholders and parameters do not match",
        "Each placeholder of a `db` statement needs a parameter and each parameter a placeholder: `$1` .. `$n`\nwith a list (`parameters: [\"#[payload.id]\"]`), `:name` with a map (`parameters: { name: ... }`). The two\nstyles do not mix in one statement. A name written in the SQL but not in `parameters`, a `$3` with two\nparameters, or a parameter the SQL never uses is refused here rather than by the server at run time.";
    AMQP_UNDECLARED = "RL0520", "An AMQP exchange or queue its config does not declare",
        "An `amqp.publish` names an exchange, or an `amqp.listener` a queue, that its `amqp` config does not\ndeclare under `exchanges` or `queues`. The connector declares a config's topology at every connect, so\nwhat it declares exists after a broker restart; a name it does not declare must be made by someone\nelse, and a typo shows only at run time (`AMQP:UNROUTABLE` on every publish, a listener that never\nconsumes). Declare it in the config, fix the name, or keep the warning if another system owns it. The\ndefault exchange (`\"\"`) and `amq.*` exist on every broker.";
    UNREACHABLE_STEP = "RL0600", "Steps after `raise_error` never run",
        "`raise_error` always fails the enclosing scope, so the steps after it are dead code.";
    DUPLICATE_STEP_ID = "RL0601", "Duplicate step id",
        "Step ids identify steps for mocks, metrics and error reports; they must be unique within a flow.";
    TEST_UNKNOWN_FLOW = "RL0700", "Test suite names an unknown flow",
        "A test file's `flow:` must name a flow or sub-flow defined in the files under test.";
    TEST_UNKNOWN_STEP = "RL0701", "Mock or call check names no component step",
        "`step: ID` must be the id of a component step (`- id: upsert\n  http.request: ...`) in the flows under\ntest; `component: NAME` must be a registered step component. Only component steps can be mocked.";
    TEST_BAD_NOW = "RL0702", "Invalid `now` in a test case",
        "`now` is an RFC 3339 instant such as `2024-07-26T09:15:30Z`.";
    TEST_UNKNOWN_STORE = "RL0703", "Test input seeds an unknown object store",
        "`input.stores` maps object-store config names to entries: `stores: { seen_orders: { ORD-1: true } }`.\nEach name must be an `object_store` config of the flows under test; each value must be a map.";
    TEST_UNKNOWN_CONFIG = "RL0704", "Mock or call check names an unknown config",
        "A test's `component: ..., config: NAME` selects the steps using config `NAME`, but no config of that\nname exists in the files under test (it was renamed, or misspelt), so the mock replaces nothing and the\nunmocked step is refused. The help names the closest config.";
    TEST_WRONG_SOURCE = "RL0710", "A test case drives a source its flow does not have",
        "A case's `request:` (and an `expect: response:`) goes through the flow's `http.listener`: its route,\nits `attributes`, its `response` and `error_response`. A case's `fire_time:` fires the flow's `scheduler`.\nThe flow under test has no such source (a sub-flow, a queue consumer, a scheduled flow given a\nrequest). Feed the event directly with `input: { payload: ..., attributes: ... }`, or test the flow that\nhas the source.";
    TEST_NO_ROUTE = "RL0711", "A test request reaches no route of the flow under test",
        "A case's `request:` is routed as the listener routes a caller's request, among every flow of the same\nlistener config. This one would get a 404 (no route has that path), a 405 (the route takes another\nmethod) or be served by another flow than the suite's. Write the path as a caller would\n(`/access/ACC-1/transport` for the route `/access/{accreditation_id}/{service}`) with the route's\nmethod; the help names the listener's routes.";
    TEST_BAD_FIRE_TIME = "RL0712", "Invalid `fire_time` in a test case",
        "`fire_time` is the RFC 3339 instant the flow's scheduler fires at, with its offset:\n`2024-07-26T09:00:00+02:00` or `2024-07-26T07:00:00Z`. The flow gets it as `attributes.fired_at` (in\nUTC, as the scheduler gives it) and its scripts' `now()` is that instant unless the case sets `now`.";
    TEST_FIRE_TIME_OFF_SCHEDULE = "RL0713", "A test's `fire_time` is not a tick of the flow's schedule",
        "The case fires the scheduled flow at an instant its `cron` never fires at (in its `time_zone`), so the\ntest runs the flow at a time production never will: a `fire_time: 2024-07-26T10:00:00Z` for\n`cron: \"0 10 * * *\"` in `Europe/Paris` is noon in Paris. A warning: a test may mean it. The help names\nthe next tick after the instant given.";
    CONTRACT_MISSING = "RL0800", "Private-zone data sent to a partner without a contract",
        "The flow reads private-zone data (its source is a `zone: private` config, or it or a sub-flow it calls\nwith `flow_ref` calls one) and sends to a `zone: partner` config with no `contract:`. The runtime guard\nstill refuses values recorded as sensitive, but nothing states what the partner may receive.\nDeclare the outbound contract, a JSON Schema of the body, resolved like a `validate` schema:\n\n    - http.request:\n        config: transport_app\n        method: PUT\n        path: \"/rights/#[payload.id]\"\n        contract: ../schemas/transport/rights.schema.json\n\nThe body is then validated against it before anything is sent (`CONTRACT:VIOLATION`).";
    CONTRACT_ALLOWS_SENSITIVE = "RL0801", "A contract allows a sensitive field",
        "A partner call's `contract:` would let a field declared in `sensitive_data` reach the partner. A\ncontract allows a field when, in any object it describes (the root, `properties`, `items`,\n`prefixItems`, `allOf`/`anyOf`/`oneOf`, `then`/`else`, `$defs`), either `properties` names the field\n(case-insensitively, as `sensitive_data` matches) with a schema other than `false`, a\n`patternProperties` pattern matches it, or the object is open: it may be an object (no `type`, or a\n`type` naming `object`) and neither `additionalProperties` nor `unevaluatedProperties` is `false`, so\nany field passes. `true` and `{}` are open. Remove the field from the contract, or close the object\nwith `\"additionalProperties\": false`.";
}

/// Looks a code up, case-insensitively, for `relais explain`.
pub fn lookup(code: &str) -> Option<&'static CodeDoc> {
    ALL.iter().find(|d| d.code.0.eq_ignore_ascii_case(code.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for doc in ALL {
            assert!(seen.insert(doc.code.0), "code {} used twice", doc.code);
            assert!(doc.code.0.starts_with("RL") && doc.code.0.len() == 6, "{}", doc.code);
        }
    }

    #[test]
    fn lookup_ignores_case() {
        assert_eq!(lookup("rl0100").map(|d| d.code), Some(UNKNOWN_KEY));
    }
}

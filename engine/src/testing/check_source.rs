//! Checks of the cases that go through their flow's source: a `request` (and an `expect: response`) needs
//! an `http.listener` flow and a path its listener routes to that flow; a `fire_time` needs a scheduled
//! flow and an RFC 3339 instant.

use crate::components::http_listener::routes::{Routed, Router};
use crate::load::Loaded;
use relais_dsl::codes;
use relais_dsl::ir::TestCase;
use relais_dsl::lower::test_keys;
use relais_dsl::{Diagnostic, Span};
use std::collections::HashMap;

/// The source kinds these cases drive.
const LISTENER: &str = "http.listener";
const SCHEDULER: &str = "scheduler";

/// Checks one case of a suite of `flow` against that flow's source.
pub(super) fn check_case(
    loaded: &Loaded,
    routers: &HashMap<String, Router>,
    flow: &str,
    case: &TestCase,
    found: &mut Vec<Diagnostic>,
) {
    // An unknown flow is reported on the suite already.
    let Some(defined) = loaded.set.flows().find(|f| f.name.value == flow) else { return };
    let source = defined.source.as_ref();
    let kind = source.map(|s| s.kind.value.as_str());
    let has = |what: &str| match kind {
        Some(kind) => format!("flow `{flow}` is started by `{kind}`, not {what}"),
        None => format!("flow `{flow}` has no source, so no {what}"),
    };
    let request_span = case.request.as_ref().map(|r| r.span).or(case.expect.response.as_ref().map(|r| r.span));
    if let Some(span) = request_span.filter(|_| kind != Some(LISTENER)) {
        found.push(
            Diagnostic::error(codes::TEST_WRONG_SOURCE, span, has("an `http.listener`"))
                .label("a request goes through the flow's listener")
                .help("feed the event with `input: { payload: ..., attributes: ... }` and check it with `expect: payload`"),
        );
    }
    // A method that is not one is reported by the lowering; routing it would say it twice.
    let known_method = |r: &relais_dsl::ir::TestRequest| {
        r.method.as_ref().is_none_or(|m| test_keys::METHODS.contains(&m.value.as_str()))
    };
    let request = case.request.as_ref().filter(|r| known_method(r));
    if let (Some(request), Some(source)) = (request, source.filter(|_| kind == Some(LISTENER))) {
        let config = source.config.as_ref().map_or("", |c| c.value.as_str());
        if let Some(router) = routers.get(config) {
            let has_body = request.body.is_some() || request.body_file.is_some();
            let method = request.method.as_ref().map_or(if has_body { "POST" } else { "GET" }, |m| m.value.as_str());
            let path = request.path.value.split('?').next().unwrap_or_default();
            let method_span = request.method.as_ref().map_or(request.span, |m| m.span);
            if let Some(d) = route_diagnostic(router, flow, method, path, request.path.span, method_span) {
                found.push(d);
            }
        }
    }
    if let Some(at) = &case.fire_time {
        if chrono::DateTime::parse_from_rfc3339(&at.value).is_err() {
            found.push(
                Diagnostic::error(
                    codes::TEST_BAD_FIRE_TIME,
                    at.span,
                    format!("`{}` is not an RFC 3339 instant", at.value),
                )
                .label("invalid fire time")
                .help("write the date, the time and the offset: `2024-07-26T09:00:00+02:00` or `2024-07-26T07:00:00Z`"),
            );
        }
        if let Some(d) = source.filter(|_| kind == Some(SCHEDULER)).and_then(|s| off_schedule(loaded, s, at)) {
            found.push(d);
        }
        if kind != Some(SCHEDULER) {
            found.push(
                Diagnostic::error(codes::TEST_WRONG_SOURCE, at.span, has("a `scheduler`"))
                    .label("a fire time is a scheduler's tick")
                    .help("give a scheduled flow's suite the `fire_time`, or feed this flow with `input:`"),
            );
        }
    }
}

/// RL0713 when a cron schedule never fires at `at` (frequencies count from the start, so any instant may be one).
fn off_schedule(
    loaded: &Loaded,
    source: &relais_dsl::ir::Component,
    at: &relais_dsl::Spanned<String>,
) -> Option<Diagnostic> {
    use crate::components::scheduler::{parse_cron, SchedulerSource};
    let settings = loaded.typed.get(&source.span)?.downcast_ref::<SchedulerSource>()?;
    let cron = parse_cron(settings.cron.as_ref()?).ok()?;
    let zone: chrono_tz::Tz = settings.time_zone.parse().ok()?;
    let fired = chrono::DateTime::parse_from_rfc3339(&at.value).ok()?.with_timezone(&zone);
    if cron.is_time_matching(&fired).unwrap_or(true) {
        return None;
    }
    let next = cron.find_next_occurrence(&fired, false).ok();
    let schedule = format!("`{}` in {}", cron.pattern, settings.time_zone);
    Some(
        Diagnostic::warning(
            codes::TEST_FIRE_TIME_OFF_SCHEDULE,
            at.span,
            format!("the schedule {schedule} never fires at {}", fired.format("%Y-%m-%d %H:%M:%S %Z")),
        )
        .label("not a tick of the flow's schedule")
        .maybe_help(next.map(|n| format!("the next tick is `{}`", n.to_rfc3339()))),
    )
}

/// Why `method path` is not answered by `flow` on its listener, if it is not.
fn route_diagnostic(
    router: &Router,
    flow: &str,
    method: &str,
    path: &str,
    path_span: Span,
    method_span: Span,
) -> Option<Diagnostic> {
    let own: Vec<String> = router
        .routes()
        .iter()
        .filter(|r| r.flow == flow)
        .map(|r| format!("{} {}", r.method.as_deref().unwrap_or("(any method)"), r.template))
        .collect();
    let help = format!("flow `{flow}` listens on {}", own.join(", "));
    match router.route(method, path) {
        Routed::Found(route, _) if route.flow == flow => None,
        Routed::Found(route, _) => Some(
            Diagnostic::error(
                codes::TEST_NO_ROUTE,
                path_span,
                format!("{method} {path} is served by flow `{}`, not by `{flow}` under test", route.flow),
            )
            .label(format!("routed to `{}`", route.flow))
            .help(help),
        ),
        Routed::MethodNotAllowed(allowed) => Some(
            Diagnostic::error(
                codes::TEST_NO_ROUTE,
                method_span,
                format!("{method} is not allowed on {path}: the caller would get 405"),
            )
            .label(format!("the route takes {}", allowed.join(", ")))
            .help(help),
        ),
        Routed::NotFound => Some(
            Diagnostic::error(
                codes::TEST_NO_ROUTE,
                path_span,
                format!("no flow listens on {path}: the caller would get 404"),
            )
            .label("no route has this path")
            .help(help),
        ),
    }
}

//! Workload generators and servers shared by relais's benchmarks.

pub mod http;
pub mod versus;

use std::fmt::Write;
use std::path::Path;

/// Writes `flows` flow files of `steps` steps each under `dir`, each with an inline Rhai transform, a
/// template logger, a choice and a component, plus one shared config file. Returns the number of files.
pub fn generate_check_workload(dir: &Path, flows: usize, steps: usize) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("configs.yaml"),
        "configs:\n  crm:\n    http.client:\n      base_url: http://127.0.0.1:1\n      timeout: 5s\n",
    )?;
    for f in 0..flows {
        let mut text =
            format!("flows:\n  flow_{f}:\n    source:\n      scheduler:\n        frequency: 1m\n    steps:\n");
        for s in 0..steps {
            let step = match s % 5 {
                0 => "      - transform:\n          code: |\n            let total = 0;\n            for t in payload.tickets { total += t.price; }\n            #{ id: payload.id, total: total, name: upper(payload.name) }\n".to_string(),
                1 => format!("      - logger: \"step {s} of #[payload.id]\"\n"),
                2 => format!("      - set_variable:\n          name: v{s}\n          value: \"#[payload.id + \\\"-{s}\\\"]\"\n"),
                3 => "      - choice:\n          - when: \"#[payload.total > 10]\"\n            steps:\n              - set_payload: big\n          - otherwise:\n              - set_payload: small\n".to_string(),
                _ => "      - http.request:\n          config: crm\n          method: PUT\n          path: \"/contacts/#[payload.id]\"\n".to_string(),
            };
            let _ = write!(text, "{step}");
        }
        std::fs::write(dir.join(format!("flow_{f}.yaml")), text)?;
    }
    Ok(flows + 1)
}

/// The ticketing-order -> CRM-contact mapping (`flows/mappings/order_to_contact.rhai`) written as plain Rust
/// over serde_json: the ceiling an interpreted mapping is measured against, shared by the in-process engine
/// benchmark and the HTTP ceiling server so both compare against the same work. The phone rule is the French
/// one (the fixtures are French) and `updated_at` is fixed, where the script formats the clock.
pub fn order_to_contact(order: &serde_json::Value) -> serde_json::Value {
    let buyer = &order["buyer"];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").trim().to_string();
    let title = |s: String| {
        let mut c = s.chars();
        c.next().map(|f| f.to_uppercase().chain(c.flat_map(char::to_lowercase)).collect::<String>()).unwrap_or_default()
    };
    let digits: String = text(&buyer["phone"]).chars().filter(char::is_ascii_digit).collect();
    let phone = format!("+33{}", digits.trim_start_matches('0'));
    serde_json::json!({
        "external_id": format!("ticketing-{}", text(&order["order_id"])),
        "first_name": title(text(&buyer["first_name"])),
        "last_name": text(&buyer["last_name"]).to_uppercase(),
        "email": text(&buyer["email"]).to_lowercase(),
        "phone_e164": phone,
        "locale": text(&buyer["language"]).to_lowercase(),
        "country_iso2": text(&buyer["country"]).to_uppercase(),
        "opt_in": { "email": order["consents"]["marketing"], "sms": order["consents"]["sms"] },
        "source": "ticketing",
        "updated_at": "2024-07-26T09:15:30Z",
    })
}

/// The realistic mapping (`tests/bench/flows/http/mappings/order_to_crm.rhai`: a helper per ticket, a loop, a
/// de-duplicated and sorted session list, a sum, a sort by amount) written as plain Rust over serde_json: the
/// ceiling of scenario (d) of `tests/bench/http.sh` and of the engine benchmark. As in [`order_to_contact`],
/// the phone rule is the French one and `updated_at` is fixed.
pub fn order_to_crm(order: &serde_json::Value) -> serde_json::Value {
    use serde_json::{json, Value};
    let text = |v: &Value| v.as_str().unwrap_or("").trim().to_string();
    let buyer = &order["buyer"];
    let mut lines = Vec::new();
    let mut sessions: Vec<String> = Vec::new();
    let mut total = 0.0;
    for ticket in order["tickets"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let holder = &ticket["holder"];
        let amount = ticket["price"]["amount"].as_f64().unwrap_or(0.0);
        lines.push(json!({
            "ticket_id": ticket["ticket_id"],
            "session_id": ticket["session_id"],
            "category": text(&ticket["category"]).to_uppercase(),
            "holder": format!("{} {}", relais_stdlib::title_case(&text(&holder["first_name"])), text(&holder["last_name"]).to_uppercase()),
            "amount": amount,
            "currency": ticket["price"]["currency"],
        }));
        total += amount;
        let session = text(&ticket["session_id"]);
        if !sessions.contains(&session) {
            sessions.push(session);
        }
    }
    sessions.sort();
    let count = lines.len();
    lines.sort_by(|a, b| b["amount"].as_f64().partial_cmp(&a["amount"].as_f64()).unwrap_or(std::cmp::Ordering::Equal));
    let digits: String = text(&buyer["phone"]).chars().filter(char::is_ascii_digit).collect();
    json!({
        "external_id": format!("ticketing-{}", text(&order["order_id"])),
        "first_name": relais_stdlib::title_case(&text(&buyer["first_name"])),
        "last_name": text(&buyer["last_name"]).to_uppercase(),
        "email": text(&buyer["email"]).to_lowercase(),
        "phone_e164": format!("+33{}", digits.trim_start_matches('0')),
        "locale": text(&buyer["language"]).to_lowercase(),
        "country_iso2": text(&buyer["country"]).to_uppercase(),
        "opt_in": { "email": order["consents"]["marketing"], "sms": order["consents"]["sms"] },
        "purchases": lines,
        "sessions": sessions,
        "ticket_count": count,
        "total_amount": total,
        "source": "ticketing",
        "updated_at": "2024-07-26T09:15:30Z",
    })
}

//! `relais test` over 500 generated test cases (10 suites of 50) against a 6-step flow with a Rhai mapping,
//! a validation, a choice and a mocked HTTP call, next to `relais check` of the same files (the load and
//! check floor every run pays). Run: `cargo run -p relais-bench --release --bin test_bench [CASES]`.

use std::fmt::Write;
use std::time::Instant;

fn main() -> std::io::Result<()> {
    let cases: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(500);
    let dir = std::env::temp_dir().join(format!("relais-test-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("orders.yaml"),
        r##"configs:
  crm: { http.client: { base_url: "http://127.0.0.1:1" } }
flows:
  order_to_crm:
    steps:
      - validate: order.schema.json
      - set_variable: { name: order_id, value: "#[payload.order_id]" }
      - transform: { code: "#{ external_id: \"t-\" + payload.order_id, email: lower(trim(payload.email)), total: payload.total }" }
      - choice:
          - when: "#[payload.total > 100]"
            steps: [ { set_variable: { name: tier, value: gold } } ]
          - otherwise: [ { set_variable: { name: tier, value: standard } } ]
      - id: upsert
        http.request: { config: crm, method: PUT, path: "/contacts/#[payload.external_id]" }
      - set_payload: "#[#{ crm: payload, tier: vars.tier }]"
"##,
    )?;
    std::fs::write(
        dir.join("order.schema.json"),
        r#"{ "type": "object", "required": ["order_id", "email", "total"] }"#,
    )?;
    let suites = 10;
    for s in 0..suites {
        let mut text = String::from("flow: order_to_crm\ntests:\n");
        for c in 0..cases / suites {
            let n = s * 1000 + c;
            let total = (n % 200) as i64;
            let tier = if total > 100 { "gold" } else { "standard" };
            let _ = write!(
                text,
                "  order {n} is pushed as a {tier} contact:\n    input:\n      payload: {{ order_id: \"O{n}\", email: \" A{n}@Example.FR \", total: {total} }}\n    mocks:\n      - step: upsert\n        payload: {{ id: {n} }}\n    expect:\n      payload: {{ crm: {{ id: {n} }}, tier: {tier} }}\n      calls:\n        - step: upsert\n          times: 1\n          called_with: \"#[payload.email == \\\"a{n}@example.fr\\\"]\"\n"
            );
        }
        std::fs::write(dir.join(format!("orders_{s}.test.yaml")), text)?;
    }
    let path = dir.display().to_string();
    for round in 1..=3 {
        let mut sink = Vec::new();
        let t = Instant::now();
        relais_engine::cli::run(["relais", "check", &path], &mut sink);
        let check = t.elapsed();
        let mut out = Vec::new();
        let t = Instant::now();
        let outcome = relais_engine::cli::run(["relais", "test", &path], &mut out);
        let test = t.elapsed();
        let text = String::from_utf8_lossy(&out);
        println!(
            "round {round}: relais check {:>7.1} ms | relais test {:>7.1} ms ({}; {outcome:?})",
            check.as_secs_f64() * 1e3,
            test.as_secs_f64() * 1e3,
            text.lines().last().unwrap_or("")
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

//! Workload generators shared by relais's benchmarks.

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

//! The `relais` binary as a user meets it: help that says what each command does with an example, and
//! `relais run` keeping standard output clean (its diagnostics and errors go to standard error).
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

fn relais(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_relais")).args(args).output().unwrap()
}

fn help(args: &[&str]) -> String {
    let out = relais(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

const COMMANDS: [&str; 7] = ["check", "fmt", "schema", "run", "test", "explain", "dlq"];

#[test]
fn the_top_level_help_says_what_relais_is_and_shows_examples() {
    let text = help(&["--help"]);
    assert!(text.contains("integration engine"), "{text}");
    assert!(text.contains("Examples:"), "{text}");
    assert!(text.contains("relais check flows/"), "{text}");
    assert!(text.contains("relais run flows/"), "{text}");
    for command in COMMANDS {
        assert!(text.contains(&format!("\n  {command} ")), "{command} listed: {text}");
    }
    for internal in ["IR", "crate", "execution plans", "CLI."] {
        assert!(!text.contains(internal), "the help speaks of `{internal}`: {text}");
    }
}

#[test]
fn every_subcommand_help_says_what_it_does_and_gives_an_example() {
    for command in COMMANDS {
        let text = help(&[command, "--help"]);
        assert!(text.contains("Examples:"), "{command}: {text}");
        assert!(text.contains(&format!("  relais {command}")), "{command} example: {text}");
        assert!(!text.contains(".md §") && !text.contains("crate"), "{command}: no pointer to design notes: {text}");
    }
}

#[test]
fn relais_run_on_a_broken_flow_prints_nothing_on_stdout_and_the_diagnostic_on_stderr() {
    let dir =
        support::write_files(&[("flows.yaml", "flows:\n  a:\n    steps:\n      - transfrom: { code: payload }\n")]);
    let out = relais(&["run", dir.to_str().unwrap(), "--admin", "off", "--state", "memory", "--no-watch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "nothing on standard output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown step `transfrom`"), "{stderr}");
    assert!(stderr.contains("RL0"), "the diagnostic's code: {stderr}");
    assert!(stderr.contains("relais run: the flows do not check; nothing was started"), "{stderr}");
    // The same diagnostics as `relais check`, which prints them as its result on standard output.
    let check = relais(&["check", dir.to_str().unwrap()]);
    assert!(stderr.starts_with(&*String::from_utf8_lossy(&check.stdout)), "{stderr}");
}

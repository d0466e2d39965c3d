//! The `relais` binary: parses the command line and hands over to [`relais_engine::cli`].

fn main() -> std::process::ExitCode {
    relais_engine::cli::main()
}

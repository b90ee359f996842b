//! The `kms-guardrail` command: wiring only; the CLI lives in `kms_guardrail::cli`.

fn main() -> std::process::ExitCode {
    kms_guardrail::cli::main()
}

//! Workspace automation, run as `cargo xtask <task>`.
//!
//! - `codegen [--check]`: regenerate `crates/otlp-proto/src/generated/`,
//!   `crates/otlp-codec/src/generated/` and `crates/otlp-grpc/src/generated/`
//!   from `proto/`, or with `--check` fail when the checked-in code is stale.
//! - `layers`: fail when a crate depends on a workspace crate at its own level or
//!   above, or when a workspace crate has no level in `layers.toml`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod binarygen;
mod codegen;
mod jsongen;
mod layers;
mod messagegen;
mod protogen;
mod serdegen;
mod strategies;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["codegen"] => codegen::run(&workspace_root()).map(|()| {
            println!(
                "codegen: regenerated {}, {} and {}",
                codegen::GENERATED_DIR,
                codegen::CODEC_GENERATED_DIR,
                codegen::GRPC_GENERATED_DIR
            );
        }),
        ["codegen", "--check"] => codegen::check(&workspace_root()).map(|()| {
            println!("codegen: checked-in code is up to date");
        }),
        ["layers"] => layers::run(&workspace_root()),
        _ => {
            eprintln!("usage: cargo xtask <codegen [--check] | layers>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

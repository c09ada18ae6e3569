//! Workspace automation. Run `cargo xtask help`.

fn main() {
    eprintln!("usage: cargo xtask <codegen [--check] | layers>");
    std::process::exit(2);
}

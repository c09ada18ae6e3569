//! `cargo xtask layers`: every dependency between workspace crates points down.
//!
//! The levels live in `layers.toml` at the workspace root. A crate may depend,
//! in any dependency kind (normal, build, dev), only on workspace crates of a
//! strictly lower level, and every workspace member must have a level.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Reads `layers.toml` and `cargo metadata`, then checks the rules.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let levels_text = std::fs::read_to_string(root.join("layers.toml"))
        .map_err(|e| format!("reading layers.toml: {e}"))?;
    let levels = parse_levels(&levels_text)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .map_err(|e| format!("running cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("parsing cargo metadata: {e}"))?;
    let crates = workspace_crates(&metadata)?;
    let violations = check(&levels, &crates);
    if violations.is_empty() {
        println!(
            "layers: {} workspace crates, every dependency points down",
            crates.len()
        );
        return Ok(());
    }
    Err(format!(
        "layering rules broken (levels are in layers.toml):\n  {}",
        violations.join("\n  ")
    ))
}

/// `name = level` lines of the `[levels]` table.
pub(crate) fn parse_levels(text: &str) -> Result<BTreeMap<String, u32>, String> {
    let mut levels = BTreeMap::new();
    let mut in_levels = false;
    for (number, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            in_levels = line == "[levels]";
            continue;
        }
        if !in_levels {
            continue;
        }
        let (name, level) = line
            .split_once('=')
            .ok_or_else(|| format!("layers.toml:{}: expected `crate = level`", number + 1))?;
        let level = level
            .trim()
            .parse()
            .map_err(|_| format!("layers.toml:{}: level must be a whole number", number + 1))?;
        levels.insert(name.trim().trim_matches('"').to_string(), level);
    }
    Ok(levels)
}

/// A workspace crate and the names of everything it depends on.
pub(crate) struct Crate {
    name: String,
    dependencies: Vec<String>,
}

fn workspace_crates(metadata: &Value) -> Result<Vec<Crate>, String> {
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata has no packages")?;
    Ok(packages
        .iter()
        .map(|package| Crate {
            name: package["name"].as_str().unwrap_or_default().to_string(),
            dependencies: package["dependencies"]
                .as_array()
                .map(|deps| {
                    deps.iter()
                        .filter_map(|dep| dep["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect())
}

/// Every broken rule, one line each.
pub(crate) fn check(levels: &BTreeMap<String, u32>, crates: &[Crate]) -> Vec<String> {
    let members: BTreeMap<&str, &Crate> = crates.iter().map(|c| (c.name.as_str(), c)).collect();
    let mut violations = Vec::new();
    for krate in crates {
        let Some(&level) = levels.get(&krate.name) else {
            violations.push(format!("{} has no level in layers.toml", krate.name));
            continue;
        };
        for dep in krate
            .dependencies
            .iter()
            .filter(|d| members.contains_key(d.as_str()))
        {
            match levels.get(dep) {
                Some(&dep_level) if dep_level < level => {}
                Some(&dep_level) => violations.push(format!(
                    "{} (level {level}) depends on {dep} (level {dep_level}): dependencies must point to a lower level",
                    krate.name
                )),
                // Reported once, as that crate's own violation.
                None => {}
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: &str = "\
# comment
[levels]
otlp-proto = 0   # bottom
otlp-codec = 1
otlp = 5
";

    fn krate(name: &str, deps: &[&str]) -> Crate {
        Crate {
            name: name.to_string(),
            dependencies: deps.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn downward_dependencies_pass() {
        let levels = parse_levels(LEVELS).unwrap();
        let crates = [
            krate("otlp-proto", &["prost", "bytes"]),
            krate("otlp-codec", &["otlp-proto", "serde"]),
            krate("otlp", &["otlp-codec", "otlp-proto"]),
        ];
        assert!(check(&levels, &crates).is_empty());
    }

    #[test]
    fn upward_dependency_fails() {
        let levels = parse_levels(LEVELS).unwrap();
        let crates = [
            krate("otlp-proto", &["otlp-codec"]),
            krate("otlp-codec", &[]),
        ];
        let violations = check(&levels, &crates);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].contains("otlp-proto (level 0) depends on otlp-codec (level 1)"));
    }

    #[test]
    fn same_level_dependency_fails() {
        let levels = parse_levels("[levels]\na = 3\nb = 3\n").unwrap();
        let violations = check(&levels, &[krate("a", &["b"]), krate("b", &[])]);
        assert_eq!(violations.len(), 1, "{violations:?}");
    }

    #[test]
    fn crate_without_level_fails() {
        let levels = parse_levels(LEVELS).unwrap();
        let violations = check(&levels, &[krate("otlp-mystery", &[])]);
        assert_eq!(violations, ["otlp-mystery has no level in layers.toml"]);
    }

    #[test]
    fn bad_level_is_reported_with_its_line() {
        let error = parse_levels("[levels]\notlp = high\n").unwrap_err();
        assert!(error.contains("layers.toml:2"), "{error}");
    }

    #[test]
    fn this_workspace_obeys_its_layers() {
        run(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()).unwrap();
    }
}

//! What a lab needs of the machine: root, and tools on `PATH` (each named with the Debian package
//! that has it, so a failure says what to install).

use std::os::unix::fs::PermissionsExt as _;

/// Whether this process runs as root (effective uid 0): namespaces, links and TUN devices need it.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Whether an executable `name` is in one of `$PATH`'s directories.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The `(tool, Debian package)` pairs of `tools` that are not on `PATH`, as "`tool` (package)".
pub fn missing_tools(tools: &[(&str, &str)]) -> Vec<String> {
    tools
        .iter()
        .filter(|(tool, _)| !on_path(tool))
        .map(|(tool, package)| format!("`{tool}` ({package})"))
        .collect()
}

/// What a privileged test lacks on this machine: root (needed for `root_for`, e.g. "network
/// namespaces, veth, bridges") and any of `tools`, each as a phrase for [`ready`].
pub fn missing(root_for: &str, tools: &[(&str, &str)]) -> Vec<String> {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push(format!("root ({root_for})"));
    }
    missing.extend(missing_tools(tools));
    missing
}

/// Whether privileged test `test` can run: nothing is `missing`. Otherwise, under `CI=true` it
/// panics naming what is missing — CI runs as root with every tool installed, so a skip there
/// would hide a broken machine — and elsewhere it prints why it skips and returns false. The
/// tests that call it are `#[ignore = "needs root"]`, so a plain `cargo test` reports them as
/// ignored rather than passed; `-- --include-ignored` runs them.
pub fn ready(test: &str, missing: &[String]) -> bool {
    if missing.is_empty() {
        return true;
    }
    let why = format!("needs {}", missing.join(", "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: cannot run under CI: {why}");
    }
    eprintln!("skipping {test}: {why}");
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_found_on_path_and_missing_ones_named() {
        assert!(on_path("sh"));
        assert_eq!(
            missing_tools(&[("sh", "dash"), ("weft-no-such-tool", "weft-pkg")]),
            ["`weft-no-such-tool` (weft-pkg)"]
        );
    }

    #[test]
    fn nothing_missing_means_ready_and_missing_tools_are_named() {
        assert!(ready("a test", &[]));
        let missing = missing("namespaces", &[("weft-no-such-tool", "weft-pkg")]);
        assert_eq!(
            missing.last().map(String::as_str),
            Some("`weft-no-such-tool` (weft-pkg)")
        );
        assert_eq!(missing.len(), if is_root() { 1 } else { 2 }, "{missing:?}");
    }
}

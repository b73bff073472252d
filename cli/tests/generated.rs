//! The committed completions (`completions/`) and man pages (`man/`) must be what the current
//! command tree renders. Run with `WEFT_UPDATE_GENERATED=1` to rewrite them.

use std::fs;
use std::path::{Path, PathBuf};

fn repo_dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(sub)
}

fn check(dir: &Path, files: Vec<(String, Vec<u8>)>) {
    let update = std::env::var_os("WEFT_UPDATE_GENERATED").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    if update {
        fs::create_dir_all(dir).expect("create dir");
    }
    let expected: Vec<&String> = files.iter().map(|(n, _)| n).collect();
    for (name, content) in &files {
        let path = dir.join(name);
        let current = fs::read(&path).ok();
        if current.as_deref() != Some(content.as_slice()) {
            if update {
                fs::write(&path, content).expect("write generated file");
            } else {
                stale.push(name.clone());
            }
        }
    }
    // Files nobody generates any more.
    for entry in fs::read_dir(dir).expect("read dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        // Other binaries' pages (weftd.8, weft-discovery.8) are checked by their own crates.
        if !name.starts_with("weftctl") && !name.starts_with("_weftctl") {
            continue;
        }
        if !expected.contains(&&name) {
            if update {
                fs::remove_file(dir.join(&name)).expect("remove stale file");
            } else {
                stale.push(format!("{name} (no longer generated)"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "{} is out of date: {stale:?}; run `WEFT_UPDATE_GENERATED=1 cargo test -p weftctl --test generated`",
        dir.display()
    );
}

#[test]
fn completions_are_current() {
    let files = weftctl::generated::SHELLS
        .iter()
        .map(|(shell, name)| ((*name).to_owned(), weftctl::generated::completion(*shell)))
        .collect();
    check(&repo_dir("completions"), files);
}

#[test]
fn man_pages_are_current() {
    let pages = weftctl::generated::man_pages().expect("render man pages");
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "weftctl.1",
        "weftctl-gen.1",
        "weftctl-gen-config.1",
        "weftctl-gen-secrets.1",
    ] {
        assert!(names.contains(&want), "missing {want} in {names:?}");
    }
    for (name, roff) in &pages {
        let text = String::from_utf8_lossy(roff);
        let name_line = text
            .lines()
            .skip_while(|l| *l != ".SH NAME")
            .nth(1)
            .unwrap_or_default();
        let (title, about) = name_line.split_once(" \\- ").expect("NAME: title - about");
        assert!(
            !about.to_lowercase().starts_with(&title.replace("\\-", "-")),
            "{name}: NAME repeats the name: {name_line}"
        );
        for section in ["ENVIRONMENT", "FILES", "EXIT STATUS"] {
            assert!(
                text.contains(&format!(".SH \"{section}\"")),
                "{name}: no {section}"
            );
        }
        for var in ["WEFTCONFIG", "WEFTD_LOG", "NO_COLOR"] {
            assert!(text.contains(&format!("\\fB{var}\\fR")), "{name}: no {var}");
        }
    }
    let top = &pages
        .iter()
        .find(|(n, _)| n == "weftctl.1")
        .expect("weftctl.1")
        .1;
    assert!(String::from_utf8_lossy(top).contains(".SH \"EXAMPLES\""));
    check(&repo_dir("man"), pages);
}

//! The committed man page (`man/weftd.8`) must be what the current command line renders. Run with
//! `WEFT_UPDATE_GENERATED=1` to rewrite it.

use clap::CommandFactory as _;

#[test]
fn man_page_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../man/weftd.8");
    let man = clap_mangen::Man::new(weftd::args::Args::command()).section("8");
    let mut roff = Vec::new();
    man.render(&mut roff).expect("render");
    if std::env::var_os("WEFT_UPDATE_GENERATED").is_some_and(|v| v == "1") {
        std::fs::write(&path, &roff).expect("write man page");
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == roff,
        "{} is out of date; run `WEFT_UPDATE_GENERATED=1 cargo test --test man`",
        path.display()
    );
}

//! Install on a real machine: the Debian package built by `scripts/build-deb.sh` installs with
//! `dpkg -i` into a clean root (an empty file tree with its own, empty, dpkg database), its binaries run from the installed paths, and its systemd units pass
//! `systemd-analyze verify` against that root (binaries and man pages must be where the units say).
//! The container recipe for weft-discovery is checked by content: podman and buildah are not on
//! this machine and an image build needs the network (base images, crates).

use std::fs;
use std::path::Path;
use std::process::Command;

use weft_e2e::{bin, ok};

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// True when the test can run: root (dpkg into a foreign root) and the tools. Under `CI=true` a
/// missing piece fails the test instead of skipping it.
fn can_run(test: &str, tools: &[&str]) -> bool {
    let root = fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().next())
            == Some("0")
    });
    let mut missing: Vec<String> = tools
        .iter()
        .filter(|t| Command::new(t).arg("--version").output().is_err())
        .map(|t| format!("`{t}`"))
        .collect();
    if !root {
        missing.push("root".to_owned());
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!("needs {}", missing.join(", "));
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: cannot run under CI: {why}"
    );
    eprintln!("skipping {test}: {why}");
    false
}

fn run(cmd: &mut Command, what: &str) -> String {
    ok(
        &cmd.output().unwrap_or_else(|e| panic!("{what}: {e}")),
        what,
    )
}

#[test]
fn deb_installs_into_a_clean_root_and_runs() {
    if !can_run(
        "deb_installs_into_a_clean_root_and_runs",
        &["dpkg", "dpkg-deb", "systemd-analyze"],
    ) {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let bin_dir = bin("weftd").parent().expect("bin dir").to_owned();
    // Uncompressed: the debug binaries the tests use are large and xz would dominate the test.
    let deb = run(
        Command::new(repo("scripts/build-deb.sh"))
            .arg(&bin_dir)
            .arg(work.path().join("out"))
            .env("WEFT_DEB_COMPRESS", "none"),
        "scripts/build-deb.sh",
    );
    let deb = deb.trim();
    assert!(deb.ends_with(".deb"), "build-deb.sh printed {deb:?}");

    let contents = run(
        Command::new("dpkg-deb").args(["--contents", deb]),
        "dpkg-deb --contents",
    );
    let info = run(
        Command::new("dpkg-deb").args(["--info", deb]),
        "dpkg-deb --info",
    );
    assert!(info.contains("Package: weft"), "{info}");
    assert!(
        info.lines()
            .any(|l| l.trim() == "Depends: libc6 (>= 2.34), nftables"),
        "{info}"
    );
    // No maintainer scripts: nothing runs at install (and nothing could in a foreign root).
    for script in ["postinst", "preinst", "prerm", "postrm"] {
        assert!(!info.contains(script), "{script} in\n{info}");
    }

    // A clean root with an empty file tree and its own dpkg database.
    let root = work.path().join("root");
    let admin = root.join("var/lib/dpkg");
    for dir in ["info", "updates", "triggers"] {
        fs::create_dir_all(admin.join(dir)).expect("dpkg admin dir");
    }
    // An empty package list: nothing is installed in this root, so the dependencies (libc6,
    // nftables) cannot be satisfied there; --force-depends turns that into warnings. The
    // binaries then run on the host's libc. The Depends line itself is checked above.
    fs::write(admin.join("status"), "").expect("dpkg status");
    fs::write(admin.join("available"), "").expect("available");
    run(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args(["--log=/dev/null", "--force-depends", "-i"])
            .arg(deb),
        "dpkg -i into the clean root",
    );
    let listed = run(
        Command::new("dpkg")
            .arg(format!("--root={}", root.display()))
            .args(["-L", "weft"]),
        "dpkg -L weft",
    );

    for path in [
        "/usr/bin/weftd",
        "/usr/bin/weftctl",
        "/usr/bin/weft-discovery",
        "/usr/lib/systemd/system/weftd.service",
        "/usr/lib/systemd/system/weft-discovery.service",
        "/usr/share/man/man1/weftctl.1.gz",
        "/usr/share/man/man1/weftctl-get.1.gz",
        "/usr/share/man/man8/weftd.8.gz",
        "/usr/share/man/man8/weft-discovery.8.gz",
        "/usr/share/bash-completion/completions/weftctl",
        "/usr/share/zsh/vendor-completions/_weftctl",
        "/usr/share/fish/vendor_completions.d/weftctl.fish",
        "/usr/share/doc/weft/copyright",
    ] {
        assert!(
            listed.lines().any(|l| l == path),
            "dpkg -L lacks {path}:\n{listed}"
        );
        assert!(
            contents.contains(&format!(".{path}")),
            "the package lacks {path}:\n{contents}"
        );
        assert!(root.join(&path[1..]).exists(), "{path} not installed");
    }
    // Every committed man page ships.
    for entry in fs::read_dir(repo("man")).expect("man/") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let section = name.rsplit('.').next().expect("section");
        let installed = root.join(format!("usr/share/man/man{section}/{name}.gz"));
        assert!(installed.exists(), "{} not installed", installed.display());
    }

    // The binaries run from where the package put them.
    let version = run(
        Command::new(root.join("usr/bin/weftctl")).arg("version"),
        "installed weftctl version",
    );
    assert!(
        version.contains(&format!("Tag:         v{}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let help = run(
        Command::new(root.join("usr/bin/weft-discovery")).arg("--help"),
        "installed weft-discovery --help",
    );
    assert!(help.contains("--snapshot-path"), "{help}");
    let help = run(
        Command::new(root.join("usr/bin/weftd")).arg("--help"),
        "installed weftd --help",
    );
    assert!(help.contains("--config"), "{help}");

    // The units, as installed: systemd-analyze resolves ExecStart= and Documentation= (man pages)
    // inside the root, so a unit naming a path the package does not ship fails here. The root
    // gets systemd's own targets and slices (sysinit.target, system.slice, …) as a real machine
    // has them; without them every unit fails to load its default dependencies.
    let units = root.join("usr/lib/systemd/system");
    for entry in fs::read_dir("/usr/lib/systemd/system").expect("systemd's units") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if (name.ends_with(".target") || name.ends_with(".slice")) && path.is_file() {
            fs::copy(&path, units.join(&name)).expect("copy a systemd unit");
        }
    }
    let verify = Command::new("systemd-analyze")
        .arg(format!("--root={}", root.display()))
        .arg("verify")
        .args([
            "/usr/lib/systemd/system/weftd.service",
            "/usr/lib/systemd/system/weft-discovery.service",
        ])
        .env("MANPATH", root.join("usr/share/man"))
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .expect("systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify ({}): {said}",
        verify.status
    );
}

/// The hardening the issue asks for is in the units (a unit that loses a line fails here, even
/// where systemd-analyze would accept it).
#[test]
fn units_are_hardened() {
    let weftd = fs::read_to_string(repo("dist/systemd/weftd.service")).expect("weftd.service");
    let discovery = fs::read_to_string(repo("dist/systemd/weft-discovery.service"))
        .expect("weft-discovery.service");
    let has = |unit: &str, line: &str| unit.lines().any(|l| l.trim() == line);
    for line in [
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW",
        "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW",
        "StateDirectory=weft",
        "StateDirectoryMode=0700",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "DeviceAllow=/dev/net/tun rw",
    ] {
        assert!(has(&weftd, line), "weftd.service lacks {line:?}");
    }
    for line in [
        "CapabilityBoundingSet=",
        "DynamicUser=yes",
        "StateDirectory=weft-discovery",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "Restart=on-failure",
    ] {
        assert!(
            has(&discovery, line),
            "weft-discovery.service lacks {line:?}"
        );
    }
    // The snapshot lives in the state directory systemd creates for the dynamic user.
    assert!(discovery.contains("--snapshot-path /var/lib/weft-discovery/"));
}

#[test]
fn container_recipe_for_weft_discovery() {
    let recipe = fs::read_to_string(repo("dist/container/Containerfile"))
        .expect("dist/container/Containerfile");
    let lines: Vec<&str> = recipe
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    // Static: built for musl, and the final stage has nothing else to link against.
    assert!(
        has("FROM scratch"),
        "the image is not FROM scratch:\n{recipe}"
    );
    assert!(
        recipe.contains("musl"),
        "not a static (musl) build:\n{recipe}"
    );
    assert!(has("EXPOSE 3000/tcp 3000/udp"), "{recipe}");
    let user = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert!(
        !["root", "0", "0:0"].contains(&user.trim()),
        "runs as root: USER {user}"
    );
    let entry = lines
        .iter()
        .find_map(|l| l.strip_prefix("ENTRYPOINT "))
        .expect("an ENTRYPOINT");
    assert!(entry.contains("/weft-discovery"), "{entry}");
    // The snapshot path is writable by that user: a volume the recipe creates and hands over.
    assert!(has("VOLUME"), "{recipe}");
    assert!(recipe.contains("--snapshot-path"), "{recipe}");
}

//! Crash-safe file writes. Files that hold secrets (cluster secret, CA key, WireGuard key) must never
//! be seen truncated or world-readable, so every write goes to a temporary file in the same directory
//! (created with the final mode), is fsynced, renamed over the target, and the directory is fsynced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode for files that hold secrets (configs, secrets bundles, client configs, identities).
pub const SECRET_FILE_MODE: u32 = 0o600;

/// Writes `contents` to `path` atomically with `mode`: readers see the old file or the new one, never
/// a partial one, also if the process is killed mid-write.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    write_atomic_with(path, mode, |f| f.write_all(contents))
}

/// Like [`write_atomic`], with the content produced by `fill`. If `fill` fails the temporary file is
/// removed and `path` is left as it was.
pub fn write_atomic_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = parent_dir(path);
    let tmp = temp_path(path);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    let result = (|| {
        // The umask may have narrowed the mode; secrets files must end with exactly `mode`.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        fill(&mut file)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Most symbolic links followed by [`resolve_links`] (Linux's `MAXSYMLINKS`).
const MAX_LINK_HOPS: usize = 40;

/// The file that a write to `path` should replace: `path` itself, or — when it is a symbolic link —
/// the file the chain of links ends at (which may not exist yet). An atomic write renames over its
/// target, so writing to the link itself would replace the link with a regular file; writing to
/// the resolved path keeps the link and updates what it points to (as `vi` or `kubectl` do).
pub fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINK_HOPS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&current)?;
                current = if target.is_absolute() {
                    target
                } else {
                    parent_dir(&current).join(target)
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "{}: more than {MAX_LINK_HOPS} symbolic links in a row",
        path.display()
    )))
}

/// Creates `path` with `contents` only if it does not exist yet (O_EXCL on the final name is not
/// enough for atomicity, so the content is written to a temp file and hard-linked into place, which
/// fails with `AlreadyExists` when another writer won).
pub fn create_exclusive_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let dir = parent_dir(path);
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::hard_link(&tmp, path)?;
        sync_dir(&dir)
    })();
    let _ = fs::remove_file(&tmp);
    result
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".to_owned());
    let nonce: u64 = rand::random();
    parent_dir(path).join(format!(".{name}.{}.{nonce:016x}.tmp", std::process::id()))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode_of(path: &Path) -> u32 {
        fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn resolve_links_follows_chains_to_the_final_file() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        fs::create_dir(d.join("real")).expect("mkdir");
        fs::write(d.join("real/config"), b"x").expect("write");
        // Relative links resolve against the link's own directory; absolute ones as they are.
        symlink("real/config", d.join("rel")).expect("symlink");
        symlink(d.join("rel"), d.join("abs")).expect("symlink");
        assert_eq!(
            resolve_links(&d.join("abs")).expect("resolve"),
            d.join("real/config")
        );
        assert_eq!(
            resolve_links(&d.join("rel")).expect("resolve"),
            d.join("real/config")
        );
        // Not a link, missing, or a dangling link: the path where the file will be.
        assert_eq!(
            resolve_links(&d.join("real/config")).expect("resolve"),
            d.join("real/config")
        );
        assert_eq!(
            resolve_links(&d.join("none")).expect("resolve"),
            d.join("none")
        );
        symlink("real/later", d.join("dangling")).expect("symlink");
        assert_eq!(
            resolve_links(&d.join("dangling")).expect("resolve"),
            d.join("real/later")
        );
        // A loop is an error, not a hang.
        symlink("loop-b", d.join("loop-a")).expect("symlink");
        symlink("loop-a", d.join("loop-b")).expect("symlink");
        assert!(resolve_links(&d.join("loop-a")).is_err());
    }

    #[test]
    fn writes_with_mode_and_replaces() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secrets.yaml");
        write_atomic(&path, b"one", SECRET_FILE_MODE).expect("write");
        assert_eq!(fs::read(&path).expect("read"), b"one");
        assert_eq!(mode_of(&path), 0o600);
        write_atomic(&path, b"two", SECRET_FILE_MODE).expect("rewrite");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        assert_eq!(mode_of(&path), 0o600);
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn failure_mid_write_keeps_old_file_and_removes_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.yaml");
        write_atomic(&path, b"old complete content", SECRET_FILE_MODE).expect("write");
        let err = write_atomic_with(&path, SECRET_FILE_MODE, |f| {
            f.write_all(b"new partial")?;
            Err(io::Error::other("disk full"))
        })
        .expect_err("fill failed");
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(fs::read(&path).expect("read"), b"old complete content");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn exclusive_create_refuses_existing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("identity.yaml");
        create_exclusive_atomic(&path, b"first", SECRET_FILE_MODE).expect("create");
        let err = create_exclusive_atomic(&path, b"second", SECRET_FILE_MODE).expect_err("exists");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).expect("read"), b"first");
        assert_eq!(mode_of(&path), 0o600);
        assert!(leftovers(dir.path()).is_empty());
    }
}

//! The identity files on the state directory (`kubespan-identity.yaml`, `node-identity.yaml`): their
//! error type and the reading and parsing they share.
//!
//! One of them holds the WireGuard private key, so nothing here ever puts file content into an
//! error: YAML syntax errors report a position only, and field problems name the field, never its
//! value (a deserializer's own messages would quote the offending value).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use yaml_serde::{Mapping, Value};

use crate::fsutil;

/// Largest identity file read. Real ones are under 200 bytes; the cap keeps a corrupt or hostile
/// file from being read into memory whole.
pub const MAX_IDENTITY_FILE_BYTES: u64 = 64 * 1024;

/// Why an identity file could not be read, parsed or written. Messages name the file and the
/// field, never a key.
#[derive(Debug, thiserror::Error)]
pub enum IdentityFileError {
    #[error("cannot read {}: {err}", path.display())]
    Read { path: PathBuf, err: io::Error },
    #[error("cannot write {}: {err}", path.display())]
    Write { path: PathBuf, err: io::Error },
    #[error("{source_name}: {problem}")]
    Invalid {
        source_name: String,
        problem: String,
    },
}

impl IdentityFileError {
    /// Whether the file does not exist (the caller then generates a new identity).
    pub fn is_not_found(&self) -> bool {
        matches!(self, IdentityFileError::Read { err, .. } if err.kind() == io::ErrorKind::NotFound)
    }

    /// Whether a create found the file already there (another writer won the race).
    pub fn is_already_exists(&self) -> bool {
        matches!(self, IdentityFileError::Write { err, .. } if err.kind() == io::ErrorKind::AlreadyExists)
    }

    pub(crate) fn invalid(source_name: &str, problem: impl Into<String>) -> IdentityFileError {
        IdentityFileError::Invalid {
            source_name: source_name.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Reads an identity file as text, refusing files over [`MAX_IDENTITY_FILE_BYTES`].
pub(crate) fn read(path: &Path) -> Result<String, IdentityFileError> {
    let read_err = |err| IdentityFileError::Read {
        path: path.to_path_buf(),
        err,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::new();
    file.take(MAX_IDENTITY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let name = path.display().to_string();
    if bytes.len() as u64 > MAX_IDENTITY_FILE_BYTES {
        return Err(IdentityFileError::invalid(
            &name,
            format!("larger than {MAX_IDENTITY_FILE_BYTES} bytes"),
        ));
    }
    String::from_utf8(bytes).map_err(|_| IdentityFileError::invalid(&name, "not UTF-8 text"))
}

/// Creates `path` with `contents` (mode 0600) only if it does not exist: an identity is generated
/// once and never overwritten, also when two processes race.
pub(crate) fn create(path: &Path, contents: &str) -> Result<(), IdentityFileError> {
    fsutil::create_exclusive_atomic(path, contents.as_bytes(), fsutil::SECRET_FILE_MODE).map_err(
        |err| IdentityFileError::Write {
            path: path.to_path_buf(),
            err,
        },
    )
}

/// Parses `text` as a YAML mapping. An empty document is an error (Talos refuses an all-zero
/// identity, which is what an empty file decodes to).
pub(crate) fn parse_mapping(text: &str, source_name: &str) -> Result<Mapping, IdentityFileError> {
    let value: Value = yaml_serde::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {} column {}", l.line(), l.column()))
            .unwrap_or_default();
        IdentityFileError::invalid(source_name, format!("not valid YAML{at}"))
    })?;
    match value {
        Value::Mapping(m) => Ok(m),
        Value::Null => Err(IdentityFileError::invalid(source_name, "empty file")),
        _ => Err(IdentityFileError::invalid(
            source_name,
            "expected a YAML mapping",
        )),
    }
}

/// The string at `key`: `None` when missing or null, an error when it is not a string.
pub(crate) fn string_field<'m>(
    map: &'m Mapping,
    key: &str,
    source_name: &str,
) -> Result<Option<&'m str>, IdentityFileError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(IdentityFileError::invalid(
            source_name,
            format!("{key}: expected a string"),
        )),
    }
}

/// The non-empty string at `key`, or an error saying it is missing.
pub(crate) fn required_string<'m>(
    map: &'m Mapping,
    key: &str,
    source_name: &str,
) -> Result<&'m str, IdentityFileError> {
    match string_field(map, key, source_name)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(IdentityFileError::invalid(
            source_name,
            format!("{key}: missing or empty"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_report_position_not_content() {
        let err = parse_mapping("privateKey: [sF45u5ePau58WeeCUY3T8D9f\n", "x.yaml")
            .expect_err("unterminated flow sequence");
        let msg = err.to_string();
        assert!(msg.starts_with("x.yaml: not valid YAML"), "{msg}");
        assert!(!msg.contains("sF45"), "{msg}");
    }

    #[test]
    fn shapes() {
        assert_eq!(
            parse_mapping("", "f").expect_err("empty").to_string(),
            "f: empty file"
        );
        assert_eq!(
            parse_mapping("- a\n", "f").expect_err("list").to_string(),
            "f: expected a YAML mapping"
        );
        let m = parse_mapping("a: x\nb: 3\nc:\n", "f").expect("map");
        assert_eq!(string_field(&m, "a", "f").expect("a"), Some("x"));
        assert_eq!(string_field(&m, "c", "f").expect("c"), None);
        assert_eq!(string_field(&m, "z", "f").expect("z"), None);
        assert_eq!(
            string_field(&m, "b", "f").expect_err("b").to_string(),
            "f: b: expected a string"
        );
        assert_eq!(
            required_string(&m, "c", "f").expect_err("c").to_string(),
            "f: c: missing or empty"
        );
    }

    #[test]
    fn read_limits_and_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = read(&dir.path().join("nope.yaml")).expect_err("missing");
        assert!(missing.is_not_found());
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'a'; MAX_IDENTITY_FILE_BYTES as usize + 1]).expect("write");
        let err = read(&big).expect_err("too big");
        assert!(!err.is_not_found());
        assert!(err.to_string().contains("larger than"), "{err}");
    }
}

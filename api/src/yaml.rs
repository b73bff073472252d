//! YAML rendering for every file and output Weft writes. talosctl writes machine configs with a
//! 4-space indent; the YAML library emits 2, so block indentation is doubled. That is only safe when
//! no multi-line scalar is present, so the result is parsed back and compared, and the library's own
//! output is used when they differ.

use serde::Serialize;

/// Serializes `value` as YAML with a 4-space indent.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, yaml_serde::Error> {
    let two = yaml_serde::to_string(value)?;
    let four: String = two
        .lines()
        .map(|line| {
            let indent = line.len() - line.trim_start_matches(' ').len();
            format!("{}{}\n", " ".repeat(indent * 2), &line[indent..])
        })
        .collect();
    let original: yaml_serde::Value = yaml_serde::from_str(&two)?;
    match yaml_serde::from_str::<yaml_serde::Value>(&four) {
        Ok(reparsed) if reparsed == original => Ok(four),
        _ => Ok(two),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn doubles_indent() {
        let mut inner = BTreeMap::new();
        inner.insert("b", vec!["x", "y"]);
        let mut outer = BTreeMap::new();
        outer.insert("a", inner);
        assert_eq!(
            to_string(&outer).expect("yaml"),
            "a:\n    b:\n    - x\n    - y\n"
        );
    }

    #[test]
    fn keeps_multiline_scalars_intact() {
        let mut inner = BTreeMap::new();
        inner.insert("text", "line one\n  indented\nlast\n");
        let mut outer = BTreeMap::new();
        outer.insert("a", inner);
        let out = to_string(&outer).expect("yaml");
        let back: BTreeMap<String, BTreeMap<String, String>> =
            yaml_serde::from_str(&out).expect("parse");
        assert_eq!(back["a"]["text"], "line one\n  indented\nlast\n");
    }
}

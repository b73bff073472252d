//! The structural pass of validation: walks a parsed YAML tree against a key tree, reports unknown
//! keys (with the nearest known key), wrong types and over-long lists — every one, not just the
//! first — and prunes what it reported so the typed pass can still check the rest.

use yaml_serde::{Mapping, Value};

use super::MAX_LIST_ENTRIES;
use super::validate::Problem;

/// What a key holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Bool,
    UInt,
    Str,
    StrList,
    Map(&'static [Key]),
}

impl Kind {
    fn expected(self) -> &'static str {
        match self {
            Kind::Bool => "a boolean (true or false)",
            Kind::UInt => "a non-negative integer",
            Kind::Str => "a string",
            Kind::StrList => "a list of strings",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// A known key; `sensitive` keys never have their value quoted in a message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub name: &'static str,
    pub kind: Kind,
    pub sensitive: bool,
}

impl Key {
    pub const fn new(name: &'static str, kind: Kind) -> Key {
        Key {
            name,
            kind,
            sensitive: false,
        }
    }

    pub const fn secret(name: &'static str, kind: Kind) -> Key {
        Key {
            name,
            kind,
            sensitive: true,
        }
    }
}

/// Longest string value quoted in a message.
const MAX_QUOTED_CHARS: usize = 64;

/// Describes a value for a message: scalars quoted, containers by their kind.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// Quotes a string for a message, shortened if long.
pub(crate) fn quote(s: &str) -> String {
    if s.chars().count() > MAX_QUOTED_CHARS {
        let short: String = s.chars().take(MAX_QUOTED_CHARS).collect();
        format!("{:?}…", short)
    } else {
        format!("{s:?}")
    }
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// The known key nearest to `unknown`, if one is close enough to be a likely typo.
pub(crate) fn nearest<'a>(
    unknown: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = unknown.to_lowercase();
    known
        .into_iter()
        .map(|k| (strsim::levenshtein(&lower, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Walks `map` (the value at `path`) against `keys`, pushing problems and removing what it reported.
/// A null mapping becomes an empty one; a null leaf is treated as unset.
pub(crate) fn walk_map(
    value: &mut Value,
    keys: &'static [Key],
    path: &str,
    problems: &mut Vec<Problem>,
) {
    if value.is_null() {
        *value = Value::Mapping(Mapping::new());
    }
    let Value::Mapping(map) = value else {
        problems.push(Problem::new(
            path,
            format!("expected a mapping, got {}", describe(value)),
        ));
        *value = Value::Mapping(Mapping::new());
        return;
    };
    let mut remove = Vec::new();
    for (k, v) in map.iter_mut() {
        let Some(name) = k.as_str() else {
            problems.push(Problem::new(
                path,
                format!("key {} is not a string", describe(k)),
            ));
            remove.push(k.clone());
            continue;
        };
        let p = child(path, name);
        let Some(key) = keys.iter().find(|key| key.name == name) else {
            let hint = match nearest(name, keys.iter().map(|k| k.name)) {
                Some(near) => format!("did you mean {near:?}?"),
                None => format!(
                    "expected one of: {}",
                    keys.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
                ),
            };
            problems.push(Problem::new(&p, format!("unknown key, {hint}")));
            remove.push(k.clone());
            continue;
        };
        if v.is_null() && !matches!(key.kind, Kind::Map(_)) {
            remove.push(k.clone());
            continue;
        }
        if !check(v, key, &p, problems) {
            remove.push(k.clone());
        }
    }
    for k in remove {
        map.remove(&k);
    }
}

/// Checks one value; returns false when it must be pruned.
fn check(value: &mut Value, key: &Key, path: &str, problems: &mut Vec<Problem>) -> bool {
    let got = |v: &Value| {
        if key.sensitive {
            kind_name(v).to_owned()
        } else {
            describe(v)
        }
    };
    let ok = match key.kind {
        Kind::Bool => value.is_bool(),
        Kind::UInt => value.as_u64().is_some(),
        Kind::Str => value.is_string(),
        Kind::Map(inner) => {
            if value.is_mapping() || value.is_null() {
                walk_map(value, inner, path, problems);
                return true;
            }
            false
        }
        Kind::StrList => {
            let Some(items) = value.as_sequence_mut() else {
                problems.push(Problem::new(
                    path,
                    format!("expected {}, got {}", key.kind.expected(), got(value)),
                ));
                return false;
            };
            if items.len() > MAX_LIST_ENTRIES {
                problems.push(Problem::new(
                    path,
                    format!(
                        "{} entries exceed the limit of {MAX_LIST_ENTRIES}",
                        items.len()
                    ),
                ));
                return false;
            }
            let mut fine = true;
            for (i, item) in items.iter().enumerate() {
                if !item.is_string() {
                    problems.push(Problem::new(
                        &format!("{path}[{i}]"),
                        format!("expected a string, got {}", got(item)),
                    ));
                    fine = false;
                }
            }
            return fine;
        }
    };
    if !ok {
        problems.push(Problem::new(
            path,
            format!("expected {}, got {}", key.kind.expected(), got(value)),
        ));
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos_only() {
        let keys = ["mtu", "enabled", "harvestExtraEndpoints"];
        assert_eq!(nearest("mut", keys), Some("mtu"));
        assert_eq!(nearest("Enabled", keys), Some("enabled"));
        assert_eq!(
            nearest("harvestExtraEndpoint", keys),
            Some("harvestExtraEndpoints")
        );
        assert_eq!(nearest("completelyDifferent", keys), None);
    }

    #[test]
    fn long_strings_are_shortened() {
        let s = "x".repeat(100);
        assert_eq!(quote(&s).chars().count(), MAX_QUOTED_CHARS + 3);
    }
}

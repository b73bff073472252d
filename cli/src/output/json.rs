//! `-o json`, and the "Go view" of a resource that JSON and JSONPath output are computed from.
//!
//! talosctl marshals a resource to YAML, unmarshals that into Go's `map[string]any`, adds `node`
//! (and `event` when watching) and prints it with `encoding/json` (`SetIndent("", "    ")`). What
//! survives that trip is modelled by `GoValue`: maps whose keys Go sorts when encoding, integers
//! that stay integers, floats printed the Go way, and plain metadata scalars re-typed by YAML (an id
//! `1234` comes back as a number). Strings are escaped as Go does, `<`, `>` and `&` included.

use std::collections::BTreeMap;

use time::{OffsetDateTime, UtcOffset};
use weft_api::resource::{EventKind, Metadata, Resource};

use super::OutputError;
use super::yaml::{self, Resolved};

/// A value as Go holds it after `yaml.Unmarshal` into `any`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GoValue {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    List(Vec<GoValue>),
    /// Go's map iteration order is irrelevant: `encoding/json` sorts keys, so a sorted map is kept.
    Map(BTreeMap<String, GoValue>),
}

impl GoValue {
    /// A spec value: strings stay strings (the YAML side quotes any that would re-type), numbers
    /// take the type YAML gives their printed form (a float `2.0` prints `2` and comes back an int).
    pub(crate) fn from_spec(value: &yaml_serde::Value) -> GoValue {
        match value {
            yaml_serde::Value::Null => GoValue::Null,
            yaml_serde::Value::Bool(b) => GoValue::Bool(*b),
            yaml_serde::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    GoValue::Int(i)
                } else if let Some(u) = n.as_u64() {
                    GoValue::Uint(u)
                } else {
                    let text = yaml::format_float(n.as_f64().unwrap_or(f64::NAN));
                    GoValue::from_resolved(yaml::resolve(&text), &text)
                }
            }
            yaml_serde::Value::String(s) => GoValue::Str(s.clone()),
            yaml_serde::Value::Sequence(items) => {
                GoValue::List(items.iter().map(GoValue::from_spec).collect())
            }
            yaml_serde::Value::Mapping(map) => GoValue::Map(
                map.iter()
                    .map(|(k, v)| (key_string(k), GoValue::from_spec(v)))
                    .collect(),
            ),
            yaml_serde::Value::Tagged(tagged) => GoValue::from_spec(&tagged.value),
        }
    }

    /// A scalar COSI writes as an untagged YAML node (metadata fields, labels): when it is printed
    /// plain, YAML re-types it on the way back (`1234` → a number, empty → null). One deliberate
    /// difference: `.inf`/`.nan` stay strings, where talosctl would fail the whole output because
    /// `encoding/json` refuses non-finite numbers.
    pub(crate) fn from_untagged(s: &str) -> GoValue {
        if !yaml::untagged_is_plain(s) {
            return GoValue::Str(s.to_owned());
        }
        match yaml::resolve(s) {
            Resolved::Float(f) if !f.is_finite() => GoValue::Str(s.to_owned()),
            resolved => GoValue::from_resolved(resolved, s),
        }
    }

    fn from_resolved(resolved: Resolved, original: &str) -> GoValue {
        match resolved {
            Resolved::Null => GoValue::Null,
            Resolved::Bool(b) => GoValue::Bool(b),
            Resolved::Int(i) => GoValue::Int(i),
            Resolved::Uint(u) => GoValue::Uint(u),
            Resolved::Float(f) => GoValue::Float(f),
            // yaml.v3 decodes timestamps into `any` as their text, for compatibility.
            Resolved::Timestamp | Resolved::Str => GoValue::Str(original.to_owned()),
        }
    }

    /// Whether `encoding/json` and JSONPath print this as JSON (maps and lists) rather than text.
    pub(crate) fn is_composite(&self) -> bool {
        matches!(self, GoValue::List(_) | GoValue::Map(_))
    }

    /// The value as Go's `fmt.Print` prints a scalar (what JSONPath prints for non-composites).
    pub(crate) fn text(&self) -> String {
        match self {
            GoValue::Null => "<nil>".to_owned(),
            GoValue::Bool(b) => b.to_string(),
            GoValue::Int(i) => i.to_string(),
            GoValue::Uint(u) => u.to_string(),
            GoValue::Float(f) => format_g(*f),
            GoValue::Str(s) => s.clone(),
            GoValue::List(_) | GoValue::Map(_) => to_string_compact(self).unwrap_or_default(),
        }
    }
}

/// Map keys become strings. Go would refuse non-string keys; printing them as text is kinder.
fn key_string(key: &yaml_serde::Value) -> String {
    match key {
        yaml_serde::Value::String(s) => s.clone(),
        yaml_serde::Value::Tagged(tagged) => key_string(&tagged.value),
        other => match GoValue::from_spec(other) {
            GoValue::Null => "null".to_owned(),
            GoValue::Float(f) => yaml::format_float(f),
            scalar @ (GoValue::Bool(_) | GoValue::Int(_) | GoValue::Uint(_) | GoValue::Str(_)) => {
                scalar.text()
            }
            composite => to_string_compact(&composite).unwrap_or_default(),
        },
    }
}

/// Go's `time.RFC3339` (whole seconds, `Z`), in UTC as resources arrive over the API.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn metadata_view(md: &Metadata) -> GoValue {
    let mut map = BTreeMap::new();
    let mut put = |key: &str, value: &str| {
        map.insert(key.to_owned(), GoValue::from_untagged(value));
    };
    put("namespace", &md.namespace);
    put("type", &md.resource_type);
    put("id", &md.id);
    put("version", &md.version.to_string());
    put("owner", &md.owner);
    put("phase", &md.phase.to_string());
    put("created", &rfc3339(md.created));
    put("updated", &rfc3339(md.updated));
    if !md.labels.is_empty() {
        let labels = md
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), GoValue::from_untagged(v)))
            .collect();
        map.insert("labels".to_owned(), GoValue::Map(labels));
    }
    GoValue::Map(map)
}

/// The map talosctl prints for a resource: `metadata`, `spec`, `node`, and `event` when given.
pub(crate) fn resource_view(node: &str, resource: &Resource, event: Option<EventKind>) -> GoValue {
    let mut map = BTreeMap::new();
    map.insert("metadata".to_owned(), metadata_view(&resource.metadata));
    map.insert("spec".to_owned(), GoValue::from_spec(&resource.spec));
    map.insert("node".to_owned(), GoValue::Str(node.to_owned()));
    if let Some(event) = event {
        map.insert("event".to_owned(), GoValue::Str(event.to_string()));
    }
    GoValue::Map(map)
}

/// `json.Marshal`: compact.
pub(crate) fn to_string_compact(value: &GoValue) -> Result<String, OutputError> {
    let mut out = String::new();
    encode(value, None, 0, &mut out)?;
    Ok(out)
}

/// `json.MarshalIndent(v, "", "    ")` (no trailing newline).
pub(crate) fn to_string_indented(value: &GoValue) -> Result<String, OutputError> {
    let mut out = String::new();
    encode(value, Some("    "), 0, &mut out)?;
    Ok(out)
}

fn newline(indent: Option<&str>, depth: usize, out: &mut String) {
    if let Some(unit) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(unit);
        }
    }
}

fn encode(
    value: &GoValue,
    indent: Option<&str>,
    depth: usize,
    out: &mut String,
) -> Result<(), OutputError> {
    match value {
        GoValue::Null => out.push_str("null"),
        GoValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        GoValue::Int(i) => out.push_str(&i.to_string()),
        GoValue::Uint(u) => out.push_str(&u.to_string()),
        GoValue::Float(f) => match format_json_float(*f) {
            Some(text) => out.push_str(&text),
            None => return Err(OutputError::UnsupportedValue(format_g(*f))),
        },
        GoValue::Str(s) => push_string(s, out),
        GoValue::List(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(indent, depth + 1, out);
                encode(item, indent, depth + 1, out)?;
            }
            newline(indent, depth, out);
            out.push(']');
        }
        GoValue::Map(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(indent, depth + 1, out);
                push_string(key, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                encode(item, indent, depth + 1, out)?;
            }
            newline(indent, depth, out);
            out.push('}');
        }
    }
    Ok(())
}

/// A JSON string as Go's `encoding/json` writes it with HTML escaping on (its default).
fn push_string(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{0}'..='\u{1f}' => {
                let code = ch as u32;
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    out.push(char::from(HEX[((code >> shift) & 0xf) as usize]));
                }
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

/// The shortest decimal digits of `|f|` and the decimal point position: `|f| = 0.DIGITS × 10^dp`.
fn shortest_digits(f: f64) -> (String, i32) {
    // `{:e}` prints the shortest digits that round-trip: `1.2345e3`, `1e-7`.
    let formatted = format!("{:e}", f.abs());
    let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    (digits, exponent + 1)
}

/// `strconv.FormatFloat(f, 'e', -1, 64)`: `1.5e+06`, `1e-07`.
fn format_e(sign: &str, digits: &str, dp: i32) -> String {
    let exp = dp - 1;
    let (first, rest) = digits.split_at(1.min(digits.len()));
    let mut out = format!("{sign}{first}");
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    let exp_sign = if exp < 0 { '-' } else { '+' };
    out.push_str(&format!("e{exp_sign}{:02}", exp.unsigned_abs()));
    out
}

/// `strconv.FormatFloat(f, 'f', -1, 64)`.
fn format_f(sign: &str, digits: &str, dp: i32) -> String {
    let n = digits.len() as i32;
    let body = if dp <= 0 {
        format!("0.{}{digits}", "0".repeat(dp.unsigned_abs() as usize))
    } else if dp >= n {
        format!("{digits}{}", "0".repeat((dp - n) as usize))
    } else {
        let (int, frac) = digits.split_at(dp as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

/// Go's `%v` for a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): `1e+06`, `0.5`, `+Inf`.
pub(crate) fn format_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0");
    }
    let (digits, dp) = shortest_digits(f);
    let exp = dp - 1;
    // With the shortest precision Go switches to the exponent form at 1e+06 (and below 1e-04).
    if !(-4..6).contains(&exp) {
        format_e(sign, &digits, dp)
    } else {
        format_f(sign, &digits, dp)
    }
}

/// A float as `encoding/json` writes it; `None` for NaN and infinities, which it refuses.
fn format_json_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return Some(format!("{sign}0"));
    }
    let (digits, dp) = shortest_digits(f);
    let abs = f.abs();
    if !(1e-6..1e21).contains(&abs) {
        // Go then trims a leading zero of a negative exponent: `1e-07` → `1e-7`.
        let text = format_e(sign, &digits, dp);
        Some(match text.rsplit_once("e-0") {
            Some((head, tail)) => format!("{head}e-{tail}"),
            None => text,
        })
    } else {
        Some(format_f(sign, &digits, dp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go_fmt() {
        for (f, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e100, "1e+100"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(format_g(f), want, "{f}");
        }
    }

    #[test]
    fn floats_like_go_json() {
        for (f, want) in [
            (0.0, "0"),
            (2.0, "2"),
            (1e6, "1000000"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (-0.5, "-0.5"),
        ] {
            assert_eq!(format_json_float(f).as_deref(), Some(want), "{f}");
        }
        assert_eq!(format_json_float(f64::NAN), None);
    }

    #[test]
    fn strings_like_go_json() {
        let mut out = String::new();
        push_string("a\"b\\c\n\t<&>\u{1}\u{2028}é", &mut out);
        assert_eq!(out, r#""a\"b\\c\n\t\u003c\u0026\u003e\u0001\u2028é""#);
    }

    #[test]
    fn indented_and_compact() {
        let mut inner = BTreeMap::new();
        inner.insert(
            "b".to_owned(),
            GoValue::List(vec![GoValue::Int(1), GoValue::Str("x".into())]),
        );
        inner.insert("a".to_owned(), GoValue::Map(BTreeMap::new()));
        inner.insert("c".to_owned(), GoValue::List(Vec::new()));
        let value = GoValue::Map(inner);
        assert_eq!(
            to_string_compact(&value).expect("json"),
            r#"{"a":{},"b":[1,"x"],"c":[]}"#
        );
        assert_eq!(
            to_string_indented(&value).expect("json"),
            "{\n    \"a\": {},\n    \"b\": [\n        1,\n        \"x\"\n    ],\n    \"c\": []\n}"
        );
    }

    #[test]
    fn untagged_scalars_retype_like_yaml() {
        assert_eq!(GoValue::from_untagged("1234"), GoValue::Int(1234));
        assert_eq!(GoValue::from_untagged(""), GoValue::Null);
        assert_eq!(GoValue::from_untagged("true"), GoValue::Bool(true));
        assert_eq!(
            GoValue::from_untagged("2026-01-01T10:00:00Z"),
            GoValue::Str("2026-01-01T10:00:00Z".into())
        );
        assert_eq!(GoValue::from_untagged("yes"), GoValue::Str("yes".into()));
        assert_eq!(GoValue::from_untagged(".inf"), GoValue::Str(".inf".into()));
        // Quoted on the YAML side, so it stays a string.
        assert_eq!(GoValue::from_untagged(" 12"), GoValue::Str(" 12".into()));
    }

    #[test]
    fn spec_floats_take_their_printed_type() {
        let v: yaml_serde::Value =
            yaml_serde::from_str("a: 2.0\nb: 1.5\nc: 18446744073709551615\n").expect("yaml");
        let GoValue::Map(map) = GoValue::from_spec(&v) else {
            panic!("not a map")
        };
        assert_eq!(map["a"], GoValue::Int(2));
        assert_eq!(map["b"], GoValue::Float(1.5));
        assert_eq!(map["c"], GoValue::Uint(u64::MAX));
    }

    #[test]
    fn rfc3339_is_whole_seconds_utc() {
        let t = OffsetDateTime::from_unix_timestamp(1_767_261_600)
            .expect("time")
            .replace_nanosecond(500)
            .expect("ns")
            .to_offset(UtcOffset::from_hms(2, 0, 0).expect("offset"));
        assert_eq!(rfc3339(t), "2026-01-01T10:00:00Z");
    }
}

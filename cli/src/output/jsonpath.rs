//! The Kubernetes JSONPath templates talosctl uses for `-o jsonpath=EXPR` and for print columns
//! (`k8s.io/client-go/util/jsonpath`), evaluated on a resource's Go view ([`super::json`]).
//!
//! No crate implements this dialect: crates such as `serde_json_path` follow RFC 9535 (`$.a.b`,
//! different filter and missing-key rules, no template text), so a small evaluator lives here.
//!
//! Supported: template text around `{…}` actions; `{.a.b}`, optional `$`, a bare first field
//! (`{a.b}`), `\.` in field names, `.*`, `..field` (recursive descent), and brackets with `[n]`,
//! negative indexes, `[start:end:step]`, `[*]`, `['key']`/`["key"]` and unions `[0,2]`; string
//! literals `{"\n"}`. An expression without braces is taken as one path (`.spec.state` →
//! `{.spec.state}`), as kubectl's "relaxed" form. Filters (`[?(…)]`) and `range`/`end` are
//! rejected with a clear error.
//!
//! Semantics are Kubernetes': a missing key is an error ("state is not found") for `-o jsonpath`
//! and an empty cell for print columns; indexes are bounds-checked.

use super::OutputError;
use super::json::{self, GoValue};

/// A JSONPath expression is invalid or failed on a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    /// The expression does not parse.
    #[error("invalid jsonpath expression {expr:?}: {message}")]
    Parse { expr: String, message: String },
    /// The expression parsed but cannot be evaluated on a resource.
    #[error("jsonpath expression {expr:?}: {message}")]
    Eval { expr: String, message: String },
}

/// A parsed JSONPath template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    expr: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Template text, or a `{"literal"}`: printed as it is.
    Text(String),
    /// A `{…}` path.
    Path(Vec<Step>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// `.name` / `['name']`.
    Field(String),
    /// `.*`: every value of a map or element of a list.
    Wildcard,
    /// `..`: the value and every non-empty map or list below it.
    Recursive,
    /// `[…]`: one selector, or a union.
    Bracket(Vec<Selector>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    Key(String),
    All,
    /// `[n]` (`single`) or `[start:end:step]`.
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: Option<i64>,
        single: bool,
    },
}

impl JsonPath {
    /// Parses `expr`. A parse error names the expression.
    pub fn parse(expr: &str) -> Result<JsonPath, JsonPathError> {
        let template = relaxed(expr);
        let error = |message: String| JsonPathError::Parse {
            expr: expr.to_owned(),
            message,
        };
        if template.trim().is_empty() {
            return Err(error("the expression is empty".to_owned()));
        }
        let segments = Parser {
            chars: template.chars().collect(),
            pos: 0,
        }
        .template()
        .map_err(error)?;
        Ok(JsonPath {
            expr: expr.to_owned(),
            segments,
        })
    }

    /// The expression as given.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    fn eval_error(&self, message: String) -> JsonPathError {
        JsonPathError::Eval {
            expr: self.expr.clone(),
            message,
        }
    }

    /// `-o jsonpath` output for one resource: every result on its own line, scalars as text,
    /// maps and lists as indented JSON.
    pub(crate) fn render_lines(&self, root: &GoValue) -> Result<String, OutputError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => {
                    out.push_str(text);
                    out.push('\n');
                }
                Segment::Path(steps) => {
                    let values = evaluate(steps, root, false).map_err(|m| self.eval_error(m))?;
                    for value in values {
                        if value.is_composite() {
                            out.push_str(&json::to_string_indented(value)?);
                        } else {
                            out.push_str(&value.text());
                        }
                        out.push('\n');
                    }
                }
            }
        }
        Ok(out)
    }

    /// A table cell (Kubernetes' `Execute` with missing keys allowed): the results of each
    /// `{…}` joined by spaces, maps and lists as compact JSON, missing values empty.
    pub(crate) fn render_cell(&self, root: &GoValue) -> Result<String, JsonPathError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::Path(steps) => {
                    let values = evaluate(steps, root, true).map_err(|m| self.eval_error(m))?;
                    for (i, value) in values.into_iter().enumerate() {
                        if i > 0 {
                            out.push(' ');
                        }
                        if value.is_composite() {
                            let text = json::to_string_compact(value)
                                .map_err(|e| self.eval_error(e.to_string()))?;
                            out.push_str(&text);
                        } else {
                            out.push_str(&value.text());
                        }
                    }
                }
            }
        }
        Ok(out)
    }
}

/// kubectl's relaxed form: an expression without braces is one path.
fn relaxed(expr: &str) -> String {
    if expr.contains(['{', '}']) || expr.trim().is_empty() {
        expr.to_owned()
    } else if expr.starts_with(['.', '$']) {
        format!("{{{expr}}}")
    } else {
        format!("{{.{expr}}}")
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

/// Characters that end a field name (Kubernetes' `isTerminator`, plus parentheses).
fn ends_field(ch: char) -> bool {
    matches!(
        ch,
        ' ' | '\t' | '\r' | '\n' | '.' | ',' | '[' | ']' | '$' | '@' | '{' | '}' | '(' | ')'
    )
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn rest(&self) -> String {
        self.chars[self.pos.min(self.chars.len())..]
            .iter()
            .collect()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn template(mut self) -> Result<Vec<Segment>, String> {
        let mut segments = Vec::new();
        loop {
            let mut text = String::new();
            while let Some(ch) = self.peek() {
                if ch == '{' {
                    break;
                }
                text.push(ch);
                self.pos += 1;
            }
            if !text.is_empty() {
                segments.push(Segment::Text(text));
            }
            if self.peek().is_none() {
                return Ok(segments);
            }
            self.pos += 1; // '{'
            segments.push(self.action()?);
        }
    }

    /// The inside of `{…}`, up to and including the closing brace.
    fn action(&mut self) -> Result<Segment, String> {
        self.skip_spaces();
        if matches!(self.peek(), Some('"' | '\'')) {
            let literal = self.quoted()?;
            self.skip_spaces();
            return match self.peek() {
                Some('}') => {
                    self.pos += 1;
                    Ok(Segment::Text(literal))
                }
                _ => Err(format!(
                    "expected }} after a string literal at {:?}",
                    self.rest()
                )),
            };
        }
        let word: String = self.chars[self.pos..]
            .iter()
            .take_while(|c| c.is_alphanumeric())
            .collect();
        if word == "range" || word == "end" {
            return Err(format!("{{{word}}} is not supported"));
        }
        if self.peek() == Some('$') {
            self.pos += 1;
        }
        let mut steps = Vec::new();
        let mut first = true;
        loop {
            self.skip_spaces();
            match self.peek() {
                None => return Err("unclosed action: missing }".to_owned()),
                Some('}') => {
                    self.pos += 1;
                    return Ok(Segment::Path(steps));
                }
                Some('.') if self.peek_at(1) == Some('.') => {
                    self.pos += 2;
                    steps.push(Step::Recursive);
                    match self.peek() {
                        Some('*') => {
                            self.pos += 1;
                            steps.push(Step::Wildcard);
                        }
                        Some('[') => {}
                        Some(c) if !ends_field(c) => steps.push(Step::Field(self.field_name())),
                        _ => return Err(format!("expected a field after .. at {:?}", self.rest())),
                    }
                }
                Some('.') => {
                    self.pos += 1;
                    if self.peek() == Some('*') {
                        self.pos += 1;
                        steps.push(Step::Wildcard);
                    } else {
                        let name = self.field_name();
                        // `{.}` is the value itself.
                        if !name.is_empty() {
                            steps.push(Step::Field(name));
                        }
                    }
                }
                Some('[') => {
                    self.pos += 1;
                    steps.push(Step::Bracket(self.bracket()?));
                }
                Some(c) if first && !ends_field(c) && c != '"' && c != '\'' => {
                    steps.push(Step::Field(self.field_name()));
                }
                Some(c) => {
                    return Err(format!("unexpected {c:?} at {:?}", self.rest()));
                }
            }
            first = false;
        }
    }

    fn field_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if ch == '\\' && self.peek_at(1) == Some('.') {
                name.push('.');
                self.pos += 2;
                continue;
            }
            if ends_field(ch) {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }

    /// A quoted string starting at the current quote, with Go-style escapes.
    fn quoted(&mut self) -> Result<String, String> {
        let Some(quote) = self.peek() else {
            return Err("expected a quoted string".to_owned());
        };
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(ch) = self.peek() else {
                return Err(format!("unterminated string {quote}…{quote}"));
            };
            self.pos += 1;
            if ch == quote {
                return Ok(out);
            }
            if ch != '\\' {
                out.push(ch);
                continue;
            }
            let Some(escaped) = self.peek() else {
                return Err("unterminated escape in string".to_owned());
            };
            self.pos += 1;
            match escaped {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '\\' | '"' | '\'' => out.push(escaped),
                'u' => {
                    let hex: String = self.chars.iter().skip(self.pos).take(4).collect();
                    let decoded = u32::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| hex.len() == 4)
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("invalid escape \\u{hex}"))?;
                    out.push(decoded);
                    self.pos += 4;
                }
                other => return Err(format!("invalid escape \\{other} in string")),
            }
        }
    }

    /// The inside of `[…]`, up to and including `]`.
    fn bracket(&mut self) -> Result<Vec<Selector>, String> {
        self.skip_spaces();
        if self.peek() == Some('?') {
            return Err("filter expressions [?(…)] are not supported".to_owned());
        }
        let mut selectors = Vec::new();
        loop {
            self.skip_spaces();
            let selector = match self.peek() {
                None => return Err("unterminated [".to_owned()),
                Some('\'' | '"') => Selector::Key(self.quoted()?),
                Some('*') => {
                    self.pos += 1;
                    Selector::All
                }
                Some(_) => {
                    let text: String = self.chars[self.pos..]
                        .iter()
                        .take_while(|c| !matches!(c, ',' | ']'))
                        .collect();
                    self.pos += text.chars().count();
                    if self.peek().is_none() {
                        return Err("unterminated [".to_owned());
                    }
                    slice(text.trim())?
                }
            };
            selectors.push(selector);
            self.skip_spaces();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    return Ok(selectors);
                }
                Some(c) => return Err(format!("unexpected {c:?} in [ ] at {:?}", self.rest())),
                None => return Err("unterminated [".to_owned()),
            }
        }
    }
}

/// `n`, `start:end`, `start:end:step` (each part optional, `-` allowed), as Kubernetes reads them.
fn slice(text: &str) -> Result<Selector, String> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() > 3 {
        return Err(format!("invalid array index {text:?}"));
    }
    let number = |part: &str| -> Result<Option<i64>, String> {
        if part.is_empty() {
            return Ok(None);
        }
        let digits = part.strip_prefix('-').unwrap_or(part);
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("invalid array index {text:?}"));
        }
        part.parse()
            .map(Some)
            .map_err(|_| format!("array index {part} is out of range"))
    };
    Ok(Selector::Slice {
        start: number(parts[0])?,
        end: match parts.get(1) {
            Some(p) => number(p)?,
            None => None,
        },
        step: match parts.get(2) {
            Some(p) => number(p)?,
            None => None,
        },
        single: parts.len() == 1,
    })
}

fn kind(value: &GoValue) -> &'static str {
    match value {
        GoValue::Null => "null",
        GoValue::Bool(_) => "bool",
        GoValue::Int(_) | GoValue::Uint(_) | GoValue::Float(_) => "number",
        GoValue::Str(_) => "string",
        GoValue::List(_) => "list",
        GoValue::Map(_) => "map",
    }
}

fn children(value: &GoValue) -> Vec<&GoValue> {
    match value {
        GoValue::Map(map) => map.values().collect(),
        GoValue::List(items) => items.iter().collect(),
        _ => Vec::new(),
    }
}

fn field<'a>(
    input: &[&'a GoValue],
    name: &str,
    allow_missing: bool,
) -> Result<Vec<&'a GoValue>, String> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let found: Vec<&GoValue> = input
        .iter()
        .filter_map(|v| match v {
            GoValue::Map(map) => map.get(name),
            _ => None,
        })
        .collect();
    if found.is_empty() && !allow_missing {
        return Err(format!("{name} is not found"));
    }
    Ok(found)
}

fn recursive<'a>(value: &'a GoValue, out: &mut Vec<&'a GoValue>) {
    let below = children(value);
    if !below.is_empty() {
        out.push(value);
        for child in below {
            recursive(child, out);
        }
    }
}

fn select<'a>(
    input: &[&'a GoValue],
    selector: &Selector,
    allow_missing: bool,
) -> Result<Vec<&'a GoValue>, String> {
    let mut out = Vec::new();
    match selector {
        Selector::Key(key) => return field(input, key, allow_missing),
        Selector::All => {
            for value in input {
                match value {
                    GoValue::Null => {}
                    GoValue::List(_) | GoValue::Map(_) => out.extend(children(value)),
                    other => return Err(format!("{} is not array or slice", kind(other))),
                }
            }
        }
        Selector::Slice {
            start,
            end,
            step,
            single,
        } => {
            for value in input {
                let items = match value {
                    GoValue::Null => continue,
                    GoValue::List(items) => items,
                    other => return Err(format!("{} is not array or slice", kind(other))),
                };
                let len = items.len() as i64;
                let mut from = start.unwrap_or(0);
                if from < 0 {
                    from = from.saturating_add(len);
                }
                if *single {
                    match usize::try_from(from).ok().and_then(|i| items.get(i)) {
                        Some(item) => out.push(item),
                        None => {
                            return Err(format!(
                                "array index out of bounds: index {from}, length {len}"
                            ));
                        }
                    }
                    continue;
                }
                let mut to = end.unwrap_or(len);
                if to < 0 {
                    to = to.saturating_add(len);
                }
                if from == to {
                    continue;
                }
                if from < 0 || from >= len {
                    return Err(format!(
                        "array index out of bounds: index {from}, length {len}"
                    ));
                }
                if to < 0 || to > len {
                    return Err(format!(
                        "array index out of bounds: index {}, length {len}",
                        to - 1
                    ));
                }
                if from > to {
                    return Err(format!(
                        "starting index {from} is greater than ending index {to}"
                    ));
                }
                let step = match step {
                    Some(s) if *s <= 0 => return Err("step must be > 0".to_owned()),
                    Some(s) => usize::try_from(*s).unwrap_or(usize::MAX),
                    None => 1,
                };
                // `from` and `to` are within 0..=len here.
                let (from, to) = (from as usize, to as usize);
                out.extend(items[from..to].iter().step_by(step));
            }
        }
    }
    Ok(out)
}

fn evaluate<'a>(
    steps: &[Step],
    root: &'a GoValue,
    allow_missing: bool,
) -> Result<Vec<&'a GoValue>, String> {
    let mut current = vec![root];
    for step in steps {
        current = match step {
            Step::Field(name) => field(&current, name, allow_missing)?,
            Step::Wildcard => current.iter().flat_map(|v| children(v)).collect(),
            Step::Recursive => {
                let mut out = Vec::new();
                for value in &current {
                    recursive(value, &mut out);
                }
                out
            }
            Step::Bracket(selectors) => {
                let mut out = Vec::new();
                for selector in selectors {
                    out.extend(select(&current, selector, allow_missing)?);
                }
                out
            }
        };
    }
    Ok(current)
}

impl std::fmt::Display for JsonPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.expr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(yaml: &str) -> GoValue {
        GoValue::from_spec(&yaml_serde::from_str(yaml).expect("fixture"))
    }

    fn lines(expr: &str, yaml: &str) -> Result<String, String> {
        let path = JsonPath::parse(expr).map_err(|e| e.to_string())?;
        path.render_lines(&view(yaml)).map_err(|e| e.to_string())
    }

    fn cell(expr: &str, yaml: &str) -> String {
        JsonPath::parse(expr)
            .expect("parse")
            .render_cell(&view(yaml))
            .expect("cell")
    }

    const DOC: &str = "spec:\n  state: up\n  rx: 12\n  ok: true\n  none: null\n  endpoints: [a, b, c]\n  \
                       peers:\n    - {name: p1, port: 1}\n    - {name: p2, port: 2}\n  \
                       labels: {kubernetes.io/role: cp, x: <y>}\n";

    #[test]
    fn forms_of_a_path() {
        for expr in [
            "{.spec.state}",
            ".spec.state",
            "spec.state",
            "{$.spec.state}",
            "{spec.state}",
        ] {
            assert_eq!(lines(expr, DOC).as_deref(), Ok("up\n"), "{expr}");
        }
    }

    #[test]
    fn scalars_raw_composites_indented() {
        assert_eq!(lines("{.spec.rx}", DOC).as_deref(), Ok("12\n"));
        assert_eq!(lines("{.spec.ok}", DOC).as_deref(), Ok("true\n"));
        assert_eq!(lines("{.spec.none}", DOC).as_deref(), Ok("<nil>\n"));
        assert_eq!(
            lines("{.spec.endpoints}", DOC).as_deref(),
            Ok("[\n    \"a\",\n    \"b\",\n    \"c\"\n]\n")
        );
        assert_eq!(
            lines("{.spec.peers[0]}", DOC).as_deref(),
            Ok("{\n    \"name\": \"p1\",\n    \"port\": 1\n}\n")
        );
    }

    #[test]
    fn indexes_slices_wildcards() {
        assert_eq!(lines("{.spec.endpoints[1]}", DOC).as_deref(), Ok("b\n"));
        assert_eq!(lines("{.spec.endpoints[-1]}", DOC).as_deref(), Ok("c\n"));
        assert_eq!(
            lines("{.spec.endpoints[*]}", DOC).as_deref(),
            Ok("a\nb\nc\n")
        );
        assert_eq!(
            lines("{.spec.endpoints[0:2]}", DOC).as_deref(),
            Ok("a\nb\n")
        );
        assert_eq!(
            lines("{.spec.endpoints[::2]}", DOC).as_deref(),
            Ok("a\nc\n")
        );
        assert_eq!(
            lines("{.spec.endpoints[0,2]}", DOC).as_deref(),
            Ok("a\nc\n")
        );
        assert_eq!(
            lines("{.spec.peers[*].name}", DOC).as_deref(),
            Ok("p1\np2\n")
        );
        assert_eq!(lines("{..port}", DOC).as_deref(), Ok("1\n2\n"));
        assert_eq!(
            lines("{.spec.labels.kubernetes\\.io/role}", DOC).as_deref(),
            Ok("cp\n")
        );
        assert_eq!(
            lines("{.spec.labels['kubernetes.io/role']}", DOC).as_deref(),
            Ok("cp\n")
        );
        assert_eq!(lines("{.spec.labels.*}", DOC).as_deref(), Ok("cp\n<y>\n"));
    }

    #[test]
    fn template_text_and_literals() {
        assert_eq!(
            lines("state={.spec.state}{\"\\t\"}", DOC).as_deref(),
            Ok("state=\nup\n\t\n")
        );
    }

    #[test]
    fn evaluation_errors_like_kubernetes() {
        assert_eq!(
            lines("{.spec.nope}", DOC),
            Err("jsonpath expression \"{.spec.nope}\": nope is not found".to_owned())
        );
        assert_eq!(
            lines("{.spec.endpoints[5]}", DOC),
            Err("jsonpath expression \"{.spec.endpoints[5]}\": array index out of bounds: index 5, length 3".to_owned())
        );
        assert_eq!(
            lines("{.spec.state[0]}", DOC),
            Err(
                "jsonpath expression \"{.spec.state[0]}\": string is not array or slice".to_owned()
            )
        );
        assert!(lines("{.spec.endpoints[9223372036854775807]}", DOC).is_err());
        assert!(lines("{.spec.endpoints[-9223372036854775808:]}", DOC).is_err());
        // Nothing to look into: no error, no output.
        assert_eq!(lines("{.spec.endpoints[0:0].x}", DOC).as_deref(), Ok(""));
    }

    #[test]
    fn parse_errors_name_the_expression() {
        for (expr, message) in [
            ("{.spec", "unclosed action: missing }"),
            ("{.spec[}", "unterminated ["),
            ("{.spec[x]}", "invalid array index \"x\""),
            (
                "{.a[?(@.x==1)]}",
                "filter expressions [?(…)] are not supported",
            ),
            ("{range .a}{end}", "{range} is not supported"),
            ("", "the expression is empty"),
            ("{\"open}", "unterminated string \"…\""),
        ] {
            let err = JsonPath::parse(expr).expect_err(expr);
            assert_eq!(
                err.to_string(),
                format!("invalid jsonpath expression {expr:?}: {message}")
            );
        }
    }

    #[test]
    fn cells_allow_missing_and_render_compact_json() {
        assert_eq!(cell("{.spec.endpoints}", DOC), "[\"a\",\"b\",\"c\"]");
        assert_eq!(cell("{.spec.nope}", DOC), "");
        assert_eq!(cell("{.spec.endpoints[*]}", DOC), "a b c");
        assert_eq!(
            cell("{.spec.labels}", DOC),
            "{\"kubernetes.io/role\":\"cp\",\"x\":\"\\u003cy\\u003e\"}"
        );
    }
}

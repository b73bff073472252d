//! `-o yaml`: each resource as talosctl prints it — `node: …`, `event: …` when watching, then
//! `metadata:` and `spec:` as Go's `gopkg.in/yaml.v3` encodes them.
//!
//! The emitter is written here because serde's YAML (and `weft_api::yaml`, which re-indents it)
//! differs from yaml.v3 in ways visible in every document: yaml.v3 indents block sequences under
//! their key (`key:\n    - a`), indents maps in list items by 2 then rounds up to the next multiple
//! of 4, and quotes strings by its own rules (ambiguous ones such as `""`, `"yes"` or `"1.0"` in
//! double quotes, ones libyaml cannot print plain — `'[fd00::1]:51820'` — in single quotes). So this
//! module carries:
//!
//! - `resolve`: yaml.v3's resolver for plain scalars (what `1234`, `true`, `~` or a date read as);
//! - the libyaml scalar analysis that picks plain / single / double / literal style;
//! - a block emitter with yaml.v3's indentation (best indent 4, no line folding).
//!
//! Two kinds of scalars are distinguished, as in talosctl: spec values are Go typed values (strings
//! that would re-type are double-quoted, `yaml.v3`'s `stringv`), metadata fields are untagged YAML
//! nodes COSI builds by hand (always requested plain). Strings that look like RFC 3339 timestamps
//! are printed plain in specs, because Talos's spec timestamps are `time.Time` values and yaml.v3
//! prints those plain.

use weft_api::resource::{EventKind, Metadata, Resource};

use super::json::{self, rfc3339};

/// What a plain scalar reads as under yaml.v3's resolver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    /// A date or date-time; yaml.v3 decodes it into `any` as its text.
    Timestamp,
    Str,
}

/// yaml.v3's `resolve("", s)`: the type a plain scalar `s` reads as.
pub(crate) fn resolve(s: &str) -> Resolved {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match s.as_bytes()[0] {
        b'.' => {
            if is_dot_float(s)
                && let Ok(f) = s.parse::<f64>()
            {
                return Resolved::Float(f);
            }
            Resolved::Str
        }
        b'0'..=b'9' | b'+' | b'-' => {
            if is_timestamp(s) {
                return Resolved::Timestamp;
            }
            let plain = s.replace('_', "");
            if let Some(v) = parse_go_int(&plain, true)
                && let Ok(i) = i64::try_from(v)
            {
                return Resolved::Int(i);
            }
            if let Some(v) = parse_go_int(&plain, false)
                && let Ok(u) = u64::try_from(v)
            {
                return Resolved::Uint(u);
            }
            if is_yaml_float(&plain)
                && let Ok(f) = plain.parse::<f64>()
                && f.is_finite()
            {
                return Resolved::Float(f);
            }
            Resolved::Str
        }
        _ => Resolved::Str,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint` digits: optional sign (signed only), then
/// `0x`/`0o`/`0b` prefixes or a leading `0` for octal. Out-of-range values are left to the caller.
fn parse_go_int(s: &str, signed: bool) -> Option<i128> {
    let (negative, body) = match s.as_bytes().first()? {
        b'+' if signed => (false, &s[1..]),
        b'-' if signed => (true, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let bytes = body.as_bytes();
    let (radix, digits) = if bytes[0] == b'0' && bytes.len() >= 3 {
        match bytes[1] {
            b'x' | b'X' => (16, &body[2..]),
            b'o' | b'O' => (8, &body[2..]),
            b'b' | b'B' => (2, &body[2..]),
            _ => (8, &body[1..]),
        }
    } else if bytes[0] == b'0' {
        (8, &body[1..])
    } else {
        (10, body)
    };
    let mut value: i128 = 0;
    for ch in digits.chars() {
        let digit = ch.to_digit(radix)?;
        value = value.checked_mul(i128::from(radix))? + i128::from(digit);
        if value > i128::from(u64::MAX) {
            return None;
        }
    }
    Some(if negative { -value } else { value })
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, yaml.v3's float syntax.
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// What Go's `strconv.ParseFloat` accepts after a leading dot: `.5`, `.5e3`.
fn is_dot_float(s: &str) -> bool {
    s.starts_with('.') && is_yaml_float(s)
}

/// yaml.v3's `parseTimestamp`: `YYYY-M-D`, optionally followed by `T`/`t` and `h:m:s[.frac]` with
/// `Z` or `±hh:mm`, or by a space and `h:m:s[.frac]` without a zone; fields range-checked as Go's
/// `time.Parse` does.
fn is_timestamp(s: &str) -> bool {
    fn num(s: &str) -> Option<(u32, &str)> {
        let b = s.as_bytes();
        let first = char::from(*b.first()?).to_digit(10)?;
        match b.get(1).and_then(|c| char::from(*c).to_digit(10)) {
            Some(second) => Some((first * 10 + second, &s[2..])),
            None => Some((first, &s[1..])),
        }
    }
    fn check(s: &str) -> Option<bool> {
        let b = s.as_bytes();
        if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
            return Some(false);
        }
        let year: u32 = s[..4].parse().ok()?;
        let (month, rest) = num(&s[5..])?;
        let rest = rest.strip_prefix('-')?;
        let (day, rest) = num(rest)?;
        let leap =
            year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Some(false),
        };
        if day < 1 || day > days {
            return Some(false);
        }
        if rest.is_empty() {
            return Some(true);
        }
        let zoned = match rest.as_bytes()[0] {
            b'T' | b't' => true,
            b' ' => false,
            _ => return Some(false),
        };
        let (hour, rest) = num(&rest[1..])?;
        let (minute, rest) = num(rest.strip_prefix(':')?)?;
        let (second, mut rest) = num(rest.strip_prefix(':')?)?;
        if hour >= 24 || minute >= 60 || second >= 60 {
            return Some(false);
        }
        let rb = rest.as_bytes();
        if rb.len() >= 2 && matches!(rb[0], b'.' | b',') && rb[1].is_ascii_digit() {
            let end = rb[1..]
                .iter()
                .position(|c| !c.is_ascii_digit())
                .map_or(rb.len(), |p| p + 1);
            rest = &rest[end..];
        }
        if !zoned {
            return Some(rest.is_empty());
        }
        if rest == "Z" {
            return Some(true);
        }
        let z = rest.as_bytes();
        Some(
            z.len() == 6
                && matches!(z[0], b'+' | b'-')
                && z[3] == b':'
                && [1, 2, 4, 5].iter().all(|&i| z[i].is_ascii_digit())
                && rest[1..3].parse::<u32>().is_ok_and(|h| h <= 24)
                && rest[4..6].parse::<u32>().is_ok_and(|m| m <= 60),
        )
    }
    check(s).unwrap_or(false)
}

/// YAML 1.1 booleans yaml.v3 still quotes so that YAML 1.1 readers do not flip them.
fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`: YAML 1.1 sexagesimal floats (`1:30`).
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let group = &b[start..i];
        let ok = match group {
            [d] => d.is_ascii_digit(),
            [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// A float as yaml.v3 prints it: Go's `%g` with `.inf`, `-.inf`, `.nan`.
pub(crate) fn format_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_owned()
    } else if f == f64::INFINITY {
        ".inf".to_owned()
    } else if f == f64::NEG_INFINITY {
        "-.inf".to_owned()
    } else {
        json::format_g(f)
    }
}

/// A scalar's presentation style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// libyaml's `is_printable` (yaml.v3 runs with unicode output on).
fn printable(ch: char) -> bool {
    matches!(ch, '\n' | '\u{20}'..='\u{7e}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        && ch != '\u{feff}'
}

fn is_break(ch: char) -> bool {
    matches!(ch, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// What libyaml's `yaml_emitter_analyze_scalar` concludes (block context only: Weft never emits
/// non-empty flow collections).
#[derive(Debug)]
struct Analysis {
    multiline: bool,
    plain_allowed: bool,
    single_allowed: bool,
    block_allowed: bool,
}

fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            multiline: false,
            plain_allowed: true,
            single_allowed: true,
            block_allowed: false,
        };
    }
    let mut indicators = s.starts_with("---") || s.starts_with("...");
    let (mut leading_space, mut leading_break) = (false, false);
    let (mut trailing_space, mut trailing_break) = (false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let chars: Vec<char> = s.chars().collect();
    for (i, &ch) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_by_whitespace = next.is_none_or(|c| c == ' ' || c == '\t' || is_break(c));
        let last = i + 1 == chars.len();
        if i == 0 {
            match ch {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => indicators = true,
                _ => {}
            }
        } else {
            match ch {
                ':' if followed_by_whitespace => indicators = true,
                '#' if preceded_by_whitespace => indicators = true,
                _ => {}
            }
        }
        if ch == '\t' {
            tabs = true;
        } else if !printable(ch) {
            special = true;
        }
        if ch == ' ' {
            leading_space |= i == 0;
            trailing_space |= last;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(ch) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= last;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = ch == ' ' || ch == '\t' || is_break(ch);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        plain_allowed: true,
        single_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || tabs || special {
        a.plain_allowed = false;
        a.single_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || indicators {
        a.plain_allowed = false;
    }
    a
}

/// libyaml's `yaml_emitter_select_scalar_style`, plus two fallbacks to double quotes where libyaml
/// would print raw line separators inside single quotes or a literal block.
fn select_style(s: &str, requested: Style, simple_key: bool) -> Style {
    let a = analyze(s);
    let mut style = requested;
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.plain_allowed || (s.is_empty() && simple_key)) {
        style = Style::Single;
    }
    if style == Style::Single && (!a.single_allowed || a.multiline) {
        style = Style::Double;
    }
    if style == Style::Literal
        && (!a.block_allowed || simple_key || s.contains(['\r', '\u{85}', '\u{2028}', '\u{2029}']))
    {
        style = Style::Double;
    }
    style
}

/// yaml.v3's `stringv`: the style it asks for when encoding a Go string.
fn typed_string_style(s: &str) -> Style {
    if s.contains('\n') {
        Style::Literal
    } else if matches!(resolve(s), Resolved::Str | Resolved::Timestamp)
        && !is_base60_float(s)
        && !is_old_bool(s)
    {
        Style::Plain
    } else {
        Style::Double
    }
}

/// The style an untagged (COSI-built) node asks for.
fn untagged_style(s: &str) -> Style {
    if s.contains('\n') {
        Style::Literal
    } else {
        Style::Plain
    }
}

/// Whether an untagged scalar used as a mapping value is printed plain (so YAML re-types it).
pub(crate) fn untagged_is_plain(s: &str) -> bool {
    select_style(s, untagged_style(s), false) == Style::Plain
}

/// A scalar and the style its encoder asks for (the emitter may still have to quote it).
#[derive(Debug, Clone, PartialEq)]
struct Scalar {
    text: String,
    style: Style,
}

impl Scalar {
    fn untagged(s: &str) -> Scalar {
        Scalar {
            text: s.to_owned(),
            style: untagged_style(s),
        }
    }

    fn typed_string(s: &str) -> Scalar {
        Scalar {
            text: s.to_owned(),
            style: typed_string_style(s),
        }
    }

    fn plain(text: String) -> Scalar {
        Scalar {
            text,
            style: Style::Plain,
        }
    }
}

/// A YAML node ready to print.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<(Scalar, Node)>),
}

impl Node {
    fn untagged(s: &str) -> Node {
        Node::Scalar(Scalar::untagged(s))
    }

    /// A Go typed value, as yaml.v3's encoder renders it.
    fn typed(value: &yaml_serde::Value) -> Node {
        match value {
            yaml_serde::Value::Null => Node::Scalar(Scalar::plain("null".to_owned())),
            yaml_serde::Value::Bool(b) => Node::Scalar(Scalar::plain(b.to_string())),
            yaml_serde::Value::Number(n) => {
                let text = if let Some(i) = n.as_i64() {
                    i.to_string()
                } else if let Some(u) = n.as_u64() {
                    u.to_string()
                } else {
                    format_float(n.as_f64().unwrap_or(f64::NAN))
                };
                Node::Scalar(Scalar::plain(text))
            }
            yaml_serde::Value::String(s) => Node::Scalar(Scalar::typed_string(s)),
            yaml_serde::Value::Sequence(items) => {
                Node::Seq(items.iter().map(Node::typed).collect())
            }
            yaml_serde::Value::Mapping(map) => Node::Map(
                map.iter()
                    .map(|(k, v)| (Node::typed_key(k), Node::typed(v)))
                    .collect(),
            ),
            yaml_serde::Value::Tagged(tagged) => Node::typed(&tagged.value),
        }
    }

    /// A mapping key; composite keys (which Go cannot have) are printed as their JSON text.
    fn typed_key(key: &yaml_serde::Value) -> Scalar {
        match Node::typed(key) {
            Node::Scalar(scalar) => scalar,
            Node::Seq(_) | Node::Map(_) => Scalar::typed_string(
                &json::to_string_compact(&json::GoValue::from_spec(key)).unwrap_or_default(),
            ),
        }
    }
}

fn metadata_node(md: &Metadata) -> Node {
    let field = |k: &str, v: &str| (Scalar::untagged(k), Node::untagged(v));
    let mut entries = vec![
        field("namespace", &md.namespace),
        field("type", &md.resource_type),
        field("id", &md.id),
        field("version", &md.version.to_string()),
        field("owner", &md.owner),
        field("phase", &md.phase.to_string()),
        field("created", &rfc3339(md.created)),
        field("updated", &rfc3339(md.updated)),
    ];
    if !md.labels.is_empty() {
        let labels = md.labels.iter().map(|(k, v)| field(k, v)).collect();
        entries.push((Scalar::untagged("labels"), Node::Map(labels)));
    }
    Node::Map(entries)
}

/// One resource's document (without the `---` separator talosctl puts between documents).
pub(crate) fn render_resource(node: &str, resource: &Resource, event: Option<EventKind>) -> String {
    let mut out = format!("node: {node}\n");
    if let Some(event) = event {
        out.push_str(&format!("event: {event}\n"));
    }
    let document = Node::Map(vec![
        (
            Scalar::untagged("metadata"),
            metadata_node(&resource.metadata),
        ),
        (Scalar::untagged("spec"), Node::typed(&resource.spec)),
    ]);
    out.push_str(&emit(&document));
    out
}

/// Renders a spec value alone, as yaml.v3 would encode it.
#[cfg(test)]
fn render_value(value: &yaml_serde::Value) -> String {
    emit(&Node::typed(value))
}

const BEST_INDENT: usize = 4;

fn emit(root: &Node) -> String {
    let mut e = Emitter::default();
    match root {
        Node::Map(entries) if !entries.is_empty() => e.map(entries, 0, false),
        Node::Seq(items) if !items.is_empty() => e.seq(items, 0, false),
        Node::Map(_) => e.out.push_str("{}"),
        Node::Seq(_) => e.out.push_str("[]"),
        Node::Scalar(scalar) => {
            // A document that is a single scalar: keep it on one line.
            let style = match select_style(&scalar.text, scalar.style, false) {
                Style::Literal => Style::Double,
                other => other,
            };
            e.out.push_str(&quoted(&scalar.text, style));
        }
    }
    e.line_start();
    e.out
}

/// yaml.v3's block emitter for the shapes above (no anchors, tags, comments or flow collections
/// other than `[]` and `{}`).
#[derive(Debug, Default)]
struct Emitter {
    out: String,
}

impl Emitter {
    /// libyaml's `write_indent` break: start a new line unless already at the start of one.
    fn line_start(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    fn pad(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(' ', n));
    }

    /// A block mapping whose keys sit at `indent`; `inline_first` continues the line of a `- `.
    fn map(&mut self, entries: &[(Scalar, Node)], indent: usize, inline_first: bool) {
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 || !inline_first {
                self.line_start();
                self.pad(indent);
            }
            self.key(key);
            self.out.push(':');
            // yaml.v3 aligns what follows a key to the next multiple of the indent.
            let child = BEST_INDENT * ((indent + BEST_INDENT) / BEST_INDENT);
            self.child(value, indent, child, false);
        }
    }

    /// A block sequence whose dashes sit at `indent`.
    fn seq(&mut self, items: &[Node], indent: usize, inline_first: bool) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 || !inline_first {
                self.line_start();
                self.pad(indent);
            }
            self.out.push('-');
            // The first indent inside a sequence just skips the `- `.
            self.child(item, indent, indent + 2, true);
        }
    }

    fn key(&mut self, key: &Scalar) {
        let style = select_style(&key.text, key.style, true);
        self.out.push_str(&quoted(&key.text, style));
    }

    /// What follows `key:` (`after_dash` false) or `-` (true). `parent` is the indent of the
    /// mapping or sequence, `indent` the one its children take.
    fn child(&mut self, node: &Node, parent: usize, indent: usize, after_dash: bool) {
        match node {
            Node::Scalar(Scalar {
                text,
                style: requested,
            }) => {
                let mut style = select_style(text, *requested, false);
                // libyaml always writes an indentation indicator of 4, which would be wrong where
                // the content is indented by another amount: quote instead.
                if style == Style::Literal
                    && text.starts_with([' ', '\n'])
                    && indent - parent != BEST_INDENT
                {
                    style = Style::Double;
                }
                self.scalar(text, style, indent);
            }
            Node::Seq(items) if items.is_empty() => self.out.push_str(" []"),
            Node::Map(entries) if entries.is_empty() => self.out.push_str(" {}"),
            Node::Seq(items) => {
                if after_dash {
                    self.out.push(' ');
                }
                self.seq(items, indent, after_dash);
            }
            Node::Map(entries) => {
                if after_dash {
                    self.out.push(' ');
                }
                self.map(entries, indent, after_dash);
            }
        }
    }

    /// A scalar after an indicator: a space, then the text (nothing at all for an empty plain one).
    fn scalar(&mut self, text: &str, style: Style, indent: usize) {
        match style {
            Style::Plain if text.is_empty() => {}
            Style::Plain | Style::Single | Style::Double => {
                self.out.push(' ');
                self.out.push_str(&quoted(text, style));
            }
            Style::Literal => self.literal(text, indent),
        }
    }

    fn literal(&mut self, text: &str, indent: usize) {
        self.out.push_str(" |");
        if text.starts_with([' ', '\n']) {
            self.out.push(char::from(b'0' + BEST_INDENT as u8));
        }
        let mut rev = text.chars().rev();
        let chomp = match (rev.next(), rev.next()) {
            (Some(last), _) if last != '\n' => Some('-'),
            (Some(_), None) | (Some(_), Some('\n')) => Some('+'),
            (Some(_), Some(_)) => None,
            (None, _) => Some('-'),
        };
        if let Some(c) = chomp {
            self.out.push(c);
        }
        self.out.push('\n');
        let mut at_break = true;
        for ch in text.chars() {
            if ch == '\n' {
                self.out.push('\n');
                at_break = true;
            } else {
                if at_break {
                    self.pad(indent);
                }
                self.out.push(ch);
                at_break = false;
            }
        }
    }
}

/// A flow scalar in `style` (plain, single- or double-quoted).
fn quoted(text: &str, style: Style) -> String {
    match style {
        Style::Plain | Style::Literal => text.to_owned(),
        Style::Single => format!("'{}'", text.replace('\'', "''")),
        Style::Double => {
            let mut out = String::with_capacity(text.len() + 2);
            out.push('"');
            for ch in text.chars() {
                if printable(ch) && !is_break(ch) && ch != '"' && ch != '\\' {
                    out.push(ch);
                    continue;
                }
                out.push('\\');
                match ch {
                    '\0' => out.push('0'),
                    '\u{7}' => out.push('a'),
                    '\u{8}' => out.push('b'),
                    '\t' => out.push('t'),
                    '\n' => out.push('n'),
                    '\u{b}' => out.push('v'),
                    '\u{c}' => out.push('f'),
                    '\r' => out.push('r'),
                    '\u{1b}' => out.push('e'),
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '\u{85}' => out.push('N'),
                    '\u{a0}' => out.push('_'),
                    '\u{2028}' => out.push('L'),
                    '\u{2029}' => out.push('P'),
                    other => {
                        let code = other as u32;
                        let (prefix, width) = match code {
                            0..=0xff => ('x', 2),
                            0x100..=0xffff => ('u', 4),
                            _ => ('U', 8),
                        };
                        out.push(prefix);
                        out.push_str(&format!("{code:0width$X}"));
                    }
                }
            }
            out.push('"');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> String {
        render_value(&yaml_serde::from_str(text).expect("fixture yaml"))
    }

    #[test]
    fn resolves_like_yaml_v3() {
        assert_eq!(resolve(""), Resolved::Null);
        assert_eq!(resolve("~"), Resolved::Null);
        assert_eq!(resolve("True"), Resolved::Bool(true));
        assert_eq!(resolve("yes"), Resolved::Str);
        assert_eq!(resolve("1234"), Resolved::Int(1234));
        assert_eq!(resolve("-0x1F"), Resolved::Int(-31));
        assert_eq!(resolve("0o17"), Resolved::Int(15));
        assert_eq!(resolve("017"), Resolved::Int(15));
        assert_eq!(resolve("08"), Resolved::Float(8.0));
        assert_eq!(resolve("1_000"), Resolved::Int(1000));
        assert_eq!(resolve("18446744073709551615"), Resolved::Uint(u64::MAX));
        assert_eq!(resolve("1.5e3"), Resolved::Float(1500.0));
        assert_eq!(resolve(".5"), Resolved::Float(0.5));
        assert_eq!(resolve("1e400"), Resolved::Str);
        assert_eq!(resolve("2026-01-01"), Resolved::Timestamp);
        assert_eq!(resolve("2026-1-2T3:04:05.123456789Z"), Resolved::Timestamp);
        assert_eq!(resolve("2026-01-01T10:00:00+02:00"), Resolved::Timestamp);
        assert_eq!(resolve("2026-01-01 10:00:00"), Resolved::Timestamp);
        assert_eq!(resolve("2026-02-30"), Resolved::Str);
        assert_eq!(resolve("172.20.0.3:51820"), Resolved::Str);
        assert_eq!(resolve("+Bzm83MHg="), Resolved::Str);
        assert_eq!(resolve("-"), Resolved::Str);
    }

    #[test]
    fn quotes_strings_like_yaml_v3() {
        for (value, want) in [
            ("plain", "plain"),
            ("", "\"\""),
            ("yes", "\"yes\""),
            ("1.0", "\"1.0\""),
            ("1:30", "\"1:30\""),
            ("null", "\"null\""),
            ("172.20.0.3:51820", "172.20.0.3:51820"),
            ("fd00::1", "fd00::1"),
            ("[fd00::1]:51820", "'[fd00::1]:51820'"),
            ("a: b", "'a: b'"),
            ("- x", "'- x'"),
            ("#x", "'#x'"),
            ("a #b", "'a #b'"),
            (" lead", "' lead'"),
            ("it's", "it's"),
            ("'q'", "'''q'''"),
            ("tab\there", "\"tab\\there\""),
            ("bell\u{7}", "\"bell\\a\""),
            ("emoji 🦀", "\"emoji \\U0001F980\""),
            ("é", "é"),
            (
                "2026-01-01T10:04:51.123456789Z",
                "2026-01-01T10:04:51.123456789Z",
            ),
        ] {
            let mut map = yaml_serde::Mapping::new();
            map.insert("k".into(), yaml_serde::Value::String(value.to_owned()));
            let out = render_value(&yaml_serde::Value::Mapping(map));
            assert_eq!(out, format!("k: {want}\n"), "{value:?}");
        }
    }

    #[test]
    fn untagged_scalars_are_plain_when_possible() {
        let md = Node::Map(vec![
            (Scalar::untagged("owner"), Node::untagged("")),
            (Scalar::untagged("id"), Node::untagged("1234")),
            (Scalar::untagged("x"), Node::untagged("true")),
            (Scalar::untagged("y"), Node::untagged("[a]")),
        ]);
        assert_eq!(emit(&md), "owner:\nid: 1234\nx: true\ny: '[a]'\n");
    }

    #[test]
    fn indents_like_yaml_v3() {
        let out = yaml(
            "a:\n  b: 1\n  list: [x, 'y']\n  empty: []\n  none: {}\n\
             items:\n  - name: one\n    sub:\n      k: v\n    tags: [t]\n  - [n1, n2]\n  - ''\n",
        );
        assert_eq!(
            out,
            "a:\n    b: 1\n    list:\n        - x\n        - \"y\"\n    empty: []\n    none: {}\n\
             items:\n    - name: one\n      sub:\n        k: v\n      tags:\n        - t\n    \
             - - n1\n      - n2\n    - \"\"\n"
        );
    }

    #[test]
    fn literal_blocks() {
        assert_eq!(
            yaml("text: \"line one\\nline two\\n\"\nnext: 1\n"),
            "text: |\n    line one\n    line two\nnext: 1\n"
        );
        assert_eq!(yaml("text: \"a\\n\\nb\"\n"), "text: |-\n    a\n\n    b\n");
        assert_eq!(yaml("text: \"a\\n\\n\"\n"), "text: |+\n    a\n\n");
        assert_eq!(yaml("text: \" a\\nb\"\n"), "text: |4-\n     a\n    b\n");
        // Trailing space on a line break: no block scalar possible.
        assert_eq!(yaml("text: \"a \\nb\"\n"), "text: \"a \\nb\"\n");
        assert_eq!(
            yaml("list:\n  - \"x\\ny\"\n"),
            "list:\n    - |-\n      x\n      y\n"
        );
        assert_eq!(yaml("k: v\n\"a\\nb\": 1\n"), "k: v\n\"a\\nb\": 1\n");
    }

    #[test]
    fn numbers_and_keys() {
        assert_eq!(
            yaml(
                "i: -3\nu: 18446744073709551615\nf: 1.5\ng: 2.0\nh: 1.0e+7\nm: .nan\nb: false\nz: null\n1: one\n'': empty\n"
            ),
            "i: -3\nu: 18446744073709551615\nf: 1.5\ng: 2\nh: 1e+07\nm: .nan\nb: false\nz: null\n1: one\n\"\": empty\n"
        );
    }

    #[test]
    fn round_trips_through_a_yaml_parser() {
        let text =
            "a:\n  s: \"multi\\nline\\n\"\n  q: \"it's: here\"\n  e: ''\n  l: [[1, 2], {k: v}]\n";
        let value: yaml_serde::Value = yaml_serde::from_str(text).expect("fixture");
        let back: yaml_serde::Value = yaml_serde::from_str(&render_value(&value)).expect("reparse");
        assert_eq!(back, value);
    }
}

//! The output writers behind `weftctl get -o table|yaml|json|jsonpath=EXPR`, byte-compatible with
//! talosctl's `cmd/talosctl/cmd/talos/output` package.
//!
//! A [`Writer`] is built from the `-o` value and an [`io::Write`]; `weftctl get` then calls
//! [`Writer::write_header`] once, [`Writer::write_resource`] per resource (per event when
//! watching) and [`Writer::flush`] at the end of a list and after every watch event.
//!
//! - [`table`]: Go `text/tabwriter` alignment (the table is buffered until [`Writer::flush`]).
//! - [`yaml`]: `node:`/`event:` lines, then `metadata:`/`spec:` as Go's `yaml.v3` prints them.
//! - [`json`]: the map talosctl gets by unmarshalling that YAML into `map[string]any`, printed by Go's
//!   `encoding/json` (sorted keys, 4-space indent, HTML-safe escapes), one object per resource.
//! - [`jsonpath`]: the Kubernetes JSONPath template subset talosctl accepts, evaluated on that map.
//!
//! Formatting is written out here rather than delegated to serde's YAML/JSON serializers because the
//! goal is talosctl's exact bytes, and those follow Go's libraries (key order, quoting, float
//! formatting, escaping), not Rust's.

use std::fmt;
use std::io;
use std::str::FromStr;

use weft_api::resource::{EventKind, Resource, ResourceDefinition};

pub mod json;
pub mod jsonpath;
pub mod table;
pub mod yaml;

pub use jsonpath::{JsonPath, JsonPathError};
pub use table::TabWriter;

/// The `-o` values [`Format`] accepts, for messages and completions.
pub const FORMAT_NAMES: [&str; 4] = ["table", "yaml", "json", "jsonpath=EXPR"];

/// An output format, parsed from the `-o` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns: `NODE NAMESPACE TYPE ID VERSION` plus the type's print columns.
    Table,
    /// One YAML document per resource.
    Yaml,
    /// One indented JSON object per resource, concatenated.
    Json,
    /// A JSONPath template evaluated per resource, one result per line.
    JsonPath(JsonPath),
}

impl FromStr for Format {
    type Err = OutputError;

    fn from_str(s: &str) -> Result<Format, OutputError> {
        match s {
            "table" => Ok(Format::Table),
            "yaml" => Ok(Format::Yaml),
            "json" => Ok(Format::Json),
            _ => match s.strip_prefix("jsonpath=") {
                Some(expr) => Ok(Format::JsonPath(JsonPath::parse(expr)?)),
                None => Err(OutputError::UnknownFormat(s.to_owned())),
            },
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Format::Table => f.write_str("table"),
            Format::Yaml => f.write_str("yaml"),
            Format::Json => f.write_str("json"),
            Format::JsonPath(path) => write!(f, "jsonpath={}", path.expr()),
        }
    }
}

/// Why output could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The `-o` value names no format.
    #[error(
        "output format {0:?} is not supported (valid formats: table, yaml, json, jsonpath=EXPR)"
    )]
    UnknownFormat(String),
    /// The `jsonpath=` expression does not parse, or failed on a resource.
    #[error(transparent)]
    JsonPath(#[from] JsonPathError),
    /// A print column of the resource definition has a JSONPath that does not parse or evaluate.
    #[error("print column {column:?}")]
    Column {
        column: String,
        #[source]
        source: JsonPathError,
    },
    /// A value JSON cannot represent (NaN or an infinity), as Go's `encoding/json` refuses it.
    #[error("json: unsupported value: {0}")]
    UnsupportedValue(String),
    /// Writing to the output failed (a closed pipe included: the CLI treats that one as success).
    #[error("cannot write output")]
    Io(#[source] io::Error),
}

impl From<io::Error> for OutputError {
    fn from(e: io::Error) -> OutputError {
        OutputError::Io(e)
    }
}

/// Prints resources in one [`Format`] to `out`, as talosctl does.
#[derive(Debug)]
pub struct Writer<W: io::Write> {
    out: W,
    watch: bool,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Table(table::Table),
    Yaml { need_dashes: bool },
    Json,
    JsonPath(JsonPath),
}

impl<W: io::Write> Writer<W> {
    /// A writer for the `-o` value `format` (`table`, `yaml`, `json` or `jsonpath=EXPR`).
    pub fn new(format: &str, out: W) -> Result<Writer<W>, OutputError> {
        Ok(Writer::with_format(format.parse()?, out))
    }

    /// A writer for an already parsed format.
    pub fn with_format(format: Format, out: W) -> Writer<W> {
        let kind = match format {
            Format::Table => Kind::Table(table::Table::default()),
            Format::Yaml => Kind::Yaml { need_dashes: false },
            Format::Json => Kind::Json,
            Format::JsonPath(path) => Kind::JsonPath(path),
        };
        Writer {
            out,
            watch: false,
            kind,
        }
    }

    /// Starts the output for resources of `definition`. `watch` adds the event: the `*` column of
    /// the table, the `event` key of YAML and JSON.
    pub fn write_header(
        &mut self,
        definition: &ResourceDefinition,
        watch: bool,
    ) -> Result<(), OutputError> {
        self.watch = watch;
        if let Kind::Table(table) = &mut self.kind {
            table.header(definition, watch)?;
        }
        Ok(())
    }

    /// Prints one resource read from `node`. `event` is shown only when watching; `None` there
    /// prints no event (an empty `*` cell).
    pub fn write_resource(
        &mut self,
        node: &str,
        resource: &Resource,
        event: Option<EventKind>,
    ) -> Result<(), OutputError> {
        let event = if self.watch { event } else { None };
        match &mut self.kind {
            Kind::Table(table) => table.row(node, resource, event),
            Kind::Yaml { need_dashes } => {
                let mut text = String::new();
                if *need_dashes {
                    text.push_str("---\n");
                }
                *need_dashes = true;
                text.push_str(&yaml::render_resource(node, resource, event));
                self.out.write_all(text.as_bytes())?;
                Ok(())
            }
            Kind::Json => {
                let view = json::resource_view(node, resource, event);
                let text = json::to_string_indented(&view)?;
                self.out.write_all(text.as_bytes())?;
                self.out.write_all(b"\n")?;
                Ok(())
            }
            Kind::JsonPath(path) => {
                let view = json::resource_view(node, resource, event);
                let text = path.render_lines(&view)?;
                self.out.write_all(text.as_bytes())?;
                Ok(())
            }
        }
    }

    /// Writes whatever is buffered (the table rows since the last flush, aligned together) and
    /// flushes `out`.
    pub fn flush(&mut self) -> Result<(), OutputError> {
        if let Kind::Table(table) = &mut self.kind {
            let text = table.flush();
            self.out.write_all(text.as_bytes())?;
        }
        self.out.flush()?;
        Ok(())
    }

    /// The underlying writer, after a [`flush`](Writer::flush).
    pub fn into_inner(mut self) -> Result<W, OutputError> {
        self.flush()?;
        Ok(self.out)
    }
}

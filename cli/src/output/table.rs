//! `-o table`: `NODE [*] NAMESPACE TYPE ID VERSION` plus the definition's print columns, aligned
//! by [`TabWriter`], a port of Go's `text/tabwriter` as talosctl configures it (minwidth 0,
//! tabwidth 0, padding 3, space padding, no flags).
//!
//! The `tabwriter` crate is close but not the same: it measures cells by display width
//! (`unicode-width`) where Go counts runes, adds padding on top of `minwidth` where Go takes the
//! larger of the two, and does not treat `\v` and `\f` as Go does. A non-ASCII label would then be
//! aligned differently from talosctl, so the ~100 lines of Go's algorithm are ported instead.

use weft_api::resource::{EventKind, Resource, ResourceDefinition};

use super::OutputError;
use super::json::GoValue;
use super::jsonpath::JsonPath;

/// Go's `text/tabwriter.Writer` with space padding and no flags: cells end at `\t` (or `\v`),
/// lines at `\n` (or `\f`, which also flushes); a column is as wide as its widest cell plus the
/// padding over each block of consecutive lines that have it; the last cell of a line is not a
/// column and is never padded. Width is counted in runes, as Go does.
#[derive(Debug)]
pub struct TabWriter {
    minwidth: usize,
    padding: usize,
    /// Terminated lines, then the line being written (always present).
    lines: Vec<Vec<Cell>>,
    cell: String,
    /// Text formatted by a `\f` and not yet returned by [`TabWriter::flush`].
    done: String,
}

#[derive(Debug)]
struct Cell {
    text: String,
    width: usize,
}

impl TabWriter {
    /// A writer with Go's `minwidth` and `padding` (talosctl uses 0 and 3).
    pub fn new(minwidth: usize, padding: usize) -> TabWriter {
        TabWriter {
            minwidth,
            padding,
            lines: vec![Vec::new()],
            cell: String::new(),
            done: String::new(),
        }
    }

    /// Buffers `text`.
    pub fn write_str(&mut self, text: &str) {
        for ch in text.chars() {
            match ch {
                '\t' | '\u{b}' => self.terminate_cell(),
                '\n' | '\u{c}' => {
                    self.terminate_cell();
                    self.lines.push(Vec::new());
                    if ch == '\u{c}' {
                        let formatted = self.format_all();
                        self.done.push_str(&formatted);
                    }
                }
                other => self.cell.push(other),
            }
        }
    }

    /// Returns everything buffered, aligned, and starts over (later lines align on their own).
    pub fn flush(&mut self) -> String {
        let formatted = self.format_all();
        let mut out = std::mem::take(&mut self.done);
        out.push_str(&formatted);
        out
    }

    fn terminate_cell(&mut self) {
        let text = std::mem::take(&mut self.cell);
        let width = text.chars().count();
        if let Some(line) = self.lines.last_mut() {
            line.push(Cell { text, width });
        }
    }

    fn format_all(&mut self) -> String {
        if !self.cell.is_empty() {
            self.terminate_cell();
        }
        let mut out = String::new();
        let mut widths = Vec::new();
        self.format(&mut out, &mut widths, 0, self.lines.len());
        self.lines = vec![Vec::new()];
        out
    }

    /// Go's `format`: finds the column blocks of column `widths.len()` among `line0..line1`.
    fn format(&self, out: &mut String, widths: &mut Vec<usize>, line0: usize, line1: usize) {
        let column = widths.len();
        let mut line0 = line0;
        let mut this = line0;
        while this < line1 {
            if column + 1 >= self.lines[this].len() {
                this += 1;
                continue;
            }
            // A block of lines that have a cell in this column starts here.
            self.write_lines(out, widths, line0, this);
            line0 = this;
            let mut width = self.minwidth;
            while this < line1 && column + 1 < self.lines[this].len() {
                width = width.max(self.lines[this][column].width + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format(out, widths, line0, this);
            widths.pop();
            line0 = this;
        }
        self.write_lines(out, widths, line0, line1);
    }

    fn write_lines(&self, out: &mut String, widths: &[usize], line0: usize, line1: usize) {
        for i in line0..line1 {
            for (j, cell) in self.lines[i].iter().enumerate() {
                out.push_str(&cell.text);
                if let Some(&width) = widths.get(j) {
                    out.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.width)));
                }
            }
            // The last line is the one being written: it has no newline yet.
            if i + 1 < self.lines.len() {
                out.push('\n');
            }
        }
    }
}

/// The table writer's state between header, rows and flushes.
#[derive(Debug)]
pub(crate) struct Table {
    tw: TabWriter,
    watch: bool,
    display_type: String,
    columns: Vec<(String, JsonPath)>,
}

impl Default for Table {
    fn default() -> Table {
        Table {
            tw: TabWriter::new(0, 3),
            watch: false,
            display_type: String::new(),
            columns: Vec::new(),
        }
    }
}

impl Table {
    pub(crate) fn header(
        &mut self,
        definition: &ResourceDefinition,
        watch: bool,
    ) -> Result<(), OutputError> {
        self.watch = watch;
        self.display_type = definition.display_type.clone();
        self.columns = definition
            .print_columns
            .iter()
            .map(|col| match JsonPath::parse(&col.json_path) {
                Ok(path) => Ok((col.name.clone(), path)),
                Err(source) => Err(OutputError::Column {
                    column: col.name.clone(),
                    source,
                }),
            })
            .collect::<Result<_, _>>()?;
        let mut fields = vec!["NODE".to_owned()];
        if watch {
            fields.push("*".to_owned());
        }
        fields.extend(["NAMESPACE", "TYPE", "ID", "VERSION"].map(str::to_owned));
        fields.extend(self.columns.iter().map(|(name, _)| name.to_uppercase()));
        self.tw.write_str(&fields.join("\t"));
        self.tw.write_str("\n");
        Ok(())
    }

    pub(crate) fn row(
        &mut self,
        node: &str,
        resource: &Resource,
        event: Option<EventKind>,
    ) -> Result<(), OutputError> {
        let md = &resource.metadata;
        let mut values = vec![node.to_owned()];
        if self.watch {
            values.push(
                match event {
                    Some(EventKind::Created) => "+",
                    Some(EventKind::Destroyed) => "-",
                    Some(EventKind::Updated) => " ",
                    None => "",
                }
                .to_owned(),
            );
        }
        let display_type = if self.display_type.is_empty() {
            &md.resource_type
        } else {
            &self.display_type
        };
        values.extend([
            md.namespace.clone(),
            display_type.clone(),
            md.id.clone(),
            md.version.to_string(),
        ]);
        if !self.columns.is_empty() {
            let spec = GoValue::from_spec(&resource.spec);
            for (name, path) in &self.columns {
                let value = path
                    .render_cell(&spec)
                    .map_err(|source| OutputError::Column {
                        column: name.clone(),
                        source,
                    })?;
                values.push(value);
            }
        }
        self.tw.write_str(&values.join("\t"));
        self.tw.write_str("\n");
        Ok(())
    }

    pub(crate) fn flush(&mut self) -> String {
        self.tw.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aligned(text: &str) -> String {
        let mut tw = TabWriter::new(0, 3);
        tw.write_str(text);
        tw.flush()
    }

    #[test]
    fn last_cell_is_not_padded() {
        assert_eq!(
            aligned("NODE\tID\tLABEL\n10.0.0.1\tabc\tx\n"),
            "NODE       ID    LABEL\n10.0.0.1   abc   x\n"
        );
    }

    #[test]
    fn empty_cells_are_padding_wide() {
        assert_eq!(aligned("a\t\tb\nc\t\td\n"), "a      b\nc      d\n");
    }

    #[test]
    fn blocks_align_separately() {
        // The middle line has no tab: it ends the column block, as in Go.
        assert_eq!(
            aligned("a\tb\nlonger\tc\nbreak\nx\ty\n"),
            "a        b\nlonger   c\nbreak\nx   y\n"
        );
        // Uneven lines: the third column exists only for the first two lines.
        assert_eq!(
            aligned("a\tbb\tc\naaa\tb\tc\naa\tb\n"),
            "a     bb   c\naaa   b    c\naa    b\n"
        );
    }

    #[test]
    fn width_is_runes_like_go() {
        // Go counts runes: a CJK character is one, whatever its display width.
        assert_eq!(aligned("日本\tx\nab\ty\n"), "日本   x\nab   y\n");
    }

    #[test]
    fn text_after_flush_is_aligned_alone() {
        let mut tw = TabWriter::new(0, 3);
        tw.write_str("long-cell\tx\n");
        assert_eq!(tw.flush(), "long-cell   x\n");
        tw.write_str("a\tb\n");
        assert_eq!(tw.flush(), "a   b\n");
        tw.write_str("unterminated\tcell");
        assert_eq!(tw.flush(), "unterminated   cell");
    }

    #[test]
    fn form_feed_flushes() {
        assert_eq!(aligned("long-cell\tx\u{c}a\tb\n"), "long-cell   x\na   b\n");
    }
}

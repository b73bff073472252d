//! A cheap pre-scan of YAML text that bounds its nesting depth before the real parser sees it.
//!
//! Why: the YAML parser takes time quadratic in the depth of flow collections (`[[[[…` or
//! `{a: {a: …`): 200 KB of them took 30 s, a 1 MiB config would take minutes of a node's CPU. The
//! parser's own recursion limit only applies after the whole text has been tokenized, too late.
//! This scan is linear: one pass over the bytes, tracking
//! - block containers by indentation (a `key:` line opens a mapping at its column, a `- ` item a
//!   sequence; compact sequences under a key at the same column count too),
//! - flow collections (`[`, `{`) wherever the parser would see one: outside quoted scalars, comments
//!   and block scalars (`|`, `>`), and in block context only where a value starts.
//!
//! The depth of a position is the number of block and flow containers around it; a document whose
//! depth exceeds the limit is refused whole. Where the scan is unsure it counts more, never less, so
//! it cannot be tricked into letting deep text through (a plain scalar such as `x [y` might count one
//! level too many, far below any limit that matters).

/// Where a text nests too deep: 1-based line and column, the depth reached and the block path to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooDeep {
    pub line: usize,
    pub column: usize,
    pub depth: usize,
    /// Keys and list indices of the block containers around the position, e.g.
    /// `machine.network.kubespan.filters.endpoints[2]`; empty at the top.
    pub path: String,
    /// The position is inside a flow collection (`[…]` or `{…}`).
    pub in_flow: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Seq,
}

/// One open block container.
#[derive(Debug)]
struct Block {
    column: usize,
    kind: Kind,
    /// The mapping's current key, or the sequence's current index.
    label: String,
    index: usize,
}

/// Checks that `text` nests at most `limit` containers deep; the first place it goes deeper otherwise.
pub fn check_depth(text: &str, limit: usize) -> Result<(), TooDeep> {
    Scanner {
        limit,
        blocks: Vec::new(),
        flow: 0,
        quote: None,
        block_scalar: None,
    }
    .run(text)
}

struct Scanner {
    limit: usize,
    blocks: Vec<Block>,
    /// Open flow collections (they may span lines).
    flow: usize,
    /// Inside a quoted scalar (may span lines): its quote byte.
    quote: Option<u8>,
    /// Inside a block scalar: lines indented more than this column belong to it.
    block_scalar: Option<usize>,
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl Scanner {
    fn run(&mut self, text: &str) -> Result<(), TooDeep> {
        for (n, line) in text.lines().enumerate() {
            self.line(n + 1, line.as_bytes())?;
        }
        Ok(())
    }

    fn too_deep(&self, line: usize, column: usize) -> Result<(), TooDeep> {
        let depth = self.blocks.len() + self.flow;
        if depth <= self.limit {
            return Ok(());
        }
        let mut path = String::new();
        for b in &self.blocks {
            match b.kind {
                Kind::Map if b.label.is_empty() => {}
                Kind::Map => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&b.label);
                }
                Kind::Seq => path.push_str(&format!("[{}]", b.index)),
            }
        }
        Err(TooDeep {
            line,
            column: column + 1,
            depth,
            path,
            in_flow: self.flow > 0,
        })
    }

    fn push(
        &mut self,
        column: usize,
        kind: Kind,
        label: String,
        line: usize,
    ) -> Result<(), TooDeep> {
        self.blocks.push(Block {
            column,
            kind,
            label,
            index: 0,
        });
        self.too_deep(line, column)
    }

    fn line(&mut self, n: usize, line: &[u8]) -> Result<(), TooDeep> {
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let blank = line[indent..].iter().all(|&b| is_space(b));
        if let Some(parent) = self.block_scalar {
            if blank || indent > parent {
                return Ok(());
            }
            self.block_scalar = None;
        }
        let mut i = indent;
        let mut at_value = true;
        if self.flow == 0 && self.quote.is_none() {
            if blank || line[indent] == b'#' {
                return Ok(());
            }
            if indent == 0 && (line.starts_with(b"---") || line.starts_with(b"...")) {
                // A new document (or the end of one): nothing is open any more.
                self.blocks.clear();
                i = 3;
            } else if indent == 0 && line[0] == b'%' {
                return Ok(()); // a directive
            } else {
                i = self.block_prefix(n, line, indent)?;
            }
        }
        self.scan(n, line, i, &mut at_value)
    }

    /// Block structure at the start of a line: closes what the indentation ends, opens the sequences
    /// of its `- ` (and `? `) markers. Returns where the content after the markers starts.
    fn block_prefix(&mut self, n: usize, line: &[u8], indent: usize) -> Result<usize, TooDeep> {
        while self.blocks.last().is_some_and(|b| b.column > indent) {
            self.blocks.pop();
        }
        let marker = |at: usize| {
            matches!(line.get(at), Some(b'-' | b'?'))
                && line.get(at + 1).is_none_or(|&b| is_space(b))
        };
        let mut i = indent;
        if marker(i) {
            match self.blocks.last_mut() {
                Some(b) if b.column == i && b.kind == Kind::Seq => b.index += 1,
                // A compact sequence under a key at the same column, or a new one.
                _ => self.push(i, Kind::Seq, String::new(), n)?,
            }
        } else if self
            .blocks
            .last()
            .is_some_and(|b| b.column == i && b.kind == Kind::Seq)
        {
            // A key at the column of a compact sequence: the sequence ended.
            self.blocks.pop();
        }
        // Further markers on the same line (`- - x`, `- ? x`) each open a sequence.
        while marker(i) {
            i += 1;
            while line.get(i).is_some_and(|&b| is_space(b)) {
                i += 1;
            }
            if marker(i) {
                self.push(i, Kind::Seq, String::new(), n)?;
            }
        }
        Ok(i)
    }

    /// A mapping key at `column` (the line's content): the mapping is new, or gets its next key.
    fn key(&mut self, n: usize, column: usize, label: String) -> Result<(), TooDeep> {
        match self.blocks.last_mut() {
            Some(b) if b.column == column && b.kind == Kind::Map => {
                b.label = label;
                Ok(())
            }
            _ => self.push(column, Kind::Map, label, n),
        }
    }

    /// Quoted scalars, comments, flow collections and block scalar headers from byte `i` on.
    fn scan(
        &mut self,
        n: usize,
        line: &[u8],
        mut i: usize,
        at_value: &mut bool,
    ) -> Result<(), TooDeep> {
        let content = i;
        let block_line = self.flow == 0 && self.quote.is_none();
        let mut key_seen = false;
        while i < line.len() {
            let b = line[i];
            if let Some(q) = self.quote {
                if q == b'"' && b == b'\\' {
                    i += 2;
                    continue;
                }
                if b == q {
                    if q == b'\'' && line.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    self.quote = None;
                    *at_value = false;
                }
                i += 1;
                continue;
            }
            let after_space = i == 0 || is_space(line[i - 1]);
            match b {
                b' ' | b'\t' => {}
                b'#' if after_space => return Ok(()), // a comment
                b'"' | b'\'' if *at_value => self.quote = Some(b),
                b'[' | b'{' if *at_value || self.flow > 0 => {
                    self.flow += 1;
                    self.too_deep(n, i)?;
                    *at_value = true;
                }
                b']' | b'}' if self.flow > 0 => {
                    self.flow -= 1;
                    *at_value = false;
                }
                b',' if self.flow > 0 => *at_value = true,
                b':' if line.get(i + 1).is_none_or(|&c| is_space(c))
                    || (self.flow > 0
                        && !*at_value
                        && i > 0
                        && matches!(line[i - 1], b'"' | b'\'')) =>
                {
                    if self.flow == 0 && block_line && !key_seen {
                        key_seen = true;
                        let label = String::from_utf8_lossy(&line[content..i]);
                        let label = label.trim().trim_matches(['"', '\'']).to_owned();
                        self.key(n, content, label)?;
                    }
                    *at_value = true;
                }
                b'-' | b'?' if *at_value && line.get(i + 1).is_none_or(|&c| is_space(c)) => {}
                b'|' | b'>' if *at_value && self.flow == 0 => {
                    // A block scalar: the rest of the line is its header, the lines indented more
                    // than the innermost container are its content.
                    self.block_scalar = Some(self.blocks.last().map_or(0, |b| b.column));
                    return Ok(());
                }
                b'&' | b'!' | b'*' if *at_value => {
                    // An anchor, tag or alias: a value may still follow.
                    while line.get(i + 1).is_some_and(|&c| !is_space(c)) {
                        i += 1;
                    }
                }
                _ => *at_value = false,
            }
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_err(text: &str, limit: usize) -> TooDeep {
        check_depth(text, limit).expect_err("too deep")
    }

    /// The smallest limit `text` passes: its depth as the scan counts it.
    fn depth(text: &str) -> usize {
        (0..1000)
            .find(|&l| check_depth(text, l).is_ok())
            .expect("depth below 1000")
    }

    #[test]
    fn depth_of_ordinary_documents() {
        let table: &[(&str, usize)] = &[
            ("", 0),
            ("# only a comment\n", 0),
            ("plain scalar\n", 0),
            ("version: v1alpha1\n", 1),
            ("a:\n  b:\n    c: 1\n  d: 2\ne: 3\n", 3),
            ("a:\n- x\n- y\n", 2),
            ("a:\n  - x\n  - y\nb: 1\n", 2),
            ("a:\n- b: 1\n  c:\n    d: 1\n", 4),
            ("- - - x\n", 3),
            ("a: [1, 2]\n", 2),
            ("a: {b: [1, {c: 2}]}\n", 4),
            ("a: [\n  [1],\n  [2]\n]\n", 3),
            ("{\"a\":[1]}\n", 2),
            // Multi-line plain scalars do not open anything.
            ("a: this is\n  continued\n", 1),
            ("---\na:\n  b: 1\n---\nc: 1\n", 2),
        ];
        for (text, want) in table {
            assert_eq!(depth(text), *want, "{text:?}");
        }
    }

    #[test]
    fn brackets_that_are_not_flow_collections_do_not_count() {
        let table: &[&str] = &[
            "a: \"[[[[[[\"\n",
            "a: '[[[[[[ it''s [[[['\n",
            "a: x[[[[[[\n",
            "a: 1 # [[[[[[\n",
            "# [[[[[[\n",
            "a: |\n  [[[[[[\n  {{{{{{\nb: 1\n",
            "a: >-\n    [[[[[[\n\n    [[[[\n",
            "- |\n  [[[[[[\n",
            "a: \"multi\n  line [[[[[[\n  \\\" still [[[[\"\n",
            "url: http://x/[[[[[[\n",
        ];
        for text in table {
            assert!(depth(text) <= 2, "{text:?}: {}", depth(text));
        }
    }

    #[test]
    fn deep_flow_and_block_nesting_is_caught_where_it_happens() {
        let deep = format!(
            "version: v1alpha1\nmachine:\n  network: {}{}\n",
            "[".repeat(40),
            "]".repeat(40)
        );
        let err = depth_err(&deep, 32);
        assert_eq!(
            err,
            TooDeep {
                line: 3,
                column: 12 + 30,
                depth: 33,
                path: "machine.network".to_owned(),
                in_flow: true,
            }
        );
        let maps = format!("a: {}x{}\n", "{a: ".repeat(50), "}".repeat(50));
        assert_eq!(depth_err(&maps, 32).depth, 33);
        // Block nesting, by indentation and by inline markers.
        let mut block = String::new();
        for i in 0..40 {
            block.push_str(&" ".repeat(i * 2));
            block.push_str(&format!("k{i}:\n"));
        }
        let err = depth_err(&block, 32);
        assert_eq!((err.line, err.depth, err.in_flow), (33, 33, false));
        assert!(err.path.starts_with("k0.k1.k2."), "{}", err.path);
        assert!(err.path.ends_with(".k32"), "{}", err.path);
        assert_eq!(depth_err(&format!("{}x\n", "- ".repeat(40)), 32).depth, 33);
        // Sequence indices name the item.
        let items = format!("a:\n- 1\n- 2\n- {}\n", "[".repeat(40));
        assert_eq!(depth_err(&items, 32).path, "a[2]");
    }

    #[test]
    fn quotes_and_comments_cannot_hide_flow_nesting() {
        // A quote inside a plain scalar is text; the brackets after the line are real.
        let tricks = [
            format!("a: it's\nb: {}\n", "[".repeat(40)),
            format!("a: x #'\nb: {}\n", "[".repeat(40)),
            format!("a: x#\nb: {}\n", "[".repeat(40)),
            format!("a: 'done'\nb: {}\n", "[".repeat(40)),
            format!("a: |\n  text\nb: {}\n", "[".repeat(40)),
            format!("a: !!seq {}\n", "[".repeat(40)),
            format!("a: &x {}\n", "[".repeat(40)),
            format!("[a, 'b', \"c\", {}\n", "[".repeat(40)),
            format!("[x'y, {}\n", "[".repeat(40)),
        ];
        for text in &tricks {
            assert!(check_depth(text, 32).is_err(), "{text:?}");
        }
    }

    #[test]
    fn linear_in_the_size_of_the_text() {
        // 1 MiB of nesting is refused at once, and 1 MiB of ordinary text passes through quickly.
        let start = std::time::Instant::now();
        let deep = "[".repeat(1 << 20);
        assert_eq!(depth_err(&deep, 32).column, 33);
        let wide = "a: [1, 2, {b: c}]\n".repeat((1 << 20) / 18);
        assert!(check_depth(&wide, 32).is_ok());
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}

//! How YAML text becomes a `serde_yaml::Value`, for the config file and the web config file
//! alike, with bounds on memory and time that hold for any input:
//!
//! - Size: at most [`MAX_BYTES`]. [`read_file`] reads at most one byte more than that, so
//!   `/dev/zero`, a FIFO or a 200 MB file costs no more than a file at the limit.
//! - Nesting: at most [`MAX_DEPTH`] levels, first by a pre-scan of the text before serde_yaml
//!   sees it ([`too_deep`], which says what it counts), then exactly, with aliases expanded,
//!   while values are counted.
//! - Aliases: serde_yaml 0.9 stops a document after 100 alias jumps per event it holds. That
//!   stops the classic "billion laughs" (aliases of aliases), but not one large anchor named
//!   by many aliases: a 700 kB file, a list of 200,000 items used 100,000 times, expands to
//!   2·10¹⁰ values and runs out of memory. So the document is walked once without being built,
//!   counting its values with aliases expanded, and refused past [`MAX_VALUES`]; only then is
//!   the `Value` built, at most that large.
//!
//! A refusal is a [`Problem`] without a path, so it reads like any other config problem, under
//! the line that names the file.

use std::cell::Cell;
use std::fmt;
use std::io::Read as _;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};
use serde_yaml::Value;

use super::{ConfigError, Problem};

/// The largest config file, in bytes: 1 MiB.
pub const MAX_BYTES: usize = 1 << 20;
/// The deepest nesting of mappings and lists in a config file.
pub const MAX_DEPTH: usize = 64;
/// The most values (scalars, lists and mappings) a document may hold with its aliases
/// expanded: a quarter of [`MAX_BYTES`]. A real config spends about ten bytes a value (a name
/// in a list), so only aliases or a file of bare punctuation come near it; its `Value` takes
/// tens of MB at most.
pub const MAX_VALUES: usize = MAX_BYTES / 4;

/// Reads the config file at `path` as UTF-8 text, refusing it unread past [`MAX_BYTES`].
pub fn read_file(path: &Path) -> Result<String, ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    let refused = |problem: Problem| ConfigError::Invalid {
        path: path.to_owned(),
        problems: vec![problem],
    };
    if bytes.len() > MAX_BYTES {
        return Err(refused(too_large()));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = 1 + valid.iter().filter(|b| **b == b'\n').count();
        refused(Problem {
            path: String::new(),
            message: format!("is not UTF-8 text: line {line} holds a byte that is not"),
        })
    })
}

/// Parses YAML text into a value, once it is known to be within the bounds above.
pub fn parse(text: &str) -> Result<Value, Problem> {
    let refusal = |message: String| Problem {
        path: String::new(),
        message,
    };
    if text.len() > MAX_BYTES {
        return Err(too_large());
    }
    if let Some(line) = too_deep(text, MAX_DEPTH) {
        return Err(refusal(format!(
            "refused before parsing: it nests deeper than the limit of {MAX_DEPTH} levels (line {line})"
        )));
    }
    let invalid = |e: serde_yaml::Error| refusal(format!("invalid YAML: {e}"));
    let count = Count::default();
    let walk = Walk {
        count: &count,
        depth: 0,
    };
    // Where the walk stops is no help (a point inside what an alias repeats), so it is not told.
    if let Err(e) = walk.deserialize(serde_yaml::Deserializer::from_str(text)) {
        return Err(match count.refused.get() {
            Some(Limit::Values) => refusal(format!(
                "refused: with its aliases expanded it holds more than the limit of {MAX_VALUES} values"
            )),
            Some(Limit::Depth) => refusal(format!(
                "refused: with its aliases expanded it nests deeper than the limit of {MAX_DEPTH} levels"
            )),
            None => invalid(e),
        });
    }
    serde_yaml::from_str(text).map_err(invalid)
}

fn too_large() -> Problem {
    Problem {
        path: String::new(),
        message: format!(
            "refused before parsing: it is larger than the limit of 1 MiB ({MAX_BYTES} bytes)"
        ),
    }
}

/// The line (from 1) where `text` first nests deeper than `max` levels, if it does, by a scan
/// of its lines that does not parse YAML. What it counts, at each point of the text:
///
/// - block levels: the lines above with less indentation that hold a key (`key:`) or an entry
///   (`- `, `? `), one level each; a `- ` entry at the indentation of the key it belongs to
///   is a level of its own, and so is each of several `- ` on one line (`- - x`);
/// - plus flow levels: the `[` and `{` that open a flow collection and are not yet closed.
///
/// Comments, quoted scalars and the lines of block scalars (`|`, `>`) are skipped, so brackets
/// or indentation inside them count for nothing. This is the number of mappings and lists
/// around each value, for the YAML a person writes; a bracket inside a plain scalar of a flow
/// collection, or an indentation that YAML would reject, may make it differ by a level or so.
/// The exact count, aliases included, is checked when the document is walked.
pub fn too_deep(text: &str, max: usize) -> Option<usize> {
    let mut scan = Scan::default();
    for (n, line) in text.lines().enumerate() {
        if scan.line(line, max) {
            return Some(n + 1);
        }
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Mapping,
    Sequence,
}

#[derive(Debug, Default)]
struct Scan {
    /// Open block collections: the column of their keys or dashes, and which they are.
    blocks: Vec<(usize, Block)>,
    /// Open flow collections.
    flow: usize,
    /// An open quoted scalar, which may run over lines: its quote character.
    quote: Option<char>,
    /// Inside a block scalar: lines indented past this column are its content.
    block_scalar: Option<usize>,
}

impl Scan {
    /// Takes one line; true when it nests deeper than `max`.
    fn line(&mut self, line: &str, max: usize) -> bool {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = line[indent..].trim_end();
        if let Some(parent) = self.block_scalar {
            if content.is_empty() || indent > parent {
                return false;
            }
            self.block_scalar = None;
        }
        let mut start = indent;
        // The column of the innermost key or entry this line opens, for a block scalar.
        let mut owner = indent;
        if self.quote.is_none() && self.flow == 0 {
            if content.is_empty() || content.starts_with('#') || content.starts_with('%') {
                return false;
            }
            if indent == 0 && (is_token(content, "---") || is_token(content, "...")) {
                self.blocks.clear();
                start = 3;
            } else {
                (start, owner) = self.block_structure(line, indent, max);
            }
            if self.blocks.len() > max {
                return true;
            }
        }
        self.characters(line, start, owner, max)
    }

    /// Places the keys and entries that start the line; returns where its node starts and the
    /// column of the innermost key or entry.
    fn block_structure(&mut self, line: &str, indent: usize, max: usize) -> (usize, usize) {
        while self.blocks.last().is_some_and(|(col, _)| *col > indent) {
            self.blocks.pop();
        }
        let mut col = indent;
        let mut owner = indent;
        let mut first = true;
        // Past `max`, the line is refused whatever follows.
        while self.blocks.len() <= max {
            let here = &line[col..];
            let kind = if is_token(here, "-") {
                Block::Sequence
            } else if is_token(here, "?") || has_key(here) {
                Block::Mapping
            } else {
                return (col, owner);
            };
            if first {
                self.place(col, kind);
            } else {
                self.blocks.push((col, kind));
            }
            first = false;
            owner = col;
            if kind == Block::Mapping && !here.starts_with('?') {
                // A key: what follows on the line is its value, scanned as characters.
                return (col, owner);
            }
            let after = &here[1..];
            col += 1 + (after.len() - after.trim_start_matches([' ', '\t']).len());
        }
        (col, owner)
    }

    /// A key or entry at the line's indentation `col`: the collection it belongs to, open or new.
    fn place(&mut self, col: usize, kind: Block) {
        if let Some(&(top, top_kind)) = self.blocks.last() {
            if top == col && top_kind == kind {
                return;
            }
            if top == col && top_kind == Block::Sequence && kind == Block::Mapping {
                // A key at the column of a list's dashes ends that list (it was the value of
                // the key above it, written at the key's indentation).
                self.blocks.pop();
                if self.blocks.last() == Some(&(col, Block::Mapping)) {
                    return;
                }
            }
        }
        self.blocks.push((col, kind));
    }

    /// Scans the rest of the line from `start` for quotes, flow brackets, comments and a block
    /// scalar header; true when the flow nesting goes past `max`.
    fn characters(&mut self, line: &str, start: usize, owner: usize, max: usize) -> bool {
        // In block context, whether the next token starts a node (where `[`, `{` and quotes
        // open something); in a flow collection they always do.
        let mut node_start = true;
        let mut previous = ' ';
        let mut escaped = false;
        let mut code_end = line.len();
        for (i, c) in line[start..].char_indices() {
            match self.quote {
                Some('"') => {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        self.quote = None;
                    }
                    previous = c;
                    continue;
                }
                Some(_) => {
                    if escaped {
                        // The second quote of `''`.
                        escaped = false;
                    } else if c == '\'' && line[start + i + 1..].starts_with('\'') {
                        escaped = true;
                    } else if c == '\'' {
                        self.quote = None;
                    }
                    previous = c;
                    continue;
                }
                None => {}
            }
            let spaced = previous == ' ' || previous == '\t';
            let in_flow = self.flow > 0;
            match c {
                '#' if spaced => {
                    code_end = start + i;
                    break;
                }
                '"' | '\''
                    if (in_flow && (spaced || matches!(previous, '[' | '{' | ',' | ':')))
                        || (!in_flow && node_start) =>
                {
                    self.quote = Some(c);
                    node_start = false;
                }
                '[' | '{' if in_flow || node_start => {
                    self.flow += 1;
                    if self.blocks.len() + self.flow > max {
                        return true;
                    }
                }
                ']' | '}' if in_flow => self.flow -= 1,
                ' ' | '\t' => {}
                // An anchor or a tag comes before the node it names.
                '&' | '!' if node_start && spaced => {}
                ':' if !in_flow && line[start + i + 1..].starts_with([' ', '\t']) => {
                    node_start = true;
                }
                // The first character of a plain scalar.
                _ if !in_flow && spaced => node_start = false,
                _ => {}
            }
            previous = c;
        }
        if self.quote.is_none() && self.flow == 0 {
            let code = line[..code_end].trim_end();
            let last = code.rsplit([' ', '\t']).next().unwrap_or_default();
            let header = last.starts_with(['|', '>'])
                && last[1..]
                    .chars()
                    .all(|c| matches!(c, '-' | '+' | '1'..='9'));
            if header && code.len() >= start {
                self.block_scalar = Some(owner);
            }
        }
        false
    }
}

/// Whether `text` starts with the indicator `token`, followed by a space, a tab or the end.
fn is_token(text: &str, token: &str) -> bool {
    text.strip_prefix(token)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

/// Whether `text` (a line from where its node starts) is a block mapping key: a `:` followed by
/// a space, a tab or the end, before any comment, outside quotes, not in a flow collection.
fn has_key(text: &str) -> bool {
    if text.starts_with(['[', '{', '#', '|', '>']) {
        return false;
    }
    let rest = if text.starts_with(['"', '\'']) {
        match quoted_end(text) {
            Some(end) => &text[end..],
            None => return false,
        }
    } else {
        text
    };
    let mut previous = ' ';
    for (i, c) in rest.char_indices() {
        if c == '#' && (previous == ' ' || previous == '\t') {
            return false;
        }
        if c == ':' && (rest[i + 1..].is_empty() || rest[i + 1..].starts_with([' ', '\t'])) {
            return true;
        }
        previous = c;
    }
    false
}

/// Where the quoted scalar that starts `text` ends (the byte after its closing quote), if it
/// ends on this line: `''` in single quotes and `\` escapes in double quotes are not its end.
fn quoted_end(text: &str) -> Option<usize> {
    let quote = text.chars().next()?;
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        if quote == '"' && c == '\\' {
            chars.next();
        } else if c == quote {
            if quote == '\'' && text[i + 1..].starts_with('\'') {
                chars.next();
            } else {
                return Some(i + 1);
            }
        }
    }
    None
}

/// Which bound the walk stopped at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    Values,
    Depth,
}

#[derive(Debug, Default)]
struct Count {
    values: Cell<usize>,
    refused: Cell<Option<Limit>>,
}

/// Walks a document without building it, counting its values with aliases expanded.
#[derive(Debug, Clone, Copy)]
struct Walk<'a> {
    count: &'a Count,
    /// Mappings and lists around the value walked.
    depth: usize,
}

impl Walk<'_> {
    fn value<E: de::Error>(self) -> Result<(), E> {
        let values = self.count.values.get() + 1;
        self.count.values.set(values);
        if values > MAX_VALUES {
            self.count.refused.set(Some(Limit::Values));
            return Err(E::custom("too many values"));
        }
        Ok(())
    }

    /// A mapping or list: counted, and the walk one level into it.
    fn collection<E: de::Error>(self) -> Result<Self, E> {
        self.value()?;
        if self.depth >= MAX_DEPTH {
            self.count.refused.set(Some(Limit::Depth));
            return Err(E::custom("nested too deep"));
        }
        Ok(Walk {
            depth: self.depth + 1,
            ..self
        })
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.value()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.value()
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.value()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.value()
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.value()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.value()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.value()
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.value()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.value()
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.value()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.collection()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.collection()?;
        while map.next_key_seed(inner)?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }

    /// A tagged value (`!Tag value`): the tag, then the value it tags.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (de::IgnoredAny, variant) = data.variant()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(text: &str) -> usize {
        (0..=MAX_DEPTH + 1)
            .find(|max| too_deep(text, *max).is_none())
            .unwrap_or(usize::MAX)
    }

    #[test]
    fn the_pre_scan_counts_mappings_and_lists() {
        for (text, levels) in [
            ("", 0),
            ("# only a comment\n", 0),
            ("a: 1\n", 1),
            ("a:\n  b:\n    c: 1\n", 3),
            ("a:\n- x\n- y\nb: 2\n", 2),
            ("a:\n  - x\n  - y\n", 2),
            ("- - - x\n", 3),
            ("- a: 1\n  b: 2\n- c\n", 2),
            ("a: [[1], {b: [2]}]\n", 4),
            ("[[[\n1\n]]]\n", 3),
            ("a: \"[[[[\"\nb: '{{{'\n", 1),
            ("a: |\n  [[[[\n    - - - -\n      deep: indented\nb: 1\n", 1),
            ("a: >-\n  x: y\n   z: w\n", 1),
            ("a: see [1] and {2}\n", 1),
            ("a: x # [[[[\n", 1),
            ("a: &anchor [1]\nb: !!seq [1]\n", 2),
            ("a: \"multi\n  line [[[ \\\" still\"\nb: 1\n", 1),
            // Escaped quotes in quoted keys: `''` and `\"`.
            ("''': ': []\n", 2),
            ("\"a\\\": [\": [1]\n", 2),
            ("'it''s': {a: 1}\n", 2),
            ("targets:\n  - region: us-east-1\n    jobs: [a, b]\n    discover:\n      jobs: {}\n", 5),
        ] {
            assert_eq!(depth(text), levels, "{text:?}");
        }
    }

    #[test]
    fn too_deep_names_the_line() {
        let mut text = String::new();
        for level in 0..70 {
            text.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
        }
        assert_eq!(too_deep(&text, 64), Some(65));
        let flow = format!("a: {}{}\n", "[".repeat(64), "]".repeat(64));
        assert_eq!(too_deep(&flow, 64), Some(1));
        assert_eq!(too_deep(&flow, 65), None);
    }

    #[test]
    fn deep_files_are_refused_before_parsing() {
        let flow = format!("{}{}", "[".repeat(65), "]".repeat(65));
        let problem = parse(&flow).unwrap_err();
        assert_eq!(
            problem.message,
            "refused before parsing: it nests deeper than the limit of 64 levels (line 1)"
        );
        assert!(parse(&format!("{}{}", "[".repeat(64), "]".repeat(64))).is_ok());
    }

    #[test]
    fn aliases_cannot_nest_past_the_limit() {
        // Each level is 40 deep as written; through the alias, 80.
        let text = format!(
            "a: &a {}1{}\nb: {}*a{}\n",
            "[".repeat(40),
            "]".repeat(40),
            "[".repeat(40),
            "]".repeat(40)
        );
        assert!(too_deep(&text, MAX_DEPTH).is_none());
        assert_eq!(
            parse(&text).unwrap_err().message,
            "refused: with its aliases expanded it nests deeper than the limit of 64 levels"
        );
    }

    #[test]
    fn wide_aliases_are_refused_by_their_values() {
        // 1,000 items named 1,000 times: a 5 kB file of a million values.
        let items = vec!["1"; 1000].join(",");
        let aliases = vec!["*a"; 1000].join(",");
        let text = format!("a: &a [{items}]\nb: [{aliases}]\n");
        assert_eq!(
            parse(&text).unwrap_err().message,
            "refused: with its aliases expanded it holds more than the limit of 262144 values"
        );
        // A few aliases, as a config uses them, are fine.
        let text = "std: &std {jobs: {}}\ntargets: [{discover: *std}, {discover: *std}]\n";
        assert!(parse(text).is_ok());
    }
}

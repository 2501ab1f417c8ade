//! Reading YAML exactly as Helm reads it. Helm reads values files with
//! sigs.k8s.io/yaml: go-yaml v2 decodes them (YAML 1.1 style: a plain `yes`
//! is a boolean, `010` is 8), and the result is turned into JSON (keys
//! become text, numbers become 64-bit floats). This reader follows those
//! rules on saphyr-parser's events: scalars (scalar.rs), anchors (the latest
//! definition counts), merge keys (only a plain or `!!merge`-tagged `<<`,
//! applied in document order; a list of mappings from its last item to its
//! first), duplicate keys (the last one counts), a leading byte order mark.
//! What Helm 3 and Helm 4 read differently (several documents, directives)
//! and what Helm reads at random (two keys that become the same text) is
//! refused. Alias expansion and nesting are bounded. Pure: no I/O.

pub mod lint;
pub mod scalar;
mod syntax;

use std::collections::HashMap;

use anyhow::Result;
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, Span, Tag};
use serde_yaml::{Mapping, Value};

use scalar::Resolved;

/// The largest input file binderctl reads, in bytes (16 MiB): values files
/// are a few KiB.
pub const MAX_INPUT_BYTES: usize = 16 << 20;
/// How many values aliases may add to one file in total (all its documents):
/// a small file whose aliases expand to millions of values is refused.
pub const MAX_ALIAS_VALUES: usize = 100_000;
/// How many values anchored nodes may hold in total (each is kept as a copy
/// for its aliases).
pub const MAX_ANCHORED_VALUES: usize = 1_000_000;
/// How deeply values may nest.
pub const MAX_DEPTH: usize = 256;
/// Notes kept per document; the rest are only counted.
const MAX_NOTES: usize = 50;
/// Integers beyond this are not held exactly by Helm (64-bit floats).
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// A document as Helm reads it, and what is worth telling the operator
/// about how Helm read it.
#[derive(Debug)]
pub struct Reading {
    pub value: Value,
    /// At most 50 notes; `notes_left_out` counts the others.
    pub notes: Vec<lint::Note>,
    pub notes_left_out: usize,
}

/// Read one values file (`name` is the file, for messages): one document
/// whose top level is a mapping (an empty file is an empty mapping). Error
/// messages give positions and keys, never a value's text (secret.yaml
/// holds a token).
pub fn parse_values(text: &str, name: &str) -> Result<Reading> {
    let mut documents = read_documents(text, name)?;
    if documents.iter().skip(1).any(|d| !d.value.is_null()) {
        anyhow::bail!(
            "{name}: holds several YAML documents (separated by ---); Helm 3 reads only the \
             first and Helm 4 merges them all: keep one document in the file"
        );
    }
    let mut reading = match documents.drain(..).next() {
        Some(first) => first,
        None => Reading {
            value: Value::Null,
            notes: Vec::new(),
            notes_left_out: 0,
        },
    };
    match reading.value {
        Value::Mapping(_) => {}
        Value::Null => reading.value = Value::Mapping(Mapping::new()),
        _ => anyhow::bail!(
            "{name}: the top level is not a mapping of keys; Helm needs `key: value` lines"
        ),
    }
    Ok(reading)
}

/// Read every document of `text` (a manifest, as kubectl reads it: the same
/// rules as Helm's). Empty documents are null.
pub fn read_documents(text: &str, name: &str) -> Result<Vec<Reading>> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if text.len() > MAX_INPUT_BYTES {
        anyhow::bail!("{name}: larger than {} MiB", MAX_INPUT_BYTES >> 20);
    }
    check_characters(text).map_err(|e| e.named(name))?;
    // A quoted string continued on a line indented no more than its key is
    // read by Helm (the continuation's leading white space is not part of
    // the text) and refused by saphyr-parser: such lines get more
    // indentation, one string at a time, and the text is read again.
    let mut reindented: Option<String> = None;
    for _ in 0..MAX_REINDENTED_STRINGS {
        let current = reindented.as_deref().unwrap_or(text);
        match read_text(current, name)? {
            Ok(documents) => return Ok(documents),
            Err((error, at)) => match reindent_quoted(current, at) {
                Some(next) => reindented = Some(next),
                None => return Err(error),
            },
        }
    }
    anyhow::bail!(
        "{name}: more than {MAX_REINDENTED_STRINGS} quoted strings continue on lines indented \
         no more than their keys; indent their continuation lines"
    )
}

/// How many quoted strings [`read_documents`] re-indents at most.
const MAX_REINDENTED_STRINGS: usize = 1000;

/// The error saphyr-parser gives for a quoted string's continuation line
/// indented no more than the block it is in.
const QUOTED_INDENTATION: &str = "invalid indentation in quoted scalar";

/// One reading of `text`: the documents, or (inner error) saphyr-parser's
/// refusal of a quoted string's indentation, with the string's position.
fn read_text(
    text: &str,
    name: &str,
) -> Result<std::result::Result<Vec<Reading>, (anyhow::Error, Marker)>> {
    let mut builder = Builder::default();
    // A byte order mark inside a line is text to Helm: it reaches
    // saphyr-parser as a private-use character the file does not hold,
    // and the scalars get it back.
    let with_stand_in;
    let text = match bom_stand_in(text) {
        Some(stand_in) => {
            builder.bom_stand_in = Some(stand_in);
            with_stand_in = text.replace('\u{FEFF}', &stand_in.to_string());
            with_stand_in.as_str()
        }
        None => text,
    };
    let mut quirks = Quirks::new(text);
    let mut syntax = syntax::Syntax::new(text);
    for event in Parser::new_from_str(text) {
        let (event, span) = match event {
            Ok(read) => read,
            Err(e) => {
                let at = Position::of(e.marker());
                let error = anyhow::anyhow!("{name}:{at}: not valid YAML: {}", e.info());
                if e.info() == QUOTED_INDENTATION {
                    return Ok(Err((error, *e.marker())));
                }
                return Err(error);
            }
        };
        syntax.event(&event, &span).map_err(|e| e.named(name))?;
        quirks.event(&event, &span).map_err(|e| e.named(name))?;
        builder
            .event(event, Position::of(&span.start))
            .map_err(|e| e.named(name))?;
    }
    syntax.finish().map_err(|e| e.named(name))?;
    quirks.finish().map_err(|e| e.named(name))?;
    builder
        .documents
        .into_iter()
        .map(|(value, mut notes)| {
            let mut path = Vec::new();
            let value = to_helm(value, &mut path, &mut notes)
                .map_err(|reason| anyhow::anyhow!("{name}: {reason}"))?;
            Ok(Reading {
                value,
                notes: notes.list,
                notes_left_out: notes.left_out,
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Ok)
}

/// `text` with the continuation lines of the quoted string that starts at
/// `at` indented to the opening quote's column (leading white space of a
/// quoted string's continuation lines is not part of its text, so the
/// text is the same); `None` when there is no such string to fix.
fn reindent_quoted(text: &str, at: Marker) -> Option<String> {
    let lines: Vec<&str> = text.split('\n').collect();
    let first = at.line().checked_sub(1)?;
    let quote_col = at.col();
    let opening: Vec<char> = lines.get(first)?.chars().collect();
    let quote = *opening.get(quote_col)?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    // Find the closing quote's line.
    let mut line = first;
    let mut chars: Vec<char> = opening[quote_col + 1..].to_vec();
    let last = loop {
        let mut i = 0;
        let mut closed = false;
        while i < chars.len() {
            match chars[i] {
                '\\' if quote == '"' => i += 1,
                '\'' if quote == '\'' && chars.get(i + 1) == Some(&'\'') => i += 1,
                c if c == quote => {
                    closed = true;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        if closed {
            break line;
        }
        line += 1;
        chars = lines.get(line)?.chars().collect();
    };
    if last == first {
        return None;
    }
    // A document marker inside the string: Helm's reader refuses it, and
    // indenting it would hide that.
    let marker = |l: &str| {
        (l.starts_with("---") || l.starts_with("..."))
            && l[3..]
                .chars()
                .next()
                .is_none_or(|c| matches!(c, ' ' | '\t' | '\r'))
    };
    if lines[first + 1..=last].iter().any(|l| marker(l)) {
        return None;
    }
    let pad = " ".repeat(quote_col + 1);
    let mut out = String::with_capacity(text.len() + (last - first) * pad.len());
    for (n, content) in lines.iter().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        if n > first && n <= last {
            out.push_str(&pad);
        }
        out.push_str(content);
    }
    Some(out)
}

/// A private-use character `text` does not hold, when it holds a byte
/// order mark (after the leading one).
fn bom_stand_in(text: &str) -> Option<char> {
    if !text.contains('\u{FEFF}') {
        return None;
    }
    ('\u{E000}'..='\u{F8FF}').find(|c| !text.contains(*c))
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    fn of(marker: &Marker) -> Self {
        Position {
            line: marker.line(),
            column: marker.col() + 1,
        }
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A problem at a position of the file.
struct ReadError {
    at: Position,
    reason: String,
}

impl ReadError {
    fn named(self, name: &str) -> anyhow::Error {
        anyhow::anyhow!("{name}:{}: {}", self.at, self.reason)
    }
}

fn fail<T>(at: Position, reason: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError {
        at,
        reason: reason.into(),
    })
}

/// Helm's YAML library refuses characters outside YAML's printable set, and
/// takes NEL, LS and PS for line breaks where YAML 1.2 readers do not; a
/// byte order mark at the start of a line (other than the file's first) is
/// skipped by Helm's reader, inside a line it is text to both. None of
/// those belongs in a values file as itself: write it escaped in double
/// quotes (`"\u2028"`).
fn check_characters(text: &str) -> Result<(), ReadError> {
    let mut at = Position { line: 1, column: 1 };
    for c in text.chars() {
        let problem = match c {
            '\u{85}' | '\u{2028}' | '\u{2029}' => Some("a line separator (NEL, LS or PS)"),
            // Inside a line it is text to both readers; at a line's start
            // Helm's reader skips it.
            '\u{FEFF}' if at.column == 1 => Some("a byte order mark at the start of a line"),
            '\u{FEFF}' => None,
            '\t' | '\n' | '\r' | ' '..='~' => None,
            '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}' => None,
            _ => Some("a control character"),
        };
        if let Some(what) = problem {
            let code = u32::from(c);
            return fail(
                at,
                format!(
                    "holds {what} (U+{code:04X}), which Helm reads differently or refuses; \
                     write it escaped in double quotes (\"\\u{code:04X}\") or remove it"
                ),
            );
        }
        if c == '\n' {
            at.line += 1;
            at.column = 1;
        } else {
            at.column += 1;
        }
        if c == '%' && at.column == 2 {
            return fail(
                Position {
                    line: at.line,
                    column: 1,
                },
                "a YAML directive (%YAML, %TAG): Helm 3 accepts it and Helm 4 refuses it; \
                 remove the line",
            );
        }
    }
    Ok(())
}

/// Where saphyr-parser (YAML 1.2) and Helm's reader part ways on syntax
/// both accept: the escape `\/` in double quotes (YAML 1.2 only; Helm
/// refuses it), and a block scalar (`|`, `>`) whose last line ends the file
/// without a line break (Helm 3 drops that line's break, Helm 4 keeps it).
struct Quirks<'a> {
    text: &'a str,
    /// Lines of `text`, split only when a `\/` may need looking at.
    lines: Option<Vec<&'a str>>,
    /// The last node read is a block scalar ending in a line break.
    last_is_block_with_break: Option<Position>,
}

impl<'a> Quirks<'a> {
    fn new(text: &'a str) -> Self {
        Quirks {
            text,
            lines: text.contains("\\/").then(|| text.split('\n').collect()),
            last_is_block_with_break: None,
        }
    }

    fn event(&mut self, event: &Event<'_>, span: &Span) -> Result<(), ReadError> {
        match event {
            Event::Scalar(value, style, ..) => {
                let block = matches!(style, ScalarStyle::Literal | ScalarStyle::Folded);
                self.last_is_block_with_break =
                    (block && value.ends_with('\n')).then(|| Position::of(&span.start));
                if *style == ScalarStyle::DoubleQuoted {
                    if let Some(lines) = &self.lines {
                        if has_slash_escape(&raw_text(lines, &span.start, &span.end)) {
                            return fail(
                                Position::of(&span.start),
                                "the escape \\/ in double quotes, which Helm refuses; write / itself",
                            );
                        }
                    }
                }
            }
            Event::Alias(_) | Event::SequenceStart(..) | Event::MappingStart(..) => {
                self.last_is_block_with_break = None;
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), ReadError> {
        let Some(at) = self.last_is_block_with_break else {
            return Ok(());
        };
        let last_line = self.text.rsplit('\n').next().unwrap_or("").trim();
        let content_ends_file = !last_line.is_empty()
            && !last_line.starts_with('#')
            && !matches!(last_line, "..." | "---");
        if content_ends_file && !self.text.ends_with(['\n', '\r']) {
            return fail(
                at,
                "the file ends inside this block scalar without a line break; Helm 3 and Helm \
                 4 read its last line differently: end the file with a line break",
            );
        }
        Ok(())
    }
}

/// The source between two markers (lines 1-based, columns in characters).
fn raw_text(lines: &[&str], start: &Marker, end: &Marker) -> String {
    let mut out = String::new();
    for line_number in start.line()..=end.line() {
        let Some(line) = lines.get(line_number.saturating_sub(1)) else {
            break;
        };
        let from = if line_number == start.line() {
            start.col()
        } else {
            0
        };
        let to = if line_number == end.line() {
            end.col()
        } else {
            usize::MAX
        };
        out.extend(line.chars().skip(from).take(to.saturating_sub(from)));
        out.push('\n');
    }
    out
}

/// Whether double-quoted source text escapes `/` (`\/`, not `\\/`).
fn has_slash_escape(raw: &str) -> bool {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.next() == Some('/') {
            return true;
        }
    }
    false
}

/// Notes, at most [`MAX_NOTES`]; the others are counted.
#[derive(Default)]
struct Notes {
    list: Vec<lint::Note>,
    left_out: usize,
}

impl Notes {
    /// Whether another note is kept (else it is counted as left out).
    fn has_room(&mut self) -> bool {
        if self.list.len() < MAX_NOTES {
            return true;
        }
        self.left_out += 1;
        false
    }
}

/// A value under construction, with what merges and bounds need.
#[derive(Clone)]
struct Node {
    value: Value,
    /// Values in it (itself included).
    size: usize,
    depth: usize,
    /// It is an alias: go-yaml merges a list of mappings only when written
    /// in place.
    from_alias: bool,
    /// It is a merge key (`<<`) in key position.
    merge_key: bool,
}

impl Node {
    fn leaf(value: Value) -> Self {
        Node {
            value,
            size: 1,
            depth: 1,
            from_alias: false,
            merge_key: false,
        }
    }
}

enum Key {
    Merge,
    Value(Value, String),
}

enum Collection {
    Sequence(Vec<Value>),
    Mapping(Mapping, Option<Key>),
}

struct Frame {
    collection: Collection,
    anchor: usize,
    size: usize,
    depth: usize,
    at: Position,
}

#[derive(Default)]
struct Builder {
    frames: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    alias_values: usize,
    anchored_values: usize,
    /// Finished documents and their notes.
    documents: Vec<(Value, Notes)>,
    notes: Notes,
    root: Option<Value>,
    /// The character that stands for a byte order mark inside the text
    /// while saphyr-parser reads it (it refuses one in plain and block
    /// scalars, which Helm reads as text).
    bom_stand_in: Option<char>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, at: Position) -> Result<(), ReadError> {
        match event {
            // Anchors are per document; the alias bound is per file.
            Event::DocumentStart(_) => self.anchors.clear(),
            Event::DocumentEnd => {
                let root = self.root.take().unwrap_or(Value::Null);
                self.documents.push((root, std::mem::take(&mut self.notes)));
            }
            Event::Scalar(text, style, anchor, tag) => {
                let text = match self.bom_stand_in {
                    Some(c) if text.contains(c) => text.replace(c, "\u{FEFF}").into(),
                    _ => text,
                };
                let node = self.scalar(&text, style, tag.as_deref(), at)?;
                self.finish(node, anchor, at)?;
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id) else {
                    return fail(at, "an alias (*name) to an anchor that is not finished yet");
                };
                let mut node = node.clone();
                node.from_alias = true;
                node.merge_key = false; // an alias is never a merge key
                self.alias_values += node.size;
                if self.alias_values > MAX_ALIAS_VALUES {
                    return fail(
                        at,
                        format!(
                            "aliases (*name) expand to more than {MAX_ALIAS_VALUES} values; \
                             refusing to expand them (is an anchored list referenced many times?)"
                        ),
                    );
                }
                self.add(node, at)?;
            }
            Event::SequenceStart(anchor, _) => {
                self.open(Collection::Sequence(Vec::new()), anchor, at)?
            }
            Event::MappingStart(anchor, _) => {
                self.open(Collection::Mapping(Mapping::new(), None), anchor, at)?
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(at)?,
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn open(
        &mut self,
        collection: Collection,
        anchor: usize,
        at: Position,
    ) -> Result<(), ReadError> {
        if self.frames.len() >= MAX_DEPTH {
            return fail(at, format!("values nest more than {MAX_DEPTH} levels deep"));
        }
        self.frames.push(Frame {
            collection,
            anchor,
            size: 1,
            depth: 1,
            at,
        });
        Ok(())
    }

    fn close(&mut self, at: Position) -> Result<(), ReadError> {
        let Some(frame) = self.frames.pop() else {
            return fail(at, "a collection ends that never started");
        };
        let value = match frame.collection {
            Collection::Sequence(items) => Value::Sequence(items),
            Collection::Mapping(map, _) => Value::Mapping(map),
        };
        let node = Node {
            value,
            size: frame.size,
            depth: frame.depth,
            from_alias: false,
            merge_key: false,
        };
        self.finish(node, frame.anchor, frame.at)
    }

    /// Record a finished node under its anchor, then add it to its parent.
    fn finish(&mut self, node: Node, anchor: usize, at: Position) -> Result<(), ReadError> {
        if anchor > 0 {
            // Each anchored node is kept as a copy: nested anchors copy the
            // same values again.
            self.anchored_values += node.size;
            if self.anchored_values > MAX_ANCHORED_VALUES {
                return fail(
                    at,
                    format!("anchors (&name) hold more than {MAX_ANCHORED_VALUES} values in total"),
                );
            }
            self.anchors.insert(anchor, node.clone());
        }
        self.add(node, at)
    }

    fn in_key_position(&self) -> bool {
        matches!(
            self.frames.last(),
            Some(Frame {
                collection: Collection::Mapping(_, None),
                ..
            })
        )
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        at: Position,
    ) -> Result<Node, ReadError> {
        let is_key = self.in_key_position();
        let core = tag.and_then(core_tag);
        if is_key
            && (core == Some("merge")
                || (tag.is_none() && style == ScalarStyle::Plain && text == "<<"))
        {
            let mut node = Node::leaf(Value::Null);
            node.merge_key = true;
            return Ok(node);
        }
        let value = match (tag, core) {
            (None, _) if style == ScalarStyle::Plain => {
                let resolved = scalar::resolve_plain(text);
                if !matches!(resolved, Resolved::Str | Resolved::Merge) {
                    // The path only for kept notes: it costs the depth.
                    let last_key = self.last_key();
                    if let Some(note) = lint::plain_scalar(text, &resolved, &last_key, is_key, at) {
                        if self.notes.has_room() {
                            self.notes.list.push(lint::Note {
                                path: self.path_text(),
                                ..note
                            });
                        }
                    }
                }
                resolved.into_value(text)
            }
            (None, _) => Value::String(text.into()),
            (Some(_), None) => Value::String(text.into()), // local tags: go-yaml keeps the text
            (Some(_), Some(core)) => {
                tagged_scalar(text, core).map_err(|reason| ReadError { at, reason })?
            }
        };
        Ok(Node::leaf(value))
    }

    /// The key whose value is being read, if any.
    fn last_key(&self) -> String {
        match self.frames.last().map(|f| &f.collection) {
            Some(Collection::Mapping(_, Some(Key::Value(_, text)))) => text.clone(),
            _ => String::new(),
        }
    }

    /// Where the scalar being read sits, for notes: `a.b[2]`.
    fn path_text(&self) -> String {
        let mut out = String::new();
        for frame in &self.frames {
            match &frame.collection {
                Collection::Sequence(items) => out.push_str(&format!("[{}]", items.len())),
                Collection::Mapping(_, Some(Key::Value(_, text))) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(text);
                }
                Collection::Mapping(_, Some(Key::Merge)) => out.push_str(".<<"),
                Collection::Mapping(_, None) => {}
            }
        }
        out
    }

    fn add(&mut self, node: Node, at: Position) -> Result<(), ReadError> {
        if node.depth > MAX_DEPTH {
            return fail(at, format!("values nest more than {MAX_DEPTH} levels deep"));
        }
        let Some(frame) = self.frames.last_mut() else {
            self.root = Some(node.value);
            return Ok(());
        };
        frame.size += node.size;
        frame.depth = frame.depth.max(node.depth + 1);
        match &mut frame.collection {
            Collection::Sequence(items) => items.push(node.value),
            Collection::Mapping(_, key @ None) => {
                *key = Some(match node.value {
                    _ if node.merge_key => Key::Merge,
                    Value::Sequence(_) | Value::Mapping(_) => {
                        return fail(at, "a list or mapping used as a key; Helm refuses it")
                    }
                    value => {
                        let text = scalar::key_text(&value).unwrap_or_else(|| "?".into());
                        Key::Value(value, text)
                    }
                });
            }
            Collection::Mapping(map, key) => match key.take() {
                Some(Key::Value(k, _)) => {
                    map.insert(k, node.value);
                }
                Some(Key::Merge) | None => merge(map, node, at)?,
            },
        }
        Ok(())
    }
}

/// The core-schema suffix of a tag (`str` for `!!str`).
fn core_tag(tag: &Tag) -> Option<&str> {
    if tag.is_yaml_core_schema() {
        Some(tag.suffix.as_str())
    } else {
        tag.suffix.strip_prefix("tag:yaml.org,2002:")
    }
}

/// A scalar with a core-schema tag, as go-yaml reads it: the tag forces
/// the type, and text that is not of that type is refused.
fn tagged_scalar(text: &str, core: &str) -> Result<Value, String> {
    let resolved = scalar::resolve_plain(text);
    let fits = match (core, &resolved) {
        ("str", _) => return Ok(Value::String(text.into())),
        ("binary", _) => {
            let bytes =
                scalar::decode_base64(text).ok_or("a !!binary value that is not valid base64")?;
            let text = String::from_utf8(bytes).map_err(|_| {
                "a !!binary value that is not UTF-8 text, which Helm cannot pass on"
            })?;
            return Ok(Value::String(text));
        }
        ("float", Resolved::Int(i)) => return Ok(Value::from(*i as f64)),
        ("float", Resolved::Uint(u)) => return Ok(Value::from(*u as f64)),
        ("int", Resolved::Int(_) | Resolved::Uint(_))
        | ("float", Resolved::Float(_))
        | ("bool", Resolved::Bool(_))
        | ("null", Resolved::Null)
        | ("timestamp", Resolved::Timestamp) => true,
        ("int" | "float" | "bool" | "null" | "timestamp", _) => false,
        ("merge", _) => return Err("a !!merge tag outside a mapping key".into()),
        (other, _) => return Err(format!("the tag !!{other}, which binderctl does not read")),
    };
    if fits {
        Ok(resolved.into_value(text))
    } else {
        Err(format!(
            "a value tagged !!{core} that is {}; Helm refuses it",
            resolved.kind()
        ))
    }
}

/// go-yaml's merge: a mapping's entries overwrite what is there; a list of
/// mappings (written in place, not an alias) is merged from its last item
/// to its first, so earlier items win.
fn merge(map: &mut Mapping, node: Node, at: Position) -> Result<(), ReadError> {
    const NEEDS: &str = "a merge key (<<) needs a mapping, an alias of one, or a list of them";
    let sources = match node.value {
        Value::Mapping(m) => vec![m],
        Value::Sequence(items) if !node.from_alias => items
            .into_iter()
            .rev()
            .map(|item| match item {
                Value::Mapping(m) => Ok(m),
                _ => fail(at, NEEDS),
            })
            .collect::<Result<_, _>>()?,
        _ => return fail(at, NEEDS),
    };
    for source in sources {
        for (k, v) in source {
            map.insert(k, v);
        }
    }
    Ok(())
}

/// The JSON conversion Helm applies after decoding: keys become text (two
/// keys with the same text are refused: Helm keeps one at random), NaN and
/// infinities are refused (JSON has none), integers beyond 2^53 are noted.
fn to_helm(value: Value, path: &mut Vec<String>, notes: &mut Notes) -> Result<Value, String> {
    let at = |path: &[String]| {
        if path.is_empty() {
            return "the top level".to_string();
        }
        let mut out = String::new();
        for segment in path {
            if !out.is_empty() && !segment.starts_with('[') {
                out.push('.');
            }
            out.push_str(segment);
        }
        out
    };
    Ok(match value {
        Value::Mapping(map) => {
            let mut out = Mapping::new();
            let mut originals: HashMap<String, Value> = HashMap::new();
            for (key, value) in map {
                let refused = || {
                    format!(
                        "{}: a key Helm refuses ({}); quote it to make it text",
                        at(path),
                        key_description(&key)
                    )
                };
                let Some(text) = scalar::key_text(&key) else {
                    return Err(refused());
                };
                if let Some(first) = originals.get(&text) {
                    return Err(format!(
                        "{}: keys {} and {} both reach Helm as the key {text:?}, and Helm keeps \
                         one of them at random; remove or rename one",
                        at(path),
                        key_description(first),
                        key_description(&key)
                    ));
                }
                path.push(text.clone());
                let value = to_helm(value, path, notes)?;
                path.pop();
                originals.insert(text.clone(), key);
                out.insert(Value::String(text), value);
            }
            Value::Mapping(out)
        }
        Value::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                path.push(format!("[{i}]"));
                out.push(to_helm(item, path, notes)?);
                path.pop();
            }
            Value::Sequence(out)
        }
        Value::Number(n) if n.as_f64().is_some_and(|f| !f.is_finite()) && n.is_f64() => {
            return Err(format!(
                "{}: .inf or .nan, which Helm refuses (JSON has no such number); quote it for text",
                at(path)
            ))
        }
        Value::Number(n) if !n.is_f64() => {
            let magnitude = n.as_u64().or_else(|| n.as_i64().map(i64::unsigned_abs));
            if magnitude.is_some_and(|m| m > MAX_EXACT_INTEGER) && notes.has_room() {
                notes.list.push(lint::Note::imprecise(&at(path), &n));
            }
            Value::Number(n)
        }
        other => other,
    })
}

/// A key for messages: `1` (a number), `"1"` (text), `true` (a boolean).
fn key_description(key: &Value) -> String {
    match key {
        Value::String(s) => format!("{s:?} (text)"),
        Value::Bool(b) => format!("{b} (a boolean)"),
        Value::Number(n) => format!("{n} (a number)"),
        Value::Null => "null".into(),
        _ => "a collection".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> Value {
        parse_values(yaml, "f.yaml").unwrap().value
    }

    fn json(yaml: &str) -> String {
        serde_json::to_string(&read(yaml)).unwrap()
    }

    fn refused(yaml: &str) -> String {
        format!("{:#}", parse_values(yaml, "f.yaml").unwrap_err())
    }

    #[test]
    fn unquoted_yes_is_true_as_for_helm() {
        assert_eq!(
            json("use_registry: yes\nb: off\nc: yEs\n"),
            r#"{"use_registry":true,"b":false,"c":"yEs"}"#
        );
    }

    #[test]
    fn chained_merges_leave_no_literal_merge_key() {
        let yaml = "base: &base {x: 1}\nmid: &mid {<<: *base, w: 2}\nc: {<<: *mid, z: 3}\n";
        assert_eq!(read(yaml)["c"], read("{x: 1, w: 2, z: 3}"));
    }

    #[test]
    fn a_quoted_merge_key_is_a_plain_key() {
        assert_eq!(json("c: {\"<<\": {x: 1}, '<<': 2}\n"), r#"{"c":{"<<":2}}"#);
        assert_eq!(json("c: {!!merge <<: {x: 1}}\n"), r#"{"c":{"x":1}}"#);
    }

    #[test]
    fn a_redefined_anchor_means_its_latest_definition() {
        assert_eq!(
            json("a: &x 1\nb: &x 2\nc: &y 3\nd: *x\n"),
            r#"{"a":1,"b":2,"c":3,"d":2}"#
        );
    }

    #[test]
    fn merges_apply_in_document_order_and_lists_from_the_last_item() {
        assert_eq!(
            json("c: {a: 1, <<: {a: 2, b: 2}}"),
            r#"{"c":{"a":2,"b":2}}"#
        );
        assert_eq!(
            json("c: {<<: {a: 2, b: 2}, a: 1}"),
            r#"{"c":{"a":1,"b":2}}"#
        );
        assert_eq!(
            json("c: {<<: [{a: 1}, {a: 2, b: 2}]}"),
            r#"{"c":{"a":1,"b":2}}"#
        );
        assert!(refused("x: &x [{a: 1}]\nc: {<<: *x}\n").contains("f.yaml:2:9: a merge key"));
        assert!(refused("c: {<<: 1}\n").contains("needs a mapping"));
    }

    #[test]
    fn duplicate_keys_keep_the_last_and_keys_become_text() {
        assert_eq!(
            json("a: 1\na: 2\ny: 3\nyes: 4\n010: 5\n1.5: 6\n"),
            r#"{"a":2,"true":4,"8":5,"1.5":6}"#
        );
        let err = refused("x:\n  1: a\n  \"1\": b\n");
        assert!(
            err.contains("x: keys 1 (a number) and \"1\" (text) both reach Helm as the key \"1\""),
            "{err}"
        );
        assert!(refused("~: 1\n").contains("a key Helm refuses (null)"));
    }

    #[test]
    fn a_byte_order_mark_at_the_start_is_skipped() {
        assert_eq!(json("\u{FEFF}a: 1\n"), r#"{"a":1}"#);
        assert!(refused("a: 1\n\u{FEFF}b: 2\n").contains("f.yaml:2:1: holds a byte order mark"));
    }

    #[test]
    fn several_documents_are_refused_unless_the_rest_are_empty() {
        assert_eq!(json("a: 1\n---\n"), r#"{"a":1}"#);
        assert!(refused("a: 1\n---\nb: 2\n").contains("Helm 3 reads only the first"));
        assert!(refused("---\n---\nb: 2\n").contains("several YAML documents"));
        assert!(refused("%YAML 1.1\n---\na: 1\n").contains("f.yaml:1:1: a YAML directive"));
    }

    #[test]
    fn what_helm_cannot_hold_is_refused_or_noted() {
        assert!(refused("a: {b: .inf}\n").contains("f.yaml: a.b: .inf or .nan"));
        assert!(refused("a: [.nan]\n").contains("a[0]: .inf or .nan"));
        let reading = parse_values("a: 12345678901234567890\n", "f").unwrap();
        assert_eq!(reading.notes.len(), 1);
        assert_eq!(json("a: 1e400\n"), r#"{"a":"1e400"}"#);
    }

    #[test]
    fn line_separators_and_control_characters_are_refused_with_their_position() {
        assert!(refused("a: x\u{2028}y\n").contains("f.yaml:1:5: holds a line separator"));
        assert!(refused("a: \"x\u{85}\"\n").contains("(U+0085)"));
        assert!(refused("a: b\nc: x\u{1}\n").contains("f.yaml:2:5: holds a control character"));
        assert_eq!(json("a: \"\\u2028\\x85\"\n"), "{\"a\":\"\u{2028}\u{85}\"}");
    }

    #[test]
    fn tags_as_go_yaml_reads_them() {
        let yaml = "a: !!str 010\nb: !!int \"12\"\nc: !!binary aGVsbG8=\nd: !foo bar\ne: !!float 1\nf: !!bool \"on\"\n";
        assert_eq!(
            json(yaml),
            r#"{"a":"010","b":12,"c":"hello","d":"bar","e":1.0,"f":true}"#
        );
        assert!(
            refused("m: !!int 1.5\n").contains("f.yaml:1:4: a value tagged !!int that is a number")
        );
    }

    #[test]
    fn alias_expansion_and_nesting_are_bounded() {
        let mut bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n".to_string();
        for i in 0..6 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            bomb.push_str(&format!(
                "l{i}: &l{i} [{}]\n",
                vec![format!("*{prev}"); 10].join(", ")
            ));
        }
        assert!(bomb.len() < 1000);
        assert!(refused(&bomb).contains("aliases (*name) expand to more than 100000 values"));
        // Nested anchors copy the same values again: bounded too.
        let big = format!(
            "a: {}[{}]{}\n",
            "&n [".repeat(200),
            vec!["x"; 10_000].join(","),
            "]".repeat(200)
        );
        let err = refused(&big);
        assert!(
            err.contains("anchors (&name) hold more than 1000000 values"),
            "{err}"
        );
        // The bound is per file, not per document.
        let small =
            "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n";
        let many = vec![small; 1000].join("---\n");
        let err = format!("{:#}", read_documents(&many, "m.yaml").unwrap_err());
        assert!(err.contains("aliases (*name) expand to more than"), "{err}");
        let deep = format!("a:\n{}x\n", "- ".repeat(300));
        assert!(refused(&deep).contains("nest more than 256 levels"));
        // Deep through aliases, each level small.
        let mut chain = format!("a0: &a0 {}{}\n", "[".repeat(250), "]".repeat(250));
        for i in 1..10 {
            chain.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
        }
        assert!(refused(&chain).contains("nest more than 256 levels"));
    }

    #[test]
    fn errors_never_quote_values() {
        for yaml in [
            "a: \"tok3n\n",
            "a: !!int tok3n\n",
            "a: &x tok3n\nb: {<<: *x}\n",
        ] {
            assert!(!refused(yaml).contains("tok3n"), "{}", refused(yaml));
        }
    }

    #[test]
    fn syntax_helm_reads_otherwise_is_refused() {
        assert!(refused("a: \"x\\/y\"\n").contains("f.yaml:1:4: the escape \\/ in double quotes"));
        assert_eq!(
            json("a: \"x\\\\/y\"\nb: x\\/y\n"),
            r#"{"a":"x\\/y","b":"x\\/y"}"#
        );
        for yaml in ["a: |\n  x\n  y", "a: >+\n  x", "- |2\n    x"] {
            assert!(
                refused(yaml).contains("ends inside this block scalar"),
                "{yaml:?}"
            );
        }
        for yaml in [
            "a: |\n  x\n  y\n",
            "a: |-\n  x",
            "a: |\n  x\n# c",
            "a: |\n  x\nb: 1",
            "a: \"x\n  y\"",
        ] {
            assert!(parse_values(yaml, "f").is_ok(), "{yaml:?}");
        }
    }

    #[test]
    fn notes_are_bounded() {
        let yaml: String = (0..200).map(|i| format!("k{i}: n\nt{i}: true\n")).collect();
        let reading = parse_values(&yaml, "f").unwrap();
        assert_eq!(reading.notes.len(), 50);
        assert_eq!(reading.notes_left_out, 150);
        assert_eq!(reading.notes[49].path, "k49");
    }

    #[test]
    fn the_top_level_must_be_a_mapping() {
        assert_eq!(json(""), "{}");
        assert_eq!(json("# only a comment\n"), "{}");
        assert!(refused("- a\n").contains("f.yaml: the top level is not a mapping"));
    }
}

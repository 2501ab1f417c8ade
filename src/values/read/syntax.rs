//! Syntax both readers accept but go-yaml v2 (Helm's reader) reads another
//! way or refuses, found on saphyr-parser's events and the source text:
//! anchor names beyond go-yaml's letters, digits, `_` and `-`; inside flow
//! collections (`[...]`, `{...}`) a `?` in plain text, plain text starting
//! with `>` or `|`, a `:` right before `,` `]` `}` (`{a:}` is the key `a:`
//! to Helm) and an implicit key over two lines; tabs where go-yaml refuses
//! them (in the indentation, after `-` or `?`, a line holding only a tab);
//! text after a `---` document marker (Helm 4 refuses `--- ~`). Each is
//! refused with its line and column. Pure.

use saphyr_parser::{Event, ScalarStyle, Span};

use super::{fail, Position, ReadError};

/// An open collection.
struct Open {
    flow: bool,
    mapping: bool,
    /// go-yaml's indentation for a block collection (its keys' or dashes'
    /// column, 0-based).
    indent: usize,
    /// Nodes read in it so far (in a mapping, even: a key comes next).
    children: usize,
}

/// Where the previous event ended, and what go-yaml lets follow it.
struct Previous {
    line: usize,
    col: usize,
    /// A plain scalar in block context ended there: go-yaml's scanner goes
    /// on over the blank lines after it, where a tab beyond this indent is
    /// allowed (`None`: not a plain scalar).
    plain_indent: Option<isize>,
}

pub struct Syntax<'a> {
    lines: Vec<&'a str>,
    open: Vec<Open>,
    previous: Option<Previous>,
}

fn at(line: usize, col: usize) -> Position {
    Position {
        line,
        column: col + 1,
    }
}

/// A character's 0-based column in `line` from a char index.
fn char_at(line: &str, col: usize) -> Option<char> {
    line.chars().nth(col)
}

const TAB_MESSAGE: &str = "a tab where Helm's YAML reader refuses one (in the indentation, after \
                           `-` or `?`, or on a line of its own); indent with spaces";

impl<'a> Syntax<'a> {
    pub fn new(text: &'a str) -> Self {
        Syntax {
            lines: text.split('\n').collect(),
            open: Vec::new(),
            previous: None,
        }
    }

    fn line(&self, number: usize) -> &'a str {
        self.lines
            .get(number.wrapping_sub(1))
            .copied()
            .unwrap_or("")
    }

    fn in_flow(&self) -> bool {
        self.open.last().is_some_and(|o| o.flow)
    }

    fn in_key_position(&self) -> bool {
        self.open
            .last()
            .is_some_and(|o| o.mapping && o.children % 2 == 0)
    }

    /// go-yaml's current indentation (-1 outside any block collection).
    fn indent(&self) -> isize {
        self.open
            .iter()
            .rev()
            .find(|o| !o.flow)
            .map_or(-1, |o| isize::try_from(o.indent).unwrap_or(isize::MAX))
    }

    pub fn event(&mut self, event: &Event<'_>, span: &Span) -> Result<(), ReadError> {
        let (start_line, start_col) = (span.start.line(), span.start.col());
        if !matches!(
            event,
            Event::StreamStart | Event::StreamEnd | Event::Nothing
        ) {
            self.check_gap(start_line, start_col)?;
        }
        match event {
            Event::DocumentStart(true) => self.check_document_marker(start_line)?,
            Event::Scalar(text, style, anchor, _) => {
                if *anchor > 0 {
                    self.check_anchor(start_line, start_col, '&')?;
                }
                if self.in_flow() {
                    self.check_flow_scalar(text, *style, span)?;
                }
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                    self.check_block_scalar(span)?;
                }
            }
            Event::Alias(_) => self.check_anchor(start_line, start_col, '*')?,
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if *anchor > 0 {
                    self.check_anchor(start_line, start_col, '&')?;
                }
                // From an anchor or tag to the first key or dash below it.
                if span.end.line() > start_line {
                    let after_start = start_col + 1;
                    self.check_between(
                        (start_line, after_start),
                        None,
                        span.end.line(),
                        span.end.col(),
                    )?;
                }
            }
            _ => {}
        }
        // Then the structure.
        // Not a key: a key's `:` ends what the scanner goes on over.
        // An empty one (a tag alone, a missing value) is no token at all.
        let plain_block_scalar = matches!(event, Event::Scalar(text, ScalarStyle::Plain, ..) if !text.is_empty())
            && !self.in_flow()
            && !self.in_key_position();
        match event {
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                let mapping = matches!(event, Event::MappingStart(..));
                let end_line = self.line(span.end.line());
                let opener = span
                    .end
                    .col()
                    .checked_sub(1)
                    .and_then(|c| char_at(end_line, c));
                let flow = self.in_flow() || matches!(opener, Some('[' | '{'));
                let indent = if mapping {
                    span.end.col()
                } else {
                    // The dash's column (an indentless sequence's dash is
                    // at its parent's indentation).
                    let before: Vec<char> = end_line.chars().take(span.end.col() + 1).collect();
                    before
                        .iter()
                        .rposition(|c| *c == '-')
                        .unwrap_or(span.end.col())
                };
                self.open.push(Open {
                    flow,
                    mapping,
                    indent,
                    children: 0,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.open.pop();
                self.child_done();
            }
            Event::Scalar(..) | Event::Alias(_) => self.child_done(),
            _ => {}
        }
        let plain_indent = plain_block_scalar.then(|| self.indent());
        self.previous = Some(Previous {
            line: span.end.line(),
            col: span.end.col(),
            plain_indent,
        });
        Ok(())
    }

    fn child_done(&mut self) {
        if let Some(open) = self.open.last_mut() {
            open.children += 1;
        }
    }

    /// `---` followed by anything but a comment: Helm 4 refuses the file.
    fn check_document_marker(&self, line_number: usize) -> Result<(), ReadError> {
        let line = self.line(line_number).trim_end_matches('\r');
        let Some(rest) = line.strip_prefix("---") else {
            return Ok(());
        };
        let rest = rest.trim_matches([' ', '\t']);
        if rest.is_empty() || rest.starts_with('#') {
            return Ok(());
        }
        fail(
            at(line_number, 0),
            "text after the document marker `---` on its line (`--- ~`): Helm 4 refuses it; \
             put it on a line of its own or remove it",
        )
    }

    /// An anchor (`&name`) or alias (`*name`) at the start of a node: its
    /// name must be go-yaml's letters, digits, `_` and `-`.
    fn check_anchor(&self, line_number: usize, col: usize, sigil: char) -> Result<(), ReadError> {
        let line = self.line(line_number);
        let chars: Vec<char> = line.chars().collect();
        let mut i = col;
        // A tag may come first (`!!str &a x`).
        if chars.get(i) == Some(&'!') && sigil == '&' {
            while i < chars.len() && !matches!(chars[i], ' ' | '\t') {
                i += 1;
            }
            while i < chars.len() && matches!(chars[i], ' ' | '\t') {
                i += 1;
            }
        }
        if chars.get(i) != Some(&sigil) {
            return Ok(()); // not on this line: nothing to judge here
        }
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|c| !matches!(c, ' ' | '\t' | '\r' | ',' | '[' | ']' | '{' | '}'))
            .collect();
        if !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Ok(());
        }
        let what = if sigil == '&' { "anchor" } else { "alias" };
        fail(
            at(line_number, i),
            format!(
                "the {what} name {name:?} holds characters Helm's YAML reader refuses (it takes \
                 letters, digits, `_` and `-` only); rename it"
            ),
        )
    }

    /// Plain text inside a flow collection that go-yaml reads another way.
    fn check_flow_scalar(
        &self,
        text: &str,
        style: ScalarStyle,
        span: &Span,
    ) -> Result<(), ReadError> {
        let start = at(span.start.line(), span.start.col());
        if style == ScalarStyle::Plain {
            if text.contains('?') {
                return fail(
                    start,
                    "a `?` in plain text inside a flow collection ([...] or {...}): Helm's YAML \
                     reader takes it for a key indicator; quote the text",
                );
            }
            if text.starts_with(['>', '|']) {
                return fail(
                    start,
                    "plain text starting with `>` or `|` inside a flow collection: Helm's YAML \
                     reader refuses it; quote the text",
                );
            }
            // `a:` right before `,` `]` `}`: the colon is part of the text
            // to go-yaml.
            let end_line: Vec<char> = self.line(span.end.line()).chars().collect();
            let mut i = span.end.col();
            while end_line.get(i) == Some(&':') {
                i += 1;
            }
            if i > span.end.col() && matches!(end_line.get(i), Some(',' | ']' | '}')) {
                return fail(
                    start,
                    "a `:` right before `,`, `]` or `}` inside a flow collection: Helm's YAML \
                     reader takes it as part of the text (`{a:}` is the key \"a:\"); write \
                     `a: ` with a space for a key, or quote the text",
                );
            }
        }
        if self.in_key_position() && span.end.line() > span.start.line() {
            let line = self.line(span.start.line());
            let before: String = line.chars().take(span.start.col()).collect();
            if !before.trim_end().ends_with('?') {
                return fail(
                    start,
                    "a key over two lines inside a flow collection: Helm's YAML reader refuses \
                     it; keep the key on one line",
                );
            }
        }
        Ok(())
    }

    /// A tab in a block scalar's indentation, which go-yaml refuses: before
    /// its content's column, or anywhere in the blank lines that come before
    /// the first line of content when that column is not given (`|2`).
    fn check_block_scalar(&self, span: &Span) -> Result<(), ReadError> {
        // The event starts at its content; the header (`|2-`) is on the
        // line where the node before it (its key, a dash) ended.
        let (header_line, header_col) = match &self.previous {
            Some(p) if p.line < span.start.line() => (p.line, p.col),
            _ => (span.start.line(), 0),
        };
        let header: String = self
            .line(header_line)
            .chars()
            .skip(header_col)
            .skip_while(|c| !matches!(c, '|' | '>'))
            .take_while(|c| !matches!(c, ' ' | '\t' | '#' | '\r'))
            .collect();
        let first = header_line + 1;
        let last = span.end.line();
        let given = header
            .chars()
            .find_map(|c| c.to_digit(10))
            .map(|d| d as usize);
        let blank = |l: &str| l.trim_matches([' ', '\t', '\r']).is_empty();
        let first_content = (first..=last).find(|n| !blank(self.line(*n)));
        let indent = match given {
            Some(d) => usize::try_from(self.indent().max(0)).unwrap_or(0) + d,
            None => match first_content {
                Some(n) => self.line(n).chars().take_while(|c| *c == ' ').count(),
                None => return Ok(()),
            },
        };
        for n in first..=last {
            if n == last && span.end.col() == 0 && n != first {
                // The span ends at the start of the line after the block.
                break;
            }
            let lead = self.line(n).chars().take_while(|c| matches!(c, ' ' | '\t'));
            let Some(tab) = lead.into_iter().position(|c| c == '\t') else {
                continue;
            };
            let before_content = given.is_none() && first_content.is_some_and(|c| n < c);
            if tab < indent || before_content {
                return fail(at(n, tab), TAB_MESSAGE);
            }
        }
        Ok(())
    }

    /// The source between the previous event and this one, in block
    /// context: tabs where go-yaml refuses them.
    fn check_gap(&self, line_number: usize, col: usize) -> Result<(), ReadError> {
        let (from_line, from_col, plain_indent) = match &self.previous {
            Some(p) => (p.line, p.col, p.plain_indent),
            // Before the first event: every line is a whole line.
            None => (0, 0, None),
        };
        self.check_between((from_line, from_col), plain_indent, line_number, col)
    }

    /// [`Self::check_gap`] from `(from_line, from_col)`.
    fn check_between(
        &self,
        (from_line, from_col): (usize, usize),
        plain_indent: Option<isize>,
        line_number: usize,
        col: usize,
    ) -> Result<(), ReadError> {
        if self.in_flow() {
            return Ok(());
        }
        if (line_number, col) <= (from_line, from_col) {
            return Ok(());
        }
        if line_number == from_line {
            let gap: String = self
                .line(line_number)
                .chars()
                .skip(from_col)
                .take(col - from_col)
                .collect();
            return self.check_indicators_then_tab(&gap, line_number, from_col);
        }
        // Whole lines in between: blank, comments, indicators.
        let mut continues_plain = plain_indent;
        // A node that ends at a line's start (a block scalar) leaves that
        // whole line to the gap.
        let first_whole = if from_col == 0 {
            from_line
        } else {
            from_line + 1
        };
        for n in first_whole.max(1)..line_number {
            let line = self.line(n).trim_end_matches('\r');
            let lead: Vec<char> = line
                .chars()
                .take_while(|c| matches!(c, ' ' | '\t'))
                .collect();
            let rest = &line[lead.iter().map(|c| c.len_utf8()).sum::<usize>()..];
            let blank = rest.is_empty() || rest.starts_with('#');
            if let Some(tab) = lead.iter().position(|c| *c == '\t') {
                let allowed = blank
                    && continues_plain
                        .is_some_and(|indent| isize::try_from(tab).unwrap_or(0) > indent);
                if !allowed {
                    return fail(at(n, tab), TAB_MESSAGE);
                }
            }
            if !rest.is_empty() {
                // A comment (or an indicator) ends the plain scalar.
                continues_plain = None;
                if !rest.starts_with('#') {
                    self.check_indicators_then_tab(rest, n, lead.len())?;
                }
            }
        }
        // This event's own line, up to the event.
        let prefix: String = self.line(line_number).chars().take(col).collect();
        let lead: Vec<char> = prefix
            .chars()
            .take_while(|c| matches!(c, ' ' | '\t'))
            .collect();
        if let Some(tab) = lead.iter().position(|c| *c == '\t') {
            return fail(at(line_number, tab), TAB_MESSAGE);
        }
        let rest: String = prefix.chars().skip(lead.len()).collect();
        self.check_indicators_then_tab(&rest, line_number, lead.len())
    }

    /// In `text` (starting at column `col`): a tab right after the block
    /// indicators `-` or `?` (a tab after `:` is fine).
    fn check_indicators_then_tab(
        &self,
        text: &str,
        line_number: usize,
        col: usize,
    ) -> Result<(), ReadError> {
        let chars: Vec<char> = text.chars().collect();
        let Some(tab) = chars.iter().position(|c| *c == '\t') else {
            return Ok(());
        };
        let before = chars[..tab].iter().rev().find(|c| **c != ' ');
        if matches!(before, Some('-' | '?')) {
            return fail(at(line_number, col + tab), TAB_MESSAGE);
        }
        Ok(())
    }

    /// The end of the text: a tab-only line after the last node.
    pub fn finish(&self) -> Result<(), ReadError> {
        let last = self.lines.len();
        if last == 0 {
            return Ok(());
        }
        let end_col = self.line(last).chars().count();
        self.check_gap(last, end_col)
    }
}

#[cfg(test)]
mod tests {
    use crate::values::read::parse_values;

    fn refused(yaml: &str) -> String {
        match parse_values(yaml, "f.yaml") {
            Ok(r) => panic!("{yaml:?} accepted as {:?}", r.value),
            Err(e) => format!("{e:#}"),
        }
    }

    fn accepted(yaml: &str) -> String {
        let value = parse_values(yaml, "f.yaml")
            .unwrap_or_else(|e| panic!("{yaml:?}: {e:#}"))
            .value;
        serde_json::to_string(&value).unwrap()
    }

    #[test]
    fn anchor_names_beyond_go_yamls_are_refused() {
        for (yaml, at) in [
            ("a: &a.b 1\n", "f.yaml:1:4: the anchor name \"a.b\""),
            ("a: &\"00.5\" 1\n", "f.yaml:1:4: the anchor name"),
            ("a: &x? 1\n", "f.yaml:1:4: the anchor name \"x?\""),
            ("a: !!str &x: 1\n", "f.yaml:1:10: the anchor name \"x:\""),
            (
                "a: &x\n  b: 1\nc: &y.z [1]\n",
                "f.yaml:3:4: the anchor name \"y.z\"",
            ),
        ] {
            let err = refused(yaml);
            assert!(err.contains(at), "{yaml:?}: {err}");
        }
        assert_eq!(
            accepted("a: &x-1_B 1\nb: *x-1_B\nc: [&y 2, *y]\n"),
            r#"{"a":1,"b":1,"c":[2,2]}"#
        );
    }

    #[test]
    fn flow_collections_refuse_what_go_yaml_reads_otherwise() {
        for (yaml, at) in [
            ("a: [?x, y]\n", "f.yaml:1:5: a `?` in plain text"),
            ("a: [a?b]\n", "f.yaml:1:5: a `?`"),
            ("a: [>x]\n", "f.yaml:1:5: plain text starting with `>`"),
            (
                "a: {|x: 1}\n",
                "f.yaml:1:5: plain text starting with `>` or `|`",
            ),
            ("a: {a:}\n", "f.yaml:1:5: a `:` right before"),
            ("a: [b, a:]\n", "f.yaml:1:8: a `:` right before"),
            ("a: {x\n  y: 1}\n", "f.yaml:1:5: a key over two lines"),
        ] {
            let err = refused(yaml);
            assert!(err.contains(at), "{yaml:?}: {err}");
        }
        // The same shapes as both readers take them.
        assert_eq!(
            accepted("a: [? x, {? k: 1}, {a: }, 'a:', \"?x\", x>y, {? \"p\n  q\": 2}]\nb: x?\n"),
            r#"{"a":[{"x":null},{"k":1},{"a":null},"a:","?x","x>y",{"p q":2}],"b":"x?"}"#
        );
    }

    #[test]
    fn tabs_are_refused_where_go_yaml_refuses_them() {
        for (yaml, at) in [
            ("a: 1\n\t", "f.yaml:2:1: a tab"),
            ("a: 1\n\t\nb: 2\n", "f.yaml:2:1: a tab"),
            ("\t\na: 1\n", "f.yaml:1:1: a tab"),
            ("a: 1\n\t# c\n", "f.yaml:2:1: a tab"),
            ("a:\n  \tb: 1\n", "f.yaml:2:3: a tab"),
            ("a:\n  b: 1\n  \t\n  c: 2\n", "f.yaml:3:3: a tab"),
            ("a: \"x\"\n  \t\n", "f.yaml:2:3: a tab"),
            ("a:\n  - \tx\n", "f.yaml:2:5: a tab"),
            ("a: |\n  x\n\t\n", "f.yaml:3:1: a tab"),
            ("a: &x\n\t\n  b: 1\n", "f.yaml:2:1: a tab"),
            ("a:\n  b:\n    \t\n    ? c\n    : 1\n", "f.yaml:3:5: a tab"),
        ] {
            let err = refused(yaml);
            assert!(err.contains(at), "{yaml:?}: {err}");
        }
        // Where go-yaml takes them: beyond the indentation after a plain
        // value, in a block scalar's content, in a flow collection, after
        // a colon, at the end of a line.
        assert_eq!(
            accepted("a:\n  b: x\n   \t\n  c: 1\nd: 1\n  \t# c\ne: |\n  x\n  \ty\nf: [1,\n   \t2]\ng: 1\t\n"),
            r#"{"a":{"b":"x","c":1},"d":1,"e":"x\n\ty\n","f":[1,2],"g":1}"#
        );
    }

    #[test]
    fn text_after_a_document_marker_is_refused() {
        for yaml in [
            "a: 1\n--- ~\n",
            "--- ~\n",
            "--- {a: 1}\n",
            "a: 1\n--- null\n",
        ] {
            let err = refused(yaml);
            assert!(
                err.contains("text after the document marker `---`"),
                "{yaml:?}: {err}"
            );
        }
        assert_eq!(accepted("--- # c\na: 1\n---\t\n"), r#"{"a":1}"#);
    }

    #[test]
    fn a_byte_order_mark_inside_a_line_and_an_unindented_continuation_are_read() {
        assert_eq!(
            accepted("a: x\u{FEFF}y\nb: [\u{FEFF}]\nc: |\n  \u{FEFF}\nd\u{FEFF}: 1\n"),
            "{\"a\":\"x\u{FEFF}y\",\"b\":[\"\u{FEFF}\"],\"c\":\"\u{FEFF}\\n\",\"d\u{FEFF}\":1}"
        );
        assert!(refused("a: 1\n\u{FEFF}b: 2\n")
            .contains("f.yaml:2:1: holds a byte order mark at the start of a line"));
        assert_eq!(
            accepted("a:\n  b: \"x\ny \\\"z\n\n  w\"\n  c: 'it''s\nok'\nd: \"p\nq\"\n"),
            r#"{"a":{"b":"x y \"z\nw","c":"it's ok"},"d":"p q"}"#
        );
        // A document marker inside the string stays refused, as by Helm.
        assert!(refused("a:\n  b: \"x\n---\ny\"\n").contains("f.yaml:"));
    }
}

//! A YAML tree that remembers where every node came from. serde_yaml gives
//! typed values but no positions; this tree, read from yaml-rust2's marked
//! events, is what lets every diagnostic point at a line and column.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::{Diagnostic, Span};
use crate::source::SourceFile;

/// Nesting deeper than this is refused: no runbook needs it, and it keeps
/// every recursive walk (and drop) of the tree shallow.
pub const MAX_DEPTH: usize = 48;

/// A YAML node with its span.
#[derive(Debug, Clone)]
pub struct Node {
    /// The value.
    pub value: NodeValue,
    /// Where it is in the source (for a collection: its whole extent).
    pub span: Span,
}

/// The kinds of YAML node.
#[derive(Debug, Clone)]
pub enum NodeValue {
    /// A scalar, with whether it was quoted.
    Scalar { text: String, quoted: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order (keys are nodes, for their spans).
    Map(Vec<(Node, Node)>),
    /// `*anchor`: not expanded here.
    Alias,
}

impl Node {
    /// The entries of a mapping, or an empty slice.
    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.value {
            NodeValue::Map(m) => m,
            _ => &[],
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The key node for `key` in a mapping.
    pub fn key(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, _)| k)
    }

    /// The items of a sequence, or an empty slice.
    pub fn items(&self) -> &[Node] {
        match &self.value {
            NodeValue::Seq(s) => s,
            _ => &[],
        }
    }

    /// The text of a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// "a mapping", "a list", … for messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            NodeValue::Scalar { .. } => "a scalar",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
            NodeValue::Alias => "an alias",
        }
    }
}

/// Reads `source` into a tree. Syntax errors and over-deep nesting come
/// back as diagnostics; the tree is `None` when there is nothing usable.
pub fn read_tree(source: &SourceFile) -> (Option<Node>, Vec<Diagnostic>) {
    let mut builder = TreeBuilder {
        source,
        stack: Vec::new(),
        root: None,
        skipped_depth: 0,
        too_deep_at: None,
        documents: 0,
        second_document_at: None,
    };
    let mut parser = Parser::new_from_str(&source.text);
    let mut diagnostics = Vec::new();
    // Pull events one by one: `Parser::load` recurses once per nesting
    // level, and `- - - - …` on one line would overflow the stack long
    // before the depth limit is noticed.
    let outcome = loop {
        if builder.too_deep_at.is_some() {
            // Nothing past the limit will be used, and the scanner's
            // work per token grows with the depth.
            break Ok(());
        }
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break Ok(()),
            Ok((event, mark)) => builder.on_event(event, mark),
            Err(err) => break Err(err),
        }
    };
    if let Err(err) = outcome {
        let at = marker_offset(source, err.marker());
        let span = source.clamp(at..at + 1);
        let mut d = Diagnostic::error("yaml-syntax", format!("invalid YAML: {}", err.info()))
            .at(Some(span), "here")
            .path("(document)");
        // The scanner often notices an unclosed `[` or `{` only lines
        // later; point at the bracket too.
        if let Some(open) = builder.open_flow_bracket() {
            if source.line_col(open).0 < source.line_col(at).0 {
                let bracket = &source.text[open..open + 1];
                let close = if bracket == "[" { "]" } else { "}" };
                d = d
                    .also(
                        Some(open..open + 1),
                        format!("this `{bracket}` is still open"),
                    )
                    .help(format!("close it with `{close}`, or quote the value"));
            }
        }
        diagnostics.push(d);
        return (None, diagnostics);
    }
    if let Some(at) = builder.too_deep_at {
        diagnostics.push(
            Diagnostic::error(
                "too-deep",
                format!("nesting deeper than {MAX_DEPTH} levels is not supported"),
            )
            .at(Some(at..at + 1), "too deep here")
            .path("(document)"),
        );
        return (None, diagnostics);
    }
    if let Some(at) = builder.second_document_at {
        let len = if source.text[at..].starts_with("---") {
            3
        } else {
            1
        };
        diagnostics.push(
            Diagnostic::error(
                "multiple-documents",
                "a runbook file holds exactly one YAML document",
            )
            .at(
                Some(source.clamp(at..at + len)),
                "a second document starts here",
            )
            .path("(document)")
            .help("split the documents into separate files"),
        );
    }
    (builder.root, diagnostics)
}

/// Byte offset of a yaml-rust2 marker (its line is 1-based, its column a
/// 0-based character count).
fn marker_offset(source: &SourceFile, m: &Marker) -> usize {
    source.offset_of(m.line(), m.col())
}

enum Frame {
    Seq(usize, Vec<Node>),
    Map(usize, Vec<(Node, Node)>, Option<Node>),
}

struct TreeBuilder<'a> {
    source: &'a SourceFile,
    stack: Vec<Frame>,
    root: Option<Node>,
    /// Depth of collections opened beyond [`MAX_DEPTH`] (not built).
    skipped_depth: usize,
    too_deep_at: Option<usize>,
    documents: usize,
    second_document_at: Option<usize>,
}

impl TreeBuilder<'_> {
    fn push_node(&mut self, mut node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    // `key:` with nothing after it: the parser marks the
                    // empty value at the next token, often lines below;
                    // point just past the key instead.
                    if is_empty_plain(&node) {
                        let at = key.span.end;
                        node.span = at..at + 1;
                    }
                    entries.push((key, node));
                }
            },
        }
    }

    /// Offset of the innermost `[` or `{` still open, if any.
    fn open_flow_bracket(&self) -> Option<usize> {
        self.stack.iter().rev().find_map(|frame| {
            let start = match frame {
                Frame::Seq(start, _) | Frame::Map(start, _, _) => *start,
            };
            is_flow(self.source, start).then_some(start)
        })
    }

    fn open(&mut self, frame: Frame, at: usize) {
        if self.skipped_depth > 0 || self.stack.len() >= MAX_DEPTH {
            self.skipped_depth += 1;
            self.too_deep_at.get_or_insert(at);
        } else {
            self.stack.push(frame);
        }
    }

    fn close(&mut self, end: usize) {
        if self.skipped_depth > 0 {
            self.skipped_depth -= 1;
            return;
        }
        let (mark, value) = match self.stack.pop() {
            Some(Frame::Seq(mark, items)) => (mark, NodeValue::Seq(items)),
            Some(Frame::Map(mark, entries, _)) => (mark, NodeValue::Map(entries)),
            None => return,
        };
        let (start, end) = if is_flow(self.source, mark) {
            // Marked at the opening bracket and at the closing one.
            (mark, (end + 1).min(self.source.text.len()))
        } else {
            // A block mapping is marked at its first `:`, and a block
            // collection ends at the next token (often on a later line):
            // span from the first child to the end of the last.
            let first = match &value {
                NodeValue::Map(entries) => entries.first().map(|(k, _)| k.span.start),
                _ => None,
            };
            let start = first.map_or(mark, |f| f.min(mark));
            (start, last_child_end(&value).unwrap_or(start + 1))
        };
        self.push_node(Node {
            value,
            span: start..end.max(start),
        });
    }
}

/// Whether the collection starting at `start` is a flow one (`[…]`, `{…}`).
fn is_flow(source: &SourceFile, start: usize) -> bool {
    matches!(source.text.as_bytes().get(start), Some(b'[' | b'{'))
}

fn is_empty_plain(node: &Node) -> bool {
    matches!(&node.value, NodeValue::Scalar { text, quoted: false } if text.is_empty())
}

fn last_child_end(value: &NodeValue) -> Option<usize> {
    match value {
        NodeValue::Seq(items) => items.iter().map(|n| n.span.end).max(),
        NodeValue::Map(entries) => entries
            .iter()
            .map(|(k, v)| k.span.end.max(v.span.end))
            .max(),
        _ => None,
    }
}

impl MarkedEventReceiver for TreeBuilder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = marker_offset(self.source, &mark);
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    self.second_document_at = Some(at);
                }
            }
            Event::Scalar(text, style, _, _) => {
                if self.skipped_depth > 0 {
                    return;
                }
                let quoted = matches!(
                    style,
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
                );
                let len = match style {
                    TScalarStyle::Plain
                    | TScalarStyle::SingleQuoted
                    | TScalarStyle::DoubleQuoted => {
                        let first_line = text.split('\n').next().unwrap_or("");
                        first_line.len() + if quoted { 2 } else { 0 }
                    }
                    // Block scalars: point at the indicator.
                    _ => 1,
                };
                let end = (at + len.max(1)).min(self.source.line_end(at).max(at + 1));
                self.push_node(Node {
                    value: NodeValue::Scalar { text, quoted },
                    span: at..end,
                });
            }
            Event::Alias(_) if self.skipped_depth == 0 => {
                // `*name`, up to the next space or flow indicator.
                let rest = self.source.text.get(at..).unwrap_or("");
                let len = rest
                    .char_indices()
                    .skip(1)
                    .find(|(_, c)| c.is_whitespace() || matches!(c, ',' | ']' | '}'))
                    .map_or(rest.len(), |(i, _)| i);
                self.push_node(Node {
                    value: NodeValue::Alias,
                    span: at..at + len.max(1),
                });
            }
            Event::SequenceStart(..) => self.open(Frame::Seq(at, Vec::new()), at),
            Event::MappingStart(..) => self.open(Frame::Map(at, Vec::new(), None), at),
            Event::SequenceEnd | Event::MappingEnd => self.close(at),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> (Node, SourceFile) {
        let src = SourceFile::new("t.yaml", text);
        let (node, diags) = read_tree(&src);
        assert!(diags.is_empty(), "{diags:?}");
        (node.expect("a tree"), src)
    }

    #[test]
    fn scalars_know_their_line_and_column() {
        let (root, src) = tree("runbook: x\nsteps:\n  - id: first\n    run: echo hi\n");
        let step = &root.get("steps").expect("steps").items()[0];
        let id = step.get("id").expect("id");
        assert_eq!(id.as_str(), Some("first"));
        assert_eq!(src.line_col(id.span.start), (3, 9));
        assert_eq!(&src.text[id.span.clone()], "first");
    }

    #[test]
    fn block_collections_span_from_first_to_last_child() {
        let text = "runbook: x\nsteps:\n  - id: a\n    run: b\nnext: c\n";
        let (root, src) = tree(text);
        let step = &root.get("steps").expect("steps").items()[0];
        assert_eq!(&src.text[step.span.clone()], "id: a\n    run: b");
        let steps = root.get("steps").expect("steps");
        assert_eq!(&src.text[steps.span.clone()], "- id: a\n    run: b");
    }

    #[test]
    fn flow_collections_span_their_brackets() {
        let (root, src) = tree("next: [a, {goto: b}]\n");
        let next = root.get("next").expect("next");
        assert_eq!(&src.text[next.span.clone()], "[a, {goto: b}]");
        assert_eq!(&src.text[next.items()[1].span.clone()], "{goto: b}");
    }

    #[test]
    fn an_empty_value_points_just_past_its_key() {
        let (root, src) = tree("finding:\nnext: a\n");
        let finding = root.get("finding").expect("finding");
        assert_eq!(src.line_col(finding.span.start), (1, 8));
    }

    #[test]
    fn an_alias_spans_its_name() {
        let (root, src) = tree("a: &x 1\nb: *x\n");
        let b = root.get("b").expect("b");
        assert_eq!(&src.text[b.span.clone()], "*x");
    }

    #[test]
    fn a_second_document_is_pointed_at() {
        let src = SourceFile::new("t.yaml", "a: 1\n---\nb: 2\n");
        let (_, diags) = read_tree(&src);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, "multiple-documents");
        let span = diags[0].primary.as_ref().expect("a span").span.clone();
        assert_eq!(&src.text[span], "---");
    }

    #[test]
    fn an_unclosed_bracket_is_named_when_the_error_comes_later() {
        let src = SourceFile::new("t.yaml", "a: [1, 2\nb: 3\n");
        let (_, diags) = read_tree(&src);
        let open = &diags[0].secondary[0];
        assert_eq!(src.line_col(open.span.start), (1, 4));
        assert_eq!(open.message, "this `[` is still open");
    }

    #[test]
    fn syntax_errors_point_at_a_line() {
        let src = SourceFile::new("t.yaml", "a: [1, 2\nb: 3\n");
        let (_, diags) = read_tree(&src);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].code, "yaml-syntax");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(100_000);
        let src = SourceFile::new("t.yaml", text);
        let (_, diags) = read_tree(&src);
        assert!(!diags.is_empty());
    }
}

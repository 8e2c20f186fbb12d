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
    };
    let mut parser = Parser::new_from_str(&source.text);
    let mut diagnostics = Vec::new();
    if let Err(err) = parser.load(&mut builder, true) {
        let at = marker_offset(source, err.marker());
        let end = source.line_end(at).max(at + 1);
        diagnostics.push(
            Diagnostic::error("yaml-syntax", format!("invalid YAML: {}", err.info()))
                .at(Some(at..end), "here")
                .path("(document)"),
        );
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
    if builder.documents > 1 {
        diagnostics.push(
            Diagnostic::error(
                "yaml-syntax",
                "a runbook file holds exactly one YAML document",
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
}

impl TreeBuilder<'_> {
    fn push_node(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
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
        let node = match self.stack.pop() {
            Some(Frame::Seq(start, items)) => Node {
                value: NodeValue::Seq(items),
                span: start..end.max(start),
            },
            Some(Frame::Map(start, entries, _)) => Node {
                value: NodeValue::Map(entries),
                span: start..end.max(start),
            },
            None => return,
        };
        self.push_node(node);
    }
}

impl MarkedEventReceiver for TreeBuilder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = marker_offset(self.source, &mark);
        match ev {
            Event::DocumentStart => self.documents += 1,
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
            Event::Alias(_) => {
                if self.skipped_depth == 0 {
                    self.push_node(Node {
                        value: NodeValue::Alias,
                        span: at..at + 1,
                    });
                }
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

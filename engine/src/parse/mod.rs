//! YAML text → raw model. Three readers cooperate: yaml-rust2 for a tree
//! with positions, a schema walk over that tree for every structural
//! problem at once, and serde_yaml for the typed raw model.

pub mod raw;
mod shape;
pub mod yaml;

use std::sync::{Arc, OnceLock};

use schemars::schema::RootSchema;

pub use raw::RawRunbook;
pub use yaml::Node;

use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;

/// Files larger than this are refused before parsing.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// The outcome of reading one runbook file.
#[derive(Debug)]
pub struct Parsed {
    /// The source, for diagnostics.
    pub source: Arc<SourceFile>,
    /// The positioned tree (absent after a syntax error).
    pub tree: Option<Node>,
    /// The typed model (absent when the document cannot be typed).
    pub raw: Option<RawRunbook>,
    /// Everything found wrong so far.
    pub diagnostics: Vec<Diagnostic>,
}

/// The JSON Schema of the runbook format, generated from [`raw`].
pub fn runbook_schema() -> &'static RootSchema {
    static SCHEMA: OnceLock<RootSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let settings = schemars::gen::SchemaSettings::draft07();
        settings
            .into_generator()
            .into_root_schema_for::<RawRunbook>()
    })
}

/// Parses a runbook's source.
pub fn parse(source: Arc<SourceFile>) -> Parsed {
    let mut parsed = Parsed {
        source: source.clone(),
        tree: None,
        raw: None,
        diagnostics: Vec::new(),
    };
    if source.text.len() > MAX_FILE_BYTES {
        parsed.diagnostics.push(
            Diagnostic::error(
                "too-large",
                format!(
                    "runbook file is {} bytes; the limit is {MAX_FILE_BYTES}",
                    source.text.len()
                ),
            )
            .path("(document)"),
        );
        return parsed;
    }
    let (tree, diagnostics) = yaml::read_tree(&source);
    parsed.diagnostics = diagnostics;
    let Some(tree) = tree else {
        if parsed.diagnostics.is_empty() {
            parsed.diagnostics.push(
                Diagnostic::error("empty", "the file holds no runbook")
                    .path("(document)")
                    .help("a runbook starts with `runbook: NAME` and has `steps:`"),
            );
        }
        return parsed;
    };
    let structural_before = parsed.diagnostics.len();
    shape::check_shape(&tree, runbook_schema(), &mut parsed.diagnostics);
    let structural_ok = parsed.diagnostics.len() == structural_before
        || parsed.diagnostics[structural_before..]
            .iter()
            .all(|d| d.code == "unknown-key");
    if structural_ok
        && parsed
            .diagnostics
            .iter()
            .all(|d| !matches!(d.code, "yaml-syntax" | "multiple-documents"))
    {
        match typed(&source, &tree) {
            Ok(raw) => parsed.raw = Some(raw),
            Err(d) => parsed.diagnostics.push(*d),
        }
    }
    parsed.tree = Some(tree);
    parsed
}

/// Reads the typed model with serde_yaml. The shape pass has already
/// vouched for the structure, so an error here is a scalar serde could not
/// type; it is located through the path serde names.
fn typed(source: &SourceFile, tree: &Node) -> Result<RawRunbook, Box<Diagnostic>> {
    serde_yaml::from_str::<RawRunbook>(&source.text).map_err(|err| {
        let message = err.to_string();
        if message.starts_with("repetition limit exceeded") {
            // serde_yaml stops expanding aliases past a budget: a
            // "billion laughs" document, or close to one.
            let span = first_alias(tree).map(|n| n.span.clone());
            return Box::new(
                Diagnostic::error(
                    "too-many-aliases",
                    "aliases expand to more data than any runbook needs",
                )
                .at(span, "expanding from here")
                .path("(document)")
                .help("write the values out instead of repeating anchors (`*name`)"),
            );
        }
        let (path, detail) = split_serde_message(&message);
        // serde's own location is the enclosing mapping; the tree knows
        // the node the path names.
        let span = node_at_path(tree, path)
            .map(|n| n.span.clone())
            .or_else(|| {
                err.location().map(|l| {
                    let at = source.offset_of(l.line(), l.column().saturating_sub(1));
                    at..source.line_end(at).max(at + 1)
                })
            })
            .or_else(|| Some(tree.span.start..tree.span.start + 1));
        let message = if path == "(document)" {
            detail.to_string()
        } else {
            format!("`{path}`: {detail}")
        };
        Box::new(
            Diagnostic::error("wrong-type", message)
                .at(span, "here")
                .path(path),
        )
    })
}

/// The first `*alias` in reading order.
fn first_alias(node: &Node) -> Option<&Node> {
    match &node.value {
        yaml::NodeValue::Alias => Some(node),
        yaml::NodeValue::Scalar { .. } => None,
        yaml::NodeValue::Seq(items) => items.iter().find_map(first_alias),
        yaml::NodeValue::Map(entries) => entries
            .iter()
            .find_map(|(k, v)| first_alias(k).or_else(|| first_alias(v))),
    }
}

/// The node a serde path like `steps[1].next[0]` names, if it exists.
fn node_at_path<'t>(tree: &'t Node, path: &str) -> Option<&'t Node> {
    if path.is_empty() || path == "(document)" || path == "." {
        return None;
    }
    let mut node = tree;
    for part in path.split('.') {
        let (key, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            node = node.get(key)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            let i: usize = index.trim_end_matches(']').parse().ok()?;
            node = node.items().get(i)?;
        }
    }
    Some(node)
}

/// serde_yaml messages read `steps[1].retries: invalid type: …`.
fn split_serde_message(message: &str) -> (&str, &str) {
    let message = message.split(" at line ").next().unwrap_or(message);
    match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => (path, rest),
        _ => ("(document)", message),
    }
}

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
    if structural_ok && parsed.diagnostics.iter().all(|d| d.code != "yaml-syntax") {
        match typed(&source, &tree) {
            Ok(raw) => parsed.raw = Some(raw),
            Err(d) => parsed.diagnostics.push(d),
        }
    }
    parsed.tree = Some(tree);
    parsed
}

/// Reads the typed model with serde_yaml. The shape pass has already
/// vouched for the structure, so an error here is a scalar serde could not
/// type; it is located through the path serde names.
fn typed(source: &SourceFile, tree: &Node) -> Result<RawRunbook, Diagnostic> {
    serde_yaml::from_str::<RawRunbook>(&source.text).map_err(|err| {
        let message = err.to_string();
        let (path, detail) = split_serde_message(&message);
        let span = err.location().map(|l| {
            let at = source.offset_of(l.line(), l.column().saturating_sub(1));
            at..source.line_end(at).max(at + 1)
        });
        let span = span.or_else(|| Some(tree.span.start..tree.span.start + 1));
        Diagnostic::error("wrong-type", detail.to_string())
            .at(span, "here")
            .path(path)
    })
}

/// serde_yaml messages read `steps[1].retries: invalid type: …`.
fn split_serde_message(message: &str) -> (&str, &str) {
    let message = message.split(" at line ").next().unwrap_or(message);
    match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') => (path, rest),
        _ => ("(document)", message),
    }
}

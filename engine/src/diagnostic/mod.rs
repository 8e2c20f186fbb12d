//! Problems found in a runbook, as data. Every check returns these instead
//! of failing early, so one `validate` run reports everything at once.

mod format;

pub use format::{render, DiagnosticFormat};

use std::ops::Range;
use std::sync::Arc;

use serde::Serialize;

use crate::source::SourceFile;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look; fails validation only under `--deny-warnings`.
    Warning,
    /// The runbook cannot run.
    Error,
}

/// A byte range in the runbook's source.
pub type Span = Range<usize>;

/// A span with a short message pointing at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What about it (may be empty).
    pub message: String,
}

/// One problem in one runbook file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable kebab-case code, e.g. `unknown-step`; documented in
    /// `docs/runbook-language.md`.
    pub code: &'static str,
    /// Lowercase, one line, names in backticks.
    pub message: String,
    /// The place the problem is; `None` when the source has no such place
    /// (e.g. a missing top-level key), then `path` locates it.
    pub primary: Option<Label>,
    /// Related places ("first defined here").
    pub secondary: Vec<Label>,
    /// The logical location, like `steps[3].next[0]`.
    pub path: String,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with `code` and `message`.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    /// A warning with `code` and `message`.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            path: String::new(),
            help: None,
        }
    }

    /// Points at `span` (if known) with `message`.
    pub fn at(mut self, span: Option<Span>, message: impl Into<String>) -> Self {
        self.primary = span.map(|span| Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Records the logical path of the offending node.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Adds a related place.
    pub fn also(mut self, span: Option<Span>, message: impl Into<String>) -> Self {
        if let Some(span) = span {
            self.secondary.push(Label {
                span,
                message: message.into(),
            });
        }
        self
    }

    /// Adds a hint.
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a hint only when there is one.
    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The diagnostics of one file, with the file they point into.
#[derive(Debug, Clone)]
pub struct FileDiagnostics {
    /// The file.
    pub source: Arc<SourceFile>,
    /// Its problems, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl FileDiagnostics {
    /// Sorts by position so output reads top to bottom (errors before
    /// warnings at the same place).
    pub fn sorted(mut self) -> Self {
        self.diagnostics.sort_by_key(|d| {
            (
                d.primary.as_ref().map_or(0, |l| l.span.start),
                std::cmp::Reverse(d.severity),
            )
        });
        self
    }
}

/// "did you mean `x`?" for the closest candidate, if it is close enough.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(1) && *d > 0)
        // Replacing every letter is not a typo (`2` is not a misspelt `1`).
        .filter(|(d, c)| *d < name.chars().count().min(c.chars().count()))
        // On a tie, prefer a candidate that contains the typed letters in
        // order, then the first by name, so the hint never depends on the
        // order candidates come in.
        .min_by_key(|(d, c)| (*d, !is_subsequence(name, c), *c))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

fn is_subsequence(needle: &str, hay: &str) -> bool {
    let mut hay = hay.chars();
    needle.chars().all(|n| hay.any(|h| h == n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_suggests_close_names_only() {
        assert_eq!(
            did_you_mean("kublet", ["kubelet", "memory"]).as_deref(),
            Some("did you mean `kubelet`?")
        );
        assert_eq!(did_you_mean("zzz", ["kubelet", "memory"]), None);
        assert_eq!(did_you_mean("2", ["1", "done"]), None);
    }
}

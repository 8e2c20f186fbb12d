//! Finding the source span of a logical place (`steps[3].next[0].goto`) in
//! the positioned YAML tree, so checks on the typed model can still point
//! at a line and column.

use crate::diagnostic::Span;
use crate::parse::yaml::Node;

/// Span lookups over one runbook's tree.
#[derive(Clone, Copy)]
pub struct Locator<'a> {
    root: Option<&'a Node>,
}

impl<'a> Locator<'a> {
    /// Over `root` (absent: every lookup yields `None`).
    pub fn new(root: Option<&'a Node>) -> Self {
        Locator { root }
    }

    /// The node at a top-level key.
    pub fn top(&self, key: &str) -> Option<&'a Node> {
        self.root?.get(key)
    }

    /// Span of a top-level key's value.
    pub fn top_value(&self, key: &str) -> Option<Span> {
        self.top(key).map(|n| n.span.clone())
    }

    /// Span of a top-level key itself.
    pub fn top_key(&self, key: &str) -> Option<Span> {
        self.root?.key(key).map(|n| n.span.clone())
    }

    /// The node of step `i`.
    pub fn step(&self, i: usize) -> Option<&'a Node> {
        self.top("steps")?.items().get(i)
    }

    /// The value node of `key` in step `i`.
    pub fn step_field(&self, i: usize, key: &str) -> Option<&'a Node> {
        self.step(i)?.get(key)
    }

    /// Span of `key`'s value in step `i`, falling back to the step's `id`.
    pub fn step_span(&self, i: usize, key: &str) -> Option<Span> {
        self.step_field(i, key)
            .map(|n| n.span.clone())
            .or_else(|| self.step_id(i))
    }

    /// Span of the key `key` in step `i` (falling back to the step's `id`).
    pub fn step_key(&self, i: usize, key: &str) -> Option<Span> {
        self.step(i)
            .and_then(|s| s.key(key))
            .map(|n| n.span.clone())
            .or_else(|| self.step_id(i))
    }

    /// Span of step `i`'s id value (or the step's first line).
    pub fn step_id(&self, i: usize) -> Option<Span> {
        let step = self.step(i)?;
        step.get("id")
            .map(|n| n.span.clone())
            .or_else(|| Some(step.span.start..step.span.start + 1))
    }

    /// Span of an entry under a mapping-valued key of step `i`
    /// (`capture.ready`), key side.
    pub fn step_map_key(&self, i: usize, key: &str, entry: &str) -> Option<Span> {
        self.step_field(i, key)?.key(entry).map(|n| n.span.clone())
    }

    /// Span of an entry value under a mapping-valued key of step `i`.
    pub fn step_map_value(&self, i: usize, key: &str, entry: &str) -> Option<Span> {
        self.step_field(i, key)?.get(entry).map(|n| n.span.clone())
    }

    /// Span of the `j`th string naming a step in step `i`'s `next` (in
    /// reading order, across rules and lists).
    pub fn next_target(&self, i: usize, rule: Option<usize>, j: usize) -> Option<Span> {
        let next = self.step_field(i, "next")?;
        let node = match rule {
            None => match next.items().get(j) {
                Some(n) => n,
                None => next,
            },
            Some(r) => {
                let goto = next.items().get(r)?.get("goto")?;
                match goto.items().get(j) {
                    Some(n) => n,
                    None => goto,
                }
            }
        };
        Some(node.span.clone())
    }

    /// Span of rule `r`'s `when` in step `i`'s `next` (or the rule).
    pub fn rule(&self, i: usize, r: usize, key: &str) -> Option<Span> {
        let rule = self.step_field(i, "next")?.items().get(r)?;
        rule.get(key)
            .map(|n| n.span.clone())
            .or_else(|| Some(rule.span.start..rule.span.start + 1))
    }

    /// Span of `conclude.<key>` in step `i`.
    pub fn conclusion(&self, i: usize, key: &str) -> Option<Span> {
        self.step_field(i, "conclude")?
            .get(key)
            .map(|n| n.span.clone())
    }

    /// Span of the `j`th evidence entry of step `i`.
    pub fn evidence(&self, i: usize, j: usize) -> Option<Span> {
        let ev = self.step_field(i, "conclude")?.get("evidence")?;
        ev.items().get(j).map(|n| n.span.clone())
    }

    /// Span of params.<name> (key) or its field.
    pub fn param(&self, name: &str, field: Option<&str>) -> Option<Span> {
        let params = self.top("params")?;
        match field {
            None => params.key(name).map(|n| n.span.clone()),
            Some(f) => params.get(name)?.get(f).map(|n| n.span.clone()),
        }
    }

    /// Span of targets.<name> (key) or its field.
    pub fn target(&self, name: &str, field: Option<&str>) -> Option<Span> {
        let targets = self.top("targets")?;
        match field {
            None => targets.key(name).map(|n| n.span.clone()),
            Some(f) => targets.get(name)?.get(f).map(|n| n.span.clone()),
        }
    }

    /// Span of defaults.<key>.
    pub fn default(&self, key: &str) -> Option<Span> {
        self.top("defaults")?.get(key).map(|n| n.span.clone())
    }
}

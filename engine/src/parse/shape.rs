//! The structural pass: walks the YAML tree against the JSON Schema that
//! schemars derives from the raw model, and reports every unknown key,
//! missing key, duplicate key and wrong shape with its position — all of
//! them, where serde would stop at the first.

use std::collections::HashMap;

use schemars::schema::{InstanceType, RootSchema, Schema, SchemaObject, SingleOrVec};

use super::yaml::{Node, NodeValue};
use crate::diagnostic::{did_you_mean, Diagnostic};

/// Checks `root` against `schema`, appending diagnostics.
pub fn check_shape(root: &Node, schema: &RootSchema, diagnostics: &mut Vec<Diagnostic>) {
    let walker = Walker { schema };
    walker.check(root, &schema.schema, "", diagnostics);
}

struct Walker<'a> {
    schema: &'a RootSchema,
}

/// The YAML shape of a node, in JSON Schema terms.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Object,
    Array,
    Scalar,
}

impl<'a> Walker<'a> {
    fn resolve(&self, mut obj: &'a SchemaObject) -> &'a SchemaObject {
        for _ in 0..8 {
            // `allOf: [one]` is how schemars attaches a description to a $ref.
            if let Some(all) = obj.subschemas.as_ref().and_then(|s| s.all_of.as_ref()) {
                if let [Schema::Object(only)] = all.as_slice() {
                    obj = only;
                    continue;
                }
            }
            let Some(reference) = &obj.reference else {
                break;
            };
            let name = reference.trim_start_matches("#/definitions/");
            match self.schema.definitions.get(name) {
                Some(Schema::Object(o)) => obj = o,
                _ => break,
            }
        }
        obj
    }

    fn check(&self, node: &Node, schema: &'a SchemaObject, path: &str, out: &mut Vec<Diagnostic>) {
        let schema = self.resolve(schema);
        if matches!(node.value, NodeValue::Alias) {
            return;
        }
        let shape = match node.value {
            NodeValue::Map(_) => Shape::Object,
            NodeValue::Seq(_) => Shape::Array,
            _ => Shape::Scalar,
        };
        if let Some(subs) = &schema.subschemas {
            if is_null(node) && self.allows_null_anywhere(schema) {
                return;
            }
            let branches = subs.any_of.iter().chain(subs.one_of.iter()).flatten();
            let mut expected = Vec::new();
            for branch in branches {
                let Schema::Object(branch) = branch else {
                    return;
                };
                let branch = self.resolve(branch);
                if self.shapes(branch).contains(&shape) {
                    return self.check(node, branch, path, out);
                }
                expected.extend(self.shapes(branch));
            }
            if !expected.is_empty() {
                out.push(shape_error(node, path, &expected));
            }
            return;
        }
        let allowed = self.shapes(schema);
        if !allowed.is_empty() && !allowed.contains(&shape) {
            // A YAML null (`key:` with nothing) stands for "not set".
            if !(shape == Shape::Scalar && is_null(node) && allows_null(schema)) {
                out.push(shape_error(node, path, &allowed));
            }
            return;
        }
        match &node.value {
            NodeValue::Map(entries) => self.check_map(node, entries, schema, path, out),
            NodeValue::Seq(items) => {
                let item_schema = schema
                    .array
                    .as_ref()
                    .and_then(|a| a.items.as_ref())
                    .and_then(|i| match i {
                        SingleOrVec::Single(s) => match &**s {
                            Schema::Object(o) => Some(o),
                            Schema::Bool(_) => None,
                        },
                        SingleOrVec::Vec(_) => None,
                    });
                if let Some(item_schema) = item_schema {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item, item_schema, &format!("{path}[{i}]"), out);
                    }
                }
            }
            _ => self.check_scalar(node, schema, path, out),
        }
    }

    fn check_map(
        &self,
        node: &Node,
        entries: &[(Node, Node)],
        schema: &'a SchemaObject,
        path: &str,
        out: &mut Vec<Diagnostic>,
    ) {
        let Some(object) = &schema.object else {
            return;
        };
        let mut seen: HashMap<&str, &Node> = HashMap::new();
        for (key, value) in entries {
            let Some(name) = key.as_str() else {
                out.push(
                    Diagnostic::error("bad-key", "mapping keys must be plain strings")
                        .at(Some(key.span.clone()), "not a string")
                        .path(path),
                );
                continue;
            };
            let child_path = join(path, name);
            if let Some(first) = seen.insert(name, key) {
                out.push(
                    Diagnostic::error("duplicate-key", format!("duplicate key `{name}`"))
                        .at(Some(key.span.clone()), "defined again here")
                        .also(Some(first.span.clone()), "first defined here")
                        .path(&child_path)
                        .help(format!("remove one of the two `{name}` keys")),
                );
                continue;
            }
            if let Some(Schema::Object(prop)) = object.properties.get(name) {
                self.check(value, prop, &child_path, out);
            } else if let Some(extra) = object.additional_properties.as_deref() {
                match extra {
                    Schema::Object(extra) => self.check(value, extra, &child_path, out),
                    Schema::Bool(true) => {}
                    Schema::Bool(false) => out.push(unknown_key(
                        key,
                        name,
                        object.properties.keys(),
                        &child_path,
                    )),
                }
            } else if !object.properties.is_empty() {
                out.push(unknown_key(
                    key,
                    name,
                    object.properties.keys(),
                    &child_path,
                ));
            }
        }
        for required in &object.required {
            if !seen.contains_key(required.as_str()) {
                let head = node.span.start..node.span.start + 1;
                out.push(
                    Diagnostic::error("missing-key", format!("missing required key `{required}`"))
                        .at(Some(head), format!("`{required}` is required here"))
                        .path(path),
                );
            }
        }
    }

    fn check_scalar(
        &self,
        node: &Node,
        schema: &SchemaObject,
        path: &str,
        out: &mut Vec<Diagnostic>,
    ) {
        let Some(types) = &schema.instance_type else {
            return;
        };
        let types: Vec<InstanceType> = match types {
            SingleOrVec::Single(t) => vec![**t],
            SingleOrVec::Vec(v) => v.clone(),
        };
        let NodeValue::Scalar { text, quoted } = &node.value else {
            return;
        };
        if !quoted && is_null(node) && !types.contains(&InstanceType::Null) {
            out.push(
                Diagnostic::error(
                    "missing-value",
                    format!("`{}` has no value", last_segment(path)),
                )
                .at(Some(node.span.clone()), "nothing here")
                .path(path)
                .help("give it a value, or quote an empty text: `\"\"`"),
            );
            return;
        }
        let fits = types.iter().any(|t| match t {
            InstanceType::String => true,
            InstanceType::Null => !quoted && is_null(node),
            InstanceType::Boolean => !quoted && matches!(text.as_str(), "true" | "false"),
            InstanceType::Integer => !quoted && text.parse::<i64>().is_ok(),
            InstanceType::Number => !quoted && text.parse::<f64>().is_ok(),
            InstanceType::Object | InstanceType::Array => false,
        });
        if !fits {
            let expected = types
                .iter()
                .filter(|t| **t != InstanceType::Null)
                .map(|t| match t {
                    InstanceType::Boolean => "`true` or `false`",
                    InstanceType::Integer => "a whole number",
                    InstanceType::Number => "a number",
                    _ => "a string",
                })
                .collect::<Vec<_>>()
                .join(" or ");
            out.push(
                Diagnostic::error(
                    "wrong-type",
                    format!("`{}` must be {expected}", last_segment(path)),
                )
                .at(Some(node.span.clone()), format!("found `{text}`"))
                .path(path),
            );
            return;
        }
        if types.contains(&InstanceType::Integer) && !types.contains(&InstanceType::String) {
            if let Ok(n) = text.parse::<i128>() {
                if let Some(why) = out_of_range(n, schema) {
                    out.push(
                        Diagnostic::error("wrong-type", format!("`{}` {why}", last_segment(path)))
                            .at(Some(node.span.clone()), format!("found `{text}`"))
                            .path(path),
                    );
                }
            }
        }
    }

    /// Whether `null` fits `schema` or any of its alternatives.
    fn allows_null_anywhere(&self, schema: &'a SchemaObject) -> bool {
        let schema = self.resolve(schema);
        if allows_null(schema) {
            return true;
        }
        schema.subschemas.as_ref().is_some_and(|subs| {
            subs.any_of
                .iter()
                .chain(subs.one_of.iter())
                .flatten()
                .any(|b| matches!(b, Schema::Object(o) if self.allows_null_anywhere(o)))
        })
    }

    fn shapes(&self, schema: &SchemaObject) -> Vec<Shape> {
        let schema = self.resolve(schema);
        if let Some(subs) = &schema.subschemas {
            return subs
                .any_of
                .iter()
                .chain(subs.one_of.iter())
                .flatten()
                .filter_map(|s| match s {
                    Schema::Object(o) => Some(self.shapes(o)),
                    Schema::Bool(_) => None,
                })
                .flatten()
                .collect();
        }
        let Some(types) = &schema.instance_type else {
            return Vec::new();
        };
        let list: Vec<InstanceType> = match types {
            SingleOrVec::Single(t) => vec![**t],
            SingleOrVec::Vec(v) => v.clone(),
        };
        let mut shapes: Vec<Shape> = list
            .into_iter()
            .map(|t| match t {
                InstanceType::Object => Shape::Object,
                InstanceType::Array => Shape::Array,
                _ => Shape::Scalar,
            })
            .collect();
        shapes.dedup();
        shapes
    }
}

/// Why whole number `n` does not fit the bounds schemars records for
/// integer fields (`minimum`, and the width in `format`).
fn out_of_range(n: i128, schema: &SchemaObject) -> Option<String> {
    let min = schema
        .number
        .as_ref()
        .and_then(|v| v.minimum)
        .map(|m| m as i128);
    let max = match schema.format.as_deref() {
        Some("uint8") => Some(u8::MAX as i128),
        Some("uint16") => Some(u16::MAX as i128),
        Some("uint32") => Some(u32::MAX as i128),
        Some("uint64" | "uint") => Some(u64::MAX as i128),
        Some("int32") => Some(i32::MAX as i128),
        Some("int64" | "int") => Some(i64::MAX as i128),
        _ => None,
    };
    match (min, max) {
        (Some(0), _) if n < 0 => Some("cannot be negative".to_string()),
        (Some(min), _) if n < min => Some(format!("must be at least {min}")),
        (_, Some(max)) if n > max => Some(format!("must be at most {max}")),
        _ => None,
    }
}

fn allows_null(schema: &SchemaObject) -> bool {
    match &schema.instance_type {
        Some(SingleOrVec::Single(t)) => **t == InstanceType::Null,
        Some(SingleOrVec::Vec(v)) => v.contains(&InstanceType::Null),
        None => false,
    }
}

fn is_null(node: &Node) -> bool {
    matches!(&node.value, NodeValue::Scalar { text, quoted: false } if matches!(text.as_str(), "" | "~" | "null"))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn last_segment(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn unknown_key<'k>(
    key: &Node,
    name: &str,
    known: impl Iterator<Item = &'k String> + Clone,
    path: &str,
) -> Diagnostic {
    let list = known
        .clone()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Diagnostic::error("unknown-key", format!("unknown key `{name}`"))
        .at(Some(key.span.clone()), "not a known key here")
        .path(path)
        .help(if name == "<<" {
            "YAML merge keys (`<<`) are not supported; write the keys out".to_string()
        } else {
            did_you_mean(name, known.map(String::as_str))
                .unwrap_or_else(|| format!("known keys: {list}"))
        })
}

fn shape_error(node: &Node, path: &str, expected: &[Shape]) -> Diagnostic {
    let mut names: Vec<&str> = expected
        .iter()
        .map(|s| match s {
            Shape::Object => "a mapping",
            Shape::Array => "a list",
            Shape::Scalar => "a single value",
        })
        .collect();
    names.dedup();
    let what = if path.is_empty() {
        "the document"
    } else {
        path
    };
    Diagnostic::error(
        "wrong-shape",
        format!(
            "`{what}` must be {}, not {}",
            names.join(" or "),
            node.kind_name()
        ),
    )
    .at(
        Some(node.span.start..node.span.start + 1),
        format!("{} here", node.kind_name()),
    )
    .path(path)
}

//! Masking secrets before anything leaves the engine: secret param values
//! (by value, wherever they appear), the runbook's `redact:` patterns, and
//! common credential shapes (private keys, bearer tokens, `password=`).
//! Every record — audit file, terminal, logs, reports — goes through here.

use std::borrow::Cow;
use std::sync::OnceLock;

use regex::Regex;

/// What replaces a secret.
pub const MASK: &str = "[REDACTED]";

/// Secrets shorter than this are not masked by value: masking every `a`
/// would destroy the record without protecting anything.
pub const MIN_SECRET_LEN: usize = 3;

/// Masks secrets in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
    patterns: Vec<Regex>,
}

fn builtin() -> &'static [(Regex, &'static str)] {
    static PATTERNS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let raw: [(&str, &str); 5] = [
            (r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|\z)", MASK),
            // The end of a key whose start was cut off (output kept as head
            // and tail, the key straddling the cut): its body lines are as
            // secret as the whole.
            (r"(?:[A-Za-z0-9+/=]{16,}\r?\n)+-----END [A-Z0-9 ]*PRIVATE KEY-----", MASK),
            (r"(?i)\b(bearer|token)(\s+)[A-Za-z0-9._~+/=-]{8,}", "$1$2[REDACTED]"),
            (r#"(?i)\b(password|passwd|pwd|secret|api[_-]?key|access[_-]?key|client[_-]?secret)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)"#, "$1$2[REDACTED]"),
            (r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", MASK),
        ];
        raw.iter()
            .filter_map(|(p, r)| Regex::new(p).ok().map(|re| (re, *r)))
            .collect()
    })
}

/// A secret and the forms it takes in a rendered command: a value
/// interpolated into `run:` is shell-quoted, and a secret with a quote, `$`
/// or `"` in it no longer appears verbatim there (`'a'"'"'b'`-style). The
/// quoted form is masked as well, with and without its outer quotes (the
/// value may be quoted as part of a longer string).
fn with_quoted_forms(secret: String) -> Vec<String> {
    let mut forms = vec![secret.clone()];
    if let Ok(quoted) = shlex::try_quote(&secret) {
        let quoted = quoted.into_owned();
        if quoted != secret {
            let inner = quoted
                .get(1..quoted.len().saturating_sub(1))
                .unwrap_or_default()
                .to_string();
            if inner.len() >= MIN_SECRET_LEN && inner != secret {
                forms.push(inner);
            }
            forms.push(quoted);
        }
    }
    forms
}

impl Redactor {
    /// Masks `values` (secret params) and `patterns` (runbook `redact:`), plus
    /// the built-in credential shapes.
    pub fn new(values: impl IntoIterator<Item = String>, patterns: Vec<Regex>) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_SECRET_LEN)
            .flat_map(with_quoted_forms)
            .collect();
        // Longest first, so a secret containing another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Redactor { values, patterns }
    }

    /// Adds more secret values.
    pub fn add_values(&mut self, values: impl IntoIterator<Item = String>) {
        self.values.extend(
            values
                .into_iter()
                .filter(|v| v.len() >= MIN_SECRET_LEN)
                .flat_map(with_quoted_forms),
        );
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        self.values.dedup();
    }

    /// `text` with every secret masked.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = Cow::Owned(out.replace(v.as_str(), MASK));
            }
        }
        for re in &self.patterns {
            if re.is_match(&out) {
                out = Cow::Owned(re.replace_all(&out, MASK).into_owned());
            }
        }
        for (re, with) in builtin() {
            if re.is_match(&out) {
                out = Cow::Owned(re.replace_all(&out, *with).into_owned());
            }
        }
        out
    }

    /// Masks every string inside a JSON value, in place.
    pub fn redact_json(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => {
                if let Cow::Owned(new) = self.redact(s) {
                    *s = new;
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.redact_json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.redact_json(v)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_masked_wherever_they_appear() {
        let r = Redactor::new(["hunter22".to_string()], vec![]);
        assert_eq!(
            r.redact("curl -u admin:hunter22 x"),
            "curl -u admin:[REDACTED] x"
        );
    }

    #[test]
    fn credential_shapes_are_masked() {
        let r = Redactor::default();
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n-----END OPENSSH PRIVATE KEY-----";
        assert_eq!(r.redact(key), MASK);
        assert_eq!(
            r.redact("Authorization: Bearer abcdefghijkl"),
            "Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            r.redact("db password=s3cr3t! host=x"),
            "db password=[REDACTED] host=x"
        );
    }

    #[test]
    fn shell_quoted_secrets_are_masked() {
        let secret = "S3cr3t-'tok'-$HOME-\"q\"";
        let r = Redactor::new([secret.to_string()], vec![]);
        let quoted = shlex::try_quote(secret).expect("quotable").into_owned();
        assert_ne!(quoted, secret);
        assert_eq!(r.redact(&format!("echo {quoted}")), "echo [REDACTED]");
        assert_eq!(r.redact(secret), MASK);
    }

    #[test]
    fn the_tail_of_a_cut_key_is_masked() {
        let r = Redactor::default();
        let tail = "[… 1000 bytes not kept …]\nAAAAC3NzaC1lZDI1NTE5AAAAIG\nb3BlbnNzaC1rZXktdjEAAAAA==\n-----END OPENSSH PRIVATE KEY-----\nok\n";
        let masked = r.redact(tail);
        assert!(!masked.contains("AAAAC3Nza"), "{masked}");
        assert!(masked.ends_with("[REDACTED]\nok\n"), "{masked}");
    }

    #[test]
    fn runbook_patterns_are_masked() {
        let r = Redactor::new([], vec![Regex::new("tok-[0-9]+").expect("regex")]);
        assert_eq!(r.redact("id tok-1234 ok"), "id [REDACTED] ok");
    }
}

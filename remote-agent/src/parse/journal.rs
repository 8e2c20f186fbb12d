//! Journal lines (`journalctl -o short-iso`) and the normaliser that lets a
//! flood of near-identical lines (kubelet's `orphaned pod "…"` every 2 s)
//! collapse into one counted group.

/// A `short-iso` journal line split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalLine<'a> {
    /// `2022-09-28T07:54:18+0000`.
    pub time: &'a str,
    /// The host name.
    pub host: &'a str,
    /// `kubelet[8440]: E0928 ...`: identifier, pid and message.
    pub entry: &'a str,
}

/// Splits `TIME HOST IDENT[PID]: MESSAGE`. Journal meta lines (`-- Boot
/// ... --`, `-- No entries --`) and lines without a leading timestamp give
/// `None`.
pub fn split_short_iso(line: &str) -> Option<JournalLine<'_>> {
    if line.starts_with("-- ") {
        return None;
    }
    let (time, rest) = line.split_once(' ')?;
    if !time.as_bytes().first().is_some_and(u8::is_ascii_digit) || !time.contains('T') {
        return None;
    }
    let (host, entry) = rest.split_once(' ').unwrap_or((rest, ""));
    Some(JournalLine { time, host, entry })
}

/// Whether `b` starts with a UUID (`8-4-4-4-12` hex digits).
fn starts_with_uuid(b: &[u8]) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut i = 0;
    for (n, len) in GROUPS.iter().enumerate() {
        if n > 0 {
            if b.get(i) != Some(&b'-') {
                return false;
            }
            i += 1;
        }
        match b.get(i..i + len) {
            Some(group) if group.iter().all(u8::is_ascii_hexdigit) => i += len,
            _ => return false,
        }
    }
    !b.get(i).is_some_and(u8::is_ascii_alphanumeric)
}

/// Replaces what changes from one occurrence of a message to the next —
/// UUIDs, hex ids, numbers (so timestamps, pids, durations) — with
/// placeholders, and collapses runs of whitespace.
///
/// `E0928 07:54:18.267169 8440 kubelet_volumes.go:245] ... "7181c3a5-…"`
/// becomes `E<n> <n>:<n>:<n>.<n> <n> kubelet_volumes.go:<n>] ... "<uuid>"`.
pub fn normalize(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(512));
    let mut rest = message;
    while let Some(c) = rest.chars().next() {
        if c.is_ascii_hexdigit() && starts_with_uuid(rest.as_bytes()) {
            out.push_str("<uuid>");
            rest = rest.get(36..).unwrap_or("");
        } else if c.is_ascii_alphanumeric() {
            let len = rest
                .bytes()
                .position(|b| !b.is_ascii_alphanumeric())
                .unwrap_or(rest.len());
            let (word, after) = rest.split_at(len);
            push_word(&mut out, word);
            rest = after;
        } else if c.is_whitespace() {
            out.push(' ');
            rest = rest.trim_start();
        } else {
            out.push(c);
            rest = rest.get(c.len_utf8()..).unwrap_or("");
        }
    }
    out.truncate(out.trim_end().len());
    out
}

fn push_word(out: &mut String, word: &str) {
    let has_digit = word.bytes().any(|b| b.is_ascii_digit());
    if !has_digit {
        out.push_str(word);
        return;
    }
    let is_hex_prefixed = word
        .strip_prefix("0x")
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()));
    let all_digits = word.bytes().all(|b| b.is_ascii_digit());
    let long_hex = word.len() >= 8 && word.bytes().all(|b| b.is_ascii_hexdigit());
    if all_digits {
        out.push_str("<n>");
    } else if is_hex_prefixed || long_hex {
        out.push_str("<hex>");
    } else {
        // Letters with digits (`E0928`, `k8s`): keep the letters.
        let mut in_digits = false;
        for ch in word.chars() {
            if ch.is_ascii_digit() {
                if !in_digits {
                    out.push_str("<n>");
                }
                in_digits = true;
            } else {
                out.push(ch);
                in_digits = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_kubelet_lines_collapse() {
        let a = r#"kubelet[8440]: E0928 07:54:18.267169    8440 kubelet_volumes.go:245] "There were many similar errors. Turn up verbosity to see them." err="orphaned pod \"7181c3a5-8f6e-4b1a-9d2c-1e0f5a6b7c8d\" found, but error not a directory occurred when trying to remove the volumes dir" numErrs=3"#;
        let b = r#"kubelet[8440]: E0928 07:54:36.272904    8440 kubelet_volumes.go:245] "There were many similar errors. Turn up verbosity to see them." err="orphaned pod \"7181c3a5-8f6e-4b1a-9d2c-1e0f5a6b7c8d\" found, but error not a directory occurred when trying to remove the volumes dir" numErrs=3"#;
        assert_eq!(normalize(a), normalize(b));
        assert!(
            normalize(a).contains(r#"orphaned pod \"<uuid>\""#),
            "{}",
            normalize(a)
        );
        assert!(normalize(a)
            .starts_with("kubelet[<n>]: E<n> <n>:<n>:<n>.<n> <n> kubelet_volumes.go:<n>]"));
    }

    #[test]
    fn hex_ids_and_addresses() {
        assert_eq!(
            normalize("container 87d3992f84f74a1b exited, ptr 0xdeadbeef"),
            "container <hex> exited, ptr <hex>"
        );
        assert_eq!(normalize("café  au   lait"), "café au lait");
    }

    #[test]
    fn splits_short_iso() {
        let l = split_short_iso("2022-09-28T07:54:18+0000 node-15 kubelet[8440]: hello");
        assert_eq!(
            l.map(|l| (l.time, l.host, l.entry)),
            Some((
                "2022-09-28T07:54:18+0000",
                "node-15",
                "kubelet[8440]: hello"
            ))
        );
        assert!(split_short_iso("-- No entries --").is_none());
        assert!(split_short_iso("hello world").is_none());
    }
}

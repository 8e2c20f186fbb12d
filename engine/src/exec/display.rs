//! Making remote text safe to show on a terminal: control characters and
//! escape sequences are neutralised so a hostile host cannot repaint the
//! operator's screen or hide lines.

/// `text` with control characters (except newline and tab) shown as
/// `\x1b`-style escapes.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            // Bidirectional overrides can reorder what is displayed.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_neutralised() {
        assert_eq!(sanitize("ok\x1b[2J\x07done\n"), "ok\\x1b[2J\\x07done\n");
    }
}

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

/// `text` for a place that holds one line (a progress line, a table
/// cell, a host name): like [`sanitize`], and newlines and tabs are shown
/// as `\n` and `\t` too, so that no value can start a line of its own and
/// pass for another host's row or progress.
pub fn sanitize_line(text: &str) -> String {
    sanitize(text).replace('\n', "\\n").replace('\t', "\\t")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_stays_one_line() {
        assert_eq!(
            sanitize_line("a\nnode-9  ok\tfine\r"),
            "a\\nnode-9  ok\\tfine\\x0d"
        );
    }

    #[test]
    fn escape_sequences_are_neutralised() {
        assert_eq!(sanitize("ok\x1b[2J\x07done\n"), "ok\\x1b[2J\\x07done\n");
    }
}

//! Text shown to an operator (status messages, `juju-log` lines, action failures) may carry
//! words from outside: a related charm's values, Prometheus's error messages. A control
//! character there would reach `juju status` or a terminal as is (an ANSI escape recolours
//! or rewrites the operator's screen), so every such text passes through [`printable`].

/// `text` with every control character (C0, DEL, C1) shown as its `\u{..}` escape, so
/// nothing is lost and nothing is interpreted; line breaks and tabs are kept only when
/// `multi_line`.
pub fn printable(text: &str, multi_line: bool) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\t' if multi_line => out.push(c),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_shown_not_interpreted() {
        assert_eq!(printable("plain ünïcode", false), "plain ünïcode");
        assert_eq!(
            printable("\u{1b}[31mred\u{1b}[0m", false),
            "\\u{1b}[31mred\\u{1b}[0m"
        );
        assert_eq!(printable("a\nb\tc\rd", false), "a\\u{a}b\\u{9}c\\u{d}d");
        assert_eq!(printable("a\nb\tc\rd", true), "a\nb\tc\\u{d}d");
        assert_eq!(printable("\u{7f}\u{85}", true), "\\u{7f}\\u{85}");
    }
}

//! The one text module: every text view wraps, escapes and counts through here.
//!
//! - An 80-column terminal: [`wrap`] breaks lines between words, and a word longer than a
//!   line (an address list, a URL) across lines: the evidence is never cut off.
//! - Untrusted text (DNS TXT records, HTTP bodies, resolv.conf lines, object names, OS
//!   messages) must not drive the terminal: [`escape`] writes control characters and
//!   bidirectional overrides as `\x1b`, `\u{202e}`. [`wrap`] escapes what it is given.
//! - Counts read naturally: [`count`] ("1 distinct response", "3 distinct responses") and
//!   [`of`] ("none of 20", "1 of 20", "all 20").

use std::borrow::Cow;
use std::fmt::Write as _;

/// Columns of the terminal every text view fits.
pub const WIDTH: usize = 80;

/// Characters that reorder the text around them on a terminal (Trojan Source).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with control characters escaped: ASCII ones (newline and escape included) as
/// `\x1b`, others and bidirectional overrides as `\u{85}`. A backslash stays as it is.
pub fn escape(text: &str) -> Cow<'_, str> {
    // Printable ASCII, the usual text, is told by its bytes without classifying characters.
    if is_printable_ascii(text) || !text.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || is_bidi_control(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn is_printable_ascii(text: &str) -> bool {
    text.bytes().all(|b| (b' '..=b'~').contains(&b))
}

/// [`escape`], line by line: the newlines of a finished view stay, anything else is
/// escaped. The last guard before the terminal.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    if !text
        .chars()
        .any(|c| (c.is_control() && c != '\n') || is_bidi_control(c))
    {
        return Cow::Borrowed(text);
    }
    let lines: Vec<Cow<'_, str>> = text.split('\n').map(escape).collect();
    Cow::Owned(lines.join("\n"))
}

/// Writes `text`, escaped, to `out` in lines of at most [`WIDTH`] columns. The first line
/// keeps `text`'s leading spaces; the next ones start with `indent`. Words are kept whole
/// when they fit a line, and broken across lines (never cut) when they do not. Linear in
/// the length of `text`: a hostile file can hold a word of a megabyte.
pub fn wrap(out: &mut String, indent: &str, text: &str) {
    let text = escape(text);
    let body = text.trim_start();
    let mut line = text
        .get(..text.len() - body.len())
        .unwrap_or_default()
        .to_string();
    // Widths are counted as the line grows, never by rescanning it; in ASCII text (nearly
    // always, once escaped) a width is a length.
    let ascii = text.is_ascii();
    let width_of = |s: &str| if ascii { s.len() } else { s.chars().count() };
    let lead = width_of(&line);
    let indent_width = indent.chars().count();
    let room = WIDTH.saturating_sub(indent_width).max(1);
    let mut width = lead;
    for word in body.split(' ') {
        let word_width = width_of(word);
        if width > lead && width + 1 + word_width > WIDTH {
            let _ = writeln!(out, "{}", line.trim_end());
            line = indent.to_string();
            width = indent_width;
        } else if width > lead {
            line.push(' ');
            width += 1;
        }
        let (mut rest, mut rest_width) = (word, word_width);
        // A word longer than a whole line: as much as fits here, the rest on the next lines.
        while width + rest_width > WIDTH && rest_width > room {
            let fits = WIDTH.saturating_sub(width).max(1).min(rest_width);
            let at = if ascii {
                fits
            } else {
                rest.char_indices().nth(fits).map_or(rest.len(), |(i, _)| i)
            };
            line.push_str(&rest[..at]);
            let _ = writeln!(out, "{line}");
            line = indent.to_string();
            width = indent_width;
            rest = &rest[at..];
            rest_width -= fits;
        }
        line.push_str(rest);
        width += rest_width;
    }
    let _ = writeln!(out, "{}", line.trim_end());
}

/// At most `max` characters of `text` (escaped), with `…` where it was cut: for data shown
/// as a sample (a body's first line), never for evidence such as addresses.
pub fn clip(text: &str, max: usize) -> String {
    let text = escape(text);
    if text.chars().count() <= max {
        return text.into_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `n` and the noun, singular for one: "1 distinct response", "3 distinct responses".
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{n} {plural}")
    }
}

/// `n` of `total`, said naturally: "none of 20", "all 20", "3 of 20", "1 of 1".
pub fn of(n: usize, total: usize) -> String {
    match (n, total) {
        (0, t) => format!("none of {t}"),
        (n, t) if n == t && t > 1 => format!("all {t}"),
        (n, t) => format!("{n} of {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_and_controls_are_shown_not_obeyed() {
        assert_eq!(escape("pod-a"), "pod-a");
        assert_eq!(escape("\u{1b}[2J\u{7}x"), "\\x1b[2J\\x07x");
        assert_eq!(escape("a\nb\tc"), "a\\x0ab\\x09c");
        assert_eq!(escape("\u{85}\u{202e}txt"), "\\u{85}\\u{202e}txt");
        assert_eq!(
            escape_lines("ok\n\u{1b}]0;x\u{7}\n"),
            "ok\n\\x1b]0;x\\x07\n"
        );
    }

    #[test]
    fn wraps_at_80_columns_and_never_cuts_a_word() {
        let mut out = String::new();
        let long = "word ".repeat(50) + &"x".repeat(200) + " end";
        wrap(&mut out, "    ", &long);
        assert!(out.lines().all(|l| l.chars().count() <= WIDTH), "{out}");
        assert_eq!(out.matches('x').count(), 200, "{out}");
        assert!(out.ends_with("end\n"), "{out}");
        let mut out = String::new();
        wrap(&mut out, "       ", "  first line keeps its indent");
        assert_eq!(out, "  first line keeps its indent\n");
    }

    /// A resolv.conf of 1 MiB may be one search domain: wrapping it must take time in
    /// proportion to its length. Quadratic work (moving the rest of the word for every
    /// line, about 10^11 character moves here) takes minutes; linear takes milliseconds, so
    /// the bound holds with a wide margin on a loaded machine.
    #[test]
    fn wrapping_a_huge_word_is_linear() {
        let word = "x".repeat(4 << 20);
        let started = std::time::Instant::now();
        let mut out = String::new();
        wrap(&mut out, "    ", &format!("  search: {word} end"));
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        assert_eq!(out.matches('x').count(), word.len());
        assert!(out.lines().all(|l| l.chars().count() <= WIDTH));
        assert!(out.ends_with("end\n"));
    }

    #[test]
    fn counts_read_naturally() {
        assert_eq!(
            count(1, "distinct response", "distinct responses"),
            "1 distinct response"
        );
        assert_eq!(count(0, "backend", "backends"), "0 backends");
        assert_eq!(of(0, 20), "none of 20");
        assert_eq!(of(20, 20), "all 20");
        assert_eq!(of(3, 20), "3 of 20");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}

//! Would Go's `regexp.Compile` (RE2 syntax, Go 1.19/1.20, as Prometheus 2.42 compiles every
//! relabel regex and `=~` matcher) take this expression? It refuses what RE2 lacks
//! (look-around, back-references, possessive or atomic groups, `(?<name>`), what it rejects
//! structurally (unbalanced groups and classes, dangling or stacked repetition, bad escapes
//! such as `\x+4`), repeat counts over 1000, and nested repeats whose counts multiply past
//! 1000 (`(a{30}){40}`, Go's `repeatIsValid`). Go's other limits (a program of 3355443
//! instructions, nesting 1000 deep, 33554432 class runes) cannot be reached within
//! [`MAX_REGEX_BYTES`], which is why that bound is there. Rare but valid forms (`\Q…\E`, most
//! Unicode scripts, `\p` inside a class, `^*`) are refused: refusing costs a remote charm a
//! rule, accepting a bad one costs every rule.

use thiserror::Error;

/// Longest regex we accept. At this length, the worst cases of RE2's size, nesting and rune
/// limits stay far below them (checked against promtool in `relations::grammar_tests`).
pub const MAX_REGEX_BYTES: usize = 1024;

/// RE2's largest repeat count, for one `{n,m}` and for nested ones multiplied.
const MAX_REPEAT: u64 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RegexError {
    #[error("longer than {MAX_REGEX_BYTES} bytes")]
    TooLong,
    #[error("trailing backslash")]
    TrailingBackslash,
    #[error("back-references are not supported")]
    BackReference,
    #[error("invalid escape sequence")]
    BadEscape,
    #[error("unclosed or invalid character class")]
    BadClass,
    #[error("unsupported (?…) group")]
    BadGroup,
    #[error("unbalanced parentheses")]
    Unbalanced,
    #[error("missing argument to repetition operator")]
    MisplacedRepetition,
    #[error("invalid repeat count (at most {MAX_REPEAT}, nested repeats multiplied)")]
    RepeatCount,
}

/// One open group: the largest nested-repeat product of its finished items, and that of
/// the last item, which a repetition after it multiplies.
#[derive(Default)]
struct Group {
    done: u64,
    last: Option<u64>,
}

impl Group {
    fn finish_last(&mut self) {
        if let Some(last) = self.last.take() {
            self.done = self.done.max(last);
        }
    }

    fn start_item(&mut self, need: u64) {
        self.finish_last();
        self.last = Some(need);
    }

    fn need(mut self) -> u64 {
        self.finish_last();
        self.done
    }
}

/// Checks `re` as Go's `regexp.Compile` would (see the module documentation).
pub fn check(re: &str) -> Result<(), RegexError> {
    if re.len() > MAX_REGEX_BYTES {
        return Err(RegexError::TooLong);
    }
    let chars: Vec<char> = re.chars().collect();
    let mut groups = vec![Group::default()];
    // Whether the previous item can take a repetition operator, and whether it already has one.
    let mut repeatable = false;
    let mut repeated = false;
    let mut i = 0;
    while i < chars.len() {
        let top = groups.len() - 1;
        match chars[i] {
            '\\' => {
                let (next, is_atom) = escape(&chars, i)?;
                i = next;
                if is_atom {
                    groups[top].start_item(0);
                } else {
                    groups[top].finish_last();
                }
                repeatable = is_atom;
                repeated = false;
                continue;
            }
            '[' => {
                i = skip_class(&chars, i).ok_or(RegexError::BadClass)?;
                groups[top].start_item(0);
                repeatable = true;
                repeated = false;
                continue;
            }
            '(' => {
                groups[top].finish_last();
                if chars.get(i + 1) == Some(&'?') {
                    // Go 1.19/1.20 take a group name twice (checked with promtool).
                    i = skip_group_flags(&chars, i + 2)?;
                    if chars.get(i) == Some(&')') {
                        // A flags-only group like (?i) is not a group.
                        i += 1;
                        repeatable = false;
                        repeated = false;
                        continue;
                    }
                } else {
                    i += 1;
                }
                groups.push(Group::default());
                repeatable = false;
                repeated = false;
                continue;
            }
            ')' => {
                if groups.len() < 2 {
                    return Err(RegexError::Unbalanced);
                }
                let need = groups.pop().map_or(0, Group::need);
                let top = groups.len() - 1;
                groups[top].start_item(need);
                repeatable = true;
                repeated = false;
            }
            '|' => {
                groups[top].finish_last();
                repeatable = false;
                repeated = false;
            }
            '*' | '+' | '?' => {
                if chars[i] == '?' && repeated && repeatable {
                    // Non-greedy marker after a repetition; nothing may follow it.
                    repeatable = false;
                } else if !repeatable || repeated {
                    return Err(RegexError::MisplacedRepetition);
                } else {
                    repeated = true;
                }
            }
            '{' => {
                if let Some((min, max, end)) = repetition(&chars, i) {
                    if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
                        return Err(RegexError::RepeatCount);
                    }
                    if !repeatable || repeated {
                        return Err(RegexError::MisplacedRepetition);
                    }
                    let inner = groups[top].last.unwrap_or(0);
                    let need = repeat_need(min, max, inner);
                    // Go checks a repeat of 2 or more against the product of the repeats in it.
                    if (min >= 2 || max.is_some_and(|m| m >= 2)) && need > MAX_REPEAT {
                        return Err(RegexError::RepeatCount);
                    }
                    groups[top].last = Some(need);
                    repeated = true;
                    i = end;
                    continue;
                }
                // RE2 takes a '{' that does not start a valid repetition as a literal.
                groups[top].start_item(0);
                repeatable = true;
                repeated = false;
            }
            '^' | '$' => {
                groups[top].finish_last();
                repeatable = false;
                repeated = false;
            }
            _ => {
                groups[top].start_item(0);
                repeatable = true;
                repeated = false;
            }
        }
        i += 1;
    }
    if groups.len() != 1 {
        return Err(RegexError::Unbalanced);
    }
    Ok(())
}

/// The smallest budget `n` for which Go's `repeatIsValid(x{min,max}, n)` holds, given the
/// one its operand needs: a count `m` (the max, or the min when unbounded) must be at most
/// `n`, and the operand is checked against `n / m`; `{0}` and `{0,0}` are never checked.
fn repeat_need(min: u64, max: Option<u64>, inner: u64) -> u64 {
    let m = match max {
        Some(0) => return 0,
        Some(m) => m,
        None => min,
    };
    if m == 0 {
        inner
    } else {
        m.saturating_mul(inner.max(1))
    }
}

/// An escape at `i` outside a class: the index after it, and whether it is an atom that can
/// be repeated (not `\b \B \A \z`).
fn escape(chars: &[char], i: usize) -> Result<(usize, bool), RegexError> {
    let next = *chars.get(i + 1).ok_or(RegexError::TrailingBackslash)?;
    match next {
        'b' | 'B' | 'A' | 'z' => return Ok((i + 2, false)),
        'p' | 'P' => {
            let (name, end) = match chars.get(i + 2) {
                Some('{') => {
                    let close = chars[i + 3..]
                        .iter()
                        .position(|&c| c == '}')
                        .ok_or(RegexError::BadEscape)?;
                    (
                        chars[i + 3..i + 3 + close].iter().collect::<String>(),
                        i + 4 + close,
                    )
                }
                Some(&c) => (c.to_string(), i + 3),
                None => return Err(RegexError::BadEscape),
            };
            if !UNICODE_CLASSES.contains(&name.as_str()) {
                return Err(RegexError::BadEscape);
            }
            return Ok((end, true));
        }
        'd' | 'D' | 's' | 'S' | 'w' | 'W' => return Ok((i + 2, true)),
        _ => {}
    }
    let (_, end) = escaped_char(chars, i)?;
    Ok((end, true))
}

/// A single-character escape at `i` (in or out of a class), as Go's `parseEscape`: octal
/// (`\0`, or `\1`-`\7` followed by an octal digit, up to three digits), `\xHH`,
/// `\x{H…}` up to U+10FFFF, `\a \f \n \r \t \v`, or any ASCII punctuation.
fn escaped_char(chars: &[char], i: usize) -> Result<(char, usize), RegexError> {
    let next = *chars.get(i + 1).ok_or(RegexError::TrailingBackslash)?;
    let octal = |c: Option<&char>| c.is_some_and(|c| ('0'..='7').contains(c));
    let simple = match next {
        'a' => Some('\u{7}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        c if c.is_ascii() && !c.is_ascii_alphanumeric() => Some(c),
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((c, i + 2));
    }
    match next {
        '1'..='7' if !octal(chars.get(i + 2)) => Err(RegexError::BackReference),
        '0'..='7' => {
            let mut value = 0;
            let mut j = i + 1;
            while j < i + 4 && octal(chars.get(j)) {
                value = value * 8 + chars[j].to_digit(8).unwrap_or(0);
                j += 1;
            }
            Ok((char::from_u32(value).unwrap_or('\0'), j))
        }
        'x' => {
            let (digits, end): (Vec<char>, usize) = if chars.get(i + 2) == Some(&'{') {
                let close = chars[i + 3..]
                    .iter()
                    .position(|&c| c == '}')
                    .ok_or(RegexError::BadEscape)?;
                (chars[i + 3..i + 3 + close].to_vec(), i + 4 + close)
            } else {
                (chars.iter().skip(i + 2).take(2).copied().collect(), i + 4)
            };
            if digits.is_empty() || (end == i + 4 && digits.len() != 2) {
                return Err(RegexError::BadEscape);
            }
            // Hex digits only (no sign), as many as given, up to U+10FFFF.
            let mut value: u32 = 0;
            for d in digits {
                value = value
                    .checked_mul(16)
                    .and_then(|v| v.checked_add(d.to_digit(16)?))
                    .filter(|v| *v <= 0x10_FFFF)
                    .ok_or(RegexError::BadEscape)?;
            }
            Ok((char::from_u32(value).unwrap_or('\0'), end))
        }
        '8' | '9' => Err(RegexError::BackReference),
        _ => Err(RegexError::BadEscape),
    }
}

/// Unicode classes accepted after `\p` / `\P`: the general categories and the common
/// scripts (RE2 knows more; refusing a rare one costs little, passing a bad one breaks the
/// config).
const UNICODE_CLASSES: [&str; 44] = [
    "L", "Lu", "Ll", "Lt", "Lm", "Lo", "M", "Mn", "Mc", "Me", "N", "Nd", "Nl", "No", "P", "Pc",
    "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "S", "Sm", "Sc", "Sk", "So", "Z", "Zs", "Zl", "Zp", "C",
    "Cc", "Cf", "Co", "Cs", "Greek", "Latin", "Cyrillic", "Han", "Arabic", "Hebrew", "Hiragana",
    "Katakana",
];

/// POSIX classes RE2 knows, as in `[[:alpha:]]` (or negated, `[[:^alpha:]]`).
const POSIX_CLASSES: [&str; 14] = [
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// One member of a character class at `i`: `Some(c)` for a single character (which may
/// start or end a range), `None` for a class escape like `\d`; and the index after it.
/// `\p{..}` is refused here rather than half-checked.
fn class_member(chars: &[char], i: usize) -> Option<(Option<char>, usize)> {
    let c = *chars.get(i)?;
    if c != '\\' {
        return Some((Some(c), i + 1));
    }
    match chars.get(i + 1)? {
        'd' | 'D' | 's' | 'S' | 'w' | 'W' => Some((None, i + 2)),
        _ => escaped_char(chars, i).ok().map(|(c, end)| (Some(c), end)),
    }
}

/// Index just past the `]` closing the class opened at `start`, or `None` when RE2 would
/// refuse the class (unclosed, unknown POSIX class, reversed range, unknown escape).
fn skip_class(chars: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    // A ']' right after '[' or '[^' is a literal.
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some(i + 1);
        }
        first = false;
        if c == '[' && chars.get(i + 1) == Some(&':') {
            let rest: String = chars[i + 2..].iter().collect();
            let end = rest.find(":]")?;
            let name = rest[..end].strip_prefix('^').unwrap_or(&rest[..end]);
            if !POSIX_CLASSES.contains(&name) {
                return None;
            }
            i += 2 + rest[..end].chars().count() + 2;
            continue;
        }
        let (lo, next) = class_member(chars, i)?;
        i = next;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&c| c != ']') {
            let (hi, next) = class_member(chars, i + 1)?;
            if lo? > hi? {
                return None;
            }
            i = next;
        }
    }
}

/// After `(?`: flags `[imsU]*(-[imsU]+)?` followed by `:` or `)`, or a named group
/// `P<name>` (the Go of Prometheus 2.x has no `(?<name>`). Returns the index of the `)`
/// (flags only) or just past the `:` / `>`.
fn skip_group_flags(chars: &[char], mut i: usize) -> Result<usize, RegexError> {
    if chars.get(i) == Some(&'P') {
        if chars.get(i + 1) != Some(&'<') {
            return Err(RegexError::BadGroup);
        }
        let mut j = i + 2;
        while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
            j += 1;
        }
        return if j > i + 2 && chars.get(j) == Some(&'>') {
            Ok(j + 1)
        } else {
            Err(RegexError::BadGroup)
        };
    }
    let is_flag = |c: Option<&char>| c.is_some_and(|c| "imsU".contains(*c));
    let start = i;
    while is_flag(chars.get(i)) {
        i += 1;
    }
    if chars.get(i) == Some(&'-') {
        i += 1;
        if !is_flag(chars.get(i)) {
            return Err(RegexError::BadGroup);
        }
        while is_flag(chars.get(i)) {
            i += 1;
        }
    }
    match chars.get(i) {
        Some(':') => Ok(i + 1),
        Some(')') if i > start => Ok(i),
        _ => Err(RegexError::BadGroup),
    }
}

/// If a `{n}`, `{n,}` or `{n,m}` repetition starts at `start`, as Go's `parseRepeat` reads
/// one: its counts (`None` for no upper bound; anything past 10^8 as `u64::MAX`) and the
/// index just past it. `None` when it is not a repetition: Go then reads a literal `{`, and
/// so it does for counts with a leading zero (`a{01}`).
fn repetition(chars: &[char], start: usize) -> Option<(u64, Option<u64>, usize)> {
    let mut i = start + 1;
    let min = count(chars, &mut i)?;
    let max = if chars.get(i) == Some(&',') {
        i += 1;
        if chars.get(i) == Some(&'}') {
            None
        } else {
            Some(count(chars, &mut i)?)
        }
    } else {
        Some(min)
    };
    (chars.get(i) == Some(&'}')).then_some((min, max, i + 1))
}

/// Go's `parseInt` in regexp/syntax: digits without a leading zero.
fn count(chars: &[char], i: &mut usize) -> Option<u64> {
    let start = *i;
    while chars.get(*i).is_some_and(char::is_ascii_digit) {
        *i += 1;
    }
    let digits: String = chars[start..*i].iter().collect();
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expressions Go compiles (checked against promtool with the generated cases).
    pub(crate) const ACCEPTED: &[&str] = &[
        "(.*)",
        "up|down",
        "foo_(.+)_bar",
        "[a-z]+",
        "[]a]",
        "[^]a]",
        "[[:alpha:]]+",
        "[[:^space:][:digit:]_-]",
        "[a-z-]",
        r"[\]\-a-c]",
        "(?i-s:x)",
        "a*?b+?",
        "a{2,3}",
        "a{2,}",
        "x{",
        "(?i)abc",
        "(?P<name>x)",
        "(?P<n>a)(?P<n>b)",
        "(?:a|b)*?",
        r"\d+\.\d+",
        r"\p{Greek}",
        r"\pL",
        r"\pN",
        r"\x41\x{263a}",
        r"\x{10FFFF}",
        r"\x{0000000041}",
        "^$",
        "a{1000}",
        "(a{30}){33}",
        "(a{10}){100}",
        "((a{2}){2}){250}",
        "(a{1000})*",
        "(a{1000})+",
        "(a{1000})?",
        "(a{1000}){1}",
        "(a{1000}){0}",
        "(a{2,}){500}",
        "(a{0,2}){500}",
        "(a{1,}){1000}",
        "(a*){1000}",
        "(a{3}|b{333}){3}",
        "(a{3}|b{400}){2}",
        "(?:a{2}){2,}",
        "a{01}",
        "a{1,01}",
        "{01}",
        r"\0",
        r"\00",
        r"\012",
        r"\_",
        r"\-",
        r"\<",
        r"[\0\n]",
        r"\z",
        "(?U)a*",
        "(?s).",
        "[[:word:]]",
    ];

    /// Expressions Go refuses.
    pub(crate) const REFUSED: &[&str] = &[
        "(",
        ")",
        "[a",
        "*a",
        "a**",
        "(?=x)",
        "(?!x)",
        "(?<=x)",
        r"(a)\1",
        "a\\",
        r"\k",
        "a{1001}",
        "a{3,2}",
        "(|*)",
        r"\p{Gre0k}",
        r"\p{Gree*}",
        r"\x{110000}",
        r"\xZZ",
        r"\x+4",
        r"\x{+41}",
        r"\x{}",
        r"\x4",
        r"[\x+4]",
        r"[\k]",
        "[[:lpha:]]",
        "[a-!]",
        "a*??",
        "a*?+",
        r"\é",
        "(?<n>x)",
        "(?i-)x",
        "[]",
        "(a{30}){40}",
        "(a{10}){101}",
        "((a{2}){2}){251}",
        "(a{2,}){600}",
        "(a{0,2}){501}",
        "(a{3}|b{400}){3}",
        "a{99999999999}",
        "a{2,99999999999}",
        r"\Z",
        r"\C",
        r"\8",
        "a{2}{3}",
    ];

    #[test]
    fn regexes_go_would_refuse_are_refused() {
        for ok in ACCEPTED {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in REFUSED {
            assert!(check(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check(&"a".repeat(MAX_REGEX_BYTES + 1)),
            Err(RegexError::TooLong)
        );
        // Control characters are RE2 literals; whether to take them is the caller's policy.
        assert_eq!(check("a\nb\u{0}"), Ok(()));
    }
}

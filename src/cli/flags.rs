//! Flags declared once: each [`Flag`] carries its name, its default and its help line, the
//! scanner accepts exactly the declared flags (`--flag value`, `--flag=value`, `-n NS`,
//! `-nNS`), and `--help` is generated from the same declarations, so the text cannot drift
//! from what the code does.

use std::ffi::{OsStr, OsString};
use std::time::Duration;

use super::error::{ArgError, ValueError};
use crate::decimal::shortest;

/// Every `--help` fits an 80-column terminal.
pub const WIDTH: usize = 80;
/// Where the help column starts, unless a flag is wider.
const HELP_COLUMN: usize = 22;

/// A default as `--help` shows it. Values are parsed by the flag's own parser when the flag
/// is absent, so the number in the help text is the number the code uses.
#[derive(Clone, Copy, Debug)]
pub enum Default {
    Duration(Duration),
    Number(u64),
    Text(&'static str),
    /// Not a value: where the value comes from instead ("this pod's namespace").
    Note(&'static str),
}

impl Default {
    /// The value as a user would type it (`1.5s`, `20`), or None for a note.
    fn value(&self) -> Option<String> {
        match *self {
            Default::Duration(d) => Some(duration_text(d)),
            Default::Number(n) => Some(n.to_string()),
            Default::Text(t) => Some(t.to_string()),
            Default::Note(_) => None,
        }
    }

    fn shown(&self) -> String {
        match self {
            Default::Note(note) => format!("(default: {note})"),
            other => format!("(default {})", other.value().unwrap_or_default()),
        }
    }
}

/// `1500ms` as `1.5s`, `100ms` as `100ms`, `2000ms` as `2s`.
pub fn duration_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", shortest(ms as f64 / 1000.0))
    }
}

/// One flag of one command.
#[derive(Clone, Copy, Debug)]
pub struct Flag {
    /// `--timeout`.
    pub name: &'static str,
    /// `-n` for `--namespace`.
    pub short: Option<&'static str>,
    /// The placeholder of its value (`D`, `PORT`); None for a switch.
    pub value: Option<&'static str>,
    pub default: Option<Default>,
    pub help: &'static str,
    /// Old spellings, still accepted and never shown.
    pub aliases: &'static [&'static str],
    pub repeatable: bool,
}

impl Flag {
    /// A flag that takes a value.
    pub const fn value(name: &'static str, placeholder: &'static str, help: &'static str) -> Flag {
        Flag {
            name,
            short: None,
            value: Some(placeholder),
            default: None,
            help,
            aliases: &[],
            repeatable: false,
        }
    }

    /// A flag without a value.
    pub const fn switch(name: &'static str, help: &'static str) -> Flag {
        Flag {
            value: None,
            ..Flag::value(name, "", help)
        }
    }

    pub const fn short(self, short: &'static str) -> Flag {
        Flag {
            short: Some(short),
            ..self
        }
    }

    pub const fn default(self, default: Default) -> Flag {
        Flag {
            default: Some(default),
            ..self
        }
    }

    pub const fn aliases(self, aliases: &'static [&'static str]) -> Flag {
        Flag { aliases, ..self }
    }

    pub const fn repeatable(self) -> Flag {
        Flag {
            repeatable: true,
            ..self
        }
    }

    fn answers_to(&self, spelled: &str) -> bool {
        self.name == spelled || self.short == Some(spelled) || self.aliases.contains(&spelled)
    }

    /// `-n, --namespace NS`.
    fn synopsis(&self) -> String {
        let short = self.short.map(|s| format!("{s}, ")).unwrap_or_default();
        match self.value {
            Some(v) => format!("{short}{} {v}", self.name),
            None => format!("{short}{}", self.name),
        }
    }
}

/// The flags a command line held, in order, and its operands.
#[derive(Debug, Default)]
pub struct Matches {
    found: Vec<(&'static str, Option<OsString>)>,
    pub operands: Vec<OsString>,
}

/// Sorts `args` into the declared flags of `tables` and operands. `--` ends the flags.
pub fn scan(tables: &[&[Flag]], args: Vec<OsString>) -> Result<Matches, ArgError> {
    let mut matches = Matches::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let text = match arg.to_str() {
            Some(t) if t.len() > 1 && t.starts_with('-') => t,
            _ => {
                matches.operands.push(arg);
                continue;
            }
        };
        if text == "--" {
            matches.operands.extend(args);
            break;
        }
        let (spelled, inline) = split_flag(text);
        let flag = tables
            .iter()
            .flat_map(|t| t.iter())
            .find(|f| f.answers_to(spelled))
            .ok_or_else(|| ArgError::UnknownOption(spelled.to_string()))?;
        if !flag.repeatable && matches.given(flag) {
            return Err(ArgError::Repeated(flag.name));
        }
        let value = match (flag.value, inline) {
            (None, Some(_)) => return Err(ArgError::TakesNoValue(flag.name)),
            (None, None) => None,
            (Some(_), Some(v)) => Some(OsString::from(v)),
            (Some(placeholder), None) => Some(args.next().ok_or(ArgError::NeedsValue {
                flag: flag.name,
                placeholder,
            })?),
        };
        matches.found.push((flag.name, value));
    }
    Ok(matches)
}

/// `--port=80` into `--port` and `80`; `-nprod` and `-n=prod` into `-n` and `prod`.
fn split_flag(text: &str) -> (&str, Option<&str>) {
    if text.starts_with("--") {
        return match text.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (text, None),
        };
    }
    let cut = text
        .char_indices()
        .nth(2)
        .map_or(text.len(), |(index, _)| index);
    let (name, rest) = text.split_at(cut);
    match rest {
        "" => (name, None),
        rest => (name, Some(rest.strip_prefix('=').unwrap_or(rest))),
    }
}

impl Matches {
    pub fn given(&self, flag: &Flag) -> bool {
        self.found.iter().any(|(name, _)| *name == flag.name)
    }

    fn values(&self, flag: &Flag) -> impl Iterator<Item = &OsStr> {
        let wanted = flag.name;
        self.found
            .iter()
            .filter(move |(name, _)| *name == wanted)
            .filter_map(|(_, value)| value.as_deref())
    }

    /// The value of a flag as given, for paths: any bytes are fine.
    pub fn os(&self, flag: &Flag) -> Option<&OsStr> {
        self.values(flag).next()
    }

    /// Every value of a repeatable flag, each through `parse`.
    pub fn all<T>(
        &self,
        flag: &Flag,
        parse: impl Fn(&str) -> Result<T, ValueError>,
    ) -> Result<Vec<T>, ArgError> {
        self.values(flag)
            .map(|value| parse_value(flag, value, &parse))
            .collect()
    }

    /// The flag's value through `parse`, or None when it is absent.
    pub fn get<T>(
        &self,
        flag: &Flag,
        parse: impl Fn(&str) -> Result<T, ValueError>,
    ) -> Result<Option<T>, ArgError> {
        self.os(flag)
            .map(|value| parse_value(flag, value, &parse))
            .transpose()
    }

    /// The flag's value through `parse`, or its declared default through the same parser.
    pub fn get_or_default<T>(
        &self,
        flag: &Flag,
        parse: impl Fn(&str) -> Result<T, ValueError>,
    ) -> Result<T, ArgError> {
        if let Some(value) = self.get(flag, &parse)? {
            return Ok(value);
        }
        let default = flag
            .default
            .and_then(|d| d.value())
            .ok_or(ArgError::NoDefault(flag.name))?;
        parse(&default).map_err(|source| ArgError::Default {
            flag: flag.name,
            source,
        })
    }
}

fn parse_value<T>(
    flag: &Flag,
    value: &OsStr,
    parse: impl Fn(&str) -> Result<T, ValueError>,
) -> Result<T, ArgError> {
    let text = value.to_str().ok_or(ArgError::ValueNotUtf8(flag.name))?;
    parse(text).map_err(|source| ArgError::Value {
        flag: flag.name,
        source,
    })
}

/// Rows of `left  help`, the help wrapped into its column: the options of a command, and
/// the commands of `svcprobe --help`.
pub fn rows<'a>(items: impl IntoIterator<Item = (String, String)> + 'a) -> String {
    let mut out = String::new();
    for (left, help) in items {
        let left = format!("  {left}");
        let mut lines = wrap(&help, WIDTH - HELP_COLUMN).into_iter();
        let first = lines.next().unwrap_or_default();
        if left.len() + 2 <= HELP_COLUMN {
            out.push_str(&format!("{left:HELP_COLUMN$}{first}\n"));
        } else {
            out.push_str(&format!("{left}\n{:HELP_COLUMN$}{first}\n", ""));
        }
        for line in lines {
            out.push_str(&format!("{:HELP_COLUMN$}{line}\n", ""));
        }
    }
    out
}

/// The options part of a command's help, hidden aliases left out.
pub fn options_text(flags: &[Flag]) -> String {
    rows(flags.iter().map(|f| {
        let help = match &f.default {
            Some(d) => format!("{} {}", f.help, d.shown()),
            None => f.help.to_string(),
        };
        (f.synopsis(), help)
    }))
}

/// Greedy word wrap; a word longer than the width stands alone on its line.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Flag = Flag::value("--timeout", "D", "per attempt")
        .default(Default::Duration(Duration::from_millis(1500)));
    const NAMESPACE: Flag = Flag::value("--namespace", "NS", "the namespace").short("-n");
    const COUNT: Flag = Flag::value("--count", "N", "attempts")
        .default(Default::Number(20))
        .aliases(&["--samples"]);
    const TCP: Flag = Flag::switch("--tcp", "over TCP");
    const SERVER: Flag = Flag::value("--server", "IP", "a server").repeatable();
    const TABLE: &[Flag] = &[TIMEOUT, NAMESPACE, COUNT, TCP, SERVER];

    fn scan_str(line: &str) -> Result<Matches, ArgError> {
        scan(
            &[TABLE],
            line.split_whitespace().map(OsString::from).collect(),
        )
    }

    fn text(s: &str) -> Result<String, ValueError> {
        Ok(s.to_string())
    }

    #[test]
    fn every_spelling_of_a_value() {
        for line in [
            "--timeout 2s x",
            "--timeout=2s x",
            "x --timeout 2s",
            "-n prod --timeout 2s x",
            "-nprod x --timeout=2s",
            "-n=prod x --timeout=2s",
        ] {
            let m = scan_str(line).unwrap();
            assert_eq!(m.get(&TIMEOUT, text), Ok(Some("2s".into())), "{line}");
            assert_eq!(m.operands, vec![OsString::from("x")], "{line}");
        }
        let m = scan_str("-n prod --samples 5 --tcp --server a --server=b -- --tcp").unwrap();
        assert_eq!(m.get(&NAMESPACE, text), Ok(Some("prod".into())));
        assert_eq!(m.get(&COUNT, text), Ok(Some("5".into())));
        assert!(m.given(&TCP));
        assert_eq!(m.all(&SERVER, text), Ok(vec!["a".into(), "b".into()]));
        assert_eq!(m.operands, vec![OsString::from("--tcp")]);
        let m = scan_str("- x").unwrap();
        assert_eq!(m.operands.len(), 2, "`-` is stdin, an operand");
    }

    #[test]
    fn defaults_go_through_the_same_parser() {
        let m = scan_str("x").unwrap();
        assert_eq!(m.get_or_default(&TIMEOUT, text), Ok("1.5s".into()));
        assert_eq!(m.get_or_default(&COUNT, text), Ok("20".into()));
        assert!(m.get_or_default(&NAMESPACE, text).is_err());
        assert_eq!(duration_text(Duration::from_millis(100)), "100ms");
        assert_eq!(duration_text(Duration::from_secs(5)), "5s");
    }

    #[test]
    fn what_the_scanner_refuses() {
        for (line, says) in [
            ("--bogus x", "unknown option `--bogus`"),
            ("--bogus=1 x", "unknown option `--bogus`"),
            ("-x", "unknown option `-x`"),
            ("--timeout", "`--timeout` needs a value (D)"),
            ("--tcp=yes x", "`--tcp` takes no value"),
            (
                "--timeout 1s --timeout 2s",
                "`--timeout` is given more than once",
            ),
            ("--count 1 --samples 2", "`--count` is given more than once"),
        ] {
            let error = scan_str(line).map(|_| ()).map_err(|e| e.to_string());
            assert_eq!(error, Err(says.to_string()), "{line}");
        }
        let m = scan_str("--timeout 1s").unwrap();
        let bad = |_: &str| Err::<(), _>(ValueError::NotADuration("1s".into()));
        let err = m.get(&TIMEOUT, bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`--timeout`: `1s` is not a duration from 1ms to 10m (e.g. 500ms, 2s)"
        );
    }

    #[test]
    fn help_rows_fit_80_columns() {
        let text = options_text(TABLE);
        assert!(text.contains("  -n, --namespace NS  "), "{text}");
        assert!(text.contains("(default 1.5s)"), "{text}");
        assert!(!text.contains("--samples"), "aliases stay hidden");
        let long = rows([("x".repeat(30), "word ".repeat(40))]);
        assert!(long.lines().all(|l| l.len() <= WIDTH), "{long}");
    }
}

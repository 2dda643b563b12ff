//! PostgreSQL's `regexp_count`, `regexp_instr`, `regexp_substr` and `regexp_replace`
//! (PostgreSQL 15), with their optional arguments (start position, occurrence, end option,
//! flags, subexpression) and their errors. Positions count characters from 1. PostgreSQL's flags map onto the
//! `regex` crate's: by default `.` matches a newline (`s`), `n` makes the match
//! newline-sensitive, `i`/`c` switch case sensitivity, `x` allows comments and spaces.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use regex::{Regex, RegexBuilder};

use crate::error::SqlError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Count,
    Instr,
    Substr,
    Replace,
}

/// The argument positions of each function after the string and the pattern.
#[derive(Debug, Default)]
struct Options {
    start: i64,
    n: i64,
    endoption: i64,
    flags: String,
    subexpr: i64,
}

fn bad_parameter(name: &str, value: i64) -> SqlError {
    SqlError::InvalidParameterValue(format!("invalid value for parameter \"{name}\": {value}"))
}

/// Compiles a pattern with PostgreSQL's flags; the `g` flag is refused by these functions.
fn compile(pattern: &str, flags: &str, function: &str) -> Result<Regex, SqlError> {
    let mut b = RegexBuilder::new(pattern);
    b.dot_matches_new_line(true);
    for f in flags.chars() {
        match f {
            'i' => {
                b.case_insensitive(true);
            }
            'c' => {
                b.case_insensitive(false);
            }
            'n' | 'm' => {
                b.dot_matches_new_line(false);
                b.multi_line(true);
            }
            's' => {
                b.dot_matches_new_line(true);
                b.multi_line(false);
            }
            'x' => {
                b.ignore_whitespace(true);
            }
            't' => {}
            'g' => {
                return Err(SqlError::InvalidParameterValue(format!(
                    "{function}() does not support the \"global\" option"
                )))
            }
            // PostgreSQL's hint for regexp_replace(s, p, r, '1'), meant as a start position.
            other
                if function == "regexp_replace"
                    && flags.starts_with(|c: char| c.is_ascii_digit()) =>
            {
                return Err(SqlError::InvalidParameterHint {
                    message: format!("invalid regular expression option: \"{other}\""),
                    hint: "If you meant to use regexp_replace() with a start parameter, cast the \
                           fourth argument to integer explicitly."
                        .into(),
                })
            }
            other => {
                return Err(SqlError::InvalidParameterValue(format!(
                    "invalid regular expression option: \"{other}\""
                )))
            }
        }
    }
    b.build().map_err(|e| {
        let text = e.to_string();
        let last = text.lines().last().unwrap_or("syntax error").trim();
        SqlError::InvalidRegex(format!(
            "invalid regular expression: {}",
            postgres_regex_error(last)
        ))
    })
}

/// PostgreSQL's wording (its regex library's) for the errors both libraries detect.
fn postgres_regex_error(rust: &str) -> &str {
    let reason = rust.strip_prefix("error: ").unwrap_or(rust);
    if reason.starts_with("unclosed group") || reason.starts_with("unopened group") {
        "parentheses () not balanced"
    } else if reason.starts_with("unclosed character class") {
        "brackets [] not balanced"
    } else if reason.starts_with("invalid repetition count range")
        || reason.starts_with("repetition quantifier expects a valid decimal")
    {
        "invalid repetition count(s)"
    } else if reason.starts_with("repetition operator missing expression") {
        "quantifier operand invalid"
    } else {
        rust
    }
}

/// Byte offset of the character at 1-based position `start` (the end when past it).
fn byte_at(s: &str, start: i64) -> usize {
    s.char_indices()
        .nth(usize::try_from(start - 1).unwrap_or(usize::MAX))
        .map_or(s.len(), |(i, _)| i)
}

fn char_pos(s: &str, byte: usize) -> i64 {
    s[..byte].chars().count() as i64 + 1
}

/// The successive non-overlapping matches in `text` from byte `from` on. Matching sees the
/// whole text, so `^` and `\b` keep their meaning at the start position.
fn matches_from<'t>(re: &Regex, text: &'t str, from: usize) -> Vec<regex::Captures<'t>> {
    let mut out = Vec::new();
    let mut pos = from;
    while pos <= text.len() {
        let Some(caps) = re.captures_at(text, pos) else {
            break;
        };
        let Some(m) = caps.get(0) else { break };
        pos = if m.end() > m.start() {
            m.end()
        } else {
            // An empty match: go on from the next character.
            text[m.end()..]
                .chars()
                .next()
                .map_or(text.len() + 1, |c| m.end() + c.len_utf8())
        };
        out.push(caps);
    }
    out
}

/// One call on one row.
fn apply(kind: Kind, text: &str, re: &Regex, o: &Options) -> Result<Option<ScalarValue>, SqlError> {
    let from = byte_at(text, o.start);
    match kind {
        Kind::Count => {
            let n = matches_from(re, text, from).len();
            Ok(Some(ScalarValue::Int32(Some(
                i32::try_from(n).unwrap_or(i32::MAX),
            ))))
        }
        Kind::Replace => Err(SqlError::Internal(
            "regexp_replace goes through replace()".into(),
        )),
        Kind::Instr | Kind::Substr => {
            let caps = matches_from(re, text, from)
                .into_iter()
                .nth(usize::try_from(o.n - 1).unwrap_or(usize::MAX));
            let group = caps.as_ref().and_then(|c| {
                let idx = usize::try_from(o.subexpr).ok()?;
                if idx >= c.len() {
                    return None;
                }
                c.get(idx)
            });
            Ok(Some(match kind {
                Kind::Instr => {
                    let pos = group.map_or(0, |m| {
                        char_pos(text, if o.endoption == 1 { m.end() } else { m.start() })
                    });
                    ScalarValue::Int32(Some(pos as i32))
                }
                _ => ScalarValue::Utf8(group.map(|m| m.as_str().to_owned())),
            }))
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgRegexp {
    kind: Kind,
    signature: Signature,
}

impl PgRegexp {
    /// The three functions, to register in place of DataFusion's.
    pub fn udfs() -> Vec<ScalarUDF> {
        [Kind::Count, Kind::Instr, Kind::Substr, Kind::Replace]
            .into_iter()
            .map(|kind| {
                let (min, max) = match kind {
                    Kind::Count => (2, 4),
                    Kind::Instr => (2, 7),
                    Kind::Substr => (2, 6),
                    Kind::Replace => (3, 6),
                };
                let signature = Signature::one_of(
                    (min..=max).map(TypeSignature::Any).collect(),
                    Volatility::Immutable,
                );
                ScalarUDF::from(PgRegexp { kind, signature })
            })
            .collect()
    }

    /// The options of a row, from the argument columns after the string and pattern.
    fn options(&self, args: &[ArrayRef], row: usize) -> Result<Option<Options>, SqlError> {
        let mut o = Options {
            start: 1,
            n: 1,
            ..Options::default()
        };
        let int = |i: usize| -> Result<Option<i64>, SqlError> {
            let a = &args[i];
            if a.is_null(row) {
                return Ok(None);
            }
            Ok(Some(
                a.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .value(row),
            ))
        };
        let text = |i: usize| -> Option<String> {
            let a = &args[i];
            (!a.is_null(row)).then(|| a.as_string::<i32>().value(row).to_owned())
        };
        // (argument index → meaning) per function, after (string, pattern).
        let layout: &[&str] = match self.kind {
            Kind::Count => &["start", "flags"],
            Kind::Instr => &["start", "n", "endoption", "flags", "subexpr"],
            Kind::Substr => &["start", "n", "flags", "subexpr"],
            // regexp_replace(s, p, r, flags) or (s, p, r, start [, n [, flags]]); `n` 0
            // replaces every match.
            Kind::Replace if self.flags_fourth(args) => &["flags"],
            Kind::Replace => &["start", "n", "flags"],
        };
        let first = if self.kind == Kind::Replace { 3 } else { 2 };
        if self.kind == Kind::Replace {
            o.n = -1; // the first match, or every match with the g flag
        }
        for (k, name) in layout.iter().enumerate() {
            let i = k + first;
            if i >= args.len() {
                break;
            }
            if *name == "flags" {
                match text(i) {
                    Some(f) => o.flags = f,
                    None => return Ok(None),
                }
                continue;
            }
            let Some(v) = int(i)? else { return Ok(None) };
            match *name {
                "start" if v <= 0 => return Err(bad_parameter("start", v)),
                "n" if v < 0 || (v == 0 && self.kind != Kind::Replace) => {
                    return Err(bad_parameter("n", v))
                }
                "endoption" if v != 0 && v != 1 => return Err(bad_parameter("endoption", v)),
                "subexpr" if v < 0 => return Err(bad_parameter("subexpr", v)),
                "start" => o.start = v,
                "n" => o.n = v,
                "endoption" => o.endoption = v,
                _ => o.subexpr = v,
            }
        }
        Ok(Some(o))
    }

    /// Whether regexp_replace's fourth argument is its flags (text) rather than a start.
    fn flags_fourth(&self, args: &[ArrayRef]) -> bool {
        args.get(3)
            .is_some_and(|a| matches!(a.data_type(), DataType::Utf8 | DataType::LargeUtf8))
    }
}

/// regexp_replace on one row: the `n`th match from `start` (every match for `n` 0, or the
/// first one, or all with the g flag, for `n` -1) replaced by `replacement`, where `\1`…`\9`
/// insert subexpressions, `\&` the whole match and `\\` a backslash.
fn replace(text: &str, re: &Regex, replacement: &str, o: &Options, global: bool) -> String {
    let from = byte_at(text, o.start);
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (k, caps) in matches_from(re, text, from).iter().enumerate() {
        let wanted = match o.n {
            -1 => global || k == 0,
            0 => true,
            n => usize::try_from(n - 1).is_ok_and(|n| n == k),
        };
        let Some(m) = caps.get(0) else { continue };
        if !wanted {
            continue;
        }
        out.push_str(&text[last..m.start()]);
        let mut chars = replacement.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.peek().copied() {
                Some(d @ '1'..='9') => {
                    chars.next();
                    let idx = (d as u8 - b'0') as usize;
                    if let Some(g) = caps.get(idx) {
                        out.push_str(g.as_str());
                    }
                }
                Some('&') => {
                    chars.next();
                    out.push_str(m.as_str());
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            }
        }
        last = m.end();
        if o.n == -1 && !global {
            break;
        }
    }
    out.push_str(&text[last..]);
    out
}

impl ScalarUDFImpl for PgRegexp {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Count => "regexp_count",
            Kind::Instr => "regexp_instr",
            Kind::Substr => "regexp_substr",
            Kind::Replace => "regexp_replace",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(match self.kind {
            Kind::Substr | Kind::Replace => DataType::Utf8,
            _ => DataType::Int32,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let all_scalar = crate::functions::all_scalar(&args.args);
        let fourth_is_text = args.args.get(3).is_some_and(|a| {
            matches!(
                a.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        });
        let layout_flags = match self.kind {
            Kind::Count => 3,
            Kind::Instr => 5,
            Kind::Substr => 4,
            Kind::Replace if fourth_is_text => 3,
            Kind::Replace => 5,
        };
        let texts = if self.kind == Kind::Replace { 3 } else { 2 };
        let mut arrays = Vec::with_capacity(args.args.len());
        for (i, a) in args.args.iter().enumerate() {
            let a = a.to_array(rows)?;
            let target = if i < texts || i == layout_flags {
                DataType::Utf8
            } else {
                DataType::Int64
            };
            arrays.push(cast(&a, &target)?);
        }
        let run = || -> Result<ArrayRef, SqlError> {
            let mut out: Vec<ScalarValue> = Vec::with_capacity(rows);
            let null = || match self.kind {
                Kind::Substr | Kind::Replace => ScalarValue::Utf8(None),
                _ => ScalarValue::Int32(None),
            };
            let mut cached: Option<(String, String, Regex)> = None;
            for row in 0..rows {
                let (s, p) = (&arrays[0], &arrays[1]);
                let options = self.options(&arrays, row)?;
                let (Some(o), false, false) = (options, s.is_null(row), p.is_null(row)) else {
                    out.push(null());
                    continue;
                };
                let text = s.as_string::<i32>().value(row);
                let pattern = p.as_string::<i32>().value(row);
                // regexp_replace alone takes the g flag (replace every match).
                let global = self.kind == Kind::Replace && o.flags.contains('g');
                let flags = if self.kind == Kind::Replace {
                    o.flags.replace('g', "")
                } else {
                    o.flags.clone()
                };
                let fresh = !matches!(&cached, Some((cp, cf, _)) if cp == pattern && *cf == flags);
                if fresh {
                    let re = compile(pattern, &flags, self.name())?;
                    cached = Some((pattern.to_owned(), flags, re));
                }
                let re = &cached
                    .as_ref()
                    .map(|c| &c.2)
                    .ok_or_else(|| SqlError::Internal("regular expression not compiled".into()))?;
                if self.kind == Kind::Replace {
                    let r = &arrays[2];
                    out.push(if r.is_null(row) {
                        null()
                    } else {
                        let r = r.as_string::<i32>().value(row);
                        ScalarValue::Utf8(Some(replace(text, re, r, &o, global)))
                    });
                    continue;
                }
                out.push(apply(self.kind, text, re, &o)?.unwrap_or_else(null));
            }
            if out.is_empty() {
                return Ok(match self.kind {
                    Kind::Substr | Kind::Replace => {
                        Arc::new(StringArray::from(Vec::<Option<String>>::new()))
                    }
                    _ => Arc::new(Int32Array::from(Vec::<Option<i32>>::new())),
                });
            }
            Ok(ScalarValue::iter_to_array(out)?)
        };
        crate::functions::columnar_result(run().map_err(SqlError::into_datafusion)?, all_scalar)
    }
}

/// PostgreSQL's translation of an SQL regular expression (SIMILAR TO, SUBSTRING … FOR) into
/// a POSIX one (`similar_escape`): `%` and `_` become `.*` and `.`, parentheses do not
/// capture, and the escape character followed by `"` splits the pattern into the part
/// before, the part returned, and the part after.
pub fn similar_to_regex(pattern: &str, escape: Option<char>) -> Result<String, SqlError> {
    // The part before the first separator matches as little as it can (PostgreSQL's
    // `(?:…){1,1}?` makes the whole part non-greedy; here each quantifier in it is lazy).
    let separated = escape.is_some_and(|e| {
        let needle: String = [e, '"'].iter().collect();
        pattern.contains(&needle)
    });
    let mut r = String::from("^(?:");
    let mut after_escape = false;
    let mut quotes = 0;
    let mut bracket = false;
    for c in pattern.chars() {
        if after_escape {
            if c == '"' && !bracket {
                r.push_str(match quotes {
                    0 => "){1,1}?(",
                    1 => "){1,1}(?:",
                    _ => {
                        return Err(SqlError::InvalidEscape(
                            "SQL regular expression may not contain more than two escape-double-quote separators".into(),
                        ))
                    }
                });
                quotes += 1;
            } else {
                r.push('\\');
                r.push(c);
            }
            after_escape = false;
        } else if Some(c) == escape {
            after_escape = true;
        } else if bracket {
            if c == '\\' {
                r.push('\\');
            }
            r.push(c);
            if c == ']' {
                bracket = false;
            }
        } else {
            match c {
                '[' => {
                    r.push('[');
                    bracket = true;
                }
                '%' => r.push_str(".*"),
                '_' => r.push('.'),
                '(' => r.push_str("(?:"),
                '\\' | '.' | '^' | '$' => {
                    r.push('\\');
                    r.push(c);
                }
                c => r.push(c),
            }
            if separated && quotes == 0 && matches!(c, '%' | '*' | '+' | '?' | '}') {
                r.push('?');
            }
        }
    }
    r.push_str(")$");
    Ok(r)
}

/// `substring(s FROM pattern)` (POSIX) and `substring(s FROM pattern FOR escape)` (SQL):
/// the first parenthesized subexpression's match when there is one, else the whole match;
/// and `s SIMILAR TO pattern [ESCAPE e]` (`matches`), whether the whole string matches.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgSubstring {
    similar: bool,
    matches: bool,
    signature: Signature,
}

impl PgSubstring {
    pub fn udfs() -> Vec<ScalarUDF> {
        [(false, false), (true, false), (true, true)]
            .into_iter()
            .map(|(similar, matches)| {
                ScalarUDF::from(PgSubstring {
                    similar,
                    matches,
                    signature: Signature::any(if similar { 3 } else { 2 }, Volatility::Immutable),
                })
            })
            .collect()
    }

    fn run(&self, arrays: &[ArrayRef]) -> Result<ArrayRef, SqlError> {
        let texts: Vec<ArrayRef> = arrays
            .iter()
            .map(|a| cast(a, &DataType::Utf8))
            .collect::<Result<_, _>>()?;
        let mut cached: Option<(String, Option<String>, Regex)> = None;
        let mut out: Vec<Option<String>> = Vec::with_capacity(texts[0].len());
        let mut matched: Vec<Option<bool>> = Vec::with_capacity(texts[0].len());
        for row in 0..texts[0].len() {
            if texts.iter().any(|a| a.is_null(row)) {
                out.push(None);
                matched.push(None);
                continue;
            }
            let value = |i: usize| texts[i].as_string::<i32>().value(row);
            let (text, pattern) = (value(0), value(1));
            let escape = self.similar.then(|| value(2).to_owned());
            let fresh = !matches!(&cached, Some((p, e, _)) if p == pattern && *e == escape);
            if fresh {
                let source = match &escape {
                    None => pattern.to_owned(),
                    Some(e) => {
                        let mut chars = e.chars();
                        let escape = match (chars.next(), chars.next()) {
                            (None, _) => None,
                            (Some(c), None) => Some(c),
                            _ => {
                                return Err(SqlError::Detailed {
                                    sqlstate: "22025",
                                    message: "invalid escape string".into(),
                                    detail: String::new(),
                                    hint: Some(
                                        "Escape string must be empty or one character.".into(),
                                    ),
                                })
                            }
                        };
                        similar_to_regex(pattern, escape)?
                    }
                };
                let re = compile(&source, "", "substring")?;
                cached = Some((pattern.to_owned(), escape, re));
            }
            let Some((_, _, re)) = &cached else {
                return Err(SqlError::Internal("substring pattern not compiled".into()));
            };
            if self.matches {
                matched.push(Some(re.is_match(text)));
                continue;
            }
            out.push(re.captures(text).and_then(|c| {
                let group = if c.len() > 1 { c.get(1) } else { c.get(0) };
                group.map(|m| m.as_str().to_owned())
            }));
        }
        if self.matches {
            return Ok(Arc::new(datafusion::arrow::array::BooleanArray::from(
                matched,
            )));
        }
        Ok(Arc::new(StringArray::from(out)))
    }
}

impl ScalarUDFImpl for PgSubstring {
    fn name(&self) -> &str {
        match (self.similar, self.matches) {
            (_, true) => "pg_similar_to",
            (true, false) => "pg_substring_similar",
            (false, false) => "pg_substring_regex",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(if self.matches {
            DataType::Boolean
        } else {
            DataType::Utf8
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = self.run(&arrays).map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

/// PostgreSQL's match loop (`setup_regexp_matches`): the first match, or with `global`
/// every match, each search resuming where the previous match ended and at least one
/// character further on. With `ignore_degenerate` (the split functions) an empty match at
/// the start or end of the text, or right after the previous match, does not count.
fn pg_matches<'t>(
    re: &Regex,
    text: &'t str,
    global: bool,
    ignore_degenerate: bool,
) -> Vec<regex::Captures<'t>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev_end = 0;
    while start <= text.len() {
        let Some(caps) = re.captures_at(text, start) else {
            break;
        };
        let Some(m) = caps.get(0) else { break };
        let (so, eo) = (m.start(), m.end());
        if !ignore_degenerate || (so < text.len() && eo > prev_end) {
            prev_end = eo;
            out.push(caps);
        }
        if !global {
            break;
        }
        start = eo;
        if so == eo {
            start += text[eo..].chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

/// `regexp_matches(s, pattern [, flags])` as one list per input row of each match's
/// subexpressions (the whole match when there are none); the SQL function, a set-returning
/// one, is this list unnested. `regexp_split_to_array` and `regexp_split_to_table` (the
/// latter unnested the same way): the text between the matches.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PgRegexpList {
    name: &'static str,
    signature: Signature,
}

impl PgRegexpList {
    pub fn udfs() -> Vec<ScalarUDF> {
        [
            "pg_regexp_matches",
            "regexp_split_to_array",
            "pg_regexp_split_to_table",
        ]
        .into_iter()
        .map(|name| {
            ScalarUDF::from(PgRegexpList {
                name,
                signature: Signature::one_of(
                    vec![TypeSignature::Any(2), TypeSignature::Any(3)],
                    Volatility::Immutable,
                ),
            })
        })
        .collect()
    }

    fn matches(&self) -> bool {
        self.name == "pg_regexp_matches"
    }

    /// The SQL name, for error messages.
    fn sql_name(&self) -> &'static str {
        match self.name {
            "pg_regexp_matches" => "regexp_matches",
            "pg_regexp_split_to_table" => "regexp_split_to_table",
            other => other,
        }
    }

    fn run(&self, args: &[ArrayRef]) -> Result<ArrayRef, SqlError> {
        use datafusion::arrow::array::{ListBuilder, StringBuilder};
        let texts: Vec<ArrayRef> = args
            .iter()
            .map(|a| cast(a, &DataType::Utf8))
            .collect::<Result<_, _>>()?;
        let n = texts[0].len();
        let value = |i: usize, row: usize| -> Option<&str> {
            let a = texts[i].as_string::<i32>();
            let row = if a.len() == 1 { 0 } else { row };
            (!a.is_null(row)).then(|| a.value(row))
        };
        let mut cached: Option<(String, String, Regex, bool)> = None;
        let mut matches_out = ListBuilder::new(ListBuilder::new(StringBuilder::new()));
        let mut split_out = ListBuilder::new(StringBuilder::new());
        for row in 0..n {
            let flags = if texts.len() > 2 {
                value(2, row)
            } else {
                Some("")
            };
            let (Some(text), Some(pattern), Some(flags)) = (value(0, row), value(1, row), flags)
            else {
                if self.matches() {
                    matches_out.append(false);
                } else {
                    split_out.append(false);
                }
                continue;
            };
            let fresh = !matches!(&cached, Some((p, f, _, _)) if p == pattern && f == flags);
            if fresh {
                let global = flags.contains('g');
                if global && !self.matches() {
                    return Err(SqlError::InvalidParameterValue(format!(
                        "{}() does not support the \"global\" option",
                        self.sql_name()
                    )));
                }
                let rest: String = flags.chars().filter(|&c| c != 'g').collect();
                let re = compile(pattern, &rest, self.sql_name())?;
                cached = Some((pattern.to_owned(), flags.to_owned(), re, global));
            }
            let Some((_, _, re, global)) = &cached else {
                return Err(SqlError::Internal("regexp not compiled".into()));
            };
            if self.matches() {
                for caps in pg_matches(re, text, *global, false) {
                    let groups = matches_out.values();
                    if caps.len() == 1 {
                        groups
                            .values()
                            .append_option(caps.get(0).map(|m| m.as_str()));
                    } else {
                        for g in 1..caps.len() {
                            groups
                                .values()
                                .append_option(caps.get(g).map(|m| m.as_str()));
                        }
                    }
                    groups.append(true);
                }
                matches_out.append(true);
            } else {
                let mut pos = 0;
                for caps in pg_matches(re, text, true, true) {
                    if let Some(m) = caps.get(0) {
                        split_out.values().append_value(&text[pos..m.start()]);
                        pos = m.end();
                    }
                }
                split_out.values().append_value(&text[pos..]);
                split_out.append(true);
            }
        }
        Ok(if self.matches() {
            Arc::new(matches_out.finish())
        } else {
            Arc::new(split_out.finish())
        })
    }
}

fn text_list() -> DataType {
    DataType::List(Arc::new(datafusion::arrow::datatypes::Field::new(
        "item",
        DataType::Utf8,
        true,
    )))
}

impl ScalarUDFImpl for PgRegexpList {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(if self.matches() {
            DataType::List(Arc::new(datafusion::arrow::datatypes::Field::new(
                "item",
                text_list(),
                true,
            )))
        } else {
            text_list()
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = self.run(&arrays).map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_to_patterns_translate_as_postgresql_does() {
        assert_eq!(
            similar_to_regex("_bcd%", Some('\\')).ok().as_deref(),
            Some("^(?:.bcd.*)$")
        );
        assert_eq!(
            similar_to_regex("a#\"(b_d)#\"%", Some('#')).ok().as_deref(),
            Some("^(?:a){1,1}?((?:b.d)){1,1}(?:.*)$")
        );
        assert_eq!(
            similar_to_regex("a.$", None).ok().as_deref(),
            Some("^(?:a\\.\\$)$")
        );
        assert!(similar_to_regex("a#\"b#\"c#\"d", Some('#')).is_err());
    }

    fn run(kind: Kind, text: &str, pattern: &str, o: Options) -> Option<ScalarValue> {
        let re = compile(pattern, &o.flags, "f").unwrap();
        apply(kind, text, &re, &o).unwrap()
    }

    fn opts(start: i64, n: i64, endoption: i64, flags: &str, subexpr: i64) -> Options {
        Options {
            start,
            n,
            endoption,
            flags: flags.into(),
            subexpr,
        }
    }

    #[test]
    fn matches_follow_postgresql() {
        use Kind::*;
        let int = |v| Some(ScalarValue::Int32(Some(v)));
        let text = |v: Option<&str>| Some(ScalarValue::Utf8(v.map(str::to_owned)));
        assert_eq!(
            run(Count, "123123123123", "123", opts(3, 1, 0, "", 0)),
            int(3)
        );
        assert_eq!(
            run(Count, "ABCABCABCABC", "Abc", opts(1, 1, 0, "i", 0)),
            int(4)
        );
        assert_eq!(run(Instr, "abcabcabc", "a.c", opts(2, 1, 0, "", 0)), int(4));
        assert_eq!(run(Instr, "abcabcabc", "a.c", opts(1, 4, 0, "", 0)), int(0));
        let digits = "(123)(4(56)(78))";
        assert_eq!(
            run(Instr, "1234567890", digits, opts(1, 1, 1, "i", 3)),
            int(7)
        );
        assert_eq!(
            run(Substr, "1234567890", digits, opts(1, 1, 0, "", 2)),
            text(Some("45678"))
        );
        assert_eq!(
            run(Substr, "foo", "foo(bar)?", opts(1, 1, 0, "", 1)),
            text(None)
        );
        assert_eq!(
            run(Substr, "abcabcabc", "A.C", opts(1, 2, 0, "i", 0)),
            text(Some("abc"))
        );
        // Anchors keep their meaning at the start position.
        assert_eq!(run(Count, "abab", "^ab", opts(3, 1, 0, "", 0)), int(0));
        assert_eq!(run(Count, "aaa", "a*", opts(1, 1, 0, "", 0)), int(2));
        assert!(compile("a", "g", "regexp_substr").is_err());
        assert!(compile("(", "", "regexp_substr").is_err());
    }
}

//! PostgreSQL's `to_char` and `to_number`: the template patterns of its formatting functions.
//!
//! Numbers (`int2`/`int4`/`int8`, `float4`/`float8`, `numeric`) follow the number patterns:
//! `9` and `0` digits, `.`/`D` decimal point, `,`/`G` group separator, the signs `S`, `MI`,
//! `PL`, `SG` and `PR`, `L` currency, `RN` Roman numerals, `TH` ordinal suffixes, `V` shift,
//! `EEEE` scientific notation and the `FM` fill mode, with the C locale's symbols (which is
//! what PostgreSQL prints in a database created with `C.UTF-8`). A value wider than its
//! pattern prints as `#`s. `to_number` reads text back through the same patterns.
//!
//! Dates, timestamps and intervals follow the date/time patterns (`YYYY`, `MM`, `DD`, `HH24`,
//! `MI`, `SS`, `MS`, `US`, `FF1`…`FF6`, `Month`, `Day`, `IYYY`, `IW`, `J`, `TZ`, …) with the
//! `FM`, `TM`, `TH` and `SP` modifiers and double-quoted literal text.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, Int32Type, Int64Type, IntervalMonthDayNanoType,
    IntervalUnit, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use basalt_common::types::{NUMERIC_DEFAULT_PRECISION, NUMERIC_DEFAULT_SCALE};

use crate::datetime::{TIMESTAMP_INFINITY, TIMESTAMP_NEG_INFINITY};
use crate::error::SqlError;
use crate::format::SharedStyle;
use crate::functions::ByIdentity;
use crate::zone::SessionZone;

type Result<T> = std::result::Result<T, SqlError>;

fn syntax(message: impl Into<String>) -> SqlError {
    SqlError::Syntax {
        message: message.into(),
        position: None,
    }
}

// ---- number patterns ---------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumKey {
    Comma,
    Dec,
    Zero,
    Nine,
    Blank,
    C,
    D,
    Eeee,
    Fm,
    G,
    L,
    Mi,
    Pl,
    Pr,
    RomanUpper,
    RomanLower,
    Sg,
    Sp,
    S,
    ThUpper,
    ThLower,
    V,
}

/// The number keywords in PostgreSQL's search order: the first whose name starts the rest
/// of the template wins, so `SG` is found before `S`.
const NUM_KEYWORDS: &[(&str, NumKey)] = &[
    (",", NumKey::Comma),
    (".", NumKey::Dec),
    ("0", NumKey::Zero),
    ("9", NumKey::Nine),
    ("B", NumKey::Blank),
    ("C", NumKey::C),
    ("D", NumKey::D),
    ("EEEE", NumKey::Eeee),
    ("FM", NumKey::Fm),
    ("G", NumKey::G),
    ("L", NumKey::L),
    ("MI", NumKey::Mi),
    ("PL", NumKey::Pl),
    ("PR", NumKey::Pr),
    ("RN", NumKey::RomanUpper),
    ("SG", NumKey::Sg),
    ("SP", NumKey::Sp),
    ("S", NumKey::S),
    ("TH", NumKey::ThUpper),
    ("V", NumKey::V),
    ("b", NumKey::Blank),
    ("c", NumKey::C),
    ("d", NumKey::D),
    ("eeee", NumKey::Eeee),
    ("fm", NumKey::Fm),
    ("g", NumKey::G),
    ("l", NumKey::L),
    ("mi", NumKey::Mi),
    ("pl", NumKey::Pl),
    ("pr", NumKey::Pr),
    ("rn", NumKey::RomanLower),
    ("sg", NumKey::Sg),
    ("sp", NumKey::Sp),
    ("s", NumKey::S),
    ("th", NumKey::ThLower),
    ("v", NumKey::V),
];

#[derive(Clone, Debug, PartialEq)]
enum NumNode {
    Key(NumKey),
    Text(char),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LocaleSign {
    None,
    Pre,
    Post,
}

/// What a number template asks for, gathered while it is read.
#[derive(Clone, Debug)]
struct NumDesc {
    pre: usize,
    post: usize,
    lsign: LocaleSign,
    pre_lsign_num: usize,
    multi: usize,
    zero_start: usize,
    zero_end: usize,
    decimal: bool,
    zero: bool,
    blank: bool,
    fill: bool,
    locale_sign: bool,
    bracket: bool,
    minus: bool,
    plus: bool,
    roman: bool,
    shift: bool,
    eeee: bool,
}

impl NumDesc {
    fn new() -> NumDesc {
        NumDesc {
            pre: 0,
            post: 0,
            lsign: LocaleSign::None,
            pre_lsign_num: 0,
            multi: 0,
            zero_start: 0,
            zero_end: 0,
            decimal: false,
            zero: false,
            blank: false,
            fill: false,
            locale_sign: false,
            bracket: false,
            minus: false,
            plus: false,
            roman: false,
            shift: false,
            eeee: false,
        }
    }

    /// Takes in one keyword, refusing the combinations PostgreSQL refuses.
    fn add(&mut self, key: NumKey) -> Result<()> {
        if self.eeee && key != NumKey::Eeee {
            return Err(syntax("\"EEEE\" must be the last pattern used"));
        }
        match key {
            NumKey::Nine | NumKey::Zero => {
                if self.bracket {
                    let which = if key == NumKey::Nine { "9" } else { "0" };
                    return Err(syntax(format!("\"{which}\" must be ahead of \"PR\"")));
                }
                if key == NumKey::Nine && self.shift {
                    self.multi += 1;
                    return Ok(());
                }
                if key == NumKey::Zero && !self.zero && !self.decimal {
                    self.zero = true;
                    self.zero_start = self.pre + 1;
                }
                if self.decimal {
                    self.post += 1;
                } else {
                    self.pre += 1;
                }
                if key == NumKey::Zero {
                    self.zero_end = self.pre + self.post;
                }
            }
            NumKey::Blank => {
                if self.pre == 0 && self.post == 0 && !self.zero {
                    self.blank = true;
                }
            }
            NumKey::D | NumKey::Dec => {
                if self.decimal {
                    return Err(syntax("multiple decimal points"));
                }
                if self.shift {
                    return Err(syntax("cannot use \"V\" and decimal point together"));
                }
                self.decimal = true;
            }
            NumKey::Fm => self.fill = true,
            NumKey::S => {
                if self.locale_sign {
                    return Err(syntax("cannot use \"S\" twice"));
                }
                if self.plus || self.minus || self.bracket {
                    return Err(syntax(
                        "cannot use \"S\" and \"PL\"/\"MI\"/\"SG\"/\"PR\" together",
                    ));
                }
                if !self.decimal {
                    self.lsign = LocaleSign::Pre;
                    self.pre_lsign_num = self.pre;
                    self.locale_sign = true;
                } else if self.lsign == LocaleSign::None {
                    self.lsign = LocaleSign::Post;
                    self.locale_sign = true;
                }
            }
            NumKey::Mi | NumKey::Pl | NumKey::Sg => {
                if self.locale_sign {
                    let which = match key {
                        NumKey::Mi => "MI",
                        NumKey::Pl => "PL",
                        _ => "SG",
                    };
                    return Err(syntax(format!("cannot use \"S\" and \"{which}\" together")));
                }
                match key {
                    NumKey::Mi => self.minus = true,
                    NumKey::Pl => self.plus = true,
                    _ => {
                        self.minus = true;
                        self.plus = true;
                    }
                }
            }
            NumKey::Pr => {
                if self.locale_sign || self.plus || self.minus {
                    return Err(syntax(
                        "cannot use \"PR\" and \"S\"/\"PL\"/\"MI\"/\"SG\" together",
                    ));
                }
                self.bracket = true;
            }
            NumKey::RomanUpper | NumKey::RomanLower => self.roman = true,
            NumKey::V => {
                if self.decimal {
                    return Err(syntax("cannot use \"V\" and decimal point together"));
                }
                self.shift = true;
            }
            NumKey::Eeee => {
                if self.eeee {
                    return Err(syntax("cannot use \"EEEE\" twice"));
                }
                if self.blank
                    || self.fill
                    || self.locale_sign
                    || self.bracket
                    || self.minus
                    || self.plus
                    || self.roman
                    || self.shift
                {
                    return Err(SqlError::Detailed {
                        sqlstate: "42601",
                        message: "\"EEEE\" is incompatible with other formats".into(),
                        detail: "\"EEEE\" may only be used together with digit and decimal point \
                                 patterns."
                            .into(),
                        hint: None,
                    });
                }
                self.eeee = true;
            }
            NumKey::Comma
            | NumKey::C
            | NumKey::G
            | NumKey::L
            | NumKey::Sp
            | NumKey::ThUpper
            | NumKey::ThLower => {}
        }
        Ok(())
    }
}

/// The literal text at the start of a template that is not a keyword: a double-quoted
/// string (a backslash quotes the next character), or one character (`\"` outside quotes
/// is a quote). Returns its characters and the rest of the template.
fn template_text(rest: &str) -> (Vec<char>, &str) {
    let mut out = Vec::new();
    if let Some(quoted) = rest.strip_prefix('"') {
        let mut chars = quoted.char_indices();
        let mut end = quoted.len();
        while let Some((i, c)) = chars.next() {
            if c == '"' {
                end = i + 1;
                break;
            }
            let c = match (c, chars.clone().next()) {
                ('\\', Some((_, next))) => {
                    chars.next();
                    next
                }
                _ => c,
            };
            out.push(c);
        }
        return (out, &quoted[end..]);
    }
    let rest = match rest.strip_prefix('\\') {
        Some(r) if r.starts_with('"') => r,
        _ => rest,
    };
    match rest.chars().next() {
        Some(c) => {
            out.push(c);
            (out, &rest[c.len_utf8()..])
        }
        None => (out, rest),
    }
}

/// Reads a number template: keywords, double-quoted text (a backslash quotes the next
/// character), and any other character as itself (`\"` outside quotes is a quote).
fn parse_num_format(format: &str) -> Result<(Vec<NumNode>, NumDesc)> {
    let mut nodes = Vec::new();
    let mut desc = NumDesc::new();
    let mut rest = format;
    while !rest.is_empty() {
        if let Some(&(name, key)) = NUM_KEYWORDS.iter().find(|(n, _)| rest.starts_with(n)) {
            desc.add(key)?;
            nodes.push(NumNode::Key(key));
            rest = &rest[name.len()..];
        } else {
            let (text, after) = template_text(rest);
            nodes.extend(text.into_iter().map(NumNode::Text));
            rest = after;
        }
    }
    Ok((nodes, desc))
}

/// A value as `to_char` lays it out before the template is applied.
struct Prepared {
    /// Digits with an optional point (or Roman numerals, or scientific notation).
    number: String,
    sign: u8,
    out_pre_spaces: usize,
    desc: NumDesc,
}

fn hashes(desc: &NumDesc) -> String {
    let mut s = "#".repeat(desc.pre + desc.post + 1);
    s.replace_range(desc.pre..=desc.pre, ".");
    s
}

/// Lays out the digits of a plain (not Roman, not EEEE) value: `text` is its unsigned
/// decimal text with `desc.post` decimals.
fn prepare_digits(text: String, negative: bool, desc: NumDesc) -> Prepared {
    let pre_len = text.find('.').unwrap_or(text.len());
    let (number, out_pre_spaces) = if pre_len < desc.pre {
        (text, desc.pre - pre_len)
    } else if pre_len > desc.pre {
        (hashes(&desc), 0)
    } else {
        (text, 0)
    };
    Prepared {
        number,
        sign: if negative { b'-' } else { b'+' },
        out_pre_spaces,
        desc,
    }
}

fn roman(number: i64) -> String {
    if !(1..=3999).contains(&number) {
        return "#".repeat(15);
    }
    const ONES: [&str; 9] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"];
    const TENS: [&str; 9] = ["X", "XX", "XXX", "XL", "L", "LX", "LXX", "LXXX", "XC"];
    const HUNDREDS: [&str; 9] = ["C", "CC", "CCC", "CD", "D", "DC", "DCC", "DCCC", "CM"];
    let n = number as usize;
    let mut out = "M".repeat(n / 1000);
    for (digit, table) in [
        (n / 100 % 10, &HUNDREDS),
        (n / 10 % 10, &TENS),
        (n % 10, &ONES),
    ] {
        if digit > 0 {
            out.push_str(table[digit - 1]);
        }
    }
    out
}

fn roman_prepared(value: i64, desc: NumDesc) -> Prepared {
    Prepared {
        number: roman(value),
        sign: 0,
        out_pre_spaces: 0,
        desc,
    }
}

/// The `#` form of a value `EEEE` cannot show (NaN, infinities).
fn eeee_hashes(desc: &NumDesc) -> String {
    let mut s = String::from(" ");
    s.push_str(&"#".repeat(desc.pre));
    s.push('.');
    s.push_str(&"#".repeat(desc.post + 4));
    s
}

/// C's `%+.*e` with a leading blank instead of `+`.
fn float_sci(value: f64, decimals: usize) -> String {
    let s = format!("{value:+.decimals$e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    let mantissa = mantissa
        .strip_prefix('+')
        .map_or_else(|| mantissa.to_owned(), |m| format!(" {m}"));
    format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
}

/// A decimal value as unsigned digits with an implied scale: `digits × 10^-scale`.
#[derive(Clone, Debug)]
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    scale: usize,
}

impl Decimal {
    fn from_i128(v: i128, scale: i8) -> Decimal {
        let mut digits: Vec<u8> = v.unsigned_abs().to_string().into_bytes();
        let scale = if scale < 0 {
            digits.extend(std::iter::repeat_n(b'0', usize::from(scale.unsigned_abs())));
            0
        } else {
            usize::from(scale as u8)
        };
        Decimal {
            negative: v < 0,
            digits,
            scale,
        }
    }

    fn is_zero(&self) -> bool {
        self.digits.iter().all(|&d| d == b'0')
    }

    /// Multiplies by 10^n.
    fn shift(&mut self, n: usize) {
        if self.scale >= n {
            self.scale -= n;
        } else {
            self.digits
                .extend(std::iter::repeat_n(b'0', n - self.scale));
            self.scale = 0;
        }
    }

    /// Rounds half away from zero to `scale` decimals (or pads with zeros).
    fn round(&mut self, scale: usize) {
        if self.scale <= scale {
            self.digits
                .extend(std::iter::repeat_n(b'0', scale - self.scale));
            self.scale = scale;
            return;
        }
        let drop = self.scale - scale;
        let keep = self.digits.len().saturating_sub(drop);
        let round_up = self.digits.get(keep).is_some_and(|&d| d >= b'5');
        self.digits.truncate(keep);
        if self.digits.is_empty() {
            self.digits.push(b'0');
        }
        if round_up {
            let mut i = self.digits.len();
            loop {
                if i == 0 {
                    self.digits.insert(0, b'1');
                    break;
                }
                i -= 1;
                if self.digits[i] == b'9' {
                    self.digits[i] = b'0';
                } else {
                    self.digits[i] += 1;
                    break;
                }
            }
        }
        self.scale = scale;
    }

    /// The unsigned text, as `numeric_out` prints it (`0.50`, `12`).
    fn unsigned_text(&self) -> String {
        let digits = std::str::from_utf8(&self.digits).unwrap_or("0");
        let digits = digits.trim_start_matches('0');
        let padded = format!("{digits:0>width$}", width = self.scale + 1);
        let (int_part, frac) = padded.split_at(padded.len() - self.scale);
        if self.scale == 0 {
            int_part.to_owned()
        } else {
            format!("{int_part}.{frac}")
        }
    }

    /// `numeric_out_sci`: one digit before the point, `decimals` after, and the exponent.
    fn scientific(&self, decimals: usize) -> String {
        let digits = std::str::from_utf8(&self.digits).unwrap_or("0");
        let significant = digits.trim_start_matches('0');
        let exponent: i64 = if significant.is_empty() {
            0
        } else {
            significant.len() as i64 - 1 - self.scale as i64
        };
        let mut mantissa = Decimal {
            negative: false,
            digits: significant.as_bytes().to_vec(),
            scale: 0,
        };
        if mantissa.digits.is_empty() {
            mantissa.digits.push(b'0');
        }
        // significand = value / 10^exponent: the same digits with len-1 decimals.
        mantissa.scale = mantissa.digits.len() - 1;
        mantissa.round(decimals);
        let sign = if self.negative && !self.is_zero() {
            "-"
        } else {
            ""
        };
        let esign = if exponent < 0 { '-' } else { '+' };
        format!(
            "{sign}{}e{esign}{:02}",
            mantissa.unsigned_text(),
            exponent.unsigned_abs()
        )
    }
}

fn prepare_numeric(value: i128, scale: i8, mut desc: NumDesc) -> Prepared {
    let special = crate::numeric::special_text(value);
    if desc.roman {
        let n = match special {
            Some(_) => i64::from(i32::MAX),
            None => {
                let mut d = Decimal::from_i128(value, scale);
                d.round(0);
                let text = d.unsigned_text();
                match text.parse::<i64>() {
                    Ok(v) if v <= i64::from(i32::MAX) => {
                        if d.negative {
                            -v
                        } else {
                            v
                        }
                    }
                    _ => i64::from(i32::MAX),
                }
            }
        };
        return roman_prepared(n, desc);
    }
    if desc.eeee {
        let number = match special {
            Some(_) => eeee_hashes(&desc),
            None => {
                let text = Decimal::from_i128(value, scale).scientific(desc.post);
                if text.starts_with('-') {
                    text
                } else {
                    format!(" {text}")
                }
            }
        };
        return Prepared {
            number,
            sign: 0,
            out_pre_spaces: 0,
            desc,
        };
    }
    let (text, negative) = match special {
        Some(word) => match word.strip_prefix('-') {
            Some(w) => (w.to_owned(), true),
            None => (word.to_owned(), false),
        },
        None => {
            let mut d = Decimal::from_i128(value, scale);
            if desc.shift {
                d.shift(desc.multi);
                desc.pre += desc.multi;
            }
            d.round(desc.post);
            let negative = d.negative && !d.is_zero();
            (d.unsigned_text(), negative)
        }
    };
    prepare_digits(text, negative, desc)
}

fn prepare_integer(value: i64, int4: bool, mut desc: NumDesc) -> Result<Prepared> {
    if desc.roman {
        let n = if int4 || i32::try_from(value).is_ok() {
            value
        } else {
            i64::from(i32::MAX)
        };
        return Ok(roman_prepared(n, desc));
    }
    if desc.eeee {
        let number = if int4 {
            float_sci(value as f64, desc.post)
        } else {
            let text = Decimal::from_i128(i128::from(value), 0).scientific(desc.post);
            if text.starts_with('-') {
                text
            } else {
                format!(" {text}")
            }
        };
        return Ok(Prepared {
            number,
            sign: 0,
            out_pre_spaces: 0,
            desc,
        });
    }
    let mut value = i128::from(value);
    if desc.shift && int4 {
        // PostgreSQL multiplies in 32 bits here and keeps what wraps around.
        let factor = 10f64.powi(desc.multi as i32) as i32;
        value = i128::from((value as i32).wrapping_mul(factor));
        desc.pre += desc.multi;
    } else if desc.shift {
        let factor = 10i128
            .checked_pow(desc.multi as u32)
            .ok_or_else(|| SqlError::OutOfRange("bigint out of range".into()))?;
        value = value
            .checked_mul(factor)
            .filter(|v| i64::try_from(*v).is_ok())
            .ok_or_else(|| {
                SqlError::OutOfRange(if int4 {
                    "integer out of range".into()
                } else {
                    "bigint out of range".into()
                })
            })?;
        desc.pre += desc.multi;
    }
    let mut text = value.unsigned_abs().to_string();
    if desc.post > 0 {
        text.push('.');
        text.push_str(&"0".repeat(desc.post));
    }
    Ok(prepare_digits(text, value < 0, desc))
}

fn prepare_float(value: f64, max_digits: usize, mut desc: NumDesc) -> Prepared {
    if desc.roman {
        let r = value.round_ties_even();
        let n = if !r.is_nan() && r >= f64::from(i32::MIN) && r < -f64::from(i32::MIN) {
            r as i64
        } else {
            i64::from(i32::MAX)
        };
        return roman_prepared(n, desc);
    }
    if desc.eeee {
        let number = if value.is_finite() {
            float_sci(value, desc.post)
        } else {
            eeee_hashes(&desc)
        };
        return Prepared {
            number,
            sign: 0,
            out_pre_spaces: 0,
            desc,
        };
    }
    let mut val = value;
    if desc.shift {
        val *= 10f64.powi(desc.multi as i32);
        desc.pre += desc.multi;
    }
    let c_fixed = |v: f64, decimals: usize| -> String {
        // PostgreSQL's own printf spells the special values out.
        if v.is_nan() {
            "NaN".into()
        } else if v.is_infinite() {
            if v < 0.0 { "-Infinity" } else { "Infinity" }.into()
        } else {
            format!("{v:.decimals$}")
        }
    };
    let int_len = c_fixed(val.abs(), 0).len();
    if int_len >= max_digits {
        desc.post = 0;
    } else if int_len + desc.post > max_digits {
        desc.post = max_digits - int_len;
    }
    let text = c_fixed(val, desc.post);
    let (text, negative) = match text.strip_prefix('-') {
        Some(t) => (t.to_owned(), true),
        None => (text, false),
    };
    prepare_digits(text, negative, desc)
}

/// The ordinal suffix of the number's last digit (`st`, `nd`, `rd`, `th`; teens take `th`).
fn ordinal(number: &str, upper: bool) -> Result<&'static str> {
    let bytes = number.as_bytes();
    let last = *bytes.last().unwrap_or(&b' ');
    if !last.is_ascii_digit() {
        return Err(SqlError::InvalidText(format!(
            "\"{number}\" is not a number"
        )));
    }
    let teen = bytes.len() > 1 && bytes[bytes.len() - 2] == b'1';
    let suffix = match (teen, last) {
        (false, b'1') => ["ST", "st"],
        (false, b'2') => ["ND", "nd"],
        (false, b'3') => ["RD", "rd"],
        _ => ["TH", "th"],
    };
    Ok(if upper { suffix[0] } else { suffix[1] })
}

/// `s` with the ordinal suffix of its last digit when `th` asks for one (upper or lower).
fn with_ordinal(mut s: String, th: Option<bool>) -> Result<String> {
    if let Some(upper) = th {
        let suffix = ordinal(&s, upper)?;
        s.push_str(suffix);
    }
    Ok(s)
}

/// The state of writing one number through a template (PostgreSQL's `NUMProc`).
struct Writer<'a> {
    desc: NumDesc,
    sign: u8,
    sign_wrote: bool,
    num_count: i64,
    num_in: bool,
    num_curr: usize,
    out_pre_spaces: usize,
    number: &'a [u8],
    pos: usize,
    last_relevant: Option<usize>,
    out: String,
    /// Where PostgreSQL's output string ended: writing a NUL byte (a digit position past
    /// the end of the number, `SG` without a sign) ends it there.
    end_of_text: Option<usize>,
}

impl Writer<'_> {
    fn push_byte(&mut self, c: u8) {
        if c == 0 {
            self.end_of_text.get_or_insert(self.out.len());
        } else {
            self.out.push(char::from(c));
        }
    }

    fn at(&self, i: usize) -> u8 {
        self.number.get(i).copied().unwrap_or(0)
    }

    fn predec_space(&self) -> bool {
        !self.desc.zero && self.pos == 0 && self.at(0) == b'0' && self.desc.post != 0
    }

    fn last_relevant_is_point(&self) -> bool {
        self.last_relevant.is_some_and(|i| self.at(i) == b'.')
    }

    /// One digit position (`9`, `0`) or the decimal point.
    fn digit(&mut self, key: NumKey) {
        self.num_in = false;
        if !self.sign_wrote
            && (self.num_curr >= self.out_pre_spaces
                || (self.desc.zero && self.desc.zero_start == self.num_curr))
            && (!self.predec_space() || self.last_relevant_is_point())
        {
            if self.desc.locale_sign {
                if self.desc.lsign == LocaleSign::Pre {
                    self.out.push(if self.sign == b'-' { '-' } else { '+' });
                    self.sign_wrote = true;
                }
            } else if self.desc.bracket {
                self.out.push(if self.sign == b'+' { ' ' } else { '<' });
                self.sign_wrote = true;
            } else if self.sign == b'+' {
                if !self.desc.fill {
                    self.out.push(' ');
                }
                self.sign_wrote = true;
            } else if self.sign == b'-' {
                self.out.push('-');
                self.sign_wrote = true;
            }
        }

        if self.num_curr < self.out_pre_spaces
            && (self.desc.zero_start > self.num_curr || !self.desc.zero)
        {
            if !self.desc.fill {
                self.out.push(' ');
            }
        } else if self.desc.zero
            && self.num_curr < self.out_pre_spaces
            && self.desc.zero_start <= self.num_curr
        {
            self.out.push('0');
            self.num_in = true;
        } else {
            if self.at(self.pos) == b'.' {
                if !self.last_relevant_is_point() || self.desc.fill {
                    self.out.push('.');
                }
            } else if self.last_relevant.is_some_and(|i| self.pos > i) && key != NumKey::Zero {
                // a trailing zero FM drops
            } else if self.predec_space() {
                if !self.desc.fill {
                    self.out.push(' ');
                } else if self.last_relevant_is_point() {
                    self.out.push('0');
                }
            } else {
                self.push_byte(self.at(self.pos));
                self.num_in = true;
            }
            if self.at(self.pos) != 0 {
                self.pos += 1;
            }
        }

        let mut end =
            self.num_count + i64::from(self.out_pre_spaces > 0) + i64::from(self.desc.decimal);
        if self.last_relevant.is_some_and(|i| i == self.pos) {
            end = self.num_curr as i64;
        }
        if self.num_curr as i64 + 1 == end {
            if self.sign_wrote && self.desc.bracket {
                self.out.push(if self.sign == b'+' { ' ' } else { '>' });
            } else if self.desc.locale_sign && self.desc.lsign == LocaleSign::Post {
                self.out.push(if self.sign == b'-' { '-' } else { '+' });
            }
        }
        self.num_curr += 1;
    }
}

fn num_to_char(nodes: &[NumNode], prepared: Prepared) -> Result<String> {
    let Prepared {
        number,
        sign,
        out_pre_spaces,
        mut desc,
    } = prepared;
    if desc.zero_start > 0 {
        desc.zero_start -= 1;
    }
    if desc.eeee {
        return Ok(number);
    }
    let mut sign = sign;
    let mut out_pre_spaces = out_pre_spaces;
    if desc.roman {
        let fill = desc.fill;
        desc = NumDesc::new();
        desc.fill = fill;
        desc.roman = true;
        sign = 0;
        out_pre_spaces = 0;
    }
    let sign_wrote;
    if desc.plus || desc.minus {
        sign_wrote = !desc.plus || desc.minus;
    } else {
        if sign != b'-' && desc.fill {
            desc.bracket = false;
        }
        sign_wrote = sign == b'+' && desc.fill && !desc.locale_sign;
        if desc.lsign == LocaleSign::Pre && desc.pre == desc.pre_lsign_num {
            desc.lsign = LocaleSign::Post;
        }
    }
    let mut num_count = (desc.post + desc.pre) as i64 - 1;
    let bytes = number.as_bytes();
    let mut last_relevant = None;
    if desc.fill && desc.decimal {
        if let Some(point) = number.find('.') {
            let mut last = point;
            for (i, &b) in bytes.iter().enumerate().skip(point + 1) {
                if b != b'0' {
                    last = i;
                }
            }
            if desc.zero_end > out_pre_spaces {
                let last_zero = (bytes.len() - 1).min(desc.zero_end - out_pre_spaces);
                last = last.max(last_zero);
            }
            last_relevant = Some(last);
        }
    }
    if !sign_wrote && out_pre_spaces == 0 {
        num_count += 1;
    }
    let mut w = Writer {
        desc,
        sign,
        sign_wrote,
        num_count,
        num_in: false,
        num_curr: 0,
        out_pre_spaces,
        number: bytes,
        pos: 0,
        last_relevant,
        out: String::new(),
        end_of_text: None,
    };
    for node in nodes {
        let key = match node {
            NumNode::Text(c) => {
                w.out.push(*c);
                continue;
            }
            NumNode::Key(k) => *k,
        };
        match key {
            NumKey::Nine | NumKey::Zero | NumKey::Dec | NumKey::D => {
                if !w.desc.roman {
                    w.digit(key);
                }
            }
            NumKey::Comma | NumKey::G => {
                if w.num_in {
                    w.out.push(',');
                } else if !w.desc.fill {
                    w.out.push(' ');
                }
            }
            NumKey::L => w.out.push(' '),
            NumKey::RomanUpper | NumKey::RomanLower => {
                let rest = std::str::from_utf8(&bytes[w.pos.min(bytes.len())..]).unwrap_or("");
                let text = if key == NumKey::RomanLower {
                    rest.to_ascii_lowercase()
                } else {
                    rest.to_owned()
                };
                if w.desc.fill {
                    w.out.push_str(&text);
                } else {
                    w.out.push_str(&format!("{text:>15}"));
                }
            }
            NumKey::ThUpper | NumKey::ThLower => {
                if w.desc.roman || bytes.first() == Some(&b'#') || w.sign == b'-' || w.desc.decimal
                {
                    continue;
                }
                w.out.push_str(ordinal(&number, key == NumKey::ThUpper)?);
            }
            NumKey::Mi => {
                if w.sign == b'-' {
                    w.out.push('-');
                } else if !w.desc.fill {
                    w.out.push(' ');
                }
            }
            NumKey::Pl => {
                if w.sign == b'+' {
                    w.out.push('+');
                } else if !w.desc.fill {
                    w.out.push(' ');
                }
            }
            NumKey::Sg => w.push_byte(w.sign),
            NumKey::Blank
            | NumKey::C
            | NumKey::Eeee
            | NumKey::Fm
            | NumKey::Pr
            | NumKey::Sp
            | NumKey::S
            | NumKey::V => {}
        }
    }
    if let Some(end) = w.end_of_text {
        w.out.truncate(end);
    }
    Ok(w.out)
}

// ---- to_number -----------------------------------------------------------------------------

/// The state of reading a number through a template (PostgreSQL's `NUMProc` for input).
struct Reader<'a> {
    desc: NumDesc,
    input: &'a [u8],
    pos: usize,
    /// The sign (`' '` when none was read) followed by the digits read.
    number: Vec<u8>,
    read_dec: bool,
    read_pre: usize,
    read_post: usize,
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn at(&self, i: usize) -> u8 {
        self.input.get(i).copied().unwrap_or(0)
    }

    fn digit(&mut self) {
        if self.done() {
            return;
        }
        if self.at(self.pos) == b' ' {
            self.pos += 1;
        }
        if self.done() {
            return;
        }
        if self.number[0] == b' ' && self.read_pre + self.read_post == 0 {
            let c = self.at(self.pos);
            if self.desc.locale_sign && self.desc.lsign == LocaleSign::Pre {
                if c == b'-' || c == b'+' {
                    self.pos += 1;
                    self.number[0] = c;
                }
            } else if c == b'-' || (self.desc.bracket && c == b'<') {
                self.number[0] = b'-';
                self.pos += 1;
            } else if c == b'+' {
                self.number[0] = b'+';
                self.pos += 1;
            }
        }
        if self.done() {
            return;
        }
        let mut read = false;
        let c = self.at(self.pos);
        if c.is_ascii_digit() {
            if self.read_dec && self.read_post == self.desc.post {
                return;
            }
            self.number.push(c);
            if self.read_dec {
                self.read_post += 1;
            } else {
                self.read_pre += 1;
            }
            read = true;
        } else if self.desc.decimal && !self.read_dec && c == b'.' {
            self.number.push(b'.');
            self.read_dec = true;
            read = true;
        }
        if self.done() {
            return;
        }
        if self.number[0] == b' ' && self.read_pre + self.read_post > 0 {
            if self.desc.locale_sign
                && read
                && self.pos + 1 < self.input.len()
                && !self.at(self.pos + 1).is_ascii_digit()
            {
                let next = self.at(self.pos + 1);
                if next == b'-' || next == b'+' {
                    self.pos += 1;
                    self.number[0] = next;
                }
            } else if !read && !self.desc.locale_sign && (self.desc.plus || self.desc.minus) {
                let c = self.at(self.pos);
                if c == b'-' || c == b'+' {
                    self.number[0] = c;
                }
            }
        }
    }

    /// Skips up to `n` characters that are not part of a number.
    fn skip_non_data(&mut self, n: usize) {
        for _ in 0..n {
            if self.done() || b"0123456789.,+-".contains(&self.at(self.pos)) {
                break;
            }
            self.pos += utf8_len(self.at(self.pos));
        }
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// `to_number(text, format)`: the value and the number of decimals read.
fn to_number(input: &str, format: &str) -> Result<Option<i128>> {
    if format.is_empty() {
        return Ok(None);
    }
    let (nodes, mut desc) = parse_num_format(format)?;
    if desc.zero_start > 0 {
        desc.zero_start -= 1;
    }
    if desc.eeee {
        return Err(SqlError::FeatureNotSupported(
            "\"EEEE\" not supported for input".into(),
        ));
    }
    if desc.roman {
        return Err(SqlError::FeatureNotSupported(
            "\"RN\" not supported for input".into(),
        ));
    }
    let mut r = Reader {
        desc,
        input: input.as_bytes(),
        pos: 0,
        number: vec![b' '],
        read_dec: false,
        read_pre: 0,
        read_post: 0,
    };
    for node in &nodes {
        if r.done() {
            break;
        }
        let key = match node {
            NumNode::Text(_) => {
                r.pos += utf8_len(r.at(r.pos));
                continue;
            }
            NumNode::Key(k) => *k,
        };
        match key {
            NumKey::Nine | NumKey::Zero | NumKey::Dec | NumKey::D => r.digit(),
            NumKey::Comma => {
                if (!r.num_in() && r.desc.fill) || r.at(r.pos) != b',' {
                    continue;
                }
            }
            NumKey::G => {
                if (!r.num_in() && r.desc.fill) || r.at(r.pos) != b',' {
                    continue;
                }
            }
            NumKey::L => {
                r.skip_non_data(1);
                continue;
            }
            NumKey::ThUpper | NumKey::ThLower => {
                if r.desc.decimal {
                    continue;
                }
                r.skip_non_data(2);
                continue;
            }
            NumKey::Mi => {
                if r.at(r.pos) == b'-' {
                    r.number[0] = b'-';
                } else {
                    r.skip_non_data(1);
                    continue;
                }
            }
            NumKey::Pl => {
                if r.at(r.pos) == b'+' {
                    r.number[0] = b'+';
                } else {
                    r.skip_non_data(1);
                    continue;
                }
            }
            NumKey::Sg => {
                let c = r.at(r.pos);
                if c == b'-' || c == b'+' {
                    r.number[0] = c;
                } else {
                    r.skip_non_data(1);
                    continue;
                }
            }
            _ => continue,
        }
        r.pos += 1;
    }
    if r.number.last() == Some(&b'.') {
        r.number.pop();
    }
    let text = String::from_utf8_lossy(&r.number).into_owned();
    let scale = r.read_post;
    let precision = r.desc.pre + r.desc.multi + scale;
    let value = crate::numeric::parse(&text, NUMERIC_DEFAULT_PRECISION, NUMERIC_DEFAULT_SCALE)?;
    // numeric_in with the template's typmod: the value must fit `precision` digits.
    let digits_before = {
        let mut d = Decimal::from_i128(value, NUMERIC_DEFAULT_SCALE);
        d.round(scale);
        d.unsigned_text()
            .split('.')
            .next()
            .unwrap_or("0")
            .trim_start_matches('0')
            .len()
    };
    if digits_before > r.desc.pre + r.desc.multi {
        let bound = precision.saturating_sub(scale);
        return Err(SqlError::NumericOverflow {
            detail: format!(
                "A field with precision {precision}, scale {scale} must round to an absolute \
                 value less than {}.",
                if bound > 0 {
                    format!("10^{bound}")
                } else {
                    "1".into()
                }
            ),
        });
    }
    let mut value = value;
    if r.desc.shift {
        let factor = 10i128.pow(r.desc.multi.min(38) as u32);
        value /= factor;
    }
    Ok(Some(value))
}

impl Reader<'_> {
    /// `to_number` never marks itself inside the number (PostgreSQL's `num_in` stays false
    /// on input), so a group separator in fill mode is never expected.
    fn num_in(&self) -> bool {
        false
    }
}

// ---- date/time patterns --------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Case {
    Upper,
    Initial,
    Lower,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DtKey {
    /// `A.D.`/`B.C.` (dotted) or `AD`/`BC`.
    Era(bool, Case),
    /// `A.M.`/`P.M.` (dotted) or `AM`/`PM`.
    Meridiem(bool, Case),
    Cc,
    DayName(Case),
    DayAbbrev(Case),
    DayOfYear,
    DayOfMonth,
    DayOfWeek,
    Fraction(u8),
    Fx,
    Hh24,
    Hh12,
    IsoDayOfYear,
    IsoDayOfWeek,
    IsoWeek,
    IsoYear(u8),
    Julian,
    Minute,
    MonthNumber,
    MonthName(Case),
    MonthAbbrev(Case),
    Millisecond,
    Offset,
    Quarter,
    RomanMonth(Case),
    SecondsOfDay,
    Second,
    TzHour,
    TzMinute,
    TzName(Case),
    Microsecond,
    WeekOfYear,
    WeekOfMonth,
    YearComma,
    Year(u8),
}

pub(crate) const DT_KEYWORDS: &[(&str, DtKey)] = &[
    ("A.D.", DtKey::Era(true, Case::Upper)),
    ("A.M.", DtKey::Meridiem(true, Case::Upper)),
    ("AD", DtKey::Era(false, Case::Upper)),
    ("AM", DtKey::Meridiem(false, Case::Upper)),
    ("B.C.", DtKey::Era(true, Case::Upper)),
    ("BC", DtKey::Era(false, Case::Upper)),
    ("CC", DtKey::Cc),
    ("DAY", DtKey::DayName(Case::Upper)),
    ("DDD", DtKey::DayOfYear),
    ("DD", DtKey::DayOfMonth),
    ("DY", DtKey::DayAbbrev(Case::Upper)),
    ("Day", DtKey::DayName(Case::Initial)),
    ("Dy", DtKey::DayAbbrev(Case::Initial)),
    ("D", DtKey::DayOfWeek),
    ("FF1", DtKey::Fraction(1)),
    ("FF2", DtKey::Fraction(2)),
    ("FF3", DtKey::Fraction(3)),
    ("FF4", DtKey::Fraction(4)),
    ("FF5", DtKey::Fraction(5)),
    ("FF6", DtKey::Fraction(6)),
    ("FX", DtKey::Fx),
    ("HH24", DtKey::Hh24),
    ("HH12", DtKey::Hh12),
    ("HH", DtKey::Hh12),
    ("IDDD", DtKey::IsoDayOfYear),
    ("ID", DtKey::IsoDayOfWeek),
    ("IW", DtKey::IsoWeek),
    ("IYYY", DtKey::IsoYear(4)),
    ("IYY", DtKey::IsoYear(3)),
    ("IY", DtKey::IsoYear(2)),
    ("I", DtKey::IsoYear(1)),
    ("J", DtKey::Julian),
    ("MI", DtKey::Minute),
    ("MM", DtKey::MonthNumber),
    ("MONTH", DtKey::MonthName(Case::Upper)),
    ("MON", DtKey::MonthAbbrev(Case::Upper)),
    ("MS", DtKey::Millisecond),
    ("Month", DtKey::MonthName(Case::Initial)),
    ("Mon", DtKey::MonthAbbrev(Case::Initial)),
    ("OF", DtKey::Offset),
    ("P.M.", DtKey::Meridiem(true, Case::Upper)),
    ("PM", DtKey::Meridiem(false, Case::Upper)),
    ("Q", DtKey::Quarter),
    ("RM", DtKey::RomanMonth(Case::Upper)),
    ("SSSSS", DtKey::SecondsOfDay),
    ("SSSS", DtKey::SecondsOfDay),
    ("SS", DtKey::Second),
    ("TZH", DtKey::TzHour),
    ("TZM", DtKey::TzMinute),
    ("TZ", DtKey::TzName(Case::Upper)),
    ("US", DtKey::Microsecond),
    ("WW", DtKey::WeekOfYear),
    ("W", DtKey::WeekOfMonth),
    ("Y,YYY", DtKey::YearComma),
    ("YYYY", DtKey::Year(4)),
    ("YYY", DtKey::Year(3)),
    ("YY", DtKey::Year(2)),
    ("Y", DtKey::Year(1)),
    ("a.d.", DtKey::Era(true, Case::Lower)),
    ("a.m.", DtKey::Meridiem(true, Case::Lower)),
    ("ad", DtKey::Era(false, Case::Lower)),
    ("am", DtKey::Meridiem(false, Case::Lower)),
    ("b.c.", DtKey::Era(true, Case::Lower)),
    ("bc", DtKey::Era(false, Case::Lower)),
    ("cc", DtKey::Cc),
    ("day", DtKey::DayName(Case::Lower)),
    ("ddd", DtKey::DayOfYear),
    ("dd", DtKey::DayOfMonth),
    ("dy", DtKey::DayAbbrev(Case::Lower)),
    ("d", DtKey::DayOfWeek),
    ("ff1", DtKey::Fraction(1)),
    ("ff2", DtKey::Fraction(2)),
    ("ff3", DtKey::Fraction(3)),
    ("ff4", DtKey::Fraction(4)),
    ("ff5", DtKey::Fraction(5)),
    ("ff6", DtKey::Fraction(6)),
    ("fx", DtKey::Fx),
    ("hh24", DtKey::Hh24),
    ("hh12", DtKey::Hh12),
    ("hh", DtKey::Hh12),
    ("iddd", DtKey::IsoDayOfYear),
    ("id", DtKey::IsoDayOfWeek),
    ("iw", DtKey::IsoWeek),
    ("iyyy", DtKey::IsoYear(4)),
    ("iyy", DtKey::IsoYear(3)),
    ("iy", DtKey::IsoYear(2)),
    ("i", DtKey::IsoYear(1)),
    ("j", DtKey::Julian),
    ("mi", DtKey::Minute),
    ("mm", DtKey::MonthNumber),
    ("month", DtKey::MonthName(Case::Lower)),
    ("mon", DtKey::MonthAbbrev(Case::Lower)),
    ("ms", DtKey::Millisecond),
    ("of", DtKey::Offset),
    ("p.m.", DtKey::Meridiem(true, Case::Lower)),
    ("pm", DtKey::Meridiem(false, Case::Lower)),
    ("q", DtKey::Quarter),
    ("rm", DtKey::RomanMonth(Case::Lower)),
    ("sssss", DtKey::SecondsOfDay),
    ("ssss", DtKey::SecondsOfDay),
    ("ss", DtKey::Second),
    ("tzh", DtKey::TzHour),
    ("tzm", DtKey::TzMinute),
    ("tz", DtKey::TzName(Case::Lower)),
    ("us", DtKey::Microsecond),
    ("ww", DtKey::WeekOfYear),
    ("w", DtKey::WeekOfMonth),
    ("y,yyy", DtKey::YearComma),
    ("yyyy", DtKey::Year(4)),
    ("yyy", DtKey::Year(3)),
    ("yy", DtKey::Year(2)),
    ("y", DtKey::Year(1)),
];

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum DtNode {
    Key {
        key: DtKey,
        fill: bool,
        translate: bool,
        th: Option<bool>,
    },
    Text(char),
}

pub(crate) fn parse_dt_format(format: &str) -> Vec<DtNode> {
    let mut nodes = Vec::new();
    let mut rest = format;
    while !rest.is_empty() {
        let mut fill = false;
        let mut translate = false;
        for (prefix, is_fill) in [("FM", true), ("fm", true), ("TM", false), ("tm", false)] {
            if rest.starts_with(prefix) {
                if is_fill {
                    fill = true;
                } else {
                    translate = true;
                }
                rest = &rest[2..];
                break;
            }
        }
        if let Some(&(name, key)) = DT_KEYWORDS.iter().find(|(n, _)| rest.starts_with(n)) {
            rest = &rest[name.len()..];
            let mut th = None;
            for (suffix, upper) in [("TH", Some(true)), ("th", Some(false)), ("SP", None)] {
                if rest.starts_with(suffix) {
                    th = upper;
                    rest = &rest[2..];
                    break;
                }
            }
            nodes.push(DtNode::Key {
                key,
                fill,
                translate,
                th,
            });
            continue;
        }
        let (text, after) = template_text(rest);
        nodes.extend(text.into_iter().map(DtNode::Text));
        rest = after;
    }
    nodes
}

/// The broken-down value `to_char` formats (PostgreSQL's `pg_tm` plus fractional seconds).
#[derive(Clone, Debug, Default)]
struct Tm {
    /// Astronomical year for dates (0 is 1 BC); a count of years for intervals.
    year: i64,
    mon: i64,
    mday: i64,
    hour: i64,
    min: i64,
    sec: i64,
    usec: i64,
    /// 0 = Sunday.
    wday: i64,
    /// 1-based.
    yday: i64,
    /// The zone's abbreviation (None for a timestamp without time zone).
    tz_name: Option<String>,
    /// The zone's displacement, seconds east of UTC.
    gmtoff: i64,
}

pub(crate) const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(crate) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const ROMAN_MONTHS: [&str; 12] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
];

/// A timestamp broken down; with a zone, a timestamptz (UTC) as read in that zone.
fn timestamp_tm(us: i64, zone: Option<SessionZone>) -> Option<Tm> {
    const DAY: i64 = 86_400_000_000;
    let (us, tz_name, gmtoff) = match zone {
        Some(z) => (
            z.to_local(us),
            Some(z.abbreviation_at(us)),
            z.offset_at_utc(us),
        ),
        None => (us, None, 0),
    };
    let days = us.div_euclid(DAY);
    let in_day = us.rem_euclid(DAY);
    let date = NaiveDate::from_num_days_from_ce_opt(i32::try_from(days + 719_163).ok()?)?;
    Some(Tm {
        year: i64::from(date.year()),
        mon: i64::from(date.month()),
        mday: i64::from(date.day()),
        hour: in_day / 3_600_000_000,
        min: in_day / 60_000_000 % 60,
        sec: in_day / 1_000_000 % 60,
        usec: in_day % 1_000_000,
        wday: i64::from(date.weekday().num_days_from_sunday()),
        yday: i64::from(date.ordinal()),
        tz_name,
        gmtoff,
    })
}

fn interval_tm(months: i32, days: i32, nanos: i64) -> Tm {
    let months = i64::from(months);
    let micros = nanos / 1000;
    let year = months / 12;
    let mon = months % 12;
    let mday = i64::from(days);
    Tm {
        year,
        mon,
        mday,
        hour: micros / 3_600_000_000,
        min: micros / 60_000_000 % 60,
        sec: micros / 1_000_000 % 60,
        usec: micros % 1_000_000,
        wday: 0,
        yday: (year * 12 + mon) * 30 + mday,
        tz_name: None,
        gmtoff: 0,
    }
}

fn cased(word: &str, case: Case) -> String {
    match case {
        Case::Upper => word.to_ascii_uppercase(),
        Case::Lower => word.to_ascii_lowercase(),
        Case::Initial => word.to_owned(),
    }
}

fn not_for_interval() -> SqlError {
    SqlError::Detailed {
        sqlstate: "22007",
        message: "invalid format specification for an interval value".into(),
        detail: String::new(),
        hint: Some("Intervals are not tied to specific calendar dates.".into()),
    }
}

fn iso_date(tm: &Tm) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        i32::try_from(tm.year).ok()?,
        u32::try_from(tm.mon).ok()?,
        u32::try_from(tm.mday).ok()?,
    )
}

fn dt_to_char(nodes: &[DtNode], tm: &Tm, interval: bool) -> Result<String> {
    let mut out = String::new();
    let adjust_year = |y: i64| if interval || y > 0 { y } else { 1 - y };
    for node in nodes {
        let (key, fill, translate, th) = match node {
            DtNode::Text(c) => {
                out.push(*c);
                continue;
            }
            DtNode::Key {
                key,
                fill,
                translate,
                th,
            } => (*key, *fill, *translate, *th),
        };
        // A number padded to `width` unless FM, with the ordinal suffix when asked.
        let num = |value: i64, width: usize| -> Result<String> {
            let width = if fill {
                0
            } else if value < 0 {
                width + 1
            } else {
                width
            };
            let s = if value < 0 {
                format!(
                    "-{:0>w$}",
                    value.unsigned_abs(),
                    w = width.saturating_sub(1)
                )
            } else {
                format!("{value:0>width$}")
            };
            with_ordinal(s, th)
        };
        let padded = |word: String| -> String {
            if fill || translate {
                word
            } else {
                format!("{word:<9}")
            }
        };
        let iso = || {
            iso_date(tm).ok_or_else(|| SqlError::DatetimeOverflow("timestamp out of range".into()))
        };
        let text = match key {
            DtKey::Meridiem(dotted, case) => {
                let pm = tm.hour % 24 >= 12;
                let word = match (dotted, pm) {
                    (true, true) => "P.M.",
                    (true, false) => "A.M.",
                    (false, true) => "PM",
                    (false, false) => "AM",
                };
                cased(word, case)
            }
            DtKey::Hh12 => {
                let h = tm.hour % 12;
                num(if h == 0 { 12 } else { h }, 2)?
            }
            DtKey::Hh24 => num(tm.hour, 2)?,
            DtKey::Minute => num(tm.min, 2)?,
            DtKey::Second => num(tm.sec, 2)?,
            DtKey::Fraction(n) => {
                let value = tm.usec / 10i64.pow(6 - u32::from(n));
                let s = format!("{value:0>w$}", w = usize::from(n));
                with_ordinal(s, th)?
            }
            DtKey::Millisecond => with_ordinal(format!("{:03}", tm.usec / 1000), th)?,
            DtKey::Microsecond => with_ordinal(format!("{:06}", tm.usec), th)?,
            DtKey::SecondsOfDay => {
                with_ordinal((tm.hour * 3600 + tm.min * 60 + tm.sec).to_string(), th)?
            }
            DtKey::TzName(case) => {
                if interval {
                    return Err(not_for_interval());
                }
                tm.tz_name
                    .as_deref()
                    .map(|n| cased(n, case))
                    .unwrap_or_default()
            }
            DtKey::TzHour => {
                if interval {
                    return Err(not_for_interval());
                }
                let sign = if tm.gmtoff < 0 { '-' } else { '+' };
                format!("{sign}{:02}", tm.gmtoff.abs() / 3600)
            }
            DtKey::TzMinute => {
                if interval {
                    return Err(not_for_interval());
                }
                format!("{:02}", tm.gmtoff.abs() / 60 % 60)
            }
            DtKey::Offset => {
                if interval {
                    return Err(not_for_interval());
                }
                let sign = if tm.gmtoff < 0 { '-' } else { '+' };
                let (h, m) = (tm.gmtoff.abs() / 3600, tm.gmtoff.abs() / 60 % 60);
                let mut text = if fill {
                    format!("{sign}{h}")
                } else {
                    format!("{sign}{h:02}")
                };
                if m != 0 {
                    text.push_str(&format!(":{m:02}"));
                }
                text
            }
            DtKey::Era(dotted, case) => {
                if interval {
                    return Err(not_for_interval());
                }
                let bc = tm.year <= 0;
                let word = match (dotted, bc) {
                    (true, true) => "B.C.",
                    (true, false) => "A.D.",
                    (false, true) => "BC",
                    (false, false) => "AD",
                };
                cased(word, case)
            }
            DtKey::MonthName(case) => {
                if interval {
                    return Err(not_for_interval());
                }
                if tm.mon == 0 {
                    continue;
                }
                padded(cased(MONTHS[(tm.mon - 1) as usize], case))
            }
            DtKey::MonthAbbrev(case) => {
                if interval {
                    return Err(not_for_interval());
                }
                if tm.mon == 0 {
                    continue;
                }
                cased(&MONTHS[(tm.mon - 1) as usize][..3], case)
            }
            DtKey::MonthNumber => num(tm.mon, 2)?,
            DtKey::DayName(case) => {
                if interval {
                    return Err(not_for_interval());
                }
                padded(cased(DAYS[tm.wday as usize], case))
            }
            DtKey::DayAbbrev(case) => {
                if interval {
                    return Err(not_for_interval());
                }
                cased(&DAYS[tm.wday as usize][..3], case)
            }
            DtKey::DayOfYear => num(tm.yday, 3)?,
            DtKey::IsoDayOfYear => {
                let d = iso()?;
                let w = d.iso_week();
                num(
                    i64::from((w.week() - 1) * 7 + d.weekday().number_from_monday()),
                    3,
                )?
            }
            DtKey::DayOfMonth => num(tm.mday, 2)?,
            DtKey::DayOfWeek => {
                if interval {
                    return Err(not_for_interval());
                }
                num(tm.wday + 1, 0)?
            }
            DtKey::IsoDayOfWeek => {
                if interval {
                    return Err(not_for_interval());
                }
                num(if tm.wday == 0 { 7 } else { tm.wday }, 0)?
            }
            DtKey::WeekOfYear => num((tm.yday - 1) / 7 + 1, 2)?,
            DtKey::IsoWeek => num(i64::from(iso()?.iso_week().week()), 2)?,
            DtKey::Quarter => {
                if tm.mon == 0 {
                    continue;
                }
                num((tm.mon - 1) / 3 + 1, 0)?
            }
            DtKey::Cc => {
                let c = if interval {
                    tm.year / 100
                } else if tm.year > 0 {
                    (tm.year - 1) / 100 + 1
                } else {
                    tm.year / 100 - 1
                };
                if (-99..=99).contains(&c) {
                    num(c, 2)?
                } else {
                    with_ordinal(c.to_string(), th)?
                }
            }
            DtKey::YearComma => {
                let y = adjust_year(tm.year);
                let s = format!("{},{:03}", y / 1000, y - y / 1000 * 1000);
                with_ordinal(s, th)?
            }
            DtKey::Year(n) | DtKey::IsoYear(n) => {
                let year = if matches!(key, DtKey::Year(_)) {
                    adjust_year(tm.year)
                } else {
                    adjust_year(i64::from(iso()?.iso_week().year()))
                };
                match n {
                    4 => num(year, 4)?,
                    3 => num(year % 1000, 3)?,
                    2 => num(year % 100, 2)?,
                    _ => with_ordinal((year % 10).to_string(), th)?,
                }
            }
            DtKey::RomanMonth(case) => {
                if tm.mon == 0 && tm.year == 0 {
                    continue;
                }
                let index = if tm.mon == 0 {
                    if tm.year >= 0 {
                        11
                    } else {
                        0
                    }
                } else if tm.mon < 0 {
                    (12 + tm.mon) as usize
                } else {
                    (tm.mon - 1) as usize
                };
                let word = cased(ROMAN_MONTHS[index.min(11)], case);
                if fill {
                    word
                } else {
                    format!("{word:<4}")
                }
            }
            DtKey::WeekOfMonth => num((tm.mday - 1) / 7 + 1, 0)?,
            DtKey::Julian => {
                let d = iso()?;
                num(i64::from(d.num_days_from_ce()) + 1_721_425, 0)?
            }
            DtKey::Fx => String::new(),
        };
        out.push_str(&text);
    }
    Ok(out)
}

// ---- the SQL functions ---------------------------------------------------------------------

/// `to_char(value, format)` for numbers, dates, timestamps and intervals.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToChar {
    style: ByIdentity<SharedStyle>,
    signature: Signature,
}

/// `to_number(text, format)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ToNumber {
    signature: Signature,
}

/// `to_char` and `to_number`; `to_char` shows a timestamptz in the zone of `style`.
pub fn udfs(style: &Arc<SharedStyle>) -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(ToChar {
            style: ByIdentity(Arc::clone(style)),
            signature: Signature::any(2, Volatility::Stable),
        }),
        ScalarUDF::from(ToNumber {
            signature: Signature::any(2, Volatility::Immutable),
        }),
    ]
}

enum Input {
    Int(i64, bool),
    Float(f64, usize),
    Numeric(i128, i8),
    /// Microseconds; with the zone a timestamptz is shown in.
    Timestamp(i64, Option<SessionZone>),
    Interval(i32, i32, i64),
}

fn format_value(input: Input, format: &str) -> Result<Option<String>> {
    if format.is_empty() {
        // PostgreSQL: an empty template gives '' for a number and NULL for a date/time.
        return Ok(match input {
            Input::Timestamp(..) | Input::Interval(..) => None,
            _ => Some(String::new()),
        });
    }
    let (nodes, desc) = match input {
        Input::Timestamp(us, zone) => {
            if us == TIMESTAMP_INFINITY || us == TIMESTAMP_NEG_INFINITY {
                return Ok(None);
            }
            let tm = timestamp_tm(us, zone)
                .ok_or_else(|| SqlError::DatetimeOverflow("timestamp out of range".into()))?;
            return dt_to_char(&parse_dt_format(format), &tm, false).map(Some);
        }
        Input::Interval(months, days, nanos) => {
            let tm = interval_tm(months, days, nanos);
            return dt_to_char(&parse_dt_format(format), &tm, true).map(Some);
        }
        _ => parse_num_format(format)?,
    };
    let prepared = match input {
        Input::Int(v, int4) => prepare_integer(v, int4, desc)?,
        Input::Float(v, digits) => prepare_float(v, digits, desc),
        Input::Numeric(v, scale) => prepare_numeric(v, scale, desc),
        Input::Timestamp(..) | Input::Interval(..) => unreachable!("handled above"),
    };
    num_to_char(&nodes, prepared).map(Some)
}

fn unsupported_type(t: &DataType) -> SqlError {
    SqlError::UndefinedFunction(format!(
        "function to_char({}, text) does not exist",
        crate::error::pg_type_word(&t.to_string())
    ))
}

impl ToChar {
    fn run(&self, value: &ArrayRef, format: &ArrayRef) -> Result<ArrayRef> {
        let format = cast(format, &DataType::Utf8)?;
        let format = format.as_string::<i32>();
        let n = value.len();
        let zone = self.style.load().zone;
        let get = |row: usize| -> Result<Option<Input>> {
            if value.is_null(row) {
                return Ok(None);
            }
            Ok(Some(match value.data_type() {
                DataType::Int8 | DataType::Int16 | DataType::Int32 => {
                    let v = cast(&value.slice(row, 1), &DataType::Int32)?;
                    Input::Int(i64::from(v.as_primitive::<Int32Type>().value(0)), true)
                }
                DataType::Int64 => Input::Int(value.as_primitive::<Int64Type>().value(row), false),
                DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                    let v = cast(&value.slice(row, 1), &DataType::Int64)?;
                    Input::Int(v.as_primitive::<Int64Type>().value(0), false)
                }
                DataType::Float32 => {
                    Input::Float(f64::from(value.as_primitive::<Float32Type>().value(row)), 6)
                }
                DataType::Float64 => {
                    Input::Float(value.as_primitive::<Float64Type>().value(row), 15)
                }
                DataType::Decimal128(_, scale) => {
                    let a = value
                        .as_any()
                        .downcast_ref::<Decimal128Array>()
                        .ok_or_else(|| SqlError::Internal("to_char decimal".into()))?;
                    Input::Numeric(a.value(row), *scale)
                }
                // A date is a timestamptz at midnight in the session's zone.
                DataType::Date32 => Input::Timestamp(
                    zone.from_local(
                        i64::from(value.as_primitive::<Date32Type>().value(row)) * 86_400_000_000,
                    ),
                    Some(zone),
                ),
                DataType::Timestamp(TimeUnit::Microsecond, tz) => Input::Timestamp(
                    value.as_primitive::<TimestampMicrosecondType>().value(row),
                    tz.is_some().then_some(zone),
                ),
                DataType::Timestamp(unit, tz) => {
                    // The raw count in its unit; the infinities keep their stored form.
                    let raw = cast(&value.slice(row, 1), &DataType::Int64)?;
                    let raw = raw.as_primitive::<Int64Type>().value(0);
                    let us = match (raw, unit) {
                        (i64::MAX | i64::MIN, _) => raw,
                        (_, TimeUnit::Second) => raw.saturating_mul(1_000_000),
                        (_, TimeUnit::Millisecond) => raw.saturating_mul(1_000),
                        (_, TimeUnit::Microsecond) => raw,
                        (_, TimeUnit::Nanosecond) => raw.div_euclid(1_000),
                    };
                    Input::Timestamp(us, tz.is_some().then_some(zone))
                }
                DataType::Interval(IntervalUnit::MonthDayNano) => {
                    let v = value.as_primitive::<IntervalMonthDayNanoType>().value(row);
                    Input::Interval(v.months, v.days, v.nanoseconds)
                }
                other => return Err(unsupported_type(other)),
            }))
        };
        let mut out: Vec<Option<String>> = Vec::with_capacity(n);
        for row in 0..n {
            let frow = if format.len() == 1 { 0 } else { row };
            if format.is_null(frow) {
                out.push(None);
                continue;
            }
            out.push(match get(row)? {
                None => None,
                Some(input) => format_value(input, format.value(frow))?,
            });
        }
        Ok(Arc::new(StringArray::from(out)))
    }
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> DfResult<DataType> {
        match arg_types.first() {
            Some(
                DataType::Null
                | DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::UInt64
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal128(..)
                | DataType::Date32
                | DataType::Timestamp(..)
                | DataType::Interval(IntervalUnit::MonthDayNano),
            ) => Ok(DataType::Utf8),
            Some(other) => Err(unsupported_type(other).into_datafusion()),
            None => Err(
                SqlError::UndefinedFunction("function to_char() does not exist".into())
                    .into_datafusion(),
            ),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = self
            .run(&arrays[0], &arrays[1])
            .map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

impl ScalarUDFImpl for ToNumber {
    fn name(&self) -> &str {
        "to_number"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Decimal128(
            NUMERIC_DEFAULT_PRECISION,
            NUMERIC_DEFAULT_SCALE,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = crate::functions::all_scalar(&args.args);
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let run = || -> Result<ArrayRef> {
            let text = cast(&arrays[0], &DataType::Utf8)?;
            let format = cast(&arrays[1], &DataType::Utf8)?;
            let (text, format) = (text.as_string::<i32>(), format.as_string::<i32>());
            let mut out: Vec<Option<i128>> = Vec::with_capacity(text.len());
            for row in 0..text.len() {
                if text.is_null(row) || format.is_null(row) {
                    out.push(None);
                    continue;
                }
                out.push(to_number(text.value(row), format.value(row))?);
            }
            Ok(Arc::new(
                Decimal128Array::from(out)
                    .with_precision_and_scale(NUMERIC_DEFAULT_PRECISION, NUMERIC_DEFAULT_SCALE)?,
            ))
        };
        let out = run().map_err(SqlError::into_datafusion)?;
        crate::functions::columnar_result(out, scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(v: i128, scale: i8, f: &str) -> String {
        format_value(Input::Numeric(v, scale), f)
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    #[test]
    fn number_patterns_match_postgresql() {
        assert_eq!(
            num(-34_338_492_215_397_047, 9, "9G999G999G999G999G999"),
            "           -34,338,492"
        );
        assert_eq!(num(1000, 1, "FM999.9"), "100.");
        assert_eq!(num(100, 0, "FM999."), "100");
        assert_eq!(num(100, 0, "FM999"), "100");
        assert_eq!(num(100, 0, "foo999"), "foo 100");
        assert_eq!(num(1234, 0, "RN"), "       MCCXXXIV");
    }

    #[test]
    fn to_number_reads_templates() {
        let v = |s: &str, f: &str| to_number(s, f).ok().flatten();
        assert_eq!(
            v("-34,338,492", "99G999G999"),
            Some(-34_338_492 * 10i128.pow(10))
        );
        assert_eq!(
            v("<564646.654564>", "999999.999999PR"),
            Some(-5_646_466_545_640_000)
        );
        assert_eq!(v("5.01-", "FM9.999999S"), Some(-50_100_000_000));
    }
}

//! `string(double)` and `timestamp(string)` as cel-go has them, where the interpreter differs:
//! it writes doubles as Rust does (`1000000`, where cel-go writes `1e+06`) and parses
//! timestamps as chrono's lenient RFC 3339 reader does (a space or a lowercase `t` between date
//! and time, a lowercase `z`, a leap second), all of which Go's `time.Parse(time.RFC3339, …)`
//! refuses. A mapping must give the same answer here as in the reference implementation, so
//! programs are rewritten to call [`STRING`] and [`TIMESTAMP`], which handle those cases and hand
//! every other argument to the library's own conversion.

use cel::common::types::{CelDouble, CelString};
use cel::common::value::CowVal;
use cel::{Env, ExecutionError};
use std::sync::LazyLock;

/// `string(x)`. Not a valid CEL identifier, so no expression can call it by name.
pub(crate) const STRING: &str = "@tributary_string";
/// `timestamp(x)`.
pub(crate) const TIMESTAMP: &str = "@tributary_timestamp";

/// The name a global call of `function` with `arguments` arguments is rewritten to, if any.
pub(crate) fn replacement(function: &str, arguments: usize) -> Option<&'static str> {
    match (function, arguments) {
        ("string", 1) => Some(STRING),
        ("timestamp", 1) => Some(TIMESTAMP),
        _ => None,
    }
}

/// The standard library, whose conversions the overloads below fall back to.
static LIBRARY: LazyLock<Env> = LazyLock::new(Env::stdlib);

fn library<'b, 'v>(
    function: &str,
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    match LIBRARY.find_overload(function, &args) {
        Some(overload) => overload(args),
        None => Err(ExecutionError::no_such_overload(
            function,
            args.iter()
                .map(|a| a.get_type().name().to_owned())
                .collect(),
        )),
    }
}

pub(crate) fn string<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    match args.first().and_then(|a| a.downcast_ref::<CelDouble>()) {
        Some(double) => Ok(CowVal::owned(CelString::from(go_g_format(*double.inner())))),
        None => library("string", args),
    }
}

pub(crate) fn timestamp<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    if let Some(text) = args.first().and_then(|a| a.downcast_ref::<CelString>())
        && let Err(problem) = go_rfc3339_shape(text.inner())
    {
        return Err(ExecutionError::function_error(
            "timestamp",
            format!("{problem} (RFC 3339: 2006-01-02T15:04:05Z or 2006-01-02T15:04:05.999+07:00)"),
        ));
    }
    library("timestamp", args)
}

/// `x` as Go's `%g` writes a float64: the shortest digits that read back as `x`, in exponent form
/// when the decimal exponent is below -4 or at least 6 (`1e+06`, `1.5e-07`, two exponent digits
/// at least), else in plain form without a trailing `.0`; `+Inf`, `-Inf`, `NaN`.
fn go_g_format(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0");
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `1.23456789e8`, `1e-5`.
    let scientific = format!("{:e}", x.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes an integer exponent");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..6).contains(&exponent) {
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{exponent_sign}{:02}", exponent.abs());
    }
    let point = exponent + 1; // digits before the decimal point
    let plain = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else {
        let point = point as usize;
        if digits.len() <= point {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    };
    format!("{sign}{plain}")
}

/// What Go's RFC 3339 layout refuses and chrono's reader accepts: the date and time must be
/// separated by an uppercase `T`, the zone must be an uppercase `Z` or an offset, and the second
/// must be below 60. The rest (ranges, digits) the library's reader checks.
fn go_rfc3339_shape(text: &str) -> Result<(), &'static str> {
    let bytes = text.as_bytes();
    // 2006-01-02T15:04:05: the separator is the 11th byte, the seconds the 18th and 19th
    if bytes.len() < 20 {
        return Err("the timestamp is too short");
    }
    if bytes[10] != b'T' {
        return Err("the date and the time must be separated by an uppercase 'T'");
    }
    if bytes[17..19] == *b"60" {
        return Err("the second must be below 60");
    }
    if bytes.last() == Some(&b'z') {
        return Err("the UTC zone must be an uppercase 'Z'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::go_g_format;

    #[test]
    fn formats_like_go_percent_g() {
        for (x, text) in [
            (0.5, "0.5"),
            (12345.0, "12345"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (0.000123, "0.000123"),
            (0.0000123, "1.23e-05"),
            (-1e100, "-1e+100"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(go_g_format(x), text, "{x}");
        }
    }
}

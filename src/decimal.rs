//! Decimal text to `f64` without core's `f64::from_str`, whose parser (dec2flt) brings a
//! 10.4 KB table of powers of five that gzip cannot shrink, and about 4 KB of code, to every
//! binary that parses one float (BENCHMARKS.md, "Size steps").
//!
//! [`parse_f64`] accepts exactly what `str::parse::<f64>` accepts (a sign, then `inf`,
//! `infinity` or `nan` in any case, or digits with at most one point and at least one digit,
//! then `e`/`E`, a sign and digits), so its callers refuse the same text as before. Its value
//! is the one std gives (correctly rounded) whenever the number has at most 19 significant
//! digits, trailing zeros not counted, and the power of ten of the last one is within ±27:
//! every Prometheus sample Go writes from 1e-11 to 1e27 (`strconv.FormatFloat(v, 'g', -1,
//! 64)`: at most 17 digits), kube-proxy's timestamps and counters, iptables-save's
//! probabilities (`%.11f`), scrape timeouts, durations. Beyond that (more digits, farther
//! exponents) it may be one unit in the last place off. The unit tests hold std as the oracle
//! for both.

/// The power of ten one step of [`value`] applies: 5^27 < 2^63, so a product by it of a
/// number below 2^65 fits in a `u128`, and so does a quotient by it with at least 64 bits.
const STEP: i64 = 27;

/// `text` as a float, or `None` where `str::parse::<f64>` gives an error.
pub fn parse_f64(text: &str) -> Option<f64> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = special(unsigned).or_else(|| number(unsigned.as_bytes()))?;
    Some(if negative { -magnitude } else { magnitude })
}

/// `inf`, `infinity` and `nan`, in any case.
fn special(text: &str) -> Option<f64> {
    if text.eq_ignore_ascii_case("inf") || text.eq_ignore_ascii_case("infinity") {
        Some(f64::INFINITY)
    } else if text.eq_ignore_ascii_case("nan") {
        Some(f64::NAN)
    } else {
        None
    }
}

/// The first significant digits of a number as an integer `m` (as many as a `u64` holds),
/// and the power of ten `e` of the last of them: the number is about `m * 10^e`.
#[derive(Debug, Default)]
struct Digits {
    m: u64,
    e: i64,
}

impl Digits {
    /// Appends one digit, before or after the point; past what a `u64` holds the digit is
    /// dropped (only the exponent remembers it).
    fn push(&mut self, digit: u8, after_point: bool) {
        if self.m <= (u64::MAX - 9) / 10 {
            self.m = self.m * 10 + u64::from(digit);
            self.e -= i64::from(after_point);
        } else {
            self.e += i64::from(!after_point);
        }
    }
}

/// Digits, at most one point, at least one digit; then an optional exponent.
fn number(bytes: &[u8]) -> Option<f64> {
    let mut digits = Digits::default();
    let (mut seen_digit, mut after_point) = (false, false);
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'0'..=b'9' => {
                digits.push(b - b'0', after_point);
                seen_digit = true;
            }
            b'.' if !after_point => after_point = true,
            _ => break,
        }
        rest = tail;
    }
    if !seen_digit {
        return None;
    }
    let exponent = match rest.split_first() {
        None => 0,
        Some((b'e' | b'E', tail)) => exponent(tail)?,
        Some(_) => return None,
    };
    Some(value(digits.m, digits.e + exponent))
}

/// `[+-]digits`, saturated far beyond where every `f64` is zero or infinite.
fn exponent(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first()? {
        (b'-', tail) => (true, tail),
        (b'+', tail) => (false, tail),
        _ => (false, bytes),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits
        .iter()
        .fold(0i64, |n, d| (n * 10 + i64::from(d - b'0')).min(1 << 40));
    Some(if negative { -magnitude } else { magnitude })
}

/// `m * 10^e` as the nearest `f64`. With `10^e = 5^e * 2^e`, the number is kept as an
/// integer `n` times `2^p` and multiplied or divided by `5^27` at most per step; the first
/// step is exact (a product below 2^128, or a quotient of at least 64 bits with a sticky bit
/// for a nonzero remainder), later ones drop bits past the 65th or 128th (2^-63 of the
/// value). `n as f64` then rounds once, to nearest, ties to even.
fn value(mut m: u64, mut e: i64) -> f64 {
    if m == 0 {
        return 0.0;
    }
    while m.is_multiple_of(10) {
        m /= 10;
        e += 1;
    }
    let (mut n, mut p) = (u128::from(m), 0i64);
    while e != 0 {
        let step = e.clamp(-STEP, STEP);
        let five = 5u128.pow(step.unsigned_abs() as u32);
        if step > 0 {
            let excess = (128 - n.leading_zeros()).saturating_sub(65);
            n = (n >> excess) * five;
            p += i64::from(excess);
        } else {
            let shift = n.leading_zeros();
            let numerator = n << shift;
            n = (numerator / five) | u128::from(numerator % five != 0);
            p -= i64::from(shift);
        }
        p += step;
        e -= step;
        // Below 2^magnitude: far past the largest double, or far below half the smallest.
        let magnitude = p + i64::from(128 - n.leading_zeros());
        if magnitude > 1100 {
            return f64::INFINITY;
        }
        if magnitude < -1200 {
            return 0.0;
        }
    }
    let half = p / 2;
    n as f64 * two_to(half) * two_to(p - half)
}

/// `2^p` for `|p| <= 1022`.
fn two_to(p: i64) -> f64 {
    f64::from_bits(((1023 + p) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift64*): the same values on every run.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    /// `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)` writes it: the shortest digits that
    /// read back as `v` (Rust's `{:e}` finds the same ones), in `%e` form when the exponent
    /// is below -4 or at least 6 (`1e+06`, `1.5e-05`: two exponent digits at least).
    fn go_g(v: f64) -> String {
        let e_form = format!("{v:e}");
        let (mantissa, exponent) = e_form.split_once('e').unwrap();
        let exponent: i32 = exponent.parse().unwrap();
        if (-4..6).contains(&exponent) {
            format!("{v}")
        } else {
            let sign = if exponent < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", exponent.abs())
        }
    }

    /// Whether `text`'s value must be exact: at most 19 significant digits (trailing zeros
    /// not counted), the last one's power of ten within ±27.
    fn in_exact_range(text: &str) -> bool {
        let unsigned = text.trim_start_matches(['+', '-']);
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            // Beyond i64 the exponent is out of range whatever its sign.
            Some((m, e)) => (m, e.parse::<i64>().unwrap_or(1 << 40)),
            None => (unsigned, 0),
        };
        let after_point = mantissa.split_once('.').map_or(0, |(_, f)| f.len() as i64);
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        let significant = digits.trim_start_matches('0');
        let kept = significant.trim_end_matches('0');
        let e = exponent - after_point + (significant.len() - kept.len()) as i64;
        kept.is_empty() || (kept.len() <= 19 && (-STEP..=STEP).contains(&e))
    }

    /// Ours against std's: the same `None`, the same bits where exact, close elsewhere.
    fn check(text: &str) {
        let ours = parse_f64(text);
        let std = text.parse::<f64>().ok();
        match (ours, std) {
            (None, None) => {}
            (Some(a), Some(b)) if a.to_bits() == b.to_bits() => {}
            (Some(a), Some(b)) if a.is_nan() || b.is_nan() => {
                assert!(a.is_nan() && b.is_nan(), "{text}: {a:e} against {b:e}")
            }
            (Some(a), Some(b)) if in_exact_range(text) => {
                assert_eq!(a.to_bits(), b.to_bits(), "{text}: {a:e} against {b:e}")
            }
            // One unit in the last place: neighbours in the bits (MAX's is infinity).
            (Some(a), Some(b)) => assert!(
                a.to_bits().abs_diff(b.to_bits()) <= 1,
                "{text}: {a:e} against {b:e}"
            ),
            _ => panic!("{text}: {ours:?} against std's {std:?}"),
        }
    }

    #[test]
    fn go_shapes_of_any_double() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..200_000 {
            let v = f64::from_bits(rng.next());
            if v.is_finite() {
                check(&go_g(v));
            }
        }
    }

    #[test]
    fn go_shapes_of_metric_values() {
        let mut rng = Rng(1);
        for _ in 0..100_000 {
            let r = rng.next();
            // Timestamps with a fraction (kube-proxy's last sync), counters, small
            // fractions, and doubles of every exponent where the exact range reaches.
            let timestamp =
                1.5e9 + (r % 500_000_000) as f64 + (r >> 40) as f64 / (1u64 << 24) as f64;
            let counter = (r >> (r % 64)) as f64;
            let fraction = (r >> 11) as f64 / (1u64 << 53) as f64;
            let scale = 10f64.powi((r % 38) as i32 - 11);
            for v in [timestamp, counter, fraction, fraction * scale, -timestamp] {
                let text = go_g(v);
                assert!(in_exact_range(&text) || v.abs() < 1e-11, "{text}");
                check(&text);
            }
        }
    }

    #[test]
    fn iptables_save_probabilities() {
        // iptables' statistic match prints its probability with "%.11f".
        for n in 1..=1000u32 {
            for i in 0..n {
                let p = f64::from(i) / f64::from(n);
                check(&format!("{p:.11}"));
            }
        }
    }

    #[test]
    fn std_grammar_and_edges() {
        let long_point_one = "0.1000000000000000055511151231257827021181583404541015625";
        let max = format!("{:.0}", f64::MAX);
        let over = format!("{max}0");
        for text in [
            "+Inf",
            "-Inf",
            "inf",
            "INF",
            "Infinity",
            "-infinity",
            "infinit",
            "NaN",
            "nan",
            "-nan",
            "+NaN",
            "nana",
            "",
            "+",
            "-",
            ".",
            "+.",
            "1.",
            ".5",
            "-.5",
            "1.e3",
            "1e",
            "1e+",
            "1e-",
            "1e-5",
            "1E5",
            "1e+05",
            "e5",
            ".e5",
            "0x10",
            "1_000",
            " 1",
            "1 ",
            "++1",
            "+-1",
            "1..2",
            "1.2.3",
            "1e5.0",
            "1e5e5",
            "١",
            "0",
            "-0",
            "-0.0",
            "+0",
            "0e999999",
            "0e-99999999999999999999999",
            "1e99999999999999999999",
            "1e-99999999999999999999",
            "1e309",
            "1e308",
            "1e-400",
            "1e-320",
            "4.9e-324",
            "5e-324",
            "2.2250738585072014e-308",
            "2.2250738585072011e-308",
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "9007199254740993",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999",
            "0.000000000000000000000000001",
            "1000000000000000000000000000",
            long_point_one,
            &max,
            &over,
            "0.5",
            "2.5",
            "1.5e-27",
            "1.5e27",
            "123456789012345678e9",
            "12345678901234567890123456789",
            "1.7644670601234567e+09",
            "1.7644e+09",
        ] {
            check(text);
        }
        for digits in [50usize, 400, 5000] {
            check(&"9".repeat(digits));
            check(&format!("0.{}", "0".repeat(digits)));
            check(&format!("0.{}1", "0".repeat(digits)));
            check(&format!("1{}e-{digits}", "0".repeat(digits)));
        }
    }
}

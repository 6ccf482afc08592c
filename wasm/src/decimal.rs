//! Numbers as decimal text and back, for messages, metadata values and scheduler configs.
//!
//! Natively these are Rust's `Display` and `FromStr`. On wasm32 they go through JavaScript's
//! own number conversions (`String(x)`, `toExponential`, `Number(text)`, `BigInt`), which are
//! exact, so the wasm modules carry none of core's float formatting and parsing code and tables
//! (wasm/BENCHMARKS.md, "Package sizes"). The values are the same, and so is the text accepted;
//! JavaScript writes very large and very small magnitudes with an exponent (`1e-7` where Rust
//! writes `0.0000001`).

/// `x` as the shortest decimal that reads back as `x`.
pub fn f64_text(x: f64) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        js::string(x)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        x.to_string()
    }
}

/// `v` as the shortest decimal that reads back as `v` in `f32` (`0.0001`, not
/// `0.00009999999747378752`).
pub fn f32_text(v: f32) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        js::string(f32_shortest(v))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        v.to_string()
    }
}

/// The `f64` nearest to `v`'s shortest decimal ([`f32_text`]): `1e-4` for `1e-4f32`, where
/// `v as f64` is `9.99999974e-5`.
pub fn f32_shortest(v: f32) -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        js::f32_shortest(v)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        v.to_string().parse().unwrap_or(v as f64)
    }
}

/// `text` in Rust's float syntax (`f64::from_str`: an optional sign, then digits with an
/// optional point and exponent, or `inf`, `infinity`, `nan` in any case) as the nearest `f64`.
pub fn parse_f64(text: &str) -> Option<f64> {
    #[cfg(target_arch = "wasm32")]
    {
        js::parse(text).map(|(x, _)| x)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        text.parse().ok()
    }
}

/// As [`parse_f64`], rounded once to the nearest `f32` (as `f32::from_str`; not through `f64`,
/// which could round twice).
pub fn parse_f32(text: &str) -> Option<f32> {
    #[cfg(target_arch = "wasm32")]
    {
        js::parse_f32(text)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        text.parse().ok()
    }
}

#[cfg(target_arch = "wasm32")]
mod js {
    use js_sys::BigInt;
    use wasm_bindgen::JsValue;

    /// JavaScript's `String(x)` (`x.toString(10)`).
    pub fn string(x: f64) -> String {
        js_sys::Number::from(x)
            .to_string_with_radix(10)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default()
    }

    /// JavaScript's `Number(text)` (exact: the nearest `f64`).
    fn number(text: &str) -> f64 {
        JsValue::from_str(text).unchecked_into_f64()
    }

    /// The shortest decimal of `v` as Rust's `flt2dec` finds it: the fewest significant
    /// digits (1..=9) whose value reads back as `v`, the one nearest `v` among those. A
    /// `p`-digit candidate is `v` rounded to `p` digits (`toExponential`), or one unit above it
    /// (in the lower half of a binade the interval above `v` is twice as wide as below). A
    /// candidate is taken when its nearest `f64` lies strictly inside `v`'s rounding interval,
    /// whose ends are `f64`s: then the decimal does too. Nine digits always are (their error,
    /// at most 5e-9 relative, is below half an `f32` ulp).
    pub fn f32_shortest(v: f32) -> f64 {
        if !v.is_finite() || v == 0.0 {
            return v as f64;
        }
        let x = v as f64;
        let a = v.abs();
        let below = f32::from_bits(a.to_bits() - 1) as f64;
        let above = f32::from_bits(a.to_bits() + 1) as f64; // inf above f32::MAX: fine
        let (lo, hi) = ((below + x.abs()) / 2.0, (x.abs() + above) / 2.0);
        let inside = |y: f64| y > lo && y < hi;
        for p in 1..=9u32 {
            let s = js_sys::Number::from(x.abs())
                .to_exponential(p as u8 - 1)
                .ok()
                .and_then(|s| s.as_string())
                .unwrap_or_default();
            // "d.ddde±x" -> integer digits m and exponent of their last digit.
            let Some((mant, exp)) = s.split_once('e') else {
                continue;
            };
            let (Ok(m), Ok(e)) = (mant.replace('.', "").parse::<u64>(), exp.parse::<i32>()) else {
                continue;
            };
            let e = e - (p as i32 - 1);
            for cand in [m, m + 1] {
                let y = number(&format!("{cand}e{e}"));
                if inside(y) {
                    return if v < 0.0 { -y } else { y };
                }
            }
        }
        x
    }

    /// A decimal in Rust's float syntax: its sign, significant digits (at most 800: longer ones
    /// are cut, a nonzero cut part kept as a final 1, which cannot change a comparison with an
    /// `f64`, whose exact decimal has at most 767 significant digits) and the power of ten of
    /// the last digit. `None` for text Rust rejects; `Some(Err(x))` for `inf`/`nan`.
    type Lexed = Result<(bool, String, i64), f64>;

    fn lex(text: &str) -> Option<Lexed> {
        // Over bytes, not `str` slices (whose panic path would bring char formatting along).
        let sign_of = |b: &[u8]| match b.first() {
            Some(b'-') => (true, 1),
            Some(b'+') => (false, 1),
            _ => (false, 0),
        };
        let b = text.as_bytes();
        let (neg, skip) = sign_of(b);
        let rest = b.get(skip..)?;
        let sign = if neg { -1.0 } else { 1.0 };
        for (word, v) in [
            ("inf", f64::INFINITY),
            ("infinity", f64::INFINITY),
            ("nan", f64::NAN),
        ] {
            if rest.eq_ignore_ascii_case(word.as_bytes()) {
                return Some(Err(sign * v));
            }
        }
        let (mantissa, exponent) = match rest.iter().position(|&c| c == b'e' || c == b'E') {
            Some(i) => (rest.get(..i)?, Some(rest.get(i + 1..)?)),
            None => (rest, None),
        };
        let (int, frac) = match mantissa.iter().position(|&c| c == b'.') {
            Some(i) => (mantissa.get(..i)?, mantissa.get(i + 1..)?),
            None => (mantissa, &[][..]),
        };
        let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
        if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let mut exp: i64 = 0;
        if let Some(e) = exponent {
            let (eneg, eskip) = sign_of(e);
            let edigits = e.get(eskip..)?;
            if edigits.is_empty() || !all_digits(edigits) {
                return None;
            }
            for &c in edigits {
                // Saturates: far beyond any f64 either way.
                exp = (exp * 10 + (c - b'0') as i64).min(1 << 40);
            }
            if eneg {
                exp = -exp;
            }
        }
        exp -= frac.len() as i64;
        let mut digits: Vec<u8> = int
            .iter()
            .chain(frac)
            .copied()
            .skip_while(|&c| c == b'0')
            .collect();
        if digits.len() > 800 {
            let sticky = digits.iter().skip(800).any(|&c| c != b'0');
            exp += digits.len() as i64 - 800;
            digits.truncate(800);
            if sticky {
                digits.push(b'1');
                exp -= 1;
            }
        }
        Some(Ok((neg, String::from_utf8(digits).ok()?, exp)))
    }

    /// `text` as the nearest `f64`, with its decimal (`None` for `inf`/`nan`).
    pub fn parse(text: &str) -> Option<(f64, Option<(String, i64)>)> {
        match lex(text)? {
            Err(x) => Some((x, None)),
            // JavaScript reads the same syntax (its StrDecimalLiteral), to the nearest f64.
            Ok((_, digits, exp)) => Some((number(text), Some((digits, exp)))),
        }
    }

    /// `text` rounded once to `f32`. `y as f32` (from the nearest `f64` `y`) is right unless
    /// `y` is exactly halfway between two `f32`s while the decimal is not; then the decimal is
    /// compared with that midpoint exactly (as `BigInt`s).
    pub fn parse_f32(text: &str) -> Option<f32> {
        let (y, dec) = parse(text)?;
        let Some((digits, exp)) = dec else {
            return Some(y as f32);
        };
        let a = y.abs();
        let t = a as f32;
        if t as f64 == a || a == 0.0 {
            return Some(y as f32);
        }
        // The f32s around `a` (2^128 standing for infinity above f32::MAX).
        let lo = if (t as f64) < a {
            t
        } else {
            f32::from_bits(t.to_bits() - 1)
        };
        let hi = if lo == f32::MAX {
            2f64.powi(128)
        } else {
            f32::from_bits(lo.to_bits() + 1) as f64
        };
        let mid = (lo as f64 + hi) / 2.0;
        if a != mid {
            return Some(y as f32);
        }
        // mid = m 2^e exactly; the decimal is digits 10^exp.
        let bits = mid.to_bits();
        let (m, e) = (
            (bits & ((1 << 52) - 1)) | (1 << 52),
            ((bits >> 52) as i64) - 1075,
        );
        let big = |v: u64| BigInt::from(v);
        let pow = |base: u64, p: i64| big(base).pow(&big(p.max(0) as u64));
        let d = BigInt::new(&JsValue::from_str(if digits.is_empty() {
            "0"
        } else {
            &digits
        }))
        .ok()?;
        let left = &(&d * &pow(10, exp)) * &pow(2, -e);
        let right = &(&big(m) * &pow(2, e)) * &pow(10, -exp);
        let r = if left > right {
            if lo == f32::MAX {
                f32::INFINITY
            } else {
                hi as f32
            }
        } else if left < right {
            lo
        } else {
            t
        };
        Some(if y < 0.0 { -r } else { r })
    }
}

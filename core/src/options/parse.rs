//! One option value type-checked against what the option takes ([`Kind`]): a name among its
//! choices, an integer in range, a boolean or a finite number, or the error saying which.

use super::error::{OptionError, Problem};
use super::names::same_name;
use super::Value;
use crate::math::Real;

/// The type-checked value of one option (not generic: one copy of the checks).
pub(super) enum Parsed {
    Null,
    Index(usize),
    Int(usize),
    Bool(bool),
    Num(f64),
}

/// What an option takes.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Choice(&'static [&'static str]),
    /// At most this (also as text, for the message).
    Int(usize, &'static str),
    Bool,
    Num,
}

/// A value without its list (a list is a type error except for `spacing`, read before).
#[derive(Clone, Copy)]
pub(super) enum Plain<'a> {
    Null,
    Bool(bool),
    Number(f64),
    Str(&'a str),
    Other,
}

pub(super) fn parse<'a>(
    group: Option<&'a str>,
    key: &'a str,
    kind: Kind,
    v: Plain<'a>,
) -> Result<Parsed, OptionError<'a>> {
    let problem = match (kind, v) {
        (_, Plain::Null) => return Ok(Parsed::Null),
        (Kind::Choice(names), Plain::Str(s)) => match names.iter().position(|n| same_name(s, n)) {
            Some(i) => return Ok(Parsed::Index(i)),
            None => Problem::Choice {
                got: s,
                expected: names,
            },
        },
        (Kind::Choice(_), _) => Problem::Must("a string"),
        (Kind::Bool, Plain::Bool(b)) => return Ok(Parsed::Bool(b)),
        (Kind::Bool, _) => Problem::Must("a boolean"),
        (Kind::Int(max, text), Plain::Number(x)) if x.is_finite() => {
            // `max` is far below 2^53 (exact in f64); the comparison also rejects negatives
            // and fractions.
            if x >= 0.0 && x <= max as f64 && x as usize as f64 == x {
                return Ok(Parsed::Int(x as usize));
            }
            Problem::Integer { got: x, max: text }
        }
        (Kind::Num, Plain::Number(x)) if x.is_finite() => return Ok(Parsed::Num(x)),
        (Kind::Num | Kind::Int(..), _) => Problem::Must("a finite number"),
    };
    Err(OptionError {
        group,
        key,
        problem,
    })
}

impl<'s, T> Value<'s, '_, T> {
    pub(super) fn plain(&self) -> Plain<'s> {
        match *self {
            Value::Null => Plain::Null,
            Value::Bool(b) => Plain::Bool(b),
            Value::Number(x) => Plain::Number(x),
            Value::Str(s) => Plain::Str(s),
            _ => Plain::Other,
        }
    }
}

impl Parsed {
    /// The index of the name chosen (`None` for null).
    pub(super) fn at(&self) -> Option<usize> {
        match *self {
            Parsed::Index(i) => Some(i),
            _ => None,
        }
    }

    pub(super) fn int(&self, default: usize) -> usize {
        match *self {
            Parsed::Int(n) => n,
            _ => default,
        }
    }

    pub(super) fn flag(&self, default: bool) -> bool {
        match *self {
            Parsed::Bool(b) => b,
            _ => default,
        }
    }

    pub(super) fn num<T: Real>(&self, default: T) -> T {
        match *self {
            Parsed::Num(x) => T::c(x),
            _ => default,
        }
    }

    pub(super) fn opt_num(&self) -> Option<f64> {
        match *self {
            Parsed::Num(x) => Some(x),
            _ => None,
        }
    }
}

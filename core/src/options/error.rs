//! What was wrong with an option, and its message: written piece by piece so a front end can
//! format numbers itself (the JS bindings carry no Rust float formatting).

use core::fmt;

/// What was wrong with an option: the key as the caller wrote it (and its group), the value
/// where it helps, and what was expected. `Display` writes `key is 'value', expected ...` or
/// `key must be ...`; [`OptionError::write`] lets a caller format the numbers itself.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptionError<'a> {
    /// The group (`spacing`, `adaptive`, ...) of a group entry.
    pub group: Option<&'a str>,
    /// The key as given.
    pub key: &'a str,
    /// What was wrong.
    pub problem: Problem<'a>,
}

/// The kinds of [`OptionError`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Problem<'a> {
    /// No option has this name (in this group); lists the names.
    Unknown(&'static [&'static str]),
    /// A name that is not one of the listed choices.
    Choice {
        /// The name given.
        got: &'a str,
        /// The accepted names (compared ignoring case, `_` and `-`).
        expected: &'static [&'static str],
    },
    /// A number outside `0..=max` or not an integer.
    Integer {
        /// The number given.
        got: f64,
        /// The largest accepted, as text.
        max: &'static str,
    },
    /// A value of the wrong type or out of range; says what it must be.
    Must(&'static str),
}

impl OptionError<'_> {
    /// Writes the message: keys under `ctx` (a front end's name for the options, e.g.
    /// `options` for `options.steps ...`), `extra` (the front end's own keys) listed first in
    /// an unknown-key error. A message about a number ([`Problem::Integer`]) ends in `got `:
    /// the caller writes the number (`Display` with Rust's formatting; the JS bindings as
    /// JavaScript does, without Rust's float formatting).
    pub fn write(&self, w: &mut dyn fmt::Write, ctx: Option<&str>, extra: &[&str]) -> fmt::Result {
        let (names, last): (&[&[&str]], _) = match self.problem {
            Problem::Unknown(names) => {
                w.write_str("unknown key '")?;
                w.write_str(self.key)?;
                w.write_str("'")?;
                if ctx.is_some() || self.group.is_some() {
                    w.write_str(" in ")?;
                    path(w, &[ctx, self.group])?;
                }
                w.write_str(" (expected one of: ")?;
                let extra = if self.group.is_none() { extra } else { &[] };
                (&[extra, names], ")")
            }
            Problem::Choice { got, expected } => {
                path(w, &[ctx, self.group, Some(self.key)])?;
                w.write_str(" is '")?;
                w.write_str(got)?;
                w.write_str("', expected one of: ")?;
                (&[expected], "")
            }
            Problem::Integer { max, .. } => {
                path(w, &[ctx, self.group, Some(self.key)])?;
                w.write_str(" must be an integer in 0..=")?;
                w.write_str(max)?;
                w.write_str(", got ")?;
                (&[], "")
            }
            Problem::Must(what) => {
                path(w, &[ctx, self.group, Some(self.key)])?;
                w.write_str(" must be ")?;
                w.write_str(what)?;
                (&[], "")
            }
        };
        let mut sep = "";
        for n in names.iter().copied().flatten() {
            w.write_str(sep)?;
            w.write_str(n)?;
            sep = ", ";
        }
        w.write_str(last)
    }

    /// Whether the key is unknown (an entry with options of its own may try them next).
    pub fn is_unknown(&self) -> bool {
        matches!(self.problem, Problem::Unknown(_))
    }
}

impl fmt::Display for OptionError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, None, &[])?;
        match self.problem {
            Problem::Integer { got, .. } => write!(f, "{got}"),
            _ => Ok(()),
        }
    }
}

/// Writes the parts given joined by `.`.
fn path(w: &mut dyn fmt::Write, parts: &[Option<&str>]) -> fmt::Result {
    let mut sep = "";
    for part in parts.iter().flatten() {
        w.write_str(sep)?;
        w.write_str(part)?;
        sep = ".";
    }
    Ok(())
}

//! Reading JavaScript option objects strictly: a wrong type or an unknown key is an error
//! naming the option, never a silent default. The solver's options go to the core's options
//! module key by key ([`core_options`]), so every entry reads them alike.

use super::error::{opt_err, Result};
use dpm_solver::options::{OptionError, Options, Problem, Value};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// A view of a JS options object (`undefined` and `null` read as empty).
pub(crate) struct Opts<'a> {
    obj: Option<&'a JsValue>,
    ctx: &'a str,
}

impl<'a> Opts<'a> {
    /// Wraps `v`, which must be an object, `undefined` or `null`; `allowed` are its valid keys.
    pub fn new(v: &'a JsValue, ctx: &'a str, allowed: &'static [&'static str]) -> Result<Self> {
        let o = Self::any(v, ctx)?;
        if o.obj.is_some() {
            let keys = Object::keys(v.unchecked_ref::<Object>());
            for k in keys.iter() {
                let k = k.as_string().unwrap_or_default();
                if !allowed.contains(&k.as_str()) {
                    // The core's message: "unknown key 'k' in ctx (expected one of: ...)".
                    return Err(message(Some(ctx), &k, Problem::Unknown(allowed)));
                }
            }
        }
        Ok(o)
    }

    /// Wraps `v`, which must be an object, `undefined` or `null`, without checking its keys
    /// (a caller that walks them itself).
    pub fn any(v: &'a JsValue, ctx: &'a str) -> Result<Self> {
        if v.is_undefined() || v.is_null() {
            return Ok(Opts { obj: None, ctx });
        }
        if !v.is_object() || Array::is_array(v) {
            return Err(message(None, ctx, Problem::Must("an object")));
        }
        Ok(Opts { obj: Some(v), ctx })
    }

    /// `ctx.key must be what`, in the core's words (one message writer for every option).
    fn must(&self, key: &str, what: &'static str) -> Box<super::error::Error> {
        message(Some(self.ctx), key, Problem::Must(what))
    }

    /// The object itself (`None` for `undefined` and `null`).
    #[cfg(feature = "pipeline")]
    pub fn value(&self) -> Option<&'a JsValue> {
        self.obj
    }

    /// The value at `key`, `None` when absent, `undefined` or `null`.
    pub fn get(&self, key: &str) -> Result<Option<JsValue>> {
        let Some(o) = self.obj else { return Ok(None) };
        let v = Reflect::get(o, &JsValue::from_str(key)).map_err(|_| {
            super::error::Error::Option(format!("{}.{key} cannot be read", self.ctx))
        })?;
        Ok(if v.is_undefined() || v.is_null() {
            None
        } else {
            Some(v)
        })
    }

    pub fn num(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(self.must(key, "a finite number")),
            },
        }
    }

    pub fn uint(&self, key: &str, max: usize) -> Result<Option<usize>> {
        match self.num(key)? {
            None => Ok(None),
            Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= max as f64 => Ok(Some(x as usize)),
            Some(x) => opt_err(format!(
                "{}.{key} must be an integer in 0..={max}, got {}",
                self.ctx,
                crate::decimal::f64_text(x)
            )),
        }
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => match v.as_bool() {
                Some(b) => Ok(Some(b)),
                None => Err(self.must(key, "a boolean")),
            },
        }
    }

    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key)? {
            None => Ok(None),
            Some(v) => match v.as_string() {
                Some(s) => Ok(Some(s)),
                None => Err(self.must(key, "a string")),
            },
        }
    }

    /// The index in `choices` of the string at `key` (callers map it through a table of the
    /// same order); the error lists them.
    pub fn pick(&self, key: &str, choices: &'static [&'static str]) -> Result<Option<usize>> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => match choices.iter().position(|c| *c == s) {
                Some(i) => Ok(Some(i)),
                None => Err(message(
                    Some(self.ctx),
                    key,
                    Problem::Choice {
                        got: &s,
                        expected: choices,
                    },
                )),
            },
        }
    }
}

/// A `Float32Array`, `Float64Array` or array of finite numbers, as `f32`.
pub(crate) fn numbers(v: &JsValue, what: &str) -> Result<Vec<f32>> {
    if let Some(a) = v.dyn_ref::<js_sys::Float32Array>() {
        return Ok(a.to_vec());
    }
    if v.is_instance_of::<js_sys::Float64Array>() {
        // Rounded to float32 by JavaScript (to nearest, ties to even, as `x as f32` rounds).
        return Ok(js_sys::Float32Array::new(v).to_vec());
    }
    if Array::is_array(v) {
        let a: &Array = v.unchecked_ref();
        let mut out = Vec::with_capacity(a.length() as usize);
        for (i, x) in a.iter().enumerate() {
            match x.as_f64() {
                Some(x) => out.push(x as f32),
                None => return opt_err(format!("{what}[{i}] is not a number")),
            }
        }
        return Ok(out);
    }
    opt_err(format!(
        "{what} must be a Float32Array, Float64Array or array of numbers"
    ))
}

/// Sets `obj[key] = value` on a fresh plain object (cannot fail for plain objects).
pub(crate) fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    set_value(obj, key, &value.into());
}

// The one copy of the call (`set` is generic over the value's type).
fn set_value(obj: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), value);
}

/// Keeps a list of numbers of the options for as long as the configuration borrows it.
pub(crate) type Keep<'k, 'b> = dyn FnMut(Vec<f32>) -> &'b [f32] + 'k;

/// Slots for the lists of numbers in the options object `obj` (a custom spacing's times), one
/// per top-level entry: [`core_options`]'s `keep` puts each list in the next slot (see
/// [`keep_in`]), and the configuration borrows it from there for as long as the slots live.
pub(crate) fn list_slots(obj: &JsValue) -> Vec<Option<Vec<f32>>> {
    let n = if obj.is_object() {
        Object::keys(obj.unchecked_ref::<Object>()).length() as usize
    } else {
        0
    };
    let mut slots = Vec::with_capacity(n);
    for _ in 0..n {
        slots.push(None);
    }
    slots
}

/// `keep` for [`core_options`]: each list in the next of `slots` ([`list_slots`]).
pub(crate) fn keep_in<'b>(
    slots: &mut core::slice::IterMut<'b, Option<Vec<f32>>>,
    v: Vec<f32>,
) -> &'b [f32] {
    match slots.next() {
        Some(s) => s.insert(v),
        // Not reached: a slot per top-level entry, one list each.
        None => &[],
    }
}

/// The core's option value for a JS value: a list of numbers at the top level goes to `keep`
/// (the only option that takes one, `spacing`, is there; a group's entries take none, so a
/// list there reads as any other value the entry does not take), a plain object starts a group.
fn option_value<'s, 'b>(
    v: &JsValue,
    text: &'s mut String,
    what: &str,
    keep: Option<&mut Keep<'_, 'b>>,
) -> Result<Value<'s, 'b, f32>> {
    Ok(if v.is_undefined() || v.is_null() {
        Value::Null
    } else if let Some(b) = v.as_bool() {
        Value::Bool(b)
    } else if let Some(x) = v.as_f64() {
        Value::Number(x)
    } else if let Some(s) = v.as_string() {
        *text = s;
        Value::Str(text)
    } else if Array::is_array(v)
        || v.is_instance_of::<js_sys::Float32Array>()
        || v.is_instance_of::<js_sys::Float64Array>()
    {
        let list = numbers(v, what)?;
        match keep {
            Some(keep) => Value::Numbers(keep(list)),
            None => Value::Other,
        }
    } else if v.is_object() && !v.is_function() {
        Value::Group
    } else {
        Value::Other
    })
}

/// The core's option message for `key` (in the object `group`), as thrown to JavaScript.
fn message(group: Option<&str>, key: &str, problem: Problem<'_>) -> Box<super::error::Error> {
    written(
        &OptionError {
            group,
            key,
            problem,
        },
        None,
        &[],
    )
}

/// An option error of the core as thrown to JavaScript (`options.steps must be ...`), numbers
/// written as JavaScript writes them.
pub(crate) fn option_error(e: &OptionError<'_>, extra: &[&str]) -> Box<super::error::Error> {
    written(e, Some("options"), extra)
}

fn written(e: &OptionError<'_>, ctx: Option<&str>, extra: &[&str]) -> Box<super::error::Error> {
    let mut s = String::new();
    let _ = e.write(&mut s, ctx, extra);
    if let dpm_solver::options::Problem::Integer { got, .. } = e.problem {
        s.push_str(&crate::decimal::f64_text(got));
    }
    Box::new(super::error::Error::Option(s))
}

/// Hands every key of the options object `obj` but the entry's own (`own`, which the entry
/// reads itself) to the core's options, a nested object as a group of entries; `own` also
/// leads the list of an unknown-key error. `keep` stores a list of numbers for as long as the
/// options borrow it ([`keep_in`], or a `'static` store).
pub(crate) fn core_options<'b>(
    obj: &JsValue,
    opts: &mut Options<'b, f32>,
    own: &[&str],
    keep: &mut Keep<'_, 'b>,
) -> Result<()> {
    if obj.is_undefined() || obj.is_null() {
        return Ok(());
    }
    if !obj.is_object() || Array::is_array(obj) {
        return opt_err("options must be an object");
    }
    entries(obj, None, opts, own, keep)
}

/// Sets every entry of the object `obj` (the options, or the group `group`'s entries).
fn entries<'k, 'b>(
    obj: &JsValue,
    group: Option<&str>,
    opts: &mut Options<'b, f32>,
    own: &[&str],
    keep: &mut Keep<'k, 'b>,
) -> Result<()> {
    for e in Object::entries(obj.unchecked_ref::<Object>()).iter() {
        let e: Array = e.unchecked_into();
        let key = e.get(0).as_string().unwrap_or_default();
        if group.is_none() && own.contains(&key.as_str()) {
            continue;
        }
        let v = e.get(1);
        let mut text = String::new();
        let top = group.is_none().then_some(&mut *keep);
        let value = option_value(&v, &mut text, &key, top)?;
        let start = matches!(value, Value::Group);
        match group {
            // Groups do not nest.
            Some(g) if start => opts.set_in(g, &key, Value::Other),
            Some(g) => opts.set_in(g, &key, value),
            None => opts.set(&key, value),
        }
        .map_err(|err| option_error(&err, own))?;
        if start && group.is_none() {
            entries(&v, Some(&key), opts, own, keep)?;
        }
    }
    Ok(())
}

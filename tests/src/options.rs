//! The options module of the core from the tests' side: option sets as JSON objects (the
//! fixtures' `solver` specs, the cross-entry table `tests/fixtures/options_table.json`) and as
//! command lines (`--steps 6 --spacing.karras 7`), both handed key by key to
//! [`dpm_solver::Options`]; and the run every entry of the table is compared on.

use dpm_solver::options::{OptionError, Options, Value};
use dpm_solver::{Betas, Config, Guidance, Real, Sampler, ScheduleTable};
use serde_json::{json, Value as Json};

/// A list of numbers kept for the configuration that borrows it (tests and the command line
/// only: leaked).
fn keep<T: Real>(list: &[Json]) -> Option<&'static [T]> {
    let v: Option<Vec<T>> = list.iter().map(|x| x.as_f64().map(T::c)).collect();
    v.map(|v| &*Box::leak(v.into_boxed_slice()))
}

/// The core's value for a JSON value (`Value::Group` for an object; a list of numbers kept).
fn json_value<T: Real>(v: &Json) -> Value<'_, 'static, T> {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::Str(s),
        Json::Array(a) => keep(a).map_or(Value::Other, Value::Numbers),
        Json::Object(_) => Value::Group,
    }
}

/// Sets every key of the JSON object `obj` on `opts` (an object as a group of entries).
/// Errors are the core's messages.
pub fn set_json<T: Real>(opts: &mut Options<'static, T>, obj: &Json) -> Result<(), String> {
    let Some(map) = obj.as_object() else {
        return Err("options must be an object".into());
    };
    for (k, v) in map {
        opts.set(k, json_value(v)).map_err(|e| e.to_string())?;
        if let Json::Object(entries) = v {
            for (sk, sv) in entries {
                let value = match json_value(sv) {
                    Value::Group => Value::Other,
                    other => other,
                };
                opts.set_in(k, sk, value).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

/// The command line of an option set: `--key value` per key, `--group.entry value` per group
/// entry, a list as `t0,t1,...`, `null`, `true` / `false` and numbers as JSON writes them.
pub fn to_args(obj: &Json) -> Vec<String> {
    fn word(v: &Json) -> String {
        match v {
            Json::String(s) => s.clone(),
            Json::Array(a) => a.iter().map(word).collect::<Vec<_>>().join(","),
            other => other.to_string(),
        }
    }
    let mut args = Vec::new();
    for (k, v) in obj.as_object().into_iter().flatten() {
        match v {
            Json::Object(entries) if entries.is_empty() => {
                args.extend([format!("--{k}"), "{}".into()])
            }
            Json::Object(entries) => {
                for (sk, sv) in entries {
                    args.extend([format!("--{k}.{sk}"), word(sv)]);
                }
            }
            v => args.extend([format!("--{k}"), word(v)]),
        }
    }
    args
}

/// A command-line value: `{}` (an empty group), a comma-separated list of numbers, or a word
/// ([`Value::word`]).
pub fn arg_value<T: Real>(text: &str) -> Result<Value<'_, 'static, T>, String> {
    if text == "{}" {
        return Ok(Value::Group);
    }
    if !text.contains(',') {
        return Ok(Value::word(text));
    }
    let list: Result<Vec<T>, _> = text
        .split(',')
        .map(|t| t.trim().parse::<f64>().map(T::c))
        .collect();
    let list = list.map_err(|_| format!("{text} is not a list of numbers"))?;
    Ok(Value::Numbers(Box::leak(list.into_boxed_slice())))
}

/// An option error as a command line reports it (`--steps must be ...`).
pub fn cli_error(e: &OptionError<'_>) -> String {
    if e.is_unknown() && e.group.is_none() {
        e.to_string()
    } else {
        format!("--{e}")
    }
}

/// Parses a command line of options with `lexopt` into the core's options: every long
/// option `--name value` (or `--group.entry value`) goes to [`Options::set`] as it is named.
pub fn from_args<T: Real>(
    args: impl IntoIterator<Item = String>,
    mut opts: Options<'static, T>,
) -> Result<Config<'static, T>, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long(name) => {
                let key = name.to_string();
                let text = p
                    .value()
                    .map_err(|e| e.to_string())?
                    .into_string()
                    .map_err(|_| format!("--{key}: not UTF-8"))?;
                let value = arg_value::<T>(&text)?;
                opts.set(&key, value).map_err(|e| cli_error(&e))?;
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    opts.config().map_err(|e| cli_error(&e))
}

/// The starting noise of the table's runs (one sample of 4 values).
pub const TABLE_X: [f32; 4] = [0.5, -1.0, 0.25, 2.0];

/// A table run: every step as `[t_from, t_to, order]` (accepted steps of the adaptive method
/// included, rejected ones too), the NFE, the expected NFE (`null` for adaptive) and the final
/// sample, as JSON; or `{ "error": message }` when the sampler refuses the configuration.
/// DDPM's linear schedule (1000 steps); the stand-in network predicts `0.1 x` (`0.05 x`
/// unconditionally under classifier-free guidance; a gradient of `0.01 x` for classifier
/// guidance). The same run is made by the JS tests (`wasm/tests-js/options.test.mjs`).
pub fn table_run(config: Config<'static, f32>) -> Json {
    let mut table = ScheduleTable::<f32, 1000>::new();
    let schedule = match table.from_betas(&Betas::Linear {
        start: 1e-4,
        end: 0.02,
        n: 1000,
    }) {
        Ok(s) => s,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    let mut x = TABLE_X;
    let mut scratch = vec![0.0f32; config.scratch_len(x.len())];
    let mut s = match Sampler::new(schedule, config, &mut x, &mut scratch) {
        Ok(s) => s,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    let mut steps = Vec::new();
    while let Some(r) = s.ask() {
        let out: Vec<f32> = r.x.iter().map(|v| 0.1 * v).collect();
        let res = match config.guidance {
            Guidance::None => s.tell(&out),
            Guidance::ClassifierFree { .. } => {
                let un: Vec<f32> = out.iter().map(|v| 0.5 * v).collect();
                s.tell_cfg(&out, &un)
            }
            Guidance::Classifier { .. } => {
                let g: Vec<f32> = out.iter().map(|v| 0.1 * v).collect();
                s.tell_classifier(&out, &g)
            }
        };
        match res {
            Ok(Some(rep)) => steps.push(json!([rep.t_from, rep.t_to, rep.order])),
            Ok(None) => {}
            Err(e) => return json!({ "error": e.to_string() }),
        }
    }
    json!({
        "steps": steps,
        "nfe": s.nfe(),
        "expected_nfe": config.expected_nfe(),
        "x": s.x(),
    })
}

//! A diffusers `scheduler_config.json` as Python wrote it: JSON plus Python's `NaN`,
//! `Infinity` and `-Infinity` tokens (`json.dumps` writes the cosine schedule's
//! `"lambda_min_clipped": -Infinity`; `JSON.parse` and strict parsers reject the file). One
//! tolerant reader, used by every place that takes a scheduler config: the pipeline's model
//! options, the native example, and the JavaScript `Sampler` / `Model` when given the text.

use dpm_solver::diffusers::{ConfigValue, KeyUse, SchedulerClass, SchedulerConfig};

use super::error::{PipelineError, Result};

/// A parsed JSON value (objects keep their key order).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, `NaN`, `Infinity` or `-Infinity`.
    Number(f64),
    /// A string.
    Str(String),
    /// A list.
    Array(Vec<Json>),
    /// An object, entries in file order.
    Object(Vec<(String, Json)>),
}

/// Deepest nesting accepted (a scheduler config is two levels deep).
const MAX_DEPTH: usize = 64;

impl Json {
    /// Parses JSON text, accepting Python's `NaN`, `Infinity`, `-Infinity`.
    pub fn parse(text: &str) -> Result<Json> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        p.ws();
        let v = p.value(0)?;
        p.ws();
        if p.i != p.s.len() {
            return Err(p.err("unexpected text after the value"));
        }
        Ok(v)
    }

    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(e) => e.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> PipelineError {
        // Line and column of the error, for a file a person can open.
        let before = &self.s[..self.i.min(self.s.len())];
        let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
        let col = before.iter().rev().take_while(|&&c| c != b'\n').count() + 1;
        PipelineError::InvalidInput(format!(
            "scheduler config JSON, line {line} column {col}: {what}"
        ))
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json> {
        if depth > MAX_DEPTH {
            return Err(self.err("nested too deeply"));
        }
        let Some(&c) = self.s.get(self.i) else {
            return Err(self.err("unexpected end of text"));
        };
        match c {
            b'{' => {
                self.i += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.eat("}") {
                    return Ok(Json::Object(entries));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.err("expected a quoted key"));
                    }
                    let k = self.string()?;
                    self.ws();
                    if !self.eat(":") {
                        return Err(self.err("expected ':'"));
                    }
                    self.ws();
                    let v = self.value(depth + 1)?;
                    entries.push((k, v));
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("}") {
                        return Ok(Json::Object(entries));
                    }
                    return Err(self.err("expected ',' or '}'"));
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat("]") {
                    return Ok(Json::Array(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(",") {
                        continue;
                    }
                    if self.eat("]") {
                        return Ok(Json::Array(items));
                    }
                    return Err(self.err("expected ',' or ']'"));
                }
            }
            b'"' => Ok(Json::Str(self.string()?)),
            _ if self.eat("null") => Ok(Json::Null),
            _ if self.eat("true") => Ok(Json::Bool(true)),
            _ if self.eat("false") => Ok(Json::Bool(false)),
            _ if self.eat("NaN") => Ok(Json::Number(f64::NAN)),
            _ if self.eat("Infinity") => Ok(Json::Number(f64::INFINITY)),
            _ if self.eat("-Infinity") => Ok(Json::Number(f64::NEG_INFINITY)),
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let t = core::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                crate::decimal::parse_f64(t)
                    .map(Json::Number)
                    .ok_or_else(|| self.err(&format!("bad number \"{t}\"")))
            }
            _ => Err(self.err("expected a value")),
        }
    }

    fn string(&mut self) -> Result<String> {
        self.i += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(self.err("unterminated string"));
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self
                                .s
                                .get(self.i..self.i + 4)
                                .and_then(|h| core::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or_else(|| self.err("bad \\u escape"))?;
                            self.i += 4;
                            char::from_u32(hex).unwrap_or('\u{fffd}')
                        }
                        _ => return Err(self.err("bad escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("invalid UTF-8 in a string"))
    }
}

/// A diffusers scheduler config read from its JSON text, owning the lists
/// (`trained_betas`, `disable_corrector`) the core's [`SchedulerConfig`] borrows.
#[derive(Clone, Debug, PartialEq)]
pub struct SchedulerJson {
    json: Json,
    trained_betas: Vec<f32>,
    disable_corrector: Vec<usize>,
}

impl SchedulerJson {
    /// Parses a `scheduler_config.json` text (Python's `-Infinity`/`NaN` accepted); it must
    /// hold an object.
    pub fn parse(text: &str) -> Result<Self> {
        let json = Json::parse(text)?;
        if !matches!(json, Json::Object(_)) {
            return Err(PipelineError::InvalidInput(
                "a scheduler config must be a JSON object".into(),
            ));
        }
        let floats = |k: &str| -> Result<Vec<f32>> {
            match json.get(k) {
                Some(Json::Array(a)) => a
                    .iter()
                    .map(|v| match v {
                        Json::Number(x) => Ok(*x as f32),
                        _ => Err(PipelineError::InvalidInput(format!(
                            "scheduler config '{k}' must be a list of numbers"
                        ))),
                    })
                    .collect(),
                _ => Ok(Vec::new()),
            }
        };
        let trained_betas = floats("trained_betas")?;
        let disable_corrector = floats("disable_corrector")?
            .into_iter()
            .map(|v| {
                if v >= 0.0 && v.fract() == 0.0 {
                    Ok(v as usize)
                } else {
                    Err(PipelineError::InvalidInput(format!(
                        "scheduler config 'disable_corrector' holds {}: expected step indices",
                        crate::decimal::f32_text(v)
                    )))
                }
            })
            .collect::<Result<_>>()?;
        Ok(SchedulerJson {
            json,
            trained_betas,
            disable_corrector,
        })
    }

    /// The parsed object.
    pub fn json(&self) -> &Json {
        &self.json
    }

    /// `_class_name`, if present.
    pub fn class_name(&self) -> Option<&str> {
        match self.json.get("_class_name") {
            Some(Json::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The config for `class` (default: its `_class_name`, which must then be one of the
    /// core's classes), every key applied through [`SchedulerConfig::set`]; also returns the
    /// keys the class ignores.
    pub fn config(
        &self,
        class: Option<SchedulerClass>,
    ) -> Result<(SchedulerConfig<'_>, Vec<String>)> {
        let class = match class {
            Some(c) => c,
            None => {
                let name = self.class_name().ok_or_else(|| {
                    PipelineError::InvalidInput(
                        "the scheduler config has no '_class_name': name the scheduler class"
                            .into(),
                    )
                })?;
                SchedulerClass::from_name(name).ok_or_else(|| {
                    PipelineError::InvalidInput(format!(
                        "scheduler '{name}' is not available (expected one of: {})",
                        crate::text::join(&SchedulerClass::NAMES, ", ")
                    ))
                })?
            }
        };
        let mut cfg = SchedulerConfig::new(class);
        let mut ignored = Vec::new();
        let entries: &[(String, Json)] = match &self.json {
            Json::Object(e) => e,
            _ => &[],
        };
        for (k, v) in entries {
            let value = match v {
                Json::Null => ConfigValue::Null,
                Json::Bool(b) => ConfigValue::Bool(*b),
                Json::Number(x) => ConfigValue::Number(*x),
                Json::Str(s) => ConfigValue::Str(s),
                Json::Array(_) if k == "trained_betas" => ConfigValue::Floats(&self.trained_betas),
                Json::Array(_) if k == "disable_corrector" => {
                    ConfigValue::Indices(&self.disable_corrector)
                }
                _ => ConfigValue::Other,
            };
            match cfg.set(k, value) {
                Ok(KeyUse::Applied) => {}
                Ok(KeyUse::Ignored) => ignored.push(k.clone()),
                Err(dpm_solver::Error::InvalidConfig(m)) => {
                    return Err(PipelineError::InvalidInput(format!(
                        "scheduler config '{k}': {m}"
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok((cfg, ignored))
    }

    /// The training-schedule and prediction keys as model metadata entries (`prediction_type`,
    /// `num_train_timesteps`, `beta_schedule`, `beta_start`, `beta_end`), with diffusers'
    /// defaults for the keys the file leaves out (as diffusers' `from_config` would).
    pub fn model_metadata(&self) -> Result<Vec<(String, String)>> {
        if !matches!(self.json.get("trained_betas"), None | Some(Json::Null)) {
            return Err(PipelineError::InvalidMetadata {
                key: "trained_betas".into(),
                value: "[...]".into(),
                reason: "a model's schedule must be one of linear, scaled_linear, \
                         squaredcos_cap_v2 (see MODEL.md)"
                    .into(),
            });
        }
        if matches!(
            self.json.get("rescale_betas_zero_snr"),
            Some(Json::Bool(true))
        ) {
            return Err(PipelineError::InvalidMetadata {
                key: "rescale_betas_zero_snr".into(),
                value: "true".into(),
                reason: "zero-terminal-SNR schedules are not supported for a model".into(),
            });
        }
        let mut out = Vec::new();
        for (key, default) in [
            ("prediction_type", "epsilon"),
            ("num_train_timesteps", "1000"),
            ("beta_schedule", "linear"),
            ("beta_start", "0.0001"),
            ("beta_end", "0.02"),
        ] {
            let v = match self.json.get(key) {
                None | Some(Json::Null) => default.to_string(),
                Some(Json::Str(s)) => s.clone(),
                Some(Json::Number(x)) => crate::decimal::f64_text(*x),
                Some(other) => {
                    return Err(PipelineError::InvalidMetadata {
                        key: key.into(),
                        value: match other {
                            Json::Bool(b) => b.to_string(),
                            Json::Array(_) => "a list".into(),
                            _ => "an object".into(),
                        },
                        reason: "expected a string or a number".into(),
                    })
                }
            };
            out.push((key.to_string(), v));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_tokens_and_escapes() {
        let j = Json::parse(
            r#"{"a": -Infinity, "b": NaN, "c": Infinity, "d": [1, 2.5e-3, null],
                "e": "x\"\u00e9", "f": {"g": true}}"#,
        )
        .unwrap();
        assert_eq!(j.get("a"), Some(&Json::Number(f64::NEG_INFINITY)));
        assert!(matches!(j.get("b"), Some(Json::Number(x)) if x.is_nan()));
        assert_eq!(j.get("c"), Some(&Json::Number(f64::INFINITY)));
        assert_eq!(
            j.get("d"),
            Some(&Json::Array(vec![
                Json::Number(1.0),
                Json::Number(0.0025),
                Json::Null
            ]))
        );
        assert_eq!(j.get("e"), Some(&Json::Str("x\"\u{e9}".into())));
        assert!(Json::parse("{\"a\": 1,}").is_err());
        assert!(Json::parse("{\"a\": 1} x").is_err());
        assert!(Json::parse("[").is_err());
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert!(Json::parse(&deep).is_err());
    }

    #[test]
    fn scheduler_config_text() {
        let s = SchedulerJson::parse(
            r#"{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity,
                "prediction_type": "v_prediction", "beta_schedule": "squaredcos_cap_v2",
                "trained_betas": null, "num_train_timesteps": 500}"#,
        )
        .unwrap();
        let (cfg, ignored) = s.config(None).unwrap();
        assert_eq!(cfg.class(), SchedulerClass::DPMSolverMultistep);
        assert_eq!(ignored, vec!["_class_name".to_string()]);
        assert_eq!(cfg.train().num_train_timesteps, 500);
        let m = s.model_metadata().unwrap();
        assert!(m.contains(&("prediction_type".into(), "v_prediction".into())));
        assert!(m.contains(&("num_train_timesteps".into(), "500".into())));
        assert!(m.contains(&("beta_start".into(), "0.0001".into())));
        assert!(SchedulerJson::parse("[1]").is_err());
        assert!(SchedulerJson::parse(r#"{"trained_betas": [0.1, 0.2]}"#)
            .unwrap()
            .model_metadata()
            .is_err());
    }
}

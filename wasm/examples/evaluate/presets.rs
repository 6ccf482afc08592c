//! The solver rows of the evaluation: the demo's presets (`www/solvers.json`, the one list of
//! presets), read into pipeline options.

use dpm_solver_wasm::pipeline::{
    parse_algorithm, parse_method, Algorithm, Config, ConfigValue, GenerateOptions, Method,
    SchedulerClass, SchedulerConfig,
};
use serde_json::Value;

/// The preset file, shared with the demo (`www/solvers.js` fetches it).
const PRESETS: &str = include_str!("../../../www/solvers.json");

/// How the evaluation runs a preset.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Row {
    /// On the NFE grid (a table row and a plot line).
    Grid,
    /// Adaptive step size: once, at its own NFE (a marker).
    Adaptive,
}

/// One solver preset.
#[derive(Clone, Debug)]
pub struct Solver {
    /// `key` in the preset file.
    pub key: String,
    /// `label`: the row name of the tables and the plot.
    pub name: String,
    pub row: Row,
    pub algorithm: Algorithm,
    pub method: Method,
    pub order: usize,
    /// A diffusers scheduler instead of the DPM-Solver options: it runs on diffusers' own
    /// timesteps (linspace), not `--spacing`.
    pub scheduler: Option<SchedulerConfig<'static>>,
    /// `schedules` in the preset file: the model schedules it applies to (`discrete` DDPM
    /// models, `flow` matching models); both when absent.
    pub discrete: bool,
    pub flow: bool,
}

impl Solver {
    /// Whether the preset applies to a model with a flow-matching (`true`) or DDPM schedule.
    pub fn applies_to(&self, flow: bool) -> bool {
        if flow {
            self.flow
        } else {
            self.discrete
        }
    }

    /// Whether the solver draws noise each step (its distance to the ODE solution is no error).
    pub fn stochastic(&self) -> bool {
        self.scheduler.as_ref().is_some_and(|c| c.is_sde())
    }

    /// Generation options for this solver at `steps`.
    pub fn options(
        &self,
        steps: usize,
        base: &GenerateOptions<'static>,
    ) -> GenerateOptions<'static> {
        GenerateOptions {
            solver: Config {
                algorithm: self.algorithm,
                method: self.method,
                order: self.order,
                steps,
                ..base.solver
            },
            scheduler: self.scheduler,
            ..base.clone()
        }
    }
}

/// Every preset of the file, in its order.
pub fn load() -> Result<Vec<Solver>, String> {
    let list: Vec<Value> =
        serde_json::from_str(PRESETS).map_err(|e| format!("www/solvers.json: {e}"))?;
    list.iter().map(parse).collect()
}

fn parse(p: &Value) -> Result<Solver, String> {
    let text = |v: &Value, k: &str| -> Result<String, String> {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("www/solvers.json: a preset lacks \"{k}\": {p}"))
    };
    let key = text(p, "key")?;
    let row = match text(p, "evaluate")?.as_str() {
        "grid" => Row::Grid,
        "adaptive" => Row::Adaptive,
        other => {
            return Err(format!(
                "www/solvers.json: {key}: evaluate \"{other}\" is not grid or adaptive"
            ))
        }
    };
    let mut s = Solver {
        name: text(p, "label")?,
        key,
        row,
        algorithm: Algorithm::DpmSolverPp,
        method: Method::Multistep,
        order: 2,
        scheduler: None,
        discrete: true,
        flow: true,
    };
    if let Some(list) = p.get("schedules") {
        let list = list
            .as_array()
            .ok_or_else(|| format!("{}: schedules must be a list", s.key))?;
        s.discrete = false;
        s.flow = false;
        for v in list {
            match v.as_str() {
                Some("discrete") => s.discrete = true,
                Some("flow") => s.flow = true,
                _ => return Err(format!("{}: schedules: {v} is not discrete or flow", s.key)),
            }
        }
    }
    if let Some(d) = p.get("diffusers") {
        let class = text(d, "scheduler")?;
        let class = SchedulerClass::from_name(&class)
            .ok_or_else(|| format!("{}: unknown scheduler {class}", s.key))?;
        let mut c = SchedulerConfig::new(class);
        for (k, v) in d["config"].as_object().into_iter().flatten() {
            let value = match v {
                Value::Null => ConfigValue::Null,
                Value::Bool(b) => ConfigValue::Bool(*b),
                Value::Number(n) => ConfigValue::Number(n.as_f64().unwrap_or(f64::NAN)),
                Value::String(t) => ConfigValue::Str(t),
                _ => ConfigValue::Other,
            };
            c.set(k, value)
                .map_err(|e| format!("{}: {k}: {e}", s.key))?;
        }
        s.scheduler = Some(c);
    } else {
        let o = &p["options"];
        s.algorithm = parse_algorithm(&text(o, "algorithm")?).map_err(|e| e.to_string())?;
        s.method = parse_method(&text(o, "method")?).map_err(|e| e.to_string())?;
        s.order = o["order"]
            .as_u64()
            .ok_or_else(|| format!("{}: options.order", s.key))? as usize;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_of_the_file_parses() {
        let all = load().unwrap();
        assert!(all.len() >= 10, "{} presets", all.len());
        for (i, s) in all.iter().enumerate() {
            assert!(
                all[..i].iter().all(|p| p.key != s.key),
                "key {} twice",
                s.key
            );
            assert!(s.discrete || s.flow, "{} applies to no schedule", s.key);
        }
        // The evaluation's defaults name presets of the file.
        for key in [
            "ddim",
            "dpm3",
            "pp3m",
            "pp2m",
            "euler_flow",
            "pp2m_diffusers",
            "unipc",
        ] {
            assert!(all.iter().any(|s| s.key == key), "no preset {key}");
        }
        let get = |k: &str| all.iter().find(|s| s.key == k).unwrap();
        assert!(get("euler_flow").applies_to(true) && !get("euler_flow").applies_to(false));
        assert!(get("pp2m_sde").stochastic() && !get("unipc").stochastic());
        assert_eq!(get("adaptive23").row, Row::Adaptive);
        let o = get("dpm3").options(7, &GenerateOptions::default());
        assert_eq!(
            (o.solver.method, o.solver.order, o.solver.steps),
            (Method::Singlestep, 3, 7)
        );
    }

    #[test]
    fn malformed_presets_are_errors() {
        for (text, want) in [
            (r#"{"key": "a", "label": "A"}"#, "lacks \"evaluate\""),
            (
                r#"{"key": "a", "label": "A", "evaluate": "once"}"#,
                "not grid or adaptive",
            ),
            (
                r#"{"key": "a", "label": "A", "evaluate": "grid", "schedules": ["vp"], "options": {}}"#,
                "not discrete or flow",
            ),
            (
                r#"{"key": "a", "label": "A", "evaluate": "grid", "diffusers": {"scheduler": "Nope"}}"#,
                "unknown scheduler",
            ),
            (
                r#"{"key": "a", "label": "A", "evaluate": "grid", "options": {"algorithm": "dpmsolver++", "method": "multistep"}}"#,
                "options.order",
            ),
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            let e = parse(&v).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}

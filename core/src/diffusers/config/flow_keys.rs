//! The flow-matching keys of a `scheduler_config.json`: the DPM-Solver and UniPC schedulers'
//! flow sigmas and shifts, and `FlowMatchEulerDiscreteScheduler`'s own keys.

use super::values::{bool_or, number, number_or, pick};
use super::{ConfigValue, KeyUse, SchedulerConfig};
use crate::diffusers::flow::{FlowOptions, TimeShiftType};
use crate::diffusers::FlowMatchEulerDiscreteConfig;
use crate::error::{Error, Result};

/// Applies the flow-matching keys (`use_flow_sigmas`, `flow_shift`, `use_dynamic_shifting`,
/// `time_shift_type`, `shift_terminal`, and FlowMatchEuler's own) to the classes that take
/// them; `None` for any other key. `null` restores the default.
pub(super) fn set_flow_key<'b>(
    cfg: &mut SchedulerConfig<'b>,
    key: &str,
    value: ConfigValue<'_, 'b>,
) -> Option<Result<KeyUse>> {
    let null = value == ConfigValue::Null;
    let shift_type = |v| -> Result<TimeShiftType> {
        pick(
            v,
            &[
                ("exponential", TimeShiftType::Exponential),
                ("linear", TimeShiftType::Linear),
            ],
            "expected \"exponential\" or \"linear\"",
        )
    };
    let opt_number = |v| -> Result<Option<f64>> {
        match v {
            ConfigValue::Null => Ok(None),
            v => number(v).map(Some),
        }
    };
    let applied = |r: Result<()>| Some(r.map(|()| KeyUse::Applied));
    if let SchedulerConfig::FlowMatchEulerDiscrete(c) = cfg {
        let d = FlowMatchEulerDiscreteConfig::default();
        let r = match key {
            "shift" => number_or(value, d.shift).map(|v| c.shift = v),
            "use_dynamic_shifting" => bool_or(value, false).map(|v| c.use_dynamic_shifting = v),
            "time_shift_type" => match value {
                ConfigValue::Null => {
                    c.time_shift_type = TimeShiftType::Exponential;
                    Ok(())
                }
                v => shift_type(v).map(|t| c.time_shift_type = t),
            },
            "shift_terminal" => opt_number(value).map(|v| c.shift_terminal = v),
            "invert_sigmas" => bool_or(value, false).map(|v| c.invert_sigmas = v),
            "use_karras_sigmas" => bool_or(value, false).map(|v| c.use_karras_sigmas = v),
            "use_exponential_sigmas" => bool_or(value, false).map(|v| c.use_exponential_sigmas = v),
            "stochastic_sampling" => bool_or(value, false).map(|v| c.stochastic_sampling = v),
            "base_shift" => number_or(value, d.base_shift).map(|v| c.base_shift = v),
            "max_shift" => number_or(value, d.max_shift).map(|v| c.max_shift = v),
            "base_image_seq_len" => {
                number_or(value, d.base_image_seq_len).map(|v| c.base_image_seq_len = v)
            }
            "max_image_seq_len" => {
                number_or(value, d.max_image_seq_len).map(|v| c.max_image_seq_len = v)
            }
            "use_beta_sigmas" => {
                if null || value == ConfigValue::Bool(false) {
                    Ok(())
                } else {
                    Err(Error::InvalidConfig(
                        "use_beta_sigmas (scipy's beta quantiles) is not implemented here",
                    ))
                }
            }
            _ => return None,
        };
        return applied(r);
    }
    let unipc = matches!(cfg, SchedulerConfig::UniPCMultistep(_));
    let d = FlowOptions::default();
    let flow = match cfg {
        SchedulerConfig::DPMSolverMultistep(c) => &mut c.flow,
        SchedulerConfig::DPMSolverSinglestep(c) => &mut c.flow,
        SchedulerConfig::UniPCMultistep(c) => &mut c.flow,
        _ => return None,
    };
    let r = match key {
        "use_flow_sigmas" => bool_or(value, false).map(|v| flow.use_flow_sigmas = v),
        "flow_shift" => number_or(value, d.flow_shift).map(|v| flow.flow_shift = v),
        "use_dynamic_shifting" => bool_or(value, false).map(|v| flow.use_dynamic_shifting = v),
        "time_shift_type" => match value {
            ConfigValue::Null => {
                flow.time_shift_type = TimeShiftType::Exponential;
                Ok(())
            }
            v => shift_type(v).map(|t| flow.time_shift_type = t),
        },
        "shift_terminal" if unipc => opt_number(value).map(|v| flow.shift_terminal = v),
        _ => return None,
    };
    applied(r)
}

//! Setting one option by name: the key (or `group.entry`) looked up among the names, the
//! value checked, and the configuration (or the pending spacing and guidance group) changed.

use super::error::{OptionError, Problem};
use super::names::*;
use super::parse::{parse, Kind};
use super::{Options, SpacingGroup, Value};
use crate::adaptive::AdaptiveOptions;
use crate::guidance::Guidance;
use crate::math::Real;
use crate::sampler::{Config, Direction, Method, MultistepVariant, MAX_STEPS};
use crate::spacing::Spacing;
use crate::threshold::Thresholding;
use crate::update::{Algorithm, SolverType};

impl<'b, T: Real> Options<'b, T> {
    pub(super) fn set_top<'a>(
        &mut self,
        key: &'a str,
        v: Value<'a, 'b, T>,
    ) -> Result<(), OptionError<'a>> {
        match KEYS.iter().find(|(n, _)| same_name(key, n)) {
            Some(&(_, opt)) => self.set_opt(opt, None, key, v),
            None => Err(OptionError {
                group: None,
                key,
                problem: Problem::Unknown(NAMES),
            }),
        }
    }

    /// Sets the entry `key` of the group `group` (`spacing`, `guidance`, `thresholding`,
    /// `adaptive`); a group not started with [`Value::Group`] is started here.
    pub fn set_in<'a>(
        &mut self,
        group: &'a str,
        key: &'a str,
        v: Value<'a, 'b, T>,
    ) -> Result<(), OptionError<'a>> {
        let Some(&(_, gopt)) = KEYS.iter().find(|(n, _)| same_name(group, n)) else {
            return Err(OptionError {
                group: None,
                key: group,
                problem: Problem::Unknown(NAMES),
            });
        };
        let entry = GROUP_KEYS
            .iter()
            .find(|(g, n, _)| *g == gopt && same_name(key, n));
        if let Some(&(_, _, opt)) = entry {
            return self.set_opt(opt, Some(group), key, v);
        }
        let (group, key, problem) = match gopt {
            Opt::Spacing => (Some(group), key, Problem::Unknown(SPACING_KEYS)),
            Opt::Guidance => (Some(group), key, Problem::Unknown(&["type", "scale"])),
            Opt::Thresholding => (Some(group), key, Problem::Unknown(&["ratio", "max_val"])),
            Opt::Adaptive => (Some(group), key, Problem::Unknown(ADAPTIVE_KEYS)),
            _ => (None, group, Problem::Must("a value, not an object")),
        };
        Err(OptionError {
            group,
            key,
            problem,
        })
    }

    /// Sets the option `opt` (an entry of `group`, if given) to `v`.
    fn set_opt<'a>(
        &mut self,
        opt: Opt,
        group: Option<&'a str>,
        key: &'a str,
        v: Value<'a, 'b, T>,
    ) -> Result<(), OptionError<'a>> {
        let err = |problem| OptionError {
            group,
            key,
            problem,
        };
        let c = &mut self.config;
        // The options that take more than one kind of value (groups only at the top level).
        match (opt, v) {
            (Opt::Spacing, Value::Numbers(times)) => {
                self.spacing_group = None;
                c.spacing = Spacing::Custom(times);
                return Ok(());
            }
            (Opt::Spacing, Value::Group) => {
                self.spacing_group = Some(SpacingGroup::default());
                return Ok(());
            }
            (Opt::Guidance, Value::Null | Value::Group) => {
                c.guidance = Guidance::None;
                self.guidance_group = matches!(v, Value::Group).then_some((None, T::ONE));
                return Ok(());
            }
            (Opt::Guidance, _) => return Err(err(Problem::Must("null or {type, scale}"))),
            (Opt::Thresholding, Value::Null | Value::Bool(_) | Value::Group) => {
                c.thresholding =
                    matches!(v, Value::Bool(true) | Value::Group).then(Thresholding::default);
                return Ok(());
            }
            (Opt::Thresholding, _) => {
                return Err(err(Problem::Must("null, a boolean or {ratio, max_val}")))
            }
            (Opt::Adaptive, Value::Null | Value::Group) => {
                c.adaptive = AdaptiveOptions::default();
                return Ok(());
            }
            (Opt::Adaptive, _) => return Err(err(Problem::Must("null or an object"))),
            _ => {}
        }
        let kind = match opt {
            Opt::Algorithm => Kind::Choice(ALGORITHMS),
            Opt::Method => Kind::Choice(METHODS),
            Opt::Order => Kind::Int(3, "3"),
            Opt::Steps | Opt::Batch => Kind::Int(MAX_STEPS, "1048576"),
            Opt::Spacing => Kind::Choice(SPACINGS),
            Opt::SolverType => Kind::Choice(SOLVER_TYPES),
            Opt::Prediction => Kind::Choice(PREDICTIONS),
            Opt::MultistepVariant => Kind::Choice(VARIANTS),
            Opt::Direction => Kind::Choice(DIRECTIONS),
            Opt::TimeShiftType => Kind::Choice(TIME_SHIFT_TYPES),
            Opt::GuidanceType => Kind::Choice(GUIDANCE_TYPES),
            Opt::MaxNfe => Kind::Int(MAX_ADAPTIVE_NFE, "16777216"),
            Opt::UseKarras | Opt::LowerOrderFinal | Opt::DenoiseToZero | Opt::ReuseRejectedEval => {
                Kind::Bool
            }
            _ => Kind::Num,
        };
        let p = parse(group, key, kind, v.plain())?;
        let d = Config::<T>::default();
        let (a, da) = (&mut c.adaptive, d.adaptive);
        let dt = Thresholding::<T>::default();
        match opt {
            Opt::Algorithm => {
                use Algorithm::*;
                c.algorithm = match p.at() {
                    None => d.algorithm,
                    Some(0) => DpmSolver,
                    Some(_) => DpmSolverPp,
                }
            }
            Opt::Method => {
                use Method::*;
                c.method = match p.at() {
                    None => d.method,
                    Some(0) => Multistep,
                    Some(1) => Singlestep,
                    Some(2) => SinglestepFixed,
                    Some(_) => Adaptive,
                }
            }
            Opt::Order => c.order = p.int(d.order),
            Opt::Steps => c.steps = p.int(d.steps),
            Opt::Batch => c.batch = p.int(d.batch),
            Opt::Spacing => {
                use Spacing::*;
                self.spacing_group = None;
                c.spacing = match p.at() {
                    None => d.spacing,
                    Some(0 | 1) => LogSnr,
                    Some(2 | 3) => TimeUniform,
                    Some(4 | 5) => TimeQuadratic,
                    Some(_) => Karras { rho: T::c(7.0) },
                };
            }
            Opt::UseKarras => {
                let is = matches!(c.spacing, Spacing::Karras { .. });
                if p.flag(false) && !is {
                    self.spacing_group = None;
                    c.spacing = Spacing::Karras { rho: T::c(7.0) };
                } else if !p.flag(false) && is {
                    c.spacing = d.spacing;
                }
            }
            Opt::TStart => c.t_start = p.opt_num().map(T::c),
            Opt::TEnd => c.t_end = p.opt_num().map(T::c),
            Opt::LowerOrderFinal => c.lower_order_final = p.flag(d.lower_order_final),
            Opt::DenoiseToZero => c.denoise_to_zero = p.flag(d.denoise_to_zero),
            Opt::SolverType => {
                use SolverType::*;
                c.solver_type = match p.at() {
                    None => d.solver_type,
                    Some(0 | 1) => DpmSolver,
                    Some(_) => Taylor,
                }
            }
            Opt::Prediction => {
                c.prediction = match p.at() {
                    Some(i) => prediction(i).map_err(err)?,
                    None => d.prediction,
                }
            }
            Opt::MultistepVariant => {
                use MultistepVariant::*;
                c.multistep_variant = match p.at() {
                    None => d.multistep_variant,
                    Some(0) => Reference,
                    Some(_) => FullOrder,
                }
            }
            Opt::Direction => {
                use Direction::*;
                c.direction = match p.at() {
                    None => d.direction,
                    Some(0) => Sample,
                    Some(_) => Invert,
                }
            }
            Opt::Karras | Opt::FlowShift | Opt::Mu | Opt::TimeShiftType => {
                let sg = self.spacing_group.get_or_insert_with(SpacingGroup::default);
                match opt {
                    Opt::Karras => sg.karras = p.opt_num(),
                    Opt::FlowShift => sg.flow_shift = p.opt_num(),
                    Opt::Mu => sg.mu = p.opt_num(),
                    _ => sg.linear = p.at() == Some(1),
                }
            }
            Opt::GuidanceType | Opt::GuidanceScale => {
                let gg = self.guidance_group.get_or_insert((None, T::ONE));
                match opt {
                    Opt::GuidanceType => gg.0 = p.at(),
                    _ => gg.1 = p.num(T::ONE),
                }
            }
            Opt::Ratio => c.thresholding.get_or_insert(dt).ratio = p.num(dt.ratio),
            Opt::MaxVal => c.thresholding.get_or_insert(dt).max_val = p.num(dt.max_val),
            Opt::Atol => a.atol = p.num(da.atol),
            Opt::Rtol => a.rtol = p.num(da.rtol),
            Opt::Theta => a.theta = p.num(da.theta),
            Opt::TErr => a.t_err = p.num(da.t_err),
            Opt::HInit => a.h_init = p.num(da.h_init),
            Opt::MaxNfe => a.max_nfe = p.int(da.max_nfe),
            Opt::ReuseRejectedEval => a.reuse_rejected_eval = p.flag(da.reuse_rejected_eval),
            // Handled above.
            Opt::Guidance | Opt::Thresholding | Opt::Adaptive => {}
        }
        Ok(())
    }
}

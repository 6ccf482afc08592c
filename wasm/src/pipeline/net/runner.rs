//! [`Net`]: an ONNX graph's inputs and outputs found by name and checked, and one optimised
//! tract plan per batch size, built on demand and run with the inputs in the caller's order.

use std::collections::HashMap;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use super::onnx::{dims_of, fmt_dims, type_name};
use crate::pipeline::error::{tract_msg, PipelineError, Result};
#[cfg(any(feature = "profile", not(target_arch = "wasm32")))]
use crate::pipeline::profile::{profile_state, Profile};

type Plan = Box<dyn State>;

/// How a graph input takes its tensor.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Feed {
    /// One entry per image: `[batch, tail...]`.
    Batched(Vec<usize>),
    /// One tensor for the whole batch, of this fixed shape (a time input of shape `[]` or
    /// `[1]`): every image of a run must share the value.
    Shared(Vec<usize>),
}

/// One graph input as the pipeline feeds it.
#[derive(Clone, Debug)]
pub(super) struct InputSpec {
    /// Position among the graph's inputs.
    slot: usize,
    pub dt: DatumType,
    pub feed: Feed,
}

/// What the pipeline needs of one graph input: its name, the element types it can feed
/// (cast as needed; the first is used when the graph does not say), the dimensions after the
/// batch, and whether one tensor for the whole batch (`[]` or `[1]`) will do.
pub(super) struct InputReq<'a> {
    pub name: &'a str,
    pub types: &'a [DatumType],
    pub tail: Vec<usize>,
    pub may_share: bool,
}

/// An ONNX graph with fixed-batch plans built on demand.
pub(super) struct Net {
    model: InferenceModel,
    /// Inputs in the order the caller passes them (not necessarily the graph's).
    pub inputs: Vec<InputSpec>,
    /// Graph output positions the caller reads, in the caller's order.
    outputs: Vec<usize>,
    /// The dimensions after the batch each read output must have (checked when a plan is built).
    out_tails: Vec<Vec<usize>>,
    /// Names of the read outputs, for messages.
    out_names: Vec<String>,
    /// The batch size the graph fixes (`Some(1)`: exported without a dynamic batch axis).
    pub fixed_batch: Option<usize>,
    plans: HashMap<usize, Plan>,
}

impl Net {
    /// Finds the named inputs and outputs and checks element types and shapes (the batch
    /// dimension is free, the others must equal the tails).
    pub fn new(
        model: InferenceModel,
        inputs: &[InputReq<'_>],
        outputs: &[(&str, Vec<usize>)],
    ) -> Result<Self> {
        let in_names: Vec<String> = model
            .input_outlets()
            .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        if in_names.len() != inputs.len() {
            return Err(PipelineError::Interface(format!(
                "the graph has {} inputs ({}), expected {} ({})",
                in_names.len(),
                in_names.join(", "),
                inputs.len(),
                inputs.iter().map(|i| i.name).collect::<Vec<_>>().join(", ")
            )));
        }
        let mut specs = Vec::new();
        let mut fixed_batch = None;
        for req in inputs {
            let name = req.name;
            let slot = in_names.iter().position(|n| n == name).ok_or_else(|| {
                PipelineError::Interface(format!(
                    "no graph input named \"{name}\" (inputs: {})",
                    in_names.join(", ")
                ))
            })?;
            let fact = model
                .input_fact(slot)
                .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?;
            let dt = match fact.datum_type.concretize() {
                Some(found) if req.types.contains(&found) => found,
                Some(found) => {
                    return Err(PipelineError::Interface(format!(
                        "input \"{name}\" has element type {}, expected {}",
                        type_name(found),
                        req.types
                            .iter()
                            .map(|t| type_name(*t))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    )))
                }
                None => req.types[0],
            };
            let dims = dims_of(fact);
            let feed = match dims.as_deref() {
                Some([]) if req.may_share => Feed::Shared(vec![]),
                Some([Some(1)]) if req.may_share && req.tail.is_empty() => Feed::Shared(vec![1]),
                _ => {
                    check_shape(&format!("input \"{name}\""), fact, &req.tail)?;
                    if let Some(Some(b)) = dims.as_ref().and_then(|d| d.first()) {
                        fixed_batch = Some(*b);
                    }
                    Feed::Batched(req.tail.clone())
                }
            };
            specs.push(InputSpec { slot, dt, feed });
        }
        if let Some(b) = fixed_batch.filter(|&b| b != 1) {
            return Err(PipelineError::Interface(format!(
                "the graph fixes the batch at {b}: export it with a dynamic batch axis \
                 (torch.onnx.export(..., dynamic_axes={{\"x\": {{0: \"B\"}}, ...}}) or \
                 dynamic_shapes) or with batch 1"
            )));
        }
        let out_outlets = model
            .output_outlets()
            .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?
            .to_vec();
        let out_names: Vec<String> = out_outlets
            .iter()
            .map(|o| {
                model
                    .outlet_label(*o)
                    .map(str::to_string)
                    .unwrap_or_else(|| model.node(o.node).name.clone())
            })
            .collect();
        let mut outs = Vec::new();
        let mut out_tails = Vec::new();
        let mut read_names = Vec::new();
        for (name, tail) in outputs {
            let pos = out_names.iter().position(|n| n == name).ok_or_else(|| {
                PipelineError::Interface(format!(
                    "no graph output named \"{name}\" (outputs: {})",
                    out_names.join(", ")
                ))
            })?;
            let fact = model
                .output_fact(pos)
                .map_err(|e| PipelineError::Onnx(tract_msg(&e)))?;
            check_shape(&format!("output \"{name}\""), fact, tail)?;
            outs.push(pos);
            out_tails.push(tail.clone());
            read_names.push(name.to_string());
        }
        Ok(Net {
            model,
            inputs: specs,
            outputs: outs,
            out_tails,
            out_names: read_names,
            fixed_batch,
            plans: HashMap::new(),
        })
    }

    /// Optimises the graph for `batch` (once per batch size); checks the shapes of the read
    /// outputs on the way.
    pub fn prepare(&mut self, batch: usize) -> Result<&mut Plan> {
        if batch == 0 {
            return Err(PipelineError::InvalidInput(
                "batch must be at least 1".into(),
            ));
        }
        if !self.plans.contains_key(&batch) {
            let mut m = self.model.clone();
            for spec in &self.inputs {
                let shape = match &spec.feed {
                    Feed::Batched(tail) => {
                        let mut s = vec![batch];
                        s.extend_from_slice(tail);
                        s
                    }
                    Feed::Shared(s) => s.clone(),
                };
                m = m
                    .with_input_fact(spec.slot, InferenceFact::dt_shape(spec.dt, shape))
                    .map_err(|e| PipelineError::Inference(tract_msg(&e)))?;
            }
            let typed = crate::pipeline::validate::no_panic("typing the graph", || {
                m.into_typed().map_err(|e| {
                    PipelineError::Inference(format!("typing for batch {batch}: {}", tract_msg(&e)))
                })
            })?;
            for ((pos, tail), name) in self
                .outputs
                .iter()
                .zip(&self.out_tails)
                .zip(&self.out_names)
            {
                let fact = typed.output_fact(*pos).map_err(|e| {
                    PipelineError::Inference(format!("typing for batch {batch}: {}", tract_msg(&e)))
                })?;
                if let Some(found) = fact.shape.as_concrete() {
                    let mut want = vec![batch];
                    want.extend_from_slice(tail);
                    if found != want.as_slice() {
                        return Err(PipelineError::Interface(format!(
                            "output \"{name}\" has shape {found:?} for a batch of {batch}, \
                             expected {want:?}: the prediction must have the shape of the input \
                             image"
                        )));
                    }
                }
            }
            crate::pipeline::validate::plan_memory(&typed, batch)?;
            let plan = crate::pipeline::validate::no_panic("optimising the graph", || {
                typed
                    .into_optimized()
                    .and_then(|m| m.into_runnable())
                    .and_then(|p| Runnable::spawn(&p))
                    .map_err(|e| {
                        PipelineError::Inference(format!(
                            "optimising for batch {batch}: {}",
                            tract_msg(&e)
                        ))
                    })
            })?;
            self.plans.insert(batch, plan);
        }
        Ok(self.plans.get_mut(&batch).expect("inserted above"))
    }

    /// Runs the graph on `inputs` (caller order, already shaped) for `batch`.
    pub fn run(&mut self, batch: usize, inputs: Vec<Tensor>) -> Result<Vec<TValue>> {
        let mut ordered: Vec<Option<TValue>> = vec![None; inputs.len()];
        for (spec, t) in self.inputs.clone().iter().zip(inputs) {
            ordered[spec.slot] = Some(t.into_tvalue());
        }
        let outputs = self.outputs.clone();
        let plan = self.prepare(batch)?;
        let inputs: TVec<TValue> = ordered
            .into_iter()
            .map(|t| t.expect("one tensor per input"))
            .collect();
        let mut result = crate::pipeline::validate::no_panic("running the graph", || {
            plan.run(inputs)
                .map_err(|e| PipelineError::Inference(tract_msg(&e)))
        })?;
        let mut out = Vec::with_capacity(outputs.len());
        for pos in outputs {
            out.push(core::mem::replace(
                &mut result[pos],
                Tensor::from(0f32).into_tvalue(),
            ));
        }
        Ok(out)
    }

    #[cfg(any(feature = "profile", not(target_arch = "wasm32")))]
    /// Profiles the plan for `batch` (the one [`run`](Self::run) uses) on `inputs` (caller
    /// order, already shaped); see [`crate::pipeline::profile`].
    pub fn profile(
        &mut self,
        batch: usize,
        inputs: Vec<Tensor>,
        repeats: usize,
        clock: impl FnMut() -> f64,
    ) -> Result<Profile> {
        let mut ordered: Vec<Option<TValue>> = vec![None; inputs.len()];
        for (spec, t) in self.inputs.clone().iter().zip(inputs) {
            ordered[spec.slot] = Some(t.into_tvalue());
        }
        let inputs: TVec<TValue> = ordered
            .into_iter()
            .map(|t| t.expect("one tensor per input"))
            .collect();
        let state = self
            .prepare(batch)?
            .downcast_mut::<TypedSimpleState>()
            .ok_or_else(|| {
                PipelineError::Inference("the plan is not tract's SimpleState".into())
            })?;
        profile_state(state, batch, inputs, repeats, clock)
    }

    /// Forgets the optimised plans (memory).
    pub fn clear(&mut self) {
        self.plans.clear();
    }
}

fn check_shape(what: &str, fact: &InferenceFact, tail: &[usize]) -> Result<()> {
    if let Some(dims) = dims_of(fact) {
        let mut want: Vec<Option<usize>> = vec![None];
        want.extend(tail.iter().map(|&d| Some(d)));
        let ok = dims.len() == want.len()
            && dims
                .iter()
                .skip(1)
                .zip(tail)
                .all(|(d, &w)| d.is_none() || *d == Some(w));
        if !ok {
            return Err(PipelineError::Interface(format!(
                "{what} has shape {}, expected {} (? = batch)",
                fmt_dims(&dims),
                fmt_dims(&want)
            )));
        }
    }
    Ok(())
}

pub(super) fn tensor<T: Datum + Copy>(shape: &[usize], data: &[T]) -> Result<Tensor> {
    Tensor::from_shape(shape, data).map_err(|e| PipelineError::Inference(tract_msg(&e)))
}

pub(super) fn copy_out(v: &TValue, out: &mut [f32], what: &str) -> Result<()> {
    let view = v
        .try_as_plain_ram()
        .map_err(|e| PipelineError::Inference(format!("{what}: {}", tract_msg(&e))))?;
    let s = view
        .as_slice::<f32>()
        .map_err(|e| PipelineError::Inference(format!("{what}: {}", tract_msg(&e))))?;
    if s.len() != out.len() {
        return Err(PipelineError::Interface(format!(
            "{what} has {} elements, expected {}",
            s.len(),
            out.len()
        )));
    }
    out.copy_from_slice(s);
    Ok(())
}

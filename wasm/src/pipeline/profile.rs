//! Where tract's time goes: per-node and per-operator-type timings of one optimised plan.
//!
//! [`DiffusionModel::profile`](super::DiffusionModel::profile) runs the very plan that
//! [`DiffusionModel::eval`](super::DiffusionModel::eval) runs for a batch size, through tract's
//! `SimpleState::run_plan_with_eval`, with a clock read around every node's evaluation (as
//! tract's own command-line profiler does). The clock is the caller's, in milliseconds
//! (`std::time::Instant` natively, `performance.now()` in JavaScript), so the same code serves
//! `wasm/examples/profile.rs` and the wasm `profileUnet` binding (cargo feature `profile`).

use std::collections::HashMap;
use std::fmt::Write as _;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::internal::{EvalContext, OpState};
use tract_onnx::tract_core::ops::Cost;
use tract_onnx::tract_hir::internal::DimLike;

use super::error::{tract_msg, PipelineError, Result};

/// One node of the plan: its median time per evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeTime {
    /// The node's name in the optimised graph (ONNX node names, with tract's suffixes).
    pub name: String,
    /// tract's operator name (`Op::name`), the key of [`Profile::ops`].
    pub op: String,
    /// The shape and type of the node's first output.
    pub output: String,
    /// Median milliseconds per evaluation.
    pub ms: f64,
    /// Multiply-adds tract counts for the node (`Cost::FMA`) when it is a matrix product or a
    /// convolution, else 0.
    pub fma: u64,
}

/// All nodes with one operator name.
#[derive(Clone, Debug, PartialEq)]
pub struct OpTime {
    /// tract's operator name.
    pub op: String,
    /// How many nodes of the plan run it.
    pub nodes: usize,
    /// Median over the evaluations of the nodes' summed milliseconds.
    pub ms: f64,
    /// Summed [`NodeTime::fma`] of those nodes.
    pub fma: u64,
}

/// A profile of one network evaluation (medians over `repeats`).
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// Batch size of the plan.
    pub batch: usize,
    /// Timed evaluations (after one untimed warm-up).
    pub repeats: usize,
    /// Median of the per-evaluation sum over all nodes, milliseconds.
    pub nodes_ms: f64,
    /// Median wall time of a whole evaluation (nodes plus tract's bookkeeping and the clock).
    pub wall_ms: f64,
    /// Operator types, slowest first.
    pub ops: Vec<OpTime>,
    /// Every node, slowest first.
    pub nodes: Vec<NodeTime>,
}

/// The median of `v` (sorted in place; 0 for an empty slice).
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The multiply-adds tract counts for a matrix product or convolution node, else 0 (tract gives
/// element-wise ops a nominal count per element: no rate worth quoting).
fn fma_of(model: &TypedModel, node: &TypedNode) -> u64 {
    let name = node.op.name();
    if !["MatMul", "Conv", "EinSum"]
        .iter()
        .any(|k| name.contains(k))
    {
        return 0;
    }
    let Ok(facts) = model.node_input_facts(node.id) else {
        return 0;
    };
    let Ok(costs) = node.op.cost(&facts) else {
        return 0;
    };
    costs
        .iter()
        .filter(|(c, _)| matches!(c, Cost::FMA(_)))
        .filter_map(|(_, n)| n.to_usize().ok())
        .sum::<usize>() as u64
}

/// Runs `state` (an optimised plan for `batch`) `1 + repeats` times on `inputs` (the graph's
/// order), timing every node with `clock` (milliseconds); the first run is a warm-up.
pub(crate) fn profile_state(
    state: &mut TypedSimpleState,
    batch: usize,
    inputs: TVec<TValue>,
    repeats: usize,
    mut clock: impl FnMut() -> f64,
) -> Result<Profile> {
    let repeats = repeats.max(1);
    let plan = state.plan().clone();
    let model = plan.model();
    let n = model.nodes().len();
    // per_node[id][r]: milliseconds of node `id` in timed run `r`.
    let mut per_node: Vec<Vec<f64>> = vec![Vec::with_capacity(repeats); n];
    let mut walls = Vec::with_capacity(repeats);
    let mut run_ms = vec![0.0f64; n];
    for r in 0..=repeats {
        run_ms.iter_mut().for_each(|v| *v = 0.0);
        let start = clock();
        state
            .run_plan_with_eval(
                inputs.clone(),
                |ctx: &EvalContext,
                 op_state: Option<&mut (dyn OpState + 'static)>,
                 node: &TypedNode,
                 input: TVec<TValue>| {
                    let t0 = clock();
                    let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, input);
                    run_ms[node.id] += clock() - t0;
                    out
                },
            )
            .map_err(|e| PipelineError::Inference(tract_msg(&e)))?;
        let wall = clock() - start;
        if r > 0 {
            walls.push(wall);
            for (id, ms) in run_ms.iter().enumerate() {
                per_node[id].push(*ms);
            }
        }
    }
    let ran: Vec<usize> = plan.order_without_consts().to_vec();
    let mut nodes_ms: Vec<f64> = (0..repeats)
        .map(|r| ran.iter().map(|&id| per_node[id][r]).sum())
        .collect();
    // Group by operator name, keeping the per-run sums to take their median.
    let mut groups: HashMap<String, (usize, Vec<f64>, u64)> = HashMap::new();
    let mut nodes = Vec::with_capacity(ran.len());
    for &id in &ran {
        let node = model.node(id);
        let op = node.op.name().to_string();
        let fma = fma_of(model, node);
        let g = groups
            .entry(op.clone())
            .or_insert_with(|| (0, vec![0.0; repeats], 0));
        g.0 += 1;
        g.2 += fma;
        for (sum, ms) in g.1.iter_mut().zip(&per_node[id]) {
            *sum += ms;
        }
        nodes.push(NodeTime {
            name: node.name.clone(),
            op,
            output: node.outputs.first().map_or(String::new(), |o| {
                let f = &o.fact;
                let packed = if f.exotic_fact.is_some() {
                    " packed"
                } else {
                    ""
                };
                format!("{:?} {:?}{packed}", f.datum_type, f.shape)
            }),
            ms: median(&mut per_node[id].clone()),
            fma,
        });
    }
    let mut ops: Vec<OpTime> = groups
        .into_iter()
        .map(|(op, (count, mut runs, fma))| OpTime {
            op,
            nodes: count,
            ms: median(&mut runs),
            fma,
        })
        .collect();
    ops.sort_by(|a, b| b.ms.total_cmp(&a.ms).then_with(|| a.op.cmp(&b.op)));
    nodes.sort_by(|a, b| b.ms.total_cmp(&a.ms).then_with(|| a.name.cmp(&b.name)));
    Ok(Profile {
        batch,
        repeats,
        nodes_ms: median(&mut nodes_ms),
        wall_ms: median(&mut walls),
        ops,
        nodes,
    })
}

fn gflops(fma: u64, ms: f64) -> String {
    if fma == 0 || ms <= 0.0 {
        "-".into()
    } else {
        format!("{:.1}", 2.0 * fma as f64 / (ms * 1e6))
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Profile {
    /// The report as text: one row per operator type (nodes, median ms per evaluation, share
    /// of the nodes' total, GFLOP/s from tract's FMA count), then the `top` slowest nodes.
    pub fn table(&self, top: usize) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "batch {}: {:.1} ms per evaluation in the nodes, {:.1} ms wall (medians of {})",
            self.batch, self.nodes_ms, self.wall_ms, self.repeats
        );
        let _ = writeln!(
            s,
            "| op type | nodes | ms / eval | share | GFLOP/s |\n|---|---:|---:|---:|---:|"
        );
        let total = self.nodes_ms.max(f64::MIN_POSITIVE);
        for o in &self.ops {
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | {:.1} % | {} |",
                o.op,
                o.nodes,
                o.ms,
                100.0 * o.ms / total,
                gflops(o.fma, o.ms)
            );
        }
        let _ = writeln!(
            s,
            "\ntop {top} nodes\n| node | op | output | ms | share | GFLOP/s |\n|---|---|---|---:|---:|---:|"
        );
        for nd in self.nodes.iter().take(top) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} | {:.1} % | {} |",
                nd.name,
                nd.op,
                nd.output,
                nd.ms,
                100.0 * nd.ms / total,
                gflops(nd.fma, nd.ms)
            );
        }
        s
    }

    /// The profile as JSON (the field names of these structs, in camelCase), for
    /// `wasm/tests-js/bench/profile.mjs` and the wasm binding.
    pub fn to_json(&self) -> String {
        let ops: Vec<String> = self
            .ops
            .iter()
            .map(|o| {
                format!(
                    "{{\"op\":{},\"nodes\":{},\"ms\":{},\"fma\":{}}}",
                    json_str(&o.op),
                    o.nodes,
                    o.ms,
                    o.fma
                )
            })
            .collect();
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|nd| {
                format!(
                    "{{\"name\":{},\"op\":{},\"output\":{},\"ms\":{},\"fma\":{}}}",
                    json_str(&nd.name),
                    json_str(&nd.op),
                    json_str(&nd.output),
                    nd.ms,
                    nd.fma
                )
            })
            .collect();
        format!(
            "{{\"batch\":{},\"repeats\":{},\"nodesMs\":{},\"wallMs\":{},\"ops\":[{}],\"nodes\":[{}]}}",
            self.batch,
            self.repeats,
            self.nodes_ms,
            self.wall_ms,
            ops.join(","),
            nodes.join(",")
        )
    }
}

use crate::infer::*;
use crate::internal::*;

#[derive(Debug, Clone, new, Hash, PartialEq, Eq)]
pub struct AddDims {
    pub axes: Vec<isize>,
}

impl AddDims {
    /// dpm-solver patch: the axes resolved against the output rank, sorted, each checked to lie
    /// in `[-output_rank, output_rank)` and to appear once (ONNX Unsqueeze) instead of
    /// inserting past the end (a panic, a trap in wasm).
    fn sorted_axes(&self, rank: usize) -> TractResult<Vec<usize>> {
        let output_rank = (rank + self.axes.len()) as isize;
        let mut axes = Vec::with_capacity(self.axes.len());
        for &axis in &self.axes {
            let resolved = if axis < 0 { axis + output_rank } else { axis };
            if !(0..output_rank).contains(&resolved) {
                bail!("Unsqueeze axis {} out of range for an output of rank {}", axis, output_rank);
            }
            axes.push(resolved as usize);
        }
        axes.sort();
        if axes.windows(2).any(|w| w[0] == w[1]) {
            bail!("Unsqueeze axes {:?} repeat an axis", self.axes);
        }
        Ok(axes)
    }

    pub fn output_shape<D: DimLike>(&self, input: &[D]) -> TractResult<TVec<D>> {
        let mut shape: TVec<D> = input.iter().cloned().collect();
        for axis in self.sorted_axes(input.len())? {
            shape.insert(axis, D::one())
        }
        Ok(shape)
    }
}

impl Expansion for AddDims {
    fn name(&self) -> StaticName {
        "AddDims".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("Axes: {:?}", self.axes)])
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].rank, (&inputs[0].rank).bex() + self.axes.len() as i64)?;
        s.given(&inputs[0].shape, move |s, shape| {
            let output_shape = self.output_shape(&shape)?;
            s.equals(&outputs[0].shape, output_shape)
        })
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let rank = model.outlet_fact(inputs[0])?.rank();
        let mut wire: TVec<OutletId> = inputs.into();
        for axis in self.sorted_axes(rank)? {
            wire = model.wire_node(format!("{prefix}.axis-{axis}"), AxisOp::Add(axis), &wire)?;
        }
        Ok(wire)
    }
}

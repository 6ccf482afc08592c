"""A tiny diffusers UNet2DModel exported as tutorials do, and diffusers' own sampling loops on
it: the fixture of the end-to-end parity test (wasm/tests/pipeline.rs, wasm/tests-js).

  /work/venv-train/bin/python train/make_diffusers_unet.py [--out wasm/tests/models]

Writes `diffusers_unet.onnx` (legacy exporter, opset 17; inputs `sample` [B,3,8,8] f32 and
`timestep` int64 scalar, as diffusers' loop passes `t`; output `out_sample`; no metadata),
`diffusers_unet_dynamo.onnx` (the same UNet through torch's default dynamo exporter: opset 20,
its `value_info` with the symbolic batch kept) and
`diffusers_unet.parity.json`: for each scheduler config, the config text exactly as
`scheduler.save_config` writes it (Python's JSON, `-Infinity` included), x_T, the steps,
diffusers' `timesteps` after `set_timesteps`, and x_0 after its `step` loop run on the
PyTorch UNet. The UNet has random seeded weights (torch default init, seed 12) with
GroupNorm, self-attention, and down/up blocks as diffusers builds them.
Needs torch, diffusers, onnx, onnxruntime.
"""
import argparse
import json
import os
import tempfile

import numpy as np
import onnxruntime as ort
import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, UNet2DModel, UniPCMultistepScheduler

CASES = [
    # name, class, config overrides, steps
    ("dpmpp2m_eps_linear", DPMSolverMultistepScheduler,
     dict(algorithm_type="dpmsolver++", solver_order=2, prediction_type="epsilon",
          beta_schedule="linear"), 10),
    ("dpmpp3m_v_cosine", DPMSolverMultistepScheduler,
     dict(algorithm_type="dpmsolver++", solver_order=3, prediction_type="v_prediction",
          beta_schedule="squaredcos_cap_v2", timestep_spacing="trailing"), 12),
    ("unipc_v_scaled", UniPCMultistepScheduler,
     dict(prediction_type="v_prediction", beta_schedule="scaled_linear", beta_start=0.00085,
          beta_end=0.012, solver_order=2), 8),
    ("unipc_eps_linear", UniPCMultistepScheduler,
     dict(prediction_type="epsilon", beta_schedule="linear", timestep_spacing="leading",
          steps_offset=1), 10),
    ("ddim_eps_linear", DDIMScheduler,
     dict(prediction_type="epsilon", beta_schedule="linear", clip_sample=False,
          set_alpha_to_one=False, steps_offset=1), 10),
    ("ddim_v_cosine", DDIMScheduler,
     dict(prediction_type="v_prediction", beta_schedule="squaredcos_cap_v2", clip_sample=False,
          timestep_spacing="trailing"), 10),
]


class Export(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep):
        return self.unet(sample, timestep, return_dict=False)[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--out", default=os.path.join(here, "..", "wasm", "tests", "models"))
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)

    torch.manual_seed(12)
    unet = UNet2DModel(
        sample_size=8, in_channels=3, out_channels=3, layers_per_block=1,
        block_out_channels=(16, 32), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8, attention_head_dim=8,
    ).eval()
    net = Export(unet).eval()
    path = os.path.join(a.out, "diffusers_unet.onnx")
    x = torch.randn(2, 3, 8, 8)
    torch.onnx.export(net, (x, torch.tensor(500)), path, dynamo=False, opset_version=17,
                      input_names=["sample", "timestep"], output_names=["out_sample"],
                      dynamic_axes={"sample": {0: "B"}, "out_sample": {0: "B"}})
    dyn = os.path.join(a.out, "diffusers_unet_dynamo.onnx")
    batch = torch.export.Dim("B", min=1, max=64)
    prog = torch.onnx.export(net, (x, torch.tensor(500)), dynamo=True,
                             input_names=["sample", "timestep"], output_names=["out_sample"],
                             dynamic_shapes=({0: batch}, None))
    prog.save(dyn, external_data=False)
    with torch.no_grad():
        ref = net(x, torch.tensor(321)).numpy()
    for f in (path, dyn):
        sess = ort.InferenceSession(f, providers=["CPUExecutionProvider"])
        got = sess.run(None, {"sample": x.numpy(), "timestep": np.array(321, dtype=np.int64)})[0]
        d = np.abs(got - ref).max()
        assert d < 1e-4, f"{f}: {d}"
        print(f"{os.path.basename(f)}: {os.path.getsize(f) / 1024:.0f} KiB, "
              f"{sum(p.numel() for p in unet.parameters())} params, ort vs torch {d:.2e}")

    g = torch.Generator().manual_seed(1)
    x_t = torch.randn(2, 3, 8, 8, generator=g)
    cases = []
    for name, cls, over, steps in CASES:
        sched = cls(**over)
        with tempfile.TemporaryDirectory() as d:
            sched.save_config(d)
            with open(os.path.join(d, "scheduler_config.json")) as fh:
                text = fh.read()
        sched.set_timesteps(steps)
        sample = x_t * sched.init_noise_sigma
        with torch.no_grad():
            for t in sched.timesteps:
                out = net(sched.scale_model_input(sample, t), t)
                sample = sched.step(out, t, sample).prev_sample
        x0 = sample.numpy()
        cases.append({
            "name": name, "scheduler_config": text, "steps": steps,
            "timesteps": [int(t) for t in sched.timesteps],
            "x0": x0.flatten().tolist(),
        })
        print(f"{name}: timesteps {cases[-1]['timesteps']}, max|x0| {np.abs(x0).max():.3f}")
    fixture = {
        "model": "diffusers_unet.onnx", "models": ["diffusers_unet.onnx", "diffusers_unet_dynamo.onnx"],
        "shape": [3, 8, 8], "batch": 2,
        "x_t": x_t.flatten().tolist(), "cases": cases,
    }
    with open(os.path.join(a.out, "diffusers_unet.parity.json"), "w") as fh:
        json.dump(fixture, fh)


if __name__ == "__main__":
    main()

"""Tiny random-weight diffusion nets in every export form users produce, for the loader tests.

  /work/venv-train/bin/python train/make_test_models.py [--out wasm/tests/models]

One seeded network (1x8x8 images, sinusoidal time embedding, 4 classes + null class 4,
GroupNorm, ~11k params) exported as:

| file | exporter | time input | class input | names | metadata |
|---|---|---|---|---|---|
| legacy17.onnx | torch legacy, opset 17 | f32 [B] | i64 [B] | x, t, class -> eps | yes |
| legacy13.onnx | torch legacy, opset 13 | f32 [B] | i64 [B] | x, t, class -> eps | yes |
| dynamo.onnx | torch dynamo, opset 18, one file | f32 [B] | i64 [B] | x, t, class -> eps | yes |
| dynamo_ext.onnx + .onnx.data | torch dynamo, opset 18, external data | f32 [B] | i64 [B] | x, t, class -> eps | yes |
| dynamo20.onnx | torch dynamo, its default opset (20 in torch 2.15), one file | f32 [B] | i64 [B] | x, t, class -> eps | yes |
| int64_time.onnx | torch legacy, opset 17 | i64 [B] | i32 [B] | x, t, class -> eps | yes |
| int32_time.onnx | torch legacy, opset 17 | i32 [B] | i64 [B] | x, t, class -> eps | yes |
| fixed_batch1.onnx | torch legacy, opset 17, no dynamic axes (batch fixed at 1) | f32 [1] | i64 [1] | x, t, class -> eps | yes |
| f64_scalar_time.onnx | torch legacy, opset 17 | f64 [] | i64 [B] | x, t, class -> eps | yes |
| diffusers_style.onnx | torch legacy, opset 17 | i64 [1] | none (null class inside) | sample, timestep -> out_sample | none |
| bad_output.onnx | torch legacy, opset 17 | f32 [B] | none | x, t -> eps [B,2,8,8] | yes (1 channel) |

plus `diffusers_style.scheduler_config.json` (a DPMSolverMultistepScheduler config written by
Python's json, with `"lambda_min_clipped": -Infinity`) and `reference.json`: onnxruntime's
output of every file on one seeded input, which the Rust and node tests compare against.
All forms compute the same function (`diffusers_style` is the net at the null class), so the
tests also check that they sample the same x_0 from the same x_T. Each file is checked
against PyTorch with onnxruntime here. Needs torch, onnx, onnxscript, onnxruntime.
"""
import argparse
import json
import math
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from stamp_metadata import stamp

C, H, W = 1, 8, 8
CLASSES, NULL = 4, 4
HID = 16
META = {
    "prediction_type": "epsilon",
    "schedule": "discrete",
    "time_input": "discrete",
    "beta_schedule": "linear",
    "beta_start": "0.0001",
    "beta_end": "0.02",
    "num_train_timesteps": "1000",
    "image_channels": str(C),
    "image_height": str(H),
    "image_width": str(W),
    "value_range": "-1,1",
    "num_classes": str(CLASSES),
    "null_class": str(NULL),
    "class_labels": "north,east,south,west",
    "description": "Tiny random-weight test net (1x8x8, 4 classes): loader tests only, draws noise.",
}


class TinyNet(nn.Module):
    """eps(x, t, class): conv -> GroupNorm -> SiLU -> + time/class embedding -> conv -> conv."""

    def __init__(self, out_channels=C):
        super().__init__()
        self.t_mlp = nn.Sequential(nn.Linear(HID, HID), nn.SiLU(), nn.Linear(HID, HID))
        self.c_emb = nn.Embedding(CLASSES + 1, HID)
        self.conv_in = nn.Conv2d(C, HID, 3, padding=1)
        self.norm = nn.GroupNorm(4, HID)
        self.conv_mid = nn.Conv2d(HID, HID, 3, padding=1)
        self.conv_out = nn.Conv2d(HID, out_channels, 3, padding=1)

    def forward(self, x, t, cls):
        t = t.reshape(-1).to(torch.float32)
        half = HID // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        a = t[:, None] * freqs[None, :]
        emb = self.t_mlp(torch.cat([torch.sin(a), torch.cos(a)], dim=1))
        emb = emb + self.c_emb(cls.reshape(-1).to(torch.int64))
        h = torch.nn.functional.silu(self.norm(self.conv_in(x)))
        h = h + emb[:, :, None, None]
        h = torch.nn.functional.silu(self.conv_mid(h))
        return self.conv_out(h) + 0.1 * x[:, :1].expand(-1, self.conv_out.out_channels, -1, -1)


class IntTime(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, t, cls):  # t int64 [B], class int32 [B]
        return self.net(x, t.to(torch.float32), cls.to(torch.int64))


class Uncond(nn.Module):
    """diffusers-style: (sample, timestep) with the net's null class inside."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, sample, timestep):
        cls = torch.full((sample.shape[0],), NULL, dtype=torch.int64)
        return self.net(sample, timestep, cls)


def size_kb(path):
    n = os.path.getsize(path)
    if os.path.exists(path + ".data"):
        n += os.path.getsize(path + ".data")
    return n / 1024


def add_meta(path, meta):
    m = onnx.load(path, load_external_data=False)
    stamp(m, meta)
    onnx.save(m, path)


def legacy(module, args, path, names, outputs, opset, dynamic):
    torch.onnx.export(module, args, path, dynamo=False, opset_version=opset,
                      input_names=names, output_names=outputs,
                      dynamic_axes={n: {0: "B"} for n in dynamic}, do_constant_folding=True)


def dynamo(module, args, path, external, opset=18):
    b = torch.export.Dim("B", min=1, max=4096)
    prog = torch.onnx.export(module, args, dynamo=True, opset_version=opset,
                             input_names=["x", "t", "class"], output_names=["eps"],
                             dynamic_shapes=({0: b}, {0: b}, {0: b}))
    if external:
        prog.save(path, external_data=True)
    else:
        prog.save(path, external_data=False)


def check(path, module, feeds_torch, feeds_np, tol=1e-4):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    out = sess.run(None, feeds_np)[0]
    with torch.no_grad():
        ref = module(*feeds_torch).numpy()
    d = float(np.abs(out - ref).max())
    assert d <= tol, f"{path}: onnxruntime vs torch {d}"
    return out, d


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--out", default=os.path.join(here, "..", "wasm", "tests", "models"))
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    out = lambda f: os.path.join(a.out, f)  # noqa: E731

    torch.manual_seed(11)
    net = TinyNet().eval()
    bad = TinyNet(out_channels=2).eval()
    for m in (net, bad):
        for prm in m.parameters():  # bigger random weights than the default init: a varied eps
            prm.data.mul_(1.5)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, C, H, W, generator=g)
    t = torch.tensor([999.0, 500.0, 17.0])
    cls = torch.tensor([0, 3, NULL])
    sample_args = (x[:2], t[:2], cls[:2])

    refs = {"x": x.flatten().tolist(), "t": t.tolist(), "class": cls.tolist(), "outputs": {}}

    def record(name, path, module, targs, feeds):
        o, d = check(path, module, targs, feeds)
        refs["outputs"][name] = o.flatten().tolist()
        print(f"{name}: {size_kb(path):.1f} KiB, onnxruntime vs torch max {d:.2e}")

    std = {"x": x.numpy(), "t": t.numpy(), "class": cls.numpy()}
    for opset in (17, 13):
        f = out(f"legacy{opset}.onnx")
        legacy(net, sample_args, f, ["x", "t", "class"], ["eps"], opset, ["x", "t", "class", "eps"])
        add_meta(f, META)
        record(f"legacy{opset}", f, net, (x, t, cls), std)

    for name, ext, opset in (("dynamo", False, 18), ("dynamo_ext", True, 18), ("dynamo20", False, None)):
        f = out(f"{name}.onnx")
        if os.path.exists(f + ".data"):
            os.remove(f + ".data")
        dynamo(net, sample_args, f, ext, opset)
        add_meta(f, META)
        assert os.path.exists(f + ".data") == ext, f"{name}: side file {ext}"
        record(name, f, net, (x, t, cls), std)

    f = out("int64_time.onnx")
    m = IntTime(net).eval()
    ti, ci = t.to(torch.int64), cls.to(torch.int32)
    legacy(m, (x[:2], ti[:2], ci[:2]), f, ["x", "t", "class"], ["eps"], 17, ["x", "t", "class", "eps"])
    add_meta(f, META)
    record("int64_time", f, m, (x, ti, ci), {"x": x.numpy(), "t": ti.numpy(), "class": ci.numpy()})

    f = out("int32_time.onnx")
    t32 = t.to(torch.int32)
    legacy(m, (x[:2], t32[:2], cls[:2]), f, ["x", "t", "class"], ["eps"], 17, ["x", "t", "class", "eps"])
    add_meta(f, META)
    record("int32_time", f, m, (x, t32, cls), {"x": x.numpy(), "t": t32.numpy(), "class": cls.numpy()})

    # Exported without dynamic axes: the graph fixes the batch at 1.
    f = out("fixed_batch1.onnx")
    legacy(net, (x[:1], t[:1], cls[:1]), f, ["x", "t", "class"], ["eps"], 17, [])
    add_meta(f, META)
    _, d = check(f, net, (x[:1], t[:1], cls[:1]), {"x": x[:1].numpy(), "t": t[:1].numpy(), "class": cls[:1].numpy()})
    print(f"fixed_batch1: {size_kb(f):.1f} KiB, onnxruntime vs torch max {d:.2e}")

    # One time for the whole batch, as a float64 scalar: evaluated at t = 500 for all images.
    f = out("f64_scalar_time.onnx")
    ts = torch.tensor(500.0, dtype=torch.float64)
    legacy(net, (x[:2], ts, cls[:2]), f, ["x", "t", "class"], ["eps"], 17, ["x", "class", "eps"])
    add_meta(f, META)
    record("f64_scalar_time", f, net, (x, ts, cls), {"x": x.numpy(), "t": ts.numpy(), "class": cls.numpy()})

    f = out("diffusers_style.onnx")
    u = Uncond(net).eval()
    tt = torch.tensor([500], dtype=torch.int64)
    legacy(u, (x[:2], tt), f, ["sample", "timestep"], ["out_sample"], 17, ["sample", "out_sample"])
    record("diffusers_style", f, u, (x, tt), {"sample": x.numpy(), "timestep": tt.numpy()})
    cfg = {
        "_class_name": "DPMSolverMultistepScheduler",
        "_diffusers_version": "0.42.1",
        "algorithm_type": "dpmsolver++",
        "beta_end": 0.02,
        "beta_schedule": "linear",
        "beta_start": 0.0001,
        "lambda_min_clipped": -math.inf,
        "lower_order_final": True,
        "num_train_timesteps": 1000,
        "prediction_type": "epsilon",
        "solver_order": 2,
        "timestep_spacing": "linspace",
        "trained_betas": None,
    }
    with open(out("diffusers_style.scheduler_config.json"), "w") as fh:
        json.dump(cfg, fh, indent=2, sort_keys=True)  # writes -Infinity, as diffusers does

    f = out("bad_output.onnx")
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = bad

        def forward(self, x, t):
            return self.net(x, t, torch.full((x.shape[0],), NULL, dtype=torch.int64))
    legacy(Bad(), (x[:2], t[:2]), f, ["x", "t"], ["eps"], 17, ["x", "t", "eps"])
    add_meta(f, {**{k: v for k, v in META.items() if k not in ("num_classes", "null_class", "class_labels")},
                 "description": "Broken on purpose: 2 output channels for 1-channel images."})
    print(f"bad_output: {size_kb(f):.1f} KiB")

    with open(out("reference.json"), "w") as fh:
        json.dump(refs, fh)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()

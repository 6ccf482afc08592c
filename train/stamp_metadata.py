"""Stamp the dpm-solver model metadata (MODEL.md) onto an existing ONNX file.

  python stamp_metadata.py model.onnx --out stamped.onnx \
      --set prediction_type=epsilon beta_schedule=linear beta_start=0.0001 beta_end=0.02 \
            num_train_timesteps=1000 image_channels=1 image_height=28 image_width=28
  python stamp_metadata.py model.onnx --scheduler-config scheduler_config.json --set image_channels=3
  python stamp_metadata.py model.onnx --list          # print what the file holds

`--scheduler-config` copies the training schedule and prediction type of a diffusers
`scheduler_config.json` (Python's JSON: `-Infinity`/`NaN` are read). `--set key=` (empty value)
removes a key. Without `--out` the file is rewritten in place. A model whose weights live in a
side file (`model.onnx.data`) keeps them there: only the graph file is rewritten, so keep
`--out` in the same folder. Needs the `onnx` package only.
"""
import argparse
import json
import sys

import onnx

# The keys the pipeline reads (MODEL.md); others are kept but warned about.
KNOWN = {
    "prediction_type", "schedule", "time_input", "num_train_timesteps", "beta_schedule",
    "beta_start", "beta_end", "image_channels", "image_height", "image_width", "value_range",
    "num_classes", "null_class", "class_labels", "input_names", "output_names", "description",
    "training_steps",
}
FROM_SCHEDULER = ("prediction_type", "num_train_timesteps", "beta_schedule", "beta_start", "beta_end")


def stamp(model, entries):
    """Sets (value non-empty) or removes (empty value) `metadata_props` entries of `model`."""
    props = {p.key: p.value for p in model.metadata_props}
    for k, v in entries.items():
        if v == "":
            props.pop(k, None)
        else:
            props[k] = str(v)
    del model.metadata_props[:]
    for k in sorted(props):
        e = model.metadata_props.add()
        e.key, e.value = k, props[k]
    return model


def scheduler_entries(path):
    with open(path) as f:
        cfg = json.load(f)  # Python's json reads -Infinity / NaN
    out = {k: cfg[k] for k in FROM_SCHEDULER if cfg.get(k) is not None}
    if cfg.get("trained_betas") is not None:
        sys.exit("trained_betas is not supported by the pipeline's schedule (MODEL.md)")
    return {k: (repr(v) if isinstance(v, float) else str(v)) for k, v in out.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("--out", help="output path (default: rewrite the input)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--scheduler-config", help="a diffusers scheduler_config.json")
    p.add_argument("--list", action="store_true", help="print the metadata and exit")
    a = p.parse_args()

    model = onnx.load(a.model, load_external_data=False)
    if a.list:
        for e in model.metadata_props:
            print(f"{e.key}={e.value}")
        return
    entries = {}
    if a.scheduler_config:
        entries.update(scheduler_entries(a.scheduler_config))
    for kv in a.set:
        if "=" not in kv:
            sys.exit(f"--set takes KEY=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        entries[k.strip()] = v.strip()
    for k in entries:
        if k not in KNOWN:
            print(f"warning: {k!r} is not a key the pipeline reads (kept anyway)", file=sys.stderr)
    stamp(model, entries)
    onnx.save(model, a.out or a.model)
    print(f"wrote {a.out or a.model}: {len(model.metadata_props)} metadata entries")


if __name__ == "__main__":
    main()

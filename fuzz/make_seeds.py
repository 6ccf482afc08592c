"""Writes the tiny ONNX models the fuzz targets and the reliability tests start from.

fuzz/seeds/tiny_unet.onnx: a class-conditional "UNet" of a 1x4x4 image (Conv + time and
class embeddings), with the metadata the pipeline reads; small enough that loading,
optimising and running it takes milliseconds, so fuzzing sees many executions.

Run: /work/venv-train/bin/python fuzz/make_seeds.py (needs `onnx`; CI never runs it, the
output is committed).
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(0)

x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 4, 4])
t = helper.make_tensor_value_info("t", TensorProto.FLOAT, ["N"])
c = helper.make_tensor_value_info("class", TensorProto.INT64, ["N"])
eps = helper.make_tensor_value_info("eps", TensorProto.FLOAT, ["N", 1, 4, 4])

inits = [
    numpy_helper.from_array((0.1 * rng.standard_normal((1, 1, 3, 3))).astype(np.float32), "w"),
    numpy_helper.from_array(np.array([0.01], np.float32), "b"),
    numpy_helper.from_array(np.array([1e-3], np.float32), "tscale"),
    numpy_helper.from_array((0.05 * rng.standard_normal((11, 16))).astype(np.float32), "emb"),
    numpy_helper.from_array(np.array([-1, 1, 4, 4], np.int64), "shape"),
    numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes"),
]
nodes = [
    helper.make_node("Conv", ["x", "w", "b"], ["h"], pads=[1, 1, 1, 1]),
    helper.make_node("Mul", ["t", "tscale"], ["ts"]),
    helper.make_node("Unsqueeze", ["ts", "axes"], ["t4"]),
    helper.make_node("Add", ["h", "t4"], ["ht"]),
    helper.make_node("Gather", ["emb", "class"], ["e"], axis=0),
    helper.make_node("Reshape", ["e", "shape"], ["e4"]),
    helper.make_node("Add", ["ht", "e4"], ["eps"]),
]
graph = helper.make_graph(nodes, "tiny_unet", [x, t, c], [eps], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
meta = {
    "prediction_type": "epsilon",
    "schedule": "discrete",
    "beta_schedule": "linear",
    "beta_start": "0.0001",
    "beta_end": "0.02",
    "num_train_timesteps": "1000",
    "image_channels": "1",
    "image_height": "4",
    "image_width": "4",
    "num_classes": "10",
    "null_class": "10",
    "value_range": "-1,1",
    "input_names": "x,t,class",
    "output_names": "eps",
}
for k, v in meta.items():
    p = model.metadata_props.add()
    p.key, p.value = k, v
onnx.checker.check_model(model)
out = os.path.join(here, "seeds", "tiny_unet.onnx")
onnx.save(model, out)
print(out, os.path.getsize(out), "bytes")

# Malformed variants, each a class of input that used to panic inside tract (a trap in wasm)
# or to allocate without bound; the pipeline must refuse each with an error.
def variant(name, edit):
    m = onnx.load(out)
    edit(m)
    path = os.path.join(here, "seeds", f"{name}.onnx")
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    print(path)


def output_name(m):
    m.graph.output[0].name = "ghost"  # names no node output: tract indexed its map with it


def raw_data(m):
    w = m.graph.initializer[0]
    w.raw_data = w.raw_data[:10]  # 10 bytes for 9 floats


def dims(m):
    m.graph.initializer[0].dims[:] = [1 << 40, 1 << 40, -3]


def raw_string(m):
    t = m.graph.initializer[1]
    t.data_type = TensorProto.STRING  # raw string data: unimplemented!() in tract


def meta(key, value):
    def edit(m):
        for p in m.metadata_props:
            if p.key == key:
                p.value = value
    return edit


def image_dims(m):
    for k in ("image_channels", "image_height", "image_width"):
        meta(k, "4096")(m)


variant("bad_output_name", output_name)
variant("bad_raw_data", raw_data)
variant("bad_dims", dims)
variant("bad_raw_string", raw_string)
variant("bad_num_classes", meta("num_classes", "1000000000"))
variant("bad_image_dims", image_dims)

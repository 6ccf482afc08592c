"""A tiny exact flow-matching "network" as ONNX, for the pipeline's flow tests.

The data are Gaussian, x_0 ~ N(mu, var) per pixel (a 1x2x2 image); on the flow path
x_s = (1 - s) x_0 + s eps the exact velocity is v = E[eps - x_0 | x_s] with
E[x_0 | x] = mu + a var / c (x - a mu), a = 1 - s, c = a^2 var + s^2, and the network's time
input is t = 1000 s (diffusers' flow timestep). The probability-flow ODE is then affine, so the
tests know the exact sample for any noise. Regenerate with the training venv:
    /work/venv-train/bin/python wasm/tests/models/make_flow_gaussian.py
"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MU = np.array([0.6, -0.4, 0.1, -0.8], dtype=np.float32).reshape(1, 1, 2, 2)
VAR = np.array([0.04, 0.09, 0.02, 0.06], dtype=np.float32).reshape(1, 1, 2, 2)
N = 1000.0


def main():
    init = [
        numpy_helper.from_array(MU, "mu"),
        numpy_helper.from_array(VAR, "var"),
        numpy_helper.from_array(np.array(1.0 / N, dtype=np.float32), "inv_n"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        numpy_helper.from_array(np.array([-1, 1, 1, 1], dtype=np.int64), "shape4"),
    ]
    n = helper.make_node
    nodes = [
        n("Mul", ["t", "inv_n"], ["s0"]),
        n("Reshape", ["s0", "shape4"], ["s"]),        # [B,1,1,1]
        n("Sub", ["one", "s"], ["a"]),
        n("Mul", ["a", "a"], ["a2"]),
        n("Mul", ["a2", "var"], ["a2v"]),
        n("Mul", ["s", "s"], ["s2"]),
        n("Add", ["a2v", "s2"], ["c"]),                # a^2 var + s^2
        n("Mul", ["a", "mu"], ["amu"]),
        n("Sub", ["x", "amu"], ["r"]),                 # x - a mu
        n("Mul", ["a", "var"], ["av"]),
        n("Div", ["av", "c"], ["g"]),
        n("Mul", ["g", "r"], ["gr"]),
        n("Add", ["mu", "gr"], ["x0"]),                # E[x_0 | x]
        n("Mul", ["a", "x0"], ["ax0"]),
        n("Sub", ["x", "ax0"], ["num"]),
        n("Div", ["num", "s"], ["eps"]),
        n("Sub", ["eps", "x0"], ["v"]),
    ]
    graph = helper.make_graph(
        nodes,
        "flow_gaussian",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 1, 2, 2]),
         helper.make_tensor_value_info("t", TensorProto.FLOAT, ["B"])],
        [helper.make_tensor_value_info("v", TensorProto.FLOAT, ["B", 1, 2, 2])],
        init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {
        "prediction_type": "flow_prediction",
        "schedule": "flow",
        "num_train_timesteps": "1000",
        "image_channels": "1",
        "image_height": "2",
        "image_width": "2",
        "value_range": "-1,1",
        "input_names": "x,t",
        "output_names": "v",
        "description": "exact velocity of Gaussian data (mu, var per pixel) on the flow path; a test model",
    }
    for k, v in meta.items():
        e = model.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(model)
    out = pathlib.Path(__file__).with_name("flow_gaussian.onnx")
    onnx.save(model, out)
    print(out, out.stat().st_size, "bytes")


if __name__ == "__main__":
    main()

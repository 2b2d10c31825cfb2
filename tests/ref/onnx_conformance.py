"""onnx_conformance.py CNN — ONNX's own backend test cases (Debian's libonnx-testdata) for the operators
the importer supports, run through `cnn run`: every case's model with its test_data_set_*/input_N.pb,
outputs compared with output_N.pb as ONNX's backend tests do (|got - want| <= atol + rtol * |want|,
rtol 1e-3, atol 1e-7). Prints "ok"/"FAIL" per case, the out-of-scope cases with their reasons, and
"N passed, M failed".

cnn's graphs take weights as constants and carry a batch dim in every value, so before a run:
  - an input in a weight position (Conv W and B, BatchNormalization's statistics, Gemm B, the
    shape of Reshape, the pads of Pad, Clip's bounds, Dropout's ratio) becomes an initializer with its
    test value, as an exporter would have written it;
  - an input whose first dim differs from the first input's (a broadcast operand such as Add's (5)
    against (3,4,5)) becomes an initializer too: a constant broadcast over the batch. So Gemm's C is
    a constant when it broadcasts over A's rows ((N), (1,N), a scalar) and a computed input when it
    has one row per row of A (a matrix (M,N) or a column (M,1)).
"""
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

DATA = "/usr/include/onnx/backend/test/data"
SUITES = ["node", "pytorch-converted", "pytorch-operator", "simple"]
SUPPORTED = {"Conv", "BatchNormalization", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "MaxPool", "AveragePool",
             "GlobalAveragePool", "GlobalMaxPool", "Gemm", "MatMul", "Flatten", "Reshape", "Concat", "Add", "Mul", "Sum",
             "Clip", "Pad", "Dropout", "Identity", "Constant", "Softmax", "LRN"}
WEIGHTS = {"Conv": {1, 2}, "BatchNormalization": {1, 2, 3, 4}, "Gemm": {1}, "Reshape": {1}, "Pad": {1, 2},
           "Clip": {1, 2}, "Dropout": {1, 2}}

NONFLOAT = "not float32 data"
OUT_OF_SCOPE = {}  # case -> why it is out of scope
for _reason, _cases in [
    (NONFLOAT, [
        "node/test_add_uint8", "node/test_mul_uint8", "node/test_clip_default_int8_inbounds",
        "node/test_clip_default_int8_max", "node/test_clip_default_int8_min", "node/test_edge_pad",
        "node/test_reflect_pad", "node/test_maxpool_2d_uint8", "pytorch-operator/test_operator_add_broadcast",
        "pytorch-operator/test_operator_add_size1_broadcast",
        "pytorch-operator/test_operator_add_size1_right_broadcast",
        "pytorch-operator/test_operator_add_size1_singleton_broadcast", "pytorch-operator/test_operator_addconstant",
        "pytorch-operator/test_operator_non_float_params",
    ]),
    ("an optional value, not a tensor", [
        "node/test_identity_opt",
    ]),
    ("a sequence, not a tensor", [
        "node/test_identity_sequence",
    ]),
    ("MaxPool's int64 indices output", [
        "node/test_maxpool_with_argmax_2d_precomputed_pads", "node/test_maxpool_with_argmax_2d_precomputed_strides",
    ]),
    ("training-mode BatchNormalization with its running-statistics outputs", [
        "node/test_batchnorm_epsilon_training_mode", "node/test_batchnorm_example_training_mode",
    ]),
    ("Dropout's bool mask output", [
        "node/test_dropout_default_mask", "node/test_dropout_default_mask_ratio",
    ]),
    ("training-mode Dropout (random masks)", [
        "node/test_training_dropout", "node/test_training_dropout_default", "node/test_training_dropout_default_mask",
        "node/test_training_dropout_mask",
    ]),
    ("training-mode Dropout with its bool mask output", [
        "node/test_training_dropout_zero_ratio_mask",
    ]),
]:
    OUT_OF_SCOPE.update(dict.fromkeys(_cases, _reason))


def leading(t):
    return t.type.tensor_type.shape.dim[0].dim_value if t.type.tensor_type.shape.dim else 0


def prepare(model, inputs):
    """Folds weight-position and broadcast inputs into initializers; returns the data inputs' values."""
    g = model.graph
    weight = set()
    for n in g.node:
        for i, name in enumerate(n.input):
            if i in WEIGHTS.get(n.op_type, ()):
                weight.add(name)
    graph_inputs = [i for i in g.input if i.name not in {t.name for t in g.initializer}]
    batch = inputs[0].shape[0] if inputs and inputs[0].ndim else None
    keep, data = [], []
    for vi, value in zip(graph_inputs, inputs):
        if vi.name in weight or (data and (value.ndim == 0 or value.shape[0] != batch)):
            g.initializer.append(numpy_helper.from_array(value, vi.name))
        else:
            keep.append(vi)
            data.append(value)
    for vi in graph_inputs:
        g.input.remove(vi)
    g.input.extend(keep)
    return data


def run_case(cnn, key, path, tmp):
    model = onnx.load(os.path.join(path, "model.onnx"))
    sets = sorted(glob.glob(os.path.join(path, "test_data_set_*")))
    worst = 0.0
    for s in sets:
        ins = [numpy_helper.to_array(onnx.load_tensor(f)) for f in sorted(glob.glob(os.path.join(s, "input_*.pb")))]
        outs = [numpy_helper.to_array(onnx.load_tensor(f)) for f in sorted(glob.glob(os.path.join(s, "output_*.pb")))]
        m = onnx.load(os.path.join(path, "model.onnx"))
        data = prepare(m, ins)
        mpath = os.path.join(tmp, "model.onnx")
        onnx.save(m, mpath)
        args = [cnn, "run", mpath, "--threads", "1"]
        for i, x in enumerate(data):
            np.save(os.path.join(tmp, f"in{i}.npy"), np.ascontiguousarray(x))
            args += ["--input", os.path.join(tmp, f"in{i}.npy")]
        for o in range(len(outs)):
            args += ["--output", os.path.join(tmp, f"out{o}.npy")]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            return False, r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f"exit {r.returncode}"
        for o, want in enumerate(outs):
            got = np.load(os.path.join(tmp, f"out{o}.npy"))
            if got.shape != want.shape:
                return False, f"output {o}: shape {got.shape}, ONNX's {want.shape}"
            bad = np.abs(got.astype(np.float64) - want) > 1e-7 + 1e-3 * np.abs(want)
            if bad.any():
                i = np.unravel_index(np.argmax(bad), bad.shape)
                return False, f"output {o}: {int(bad.sum())} of {bad.size} values differ, e.g. {got[i]} vs {want[i]} at {i}"
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want) / (1e-7 + 1e-3 * np.abs(want)), initial=0)))
    del model
    return True, f"{len(sets)} data set(s), worst error {worst:.2g} of the tolerance"


def main():
    cnn = sys.argv[1]
    passed = failed = skipped = 0
    seen = set()
    with tempfile.TemporaryDirectory() as tmp:
        for suite in SUITES:
            for path in sorted(glob.glob(os.path.join(DATA, suite, "test_*"))):
                if not os.path.exists(os.path.join(path, "model.onnx")):
                    continue
                key = f"{suite}/{os.path.basename(path)}"
                ops = {n.op_type for n in onnx.load(os.path.join(path, "model.onnx")).graph.node}
                if not ops <= SUPPORTED:
                    continue
                seen.add(key)
                if key in OUT_OF_SCOPE:
                    print(f"skip {key}: {OUT_OF_SCOPE[key]}")
                    skipped += 1
                    continue
                ok, msg = run_case(cnn, key, path, tmp)
                print(f"{'ok  ' if ok else 'FAIL'} {key}: {msg}")
                passed, failed = passed + ok, failed + (not ok)
    for key in sorted(set(OUT_OF_SCOPE) - seen):
        print(f"FAIL {key}: listed as out of scope but not among the cases")
        failed += 1
    print(f"{skipped} cases out of scope (listed above with the reason)")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

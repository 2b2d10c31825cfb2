"""export_check.py — checks a file written by `cnn export` (tests/test_export.sh).

  export_check.py input SHAPE SEED OUT.npy
      a random float32 input of SHAPE (NxCxHxW)
  export_check.py check MODEL.onnx X.npy CNN.npy IMPORTED.npy
      onnx.checker (full_check, with shape inference) accepts the file, the batch dimension is the
      symbolic "N", ONNX Runtime's output on X is `cnn run`'s (CNN.npy) within 1e-4 of max |y|, and
      so is `cnn run MODEL.onnx`'s (IMPORTED.npy); prints the errors.
"""
import sys

import numpy as np


def rel_error(a, b):
    if a.shape != b.shape:
        sys.exit(f"shape {a.shape} vs {b.shape}")
    return float(np.abs(a.astype(np.float64) - b).max() / max(np.abs(b).max(), 1e-30))


def check(model, x_path, cnn_path, imported_path):
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(model, full_check=True)
    m = onnx.load(model)
    for v in list(m.graph.input) + list(m.graph.output):
        batch = v.type.tensor_type.shape.dim[0]
        if batch.dim_param != "N":
            sys.exit(f"{v.name}: batch dimension is {batch}, not the symbolic N")
    if m.opset_import[0].version != 13:
        sys.exit(f"opset {m.opset_import[0].version}")
    x, y_cnn, y_imported = np.load(x_path), np.load(cnn_path), np.load(imported_path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    (y_ort,) = session.run(None, {session.get_inputs()[0].name: x})
    err_ort, err_imported = rel_error(y_ort, y_cnn), rel_error(y_imported, y_cnn)
    print(f"{len(m.graph.node)} nodes, checker ok; max error / max |y|: ONNX Runtime {err_ort:.2g}, "
          f"cnn run .onnx {err_imported:.2g}")
    sys.exit(0 if err_ort <= 1e-4 and err_imported <= 1e-4 else 1)


def main():
    if sys.argv[1] == "input":
        shape = tuple(int(s) for s in sys.argv[2].split("x"))
        np.save(sys.argv[4], np.random.RandomState(int(sys.argv[3])).randn(*shape).astype(np.float32))
    elif sys.argv[1] == "check":
        check(*sys.argv[2:6])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

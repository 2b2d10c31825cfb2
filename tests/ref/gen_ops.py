"""gen_ops.py OUTDIR [MODULE...] — writes one PyTorch reference fixture per op case in tests/ref/ops_*.py
(or only in the named modules, e.g. ops_conv)."""
import glob
import importlib.util
import os
import sys

import torch

torch.set_num_threads(1)
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    names = set()
    only = set(sys.argv[2:])
    for path in sorted(glob.glob(os.path.join(here, "ops_*.py"))):
        if only and os.path.basename(path)[:-3] not in only:
            continue
        spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for i, case in enumerate(mod.CASES):
            if case.name in names:
                sys.exit(f"gen_ops: duplicate case name {case.name}")
            names.add(case.name)
            case.generate(os.path.join(out, case.name + ".safetensors"), seed=1000 + len(names))
    print(f"gen_ops: {len(names)} fixtures in {out}")


if __name__ == "__main__":
    main()

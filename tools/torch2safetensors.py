#!/usr/bin/env python3
"""torch2safetensors.py MODEL OUT.safetensors [--pretrained] — a torchvision (or timm) model's
state_dict as a .safetensors file that `cnn run MODEL --weights OUT.safetensors` takes.

Needs only torch (and torchvision or timm); the safetensors package is not required. With
--pretrained the published ImageNet weights are downloaded by torchvision/timm (network needed).
Example: python3 tools/torch2safetensors.py resnet50 resnet50.safetensors --pretrained
"""
import argparse
import json
import struct
import sys

import torch


def save(path, tensors):
    """The Hugging Face safetensors layout: u64 header length, JSON header, raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        dtype = {torch.float32: "F32", torch.int64: "I64"}.get(t.dtype)
        if dtype is None:
            t, dtype = t.float(), "F32"
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--pretrained", action="store_true")
    a = ap.parse_args()
    if a.model in ("inception_v4", "inception_resnet_v2"):
        import timm
        model = timm.create_model(a.model, pretrained=a.pretrained)
    else:
        import torchvision
        ctor = getattr(torchvision.models, a.model, None)
        if ctor is None:
            sys.exit(f"torch2safetensors: torchvision has no model '{a.model}'")
        model = ctor(weights="DEFAULT" if a.pretrained else None)
    save(a.out, model.state_dict())
    print(f"{a.out}: {len(model.state_dict())} tensors")


if __name__ == "__main__":
    main()

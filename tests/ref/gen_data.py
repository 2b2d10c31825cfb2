"""gen_data.py OUTDIR — fixtures for tests/test_data.c: expected values of the real Fashion-MNIST, and
small IDX / CIFAR / npy / PNG / JPEG datasets (good and broken) with their expected pixels, all in
OUTDIR/data.json.

Expected values come from independent readers: numpy + gzip for IDX, numpy for CIFAR records, PNG
files written by hand here (zlib) so the decoder is checked against known pixels, PIL for JPEG, and
torch.nn.functional.interpolate(antialias=True) + torchvision's center_crop for the resize.
"""
import gzip
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


# ---- IDX ----

def idx_bytes(arr, magic=None):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    if magic is None:
        magic = 0x800 | arr.ndim
    head = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.tobytes()


def read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xff
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_reference():
    """Sizes, labels and pixel checksums of the installed Fashion-MNIST (None when it is absent)."""
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images_path = os.path.join(FASHION_DIR, f"{prefix}-images-idx3-ubyte.gz")
        labels_path = os.path.join(FASHION_DIR, f"{prefix}-labels-idx1-ubyte.gz")
        if not (os.path.exists(images_path) and os.path.exists(labels_path)):
            return None
        images = read_idx_gz(images_path)
        labels = read_idx_gz(labels_path)
        per_image = images.reshape(len(images), -1).astype(np.int64).sum(axis=1)
        weights = np.arange(len(images), dtype=np.int64) % 1000 + 1
        out[split] = {
            "n": int(len(images)),
            "height": int(images.shape[1]),
            "width": int(images.shape[2]),
            "first_labels": labels[:20].astype(int).tolist(),
            "histogram": np.bincount(labels, minlength=10).astype(int).tolist(),
            "pixel_sum": int(per_image.sum()),
            "weighted_sum": int((per_image * weights).sum()),  # sum_i (i % 1000 + 1) * sum(image i)
            "first_image": images[0].reshape(-1).astype(int).tolist(),
            "last_image": images[-1].reshape(-1).astype(int).tolist(),
        }
    return out


def idx_fixtures(out, rng):
    ref = {}
    train_x = rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)  # 5 rows, 4 columns: non-square
    train_y = rng.integers(0, 10, size=7, dtype=np.uint8)
    test_x = rng.integers(0, 256, size=(3, 5, 4), dtype=np.uint8)
    test_y = np.array([9, 0, 4], dtype=np.uint8)
    d = os.path.join(out, "mnist")
    write(os.path.join(d, "train-images-idx3-ubyte"), idx_bytes(train_x))          # plain
    write(os.path.join(d, "train-labels-idx1-ubyte"), idx_bytes(train_y))
    write(os.path.join(d, "t10k-images-idx3-ubyte.gz"), gzip.compress(idx_bytes(test_x)))  # gzip
    write(os.path.join(d, "t10k-labels-idx1-ubyte.gz"), gzip.compress(idx_bytes(test_y)))
    ref["mnist"] = {"train_pixels": train_x.reshape(-1).astype(int).tolist(), "train_labels": train_y.astype(int).tolist(),
                    "test_pixels": test_x.reshape(-1).astype(int).tolist(), "test_labels": test_y.astype(int).tolist()}

    def bad(name, images, labels):
        write(os.path.join(out, name, "train-images-idx3-ubyte.gz"), images)
        write(os.path.join(out, name, "train-labels-idx1-ubyte.gz"), labels)

    good_images = gzip.compress(idx_bytes(train_x))
    good_labels = gzip.compress(idx_bytes(train_y))
    bad("idx_magic", gzip.compress(idx_bytes(train_x, magic=0x00000801)), good_labels)
    bad("idx_truncated", gzip.compress(idx_bytes(train_x)[:-10]), good_labels)         # data 10 bytes short
    bad("idx_truncated_gz", good_images[: len(good_images) // 2], good_labels)          # gzip stream cut
    bad("idx_label_magic", good_images, gzip.compress(idx_bytes(train_y, magic=0x00000803)))
    bad("idx_count", good_images, gzip.compress(idx_bytes(train_y[:6])))
    labels = train_y.copy()
    labels[3] = 10
    bad("idx_label", good_images, gzip.compress(idx_bytes(labels)))
    return ref


# ---- CIFAR ----

def cifar_records(rng, n, label_bytes, classes):
    pixels = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    fine = rng.integers(0, classes, size=n, dtype=np.uint8)
    coarse = fine // 5
    cols = [coarse[:, None], fine[:, None]] if label_bytes == 2 else [fine[:, None]]
    return np.concatenate(cols + [pixels], axis=1), pixels, fine


def cifar_fixtures(out, rng):
    ref = {}
    d = os.path.join(out, "cifar10")
    counts = [2, 1, 1, 1, 1]
    train_p, train_y = [], []
    for i, n in enumerate(counts):
        rec, p, y = cifar_records(rng, n, 1, 10)
        write(os.path.join(d, f"data_batch_{i + 1}.bin"), rec.tobytes())
        train_p.append(p)
        train_y.append(y)
    rec, test_p, test_y = cifar_records(rng, 3, 1, 10)
    write(os.path.join(d, "test_batch.bin"), rec.tobytes())
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    write(os.path.join(d, "batches.meta.txt"), ("\n".join(names) + "\n\n").encode())
    train_p = np.concatenate(train_p)
    ref["cifar10"] = {"train_labels": np.concatenate(train_y).astype(int).tolist(), "test_labels": test_y.astype(int).tolist(),
                      "train_pixels": train_p.reshape(-1).astype(int).tolist(),
                      "test_pixels": test_p.reshape(-1).astype(int).tolist(), "names": names}

    d = os.path.join(out, "cifar100", "cifar-100-binary")  # the official archive's folder
    rec, p, y = cifar_records(rng, 4, 2, 100)
    write(os.path.join(d, "train.bin"), rec.tobytes())
    rec, tp, ty = cifar_records(rng, 2, 2, 100)
    write(os.path.join(d, "test.bin"), rec.tobytes())
    fine_names = [f"fine{k:02d}" for k in range(100)]
    write(os.path.join(d, "fine_label_names.txt"), ("\n".join(fine_names) + "\n").encode())
    ref["cifar100"] = {"train_labels": y.astype(int).tolist(), "test_labels": ty.astype(int).tolist(),
                       "train_pixels": p.reshape(-1).astype(int).tolist()}

    # Broken: a truncated batch, a label out of range, a short names file.
    d = os.path.join(out, "cifar_truncated")
    for i in range(5):
        rec, _, _ = cifar_records(rng, 1, 1, 10)
        data = rec.tobytes()
        write(os.path.join(d, f"data_batch_{i + 1}.bin"), data[:-1] if i == 2 else data)
    rec, _, _ = cifar_records(rng, 2, 1, 10)
    rec[1, 0] = 10
    write(os.path.join(out, "cifar_label", "test_batch.bin"), rec.tobytes())
    rec, _, _ = cifar_records(rng, 2, 2, 100)
    rec[0, 1] = 100
    write(os.path.join(out, "cifar100_label", "test.bin"), rec.tobytes())
    rec, _, _ = cifar_records(rng, 2, 1, 10)
    write(os.path.join(out, "cifar_names", "test_batch.bin"), rec.tobytes())
    write(os.path.join(out, "cifar_names", "batches.meta.txt"), b"cat\ndog\n")
    return ref


# ---- npy ----

def npy_fixtures(out, rng):
    d = os.path.join(out, "npy")
    os.makedirs(d, exist_ok=True)
    x = rng.standard_normal((5, 2, 3, 4)).astype(np.float32)
    y = np.array([3, 0, 1, 3, 2], dtype=np.int64)
    np.save(os.path.join(d, "x_f32.npy"), x)
    np.save(os.path.join(d, "y_i64.npy"), y)
    xu = rng.integers(0, 256, size=(4, 1, 3, 3), dtype=np.uint8)
    yu = np.array([0, 6, 2, 2], dtype=np.int32)
    np.save(os.path.join(d, "x_u8.npy"), xu)
    np.save(os.path.join(d, "y_i32.npy"), yu)
    np.save(os.path.join(d, "y_short.npy"), y[:4])
    np.save(os.path.join(d, "y_neg.npy"), np.array([1, 0, -1, 2, 0], dtype=np.int64))
    np.save(os.path.join(d, "y_float.npy"), y.astype(np.float32))
    # A loader fixture: sample i is filled with the value i in every element, label i % 3.
    n = 23
    xi = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, 1, 6, 5)).copy()
    np.save(os.path.join(d, "x_index.npy"), xi)
    np.save(os.path.join(d, "y_index.npy"), (np.arange(n) % 3).astype(np.int64))
    # An augmentation fixture: distinct pixel values, so that a crop and flip can be recognised.
    xa = (rng.permutation(7 * 2 * 5 * 6).reshape(7, 2, 5, 6) + 1).astype(np.float32)
    np.save(os.path.join(d, "x_aug.npy"), xa)
    np.save(os.path.join(d, "y_aug.npy"), np.arange(7, dtype=np.int64) % 2)
    return {"npy": {"x_f32": x.reshape(-1).astype(float).tolist(), "y_i64": y.tolist(),
                    "x_u8": xu.reshape(-1).astype(int).tolist(), "y_i32": yu.astype(int).tolist()}}


# ---- images ----

def png_bytes(width, height, color_type, bit_depth, raw_rows, palette=None, trns=None):
    """A PNG written by hand: IHDR, optional PLTE / tRNS, one zlib IDAT (filter 0 per row), IEND."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", bytes(trns))
    out += chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + bytes(r) for r in raw_rows)))
    return out + chunk(b"IEND", b"")


def png_images(rng, h, w):
    """name -> (png bytes, expected RGB (h, w, 3) uint8)."""
    imgs = {}
    rgb = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    imgs["rgb8.png"] = (png_bytes(w, h, 2, 8, [r.reshape(-1) for r in rgb]), rgb)
    gray = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
    imgs["gray8.png"] = (png_bytes(w, h, 0, 8, list(gray)), np.repeat(gray[:, :, None], 3, axis=2))
    ga = rng.integers(0, 256, size=(h, w, 2), dtype=np.uint8)
    imgs["gray_alpha.png"] = (png_bytes(w, h, 4, 8, [r.reshape(-1) for r in ga]), np.repeat(ga[:, :, :1], 3, axis=2))
    rgba = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
    imgs["rgba8.png"] = (png_bytes(w, h, 6, 8, [r.reshape(-1) for r in rgba]), rgba[:, :, :3].copy())
    palette = rng.integers(0, 256, size=(6, 3), dtype=np.uint8)
    index = rng.integers(0, 6, size=(h, w), dtype=np.uint8)
    imgs["palette.png"] = (png_bytes(w, h, 3, 8, list(index), palette=palette, trns=[0, 128]), palette[index])
    rgb16 = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    wide = (rgb16.astype(">u2") * 257).astype(">u2")  # 16-bit values that are exact multiples of 257
    imgs["rgb16.png"] = (png_bytes(w, h, 2, 16, [r.reshape(-1).tobytes() for r in wide]), rgb16)
    g2 = rng.integers(0, 4, size=(h, w), dtype=np.uint8)  # 2-bit grey, packed 4 pixels a byte, MSB first
    packed = []
    for r in g2:
        bits = np.zeros(((w + 3) // 4) * 4, dtype=np.uint8)
        bits[:w] = r
        packed.append(bytes((bits[0::4] << 6) | (bits[1::4] << 4) | (bits[2::4] << 2) | bits[3::4]))
    imgs["gray2.png"] = (png_bytes(w, h, 0, 2, packed), np.repeat((g2 * 85)[:, :, None], 3, axis=2))
    return imgs


def jpeg_image(rng, h, w, grey=False):
    """(JPEG bytes, the pixels PIL decodes from them), or None without PIL."""
    try:
        from PIL import Image
    except ImportError:
        return None
    import io
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), ((xx + yy) * 127 // max(w + h - 2, 1))], axis=2)
    smooth = np.clip(smooth + rng.integers(-8, 9, size=smooth.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(smooth[:, :, 0] if grey else smooth, "L" if grey else "RGB")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return data, decoded


def folder_fixtures(out, rng):
    h, w = 4, 5
    root = os.path.join(out, "folder")
    imgs = png_images(rng, h, w)
    layout = {"train/cat": ["rgb8.png", "gray8.png"], "train/dog": ["rgba8.png", "palette.png"],
              "train/fish": ["rgb16.png", "gray_alpha.png", "gray2.png"]}
    expected = {}
    for sub, names in layout.items():
        for name in names:
            data, pix = imgs[name]
            write(os.path.join(root, sub, name), data)
            expected[(sub, name)] = (pix, True)
    data, pix = imgs["rgb8.png"]
    write(os.path.join(root, "train/fish/UPPER.PNG"), data)  # extensions are case-insensitive
    expected[("train/fish", "UPPER.PNG")] = (pix, True)
    write(os.path.join(root, "train/cat/notes.txt"), b"not an image: ignored\n")
    write(os.path.join(root, "train/cat/.hidden.png"), b"hidden: ignored\n")
    jpeg = jpeg_image(rng, h, w)
    if jpeg:
        write(os.path.join(root, "train/dog/photo.jpg"), jpeg[0])
        expected[("train/dog", "photo.jpg")] = (jpeg[1], False)
        grey = jpeg_image(rng, h, w, grey=True)
        write(os.path.join(root, "test/dog/grey.jpeg"), grey[0])
        expected[("test/dog", "grey.jpeg")] = (grey[1], False)
    for sub, name in (("test/cat", "gray8.png"), ("test/dog", "palette.png")):
        data, pix = imgs[name]
        write(os.path.join(root, sub, name), data)
        expected[(sub, name)] = (pix, True)
    classes = ["cat", "dog", "fish"]
    ref = {"classes": classes, "jpeg": bool(jpeg)}
    for split in ("train", "test"):
        entries = []
        for k, cls in enumerate(classes):
            sub = f"{split}/{cls}"
            for name in sorted(n for (s, n) in expected if s == sub):
                pix, exact = expected[(sub, name)]
                entries.append({"file": f"{sub}/{name}", "label": k, "exact": exact,
                                "pixels": pix.reshape(-1).astype(int).tolist()})
        ref[split] = entries

    # Resizing: two images, several target sizes, expected from torch / torchvision.
    import torch
    import torch.nn.functional as F
    import torchvision.transforms.functional as TF
    rroot = os.path.join(out, "folder_resize")
    wide = rng.integers(0, 256, size=(9, 13, 3), dtype=np.uint8)     # h=9, w=13
    tall = rng.integers(0, 256, size=(11, 7), dtype=np.uint8)        # h=11, w=7, grey
    write(os.path.join(rroot, "a/wide.png"), png_bytes(13, 9, 2, 8, [r.reshape(-1) for r in wide]))
    write(os.path.join(rroot, "b/tall.png"), png_bytes(7, 11, 0, 8, list(tall)))
    sources = [torch.from_numpy(wide).permute(2, 0, 1).float() / 255,
               torch.from_numpy(np.repeat(tall[:, :, None], 3, axis=2)).permute(2, 0, 1).float() / 255]
    resize = []
    for th, tw in ((6, 6), (3, 3), (16, 20), (9, 13), (5, 3), (30, 30)):
        outs = []
        for src in sources:
            sh, sw = src.shape[1:]
            if th == tw:  # torchvision's Resize(S) + CenterCrop(S): the shorter side becomes S
                r = TF.resize(src, [th], antialias=True)
            else:         # the same rule for a rectangle: scale to cover it, the limiting side exact
                if th * sw >= tw * sh:
                    rh, rw = th, max(tw, th * sw // sh)
                else:
                    rh, rw = max(th, tw * sh // sw), tw
                r = F.interpolate(src[None], size=(rh, rw), mode="bilinear", align_corners=False, antialias=True)[0]
            outs.append(TF.center_crop(r, [th, tw]).reshape(-1).tolist())
        resize.append({"height": th, "width": tw, "images": outs})
    ref["resize"] = resize

    # Broken: an undecodable PNG, a truncated JPEG, a test class unknown to train, train without test.
    write(os.path.join(out, "folder_bad/a/ok.png"), imgs["rgb8.png"][0])
    write(os.path.join(out, "folder_bad/a/broken.png"), b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDRgarbage" * 3)
    write(os.path.join(out, "folder_bad/b/short.png"), imgs["rgb8.png"][0][:-30])
    write(os.path.join(out, "folder_bad/b/text.png"), b"just text\n")
    if jpeg:
        write(os.path.join(out, "folder_bad/b/trunc.jpg"), jpeg[0][: len(jpeg[0]) // 2])
    for sub in ("train/a", "train/b", "test/a", "test/c"):
        write(os.path.join(out, "folder_notclass", sub, "x.png"), imgs["gray8.png"][0])
    write(os.path.join(out, "folder_notest/train/a/x.png"), imgs["gray8.png"][0])
    write(os.path.join(out, "folder_noclass/loose.png"), imgs["gray8.png"][0])
    return {"folder": ref}


def main():
    out = sys.argv[1]
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    rng = np.random.default_rng(20240601)
    ref = {"fashion": fashion_reference(), "fashion_dir": FASHION_DIR}
    ref.update(idx_fixtures(out, rng))
    ref.update(cifar_fixtures(out, rng))
    ref.update(npy_fixtures(out, rng))
    ref.update(folder_fixtures(out, rng))
    with open(os.path.join(out, "data.json"), "w") as f:
        json.dump(ref, f)
    print(f"gen_data: fixtures in {out}" + ("" if ref["fashion"] else f" (no Fashion-MNIST at {FASHION_DIR})"))


if __name__ == "__main__":
    main()

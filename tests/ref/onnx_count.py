"""onnx_count.py MODEL.onnx — prints the number of float elements in an ONNX file's initializers,
with thousands separators, reading the protobuf wire format by hand (no onnx package needed)."""
import sys


def varint(b, i):
    shift = value = 0
    while True:
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return value, i


def fields(b):
    """(field number, wire type, value or bytes) of one protobuf message."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(b, i)
        elif wire == 1:
            v, i = b[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wire == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type")
        yield num, wire, v


def main():
    data = open(sys.argv[1], "rb").read()
    graph = next(v for n, w, v in fields(data) if n == 7)          # ModelProto.graph
    total = 0
    for n, w, v in fields(graph):
        if n != 5:                                                   # GraphProto.initializer
            continue
        dims = []
        for fn, fw, fv in fields(v):                                 # TensorProto.dims (packed or not)
            if fn == 1 and fw == 0:
                dims.append(fv)
            elif fn == 1 and fw == 2:
                j = 0
                while j < len(fv):
                    d, j = varint(fv, j)
                    dims.append(d)
        count = 1
        for d in dims:
            count *= d
        total += count
    print(f"{total:,}")


if __name__ == "__main__":
    main()

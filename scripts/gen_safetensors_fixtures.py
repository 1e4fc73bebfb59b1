#!/usr/bin/env python3
"""Writes and checks the safetensors fixtures under tests/fixtures/safetensors/.

    python3 scripts/gen_safetensors_fixtures.py generate
    python3 scripts/gen_safetensors_fixtures.py verify

`generate` writes f32/f16/bf16 tensor files from torch tensors, expected.json
with the float32 bit patterns a reader must produce, and
written_by_tessera.json, the input that Tessera's serializer turns into
written_by_tessera.safetensors. That file is written by Tessera, not here:

    deno eval 'import s from "./tests/fixtures/safetensors/written_by_tessera.json" with {type: "json"};
      import {serializeSafetensors} from "./src/io/safetensors_format.ts";
      const t = Object.entries(s.tensors).map(([n, v]) =>
        [n, {shape: v.shape, data: new Float32Array(new Uint32Array(v.bits).buffer)}]);
      Deno.writeFileSync("tests/fixtures/safetensors/written_by_tessera.safetensors",
        serializeSafetensors(t, s.metadata));'

`verify` then checks that written_by_tessera.safetensors loads in torch with
exactly the input bits, and that it is byte for byte what Python writes for
the same tensors.

Files are written with the `safetensors` package when it is importable and
with the hand-written writer below otherwise; both follow the format: u64 LE
header length, compact JSON header with `__metadata__` first and tensors
sorted by (dtype alignment descending, name), padded with spaces to a
multiple of 8, then the little-endian data.
"""

import json
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "safetensors")

# Order of the reference implementation's Dtype enum; writers sort by it, descending.
DTYPE_ORDER = ["BOOL", "F4", "F6_E2M3", "F6_E3M2", "U8", "I8", "F8_E5M2", "F8_E4M3",
               "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "I16", "U16", "F16", "BF16",
               "I32", "U32", "F32", "C64", "F64", "I64", "U64"]
TORCH_DTYPE = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
BIT_VIEW = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}

try:
    import safetensors
    import safetensors.torch as official
except ImportError:
    safetensors = official = None


def raw_bytes(t):
    """Little-endian bytes of a tensor, read through an integer view so NaN payloads stay."""
    bits = t.contiguous().view(BIT_VIEW[t.dtype]).numpy()
    return bits.astype(bits.dtype.newbyteorder("<")).tobytes()


def serialize_by_hand(tensors, metadata=None):
    items = sorted(tensors.items(), key=lambda kv: (-DTYPE_ORDER.index(TORCH_DTYPE[kv[1].dtype]), kv[0]))
    header, chunks, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = dict(sorted(metadata.items()))
    for name, t in items:
        data = raw_bytes(t)
        header[name] = {"dtype": TORCH_DTYPE[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def parse_by_hand(data):
    (n,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    base, out = 8 + n, {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        assert info["dtype"] == "F32", info
        values = np.frombuffer(data[base + begin:base + end], dtype="<f4").astype(np.float32)
        out[name] = torch.from_numpy(values.copy()).reshape(info["shape"])
    return out, metadata


def serialize(tensors, metadata=None):
    if official is not None:
        return official.save(tensors, metadata=metadata)
    return serialize_by_hand(tensors, metadata)


def from_bits(bits, dtype):
    """Builds a tensor from unsigned bit patterns, so special values are exact."""
    width = {torch.float32: 32, torch.float16: 16, torch.bfloat16: 16}[dtype]
    signed = [b - (1 << width) if b >= 1 << (width - 1) else b for b in bits]
    return torch.tensor(signed, dtype=BIT_VIEW[dtype]).view(dtype)


def f32_bits(t):
    return [b & 0xFFFFFFFF for b in t.contiguous().view(torch.int32).flatten().tolist()]


def widened_bits(t):
    """The float32 bits a reader must produce: exact widening, NaN payload kept."""
    if t.dtype == torch.float32:
        return f32_bits(t)
    halves = [b & 0xFFFF for b in t.contiguous().view(torch.int16).flatten().tolist()]
    if t.dtype == torch.bfloat16:
        return [h << 16 for h in halves]
    out = []
    for h in halves:
        sign, exp, man = (h & 0x8000) << 16, (h >> 10) & 0x1F, h & 0x3FF
        if exp == 0x1F:
            out.append(sign | 0x7F800000 | man << 13)
        elif exp:
            out.append(sign | (exp + 112) << 23 | man << 13)
        elif man == 0:
            out.append(sign)
        else:
            # value = man * 2^-24 exactly; struct rounds nothing here
            out.append(sign | struct.unpack("<I", struct.pack("<f", man * 2.0 ** -24))[0])
    return out


def check_against_torch(t, bits):
    """torch's own widening must agree wherever it is defined without NaN payload questions."""
    ref = f32_bits(t.float())
    for got, want in zip(bits, ref):
        is_nan = (want & 0x7F800000) == 0x7F800000 and want & 0x7FFFFF
        assert got == want or is_nan, (hex(got), hex(want))


F16_SPECIAL = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0x3555, 0x7BFF,
               0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0xFE01, 0x7C01, 0x7DFF]
BF16_SPECIAL = [0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x3F80, 0x7F7F, 0xFF7F, 0x7F80,
                0xFF80, 0x7FC0, 0xFFC1, 0x7F81]
F32_SPECIAL = [0x00000000, 0x80000000, 0x00000001, 0x007FFFFF, 0x3F800000, 0x7F7FFFFF,
               0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001, 0x7F800001]


def generate():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(20240601)
    files = {
        "f32.safetensors": ({"weight": torch.randn(3, 4), "bias": torch.randn(4),
                             "special": from_bits(F32_SPECIAL, torch.float32)}, {"format": "pt"}),
        "f16.safetensors": ({"weight": (torch.randn(4, 5) * 10).half(),
                             "special": from_bits(F16_SPECIAL, torch.float16)}, None),
        "bf16.safetensors": ({"weight": torch.randn(3, 5).bfloat16(),
                              "special": from_bits(BF16_SPECIAL, torch.bfloat16)}, None),
    }
    expected = {"writer": writer_name()}
    for filename, (tensors, metadata) in files.items():
        with open(os.path.join(OUT, filename), "wb") as f:
            f.write(serialize(tensors, metadata))
        entry = {"metadata": metadata or {}, "tensors": {}}
        for name, t in tensors.items():
            bits = widened_bits(t)
            check_against_torch(t, bits)
            entry["tensors"][name] = {"dtype": TORCH_DTYPE[t.dtype], "shape": list(t.shape), "bits": bits}
        expected[filename] = entry
    write_json("expected.json", expected)

    # Input for Tessera's serializer: names that trip naive readers, odd shapes, special values.
    g = torch.Generator().manual_seed(7)
    spec = {"metadata": {"format": "pt", "producer": "tessera"}, "tensors": {}}
    shapes = {"b.weight": [2, 3], "a.bias": [3], "__proto__": [2], "constructor": [1],
              "scalar": [], "empty": [0, 4], "\u00fcn\u00efcode": [2, 2],
              "\ufb01": [1], "\U0001F600": [1]}
    for name, shape in shapes.items():
        spec["tensors"][name] = {"shape": shape, "bits": f32_bits(torch.randn(shape, generator=g))}
    spec["tensors"]["special"] = {"shape": [len(F32_SPECIAL)], "bits": F32_SPECIAL}
    write_json("written_by_tessera.json", spec)
    print(f"wrote fixtures to {os.path.normpath(OUT)} with {writer_name()}")


def verify():
    with open(os.path.join(OUT, "written_by_tessera.json")) as f:
        spec = json.load(f)
    with open(os.path.join(OUT, "written_by_tessera.safetensors"), "rb") as f:
        data = f.read()
    tensors = {name: from_bits(v["bits"], torch.float32).reshape(v["shape"])
               for name, v in spec["tensors"].items()}

    loaded, metadata = parse_by_hand(data)
    readers = [("hand-written reader", loaded, metadata)]
    if official is not None:
        path = os.path.join(OUT, "written_by_tessera.safetensors")
        with official.safe_open(path, framework="pt") as f:
            readers.append((writer_name(), {k: f.get_tensor(k) for k in f.keys()}, f.metadata()))
    for reader, got, got_metadata in readers:
        assert got_metadata == spec["metadata"], (reader, got_metadata)
        assert sorted(got) == sorted(tensors), (reader, sorted(got))
        for name, want in tensors.items():
            assert list(got[name].shape) == list(want.shape), (reader, name, got[name].shape)
            assert got[name].dtype == torch.float32, (reader, name, got[name].dtype)
            assert f32_bits(got[name]) == f32_bits(want), (reader, name)
        print(f"ok: {reader} reads every tensor of written_by_tessera.safetensors bit for bit")

    expected = serialize_by_hand(tensors, spec["metadata"])
    assert expected == data, "the hand-written writer writes different bytes"
    print(f"ok: the hand-written writer writes the same {len(data)} bytes as Tessera")
    if official is not None:
        # The official writer keeps metadata in a Rust HashMap, so its key order
        # changes from run to run; everything else must match byte for byte.
        expected = official.save(tensors, metadata=spec["metadata"])
        assert canonical(expected) == canonical(data), f"{writer_name()} writes different bytes"
        print(f"ok: {writer_name()} writes the same {len(data)} bytes as Tessera, "
              f"up to the order of metadata keys")


def canonical(data):
    """The bytes with the metadata keys sorted, which keeps the length."""
    (n,) = struct.unpack_from("<Q", data)
    header = json.loads(data[8:8 + n].decode("utf-8"))
    if "__metadata__" in header:
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return data[:8] + text.ljust(n) + data[8 + n:]


def writer_name():
    return f"safetensors {safetensors.__version__}" if official else "hand-written writer"


def write_json(name, value):
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "generate"
    {"generate": generate, "verify": verify}[command]()

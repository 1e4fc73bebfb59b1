"""Writes tests/fixtures/layout.json: PyTorch 1.13 (CPU, float32) results of
the layout ops (cat, permute, transpose, unsqueeze, squeeze, slice) and the
extrema (max, argmax, topk), with gradients of sum(values * R) for max and
topk. Floats are written as numbers, with "nan"/"inf"/"-inf" strings for the
non-finite ones (JSON has no NaN).

Usage: /usr/bin/python3 scripts/gen_layout_fixtures.py
"""

import json
import math
import pathlib

import torch

torch.manual_seed(0)
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "layout.json"


def enc(t):
    def f(v):
        if isinstance(v, float):
            if math.isnan(v):
                return "nan"
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
        return v

    return {"shape": list(t.shape), "data": [f(v) for v in t.flatten().tolist()]}


def rand(*shape):
    return torch.randn(tuple(shape), dtype=torch.float32)


cases = []

# Layout ops.
a, b, c = rand(2, 3, 4), rand(2, 1, 4), rand(2, 5, 4)
cases.append({"op": "cat", "dim": 1, "inputs": [enc(a), enc(b), enc(c)],
              "expected": enc(torch.cat([a, b, c], 1))})
a, b = rand(3, 2), rand(4, 2)
cases.append({"op": "cat", "dim": 0, "inputs": [enc(a), enc(b)],
              "expected": enc(torch.cat([a, b], 0))})
a, b = rand(2, 3, 1), rand(2, 3, 2)
cases.append({"op": "cat", "dim": -1, "inputs": [enc(a), enc(b)],
              "expected": enc(torch.cat([a, b], -1))})
ia = torch.tensor([[2**31 - 1, -5], [7, -2**31]], dtype=torch.int32)
ib = torch.tensor([[16777217, 3]], dtype=torch.int32)
cases.append({"op": "cat", "dim": 0, "int32": True, "inputs": [enc(ia), enc(ib)],
              "expected": enc(torch.cat([ia, ib], 0))})
x = rand(2, 3, 4)
cases.append({"op": "permute", "dims": [2, 0, 1], "inputs": [enc(x)],
              "expected": enc(x.permute(2, 0, 1).contiguous())})
cases.append({"op": "permute", "dims": [1, 2, 0], "inputs": [enc(x)],
              "expected": enc(x.permute(1, 2, 0).contiguous())})
cases.append({"op": "transpose", "dims": [0, 2], "inputs": [enc(x)],
              "expected": enc(x.transpose(0, 2).contiguous())})
cases.append({"op": "unsqueeze", "dim": -1, "inputs": [enc(x)], "expected": enc(x.unsqueeze(-1))})
cases.append({"op": "unsqueeze", "dim": 1, "inputs": [enc(x)], "expected": enc(x.unsqueeze(1))})
y = rand(1, 3, 1, 2)
cases.append({"op": "squeeze", "inputs": [enc(y)], "expected": enc(y.squeeze())})
cases.append({"op": "squeeze", "dim": 2, "inputs": [enc(y)], "expected": enc(y.squeeze(2))})
cases.append({"op": "squeeze", "dim": 1, "inputs": [enc(y)], "expected": enc(y.squeeze(1))})
z = rand(5, 6)
cases.append({"op": "slice", "ranges": [[1, -1], [-4, 99]], "inputs": [enc(z)],
              "expected": enc(z[1:-1, -4:99])})
cases.append({"op": "slice", "ranges": [[-99, 2]], "inputs": [enc(z)], "expected": enc(z[-99:2])})

# Extrema. Random data has no ties, so topk indices are comparable too.
nan = float("nan")
for shape, dim in [((3, 7), 1), ((4, 5, 3), 0), ((2, 3, 6), -1), ((17,), 0)]:
    x = rand(*shape).requires_grad_(True)
    values, indices = torch.max(x, dim)
    r = rand(*values.shape)
    (values * r).sum().backward()
    cases.append({"op": "max", "dim": dim, "inputs": [enc(x.detach())], "weights": enc(r),
                  "expected": enc(values.detach()), "indices": enc(indices.int()),
                  "grad": enc(x.grad)})
    cases.append({"op": "argmax", "dim": dim, "inputs": [enc(x.detach())],
                  "indices": enc(torch.argmax(x, dim).int())})
    cases.append({"op": "argmax", "inputs": [enc(x.detach())],
                  "indices": enc(torch.argmax(x).int())})
x = torch.tensor([[1.0, nan, 3.0, nan], [2.0, 5.0, 5.0, -1.0], [-math.inf] * 4,
                  [0.0, -0.0, 0.0, -2.0]])
values, indices = torch.max(x, 1)
cases.append({"op": "max", "dim": 1, "inputs": [enc(x)], "expected": enc(values),
              "indices": enc(indices.int())})
cases.append({"op": "argmax", "dim": 1, "inputs": [enc(x)], "indices": enc(torch.argmax(x, 1).int())})
cases.append({"op": "argmax", "dim": 0, "inputs": [enc(x)], "indices": enc(torch.argmax(x, 0).int())})
for shape, k, dim, largest in [((3, 9), 4, -1, True), ((3, 9), 4, 1, False), ((6, 2, 3), 3, 0, True),
                               ((2, 50), 10, 1, True), ((5,), 5, 0, False)]:
    x = rand(*shape).requires_grad_(True)
    values, indices = torch.topk(x, k, dim=dim, largest=largest)
    r = rand(*values.shape)
    (values * r).sum().backward()
    cases.append({"op": "topk", "k": k, "dim": dim, "largest": largest,
                  "inputs": [enc(x.detach())], "weights": enc(r), "expected": enc(values.detach()),
                  "indices": enc(indices.int()), "grad": enc(x.grad)})
x = torch.tensor([2.0, nan, 5.0, 1.0, nan, 2.5])
for largest in [True, False]:
    values, indices = torch.topk(x, 6, largest=largest)
    cases.append({"op": "topk", "k": 6, "dim": -1, "largest": largest, "inputs": [enc(x)],
                  "expected": enc(values), "indices": enc(indices.int())})

OUT.write_text(json.dumps({"torch": torch.__version__, "cases": cases}) + "\n")
print(f"wrote {OUT} ({len(cases)} cases)")

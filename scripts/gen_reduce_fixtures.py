"""PyTorch reference values for reductions, softmax / logSoftmax along any
dimension, variance, broadcasting matmul and special values (NaN, +-inf).

Run with the system python (PyTorch 1.13): /usr/bin/python3 scripts/gen_reduce_fixtures.py
Writes tests/fixtures/reduce.json. Special floats are written as the strings
"nan", "inf" and "-inf" (JSON has no literal for them).
"""

import json
import math
import os

import torch

torch.manual_seed(0)


def enc(t):
    def one(v):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v

    flat = [one(float(v)) for v in t.detach().reshape(-1).tolist()]
    return {"shape": list(t.shape), "data": flat}


def rand(*shape):
    return (torch.rand(*shape, dtype=torch.float32) * 4 - 2).requires_grad_(True)


cases = []


def case(name, op, inputs, kwargs, fn):
    """Forward value plus the gradient of sum(out * w) for a fixed random w."""
    out = fn(*inputs)
    w = torch.rand(out.shape, dtype=torch.float32) * 2 - 1
    grads = []
    finite = all(math.isfinite(float(v)) for v in out.detach().reshape(-1).tolist())
    if finite and all(t.requires_grad for t in inputs):
        grads = torch.autograd.grad((out * w).sum(), inputs)
    cases.append({
        "name": name,
        "op": op,
        "kwargs": kwargs,
        "inputs": [enc(t) for t in inputs],
        "weights": enc(w),
        "output": enc(out),
        "grads": [enc(g) for g in grads],
    })


x35 = rand(3, 5)
x345 = rand(3, 4, 5)
case("variance all unbiased", "variance", [x35], {}, lambda x: torch.var(x))
case("variance dim 1 biased keepDim", "variance", [x35], {"dims": 1, "correction": 0, "keepDim": True},
     lambda x: torch.var(x, 1, unbiased=False, keepdim=True))
case("variance dims [0, 2]", "variance", [x345], {"dims": [0, 2]}, lambda x: torch.var(x, (0, 2)))
case("variance dim -2 correction 2", "variance", [x345], {"dims": -2, "correction": 2},
     lambda x: torch.var(x, -2, correction=2))
case("sum dims [0, 2] keepDim", "sum", [x345], {"dims": [0, 2], "keepDim": True},
     lambda x: torch.sum(x, (0, 2), keepdim=True))
case("mean dim 1", "mean", [x345], {"dims": 1}, lambda x: torch.mean(x, 1))
for dim in (0, 1, -1):
    case(f"softmax dim {dim}", "softmax", [x345], {"dim": dim}, lambda x, d=dim: torch.softmax(x, d))
    case(f"logSoftmax dim {dim}", "logSoftmax", [x345], {"dim": dim},
         lambda x, d=dim: torch.log_softmax(x, d))
case("softmax scale 0.5 dim 0", "softmax", [x35], {"dim": 0, "scale": 0.5},
     lambda x: torch.softmax(0.5 * x, 0))

special = torch.tensor([[1.0, float("nan"), 2.0], [1.0, float("inf"), 2.0], [1.0, float("-inf"), 2.0],
                        [0.5, -1.0, 3.0]])
case("softmax special values", "softmax", [special], {}, lambda x: torch.softmax(x, -1))
case("logSoftmax special values", "logSoftmax", [special], {}, lambda x: torch.log_softmax(x, -1))
case("sum with NaN", "sum", [special[:1]], {}, lambda x: torch.sum(x))
case("mean with NaN dim 1", "mean", [special[:1]], {"dims": 1}, lambda x: torch.mean(x, 1))
case("mean of empty", "mean", [torch.zeros(0)], {}, lambda x: torch.mean(x))
case("sum of empty", "sum", [torch.zeros(0)], {}, lambda x: torch.sum(x))
case("variance with NaN", "variance", [special[:1]], {}, lambda x: torch.var(x))
case("variance of one element", "variance", [torch.tensor([3.0])], {}, lambda x: torch.var(x))
case("crossEntropy with NaN logits", "crossEntropy", [special[:1].clone(), torch.tensor([0])], {},
     lambda x, t: torch.nn.functional.cross_entropy(x, t))

t = torch.tensor([0, 2, 1, 2])
logits = rand(4, 3)
cases.append({
    "name": "crossEntropy",
    "op": "crossEntropy",
    "kwargs": {},
    "inputs": [enc(logits), enc(t.float())],
    "weights": enc(torch.tensor(1.0)),
    "output": enc(torch.nn.functional.cross_entropy(logits, t)),
    "grads": [enc(torch.autograd.grad(torch.nn.functional.cross_entropy(logits, t), logits)[0])],
})

for sa, sb in [((2, 1, 3, 4), (3, 4, 2)), ((4,), (3, 4, 2)), ((2, 3, 4), (4,)), ((4,), (4,)),
               ((3, 2, 4), (4, 5)), ((1, 2, 3), (2, 3, 2))]:
    a = rand(*sa)
    b = rand(*sb)
    case(f"matmul {list(sa)} @ {list(sb)}", "matmul", [a, b], {}, lambda a, b: torch.matmul(a, b))

path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "reduce.json")
with open(path, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, indent=None, allow_nan=False)
    f.write("\n")
print(f"wrote {len(cases)} cases to {path}")

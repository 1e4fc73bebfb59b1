"""Writes tests/fixtures/unary.json: PyTorch's forward values and gradients of
the elementwise math ops (exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu,
pow, neg, abs, clamp, where) on random data and on special values.

Run with the system python that has torch: /usr/bin/python3 scripts/gen_unary_fixtures.py
Non-finite floats are written as the strings "nan", "inf" and "-inf".
"""

import json
import math
import pathlib

import torch

torch.manual_seed(0)

SPECIALS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1e-30, -1e-30, 20.0, -20.0, 88.0, -88.0,
            89.0, -89.0, 100.0, -100.0, 1e30, -1e30, math.inf, -math.inf, math.nan]


def enc(values):
    out = []
    for v in values:
        v = float(v)
        if math.isnan(v):
            out.append("nan")
        elif math.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        else:
            out.append(v)
    return out


def inputs(positive):
    signed = (torch.rand(40) * 6 - 3)
    pos = torch.rand(40) * 4 + 0.01
    body = torch.cat([signed, pos]) if positive else torch.cat([signed, signed * 0.3])
    return torch.cat([body, torch.tensor(SPECIALS)]).float()


def case(name, fn, kwargs, positive=False, per_element=False):
    x = inputs(positive).requires_grad_(True)
    g = torch.randn(x.shape)
    if per_element:
        # PyTorch 1.13's vectorized CPU gelu uses an erf approximation with
        # about 1.5e-7 absolute error (relative 4e-5 where 1 + erf cancels,
        # x < -2); on one element it takes the scalar path, std::erf, which
        # is accurate. The fixture holds the accurate values.
        parts = [fn(x[i:i + 1]) for i in range(x.shape[0])]
        y = torch.cat(parts)
    else:
        y = fn(x)
    y.backward(g)
    return {
        "op": name,
        "options": kwargs,
        "x": enc(x.detach().tolist()),
        "y": enc(y.detach().tolist()),
        "g": enc(g.tolist()),
        "dx": enc(x.grad.tolist()),
    }


F = torch.nn.functional
cases = [
    case("exp", torch.exp, {}),
    case("log", torch.log, {}, positive=True),
    case("sqrt", torch.sqrt, {}, positive=True),
    case("rsqrt", torch.rsqrt, {}, positive=True),
    case("tanh", torch.tanh, {}),
    case("sigmoid", torch.sigmoid, {}),
    case("relu", torch.relu, {}),
    case("gelu", lambda x: F.gelu(x), {}, per_element=True),
    case("gelu", lambda x: F.gelu(x, approximate="none"), {"approximate": "none"}, per_element=True),
    case("gelu", lambda x: F.gelu(x, approximate="tanh"), {"approximate": "tanh"}, per_element=True),
    case("neg", torch.neg, {}),
    case("abs", torch.abs, {}),
]
for e in [2.0, 3.0, 0.5, -0.5, -1.0, -2.0, 0.0, 1.0, 2.5, -1.5, 4.0, 1.0 / 3.0]:
    cases.append(case("pow", lambda x, e=e: torch.pow(x, e), {"exponent": e}, positive=True))
for bounds in [{"min": -0.5, "max": 0.5}, {"min": 0.0}, {"max": 1.0}, {"min": 1.0, "max": 0.0}]:
    cases.append(case("clamp", lambda x, b=bounds: torch.clamp(x, **b), bounds))

# where: condition, a and b broadcast together; the condition holds NaN (true) and zeros.
cond = torch.tensor([[[1.0, 0.0, math.nan]], [[0.0, -2.0, 0.0]]])  # [2, 1, 3]
a = torch.randn(4, 3).requires_grad_(True)
b = torch.randn(2, 4, 1).requires_grad_(True)
b_special = b.detach().clone()
out = torch.where(cond != 0, a, b)
gw = torch.randn(out.shape)
out.backward(gw)
where_case = {
    "condition": enc(cond.flatten().tolist()),
    "conditionShape": list(cond.shape),
    "a": enc(a.detach().flatten().tolist()),
    "aShape": list(a.shape),
    "b": enc(b_special.flatten().tolist()),
    "bShape": list(b.shape),
    "out": enc(out.detach().flatten().tolist()),
    "outShape": list(out.shape),
    "g": enc(gw.flatten().tolist()),
    "da": enc(a.grad.flatten().tolist()),
    "db": enc(b.grad.flatten().tolist()),
}

target = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "unary.json"
target.write_text(json.dumps({"torch": torch.__version__, "cases": cases, "where": where_case}) + "\n")
print(f"wrote {target} ({len(cases)} unary cases)")

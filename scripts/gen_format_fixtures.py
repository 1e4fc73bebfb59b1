#!/usr/bin/env python3
"""Generate tests/fixtures/format.json: PyTorch 1.13 reprs of float32 tensors.

Run with the system interpreter that has torch 1.13:

    /usr/bin/python3 scripts/gen_format_fixtures.py

Each case stores the tensor's float32 data as its little-endian uint32 bit
patterns, base64-encoded (a plain JSON array of uint32s for the [2000],
[40, 40] and [3, 500] tensors alone would blow the 60 KB fixture budget),
the shape, the print options (named as in the TypeScript FormatOptions), the
extra suffixes, and torch's string.

CUDA is not available here, so suffixed strings cannot come from repr().
For those, `intern_repr` replays _str_intern's plain-strided-tensor path with
torch's own `_tensor_str` and `_add_suffixes`; the script asserts that this
replay equals real repr() for every unsuffixed case and for requires_grad
tensors (a suffix torch *can* print on CPU), so the replay is trustworthy.
"""

import base64
import json
import math
import os
import sys

import torch
from torch import _tensor_str as ts

OPTION_NAMES = {
    "precision": "precision",
    "threshold": "threshold",
    "edgeitems": "edgeitems",
    "linewidth": "linewidth",
    "sciMode": "sci_mode",
}

DEVICE = "device='webgpu:0'"


def encode(t):
    data = t.detach().contiguous().reshape(-1).numpy().astype("<f4").tobytes()
    return base64.b64encode(data).decode("ascii")


def intern_repr(t, suffixes):
    """_str_intern for a dense CPU float32 tensor with caller-chosen suffixes.

    torch puts the device suffix first, then size= for empties, then
    requires_grad/grad_fn; callers pass the device (if any) as suffixes[0].
    """
    prefix = "tensor("
    indent = len(prefix)
    all_suffixes = list(suffixes[:1])
    rest = list(suffixes[1:])
    if t.numel() == 0:
        if t.dim() != 1:
            all_suffixes.append("size=" + str(tuple(t.shape)))
        body = "[]"
    else:
        body = ts._tensor_str(t, indent)
    if suffixes and not suffixes[0].startswith("device="):
        # No device: everything the caller passed comes after size=.
        all_suffixes = [s for s in all_suffixes if s.startswith("size=")]
        rest = list(suffixes)
    return ts._add_suffixes(prefix + body, all_suffixes + rest, indent, False)


cases = []


def add(name, t, options=None, suffixes=None):
    t = t.to(torch.float32)
    options = options or {}
    suffixes = suffixes or []
    torch.set_printoptions(**{OPTION_NAMES[k]: v for k, v in options.items()})
    try:
        plain = repr(t)
        assert intern_repr(t, []) == plain, (name, plain)
        if suffixes == ["requires_grad=True"]:
            expected = repr(t.clone().requires_grad_(True))
            assert intern_repr(t, suffixes) == expected, (name, expected)
        else:
            expected = intern_repr(t, suffixes) if suffixes else plain
    finally:
        torch.set_printoptions(profile="default")
    case = {"name": name, "shape": list(t.shape), "data": encode(t), "expected": expected}
    if options:
        case["options"] = options
    if suffixes:
        case["suffixes"] = suffixes
    cases.append(case)


def f32(values):
    return torch.tensor(values, dtype=torch.float32)


def main():
    g = torch.Generator().manual_seed(1234)

    def randn(*shape, scale=1.0):
        return torch.randn(tuple(shape), generator=g) * scale

    nan, inf = math.nan, math.inf

    # Scalars.
    add("scalar 1.5", f32(1.5))
    add("scalar -3 (int mode)", f32(-3.0))
    add("scalar 0", f32(0.0))
    add("scalar -0", f32(-0.0))
    add("scalar nan", f32(nan))
    add("scalar -inf", f32(-inf))
    add("scalar tiny (sci)", f32(1.2345e-5))
    add("scalar huge int (sci)", f32(123456789.0))
    add("scalar randn", randn())

    # Empties.
    add("empty [0]", torch.zeros(0))
    add("empty [0, 3]", torch.zeros(0, 3))
    add("empty [2, 0, 3]", torch.zeros(2, 0, 3))

    # 1-D.
    add("[1]", f32([0.7071]))
    add("[7] randn", randn(7))
    add("[100] randn (wrapping)", randn(100))
    add("[100] randn*1000 (sci, wrapping)", randn(100, scale=1000.0))
    add("[2000] randn (summarized)", randn(2000))
    add("[12] randn*1e-2 mixed signs", randn(12, scale=1e-2))
    add("[10] arange ints", torch.arange(-5, 5))
    add("[3] large ints", f32([1e6, 2.0, -3.0]))
    add("[2] int ratio > 1000 (sci)", f32([1.0, 2000.0]))
    add("[2] int > 1e8 (sci)", f32([1e9, 3.0]))
    add("[5] tiny (sci)", randn(5, scale=1e-5))
    add("[5] huge randn*1e10 (int sci)", randn(5, scale=1e10))
    add("[4] float with nonfinite", f32([1.5, nan, inf, -inf]))
    add("[3] ints with nonfinite", f32([1.0, nan, -inf]))
    add("[3] all nan", f32([nan, nan, nan]))
    add("[4] all zeros", torch.zeros(4))
    add("[2] zero and -0", f32([0.0, -0.0]))
    add("[3] -0 with fractions", f32([-0.0, 0.5, -0.25]))
    add("[4] exact .4f ties (half-even)", f32([0.03125, 0.15625, -0.09375, 1.40625]))
    add("[3] exact .4e ties (half-even)", f32([12344.5, 1.03125, 1.0]))
    add("[2] float32 denormal (sci)", f32([1e-45, 1.0]))
    add("[3] wide range (sci)", f32([-123.4567, 0.001, 99999.0]))
    add("[6] randn*1e5 wide fixed", randn(6, scale=1e5))

    # N-D.
    add("[3, 4] randn*100", randn(3, 4, scale=100.0))
    add("[40, 40] randn (summarized)", randn(40, 40))
    add("[3, 500] randn (summarized)", randn(3, 500))
    add("[10, 10, 12] randn (summarized 3-D)", randn(10, 10, 12))
    add("[2, 3, 4] randn", randn(2, 3, 4))
    add("[2, 1, 1, 3] randn", randn(2, 1, 1, 3))
    add("[1, 1, 1]", f32([[[2.5]]]))
    add("[2, 2, 2, 2] ints", torch.arange(16).reshape(2, 2, 2, 2) - 8)

    # Non-default print options.
    add("precision 2", randn(5), {"precision": 2})
    add("linewidth 40", randn(20), {"linewidth": 40})
    add("sciMode true", randn(4), {"sciMode": True})
    add("sciMode true on ints", f32([1.0, 2.0, 3.0]), {"sciMode": True})
    add("sciMode true on all zeros (ignored)", torch.zeros(3), {"sciMode": True})
    add("sciMode false on tiny", f32([1e-5, 1.0]), {"sciMode": False})
    add("threshold 10 edgeitems 2", randn(4, 5), {"threshold": 10, "edgeitems": 2})
    add("threshold 5 edgeitems 1 on [9]", randn(9), {"threshold": 5, "edgeitems": 1})

    # The seed notebook's tensors; its second one printed on CUDA.
    seed_rows = [[-0.4519, 0.2216], [-0.5874, 0.0058], [-0.6300, -0.0632],
                 [-0.5675, -0.0843], [-0.5526, -0.0981], [-0.5299, -0.1081]]
    seed = f32([seed_rows, seed_rows])
    block = (
        "[[-0.4519,  0.2216],\n"
        "         [-0.5874,  0.0058],\n"
        "         [-0.6300, -0.0632],\n"
        "         [-0.5675, -0.0843],\n"
        "         [-0.5526, -0.0981],\n"
        "         [-0.5299, -0.1081]]"
    )
    seed_str = "tensor([" + block + ",\n\n        " + block + "])"
    assert repr(seed) == seed_str, repr(seed)
    assert intern_repr(seed, ["device='cuda:0'"]) == seed_str[:-1] + ", device='cuda:0')"
    add("seed notebook [2, 6, 2]", seed)
    add("seed notebook [2, 6, 2] device", seed, suffixes=[DEVICE])

    # Suffixes. requires_grad=True is checked against real repr() above.
    add("[7] requires_grad", randn(7), suffixes=["requires_grad=True"])
    add("[3] device", randn(3), suffixes=[DEVICE])
    add("[6] randn*1e5 device", randn(6, scale=1e5), suffixes=[DEVICE])
    add("[7] device wraps to new line", randn(7), suffixes=[DEVICE])
    add("[4] sciMode true, device", randn(4), {"sciMode": True}, [DEVICE])
    add("[100] device", randn(100), suffixes=[DEVICE])
    add("[2, 3] device + requires_grad", randn(2, 3), suffixes=[DEVICE, "requires_grad=True"])
    add("empty [0] device", torch.zeros(0), suffixes=[DEVICE])
    add("empty [0, 3] device", torch.zeros(0, 3), suffixes=[DEVICE])
    add("empty [0, 3] requires_grad", torch.zeros(0, 3), suffixes=["requires_grad=True"])
    add("scalar device", f32(0.25), suffixes=[DEVICE])

    out = {
        "torch": torch.__version__,
        "encoding": "base64 of little-endian uint32 float32 bit patterns",
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "format.json")
    # One case per line keeps the file small yet diffable.
    head = json.dumps({k: v for k, v in out.items() if k != "cases"})[:-1]
    lines = ",\n  ".join(json.dumps(c) for c in cases)
    with open(path, "w") as f:
        f.write(head + ', "cases": [\n  ' + lines + "\n]}\n")
    print(f"wrote {len(cases)} cases, {os.path.getsize(path)} bytes to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Writes tests/fixtures/cross_entropy_options.json: PyTorch 1.13's
torch.nn.functional.cross_entropy with ignore_index, reduction and
label_smoothing, its value and its gradient with respect to the logits, on
random logits (some with NaN and infinite values) and targets that include
ignored rows.

Run with the system interpreter that has torch 1.13:

    /usr/bin/python3 scripts/gen_cross_entropy_fixtures.py
"""

import json
import math
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")


def f32(v):
    v = float(np.float32(v))
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return float(np.format_float_positional(np.float32(v), unique=True))


def enc(t):
    a = t.detach().to(torch.float32).contiguous().numpy()
    return {"shape": list(a.shape), "data": [f32(v) for v in a.reshape(-1)]}


def case(name, logits, targets, ignore_index, reduction, smoothing, upstream):
    x = logits.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(
        x, targets, ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    loss.backward(upstream)
    return {
        "name": name,
        "logits": enc(logits),
        "targets": targets.tolist(),
        "ignoreIndex": ignore_index,
        "reduction": reduction,
        "labelSmoothing": smoothing,
        "upstream": enc(upstream),
        "loss": enc(loss),
        "grad": enc(x.grad),
    }


def main():
    torch.manual_seed(14)
    cases = []
    for rows, cols in [(1, 3), (7, 17), (17, 65), (5, 257), (3, 1100)]:
        logits = torch.randn(rows, cols) * 3
        targets = torch.randint(0, cols, (rows,))
        if rows > 1:
            targets[1] = -100
        if rows > 4:
            targets[4] = -100
        grid = [("mean", 0.1), ("none", 0.0)] if cols > 257 else [
            (r, e) for r in ["mean", "sum", "none"] for e in [0.0, 0.1]]
        for reduction, smoothing in grid:
            up = torch.randn(rows) if reduction == "none" else torch.tensor(0.75)
            cases.append(case(f"{rows}x{cols} {reduction} eps={smoothing}", logits, targets,
                              -100, reduction, smoothing, up))
    # A class index as ignore_index (class 2 rows skipped).
    logits = torch.randn(9, 5)
    targets = torch.tensor([2, 0, 2, 4, 1, 2, 3, 0, 2])
    for reduction in ["mean", "none"]:
        up = torch.randn(9) if reduction == "none" else torch.tensor(1.0)
        cases.append(case(f"ignore class 2 {reduction}", logits, targets, 2, reduction, 0.2, up))
    # Every row ignored: mean is NaN (0 / 0), sum is 0, gradients 0.
    logits = torch.randn(3, 4)
    targets = torch.tensor([-1, -1, -1])
    for reduction in ["mean", "sum", "none"]:
        up = torch.randn(3) if reduction == "none" else torch.tensor(1.0)
        cases.append(case(f"all ignored {reduction}", logits, targets, -1, reduction, 0.0, up))
    # Special values: NaN in an ignored row, -inf logits in counted rows (also
    # at the target), +inf in a counted row.
    logits = torch.randn(5, 6)
    logits[0, 3] = float("nan")
    logits[1, 2] = float("-inf")
    logits[2, 4] = float("-inf")
    logits[3, 1] = float("inf")
    targets = torch.tensor([-100, 0, 4, 2, 5])
    for reduction in ["mean", "sum", "none"]:
        for smoothing in [0.0, 0.3]:
            up = torch.randn(5) if reduction == "none" else torch.tensor(1.0)
            cases.append(case(f"special {reduction} eps={smoothing}", logits, targets, -100,
                              reduction, smoothing, up))
    # Special values in ignored rows only.
    logits = torch.randn(4, 6)
    logits[0, 1] = float("nan")
    logits[2, 0] = float("-inf")
    targets = torch.tensor([-100, 1, -100, 3])
    for reduction in ["mean", "none"]:
        up = torch.randn(4) if reduction == "none" else torch.tensor(1.0)
        cases.append(case(f"special ignored {reduction}", logits, targets, -100, reduction, 0.1,
                          up))
    with open(os.path.join(OUT, "cross_entropy_options.json"), "w") as f:
        json.dump({"cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote cross_entropy_options.json ({len(cases)} cases)")


if __name__ == "__main__":
    main()

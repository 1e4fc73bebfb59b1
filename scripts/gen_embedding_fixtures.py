"""Writes tests/fixtures/embedding.json: torch.nn.functional.embedding forward
and weight gradient, with repeated ids, for tests/int32_test.ts and
tests/gpu/embedding_test.ts.

Run with the system python (PyTorch 1.13): /usr/bin/python3 scripts/gen_embedding_fixtures.py
"""

import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "embedding.json")


def case(name, vocab, dim, ids, seed):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(vocab, dim, generator=g).requires_grad_()
    ids = torch.tensor(ids, dtype=torch.int64)
    # A random cotangent, so each repeated id's gradient is a real sum.
    c = torch.randn(*ids.shape, dim, generator=g)
    out = F.embedding(ids, weight)
    (out * c).sum().backward()
    return {
        "name": name,
        "vocab": vocab,
        "dim": dim,
        "idsShape": list(ids.shape),
        "ids": ids.flatten().tolist(),
        "weight": weight.detach().flatten().tolist(),
        "cotangent": c.flatten().tolist(),
        "out": out.detach().flatten().tolist(),
        "grad": weight.grad.flatten().tolist(),
    }


def main():
    cases = [
        case("repeated ids [3, 4]", 7, 5, [[1, 3, 3, 6], [6, 1, 3, 0], [0, 0, 0, 3]], 1),
        case("scalar id", 4, 3, 2, 2),
        case("every id the same [2, 3, 2]", 5, 8, [[[4, 4], [4, 4], [4, 4]]] * 2, 3),
        case("gpt-2 ids [1, 6]", 50, 16, [[6, 10, 9, 49, 6, 10]], 4),
    ]
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

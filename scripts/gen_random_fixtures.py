#!/usr/bin/python3
"""Writes tests/fixtures/random.json: PyTorch CPU random streams, bit for bit.

Run with the system interpreter that has torch 1.13:

    /usr/bin/python3 scripts/gen_random_fixtures.py

Float32 samples are stored as uint32 bit patterns so that the TypeScript
tests compare bits, not decimal renderings. Long tensors are stored as their
first HEAD values plus an FNV-1a hash of every bit pattern, which keeps the
file small while still checking each element exactly. The AVX2 kernels are
what torch picks on most x86-64 machines; the generator records which one ran.
"""

import json
import math
import os
import sys

import numpy as np
import torch

HEAD = 16
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "random.json")


def fnv1a32(words):
    """FNV-1a over the little-endian bytes of uint32 words (mirrored in the test)."""
    h = 0x811C9DC5
    for b in np.asarray(words, dtype="<u4").tobytes():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def f32_bits(t):
    return t.detach().contiguous().reshape(-1).numpy().view(np.uint32).tolist()


def summary(t):
    bits = f32_bits(t)
    return {"n": len(bits), "head": bits[:HEAD], "fnv": fnv1a32(bits)}


def seed_json(seed):
    # JSON numbers lose precision above 2**53, so big seeds travel as strings.
    return seed if abs(seed) <= 2**53 else str(seed)


def rand_cases():
    cases = []
    for seed, shape in [
        (0, [5]),
        (123, [4, 5]),
        (2**32 + 5, [3]),
        (5, [3]),
        (2**40, [7]),
        (-1, [2, 3]),
        (42, [1000]),
        (1, [31, 33]),
    ]:
        torch.manual_seed(seed)
        cases.append({"seed": seed_json(seed), "shape": shape, **summary(torch.rand(shape))})
    return cases


def uniform_cases():
    ranges = [(-1.0, 1.0), (0.0, 1.0), (0.1, 7.3), (-3.0, -2.5), (-1e-3, 2e-3), (10.0, 1000.0)]
    for fan_in in (3, 5, 17, 64, 768):
        gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
        bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
        ranges.append((-bound, bound))
        ranges.append((-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in)))
    cases = []
    for i, (lo, hi) in enumerate(ranges):
        seed = [0, 1, 123, 42][i % 4]
        torch.manual_seed(seed)
        t = torch.empty(257).uniform_(lo, hi)
        cases.append({"seed": seed, "low": lo, "high": hi, **summary(t)})
    return cases


def double_uniform_cases():
    # float64 uniform_ consumes random64(): checks which 32-bit draw is the high word.
    torch.manual_seed(123)
    t = torch.empty(8, dtype=torch.float64).uniform_()
    return {"seed": 123, "values": t.tolist()}


def randn_cases():
    cases = []
    for seed in (0, 42, 2**33 + 7):
        for n in (1, 5, 15, 16, 17, 33, 100, 4097):
            torch.manual_seed(seed)
            cases.append({"seed": seed_json(seed), "shape": [n], **summary(torch.randn(n))})
    torch.manual_seed(3)
    cases.append({"seed": 3, "shape": [3, 7, 5], **summary(torch.randn(3, 7, 5))})
    return cases


def randn_sequences():
    # Several calls on one stream: the cached Box–Muller sine half must carry
    # over between small randn calls, and the >= 16 path must leave it alone.
    seqs = []
    for seed in (0, 9, 77):
        torch.manual_seed(seed)
        sizes = [1, 1, 3, 16, 1, 2, 17, 5]
        seqs.append({"seed": seed, "sizes": sizes, "values": [f32_bits(torch.randn(n)) for n in sizes]})
    return seqs


def kaiming_bounds():
    out = []
    for fan_in in (1, 2, 3, 5, 7, 17, 64, 100, 768, 3072):
        gain = torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
        bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))
        out.append({"fanIn": fan_in, "bound": bound, "biasBound": 1 / math.sqrt(fan_in)})
    return out


def linear_cases():
    cases = []
    # The attention example: three bias-free projections after manual_seed(123).
    torch.manual_seed(123)
    layers = [torch.nn.Linear(3, 2, bias=False) for _ in range(3)]
    cases.append({
        "seed": 123, "dIn": 3, "dOut": 2, "bias": False, "count": 3,
        "weights": [summary(l.weight) for l in layers], "biases": None,
    })
    for seed in (0, 1, 42, 2**33 + 7):
        for d_out, d_in in ((3, 2), (5, 7), (64, 64), (17, 3)):
            for bias in (False, True):
                torch.manual_seed(seed)
                layers = [torch.nn.Linear(d_in, d_out, bias=bias) for _ in range(2)]
                cases.append({
                    "seed": seed_json(seed), "dIn": d_in, "dOut": d_out, "bias": bias, "count": 2,
                    "weights": [summary(l.weight) for l in layers],
                    "biases": [summary(l.bias) for l in layers] if bias else None,
                })
    return cases


def main():
    capability = [line.strip() for line in torch.__config__.show().splitlines() if "CPU capability" in line]
    data = {
        "torch": torch.__version__,
        "cpuCapability": capability[0].split(":")[-1].strip() if capability else "unknown",
        "rand": rand_cases(),
        "uniform": uniform_cases(),
        "doubleUniform": double_uniform_cases(),
        "randn": randn_cases(),
        "randnSequences": randn_sequences(),
        "kaimingBounds": kaiming_bounds(),
        "linear": linear_cases(),
    }
    text = json.dumps(data, separators=(",", ":"))
    with open(OUT, "w") as fh:
        fh.write(text + "\n")
    print(f"wrote {os.path.normpath(OUT)} ({len(text)} bytes, {data['cpuCapability']})", file=sys.stderr)


if __name__ == "__main__":
    main()

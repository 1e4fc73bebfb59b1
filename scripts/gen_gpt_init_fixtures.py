#!/usr/bin/python3
"""Writes tests/fixtures/generate_gpt_init.json: the weights PyTorch's
`torch.manual_seed(seed); GPTModel(cfg)` starts with (the book's chapter-4
model from scripts/torch_gpt.py), for several seeds and small configs, plus
`randn` on Embedding-like shapes (sizes under 16 and not multiples of 16,
where torch switches between its scalar and AVX2 normal kernels).

Run with the system interpreter that has torch 1.13:

    /usr/bin/python3 scripts/gen_gpt_init_fixtures.py

Float32 values are stored as uint32 bit patterns, so the test compares bits
and can count exact and within-one-ulp elements per tensor. Tensors with no
randomness (LayerNorm scale/shift, the causal masks) are left out.
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gpt import GPTModel  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "generate_gpt_init.json")

CONFIGS = [
    # vocab * emb not a multiple of 16; context * emb under 16 (scalar path)
    {"vocab_size": 13, "context_length": 1, "emb_dim": 6, "n_heads": 2, "n_layers": 1,
     "drop_rate": 0.1, "qkv_bias": False},
    {"vocab_size": 37, "context_length": 5, "emb_dim": 8, "n_heads": 2, "n_layers": 2,
     "drop_rate": 0.0, "qkv_bias": True},
    {"vocab_size": 97, "context_length": 8, "emb_dim": 16, "n_heads": 4, "n_layers": 2,
     "drop_rate": 0.1, "qkv_bias": False},
]
SEEDS = [123, 0, 2024]
RANDN_SHAPES = [[1, 1], [3, 5], [15, 1], [4, 4], [17, 1], [5, 13], [7, 9], [33, 3], [100, 7]]


def f32_bits(t):
    return t.detach().contiguous().reshape(-1).numpy().view(np.uint32).tolist()


def cpu_capability():
    lines = [ln for ln in torch.__config__.show().splitlines() if "CPU capability" in ln]
    return lines[0].split(":")[-1].strip() if lines else "unknown"


def main():
    models = []
    for i, cfg in enumerate(CONFIGS):
        # The largest config once: it is there for its 16-wide, 2-layer shapes.
        for seed in SEEDS if i < len(CONFIGS) - 1 else SEEDS[:1]:
            torch.manual_seed(seed)
            model = GPTModel(cfg)
            tensors = {}
            for name, p in model.named_parameters():
                if "norm" in name:
                    continue
                tensors[name] = {"shape": list(p.shape), "bits": f32_bits(p)}
            models.append({"seed": seed, "config": cfg, "tensors": tensors})
    randn = []
    for seed in SEEDS:
        for shape in RANDN_SHAPES:
            torch.manual_seed(seed)
            randn.append({"seed": seed, "shape": shape, "bits": f32_bits(torch.randn(*shape))})
    # Two draws in a row: the scalar path caches a Box-Muller sample in the generator.
    torch.manual_seed(7)
    pair = [f32_bits(torch.randn(3)), f32_bits(torch.randn(5, 7))]
    data = {
        "torch": torch.__version__,
        "cpuCapability": cpu_capability(),
        "models": models,
        "randn": randn,
        "randnPair": {"seed": 7, "shapes": [[3], [5, 7]], "bits": pair},
    }
    with open(OUT, "w") as f:
        json.dump(data, f, separators=(",", ":"))
    print(f"wrote {OUT}: {len(models)} models, {len(randn)} randn cases")


if __name__ == "__main__":
    main()

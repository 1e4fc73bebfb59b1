#!/usr/bin/python3
"""Writes tests/fixtures/generate.json: PyTorch's greedy continuations
(the book's generate_text_simple, scripts/torch_gpt.py) for the chapter-4
GPT_CONFIG_124M model and for small configs, each built right after
`torch.manual_seed(seed)`, so Tessera's `manualSeed(seed); nn.gptModel.init`
starts from the same weights and must pick the same tokens.

Run with the system interpreter that has torch 1.13:

    /usr/bin/python3 scripts/gen_generate_fixtures.py

`minGap` is the smallest distance between the best and the second-best logit
over every greedy step: when it is far above float32 noise, an exact token
match is a fair requirement.
"""

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gpt import GPT_CONFIG_124M, GPTModel, generate_text_simple  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "generate.json")


def fnv1a32(words):
    """FNV-1a over the little-endian bytes of uint32 words."""
    h = 0x811C9DC5
    for b in np.asarray(words, dtype="<u4").tobytes():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def f32_bits(t):
    return t.detach().contiguous().reshape(-1).numpy().view(np.uint32)


def greedy(model, ids, new, context):
    """generate_text_simple, plus the smallest top-1/top-2 logit gap seen."""
    out = generate_text_simple(model, torch.tensor(ids), new, context)
    gap = float("inf")
    for step in range(new):
        cond = out[:, : len(ids[0]) + step][:, -context:]
        with torch.no_grad():
            last = model(cond)[:, -1, :]
        top = torch.topk(last, 2, dim=-1).values
        gap = min(gap, float((top[:, 0] - top[:, 1]).min()))
    return out.tolist(), gap


def small_cases():
    cases = []
    cfg = {"vocab_size": 97, "context_length": 8, "emb_dim": 16, "n_heads": 4, "n_layers": 2,
           "drop_rate": 0.1, "qkv_bias": False}
    for seed, prompt, new in [
        (123, [[5, 17, 42, 3, 96], [60, 1, 0, 77, 12]], 12),  # runs past the context of 8
        (7, [[11]], 9),
        (2024, [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], 4),  # prompt longer than the context
    ]:
        torch.manual_seed(seed)
        model = GPTModel(cfg)
        model.eval()
        tokens, gap = greedy(model, prompt, new, cfg["context_length"])
        cases.append({"seed": seed, "config": cfg, "prompt": prompt, "maxNewTokens": new,
                      "contextSize": cfg["context_length"], "tokens": tokens, "minGap": gap})
    return cases


def gpt124m():
    torch.manual_seed(123)
    model = GPTModel(GPT_CONFIG_124M)
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    tok = f32_bits(model.tok_emb.weight)
    batch = torch.tensor([[6109, 3626, 6100, 345], [6109, 1110, 6622, 257]])
    with torch.no_grad():
        logits = model(batch)
    prompt = [[15496, 11, 314, 716]]
    tokens, gap = greedy(model, prompt, 10, GPT_CONFIG_124M["context_length"])
    return {
        "seed": 123,
        "parameters": params,
        "tokEmb": {"shape": list(model.tok_emb.weight.shape), "head": tok[:16].tolist(),
                   "fnv": fnv1a32(tok)},
        "batch": batch.tolist(),
        "logitsShape": list(logits.shape),
        "logitsFirst": logits[0, 0, :5].tolist(),
        "logitsLast": logits[1, -1, -5:].tolist(),
        "prompt": prompt,
        "tokens": tokens,
        "minGap": gap,
    }


def main():
    torch.set_num_threads(1)
    data = {"torch": torch.__version__, "small": small_cases(), "gpt124m": gpt124m()}
    with open(OUT, "w") as f:
        json.dump(data, f, indent=1)
    print(json.dumps(data["gpt124m"], indent=1))
    for c in data["small"]:
        print(c["seed"], c["tokens"], c["minGap"])


if __name__ == "__main__":
    main()

"""Writes PyTorch reference fixtures for nn.gptModel (tests/fixtures/gpt/).

Run with the system python (Debian's python3-torch 1.13):

    /usr/bin/python3 scripts/gen_gpt_fixtures.py

For each small GPTModel configuration (the book's chapter-4 code in
scripts/torch_gpt.py) it seeds torch, builds the model, and writes
`<name>.safetensors` holding the state dict (mask buffers included), the
logits of random int ids, the fixed random weights `loss_weights` of the
scalar loss `sum(logits * loss_weights)`, and that loss's gradient for every
parameter (`grad.<key>`). cases.json records configs, ids, the keys, and the
greedy continuation of a prompt (the book's generate_text_simple). Init
fixtures: `init_<seed>.safetensors` holds the freshly initialised weights of
the `init` config for each seed, for bit-exact init checks.
"""

import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from gen_attention_fixtures import save_safetensors  # noqa: E402
from torch_gpt import GPT_CONFIG_124M, GPTModel, generate_text_simple  # noqa: E402

OUT = os.path.join(HERE, "..", "tests", "fixtures", "gpt")

CONFIGS = [
    # name, seed, vocab, context, emb, heads, layers, qkv_bias, batch, tokens
    ("two_layers_bias", 11, 37, 8, 12, 3, 2, True, 2, 8),
    ("single_token", 5, 29, 6, 8, 2, 1, False, 3, 1),
    ("three_layers", 123, 53, 10, 16, 4, 3, False, 2, 7),
    ("head64", 77, 45, 9, 128, 2, 1, True, 2, 9),
    ("one_head_odd", 3, 19, 7, 5, 1, 2, True, 1, 7),
]

INIT_CONFIG = ("init", 41, 10, 24, 2, 2, True)  # vocab, context, emb, heads, layers, qkv_bias
INIT_SEEDS = [123, 7, 2024]


def cfg(vocab, ctx, emb, heads, layers, bias):
    return {
        "vocab_size": vocab,
        "context_length": ctx,
        "emb_dim": emb,
        "n_heads": heads,
        "n_layers": layers,
        "drop_rate": 0.1,
        "qkv_bias": bias,
    }


def camel(c):
    return {
        "vocabSize": c["vocab_size"],
        "contextLength": c["context_length"],
        "embDim": c["emb_dim"],
        "nHeads": c["n_heads"],
        "nLayers": c["n_layers"],
        "dropRate": c["drop_rate"],
        "qkvBias": c["qkv_bias"],
    }


def book_124m():
    """Chapter 4 on GPT_CONFIG_124M after manual_seed(123): a few logits, greedy tokens."""
    torch.manual_seed(123)
    model = GPTModel(GPT_CONFIG_124M)
    model.eval()
    batch = torch.tensor([[6109, 3626, 6100, 345], [6109, 1110, 6622, 257]])
    with torch.no_grad():
        logits = model(batch)
    prompt = torch.tensor([[15496, 11, 314, 716]])
    out = generate_text_simple(model, prompt, 6, GPT_CONFIG_124M["context_length"])
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch": batch.tolist(),
        # logits[b, t, :3] and logits[b, t, -3:] for every (b, t)
        "head": logits[:, :, :3].tolist(),
        "tail": logits[:, :, -3:].tolist(),
        "prompt": prompt.tolist(),
        "greedy": out.tolist(),
    }


def generate():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for name, seed, vocab, ctx, emb, heads, layers, bias, batch, tokens in CONFIGS:
        c = cfg(vocab, ctx, emb, heads, layers, bias)
        torch.manual_seed(seed)
        model = GPTModel(c)
        model.eval()
        gen = torch.Generator().manual_seed(seed + 1)
        ids = torch.randint(0, vocab, (batch, tokens), generator=gen)
        loss_weights = torch.randn(batch, tokens, vocab, generator=gen)
        logits = model(ids)
        loss = (logits * loss_weights).sum()
        loss.backward()
        tensors = {k: v.detach().clone() for k, v in model.state_dict().items()}
        tensors["logits"] = logits.detach()
        tensors["loss_weights"] = loss_weights
        for k, p in model.named_parameters():
            tensors["grad." + k] = p.grad.detach().clone()
        save_safetensors(tensors, os.path.join(OUT, f"{name}.safetensors"))
        prompt = ids[:1, : max(1, min(3, tokens))]
        out = generate_text_simple(model, prompt, 4, ctx)
        cases.append({
            "name": name,
            "seed": seed,
            "config": camel(c),
            "ids": ids.tolist(),
            "loss": loss.item(),
            "stateDictKeys": list(model.state_dict().keys()),
            "parameterKeys": [k for k, _ in model.named_parameters()],
            "prompt": prompt.tolist(),
            "greedy": out.tolist(),
        })
    _, vocab, ctx, emb, heads, layers, bias = INIT_CONFIG
    c = cfg(vocab, ctx, emb, heads, layers, bias)
    for seed in INIT_SEEDS:
        torch.manual_seed(seed)
        model = GPTModel(c)
        save_safetensors(
            {k: v.detach() for k, v in model.named_parameters()},
            os.path.join(OUT, f"init_{seed}.safetensors"),
        )
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({
            "torch": torch.__version__,
            "cases": cases,
            "init": {"config": camel(c), "seeds": INIT_SEEDS},
            "book124m": book_124m(),
        }, f)
        f.write("\n")


if __name__ == "__main__":
    generate()

#!/usr/bin/python3
"""Writes tests/fixtures/training.json: PyTorch gradients and optimizer steps.

Run with the system interpreter that has torch 1.13:

    /usr/bin/python3 scripts/gen_training_fixtures.py

Every tensor is stored as {"shape": [...], "data": [...]} with float32 values
written as the shortest decimal that round-trips to the same float32, so the
tests read back PyTorch's exact inputs. Sizes are deliberately awkward (5, 7,
13, ...) so that no kernel is only exercised on multiples of 4.

Contents:
- attention: the seed notebook's CausalAttention (with and without qkv bias)
  on given weights and input; a loss (sum(context * R) or mse(context, target));
  its value and the gradient of every parameter. The mask is a buffer and has
  no gradient.
- model: one-hot tokens -> linear embedding -> CausalAttention, plus the
  embedding (a residual) -> linear head -> cross_entropy on next tokens, the
  model of examples/train.ts; value and every parameter's gradient.
- mse / cross_entropy: value and gradients of the losses alone.
- sgd / adamw: torch.optim steps from given params, grads and (for AdamW)
  state, giving the params and state after each step.
"""

import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The seed notebook's module, shared with the attention fixtures.
from gen_attention_fixtures import CausalAttention

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "training.json")


def enc(t):
    """A tensor as {shape, data}; float32 values round-trip exactly."""
    a = t.detach().to(torch.float32).contiguous().numpy()
    return {
        "shape": list(a.shape),
        "data": [float(np.format_float_positional(v, unique=True)) for v in a.reshape(-1)],
    }


def randn(gen, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float32)


def module_params(module):
    """{W_query: {weight, bias?}, ...} with values, and the same with grads."""
    values, grads = {}, {}
    for name, p in module.named_parameters():
        layer, leaf = name.split(".")
        values.setdefault(layer, {})[leaf] = enc(p)
        grads.setdefault(layer, {})[leaf] = enc(p.grad)
    return values, grads


def attention_case(seed, d_in, d_out, tokens, context, batch, bias, loss):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    ca = CausalAttention(d_in, d_out, context, 0.0, bias)
    x = randn(gen, batch, tokens, d_in)
    other = randn(gen, batch, tokens, d_out)
    context_vec = ca(x)
    value = (context_vec * other).sum() if loss == "weightedSum" else F.mse_loss(context_vec, other)
    value.backward()
    params, grads = module_params(ca)
    return {
        "config": {
            "dIn": d_in,
            "dOut": d_out,
            "tokens": tokens,
            "contextLength": context,
            "batch": batch,
            "qkvBias": bias,
        },
        "loss": loss,
        "params": params,
        "x": enc(x),
        "other": enc(other),
        "value": value.item(),
        "grads": grads,
    }


def model_case(seed, vocab, dim, tokens, batch):
    torch.manual_seed(seed)
    embed = nn.Linear(vocab, dim, bias=False)
    attn = CausalAttention(dim, dim, tokens + 2, 0.0, True)
    head = nn.Linear(dim, vocab)
    # A periodic sequence, like examples/train.ts: token t is followed by t + 1.
    starts = torch.arange(batch)
    seq = (starts[:, None] + torch.arange(tokens + 1)[None, :]) % vocab
    one_hot = F.one_hot(seq[:, :-1], vocab).to(torch.float32)
    h = embed(one_hot)
    logits = head(h + attn(h))
    targets = seq[:, 1:].reshape(-1)
    value = F.cross_entropy(logits.reshape(-1, vocab), targets)
    value.backward()
    params = {}
    grads = {}
    for prefix, module in (("embed", embed), ("attention", attn), ("head", head)):
        for name, p in module.named_parameters():
            path = [prefix] + name.split(".")
            node_v, node_g = params, grads
            for key in path[:-1]:
                node_v = node_v.setdefault(key, {})
                node_g = node_g.setdefault(key, {})
            node_v[path[-1]] = enc(p)
            node_g[path[-1]] = enc(p.grad)
    return {
        "config": {"vocab": vocab, "dim": dim, "tokens": tokens, "batch": batch},
        "oneHot": enc(one_hot),
        "targets": enc(targets.to(torch.float32)),
        "params": params,
        "value": value.item(),
        "grads": grads,
    }


def mse_case(gen):
    pred = randn(gen, 7, 3).requires_grad_()
    target = randn(gen, 7, 3).requires_grad_()
    value = F.mse_loss(pred, target)
    value.backward()
    return {
        "pred": enc(pred),
        "target": enc(target),
        "value": value.item(),
        "gradPred": enc(pred.grad),
        "gradTarget": enc(target.grad),
    }


def cross_entropy_case(gen, rows, cols):
    logits = (randn(gen, rows, cols) * 2).requires_grad_()
    targets = torch.randint(0, cols, (rows,), generator=gen)
    value = F.cross_entropy(logits, targets)
    value.backward()
    return {
        "logits": enc(logits),
        "targets": enc(targets.to(torch.float32)),
        "value": value.item(),
        "grad": enc(logits.grad),
    }


def ts_options(options):
    """torch.optim keyword arguments under Tessera's option names."""
    names = {"weight_decay": "weightDecay"}
    return {names.get(k, k): list(v) if isinstance(v, tuple) else v for k, v in options.items()}


def optimizer_params(gen):
    return {"w": randn(gen, 3, 5), "b": randn(gen, 7)}


def sgd_case(gen, options, steps):
    start = optimizer_params(gen)
    params = {k: v.clone().requires_grad_() for k, v in start.items()}
    opt = torch.optim.SGD(list(params.values()), **options)
    grads, after = [], []
    for _ in range(steps):
        g = {k: randn(gen, *v.shape) for k, v in params.items()}
        for k, p in params.items():
            p.grad = g[k].clone()
        opt.step()
        grads.append({k: enc(v) for k, v in g.items()})
        after.append({k: enc(p) for k, p in params.items()})
    return {
        "options": ts_options(options),
        "params": {k: enc(v) for k, v in start.items()},
        "grads": grads,
        "expected": after,
    }


def adamw_case(gen, options, steps, from_state):
    start = optimizer_params(gen)
    params = {k: v.clone().requires_grad_() for k, v in start.items()}
    opt = torch.optim.AdamW(list(params.values()), **options)
    state = None
    if from_state:
        state = {
            "step": 3,
            "expAvg": {k: randn(gen, *v.shape) * 0.1 for k, v in start.items()},
            "expAvgSq": {k: randn(gen, *v.shape).abs() * 0.01 for k, v in start.items()},
        }
        for k, p in params.items():
            opt.state[p] = {
                "step": torch.tensor(float(state["step"])),
                "exp_avg": state["expAvg"][k].clone(),
                "exp_avg_sq": state["expAvgSq"][k].clone(),
            }
    grads, after = [], []
    for _ in range(steps):
        g = {k: randn(gen, *v.shape) for k, v in params.items()}
        for k, p in params.items():
            p.grad = g[k].clone()
        opt.step()
        grads.append({k: enc(v) for k, v in g.items()})
        after.append(
            {
                "params": {k: enc(p) for k, p in params.items()},
                "expAvg": {k: enc(opt.state[p]["exp_avg"]) for k, p in params.items()},
                "expAvgSq": {k: enc(opt.state[p]["exp_avg_sq"]) for k, p in params.items()},
                "step": int(opt.state[params["w"]]["step"].item()),
            }
        )
    out = {
        "options": ts_options(options),
        "params": {k: enc(v) for k, v in start.items()},
        "grads": grads,
        "expected": after,
    }
    if state:
        out["state"] = {
            "step": state["step"],
            "expAvg": {k: enc(v) for k, v in state["expAvg"].items()},
            "expAvgSq": {k: enc(v) for k, v in state["expAvgSq"].items()},
        }
    return out


def main():
    gen = torch.Generator().manual_seed(2024)
    fixtures = {
        "torch": torch.__version__,
        "attention": [
            attention_case(11, 5, 3, 4, 6, 2, False, "weightedSum"),
            attention_case(12, 5, 3, 4, 6, 2, True, "weightedSum"),
            attention_case(13, 5, 3, 4, 6, 2, True, "mse"),
            attention_case(14, 7, 9, 13, 17, 3, True, "weightedSum"),
        ],
        "model": model_case(21, 5, 6, 7, 3),
        "mse": mse_case(gen),
        "crossEntropy": [cross_entropy_case(gen, 5, 7), cross_entropy_case(gen, 9, 67)],
        "sgd": [
            sgd_case(gen, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}, 2),
            sgd_case(gen, {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}, 3),
            sgd_case(
                gen, {"lr": 0.2, "momentum": 0.7, "weight_decay": 0.02, "nesterov": True}, 2
            ),
            sgd_case(gen, {"lr": 0.3}, 2),
        ],
        "adamw": [
            adamw_case(
                gen,
                {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01},
                2,
                False,
            ),
            adamw_case(
                gen,
                {"lr": 0.003, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1},
                2,
                True,
            ),
        ],
    }
    with open(OUT, "w") as f:
        json.dump(fixtures, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Writes tests/fixtures/train_gpt/*.json: PyTorch references for the training
utilities (clipGradNorm, learning-rate schedules, the book's GPTDatasetV1 and
a shuffled DataLoader) and a 20-step AdamW run on a tiny GPT.

Run with the system interpreter that has torch 1.13:

    /usr/bin/python3 scripts/gen_train_gpt_fixtures.py

Float32 values are written as the shortest decimal that round-trips.

Files:
- clip.json: torch.nn.utils.clip_grad_norm_ on lists of gradients (norm types
  2, 1, 3 and inf; clipping active and not; NaN and inf gradients).
- loader.json: GPTDatasetV1 windows and DataLoader(shuffle=True) batch orders
  with a seeded generator (two epochs, drop_last both ways) and with the
  global seed.
- gpt_train.json: the book's GPTModel (scripts/torch_gpt.py), a tiny config,
  its initial state dict, and 20 AdamW steps with the appendix-D schedule
  (linear warmup, cosine decay), clip_grad_norm_ and weight decay: the batches,
  the learning rate, the loss and the total gradient norm of every step.
"""

import json
import math
import os
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gpt import GPTModel  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "train_gpt")


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


def write(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")


def clip_cases():
    cases = []
    shapes = [[3, 5], [7], [1], [2, 17]]

    def grads(seed, scale):
        g = torch.Generator().manual_seed(seed)
        return [torch.randn(s, generator=g) * scale for s in shapes]

    for name, seed, scale, max_norm, norm_type in [
        ("l2 clipped", 1, 1.0, 1.0, 2.0),
        ("l2 not clipped", 2, 0.01, 5.0, 2.0),
        ("l1 clipped", 3, 1.0, 2.5, 1.0),
        ("l3 clipped", 4, 1.0, 0.75, 3.0),
        ("inf clipped", 5, 1.0, 0.5, math.inf),
        ("inf not clipped", 6, 0.1, 10.0, math.inf),
        ("nan gradient", 7, 1.0, 1.0, 2.0),
        ("inf gradient", 8, 1.0, 1.0, 2.0),
        ("inf gradient inf norm", 9, 1.0, 1.0, math.inf),
    ]:
        gs = grads(seed, scale)
        if name.startswith("nan"):
            gs[1][3] = float("nan")
        if name.startswith("inf gradient"):
            gs[3][1, 4] = float("inf")
        params = [torch.zeros(s, requires_grad=True) for s in shapes]
        for p, g in zip(params, gs):
            p.grad = g.clone()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
        cases.append({
            "name": name,
            "maxNorm": max_norm,
            "normType": "Infinity" if math.isinf(norm_type) else norm_type,
            "grads": [enc(g) for g in gs],
            "totalNorm": f32(total.item()),
            "clipped": [enc(p.grad) for p in params],
        })
    return cases


class GPTDatasetV1(Dataset):
    """The book's chapter-2 dataset, over token ids instead of text."""

    def __init__(self, token_ids, max_length, stride):
        self.input_ids = []
        self.target_ids = []
        for i in range(0, len(token_ids) - max_length, stride):
            self.input_ids.append(torch.tensor(token_ids[i:i + max_length]))
            self.target_ids.append(torch.tensor(token_ids[i + 1:i + max_length + 1]))

    def __len__(self):
        return len(self.input_ids)

    def __getitem__(self, idx):
        return self.input_ids[idx], self.target_ids[idx]


def loader_cases():
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(0, 50, (40,), generator=g).tolist()
    out = {"ids": ids, "datasets": [], "loaders": []}
    for max_length, stride in [(4, 4), (4, 1), (5, 3), (8, 8), (39, 1)]:
        ds = GPTDatasetV1(ids, max_length, stride)
        out["datasets"].append({
            "contextLength": max_length,
            "stride": stride,
            "inputs": [t.tolist() for t in ds.input_ids],
            "targets": [t.tolist() for t in ds.target_ids],
        })
    ds = GPTDatasetV1(ids, 4, 1)  # 36 windows
    for batch_size, drop_last, seed in [(5, True, 123), (5, False, 7), (36, False, 1), (1, False, 3)]:
        gen = torch.Generator().manual_seed(seed)
        loader = DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=drop_last,
                            generator=gen)
        epochs = [[x.tolist() for x, _ in loader] for _ in range(2)]
        out["loaders"].append({"batchSize": batch_size, "dropLast": drop_last,
                               "seed": seed, "epochs": epochs})
    torch.manual_seed(99)
    loader = DataLoader(ds, batch_size=6, shuffle=True, drop_last=False)
    out["global"] = {"batchSize": 6, "seed": 99,
                     "epochs": [[x.tolist() for x, _ in loader] for _ in range(2)]}
    return out


def appendix_d_lrs(peak_lr, initial_lr, min_lr, warmup_steps, total_steps):
    """The learning rate of every step of appendix D's train_model."""
    lr_increment = (peak_lr - initial_lr) / warmup_steps
    lrs = []
    for global_step in range(total_steps):
        if global_step < warmup_steps:
            lr = initial_lr + global_step * lr_increment
        else:
            progress = (global_step - warmup_steps) / (total_steps - warmup_steps)
            lr = min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
        lrs.append(lr)
    return lrs


def gpt_train():
    cfg = {"vocab_size": 11, "context_length": 6, "emb_dim": 8, "n_heads": 2,
           "n_layers": 2, "drop_rate": 0.0, "qkv_bias": True}
    torch.manual_seed(123)
    model = GPTModel(cfg)
    init = {k: enc(v) for k, v in model.state_dict().items()}
    steps, batch, tokens = 20, 3, 6
    schedule = {"peakLr": 0.01, "initialLr": 3e-5, "minLr": 1e-4, "warmupSteps": 5,
                "totalSteps": steps}
    lrs = appendix_d_lrs(0.01, 3e-5, 1e-4, 5, steps)
    max_norm, weight_decay = 0.5, 0.1
    g = torch.Generator().manual_seed(5)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, weight_decay=weight_decay)
    record = []
    for step in range(steps):
        seq = torch.randint(0, cfg["vocab_size"], (batch, tokens + 1), generator=g)
        inputs, targets = seq[:, :-1], seq[:, 1:]
        for group in optimizer.param_groups:
            group["lr"] = lrs[step]
        optimizer.zero_grad()
        logits = model(inputs)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss.backward()
        total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        record.append({"inputs": inputs.tolist(), "targets": targets.tolist(), "lr": lrs[step],
                       "loss": f32(loss.item()), "totalNorm": f32(total.item())})
    final = {k: enc(v) for k, v in model.state_dict().items() if k.startswith("out_head")}
    return {"config": cfg, "init": init, "schedule": schedule, "maxNorm": max_norm,
            "weightDecay": weight_decay, "steps": record, "finalOutHead": final}


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write("clip.json", clip_cases())
    write("loader.json", loader_cases())
    write("gpt_train.json", gpt_train())
    print("wrote", sorted(os.listdir(OUT)))

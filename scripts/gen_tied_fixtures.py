#!/usr/bin/python3
"""Writes tests/fixtures/train_gpt/tied.json: PyTorch's update of a tiny GPT
whose output head IS its token embedding (GPT-2's weight tying: one
parameter, its gradient summed over both uses), after two steps of SGD with
momentum and of AdamW; and torch.nn.utils.clip_grad_norm_ on its first
gradient ("clip": the tied parameter counted once in the total norm).

Run with the system interpreter that has torch 1.13:

    /usr/bin/python3 scripts/gen_tied_fixtures.py

The model, its initial weights and the two batches are those of
gpt_train.json (scripts/gen_train_gpt_fixtures.py: seed 123, steps 0 and 1).
"""

import copy
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_train_gpt_fixtures import OUT, enc, f32  # noqa: E402
from torch_gpt import GPTModel  # noqa: E402


def main():
    with open(os.path.join(OUT, "gpt_train.json")) as f:
        train = json.load(f)
    cfg = train["config"]
    torch.manual_seed(123)
    base = GPTModel(cfg)
    base.out_head.weight = base.tok_emb.weight  # tied: one Parameter
    batches = [(torch.tensor(s["inputs"]), torch.tensor(s["targets"])) for s in train["steps"][:2]]
    cases = []
    for name, options, make in [
        ("sgd", {"lr": 0.5, "momentum": 0.9},
         lambda p: torch.optim.SGD(p, lr=0.5, momentum=0.9)),
        ("adamw", {"lr": 0.01, "weightDecay": 0.1},
         lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1)),
    ]:
        model = copy.deepcopy(base)
        assert model.out_head.weight is model.tok_emb.weight
        params = list(model.parameters())  # the tied tensor once
        optimizer = make(params)
        losses = []
        for inputs, targets in batches:
            optimizer.zero_grad()
            logits = model(inputs)
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
            loss.backward()
            optimizer.step()
            losses.append(f32(loss.item()))
        cases.append({
            "optimizer": name,
            "options": options,
            "losses": losses,
            "tokEmb": enc(model.tok_emb.weight),
            "finalNormScale": enc(model.final_norm.scale),
        })
    clip = []
    for norm_type in [2.0, float("inf")]:
        model = copy.deepcopy(base)
        inputs, targets = batches[0]
        logits = model(inputs)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss.backward()
        params = list(model.parameters())
        total = torch.nn.utils.clip_grad_norm_(params, 0.05, norm_type=norm_type)
        clip.append({
            "normType": "Infinity" if math.isinf(norm_type) else norm_type,
            "maxNorm": 0.05,
            "totalNorm": f32(total.item()),
            "tokEmbGrad": enc(model.tok_emb.weight.grad),
            "finalNormScaleGrad": enc(model.final_norm.scale.grad),
        })
    with open(os.path.join(OUT, "tied.json"), "w") as f:
        json.dump({"steps": 2, "cases": cases, "clip": clip}, f, separators=(",", ":"))
        f.write("\n")
    print("wrote tied.json")


if __name__ == "__main__":
    main()

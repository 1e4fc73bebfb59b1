"""Writes PyTorch reference fixtures for nn.causalAttention.

Run with the system python (Debian's python3-torch 1.13):

    /usr/bin/python3 scripts/gen_attention_fixtures.py

For each configuration it seeds torch, builds the seed notebook's
CausalAttention (mask registered as a buffer), saves its state dict as
safetensors (tests/fixtures/attention/<name>.safetensors, written by the
official `safetensors` package when installed, else by the same byte layout
by hand), and records the input and PyTorch's output as float32 bit patterns
in tests/fixtures/attention/cases.json.

`verify PATH` reads a safetensors file written by Tessera with torch and
prints its tensors, to check the other direction.
"""

import json
import os
import struct
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "attention")


class CausalAttention(nn.Module):
    """The seed notebook's CausalAttentionWithBuffer, verbatim."""

    def __init__(self, d_in, d_out, context_length, dropout, qkv_bias=False):
        super().__init__()
        self.d_out = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer(
            "mask", torch.triu(torch.ones(context_length, context_length), diagonal=1)
        )

    def forward(self, x):
        b, num_tokens, d_in = x.shape
        keys = self.W_key(x)
        queries = self.W_query(x)
        values = self.W_value(x)
        attn_scores = queries @ keys.transpose(1, 2)
        attn_scores.masked_fill_(self.mask.bool()[:num_tokens, :num_tokens], -torch.inf)
        attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
        attn_weights = self.dropout(attn_weights)
        return attn_weights @ values


CONFIGS = [
    # name, seed, d_in, d_out, context_length, qkv_bias, batch, tokens
    ("seed", 123, 3, 2, 6, False, 2, 6),
    ("odd_dims_bias", 7, 5, 3, 9, True, 3, 7),
    ("short_sequence", 42, 6, 5, 17, False, 2, 5),
    ("single_token", 1, 7, 9, 4, True, 1, 1),
    ("wide", 2024, 33, 17, 70, True, 2, 65),
]


def bits(t):
    return [int(v) for v in t.detach().contiguous().view(torch.int32).flatten().tolist()]


def save_safetensors(tensors, path):
    try:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in tensors.items()}, path)
        return
    except ImportError:
        pass
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = tensors[name].detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * ((8 - len(raw) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


def generate():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for name, seed, d_in, d_out, ctx, bias, batch, tokens in CONFIGS:
        torch.manual_seed(seed)
        module = CausalAttention(d_in, d_out, ctx, 0.0, bias)
        x = torch.rand(batch, tokens, d_in) * 2 - 1
        with torch.no_grad():
            out = module(x)
        save_safetensors(module.state_dict(), os.path.join(OUT, f"{name}.safetensors"))
        cases.append({
            "name": name,
            "seed": seed,
            "config": {"dIn": d_in, "dOut": d_out, "contextLength": ctx, "qkvBias": bias},
            "stateDictKeys": list(module.state_dict().keys()),
            "input": {"shape": list(x.shape), "bits": bits(x)},
            "output": {"shape": list(out.shape), "bits": bits(out)},
        })
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": cases}, f)
        f.write("\n")


def verify(path):
    from safetensors.torch import load_file

    for name, t in load_file(path).items():
        print(name, list(t.shape), t.flatten().tolist())


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "verify":
        verify(sys.argv[2])
    else:
        generate()

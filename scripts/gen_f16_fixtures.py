"""Writes tests/fixtures/f16.json: float32 values and PyTorch's float16 bits for them.

Run: /usr/bin/python3 scripts/gen_f16_fixtures.py
"""
import json
import torch

g = torch.Generator().manual_seed(0)
parts = [
    torch.randn(200, generator=g) * 10,
    torch.randn(100, generator=g) * 1e-5,  # subnormal range
    torch.randn(50, generator=g) * 1e-7,  # below the smallest subnormal
    torch.randn(50, generator=g) * 3e4,  # near and past the largest half
    torch.tensor([0.0, -0.0, 65504.0, 65519.0, 65520.0, -65520.0, 2.0**-24, 2.0**-25,
                  2.0**-25 * 1.0000001, 3 * 2.0**-25, 1 + 2.0**-11, 1 + 3 * 2.0**-11,
                  float("inf"), float("-inf"), 6.1035156e-05, 6.1e-05]),
]
# Exact ties between neighbouring halves (float32 holds them exactly).
halves = torch.randint(0, 0x7bff, (100,), generator=g, dtype=torch.int32).to(torch.int16)
lo = halves.view(torch.float16).float()
hi = (halves + 1).view(torch.float16).float()
parts.append((lo + hi) / 2)
x = torch.cat(parts).float()
bits = x.half().view(torch.int16).to(torch.int32) & 0xFFFF
vals = [v if abs(v) != float("inf") else ("inf" if v > 0 else "-inf") for v in x.tolist()]
with open("tests/fixtures/f16.json", "w") as f:
    json.dump({"values": vals, "bits": bits.tolist(), "torch": torch.__version__}, f)
print(len(vals), "values")

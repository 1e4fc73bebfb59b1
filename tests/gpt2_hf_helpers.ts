// Shared by tests/gpt2_weights_test.ts (cpu) and tests/gpu/gpt2_weights_test.ts:
// the checkpoints of scripts/gen_gpt2_hf_fixtures.py and the error measure.
import assert from "node:assert/strict";
import fixtures from "./fixtures/gpt2_hf/cases.json" with { type: "json" };
import smallF32 from "./fixtures/gpt2_hf/small_f32.safetensors" with { type: "bytes" };
import prefixedF32 from "./fixtures/gpt2_hf/prefixed_f32.safetensors" with { type: "bytes" };
import smallF16 from "./fixtures/gpt2_hf/small_f16.safetensors" with { type: "bytes" };
import shortBf16 from "./fixtures/gpt2_hf/short_bf16.safetensors" with { type: "bytes" };
import tinyConfig from "./fixtures/gpt2_hf/tiny/config.json" with { type: "bytes" };
import tinyModel from "./fixtures/gpt2_hf/tiny/model.safetensors" with { type: "bytes" };
import tinyVocab from "./fixtures/gpt2_hf/tiny/vocab.json" with { type: "bytes" };
import tinyMerges from "./fixtures/gpt2_hf/tiny/merges.txt" with { type: "bytes" };
import type { SafetensorsFs } from "../src/io/mod.ts";

export const GPT2_FILES: Record<string, Uint8Array> = {
  "small_f32.safetensors": smallF32,
  "prefixed_f32.safetensors": prefixedF32,
  "small_f16.safetensors": smallF16,
  "short_bf16.safetensors": shortBf16,
};

/** One checkpoint of cases.json. */
export type Gpt2Case = (typeof fixtures.cases)[number];

/** max |a - b| / max |b|: the relative error the issue bounds by 1e-5. */
export function relativeError(actual: Float32Array, expected: readonly number[]): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    if (!Number.isFinite(actual[i])) return Infinity;
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

/** The tiny model directory's (tests/fixtures/gpt2_hf/tiny) prompt and PyTorch's greedy ids. */
export const GPT2_TINY: typeof fixtures.tiny = fixtures.tiny;

/** A read-only in-memory directory `/tiny` (missing files fail like Node's ENOENT). */
export function tinyFs(
  edit: (files: Map<string, Uint8Array>) => void = () => {},
): SafetensorsFs {
  const files = new Map<string, Uint8Array>([
    ["/tiny/config.json", tinyConfig],
    ["/tiny/model.safetensors", tinyModel],
    ["/tiny/vocab.json", tinyVocab],
    ["/tiny/merges.txt", tinyMerges],
  ]);
  edit(files);
  const readOnly = () => Promise.reject(new Error("read-only"));
  return {
    readFile: (path) => {
      const data = files.get(path);
      if (data) return Promise.resolve(data);
      return Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" }));
    },
    writeFile: readOnly,
    rename: readOnly,
    remove: readOnly,
  };
}

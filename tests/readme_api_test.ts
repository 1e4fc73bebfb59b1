// README.md's "API in brief" lists every export of the three entry points
// (mod.ts, src/nn/mod.ts, src/io/mod.ts), values and types alike, so that a
// new export without a line there fails here.

import assert from "node:assert/strict";
import * as root from "../mod.ts";
import * as nn from "../src/nn/mod.ts";
import * as io from "../src/io/mod.ts";
import readme from "../README.md" with { type: "text" };
import rootSource from "../mod.ts" with { type: "text" };
import nnSource from "../src/nn/mod.ts" with { type: "text" };
import ioSource from "../src/io/mod.ts" with { type: "text" };
import checkpointFile from "../src/io/checkpoint_file.ts" with { type: "text" };
import checkpointErrors from "../src/io/checkpoint_errors.ts" with { type: "text" };
import safetensorsFormat from "../src/io/safetensors_format.ts" with { type: "text" };
import safetensorsFile from "../src/io/safetensors_file.ts" with { type: "text" };
import gpt2Weights from "../src/io/gpt2_weights.ts" with { type: "text" };
import gpt2Files from "../src/io/gpt2_files.ts" with { type: "text" };

/** The files src/io/mod.ts re-exports with `export *`, by specifier. */
const STAR_SOURCES: Record<string, string> = {
  "./checkpoint_file.ts": checkpointFile,
  "./checkpoint_errors.ts": checkpointErrors,
  "./safetensors_format.ts": safetensorsFormat,
  "./safetensors_file.ts": safetensorsFile,
  "./gpt2_weights.ts": gpt2Weights,
  "./gpt2_files.ts": gpt2Files,
};

/** Type-only names of an entry point's `export { type X }` / `export type { X }` lists. */
function typeNames(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/export\s+(type\s+)?\{([^}]*)\}/g)) {
    for (const part of m[2].split(",").map((p) => p.trim()).filter(Boolean)) {
      const named = /^(type\s+)?(\w+)(?:\s+as\s+(\w+))?$/.exec(part);
      if (named && (m[1] || named[1])) out.push(named[3] ?? named[2]);
    }
  }
  return out;
}

/** Interfaces and type aliases a file declares with `export`. */
function declaredTypes(source: string): string[] {
  return [...source.matchAll(/^export\s+(?:interface|type)\s+(\w+)/gm)].map((m) => m[1]);
}

function apiSection(): string {
  const start = readme.indexOf("## API in brief");
  const end = readme.indexOf("\n## ", start + 1);
  assert.ok(start >= 0, "README.md has no '## API in brief' section");
  return readme.slice(start, end < 0 ? undefined : end);
}

/** Names inside backticks in the section (`nn.linear` counts for `linear`). */
function listedNames(section: string): Set<string> {
  const names = new Set<string>();
  for (const m of section.matchAll(/`([^`]+)`/g)) {
    for (const word of m[1].matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) names.add(word[0]);
  }
  return names;
}

Deno.test("README: the API section lists every export of mod.ts, src/nn/mod.ts and src/io/mod.ts", () => {
  const stars = [...ioSource.matchAll(/export\s+\*\s+from\s+"([^"]+)"/g)].map((m) => m[1]);
  const unknown = stars.filter((s) => !(s in STAR_SOURCES));
  assert.deepEqual(unknown, [], "add these files to STAR_SOURCES in tests/readme_api_test.ts");
  const exports = new Set<string>([
    ...Object.keys(root),
    ...Object.keys(nn),
    ...Object.keys(io),
    ...typeNames(rootSource),
    ...typeNames(nnSource),
    ...typeNames(ioSource),
    ...stars.flatMap((s) => declaredTypes(STAR_SOURCES[s])),
  ]);
  const listed = listedNames(apiSection());
  const missing = [...exports].filter((name) => !listed.has(name)).sort();
  assert.deepEqual(missing, [], "add a line for each to README.md's API section");
});

Deno.test("README: the API section names no function that is not exported", () => {
  const exported = new Set([...Object.keys(root), ...Object.keys(nn), ...Object.keys(io)]);
  // Every `name(` in a table row's first column must be an export.
  const stale: string[] = [];
  for (const line of apiSection().split("\n")) {
    const first = /^\|\s*(.*?)\s*\|/.exec(line)?.[1] ?? "";
    for (const m of first.matchAll(/`(?:await\s+)?(?:nn\.)?(\w+)\(/g)) {
      if (!exported.has(m[1])) stale.push(m[1]);
    }
  }
  assert.deepEqual(stale, []);
});

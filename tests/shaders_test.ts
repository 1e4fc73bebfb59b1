import assert from "node:assert/strict";
import { SHADERS } from "../src/gpu/shaders.generated.ts";
import { SHADER_FILES } from "./shader_sources.generated.ts";

Deno.test("the embedded shader module matches every shaders/*.wgsl file", () => {
  assert.deepEqual(
    { ...SHADERS },
    SHADER_FILES,
    "src/gpu/shaders.generated.ts is stale: run `deno task embed`",
  );
});

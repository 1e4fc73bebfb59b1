// Reading a custom kernel's declarations: binding order and access, and the
// byte sizes WGSL's layout rules give its uniform and storage types.

import assert from "node:assert/strict";
import { parseBindings } from "../src/gpu/wgsl_bindings.ts";

Deno.test("parseBindings reads group, binding, access and type; comments do not count", () => {
  const bindings = parseBindings(`
    // @group(0) @binding(9) var<storage, read> ghost: array<f32>;
    struct P { n: u32, a: f32 }
    @binding(0) @group(0) var<uniform> p: P;
    @group(0) @binding(1) var<storage> x: array<f32>;
    @group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
    /* @group(0) @binding(3) var<storage, read> nope: array<f32>; */
    var<workgroup> tile: array<f32, 64>;
    @group(1) @binding(0) var tex: texture_2d<f32>;
  `);
  assert.deepEqual(
    bindings.map((b) => [b.group, b.binding, b.name, b.access, b.minBytes]),
    [
      [0, 0, "p", "uniform", 8],
      [0, 1, "x", "read", 4],
      [0, 2, "out", "read_write", 16],
      [1, 0, "tex", "other", undefined],
    ],
  );
});

Deno.test("uniform sizes follow WGSL's alignment rules", () => {
  const size = (decl: string, type = "P") =>
    parseBindings(`${decl}\n@group(0) @binding(0) var<uniform> p: ${type};`)[0].minBytes;
  assert.equal(size("struct P { n: u32 }"), 4);
  assert.equal(size("struct P { a: u32, b: vec3<f32> }"), 32); // vec3 aligns to 16
  assert.equal(size("struct P { a: vec3f, b: f32 }"), 16); // b packs after the vec3
  assert.equal(size("struct P { a: f32, b: vec2<f32> }"), 16);
  assert.equal(size("struct P { m: mat3x3<f32> }"), 48);
  assert.equal(size("struct P { s: array<vec4<u32>, 2>, t: u32 }"), 48);
  assert.equal(size("struct Q { a: u32 }\nstruct P { q: Q, @align(16) b: u32 }"), 32);
  assert.equal(size("", "vec4<u32>"), 16);
  assert.equal(size("const N = 4u; struct P { s: array<u32, N> }"), undefined); // unknown: unchecked
});

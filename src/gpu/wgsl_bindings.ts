/**
 * Reads a WGSL kernel's resource declarations (`@group(g) @binding(b) var<...>
 * name: type;`) and the byte sizes of their types, so that a custom kernel's
 * launch can be checked against what the shader declares before anything is
 * recorded. Only what `compileKernel` binds is understood: uniform and storage
 * buffers.
 *
 * @module
 */

/** One resource declaration of a shader. */
export interface WgslBinding {
  /** `@group(n)`. */
  group: number;
  /** `@binding(n)`. */
  binding: number;
  /** The variable's name. */
  name: string;
  /** `uniform`, `read` (storage, read-only), `read_write` (storage), or `other` (textures...). */
  access: "uniform" | "read" | "read_write" | "other";
  /** The declared type, as written. */
  type: string;
  /**
   * Bytes a bound buffer needs at least: the type's size, or one element's
   * stride for a runtime-sized array; undefined when it cannot be computed
   * (an override-sized array, an unknown type).
   */
  minBytes: number | undefined;
  /**
   * The scalar type the buffer's elements are made of (`f32`, `i32`, `u32`,
   * `f16`), seen through arrays, vectors, matrices and atomics; undefined
   * for a struct or an unknown type, whose words may be anything.
   */
  scalar: string | undefined;
}

/** The scalar of `type` (`array<vec4<f32>>` gives `f32`), or undefined for structs. */
function scalarOf(type: string, depth = 0): string | undefined {
  type = type.trim();
  if (depth > 16) return undefined;
  if (type in SCALARS) return type === "bool" ? undefined : type;
  let m = /^(?:vec[234]|mat[234]x[234])(?:<\s*(\w+)\s*>|([fiuh]))$/.exec(type);
  if (m) return m[1] ?? SUFFIX[m[2]];
  m = /^(?:array|atomic)<([\s\S]+)>$/.exec(type);
  if (m) return scalarOf(splitTop(m[1])[0], depth + 1);
  return undefined;
}

interface Layout {
  size: number;
  align: number;
}

/** Strips comments, so a commented-out declaration does not count. */
function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, " ");
}

/** Splits on commas that are not inside `<...>`. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "<") depth++;
    else if (c === ">") depth--;
    else if (c === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

const roundUp = (align: number, n: number): number => Math.ceil(n / align) * align;

const SCALARS: Record<string, Layout> = {
  f32: { size: 4, align: 4 },
  i32: { size: 4, align: 4 },
  u32: { size: 4, align: 4 },
  f16: { size: 2, align: 2 },
  bool: { size: 4, align: 4 },
};
const SUFFIX: Record<string, string> = { f: "f32", i: "i32", u: "u32", h: "f16" };

/** WGSL's size and alignment rules (host-shareable layout) for the types kernels use. */
function layoutOf(type: string, structs: Map<string, string>, depth = 0): Layout | undefined {
  type = type.trim();
  if (depth > 16) return undefined;
  if (SCALARS[type]) return SCALARS[type];
  let m = /^vec([234])(?:<\s*(\w+)\s*>|([fiuh]))$/.exec(type);
  if (m) {
    const scalar = SCALARS[m[2] ?? SUFFIX[m[3]]];
    if (!scalar) return undefined;
    const n = Number(m[1]);
    const align = scalar.align * (n === 3 ? 4 : n);
    return { size: scalar.size * n, align };
  }
  m = /^mat([234])x([234])(?:<\s*(\w+)\s*>|([fh]))$/.exec(type);
  if (m) {
    const column = layoutOf(`vec${m[2]}<${m[3] ?? SUFFIX[m[4]]}>`, structs, depth + 1);
    if (!column) return undefined;
    return { size: Number(m[1]) * roundUp(column.align, column.size), align: column.align };
  }
  m = /^atomic<\s*(\w+)\s*>$/.exec(type);
  if (m) return SCALARS[m[1]];
  m = /^array<([\s\S]+)>$/.exec(type);
  if (m) {
    const [element, count] = splitTop(m[1]);
    const inner = layoutOf(element, structs, depth + 1);
    const n = Number(count?.replace(/u$/, ""));
    if (!inner || !Number.isSafeInteger(n)) return undefined;
    return { size: n * roundUp(inner.align, inner.size), align: inner.align };
  }
  const body = structs.get(type);
  if (body === undefined) return undefined;
  let offset = 0;
  let align = 1;
  for (const member of splitTop(body)) {
    const mm = /^((?:@\w+\([^)]*\)\s*)*)(\w+)\s*:\s*([\s\S]+)$/.exec(member);
    if (!mm) return undefined;
    const inner = layoutOf(mm[3], structs, depth + 1);
    if (!inner) return undefined;
    const memberAlign = Number(/@align\(\s*(\d+)\s*\)/.exec(mm[1])?.[1] ?? inner.align);
    const memberSize = Number(/@size\(\s*(\d+)\s*\)/.exec(mm[1])?.[1] ?? inner.size);
    offset = roundUp(memberAlign, offset) + memberSize;
    align = Math.max(align, memberAlign);
  }
  return { size: roundUp(align, offset), align };
}

/** The smallest buffer a variable of `type` can be bound to. */
function minBytesOf(type: string, structs: Map<string, string>): number | undefined {
  const runtime = /^array<([^,]+)>$/.exec(type.trim());
  if (runtime) {
    const element = layoutOf(runtime[1], structs);
    return element && roundUp(element.align, element.size);
  }
  return layoutOf(type, structs)?.size;
}

/** Every `@group @binding var` declaration of `code`, in source order. */
export function parseBindings(code: string): WgslBinding[] {
  const source = stripComments(code);
  const structs = new Map<string, string>();
  for (const m of source.matchAll(/struct\s+(\w+)\s*\{([^}]*)\}/g)) structs.set(m[1], m[2]);
  const out: WgslBinding[] = [];
  const declaration = /((?:@\w+\s*\([^)]*\)\s*)+)var\s*(?:<([^>]*)>)?\s*(\w+)\s*:\s*([^;=]+);/g;
  for (const m of source.matchAll(declaration)) {
    const group = /@group\s*\(\s*(\d+)\s*\)/.exec(m[1]);
    const binding = /@binding\s*\(\s*(\d+)\s*\)/.exec(m[1]);
    if (!group || !binding) continue;
    const space = (m[2] ?? "").split(",").map((p) => p.trim());
    const access = space[0] === "uniform"
      ? "uniform"
      : space[0] === "storage"
      ? (space[1] === "read_write" ? "read_write" : "read")
      : "other";
    const type = m[4].trim();
    out.push({
      group: Number(group[1]),
      binding: Number(binding[1]),
      name: m[3],
      access,
      type,
      minBytes: access === "other" ? undefined : minBytesOf(type, structs),
      scalar: access === "other" ? undefined : scalarOf(type),
    });
  }
  return out;
}

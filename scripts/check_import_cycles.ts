/**
 * Fails (exit 1) when the static import graph of the library has a cycle.
 *
 * Walks every local module reachable from the public entry points through
 * `import ... from "./x.ts"`, `export ... from "./x.ts"` and bare
 * `import "./x.ts"` statements, and prints each cycle as a chain of paths.
 * Type-only statements (`import type`, `export type`) are erased by the
 * compiler, so they cannot change evaluation order and are skipped unless
 * `--include-types` is passed. Dynamic `import()` is not followed.
 *
 * Run: `deno run --allow-read scripts/check_import_cycles.ts [--include-types] [entry.ts ...]`
 *
 * @module
 */

import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), ".."));
const DEFAULT_ENTRIES = ["mod.ts", "src/nn/mod.ts", "src/io/mod.ts"];

/**
 * A statement at the start of a line (so doc-comment examples, which start
 * with ` * `, are not read): `import`/`export`, an optional `type`, anything
 * up to `from`, then the specifier. Also matches bare `import "./x.ts"`.
 */
const STATEMENT =
  /^[ \t]*(import|export)\b(?:[ \t]+(type)\b)?([^;"'`]*?\bfrom[ \t]*|[ \t]*)["']([^"']+)["']/gm;

/** The local modules a file imports at runtime (or also by type, if asked). */
export function localImports(file: string, source: string, includeTypes: boolean): string[] {
  const out = new Set<string>();
  for (const match of source.matchAll(STATEMENT)) {
    const [, keyword, typeOnly, clause, specifier] = match;
    if (!specifier.startsWith("./") && !specifier.startsWith("../")) continue;
    if (!specifier.endsWith(".ts")) continue; // JSON, WGSL and bytes imports are leaves
    if (typeOnly && !includeTypes) continue;
    // `export { x }` with no `from` is not an import.
    if (keyword === "export" && !/\bfrom\b/.test(clause)) continue;
    out.add(normalize(join(dirname(file), specifier)));
  }
  return [...out];
}

/** Every cycle found by a depth-first walk from `entries`, each as a closed path. */
export function findCycles(
  entries: readonly string[],
  importsOf: (file: string) => string[],
): string[][] {
  const state = new Map<string, "active" | "done">();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const visit = (file: string): void => {
    state.set(file, "active");
    stack.push(file);
    for (const next of importsOf(file)) {
      const s = state.get(next);
      if (s === "active") {
        const cycle = stack.slice(stack.indexOf(next));
        // The same cycle found from another start is reported once.
        const start = cycle.indexOf([...cycle].sort()[0]);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        const key = rotated.join(" -> ");
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push([...rotated, rotated[0]]);
        }
      } else if (s === undefined) {
        visit(next);
      }
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const entry of entries) if (!state.has(entry)) visit(entry);
  return cycles;
}

/** What {@linkcode checkImportCycles} found. */
export interface CycleReport {
  /** Each cycle as a closed chain of paths relative to the repository root. */
  cycles: string[][];
  /** Imported local modules that do not exist. */
  missing: string[];
  /** How many modules were read. */
  modules: number;
}

/** Walks the graph from `entries` (paths relative to the repository root). */
export function checkImportCycles(
  entries: readonly string[] = DEFAULT_ENTRIES,
  includeTypes = false,
): CycleReport {
  const cache = new Map<string, string[]>();
  const missing: string[] = [];
  const importsOf = (file: string): string[] => {
    let list = cache.get(file);
    if (list === undefined) {
      try {
        list = localImports(file, Deno.readTextFileSync(file), includeTypes);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        missing.push(relative(ROOT, file));
        list = [];
      }
      cache.set(file, list);
    }
    return list;
  };
  const cycles = findCycles(entries.map((e) => join(ROOT, e)), importsOf)
    .map((cycle) => cycle.map((f) => relative(ROOT, f)));
  return { cycles, missing, modules: cache.size };
}

if (import.meta.main) {
  const includeTypes = Deno.args.includes("--include-types");
  const named = Deno.args.filter((a) => !a.startsWith("--"));
  const { cycles, missing, modules } = checkImportCycles(
    named.length > 0 ? named : DEFAULT_ENTRIES,
    includeTypes,
  );
  for (const file of missing) console.error(`missing module: ${file}`);
  for (const cycle of cycles) console.error(`import cycle: ${cycle.join(" -> ")}`);
  const kind = includeTypes ? "static (with type-only)" : "runtime";
  if (cycles.length > 0 || missing.length > 0) {
    console.error(
      `${cycles.length} ${kind} import cycle(s), ${missing.length} missing module(s) ` +
        `in ${modules} modules`,
    );
    Deno.exit(1);
  }
  console.log(`no ${kind} import cycles in ${modules} modules`);
}

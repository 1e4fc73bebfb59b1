/**
 * Builds the npm package in `npm/` (run by `deno task build:npm`).
 *
 * 1. Checks that library code has no import attributes (`with { type: ... }`),
 *    which Node and bundlers do not all accept.
 * 2. Installs the TypeScript compiler, `@webgpu/types` and `@types/node` from
 *    the npm registry into a temporary folder, and compiles `mod.ts` plus every
 *    subpath entry point of deno.json's `exports` to ESM `.js` + `.d.ts`, with
 *    relative `.ts` imports rewritten to `.js` (`rewriteRelativeImportExtensions`).
 * 3. Prefixes every declaration file that names a WebGPU type with
 *    `/// <reference types="@webgpu/types" />`, so that consumers get those
 *    globals without configuring anything.
 * 4. Checks, by parsing with the compiler (scripts/check_npm_graph.mjs), that no
 *    module reachable from the root entry point uses the `Deno`
 *    global (only `globalThis.Deno` feature detection is allowed).
 * 5. Writes `npm/package.json` from deno.json and copies README.md and LICENSE.
 *
 * @module
 */

import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Versions of the build-time npm packages. */
const TOOLCHAIN = {
  typescript: "^5.7.2", // 5.7 added rewriteRelativeImportExtensions
  "@types/node": "^20.0.0", // the lowest Node the package supports
} as const;

/**
 * `@webgpu/types` is a runtime `dependency` of the package (not a peer): the
 * published `.d.ts` files reference it, and TypeScript's publishing guide asks
 * for declaration dependencies to be installed with the package. It holds only
 * `.d.ts` files, so it costs consumers nothing at run time.
 */
const WEBGPU_TYPES = "^0.1.74";

const DESCRIPTION =
  "Neural-network compute on WebGPU for Deno and Node: tensors, ops and layers on the CPU or a WebGPU device.";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "npm");

interface DenoJson {
  name: string;
  version: string;
  license?: string;
  exports: string | Record<string, string>;
}

/** Removes the temporary toolchain; `Deno.exit` skips `finally` blocks. */
let cleanup: (() => void) | undefined;

function fail(message: string): never {
  console.error(`build:npm: ${message}`);
  cleanup?.();
  Deno.exit(1);
}

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const { code } = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) fail(`\`${cmd} ${args.join(" ")}\` failed with exit code ${code}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function* walk(dir: string, suffixes: string[]): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path, suffixes);
    else if (entry.isFile && suffixes.some((s) => entry.name.endsWith(s))) yield path;
  }
}

/** Removes comments (roughly: enough to tell code from prose; strings are kept). */
function stripComments(code: string): string {
  return code.replace(
    /("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)|\/\*[\s\S]*?\*\/|\/\/[^\n]*/g,
    (match, literal: string | undefined) => literal ?? match.replace(/[^\n]/g, " "),
  );
}

/** Relative specifiers of static imports, re-exports and dynamic imports. */
function relativeImports(code: string): string[] {
  const specifiers: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g;
  for (const m of code.matchAll(pattern)) specifiers.push(m[1]);
  return specifiers;
}

// --- read deno.json -------------------------------------------------------

const denoJson: DenoJson = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
const exportsMap: Record<string, string> = typeof denoJson.exports === "string"
  ? { ".": denoJson.exports }
  : denoJson.exports;
if (!exportsMap["."]) fail('deno.json has no "." export');

// --- 1. no import attributes in library code ------------------------------

const libraryFiles = [join(root, "mod.ts")];
for await (const file of walk(join(root, "src"), [".ts"])) {
  if (!file.endsWith("_test.ts")) libraryFiles.push(file);
}
for (const file of libraryFiles) {
  const code = stripComments(await Deno.readTextFile(file));
  if (/\b(?:with|assert)\s*\{\s*type\s*:/.test(code)) {
    fail(
      `${relative(root, file)} imports with an import attribute (\`with { type: ... }\`); ` +
        "library code must not: embed the data in a .ts module instead",
    );
  }
}

// --- 2. compile -----------------------------------------------------------

await Deno.remove(outDir, { recursive: true }).catch((e) => {
  if (!(e instanceof Deno.errors.NotFound)) throw e;
});
await Deno.mkdir(outDir);

const outputs: string[] = [];
const toolchain = await Deno.makeTempDir({ prefix: "tessera-build-npm-" });
cleanup = () => Deno.removeSync(toolchain, { recursive: true });
try {
  await Deno.writeTextFile(
    join(toolchain, "package.json"),
    JSON.stringify({
      private: true,
      devDependencies: { ...TOOLCHAIN, "@webgpu/types": WEBGPU_TYPES },
    }),
  );
  console.log("build:npm: installing the TypeScript compiler and type packages from npm");
  await run("npm", [
    "install",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    "--ignore-scripts",
  ], toolchain);

  // The library reaches Deno APIs only through feature detection (checked
  // below for the root entry point); tsc needs just the name to exist. A
  // `Deno.X` *type* in a signature fails here, which is what we want: the
  // published declarations must not need Deno's types.
  await Deno.writeTextFile(
    join(toolchain, "deno_global.d.ts"),
    "declare const Deno: {\n" +
      "  errors: Record<string, new (...args: any[]) => Error>;\n" +
      "  [api: string]: any;\n" +
      "};\n",
  );
  const entries = Object.values(exportsMap).map((p) => join(root, p));
  const tsconfig = {
    compilerOptions: {
      target: "ES2022",
      // What Node 20 implements: ES2023, and ES2024's String.isWellFormed.
      lib: ["ES2023", "ES2024.String", "ESNext.Disposable", "DOM", "DOM.Iterable"],
      module: "ES2022",
      moduleResolution: "Bundler",
      types: ["@webgpu/types", "node"],
      allowImportingTsExtensions: true,
      rewriteRelativeImportExtensions: true,
      declaration: true,
      strict: true,
      noImplicitOverride: true,
      isolatedModules: true,
      useDefineForClassFields: true,
      skipLibCheck: true,
      noEmitOnError: true,
      newLine: "lf",
      rootDir: root,
      outDir,
    },
    files: [...entries, join(toolchain, "deno_global.d.ts")],
  };
  await Deno.writeTextFile(join(toolchain, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
  console.log(`build:npm: compiling ${entries.map((e) => relative(root, e)).join(", ")}`);
  await run("node", [
    join(toolchain, "node_modules", "typescript", "bin", "tsc"),
    "-p",
    join(toolchain, "tsconfig.json"),
  ], toolchain);

  // --- 3. post-pass over the output -----------------------------------------

  for await (const file of walk(outDir, [".js", ".d.ts"])) outputs.push(file);
  for (const file of outputs) {
    let text = await Deno.readTextFile(file);
    // rewriteRelativeImportExtensions covers .js; older compilers left .d.ts
    // alone (side-effect imports included: `import "./src/cpu/register.ts"`).
    text = text.replace(
      /((?:\bfrom\s*|\bimport\s*\(?\s*)["']\.{1,2}\/[^"']*?)\.ts(["'])/g,
      "$1.js$2",
    );
    if (relativeImports(text).some((s) => s.endsWith(".ts"))) {
      fail(`${relative(root, file)} still imports a .ts file`);
    }
    if (file.endsWith(".d.ts") && /\bGPU[A-Z]\w*/.test(stripComments(text))) {
      text = `/// <reference types="@webgpu/types" />\n${text}`;
    }
    await Deno.writeTextFile(file, text);
  }

  // --- 4. the root entry point must not touch the Deno global -------------

  await run("node", [
    join(root, "scripts", "check_npm_graph.mjs"),
    join(toolchain, "node_modules", "typescript", "lib", "typescript.js"),
    relative(root, join(outDir, "mod.js")),
  ], root);
} finally {
  cleanup();
  cleanup = undefined;
}

// --- 5. package.json, README.md, LICENSE ----------------------------------

function subpathTarget(source: string) {
  const base = source.replace(/^\.\//, "./").replace(/\.ts$/, "");
  return { types: `${base}.d.ts`, import: `${base}.js` };
}

const packageJson = {
  name: denoJson.name,
  version: denoJson.version,
  description: DESCRIPTION,
  license: denoJson.license ?? "MIT",
  type: "module",
  main: subpathTarget(exportsMap["."]).import,
  types: subpathTarget(exportsMap["."]).types,
  exports: Object.fromEntries(
    Object.entries(exportsMap).map(([subpath, source]) => [subpath, subpathTarget(source)]),
  ),
  files: ["**/*.js", "**/*.d.ts", "README.md", "LICENSE"],
  sideEffects: false,
  engines: { node: ">=20" },
  dependencies: { "@webgpu/types": WEBGPU_TYPES },
  keywords: ["webgpu", "tensor", "neural-network", "deno", "wgsl"],
};
await Deno.writeTextFile(join(outDir, "package.json"), JSON.stringify(packageJson, null, 2) + "\n");

for (const name of ["README.md", "LICENSE"]) {
  if (await exists(join(root, name))) {
    await Deno.copyFile(join(root, name), join(outDir, name));
  } else if (name === "LICENSE") {
    fail("LICENSE is missing");
  } else {
    console.warn(`build:npm: warning: ${name} is missing; the package ships without it`);
  }
}

console.log(
  `build:npm: wrote npm/ (${outputs.length} files, entry points ${
    Object.keys(exportsMap).join(", ")
  })`,
);

// Run by scripts/build_npm.ts under Node, with the TypeScript compiler it
// installed: `node check_npm_graph.mjs <typescript.js> <entry.js>`. Walks the
// relative imports of the compiled entry point and fails if any module it
// reaches refers to the `Deno` global, which Node does not have. Feature
// detection (`globalThis.Deno`, `typeof Deno`) is allowed. Parsing with the
// compiler, rather than matching text, keeps comments and strings that
// mention Deno from counting.
import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";

const [typescriptPath, entry] = process.argv.slice(2);
const ts = (await import(pathToFileURL(typescriptPath).href)).default;

/** True where `node` (the identifier `Deno`) is a reference to the global. */
function isGlobalReference(node) {
  const parent = node.parent;
  if (ts.isPropertyAccessExpression(parent) && parent.name === node) return false; // x.Deno
  if (
    (ts.isPropertyAssignment(parent) || ts.isMethodDeclaration(parent) ||
      ts.isPropertyDeclaration(parent)) && parent.name === node
  ) return false; // { Deno: ... }
  if (ts.isTypeOfExpression(parent)) return false; // typeof Deno
  return true;
}

const problems = [];
const seen = new Set();
const queue = [resolve(entry)];
while (queue.length > 0) {
  const file = queue.pop();
  if (seen.has(file)) continue;
  seen.add(file);
  const source = ts.createSourceFile(
    file,
    readFileSync(file, "utf8"),
    ts.ScriptTarget.Latest,
    true,
    ts.ScriptKind.JS,
  );
  const follow = (specifier) => {
    if (specifier.startsWith("./") || specifier.startsWith("../")) {
      queue.push(resolve(dirname(file), specifier));
    }
  };
  const visit = (node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) follow(node.moduleSpecifier.text);
    if (
      ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments.length > 0 && ts.isStringLiteral(node.arguments[0])
    ) follow(node.arguments[0].text);
    if (ts.isIdentifier(node) && node.text === "Deno" && isGlobalReference(node)) {
      const { line, character } = source.getLineAndCharacterOfPosition(node.getStart());
      problems.push(`${relative(process.cwd(), file)}:${line + 1}:${character + 1}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}

if (problems.length > 0) {
  console.error(
    `build:npm: the root entry point reaches modules that use the Deno global, which Node ` +
      `lacks:\n  ${problems.join("\n  ")}\nfeature-detect it (globalThis.Deno) or move ` +
      `those modules to a subpath export`,
  );
  process.exit(1);
}
console.log(`build:npm: ${seen.size} modules reachable from ${entry}; none uses the Deno global`);

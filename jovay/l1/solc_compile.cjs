// Compiles a solc standard-JSON input read from stdin with the solcjs package of this repository
// and writes solc's standard-JSON output to stdout (Python drives it: jovay/l1/solc.py).
"use strict";
const path = require("path");

const repoRoot = path.resolve(__dirname, "..", "..");
const solc = require(require.resolve("solc", { paths: [repoRoot] }));

const chunks = [];
process.stdin.on("data", (chunk) => chunks.push(chunk));
process.stdin.on("end", () => {
  const input = Buffer.concat(chunks).toString("utf8");
  const output = solc.compile(input);
  process.stdout.write(JSON.stringify({ solcVersion: solc.version(), output: JSON.parse(output) }));
});

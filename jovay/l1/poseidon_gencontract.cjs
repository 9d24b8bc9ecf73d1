// Prints circomlibjs's Poseidon hasher contracts (init code and ABI) for the input counts given as
// arguments, as JSON {"<n>": {"bytecode": "0x...", "abi": [...]}}. Python drives it and caches the
// output next to the compiled contracts (jovay/l1/poseidon.py).
"use strict";
const path = require("path");

const repoRoot = path.resolve(__dirname, "..", "..");
const circomlibjs = require(require.resolve("circomlibjs", { paths: [repoRoot] }));

const out = {};
for (const arg of process.argv.slice(2)) {
  const n = Number(arg);
  out[n] = {
    bytecode: circomlibjs.poseidonContract.createCode(n),
    abi: circomlibjs.poseidonContract.generateABI(n),
  };
}
process.stdout.write(JSON.stringify(out));

// Reference vectors from circomlibjs for jovay/crypto/poseidon.py and jovay/state/smt.py.
//
// Prints one JSON object (all numbers as decimal strings):
//   poseidon: [{inputs, output}]        circomlibjs buildPoseidon(), arity 1..5
//   smt.steps: [{op, key, value, root}] insert / update / delete on newMemEmptyTrie(), root after each
//   smt.finds: [{key, found, siblings, foundValue, notFoundKey, notFoundValue, isOld0}] on the final tree
//   keys: [{name, args, key}]          state keys (docs/architecture.md): poseidon([domain, ...args])
// Deterministic: a fixed-seed generator, no clock or randomness.
// Usage: node tests/vectors/gen_circomlib_vectors.mjs > vectors.json

import { buildPoseidon, newMemEmptyTrie } from "circomlibjs";

const P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;

// xorshift64*: small, deterministic, good enough for test data.
let seed = 0x9e3779b97f4a7c15n;
function next64() {
    seed ^= seed >> 12n;
    seed ^= (seed << 25n) & 0xffffffffffffffffn;
    seed ^= seed >> 27n;
    return (seed * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn;
}
function randField() {
    let x = 0n;
    for (let i = 0; i < 4; i++) x = (x << 64n) | next64();
    return x % P;
}
function randBelow(n) {
    return Number(next64() % BigInt(n));
}

function poseidonVectors(poseidon) {
    const F = poseidon.F;
    const sets = [
        [0n], [1n], [P - 1n], [randField()],
        [0n, 0n], [1n, 2n], [P - 1n, P - 1n], [randField(), randField()], [0n, P - 1n],
        [0n, 0n, 0n], [1n, 2n, 3n], [P - 1n, 0n, 1n], [randField(), randField(), 1n],
        [0n, 0n, 0n, 0n], [1n, 2n, 3n, 4n], [P - 1n, P - 2n, P - 3n, P - 4n], [randField(), 1n, 2n, randField()],
        [0n, 0n, 0n, 0n, 0n], [1n, 2n, 3n, 4n, 5n], [P - 1n, 1n, P - 1n, 1n, P - 1n],
        [randField(), randField(), randField(), randField(), randField()],
    ];
    for (let i = 0; i < 5; i++) {
        const n = 1 + randBelow(5);
        const s = [];
        for (let j = 0; j < n; j++) s.push(randField());
        sets.push(s);
    }
    return sets.map((inputs) => ({
        inputs: inputs.map(String),
        output: F.toObject(poseidon(inputs)).toString(),
    }));
}

function smtKeys() {
    const keys = [0n, 1n, 2n, 3n, P - 1n];
    const base = randField() >> 100n;
    // Keys sharing long runs of low bits: deep chains of inner nodes with one empty side.
    for (const shift of [20n, 40n, 100n, 200n, 252n]) keys.push(base + (1n << shift));
    keys.push(base);
    const other = randField() >> 60n;
    for (let i = 1n; i <= 4n; i++) keys.push(other + i * (1n << 30n));
    while (keys.length < 40) keys.push(randField());
    return keys;
}

function keyVectors(poseidon) {
    const F = poseidon.F;
    const admin = "0x4a6f766179000000000000000000000000000001";
    const token = "0x4a6f766179010000000000000000000000000007";
    const alice = "0x" + "ab".repeat(20);
    const bob = "0xffffffffffffffffffffffffffffffffffffffff";
    const zero = "0x" + "00".repeat(20);
    const cases = [
        ["account", 1, [alice]], ["account", 1, [zero]], ["account", 1, [bob]],
        ["token_balance", 2, [token, alice]], ["token_balance", 2, [token, bob]],
        ["allowance", 3, [token, alice, bob]], ["allowance", 3, [token, bob, alice]],
        ["token_field", 4, [token, 0]], ["token_field", 4, [token, 4]],
        ["allowlist", 5, [alice]], ["allowlist", 5, [admin]],
        ["system_field", 6, [0]], ["system_field", 6, [1]], ["system_field", 6, [2]],
    ];
    return cases.map(([name, domain, args]) => ({
        name,
        args: args.map(String),
        key: F.toObject(poseidon([BigInt(domain), ...args.map((a) => BigInt(a))])).toString(),
    }));
}

async function smtVectors() {
    const F = (await buildPoseidon()).F;
    const tree = await newMemEmptyTrie();
    const live = new Map(); // key string -> value
    const steps = [];
    const root = () => F.toObject(tree.root).toString();

    async function write(key, value) {
        const present = live.has(key.toString());
        let op;
        if (value === 0n) {
            if (!present) return;
            await tree.delete(key);
            live.delete(key.toString());
            op = "delete";
        } else if (present) {
            await tree.update(key, value);
            live.set(key.toString(), value);
            op = "update";
        } else {
            await tree.insert(key, value);
            live.set(key.toString(), value);
            op = "insert";
        }
        steps.push({ op, key: key.toString(), value: value.toString(), root: root() });
    }

    const keys = smtKeys();
    const valueFor = (i) => (i % 7 === 0 ? 1n : i % 11 === 0 ? P - 1n : randField());
    for (let i = 0; i < keys.length; i++) await write(keys[i], valueFor(i + 1));
    for (let i = 0; i < 12; i++) await write(keys[randBelow(keys.length)], randField());
    // Deletes: the prefix-sharing keys first (their sibling collapses back up), then random ones.
    for (const i of [6, 7, 10, 12, 13, 0, 1]) await write(keys[i], 0n);
    for (let i = 0; i < 10; i++) await write(keys[randBelow(keys.length)], 0n);
    for (const i of [6, 7, 1]) await write(keys[i], randField()); // re-insert some deleted keys
    for (const i of [8, 9, 11, 14]) await write(keys[i], 0n);

    const probes = [...keys, keys[5] + (1n << 21n), keys[11] + (1n << 31n), 5n, 123456789n, randField(), randField()];
    const finds = [];
    for (const key of probes) {
        const r = await tree.find(key);
        finds.push({
            key: key.toString(),
            found: r.found,
            siblings: r.siblings.map((s) => F.toObject(s).toString()),
            foundValue: r.found ? F.toObject(r.foundValue).toString() : "0",
            notFoundKey: r.found ? "0" : F.toObject(r.notFoundKey).toString(),
            notFoundValue: r.found ? "0" : F.toObject(r.notFoundValue).toString(),
            isOld0: r.isOld0,
        });
    }
    return { steps, finds, final: [...live].map(([k, v]) => [k, v.toString()]), root: root() };
}

const poseidon = await buildPoseidon();
const out = { poseidon: poseidonVectors(poseidon), smt: await smtVectors(), keys: keyVectors(poseidon) };
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(0); // circomlibjs keeps worker threads alive

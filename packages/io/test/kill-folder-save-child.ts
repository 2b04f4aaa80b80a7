// Child process for crash-safe-saves.test.ts (run with tooling/test-support/kill-preload.mjs,
// which may SIGKILL it after any file-system change). Modes:
//   save FOLDER a|b   saves tensor set a (three shards) or b (two shards, other names) to FOLDER
//   verify FOLDER     loads FOLDER; prints which set it holds and its checkpoint files
import { readdirSync } from 'node:fs';
import * as mx from '@mlxn/core';
import { loadSync, saveSync } from '../src/index.js';

const [mode, folder, which] = process.argv.slice(2);

const sets: Record<string, Record<string, number>> = {
  a: { 'layer.0.w': 1, 'layer.1.w': 2, 'layer.2.w': 3 },
  b: { 'block.0.w': 4, 'block.1.w': 5 },
};

if (mode === 'save') {
  const arrays = Object.fromEntries(Object.entries(sets[which!]!).map(([k, v]) => [k, mx.full([256], v, 'float32')]));
  saveSync(folder!, arrays, { maxShardSize: 1024 });
  console.log(JSON.stringify({ saved: which }));
} else if (mode === 'verify') {
  const { arrays } = loadSync(folder!);
  const got = Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, [...new Set(a.tolist() as number[])]]));
  const match = Object.entries(sets).find(
    ([, s]) =>
      JSON.stringify(Object.keys(got).sort()) === JSON.stringify(Object.keys(s).sort()) &&
      Object.entries(s).every(([k, v]) => got[k]!.length === 1 && got[k]![0] === v),
  );
  console.log(JSON.stringify({ set: match?.[0] ?? null, got, files: readdirSync(folder!).sort() }));
} else {
  throw new Error(`unknown mode ${mode}`);
}

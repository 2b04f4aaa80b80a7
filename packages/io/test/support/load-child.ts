// Runs one load in a child process and prints its outcome as a JSON line, so a test can tell a
// clean error from a crash (a signal) or a hang (the parent's timeout).
//   node --import tsx test/support/load-child.ts <load|inspect|tokenizer|config> <path>
import { Tokenizer, inspectSafetensors, loadSync, readConfig } from '../../src/index.js';

const [what, path] = process.argv.slice(2) as [string, string];
try {
  let result: unknown;
  if (what === 'load') {
    const { arrays, metadata } = loadSync(path);
    result = { arrays: Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, { shape: a.shape, dtype: a.dtype, values: a.size <= 64 ? a.tolist() : null }])), metadata };
  } else if (what === 'inspect') result = inspectSafetensors(path).tensors.map((t) => t.name);
  else if (what === 'tokenizer') result = Tokenizer.loadSync(path).vocabSize;
  else if (what === 'config') result = await readConfig(path);
  else throw new Error(`unknown action ${what}`);
  console.log(JSON.stringify({ ok: true, result }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: (e as Error).message }));
}

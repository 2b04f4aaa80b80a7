// Hostile files (GGUF headers, safetensors structure, non-regular files, tokenizer files): every
// case ends in a correct load or a documented error.
import { hostileBatteryTest } from '@mlxn/test-support/hostile-test';

for (const name of ['gguf', 'safetensors', 'nonregular', 'tokenizer']) {
  hostileBatteryTest(
    `hostile ${name} files load correctly or give a documented error`,
    new URL(`./hostile/${name}.cases.ts`, import.meta.url),
    { sample: 12 },
  );
}

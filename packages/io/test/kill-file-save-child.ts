// Child process for crash-safe-saves.test.ts: saves FILE (a .safetensors path) holding one
// float32 tensor of MIB mebibytes filled with VALUE, slowly enough (a large tensor, fsynced) for
// the test to SIGKILL it while the native writer's temporary file stands beside FILE.
import * as mx from '@mlxn/core';
import { saveSync } from '../src/index.js';

const [file, mib, value] = process.argv.slice(2);
const x = mx.full([Number(mib) * 262_144], Number(value), 'float32');
mx.eval(x);
console.log('ready');
saveSync(file!, { x });
console.log('saved');

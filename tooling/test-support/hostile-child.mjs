// The child side of the hostile-input battery (hostile.mjs): `list` prints the cases' metadata;
// `run` reads `[{ index, timeoutMs }]` from stdin and runs those cases in order, announcing each
// before it starts, so the parent knows which case a crash or a hang belongs to.
import { writeSync } from 'node:fs';

const [moduleUrl, mode] = process.argv.slice(2);

/** Failures that are accidents of the runtime, never a documented error. */
const ACCIDENTS =
  /Maximum call stack size exceeded|out of memory|Invalid (array|string|typed array) length|Array buffer allocation failed|panicked at|RUST_BACKTRACE/i;

/** Writes one protocol line synchronously, so it is out before anything the next case does. */
function say(message) {
  const bytes = Buffer.from(`${JSON.stringify({ hostile: message })}\n`);
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(1, bytes, off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e; // a full pipe: the parent is reading, try again
    }
  }
}

async function readStdin() {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return JSON.parse(text);
}

function judgeError(c, e) {
  if (!(e instanceof Error)) return { pass: false, reason: `threw a non-Error: ${String(e).slice(0, 200)}` };
  const text = `${e.name}: ${e.message}`;
  if (e.message.trim().length < 8) return { pass: false, reason: `error message too short: ${text}` };
  if (ACCIDENTS.test(text)) return { pass: false, reason: `an accident of the runtime, not a documented error: ${text.slice(0, 300)}` };
  if (c.error instanceof RegExp && !c.error.test(text))
    return { pass: false, reason: `wrong error (wanted ${c.error}): ${text.slice(0, 300)}` };
  if (typeof c.error === 'function' && c.error(e) !== true) return { pass: false, reason: `wrong error: ${text.slice(0, 300)}` };
  return { pass: true, reason: text.slice(0, 300) };
}

function judgeResult(c, result) {
  if (!c.accept) return { pass: false, reason: 'returned without an error, and the case accepts no result' };
  let verdict;
  try {
    verdict = c.accept(result);
  } catch (e) {
    return { pass: false, reason: `accept() threw: ${e?.message ?? e}` };
  }
  if (verdict === true) return { pass: true };
  return { pass: false, reason: typeof verdict === 'string' ? verdict : 'the result is wrong' };
}

const mod = await import(moduleUrl);
const cases = typeof mod.cases === 'function' ? await mod.cases() : mod.cases;
if (!Array.isArray(cases)) throw new Error(`${moduleUrl} must export \`cases\` (an array or a function returning one)`);

if (mode === 'list') {
  const meta = cases.map((c) => ({ name: c.name, class: c.class, regression: c.regression === true, timeoutMs: c.timeoutMs }));
  process.stdout.write(`${JSON.stringify(meta)}\n`);
} else {
  for (const { index, timeoutMs } of await readStdin()) {
    const c = cases[index];
    say({ start: index, timeoutMs });
    let verdict;
    try {
      verdict = judgeResult(c, await c.run());
    } catch (e) {
      verdict = judgeError(c, e);
    }
    const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    say({ done: index, pass: verdict.pass, reason: verdict.reason, maxRssMb });
    if (maxRssMb > Number(process.env.MLXN_HOSTILE_MAX_RSS_MB ?? Infinity)) process.exit(0);
  }
}

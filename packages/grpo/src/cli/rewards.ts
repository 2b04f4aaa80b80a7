/**
 * The `rewards` entries of a training config turned into reward functions: built-ins by name
 * (with options), and JavaScript or TypeScript modules whose exported functions are rewards.
 * TypeScript modules load natively where Node strips types, else through `tsx` when it can be
 * found from the module's folder (or from this package); otherwise the error says what to do.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { accuracyReward, formatReward, jsonSchemaReward, lengthReward, type RewardFunction, toolCallReward } from '../rewards/index.js';
import { ConfigError } from './config-file.js';

type Builtin = (options: Record<string, unknown>, context: { maxCompletionLength: number }) => RewardFunction;

const BUILTINS: Record<string, Builtin> = {
  accuracy: (o) => accuracyReward(o),
  format: (o) => formatReward(o),
  // The generation limit is the trainer's unless given.
  length: (o, c) => {
    if (o.softPunishCache === undefined)
      throw new ConfigError('the length reward needs options.softPunishCache (tokens before the limit that are penalised)');
    return lengthReward({ maxCompletionLength: c.maxCompletionLength, ...o } as never);
  },
  toolCall: (o) => toolCallReward(o),
  jsonSchema: (o) => {
    if (o.schema === undefined) throw new ConfigError('the jsonSchema reward needs options.schema');
    return jsonSchemaReward(o as never);
  },
};
const ALIASES: Record<string, string> = { tool_call: 'toolCall', json_schema: 'jsonSchema' };

/** The built-in reward names a config may use. */
export const BUILTIN_REWARD_NAMES = Object.keys(BUILTINS);

const MODULE_PATH = /[\\/]|\.(m|c)?[jt]s$/;

/**
 * A `{ "module": path, "export": name | names }` entry of a config (rewards or tools), checked:
 * the path, and the export names (undefined: every export the loader accepts).
 */
export function moduleSpec(spec: object, where: string): { module: string; names: string[] | undefined } {
  const { module, export: names, ...rest } = spec as { module: unknown; export?: unknown };
  if (typeof module !== 'string') throw new ConfigError(`${where}: "module" must be a path`);
  if (Object.keys(rest).length > 0) throw new ConfigError(`${where}: unknown key "${Object.keys(rest)[0]}" (module, export)`);
  const list = names === undefined ? undefined : typeof names === 'string' ? [names] : names;
  if (list !== undefined && (!Array.isArray(list) || !list.every((n) => typeof n === 'string')))
    throw new ConfigError(`${where}: "export" must be a name or a list of names`);
  return { module, names: list as string[] | undefined };
}

/** The ESM entry of tsx's API as installed for `from`, or null (require.resolve would give the CommonJS one). */
function tsxEsmApi(from: string): string | null {
  let pkgJson: string;
  try {
    pkgJson = createRequire(from).resolve('tsx/package.json');
  } catch {
    return null;
  }
  const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as { exports?: Record<string, { import?: { default?: string } }> };
  const entry = pkg.exports?.['./esm/api']?.import?.default;
  return entry ? join(dirname(pkgJson), entry) : null;
}

export async function importModule(file: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(file).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ERR_UNKNOWN_FILE_EXTENSION' || !/\.(m|c)?ts$/.test(file)) throw e;
  }
  // This Node cannot run TypeScript itself: use tsx when the project (or this package) has it.
  for (const from of [join(dirname(file), 'noop.js'), import.meta.url]) {
    const api = tsxEsmApi(from);
    if (api === null) continue;
    const { tsImport } = (await import(pathToFileURL(api).href)) as {
      tsImport: (s: string, parent: string) => Promise<Record<string, unknown>>;
    };
    return tsImport(url, import.meta.url);
  }
  throw new ConfigError(
    `${file}: this Node (${process.version}) cannot load TypeScript: install tsx in your project, use Node 22.18 or newer, or write the rewards as a .mjs file`,
  );
}

/** The reward functions a module exports (all of them, or the named ones). */
async function moduleRewards(file: string, names: string[] | undefined): Promise<RewardFunction[]> {
  if (!existsSync(file)) throw new ConfigError(`reward module ${file} does not exist`);
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(file);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`cannot load reward module ${file}: ${(e as Error).message}`);
  }
  if (names !== undefined) {
    return names.map((n) => {
      const f = mod[n];
      if (typeof f !== 'function') throw new ConfigError(`reward module ${file} has no exported function '${n}'`);
      return f as RewardFunction;
    });
  }
  // Every exported function, in a stable order; a default export that is a list of functions counts too.
  const out: RewardFunction[] = [];
  for (const [k, v] of Object.entries(mod)) {
    if (typeof v === 'function') out.push(v as RewardFunction);
    else if (k === 'default' && Array.isArray(v) && v.every((f) => typeof f === 'function')) out.push(...(v as RewardFunction[]));
  }
  if (out.length === 0) throw new ConfigError(`reward module ${file} exports no functions`);
  return out;
}

/**
 * Resolves the config's `rewards` entries, paths relative to `baseDir`: each a built-in name or a
 * module path, `{ builtin, options }` or `{ module, export }`.
 */
export async function resolveRewards(specs: unknown, baseDir: string, context: { maxCompletionLength: number }): Promise<RewardFunction[]> {
  if (!Array.isArray(specs) || specs.length === 0) {
    throw new ConfigError(`"rewards" must be a non-empty list of built-in names (${BUILTIN_REWARD_NAMES.join(', ')}) or module paths`);
  }
  const out: RewardFunction[] = [];
  for (const [i, spec] of (specs as unknown[]).entries()) {
    const where = `rewards[${i}]`;
    const builtin = (name: string, options: Record<string, unknown>) => {
      const make = BUILTINS[ALIASES[name] ?? name];
      if (make === undefined)
        throw new ConfigError(`${where}: unknown built-in reward '${name}' (${BUILTIN_REWARD_NAMES.join(', ')}; or a path to a module)`);
      try {
        return make(options, context);
      } catch (e) {
        throw new ConfigError(`${where}: ${(e as Error).message}`);
      }
    };
    if (typeof spec === 'string') {
      if (MODULE_PATH.test(spec)) out.push(...(await moduleRewards(resolve(baseDir, spec), undefined)));
      else out.push(builtin(spec, {}));
    } else if (spec !== null && typeof spec === 'object' && 'builtin' in spec) {
      const { builtin: name, options, ...rest } = spec as { builtin: unknown; options?: unknown };
      if (typeof name !== 'string') throw new ConfigError(`${where}: "builtin" must be a name`);
      if (Object.keys(rest).length > 0) throw new ConfigError(`${where}: unknown key "${Object.keys(rest)[0]}" (builtin, options)`);
      if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options)))
        throw new ConfigError(`${where}: "options" must be an object`);
      out.push(builtin(name, (options ?? {}) as Record<string, unknown>));
    } else if (spec !== null && typeof spec === 'object' && 'module' in spec) {
      const { module, names } = moduleSpec(spec, where);
      out.push(...(await moduleRewards(resolve(baseDir, module), names)));
    } else {
      throw new ConfigError(
        `${where}: expected a built-in name, a module path, { "builtin": name, "options": {...} } or { "module": path, "export": name }`,
      );
    }
  }
  return out;
}

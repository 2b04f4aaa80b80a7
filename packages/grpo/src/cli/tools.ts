/**
 * The `tools` entries of a GRPO config file turned into tools: JavaScript or TypeScript modules
 * whose exported `{ name, handler, description?, parameters? }` objects (or a default-exported
 * list of them) are tools, loaded as reward modules are.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GRPOTool } from '../tools.js';
import { toolTable } from '../tools.js';
import { ConfigError } from './config-file.js';
import { importModule, moduleSpec } from './rewards.js';

const isTool = (v: unknown): v is GRPOTool =>
  v !== null && typeof v === 'object' && typeof (v as GRPOTool).name === 'string' && typeof (v as GRPOTool).handler === 'function';

async function moduleTools(file: string, names: string[] | undefined, where: string): Promise<GRPOTool[]> {
  if (!existsSync(file)) throw new ConfigError(`${where}: tool module ${file} does not exist`);
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(file);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${where}: cannot load tool module ${file}: ${(e as Error).message}`);
  }
  if (names !== undefined) {
    return names.map((n) => {
      if (!isTool(mod[n])) throw new ConfigError(`${where}: tool module ${file} has no exported tool '${n}' ({ name, handler, ... })`);
      return mod[n] as GRPOTool;
    });
  }
  const out: GRPOTool[] = [];
  for (const [k, v] of Object.entries(mod)) {
    if (isTool(v)) out.push(v);
    else if (k === 'default' && Array.isArray(v) && v.every(isTool)) out.push(...v);
  }
  if (out.length === 0)
    throw new ConfigError(`${where}: tool module ${file} exports no tools ({ name, handler, description?, parameters? })`);
  return out;
}

/** Resolves the config's `tools` entries (module paths, or `{ "module", "export" }`), paths relative to `baseDir`. */
export async function resolveTools(specs: unknown, baseDir: string): Promise<GRPOTool[]> {
  if (!Array.isArray(specs)) throw new ConfigError('"tools" must be a list of module paths (or { "module": path, "export": name })');
  const out: GRPOTool[] = [];
  for (const [i, spec] of (specs as unknown[]).entries()) {
    const where = `tools[${i}]`;
    if (typeof spec === 'string') {
      out.push(...(await moduleTools(resolve(baseDir, spec), undefined, where)));
    } else if (spec !== null && typeof spec === 'object' && 'module' in spec) {
      const { module, names } = moduleSpec(spec, where);
      out.push(...(await moduleTools(resolve(baseDir, module), names, where)));
    } else {
      throw new ConfigError(`${where}: expected a module path or { "module": path, "export": name }`);
    }
  }
  try {
    toolTable(out);
  } catch (e) {
    throw new ConfigError(`"tools": ${(e as Error).message}`);
  }
  return out;
}

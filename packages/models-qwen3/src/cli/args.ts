/**
 * Command-line parsing on top of node:util's `parseArgs`: one table per command declares its
 * flags, their value kinds and help lines, so the parser, the value checks and `--help` never
 * disagree. Mistakes are `UsageError`s (exit code 2) with a one-line message that names the
 * flag; everything after a failed check is the caller's runtime (exit code 1).
 *
 * Shared by every @mlxn command-line tool (`mlxn-qwen3` here, `mlxn-train` in @mlxn/grpo, which
 * imports it as `@mlxn/models-qwen3/cli-args`): an internal export, not a stable API.
 */
import { parseArgs } from 'node:util';
import { editDistance } from '@mlxn/core/internal';

/** A mistake in how the command was called (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** How a flag's value is read. */
export type FlagKind = 'boolean' | 'string' | 'int' | 'number' | 'strings';

export interface FlagSpec {
  kind: FlagKind;
  /** One-letter alias (`-m`). */
  short?: string;
  /** Placeholder of the value in help (`N`, `PATH`). */
  value?: string;
  help: string;
  /** Allowed values of a string flag. */
  choices?: readonly string[];
}

export interface CommandSpec {
  /** `mlxn-qwen3 generate`, `mlxn-train grpo` */
  name: string;
  /** `<model> [prompt]`, `<config.json>` */
  usage: string;
  summary: string;
  flags: Record<string, FlagSpec>;
  /** Lines after the flags (examples, notes). */
  epilog?: string;
  /** Most positionals accepted. */
  maxPositionals: number;
}

export type FlagValue = boolean | string | number | string[];

export interface ParsedArgs {
  flags: Record<string, FlagValue | undefined>;
  positionals: string[];
}

/** The flags every command has. */
export const COMMON_FLAGS: Record<string, FlagSpec> = {
  help: { kind: 'boolean', short: 'h', help: 'Show this help and exit.' },
  version: { kind: 'boolean', help: 'Print the version and exit.' },
  verbose: { kind: 'boolean', help: 'Print stack traces of errors.' },
};

/** How a flag is written on the command line (flags are declared kebab-case). */
const flagText = (name: string) => `--${name}`;

/** The closest of `names` to a mistyped one (edit distance ≤ 2), for did-you-mean messages. */
export function closest(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    const d = editDistance(name, n);
    if (d < bestD) {
      bestD = d;
      best = n;
    }
  }
  return best;
}

function convert(name: string, spec: FlagSpec, raw: string): FlagValue {
  const flag = flagText(name);
  if (spec.kind === 'int') {
    if (!/^-?\d+$/.test(raw.trim())) throw new UsageError(`${flag} expects an integer, got '${raw}'`);
    return Number(raw);
  }
  if (spec.kind === 'number') {
    const v = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`${flag} expects a number, got '${raw}'`);
    return v;
  }
  if (spec.choices && !spec.choices.includes(raw)) {
    throw new UsageError(`${flag} must be one of ${spec.choices.join(', ')}, got '${raw}'`);
  }
  return raw;
}

/**
 * Parses `argv` (without the command words) against `spec`. Unknown flags, flags missing their
 * value, values given to on/off flags, unreadable numbers and extra positionals are
 * `UsageError`s. `--help` (then `--version`) short-circuits every other check.
 */
export function parseCommand(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const all = { ...spec.flags, ...COMMON_FLAGS };
  const options: Record<string, { type: 'boolean' | 'string'; short?: string; multiple?: boolean }> = {};
  for (const [name, f] of Object.entries(all)) {
    options[name] = {
      type: f.kind === 'boolean' ? 'boolean' : 'string',
      ...(f.short ? { short: f.short } : {}),
      ...(f.kind === 'strings' ? { multiple: true } : {}),
    };
  }
  // Non-strict parsing with tokens: the checks below give messages that name the flag and the fix.
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  if (tokens.some((t) => t.kind === 'option' && (t.name === 'help' || t.name === 'h'))) return { flags: { help: true }, positionals: [] };
  if (tokens.some((t) => t.kind === 'option' && t.name === 'version')) return { flags: { version: true }, positionals: [] };
  const flags: Record<string, FlagValue | undefined> = {};
  const positionals: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') {
      positionals.push(t.value);
      continue;
    }
    if (t.kind !== 'option') continue;
    const spec1 = all[t.name];
    if (spec1 === undefined) {
      const near = closest(t.name, Object.keys(all));
      throw new UsageError(`unknown option ${t.rawName}${near ? ` (did you mean ${flagText(near)}?)` : ''}`);
    }
    if (spec1.kind === 'boolean') {
      if (t.value !== undefined) throw new UsageError(`${flagText(t.name)} takes no value, got '${t.value}'`);
      flags[t.name] = true;
      continue;
    }
    // Non-strict parseArgs takes the next word as the value even when it is another flag.
    if (t.value === undefined || (!t.inlineValue && /^--?[a-zA-Z]/.test(t.value) && !/^-\d/.test(t.value))) {
      throw new UsageError(`${flagText(t.name)} needs a value${spec1.value ? ` (${spec1.value})` : ''}`);
    }
    const v = convert(t.name, spec1, t.value);
    if (spec1.kind === 'strings') flags[t.name] = [...((flags[t.name] as string[] | undefined) ?? []), v as string];
    else flags[t.name] = v;
  }
  if (positionals.length > spec.maxPositionals) {
    throw new UsageError(`unexpected argument '${positionals[spec.maxPositionals]}' (usage: ${spec.name} ${spec.usage})`);
  }
  return { flags, positionals };
}

/** The `--help` text of a command. */
export function helpText(spec: CommandSpec): string {
  const rows = Object.entries({ ...spec.flags, ...COMMON_FLAGS }).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : '    '}${flagText(name)}${f.kind === 'boolean' ? '' : f.value?.startsWith('[') ? f.value : ` ${f.value ?? 'VALUE'}`}`;
    const choices = f.choices ? ` (${f.choices.join(' | ')})` : '';
    return [left, `${f.help}${choices}${f.kind === 'strings' ? ' Repeatable.' : ''}`] as const;
  });
  const width = Math.min(34, Math.max(...rows.map(([l]) => l.length)) + 2);
  const lines = rows.map(([l, r]) => `  ${l.padEnd(width)}${l.length >= width ? `\n  ${' '.repeat(width)}` : ''}${r}`);
  return [
    `Usage: ${spec.name} ${spec.usage}`,
    '',
    spec.summary,
    '',
    'Options:',
    ...lines,
    ...(spec.epilog ? ['', spec.epilog] : []),
    '',
  ].join('\n');
}

/** A flag's value with its declared type. */
export function flag<T extends FlagValue>(args: ParsedArgs, name: string): T | undefined {
  return args.flags[name] as T | undefined;
}

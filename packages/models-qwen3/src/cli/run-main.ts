/**
 * How a command-line tool starts and ends: `--help` and `--version` after a command, and turning
 * what `main` returns or throws into the exit code and the one-line error every @mlxn tool prints
 * (`mlxn-train grpo: …`, then `Run 'mlxn-train grpo --help' for usage.` for a usage error).
 */
import { type CommandSpec, helpText, type ParsedArgs, parseCommand, UsageError } from './args.js';
import { versionLine } from './version.js';

/**
 * Prints the help (`--help`) or the version line (`--version`) a command was asked for and
 * returns exit code 0; undefined when neither flag was given. `moduleUrl` is an `import.meta.url`
 * of the tool's package, whose package.json holds the version.
 */
export function answerHelpOrVersion(spec: CommandSpec, args: ParsedArgs, tool: string, moduleUrl: string): number | undefined {
  if (args.flags.help) {
    process.stdout.write(helpText(spec));
    return 0;
  }
  if (args.flags.version) {
    process.stdout.write(versionLine(tool, moduleUrl));
    return 0;
  }
  return undefined;
}

export interface MainOptions {
  /** The tool's name, which starts every error line (`mlxn-qwen3`). */
  tool: string;
  /** The tool's command words: an error in one of them names it (`mlxn-qwen3 generate: …`). */
  commands?: readonly string[];
  /** Whether `--verbose` anywhere on the command line adds the error's stack trace (tools that have the flag). */
  verbose?: boolean;
  /** Errors besides `UsageError` that mean the tool was called wrongly (exit code 2, without the `--help` hint). */
  isUsageError?: (e: unknown) => boolean;
  /** Errors that end the tool quietly with exit code 0 (stdout closed by `| head`). */
  isQuietEnd?: (e: unknown) => boolean;
}

/**
 * Runs `main(argv)` and sets `process.exitCode` to what it returns. A thrown error is printed as
 * one line on stderr and ends with exit code 2 (a `UsageError`, or what `isUsageError` accepts) or
 * 1 (anything else); the process exits by itself once nothing is left running.
 */
export function runMain(main: (argv: string[]) => Promise<number>, options: MainOptions, argv: string[] = process.argv.slice(2)): void {
  const [name] = argv;
  const prefix = name !== undefined && options.commands?.includes(name) ? `${options.tool} ${name}` : options.tool;
  const verbose = options.verbose === true && argv.includes('--verbose');
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      if (options.isQuietEnd?.(e)) {
        process.exitCode = 0;
        return;
      }
      const usage = e instanceof UsageError || options.isUsageError?.(e) === true;
      // Multi-line library messages (lists of problems) stay readable; the first line leads.
      process.stderr.write(`${prefix}: ${e instanceof Error ? e.message : String(e)}\n`);
      if (e instanceof UsageError) process.stderr.write(`Run '${prefix} --help' for usage.\n`);
      if (verbose && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
      process.exitCode = usage ? 2 : 1;
    },
  );
}

/** One command of a tool with several (`mlxn-qwen3 generate`). */
export interface Command {
  spec: CommandSpec;
  /** Runs the command; `argv` is what followed the command word, as typed. */
  run(args: ParsedArgs, argv: readonly string[]): Promise<number>;
}

export interface CommandTool {
  /** The tool's name (`mlxn-train`). */
  tool: string;
  /** What the tool prints without a command (on stderr, exit code 2) or for `--help` (on stdout). */
  help: string;
  commands: Readonly<Record<string, Command>>;
  /** The command words as an unknown command's error lists them (`grpo or sft`). */
  commandList: string;
  /** An `import.meta.url` of the tool's package, for `--version`. */
  moduleUrl: string;
  /** Rewrites a command's arguments before they are parsed (default: as typed). */
  prepareArgs?: (argv: readonly string[]) => readonly string[];
}

/**
 * Runs a tool of several commands (see `runMain`, with `--verbose`): `tool`, `tool --help` and
 * `tool --version` alone, else the command named by the first word with the rest of the line.
 */
export function runCommandTool(tool: CommandTool, options: Pick<MainOptions, 'isUsageError' | 'isQuietEnd'> = {}): void {
  const main = async ([name, ...rest]: string[]): Promise<number> => {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      // Without a command it is a usage error: the help goes to stderr.
      (name === undefined ? process.stderr : process.stdout).write(tool.help);
      return name === undefined ? 2 : 0;
    }
    if (name === '--version') {
      process.stdout.write(versionLine(tool.tool, tool.moduleUrl));
      return 0;
    }
    const command = Object.hasOwn(tool.commands, name) ? tool.commands[name] : undefined;
    if (command === undefined) {
      throw new UsageError(
        name.startsWith('-')
          ? `expected a command before ${name} (${tool.commandList})`
          : `unknown command '${name}' (${tool.commandList})`,
      );
    }
    const args = parseCommand(command.spec, tool.prepareArgs?.(rest) ?? rest);
    return answerHelpOrVersion(command.spec, args, tool.tool, tool.moduleUrl) ?? (await command.run(args, rest));
  };
  runMain(main, { ...options, tool: tool.tool, commands: Object.keys(tool.commands), verbose: true });
}

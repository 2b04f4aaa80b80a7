/**
 * The command that continues an interrupted run: the one that started it, word for word (the
 * config file, `--output-dir`, `--max-steps`, ...), with `--resume` in place of any `--resume`
 * it had, quoted for a POSIX shell so it can be pasted back as is.
 */

/** Words a shell takes literally; anything else is single-quoted. */
const PLAIN_WORD = /^[A-Za-z0-9_\-+.,/:@%][A-Za-z0-9_\-+=.,/:@%]*$/;

/** `word` quoted for sh/bash/zsh (`it's` → `'it'\''s'`). */
export function shellQuote(word: string): string {
  if (PLAIN_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * `program command argv… --resume`, where `argv` is what followed the command word on the
 * original command line. Earlier `--resume`/`--resume=PATH` words are dropped (the run continues
 * from its newest checkpoint); words after `--` stay where they were.
 */
export function resumeCommand(program: string, command: string, argv: readonly string[]): string {
  const end = argv.indexOf('--');
  const kept = argv.filter((a, i) => (end !== -1 && i >= end) || !(a === '--resume' || a.startsWith('--resume=')));
  const at = kept.indexOf('--');
  const words = at === -1 ? [...kept, '--resume'] : [...kept.slice(0, at), '--resume', ...kept.slice(at)];
  return [program, command, ...words].map(shellQuote).join(' ');
}

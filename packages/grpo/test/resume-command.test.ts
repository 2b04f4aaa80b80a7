// The command mlxn-train prints to continue an interrupted run: the original words, quoted for a
// POSIX shell, with --resume in place of any --resume it had.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { resumeCommand, shellQuote } from '../src/cli/resume-command.js';

describe('shellQuote', () => {
  it('leaves plain words alone and single-quotes the rest, as sh reads them back', () => {
    expect(shellQuote('runs/grpo-1')).toBe('runs/grpo-1');
    expect(shellQuote('--resume=runs/x')).toBe('--resume=runs/x');
    for (const word of ['', 'two words', "it's", '$HOME', '*.json', '~/runs', '=cmd', 'a\nb', 'é']) {
      const quoted = shellQuote(word);
      expect(quoted, word).not.toBe(word);
      expect(execFileSync('sh', ['-c', `printf %s ${quoted}`], { encoding: 'utf8' }), word).toBe(word);
    }
  });
});

describe('resumeCommand', () => {
  it('keeps every flag, replaces earlier --resume words and keeps what follows --', () => {
    expect(resumeCommand('mlxn-train', 'sft', ['cfg.json', '-o', 'my runs', '--max-steps', '9'])).toBe(
      "mlxn-train sft cfg.json -o 'my runs' --max-steps 9 --resume",
    );
    expect(resumeCommand('mlxn-train', 'grpo', ['cfg.json', '--resume=runs/checkpoint-4', '--no-progress', '--resume'])).toBe(
      'mlxn-train grpo cfg.json --no-progress --resume',
    );
    expect(resumeCommand('mlxn-train', 'grpo', ['--', '--resume'])).toBe('mlxn-train grpo --resume -- --resume');
  });
});

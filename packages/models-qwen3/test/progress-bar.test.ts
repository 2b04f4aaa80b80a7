// The download progress of the command-line tools: redrawn in place on a terminal, one plain
// line per finished file otherwise (logs get no carriage returns or escape codes).
import { describe, expect, it } from 'vitest';
import { downloadProgressBar, formatBytes } from '../src/cli/progress-bar.js';

function stream(isTTY: boolean): { out: string[]; s: NodeJS.WriteStream } {
  const out: string[] = [];
  return { out, s: { isTTY, write: (t: string) => out.push(t) } as unknown as NodeJS.WriteStream };
}
const event = (file: string, fileBytes: number, fileTotal: number, bytes: number, filesDone: number) => ({
  file,
  fileBytes,
  fileTotal,
  bytes,
  total: 3000,
  filesDone,
  files: 2,
});

describe('download progress', () => {
  it('on a terminal: one line redrawn, then cleared', () => {
    const { out, s } = stream(true);
    const bar = downloadProgressBar('org/name', s);
    bar.update(event('model.safetensors', 0, 2000, 1000, 1));
    bar.update(event('model.safetensors', 500, 2000, 1500, 1)); // within 100 ms: not drawn
    bar.update(event('model.safetensors', 2000, 2000, 3000, 2)); // the end is always drawn
    bar.end();
    expect(out).toEqual([
      '\r\x1b[2KDownloading org/name [########................]  33% 1.0 kB / 3.0 kB  model.safetensors',
      '\r\x1b[2KDownloading org/name [########################] 100% 3.0 kB / 3.0 kB  model.safetensors',
      '\r\x1b[2K',
    ]);
  });

  it('elsewhere: a plain line per finished file', () => {
    const { out, s } = stream(false);
    const bar = downloadProgressBar('org/name', s);
    bar.update(event('config.json', 1000, 1000, 1000, 1));
    bar.update(event('model.safetensors', 10, 2000, 1010, 1));
    bar.update(event('model.safetensors', 2000, 2000, 3000, 2));
    bar.end();
    expect(out).toEqual([
      'downloaded config.json (1.0 kB), 1/2 files, 1.0 kB of 3.0 kB\n',
      'downloaded model.safetensors (2.0 kB), 2/2 files, 3.0 kB of 3.0 kB\n',
    ]);
  });

  it('formats sizes in decimal units', () => {
    expect([0, 999, 1000, 1_500_000, 1_234_000_000, 5e12].map(formatBytes)).toEqual([
      '0 B',
      '999 B',
      '1.0 kB',
      '1.5 MB',
      '1.2 GB',
      '5.0 TB',
    ]);
  });
});

/**
 * Terminal input and output for the commands: writes that wait for a slow pipe instead of
 * buffering without bound, a closed pipe (`| head`) treated as a normal end, dim text only on
 * a colour terminal (and never with NO_COLOR), and stdin read whole.
 */

/** Raised when stdout was closed by the reader; the command ends quietly. */
export class OutputClosed extends Error {
  override name = 'OutputClosed';
}

let closed = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') closed = true;
});

/** Writes to stdout and resolves once the text is handed over (so a slow reader slows us down). */
export function writeOut(text: string): Promise<void> {
  if (closed) return Promise.reject(new OutputClosed('stdout was closed'));
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (e) => {
      if (!e) resolve();
      else if ((e as NodeJS.ErrnoException).code === 'EPIPE') reject(new OutputClosed('stdout was closed'));
      else reject(e);
    });
  });
}

/** Whether to use ANSI styles on `stream`. */
export function useColor(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';
}

export const style = {
  dim: (s: string, on: boolean) => (on ? `\x1b[2m${s}\x1b[22m` : s),
  bold: (s: string, on: boolean) => (on ? `\x1b[1m${s}\x1b[22m` : s),
  yellow: (s: string, on: boolean) => (on ? `\x1b[33m${s}\x1b[39m` : s),
};

/** All of stdin as text (without a final newline). */
export async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin) parts.push(chunk as Buffer);
  return Buffer.concat(parts)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

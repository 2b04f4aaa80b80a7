// Reading files that came from someone else: regular files only, bounded in size. A FIFO given
// as config.json would block a synchronous open (or a worker thread of an asynchronous read)
// forever, and /dev/zero would never end. Files are opened with O_NONBLOCK, so opening a FIFO
// returns at once, and the opened handle is checked with fstat (checking the path first and
// opening it second would leave a window in which it could be swapped).
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

export interface ReadFileLimits {
  /** The largest file accepted, in bytes. */
  maxBytes: number;
  /** What kind of file this is, for the error message ("config.json files"). */
  what: string;
}

// O_NONBLOCK does not exist on Windows, where opening a named pipe does not wait for a writer.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

function kind(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

function checkStats(file: string, st: Stats, limits: ReadFileLimits): void {
  if (!st.isFile()) throw new Error(`${file}: is ${kind(st)}, not a regular file`);
  if (st.size > limits.maxBytes)
    throw new Error(`${file}: ${st.size} bytes exceeds the limit of ${limits.maxBytes} bytes for ${limits.what}`);
}

function tooLong(file: string, limits: ReadFileLimits): Error {
  return new Error(`${file}: grew past the limit of ${limits.maxBytes} bytes for ${limits.what} while being read`);
}

/** open() refuses a socket (ENXIO): name what it is rather than the errno. */
function openError(file: string, e: unknown): unknown {
  if ((e as NodeJS.ErrnoException).code !== 'ENXIO') return e;
  try {
    const st = statSync(file);
    return st.isFile() ? e : new Error(`${file}: is ${kind(st)}, not a regular file`);
  } catch {
    return e;
  }
}

/**
 * Reads a whole regular file of at most `limits.maxBytes` bytes. A missing file throws Node's
 * own error (code `ENOENT`); anything that is not a regular file, or is too large, throws an
 * Error naming the file.
 */
export function readRegularFileSync(file: string, limits: ReadFileLimits): Buffer {
  let fd: number;
  try {
    fd = openSync(file, OPEN_FLAGS);
  } catch (e) {
    throw openError(file, e);
  }
  try {
    const st = fstatSync(fd);
    checkStats(file, st, limits);
    // The file may grow between fstat and the read: read at most one byte past the limit.
    const buf = Buffer.alloc(Math.min(st.size, limits.maxBytes) + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n === buf.length) {
        if (n > limits.maxBytes) throw tooLong(file, limits);
        break;
      }
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** `readRegularFileSync` as UTF-8 text. */
export function readTextFileSync(file: string, limits: ReadFileLimits): string {
  return readRegularFileSync(file, limits).toString('utf8');
}

/** `readTextFileSync`, asynchronously. */
export async function readTextFile(file: string, limits: ReadFileLimits): Promise<string> {
  let handle: FileHandle;
  try {
    handle = await open(file, OPEN_FLAGS);
  } catch (e) {
    throw openError(file, e);
  }
  try {
    const st = await handle.stat();
    checkStats(file, st, limits);
    const buf = Buffer.alloc(Math.min(st.size, limits.maxBytes) + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) {
        if (n > limits.maxBytes) throw tooLong(file, limits);
        break;
      }
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * The nesting depth of JSON text (arrays and objects), counted without parsing it. `JSON.parse`
 * itself copes with any depth, but whatever walks the result recursively (a schema check,
 * `JSON.stringify` when the config is saved again) would overflow the stack.
 */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

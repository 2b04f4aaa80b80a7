// Installs a pinned set of wheels as a runtime folder: downloads them with the machine's own
// `pip download` (so pip's configuration — index, proxy, certificates — applies unchanged),
// checks each file's name and SHA-256 against the pins, and unpacks all of them into one
// folder the way pip lays out site-packages, so the RPATHs and relative lookups inside the
// wheels work as shipped. Idempotent: a complete runtime with the same pins is left alone.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { completeStamp } from './cache.js';
import type { PinnedWheel } from './pins.js';

export interface InstallOptions {
  wheels: readonly PinnedWheel[];
  runtimeDir: string;
  /** Files that must exist afterwards, relative to runtimeDir (the layout the loader relies on). */
  expect: readonly string[];
  log?: (line: string) => void;
  /** The pip command; found on PATH when absent. */
  pip?: readonly string[];
}

/** One line per pin, sorted: what the completeness stamp records. */
function pinDigest(wheels: readonly PinnedWheel[]): string {
  return createHash('sha256')
    .update(
      wheels
        .map((w) => `${w.file} ${w.sha256}\n`)
        .sort()
        .join(''),
    )
    .digest('hex');
}

export function isInstalled(runtimeDir: string, wheels: readonly PinnedWheel[]): boolean {
  const stamp = completeStamp(runtimeDir);
  return existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === pinDigest(wheels);
}

export function installWheels(opts: InstallOptions): 'installed' | 'present' {
  const log = opts.log ?? (() => {});
  const { runtimeDir, wheels } = opts;
  if (isInstalled(runtimeDir, wheels)) return 'present';

  // Downloads are kept beside the runtime until it is complete, so an interrupted install
  // resumes instead of fetching gigabytes again; pip reuses files already in --dest.
  const downloads = `${runtimeDir}.wheels`;
  mkdirSync(downloads, { recursive: true });
  // Each wheel is hashed once: those already verified here are not hashed again below.
  const verified = new Set(wheels.filter((w) => existsSync(join(downloads, w.file)) && sha256File(join(downloads, w.file)) === w.sha256));
  const missing = wheels.filter((w) => !verified.has(w));
  if (missing.length > 0) {
    for (const w of missing) rmSync(join(downloads, w.file), { force: true });
    log(`downloading ${missing.length} wheel(s) with pip: ${missing.map((w) => `${w.package}==${w.version}`).join(' ')}`);
    const pip = opts.pip ?? findPip();
    // --no-deps: the pins are the complete set; pip must not resolve anything else.
    execFileSync(
      pip[0],
      [
        ...pip.slice(1),
        'download',
        '--no-deps',
        '--only-binary=:all:',
        '--dest',
        downloads,
        ...missing.map((w) => `${w.package}==${w.version}`),
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  }
  for (const w of missing) {
    const file = join(downloads, w.file);
    if (!existsSync(file)) {
      throw new Error(
        `pip did not produce ${w.file} for ${w.package}==${w.version} (it may have chosen a wheel for another platform); files in ${downloads} are kept for inspection`,
      );
    }
    const digest = sha256File(file);
    if (digest !== w.sha256) {
      rmSync(file, { force: true });
      throw new Error(`SHA-256 mismatch for ${w.file}: got ${digest}, pinned ${w.sha256}`);
    }
  }

  log(`unpacking into ${runtimeDir}`);
  const staging = `${runtimeDir}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const python = findPython();
  // Python's zipfile is present wherever pip is, and keeps the wheels' file modes simple.
  for (const w of wheels) execFileSync(python, ['-m', 'zipfile', '-e', join(downloads, w.file), staging], { stdio: 'inherit' });
  for (const rel of opts.expect) {
    if (!existsSync(join(staging, rel))) throw new Error(`the unpacked wheels lack ${rel}; the wheel layout changed`);
  }
  rmSync(runtimeDir, { recursive: true, force: true });
  renameSync(staging, runtimeDir);
  writeFileSync(completeStamp(runtimeDir), `${pinDigest(wheels)}\n`);
  rmSync(downloads, { recursive: true, force: true });
  return 'installed';
}

/** Streams the file: the largest pinned wheel is half a gigabyte. */
function sha256File(path: string): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(8 << 20);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) {
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function works(cmd: readonly string[]): boolean {
  try {
    execFileSync(cmd[0], [...cmd.slice(1), '--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function findPip(): readonly string[] {
  const found = [['pip3'], ['pip'], ['python3', '-m', 'pip'], ['python', '-m', 'pip']].find(works);
  if (!found) throw new Error('pip was not found; install Python 3 with pip (it only downloads the wheels)');
  return found;
}

function findPython(): string {
  const found = ['python3', 'python'].find((p) => works([p]));
  if (!found) throw new Error('python3 is needed to unpack the wheels');
  return found;
}

#!/usr/bin/env node
// Fetches the pinned prebuilt MLX runtime (the official `mlx-cpu` wheel from PyPI) with the
// machine's ordinary `pip download`, verifies its SHA-256 against pin.json, and unpacks
// headers, CMake files and shared libraries into a cache outside the repository.
//
// The wheel keeps its bundled BLAS/LAPACK/gfortran in a sibling `mlx_cpu.libs/` folder and
// points libmlx.so at it with RPATH `$ORIGIN/../../mlx_cpu.libs`. We flatten everything into
// one `lib/` folder and shorten that RPATH to `$ORIGIN`, so the set can be copied beside the
// `.node` binary as a unit. Idempotent: a verified cache is reused.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheRoot, pin, platformKey, runtimePrefix } from './paths.mjs';

const log = (msg) => process.stderr.write(`[mlx-runtime] ${msg}\n`);

function fail(msg) {
  process.stderr.write(`[mlx-runtime] error: ${msg}\n`);
  process.exit(1);
}

if (process.env.MLXN_MLX_DIR) {
  log(`MLXN_MLX_DIR=${process.env.MLXN_MLX_DIR} is set; nothing to fetch.`);
  process.exit(0);
}

const dist = pin.distributions[platformKey()];
if (!dist) {
  fail(
    `no prebuilt MLX ${pin.version} is pinned for ${platformKey()}. ` +
      'Build MLX yourself and set MLXN_MLX_DIR=<prefix with include/ and lib/> (see docs/building.md).',
  );
}

const prefix = runtimePrefix();
const stamp = join(prefix, '.complete');
if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === dist.sha256) {
  log(`MLX ${pin.version} already in ${prefix}`);
  process.exit(0);
}

fs.mkdirSync(cacheRoot(), { recursive: true });
const work = fs.mkdtempSync(join(tmpdir(), 'mlxn-mlx-'));
try {
  const wheelPath = join(cacheRoot(), dist.file);
  if (!fs.existsSync(wheelPath) || sha256(wheelPath) !== dist.sha256) {
    log(`downloading ${dist.package}==${pin.version} with pip`);
    const pip = findPip();
    execFileSync(
      pip[0],
      [...pip.slice(1), 'download', '--no-deps', '--only-binary=:all:', '--dest', work, `${dist.package}==${pin.version}`],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    const got = fs.readdirSync(work).find((f) => f.endsWith('.whl'));
    if (!got) fail('pip download produced no wheel');
    if (got !== dist.file) fail(`pip chose ${got}, expected ${dist.file} (platform mismatch?)`);
    fs.renameSync(join(work, got), wheelPath);
  }
  const digest = sha256(wheelPath);
  if (digest !== dist.sha256) {
    fs.rmSync(wheelPath, { force: true });
    fail(`SHA-256 mismatch for ${dist.file}: got ${digest}, pinned ${dist.sha256}`);
  }

  log('unpacking');
  const unpacked = join(work, 'wheel');
  unzip(wheelPath, unpacked);

  const staging = `${prefix}.partial`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(join(staging, 'lib'), { recursive: true });
  fs.cpSync(join(unpacked, 'mlx', 'include'), join(staging, 'include'), { recursive: true });
  if (fs.existsSync(join(unpacked, 'mlx', 'share'))) {
    fs.cpSync(join(unpacked, 'mlx', 'share'), join(staging, 'share'), { recursive: true });
  }
  fs.cpSync(join(unpacked, 'mlx', 'lib', 'libmlx.so'), join(staging, 'lib', 'libmlx.so'));
  const bundled = join(unpacked, 'mlx_cpu.libs');
  if (fs.existsSync(bundled)) {
    for (const f of fs.readdirSync(bundled)) fs.cpSync(join(bundled, f), join(staging, 'lib', f));
  }
  rewriteRpath(join(staging, 'lib', 'libmlx.so'), '$ORIGIN/../../mlx_cpu.libs', '$ORIGIN');
  fs.writeFileSync(join(staging, 'lib', 'MLX_VERSION'), `${pin.version}\n`);

  fs.rmSync(prefix, { recursive: true, force: true });
  fs.renameSync(staging, prefix);
  fs.writeFileSync(stamp, `${dist.sha256}\n`);
  log(`MLX ${pin.version} ready in ${prefix}`);
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}

function sha256(path) {
  return createHash('sha256').update(fs.readFileSync(path)).digest('hex');
}

function findPip() {
  for (const cand of [['pip3'], ['pip'], ['python3', '-m', 'pip'], ['python', '-m', 'pip']]) {
    try {
      execFileSync(cand[0], [...cand.slice(1), '--version'], { stdio: 'ignore' });
      return cand;
    } catch {}
  }
  fail('pip was not found; install Python with pip, or set MLXN_MLX_DIR to an MLX install');
}

function unzip(zip, dest) {
  fs.mkdirSync(dest, { recursive: true });
  // Python's zipfile is always present where pip is; avoids depending on `unzip`.
  const py = ['python3', 'python'].find((p) => {
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  if (!py) fail('python3 is needed to unpack the wheel');
  execFileSync(py, ['-m', 'zipfile', '-e', zip, dest], { stdio: 'inherit' });
}

// Replaces a DT_RPATH string in place. The new path is shorter, so it fits in the old
// slot; the tail is zero-filled. The old string must occur exactly once.
function rewriteRpath(file, from, to) {
  const buf = fs.readFileSync(file);
  const needle = Buffer.from(`${from}\0`);
  const at = buf.indexOf(needle);
  if (at < 0) {
    if (buf.indexOf(Buffer.from(`${to}\0`)) >= 0) return;
    fail(`RPATH ${from} not found in ${file}; the wheel layout changed`);
  }
  if (buf.indexOf(needle, at + 1) >= 0) fail(`RPATH ${from} occurs twice in ${file}`);
  buf.fill(0, at, at + needle.length);
  buf.write(to, at, 'latin1');
  fs.writeFileSync(file, buf);
  fs.statSync(file);
}

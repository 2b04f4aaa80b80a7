// Puts a copy of the `.node` beside the CUDA libmlx.so. The binary's RPATH is `$ORIGIN`, so
// loaded from there it links that libmlx.so (same MLX version and headers as the CPU one it
// was built against), and MLX, which locates its JIT headers from where libmlx.so was loaded,
// finds them. A copy rather than a link: Node loads the real path of a symlink, and a hard
// link cannot cross file systems.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Returns the path of the copy of `source` in `libDir`, making it first when it is missing or
 * `source` changed since (size and modification time, like make; hashing a 100 MB dev binary
 * on every start would cost more than the check saves). One copy per source location, so
 * rebuilds replace their copy instead of piling up; processes still running keep the old file.
 */
export function placeBinary(source: string, libDir: string): string {
  const real = realpathSync(source);
  const tag = createHash('sha256').update(real).digest('hex').slice(0, 16);
  const target = join(libDir, `mlxn-${tag}.node`);
  const stampPath = `${target}.source`;
  const { size, mtimeMs } = statSync(real);
  const stamp = `${size} ${mtimeMs} ${real}\n`;
  if (existsSync(target) && existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp) return target;
  // Write under a private name and rename: concurrent starts never load a half-copied file.
  const partial = `${target}.${process.pid}.partial`;
  try {
    copyFileSync(real, partial);
    renameSync(partial, target);
    writeFileSync(`${stampPath}.${process.pid}`, stamp);
    renameSync(`${stampPath}.${process.pid}`, stampPath);
  } finally {
    rmSync(partial, { force: true });
  }
  return target;
}

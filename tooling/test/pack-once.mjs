// vitest global setup: packs every published package once into a temp folder and hands the
// list of tarballs (with their packed manifests) to the test files through `inject('packed')`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packAll } from '../packaging/pack.mjs';

export default function setup(project) {
  const dir = mkdtempSync(join(tmpdir(), 'mlxn-packed-'));
  project.provide('packed', packAll({ dest: dir }));
  project.provide('packDir', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}

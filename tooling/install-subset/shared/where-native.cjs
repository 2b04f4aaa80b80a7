// Where the native binary and libmlx.so of this process were loaded from, read from the
// kernel's map of the process: proof that an install used its platform package rather than a
// source checkout's native/ folder or MLXN_NATIVE_PATH.
'use strict';
const { readFileSync, realpathSync } = require('node:fs');
const { dirname, join } = require('node:path');

function loadedNativeFiles() {
  const paths = readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[5])
    .filter((p) => p && /\/(mlxn\.[^/]+\.node|libmlx\.so)$/.test(p));
  return [...new Set(paths)];
}

/** Throws unless the binary and libmlx.so both come from node_modules/@mlxn/core-<triple>. */
function assertNativeFromPlatformPackage(projectDir, triple = 'linux-x64-gnu') {
  const expected = realpathSync(join(projectDir, 'node_modules/@mlxn', `core-${triple}`));
  const loaded = loadedNativeFiles();
  for (const name of [`mlxn.${triple}.node`, 'libmlx.so']) {
    const hit = loaded.find((p) => p.endsWith(`/${name}`));
    if (!hit) throw new Error(`${name} is not loaded (loaded: ${loaded.join(', ') || 'none'})`);
    if (dirname(hit) !== expected) throw new Error(`${name} was loaded from ${hit}, not from ${expected}`);
  }
}

module.exports = { assertNativeFromPlatformPackage, loadedNativeFiles };

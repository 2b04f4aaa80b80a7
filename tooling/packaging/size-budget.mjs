// The size budget of the platform package (@mlxn/core-<triple>): what a user downloads
// (packed) and what lands in node_modules (unpacked). Checked in CI by
// tooling/test/size-budget.test.mjs and printed by tooling/check-packages.mjs.
//
// The budget depends on the Cargo profile the binary was built with. CI builds the dev profile
// (opt-level 1 with line tables, docs/building.md), so CI checks the dev budget; a release build
// (LTO, symbols stripped), which is what gets published, is checked against the release budget
// by `node tooling/check-packages.mjs --native-dir <release build>`. The profile is read from
// the binary itself (a dev build carries .debug_* sections, a release build does not), so a
// budget can never be checked against the wrong build.
//
// Where the space goes is documented in docs/building.md ("Size budget"). The budgets leave
// about 15 % headroom over the sizes measured when they were set; raising one is a decision to
// write down there, not a number to bump.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';

const MB = 1_000_000;

/** Bytes, per profile: packed = the .tgz, unpacked = the sum of the files it holds. */
export const PLATFORM_SIZE_BUDGET = {
  release: { packed: 15 * MB, unpacked: 45 * MB },
  dev: { packed: 31 * MB, unpacked: 115 * MB },
};

/** Every file of a tarball with its size in bytes, largest first. */
function tarballEntries(tarball) {
  // GNU tar's verbose listing: mode owner/group size date time name.
  const listing = execFileSync('tar', ['-tvzf', tarball], { encoding: 'utf8' });
  const entries = [];
  for (const line of listing.split('\n')) {
    if (!line.startsWith('-')) continue; // files only: no folders or links
    const m = line.match(/^\S+\s+\S+\s+(\d+)\s+\S+\s+\S+\s+(.+)$/);
    if (!m) throw new Error(`cannot read tar listing line: ${line}`);
    entries.push({ path: m[2], bytes: Number(m[1]) });
  }
  return entries.sort((a, b) => b.bytes - a.bytes);
}

/**
 * The Cargo profile of a packed platform package's binary: 'dev' when the `.node` carries
 * DWARF sections, 'release' when it does not.
 */
function nativeProfile(tarball, manifest) {
  const binary = `package/${manifest.main}`;
  const elf = execFileSync('tar', ['-xzOf', tarball, binary], { maxBuffer: 1024 * MB });
  return elfSectionNames(elf, binary).includes('.debug_info') ? 'dev' : 'release';
}

/**
 * The section names of a 64-bit little-endian ELF file, read from its section header table.
 * (A plain string search is not enough: Rust's std carries ".debug_info" as a string literal
 * for its backtrace reader, also in a stripped release binary.)
 */
function elfSectionNames(elf, label = 'binary') {
  if (elf.subarray(0, 4).toString('latin1') !== '\x7fELF' || elf[4] !== 2 || elf[5] !== 1) {
    throw new Error(`${label} is not a 64-bit little-endian ELF file`);
  }
  const sectionHeaders = Number(elf.readBigUInt64LE(0x28));
  const headerSize = elf.readUInt16LE(0x3a);
  const count = elf.readUInt16LE(0x3c);
  const namesIndex = elf.readUInt16LE(0x3e);
  const header = (i) => {
    const at = sectionHeaders + i * headerSize;
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 0x18)) };
  };
  const names = header(namesIndex).offset;
  return Array.from({ length: count }, (_, i) => {
    const start = names + header(i).name;
    return elf.subarray(start, elf.indexOf(0, start)).toString('latin1');
  });
}

/** Measures a packed platform package: profile, packed and unpacked bytes, files by size. */
export function measurePlatformPackage({ tarball, manifest }) {
  const entries = tarballEntries(tarball);
  return {
    profile: nativeProfile(tarball, manifest),
    packed: statSync(tarball).size,
    unpacked: entries.reduce((sum, e) => sum + e.bytes, 0),
    entries,
  };
}

/** The ways a measurement exceeds its profile's budget (empty when within it). */
export function budgetProblems(measured, budgets = PLATFORM_SIZE_BUDGET) {
  const budget = budgets[measured.profile];
  if (!budget) throw new Error(`no size budget for profile ${measured.profile}`);
  const problems = [];
  for (const kind of ['packed', 'unpacked']) {
    if (measured[kind] > budget[kind]) {
      problems.push(
        `${kind} size ${(measured[kind] / MB).toFixed(1)} MB exceeds the ${measured.profile} budget of ${budget[kind] / MB} MB`,
      );
    }
  }
  return problems;
}

/** One line per file, for reports: `  12.3 MB  package/libmlx.so`. */
export function describeEntries(entries, limit = 8) {
  return entries.slice(0, limit).map((e) => `  ${(e.bytes / MB).toFixed(1).padStart(6)} MB  ${e.path}`);
}

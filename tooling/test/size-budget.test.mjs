// The platform package stays within the size budget of the profile its binary was built with
// (tooling/packaging/size-budget.mjs; docs/building.md, "Size budget"). CI builds the dev
// profile, so CI checks the dev budget; check-packages.mjs --native-dir checks a release build.
import { describe, expect, inject, it } from 'vitest';
import { budgetProblems, describeEntries, measurePlatformPackage, PLATFORM_SIZE_BUDGET } from '../packaging/size-budget.mjs';

const platforms = inject('packed').filter((p) => p.manifest.os !== undefined);

describe.each(platforms.map((p) => [p.name, p]))('%s', (_name, p) => {
  const measured = measurePlatformPackage(p);

  it('is within the size budget of its build profile', () => {
    const report = [
      `${measured.profile} build: packed ${measured.packed} B, unpacked ${measured.unpacked} B`,
      ...describeEntries(measured.entries),
    ];
    expect(budgetProblems(measured), report.join('\n')).toEqual([]);
  });

  it('holds the binary and libmlx.so, the two files the budget is mostly made of', () => {
    const paths = measured.entries.map((e) => e.path);
    expect(paths).toContain(`package/${p.manifest.main}`);
    expect(paths).toContain('package/libmlx.so');
    expect(measured.unpacked).toBeGreaterThan(measured.packed);
  });
});

describe('budgetProblems', () => {
  it('reports each size over the budget of the measured profile', () => {
    const { packed, unpacked } = PLATFORM_SIZE_BUDGET.release;
    expect(budgetProblems({ profile: 'release', packed, unpacked })).toEqual([]);
    const over = budgetProblems({ profile: 'release', packed: packed + 1, unpacked: unpacked + 1 });
    expect(over).toHaveLength(2);
    expect(over[0]).toMatch(/^packed size .* exceeds the release budget/);
    // A dev build is larger; measured against the release budget it would fail.
    expect(budgetProblems({ profile: 'dev', packed: packed + 1, unpacked: unpacked + 1 })).toEqual([]);
    expect(() => budgetProblems({ profile: 'bench', packed, unpacked })).toThrow(/no size budget for profile bench/);
  });
});

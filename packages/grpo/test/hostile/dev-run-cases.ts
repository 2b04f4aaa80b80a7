const { cases } = await import(process.argv[2]!);
const counts: Record<string, [number, number]> = {};
for (const c of cases.filter((c: { name: string }) => !process.argv[3] || new RegExp(process.argv[3]).test(c.name))) {
  let outcome: string;
  let ok = false;
  try {
    outcome = `resolved: ${String(await c.run())}`;
  } catch (e) {
    outcome = `threw: ${(e as Error).message.split('\n')[0]}`;
    ok = c.error.test((e as Error).message);
  }
  counts[c.class] ??= [0, 0];
  counts[c.class]![0]++;
  if (!ok) counts[c.class]![1]++;
  console.log(`${ok ? 'PASS' : 'FAIL'} ${c.name} :: ${outcome.slice(0, 300)}`);
}
console.log(JSON.stringify(counts));

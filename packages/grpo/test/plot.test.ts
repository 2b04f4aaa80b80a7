// The plot helper: PNG files are decoded back with an independent reader (node:zlib's inflate
// and CRC-32) and checked pixel by pixel where the curves must be; HTML pages are checked for
// one polyline per metric with one vertex per finite value, and for being self-contained.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync, crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { MetricsLog } from '../src/metrics.js';
import { PlotError, type PlotPanel, type PlotRecord, plot } from '../src/plot.js';

const dir = () => mkdtempSync(join(tmpdir(), 'mlxn-plot-'));

// reward rises 0 → 1, loss falls 2 → 0.2 over steps 1..10
const records: PlotRecord[] = Array.from({ length: 10 }, (_, i) => ({
  step: i + 1,
  epoch: 0,
  reward: i / 9,
  loss: 2 - (1.8 * i) / 9,
  kl: i === 4 ? null : 0.01 * i,
}));

interface Decoded {
  width: number;
  height: number;
  pixel(x: number, y: number): [number, number, number];
  chunkTypes: string[];
}

function decodePng(bytes: Buffer): Decoded {
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let off = 8;
  const types: string[] = [];
  const idat: Buffer[] = [];
  let ihdr: Buffer | undefined;
  while (off < bytes.length) {
    const len = bytes.readUInt32BE(off);
    const type = bytes.toString('latin1', off + 4, off + 8);
    const data = bytes.subarray(off + 8, off + 8 + len);
    const stored = bytes.readUInt32BE(off + 8 + len);
    expect(stored, `CRC of ${type}`).toBe(zlibCrc32(bytes.subarray(off + 4, off + 8 + len)));
    types.push(type);
    if (type === 'IHDR') ihdr = data;
    if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  expect(off).toBe(bytes.length);
  // The empty IEND chunk's CRC is a constant of the format: a known answer for the CRC-32 used.
  expect(bytes.readUInt32BE(bytes.length - 4)).toBe(0xae426082);
  expect(ihdr).toBeDefined();
  const width = ihdr!.readUInt32BE(0);
  const height = ihdr!.readUInt32BE(4);
  expect([ihdr![8], ihdr![9], ihdr![10], ihdr![11], ihdr![12]]).toEqual([8, 2, 0, 0, 0]);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 3 + 1;
  expect(raw.length).toBe(stride * height);
  for (let y = 0; y < height; y++) expect(raw[y * stride], `filter of row ${y}`).toBe(0);
  return {
    width,
    height,
    chunkTypes: types,
    pixel: (x, y) => {
      const i = y * stride + 1 + x * 3;
      return [raw[i], raw[i + 1], raw[i + 2]];
    },
  };
}

function toPixel(p: PlotPanel, step: number, value: number): [number, number] {
  const { box, xDomain, yDomain } = p;
  return [
    Math.round(box.left + ((step - xDomain[0]) / (xDomain[1] - xDomain[0])) * (box.right - box.left)),
    Math.round(box.bottom - ((value - yDomain[0]) / (yDomain[1] - yDomain[0])) * (box.bottom - box.top)),
  ];
}

function colorNear(img: Decoded, x: number, y: number, color: readonly number[], radius = 1): boolean {
  for (let dy = -radius; dy <= radius; dy++)
    for (let dx = -radius; dx <= radius; dx++) {
      const px = img.pixel(x + dx, y + dy);
      if (px[0] === color[0] && px[1] === color[1] && px[2] === color[2]) return true;
    }
  return false;
}

describe('plot to PNG', () => {
  it('writes a valid PNG with each curve where its values are', () => {
    const out = join(dir(), 'curves.png');
    const res = plot(records, { output: out, width: 640 });
    expect(res.format).toBe('png');
    expect(res.panels.map((p) => p.metric)).toEqual(['reward', 'loss']);
    const img = decodePng(readFileSync(out));
    expect(img.chunkTypes).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect([img.width, img.height]).toEqual([640, res.height]);
    expect(res.panels[0].color).not.toEqual(res.panels[1].color);

    for (const panel of res.panels) {
      const metric = panel.metric as 'reward' | 'loss';
      expect(panel.points).toBe(10);
      for (const r of records) {
        const [x, y] = toPixel(panel, r.step, r[metric] as number);
        expect(colorNear(img, x, y, panel.color), `${metric} at step ${r.step}`).toBe(true);
      }
      // the middle of each segment is inked too (the vertices are joined)
      for (let i = 1; i < records.length; i++) {
        const a = toPixel(panel, records[i - 1].step, records[i - 1][metric] as number);
        const b = toPixel(panel, records[i].step, records[i][metric] as number);
        expect(colorNear(img, Math.round((a[0] + b[0]) / 2), Math.round((a[1] + b[1]) / 2), panel.color)).toBe(true);
      }
    }
    // The reward rises: its colour is absent from the top-left of its panel, where a falling
    // curve would be; the loss falls: absent from its bottom-left.
    const [reward, loss] = res.panels;
    const [rx, ry] = toPixel(reward, 1, 1);
    expect(colorNear(img, rx + 3, ry, reward.color, 2)).toBe(false);
    const [lx, ly] = toPixel(loss, 1, 0.2);
    expect(colorNear(img, lx + 3, ly, loss.color, 2)).toBe(false);
    // pixels outside every plotting area carry no curve colour
    let stray = 0;
    for (let y = 0; y < img.height; y++)
      for (let x = 0; x < img.width; x++) {
        const inside = res.panels.some((p) => x >= p.box.left - 2 && x <= p.box.right + 2 && y >= p.box.top - 2 && y <= p.box.bottom + 2);
        const label = res.panels.some((p) => y >= p.box.top - 20 && y < p.box.top && x < p.box.left + 120);
        if (!inside && !label && res.panels.some((p) => colorNear(img, x, y, p.color, 0))) stray++;
      }
    expect(stray).toBe(0);
  });

  it('reads a metrics.jsonl written by the trainer and plots any logged metric', () => {
    const d = dir();
    const log = new MetricsLog({ outputDir: d });
    for (const r of records) {
      log.addAll({ reward: r.reward as number, loss: r.loss as number });
      if (r.kl !== null) log.add('kl', r.kl as number);
      log.flush({ step: r.step, epoch: 0 });
    }
    const out = join(d, 'kl.png');
    const res = plot(join(d, 'metrics.jsonl'), { output: out, metrics: ['kl'] });
    expect(res.panels.map((p) => [p.metric, p.points])).toEqual([['kl', 9]]);
    const img = decodePng(readFileSync(out));
    for (const r of records) {
      if (r.kl === null) continue;
      const [x, y] = toPixel(res.panels[0], r.step, r.kl as number);
      expect(colorNear(img, x, y, res.panels[0].color)).toBe(true);
    }
  });
});

describe('plot to HTML', () => {
  it('draws one polyline per metric with one vertex per finite value, self-contained', () => {
    const out = join(dir(), 'curves.html');
    const res = plot(records, { output: out, metrics: ['reward', 'loss', 'kl'], title: 'run <a>' });
    const html = readFileSync(out, 'utf8');
    const polylines = [...html.matchAll(/<polyline points="([^"]*)"[^>]*data-metric="([^"]*)"/g)];
    expect(polylines.map((m) => m[2])).toEqual(['reward', 'loss', 'kl']);
    expect(html.match(/<polyline/g)?.length).toBe(3);
    expect(polylines.map((m) => m[1].trim().split(/\s+/).length)).toEqual([10, 10, 9]);
    // the vertices are the projected values
    const first = polylines[0][1].split(' ').map((p) => p.split(',').map(Number));
    records.forEach((r, i) => {
      const [x, y] = toPixel(res.panels[0], r.step, r.reward as number);
      expect(Math.abs(first[i][0] - x)).toBeLessThanOrEqual(0.5);
      expect(Math.abs(first[i][1] - y)).toBeLessThanOrEqual(0.5);
    });
    expect(html).not.toMatch(/<script|https?:|url\(|<link|src=/i);
    expect(html).toContain('run &#60;a&#62;');
    expect(html).not.toContain('<a>');
  });

  it('plots only the default metrics that exist (SFT logs have no reward)', () => {
    const res = plot(
      records.map((r) => ({ step: r.step, loss: r.loss })),
      { output: join(dir(), 'sft.htm') },
    );
    expect(res.format).toBe('html');
    expect(res.panels.map((p) => p.metric)).toEqual(['loss']);
  });
});

describe('plot input errors', () => {
  const out = () => join(dir(), 'x.png');

  it('rejects empty input', () => {
    expect(() => plot([], { output: out() })).toThrow(/no metric records/);
    const d = dir();
    writeFileSync(join(d, 'm.jsonl'), '\n\n');
    expect(() => plot(join(d, 'm.jsonl'), { output: out() })).toThrow(/no metric records in/);
  });

  it('names a malformed line, but tolerates a torn last line', () => {
    const d = dir();
    const good = records.slice(0, 3).map((r) => JSON.stringify(r));
    writeFileSync(join(d, 'bad.jsonl'), `${good[0]}\n{"step": 2, "loss"\n${good[2]}\n`);
    expect(() => plot(join(d, 'bad.jsonl'), { output: out() })).toThrow(/line 2 is not valid JSON/);
    writeFileSync(join(d, 'torn.jsonl'), `${good.join('\n')}\n{"step": 4, "lo`);
    expect(plot(join(d, 'torn.jsonl'), { output: out() }).panels[0].points).toBe(3);
  });

  it('rejects records without a step and non-numeric values', () => {
    expect(() => plot([{ loss: 1 } as unknown as PlotRecord], { output: out() })).toThrow(/record 0 has no finite numeric "step"/);
    expect(() => plot([null as unknown as PlotRecord], { output: out() })).toThrow(/record 0 is not an object/);
    expect(() => plot([{ step: 1, loss: 'x' } as unknown as PlotRecord], { output: out(), metrics: ['loss'] })).toThrow(
      /non-numeric "loss"/,
    );
  });

  it('names missing metrics and bad options', () => {
    expect(() => plot(records, { output: out(), metrics: ['entropy'] })).toThrow(
      /no record has a finite "entropy" value \(available: epoch, reward, loss, kl\)/,
    );
    expect(() => plot([{ step: 1, kl: 0.1 }], { output: out() })).toThrow(/neither "reward" nor "loss"/);
    expect(() => plot(records, { output: join(dir(), 'x.svg') })).toThrow(PlotError);
    expect(() => plot(records, { output: out(), width: 10 })).toThrow(/width/);
    expect(() => plot(join(dir(), 'missing.jsonl'), { output: out() })).toThrow(/cannot read metrics file/);
  });

  it('leaves no temporary file behind', () => {
    const d = dir();
    plot(records, { output: join(d, 'a.png') });
    plot(records, { output: join(d, 'a.html') });
    expect(readdirSync(d).sort()).toEqual(['a.html', 'a.png']);
  });
});

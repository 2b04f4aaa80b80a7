/**
 * Renders training curves (reward and loss by default, any logged metric on request) from the
 * trainer's metric records to a self-contained HTML page (inline SVG, no scripts, no external
 * resources) or a PNG image. The PNG path has its own rasteriser, bitmap font and encoder
 * (deflate from node:zlib, CRC-32 computed here) so plotting needs no native image library.
 */

import { extname } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { checkOptionKeys } from '@mlxn/core/internal';
import { readTextFileSync } from '@mlxn/io';
import { writeFileAtomic } from '@mlxn/io/internal';

/** A metric record as the trainer logs it: `step` plus named values (`null`: no valid value). */
export interface PlotRecord {
  step: number;
  [metric: string]: number | null | undefined;
}

export interface PlotOptions {
  /** The file to write; `.html`/`.htm` or `.png` (the extension picks the format unless `format` is given). */
  output: string;
  /** Metrics to draw, one panel each, in this order (default: `['reward', 'loss']`, those present). */
  metrics?: readonly string[];
  /** Overrides the format the extension implies. */
  format?: 'html' | 'png';
  /** Heading of the page / image (default `'Training metrics'`). */
  title?: string;
  /** Image width in pixels (default 800). */
  width?: number;
  /** Height of one metric panel in pixels (default 260). */
  panelHeight?: number;
}

/** Where one metric was drawn. A value `v` at step `s` lies at
 * `x = box.left + (s - xDomain[0]) / (xDomain[1] - xDomain[0]) * (box.right - box.left)`,
 * `y = box.bottom - (v - yDomain[0]) / (yDomain[1] - yDomain[0]) * (box.bottom - box.top)`. */
export interface PlotPanel {
  metric: string;
  /** The curve's colour as `[r, g, b]`. */
  color: readonly [number, number, number];
  /** The plotting area in pixels (image coordinates, y down). */
  box: { left: number; top: number; right: number; bottom: number };
  xDomain: readonly [number, number];
  yDomain: readonly [number, number];
  /** Records with a finite value of this metric (the curve's vertices). */
  points: number;
}

export interface PlotResult {
  path: string;
  format: 'html' | 'png';
  width: number;
  height: number;
  panels: PlotPanel[];
}

/** Malformed or unusable plot input (empty metrics, a bad record, an unknown metric or format). */
export class PlotError extends Error {
  override name = 'PlotError';
}

const DEFAULT_METRICS = ['reward', 'loss'];
const PALETTE: readonly (readonly [number, number, number])[] = [
  [31, 119, 180],
  [214, 39, 40],
  [44, 160, 44],
  [148, 103, 189],
  [255, 127, 14],
  [23, 190, 207],
  [140, 86, 75],
  [227, 119, 194],
];
const MARGIN = { left: 72, right: 24, top: 30, bottom: 34 };
const HEADER = 34;

/**
 * Draws the curves and writes the file atomically.
 *
 * @example
 * plot('runs/a/metrics.jsonl', { output: 'runs/a/curves.png' });
 * plot(records, { output: 'curves.html', metrics: ['reward', 'loss', 'kl'] });
 */
export function plot(source: readonly PlotRecord[] | string, options: PlotOptions): PlotResult {
  checkOptionKeys(options, ['output', 'metrics', 'format', 'title', 'width', 'panelHeight'], 'plot');
  if (options === null || typeof options !== 'object' || typeof options.output !== 'string' || options.output === '') {
    throw new PlotError('plot: options.output must name the file to write (.html or .png)');
  }
  const format = options.format ?? formatFromExtension(options.output);
  if (format !== 'html' && format !== 'png') throw new PlotError(`plot: format must be 'html' or 'png', got ${JSON.stringify(format)}`);
  const width = positiveInteger(options.width ?? 800, 'width', 200);
  const panelHeight = positiveInteger(options.panelHeight ?? 260, 'panelHeight', 120);
  const title = options.title ?? 'Training metrics';

  const records = typeof source === 'string' ? readRecords(source) : validateRecords(source, 'records');
  if (records.length === 0) throw new PlotError(`plot: no metric records${typeof source === 'string' ? ` in ${source}` : ''}`);
  const metrics = chooseMetrics(records, options.metrics);

  const panels: PanelData[] = metrics.map((metric, i) => {
    const pts: [number, number][] = [];
    for (const r of records) {
      const v = r[metric];
      if (typeof v === 'number' && Number.isFinite(v)) pts.push([r.step, v]);
    }
    pts.sort((a, b) => a[0] - b[0]);
    const top = HEADER + i * panelHeight + MARGIN.top;
    const layout: PlotPanel = {
      metric,
      color: PALETTE[i % PALETTE.length],
      box: { left: MARGIN.left, top, right: width - MARGIN.right, bottom: top + panelHeight - MARGIN.top - MARGIN.bottom },
      xDomain: domain(pts.map((p) => p[0])),
      yDomain: domain(pts.map((p) => p[1])),
      points: pts.length,
    };
    return { layout, pts };
  });
  const height = HEADER + metrics.length * panelHeight;

  const bytes = format === 'html' ? Buffer.from(renderHtml(title, width, height, panels), 'utf8') : renderPng(title, width, height, panels);
  writeFileAtomic(options.output, bytes);
  return { path: options.output, format, width, height, panels: panels.map((p) => p.layout) };
}

interface PanelData {
  layout: PlotPanel;
  pts: [number, number][];
}

function formatFromExtension(path: string): 'html' | 'png' {
  const ext = extname(path).toLowerCase();
  if (ext === '.png') return 'png';
  if (ext === '.html' || ext === '.htm') return 'html';
  throw new PlotError(`plot: cannot tell the format of ${path} (use .html or .png, or pass format)`);
}

function positiveInteger(v: number, name: string, min: number): number {
  if (!Number.isInteger(v) || v < min || v > 10_000) throw new PlotError(`plot: ${name} must be an integer from ${min} to 10000, got ${v}`);
  return v;
}

// A metrics file may end with a line cut short by a crash (or by a run still writing); such a
// last line without its newline is left out, as the trainer's own reader does. Any other bad
// line is an error naming it.
/** Metrics files are read whole (regular files only: a FIFO would block the read forever). */
const MAX_METRICS_FILE_BYTES = 2 ** 30;

function readRecords(path: string): PlotRecord[] {
  let text: string;
  try {
    text = readTextFileSync(path, { maxBytes: MAX_METRICS_FILE_BYTES, what: 'metrics files' });
  } catch (e) {
    throw new PlotError(`plot: cannot read metrics file ${path}: ${(e as Error).message}`);
  }
  const lines = text.split('\n');
  const parsed: unknown[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      parsed.push(JSON.parse(line));
    } catch {
      const tornLast = i === lines.length - 1 && !text.endsWith('\n');
      if (!tornLast) throw new PlotError(`plot: ${path} line ${i + 1} is not valid JSON: ${line.slice(0, 80)}`);
    }
  });
  return validateRecords(parsed, path);
}

function validateRecords(records: readonly unknown[], where: string): PlotRecord[] {
  if (!Array.isArray(records)) throw new PlotError('plot: expected an array of metric records or a path to a metrics JSONL file');
  records.forEach((r, i) => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw new PlotError(`plot: ${where} record ${i} is not an object`);
    const step = (r as { step?: unknown }).step;
    if (typeof step !== 'number' || !Number.isFinite(step))
      throw new PlotError(`plot: ${where} record ${i} has no finite numeric "step" (got ${JSON.stringify(step)})`);
  });
  return records as PlotRecord[];
}

function chooseMetrics(records: readonly PlotRecord[], requested: readonly string[] | undefined): string[] {
  const has = (m: string) => records.some((r) => typeof r[m] === 'number' && Number.isFinite(r[m]));
  const available = () => {
    const names = new Set<string>();
    for (const r of records) for (const [k, v] of Object.entries(r)) if (k !== 'step' && typeof v === 'number') names.add(k);
    return [...names].join(', ') || 'none';
  };
  if (requested === undefined) {
    const found = DEFAULT_METRICS.filter(has);
    if (found.length === 0)
      throw new PlotError(`plot: the records have neither "reward" nor "loss" values (available: ${available()}); pass metrics`);
    return found;
  }
  if (!Array.isArray(requested) || requested.length === 0) throw new PlotError('plot: metrics must be a non-empty array of metric names');
  for (const m of requested) {
    if (typeof m !== 'string' || m === 'step') throw new PlotError(`plot: ${JSON.stringify(m)} is not a metric name`);
    records.forEach((r, i) => {
      const v = r[m];
      if (v !== undefined && v !== null && typeof v !== 'number')
        throw new PlotError(`plot: record ${i} has a non-numeric "${m}" (${JSON.stringify(v)})`);
    });
    if (!has(m)) throw new PlotError(`plot: no record has a finite "${m}" value (available: ${available()})`);
  }
  return [...requested];
}

// A padded range; a flat series gets a band around its value so its line sits mid-panel.
function domain(values: number[]): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  return [lo, hi];
}

function project(layout: PlotPanel, step: number, value: number): [number, number] {
  const { box, xDomain, yDomain } = layout;
  return [
    box.left + ((step - xDomain[0]) / (xDomain[1] - xDomain[0])) * (box.right - box.left),
    box.bottom - ((value - yDomain[0]) / (yDomain[1] - yDomain[0])) * (box.bottom - box.top),
  ];
}

// Round tick positions (1, 2 or 5 × 10^k apart), about `count` of them inside the domain.
function ticks([lo, hi]: readonly [number, number], count: number): number[] {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step); k * step <= hi; k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

// ---------------------------------------------------------------- HTML (inline SVG)

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function rgb(c: readonly [number, number, number]): string {
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function renderHtml(title: string, width: number, height: number, panels: PanelData[]): string {
  const parts: string[] = [];
  parts.push(`<text x="${MARGIN.left}" y="22" class="title">${escapeXml(title)}</text>`);
  for (const { layout, pts } of panels) {
    const { box } = layout;
    const g: string[] = [];
    for (const t of ticks(layout.yDomain, 5)) {
      const y = project(layout, layout.xDomain[0], t)[1].toFixed(1);
      g.push(`<line x1="${box.left}" x2="${box.right}" y1="${y}" y2="${y}" class="grid"/>`);
      g.push(`<text x="${box.left - 6}" y="${y}" class="ytick">${formatTick(t)}</text>`);
    }
    for (const t of ticks(layout.xDomain, 8)) {
      const x = project(layout, t, layout.yDomain[0])[0].toFixed(1);
      g.push(`<line x1="${x}" x2="${x}" y1="${box.bottom}" y2="${box.bottom + 4}" class="axis"/>`);
      g.push(`<text x="${x}" y="${box.bottom + 16}" class="xtick">${formatTick(t)}</text>`);
    }
    g.push(`<path d="M${box.left} ${box.top}V${box.bottom}H${box.right}" class="axis"/>`);
    g.push(`<text x="${box.left}" y="${box.top - 8}" class="label" fill="${rgb(layout.color)}">${escapeXml(layout.metric)}</text>`);
    g.push(`<text x="${box.right}" y="${box.bottom + 30}" class="xlabel">step</text>`);
    const coords = pts
      .map(([s, v]) =>
        project(layout, s, v)
          .map((c) => c.toFixed(2))
          .join(','),
      )
      .join(' ');
    g.push(
      `<polyline points="${coords}" fill="none" stroke="${rgb(layout.color)}" stroke-width="2" data-metric="${escapeXml(layout.metric)}"/>`,
    );
    if (pts.length === 1) {
      const [x, y] = project(layout, pts[0][0], pts[0][1]);
      g.push(`<circle cx="${x.toFixed(2)}" cy="${y.toFixed(2)}" r="3" fill="${rgb(layout.color)}"/>`);
    }
    parts.push(`<g>${g.join('')}</g>`);
  }
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeXml(title)}</title>`,
    '<style>body{font-family:sans-serif;margin:16px;background:#fff}',
    '.grid{stroke:#e4e4e4}.axis{stroke:#444;fill:none}',
    '.ytick{font-size:11px;text-anchor:end;dominant-baseline:middle;fill:#444}',
    '.xtick{font-size:11px;text-anchor:middle;fill:#444}.xlabel{font-size:11px;text-anchor:end;fill:#444}',
    '.label{font-size:13px;font-weight:bold}.title{font-size:16px;font-weight:bold}</style></head><body>',
    `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(title)}">`,
    parts.join('\n'),
    '</svg></body></html>',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------- PNG

type Color = readonly [number, number, number];
const INK: Color = [68, 68, 68];
const GRID: Color = [228, 228, 228];

/** An RGB pixel buffer with the few drawing operations the plots need. */
class Canvas {
  readonly pixels: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.pixels = new Uint8Array(width * height * 3).fill(255);
  }

  set(x: number, y: number, c: Color): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    this.pixels[i] = c[0];
    this.pixels[i + 1] = c[1];
    this.pixels[i + 2] = c[2];
  }

  rect(x: number, y: number, w: number, h: number, c: Color): void {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.set(x + i, y + j, c);
  }

  // Bresenham on rounded end points; `thickness` squares along the way.
  line(x0: number, y0: number, x1: number, y1: number, c: Color, thickness = 1): void {
    x0 = Math.round(x0);
    y0 = Math.round(y0);
    x1 = Math.round(x1);
    y1 = Math.round(y1);
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    const off = Math.floor((thickness - 1) / 2);
    let err = dx + dy;
    for (;;) {
      this.rect(x0 - off, y0 - off, thickness, thickness, c);
      if (x0 === x1 && y0 === y1) return;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }

  /** Draws `s` with the 5×7 font, top-left at (x, y); returns the width used. */
  text(x: number, y: number, s: string, c: Color, scale = 1): number {
    let cx = Math.round(x);
    for (const ch of s) {
      const glyph = FONT[ch] ?? FONT[ch.toUpperCase()] ?? FONT['?'];
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 5; col++) {
          if (glyph[row * 6 + col] === '1') this.rect(cx + col * scale, Math.round(y) + row * scale, scale, scale, c);
        }
      }
      cx += 6 * scale;
    }
    return cx - Math.round(x);
  }
}

function textWidth(s: string, scale = 1): number {
  return [...s].length * 6 * scale;
}

function renderPng(title: string, width: number, height: number, panels: PanelData[]): Buffer {
  const cv = new Canvas(width, height);
  cv.text(MARGIN.left, 10, title, INK, 2);
  for (const { layout, pts } of panels) {
    const { box } = layout;
    for (const t of ticks(layout.yDomain, 5)) {
      const y = Math.round(project(layout, layout.xDomain[0], t)[1]);
      cv.line(box.left + 1, y, box.right, y, GRID);
      const label = formatTick(t);
      cv.text(box.left - 6 - textWidth(label), y - 3, label, INK);
    }
    for (const t of ticks(layout.xDomain, 8)) {
      const x = Math.round(project(layout, t, layout.yDomain[0])[0]);
      cv.line(x, box.bottom, x, box.bottom + 4, INK);
      const label = formatTick(t);
      cv.text(x - textWidth(label) / 2, box.bottom + 8, label, INK);
    }
    cv.line(box.left, box.top, box.left, box.bottom, INK);
    cv.line(box.left, box.bottom, box.right, box.bottom, INK);
    cv.text(box.left, box.top - 18, layout.metric, layout.color, 2);
    cv.text(box.right - textWidth('step'), box.bottom + 20, 'step', INK);
    const xy = pts.map(([s, v]) => project(layout, s, v));
    if (xy.length === 1) cv.rect(Math.round(xy[0][0]) - 2, Math.round(xy[0][1]) - 2, 5, 5, layout.color);
    for (let i = 1; i < xy.length; i++) cv.line(xy[i - 1][0], xy[i - 1][1], xy[i][0], xy[i][1], layout.color, 2);
  }
  return encodePng(width, height, cv.pixels);
}

/** PNG bytes of an 8-bit RGB image (`pixels`: rows top to bottom, 3 bytes a pixel). */
function encodePng(width: number, height: number, pixels: Uint8Array): Buffer {
  if (pixels.length !== width * height * 3)
    throw new PlotError(`encodePng: expected ${width * height * 3} bytes of RGB, got ${pixels.length}`);
  const stride = width * 3;
  // Each scanline starts with its filter type; 0 (none) keeps the encoder trivial and deflate
  // still compresses the large flat areas of a plot well.
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: truecolour
  // compression, filter method and interlace are all 0
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

// ---------------------------------------------------------------- files

// ---------------------------------------------------------------- 5×7 bitmap font

// Rows top to bottom, '1' = ink; lower-case letters are drawn as capitals.
const FONT: Record<string, string> = {
  ' ': '00000 00000 00000 00000 00000 00000 00000',
  '0': '01110 10001 10011 10101 11001 10001 01110',
  '1': '00100 01100 00100 00100 00100 00100 01110',
  '2': '01110 10001 00001 00010 00100 01000 11111',
  '3': '11111 00010 00100 00010 00001 10001 01110',
  '4': '00010 00110 01010 10010 11111 00010 00010',
  '5': '11111 10000 11110 00001 00001 10001 01110',
  '6': '00110 01000 10000 11110 10001 10001 01110',
  '7': '11111 00001 00010 00100 01000 01000 01000',
  '8': '01110 10001 10001 01110 10001 10001 01110',
  '9': '01110 10001 10001 01111 00001 00010 01100',
  A: '01110 10001 10001 11111 10001 10001 10001',
  B: '11110 10001 10001 11110 10001 10001 11110',
  C: '01110 10001 10000 10000 10000 10001 01110',
  D: '11100 10010 10001 10001 10001 10010 11100',
  E: '11111 10000 10000 11110 10000 10000 11111',
  F: '11111 10000 10000 11110 10000 10000 10000',
  G: '01110 10001 10000 10111 10001 10001 01111',
  H: '10001 10001 10001 11111 10001 10001 10001',
  I: '01110 00100 00100 00100 00100 00100 01110',
  J: '00111 00010 00010 00010 00010 10010 01100',
  K: '10001 10010 10100 11000 10100 10010 10001',
  L: '10000 10000 10000 10000 10000 10000 11111',
  M: '10001 11011 10101 10101 10001 10001 10001',
  N: '10001 10001 11001 10101 10011 10001 10001',
  O: '01110 10001 10001 10001 10001 10001 01110',
  P: '11110 10001 10001 11110 10000 10000 10000',
  Q: '01110 10001 10001 10001 10101 10010 01101',
  R: '11110 10001 10001 11110 10100 10010 10001',
  S: '01111 10000 10000 01110 00001 00001 11110',
  T: '11111 00100 00100 00100 00100 00100 00100',
  U: '10001 10001 10001 10001 10001 10001 01110',
  V: '10001 10001 10001 10001 10001 01010 00100',
  W: '10001 10001 10001 10101 10101 10101 01010',
  X: '10001 10001 01010 00100 01010 10001 10001',
  Y: '10001 10001 10001 01010 00100 00100 00100',
  Z: '11111 00001 00010 00100 01000 10000 11111',
  '.': '00000 00000 00000 00000 00000 01100 01100',
  ',': '00000 00000 00000 00000 01100 00100 01000',
  '-': '00000 00000 00000 11111 00000 00000 00000',
  '+': '00000 00100 00100 11111 00100 00100 00000',
  '/': '00000 00001 00010 00100 01000 10000 00000',
  _: '00000 00000 00000 00000 00000 00000 11111',
  ':': '00000 01100 01100 00000 01100 01100 00000',
  '=': '00000 00000 11111 00000 11111 00000 00000',
  '(': '00010 00100 01000 01000 01000 00100 00010',
  ')': '01000 00100 00010 00010 00010 00100 01000',
  '%': '11000 11001 00010 00100 01000 10011 00011',
  '?': '01110 10001 00001 00010 00100 00000 00100',
};

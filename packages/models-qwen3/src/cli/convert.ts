/**
 * `mlxn-qwen3 convert`: a model folder in, a new model folder out — quantized, cast to another
 * dtype and/or with LoRA adapters fused into the weights. The output is written by
 * `model.save`, which fills a temporary sibling folder and renames it into place, so an
 * interrupted conversion never leaves a half-written model under the output name.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fuseLoRA, loadAdapters, resolveQuantization } from '@mlxn/nn';
import type { LoadOptions } from '../load.js';
import type { Qwen3 } from '../model.js';
import { type QuantizationReport, quantizationReport, quantizeModel } from '../quantization.js';
import { type CommandSpec, flag, type ParsedArgs, UsageError } from './args.js';
import { onInterrupt } from './interrupts.js';
import { loadModel, REVISION_FLAG, resolveModelArg } from './model-folder.js';

const DTYPES = ['float32', 'float16', 'bfloat16'] as const;
const MODES = ['affine', 'mxfp4', 'mxfp8', 'nvfp4'] as const;
/** The adapter file a training checkpoint folder holds (@mlxn/grpo's ADAPTERS_FILE). */
const ADAPTERS_FILE = 'adapters.safetensors';

export const CONVERT: CommandSpec = {
  name: 'mlxn-qwen3 convert',
  usage: '<model> --out <folder> [options]',
  summary:
    'Write a converted copy of a model folder: quantized (--quantize), cast (--dtype) and/or with\n' +
    'LoRA adapters fused into its weights (--adapters). Adapters are fused before quantizing.',
  maxPositionals: 1,
  flags: {
    ...REVISION_FLAG,
    out: { kind: 'string', short: 'o', value: 'FOLDER', help: 'Where to write the converted model (must not exist, unless --overwrite).' },
    quantize: { kind: 'boolean', short: 'q', help: 'Quantize the weights.' },
    bits: { kind: 'int', value: 'N', help: "Bits per quantized weight (default: the mode's, 4; 8 for mxfp8; with --quantize)." },
    'group-size': {
      kind: 'int',
      value: 'N',
      help: "Weights sharing one scale (default: the mode's, affine 64, mxfp4 and mxfp8 32, nvfp4 16; with --quantize).",
    },
    mode: { kind: 'string', value: 'MODE', choices: MODES, help: 'Quantization mode (default affine; with --quantize).' },
    dtype: { kind: 'string', value: 'DTYPE', choices: DTYPES, help: 'Cast the floating-point weights.' },
    adapters: {
      kind: 'string',
      value: 'PATH',
      help: `LoRA adapters to fuse: a .safetensors file or a folder with ${ADAPTERS_FILE} (a training checkpoint).`,
    },
    overwrite: { kind: 'boolean', help: 'Replace the output folder if it exists.' },
  },
  epilog: [
    'Examples:',
    '  mlxn-qwen3 convert ./Qwen3-0.6B --quantize --bits 4 --group-size 64 --out ./Qwen3-0.6B-4bit',
    '  mlxn-qwen3 convert ./Qwen3-0.6B --quantize --mode nvfp4 --out ./Qwen3-0.6B-nvfp4',
    '  mlxn-qwen3 convert ./Qwen3-0.6B --dtype bfloat16 --out ./Qwen3-0.6B-bf16',
    'Layers whose input width is not a multiple of the group size stay in floating point; the',
    'report names them, and config.json lists them as not quantized (as mlx-lm reads it).',
    '  mlxn-qwen3 convert ./Qwen3-0.6B --adapters runs/sft/checkpoint-200 --out ./Qwen3-0.6B-tuned',
  ].join('\n'),
};

class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/**
 * What was and was not quantized: `quantized 14 of 15 layers to 4 bits (group size 64, affine);
 * left in floating point, input width not a multiple of 64: model.layers.*.mlp.down_proj (x2, width 32)`.
 * Layer indices are folded so a deep model gives one entry per kind of layer.
 */
function quantizedText(report: QuantizationReport, q: { bits: number; groupSize: number; mode: string }): string {
  const total = report.quantized.length + report.float.length;
  const head = `quantized ${report.quantized.length} of ${total} layers to ${q.bits} bits (group size ${q.groupSize}, ${q.mode})`;
  if (report.float.length === 0) return head;
  const kinds = new Map<string, { count: number; widths: Set<number> }>();
  for (const { path, inputDims } of report.float) {
    const kind = path.replace(/\.(layers|experts)\.\d+\./g, '.$1.*.');
    const k = kinds.get(kind) ?? { count: 0, widths: new Set<number>() };
    k.count++;
    k.widths.add(inputDims);
    kinds.set(kind, k);
  }
  const list = [...kinds].map(([kind, k]) => `${kind} (${k.count > 1 ? `x${k.count}, ` : ''}width ${[...k.widths].join('/')})`);
  return `${head}; left in floating point: ${list.join(', ')}`;
}

function adaptersFile(path: string): string {
  const p = resolve(path);
  if (!existsSync(p)) throw new UsageError(`--adapters ${path} does not exist`);
  if (statSync(p).isDirectory()) {
    const f = join(p, ADAPTERS_FILE);
    if (!existsSync(f)) throw new UsageError(`--adapters ${path} is a folder without ${ADAPTERS_FILE}`);
    return f;
  }
  return p;
}

export async function runConvert(args: ParsedArgs): Promise<number> {
  const folder = args.positionals[0];
  const dir = await resolveModelArg(folder, flag<string>(args, 'revision'));
  const outArg = flag<string>(args, 'out');
  if (outArg === undefined) throw new UsageError('missing --out <folder>');
  const out = resolve(outArg);
  if (out === dir) throw new UsageError('--out must differ from the source folder');
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new UsageError(`--out ${outArg} exists and is not a folder`);
    if (readdirSync(out).length > 0 && !flag(args, 'overwrite'))
      throw new UsageError(`--out ${outArg} already exists (add --overwrite to replace it)`);
  }
  const quantize = flag<boolean>(args, 'quantize') ?? false;
  const bits = flag<number>(args, 'bits');
  const groupSize = flag<number>(args, 'group-size');
  const mode = flag<(typeof MODES)[number]>(args, 'mode');
  if (!quantize && (bits !== undefined || groupSize !== undefined || mode !== undefined)) {
    throw new UsageError('--bits, --group-size and --mode need --quantize');
  }
  if (bits !== undefined && (bits < 1 || bits > 8)) throw new UsageError(`--bits must be between 1 and 8, got ${bits}`);
  if (groupSize !== undefined && groupSize < 1) throw new UsageError(`--group-size must be positive, got ${groupSize}`);
  const dtype = flag<(typeof DTYPES)[number]>(args, 'dtype');
  const adaptersArg = flag<string>(args, 'adapters');
  const adapters = adaptersArg === undefined ? undefined : adaptersFile(adaptersArg);
  if (!quantize && dtype === undefined && adapters === undefined)
    throw new UsageError('nothing to do: give --quantize, --dtype or --adapters');

  // Each mode has its own default group size and bits, as in MLX and mlx-lm.
  const q = quantize
    ? resolveQuantization({
        mode: mode ?? 'affine',
        ...(bits !== undefined ? { bits } : {}),
        ...(groupSize !== undefined ? { groupSize } : {}),
      })
    : undefined;
  // Adapters were trained on the float layers, so they are fused first and the result quantized.
  const load: LoadOptions = { ...(dtype ? { dtype } : {}), ...(q && adapters === undefined ? { quantize: q } : {}) };
  // Ctrl-C while loading stops cleanly (exit code 130). Once the model is loaded the rest is
  // synchronous and the save atomic; a Ctrl-C then lets it finish rather than leave a hidden
  // temporary folder behind.
  const controller = new AbortController();
  const stopListening = onInterrupt(() => controller.abort(new Interrupted()));
  try {
    let model: Qwen3;
    try {
      model = await loadModel(dir, { ...load, signal: controller.signal });
    } catch (e) {
      if (controller.signal.reason instanceof Interrupted) return 130;
      throw e;
    }
    const done: string[] = [];
    if (adapters !== undefined) {
      loadAdapters(model, adapters);
      fuseLoRA(model);
      done.push(`fused ${adaptersArg}`);
    }
    if (q && adapters !== undefined) {
      if (model.config.quantization) throw new Error(`${folder} is already quantized; quantize applies to float checkpoints`);
      const applied = quantizeModel(model, q, model.config.modelType === 'qwen3_moe');
      model.setConfig({ ...model.config, quantization: applied });
    }
    if (q) done.push(quantizedText(quantizationReport(model), q));
    if (dtype) done.push(`cast to ${dtype}`);
    const files = await model.save(out);
    const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
    process.stdout.write(`${folder} → ${outArg}: ${done.join(', ')}; ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB\n`);
    return 0;
  } finally {
    stopListening();
  }
}

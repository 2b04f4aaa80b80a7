/**
 * The rollout buffer's file in a checkpoint: the micro-batches a GRPO run had generated but not
 * yet trained on, saved so a resumed run trains on the same ones, and checked when read back
 * (the file may be damaged or hostile).
 */
import * as mx from '@mlxn/core';
import { loadSync, saveSync } from '@mlxn/io';
import { ROLLOUTS_FILE } from './checkpoint.js';

/** The rollout buffer of rank `rank` > 0 in a checkpoint's trainer folder (rank 0's is ROLLOUTS_FILE). */
export const rankRolloutsFile = (rank: number) => ROLLOUTS_FILE.replace(/\.safetensors$/, `-rank-${rank}.safetensors`);

/** The per-batch scalars of a rollouts file, after checking that every array belongs to a batch. */
function checkBufferLayout(path: string, arrays: Record<string, mx.Array>, batches: string | undefined): Record<string, number>[] {
  const bad = (why: string) => new Error(`${path}: invalid rollouts file: ${why}`);
  let scalars: unknown;
  try {
    scalars = JSON.parse(batches ?? '[]');
  } catch (e) {
    throw bad(`metadata 'batches' is not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(scalars)) throw bad("metadata 'batches' must be a list");
  scalars.forEach((s, i) => {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw bad(`batch ${i} must be an object of numbers`);
    for (const [k, v] of Object.entries(s))
      if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`batch ${i}: '${k}' must be a finite number`);
  });
  for (const k of Object.keys(arrays)) {
    const dot = k.indexOf('.');
    const i = Number(k.slice(0, dot));
    if (dot <= 0 || !Number.isInteger(i) || i < 0 || i >= scalars.length)
      throw bad(`tensor '${k}' belongs to no batch of ${scalars.length}`);
  }
  return scalars as Record<string, number>[];
}

/** Buffered micro-batches → one safetensors file (arrays by `i.name`, scalars in the metadata). */
export function saveBuffer(path: string, batches: readonly object[]): void {
  const arrays: Record<string, mx.Array> = {};
  const scalars: Record<string, number>[] = [];
  batches.forEach((b, i) => {
    const s: Record<string, number> = {};
    for (const [k, v] of Object.entries(b)) {
      if (v instanceof mx.Array) arrays[`${i}.${k}`] = v;
      else if (typeof v === 'number') s[k] = v;
    }
    scalars.push(s);
  });
  saveSync(path, arrays, { metadata: { batches: JSON.stringify(scalars) } });
}

export function loadBuffer(path: string): Record<string, unknown>[] {
  const { arrays, metadata } = loadSync(path);
  let scalars: Record<string, number>[];
  try {
    scalars = checkBufferLayout(path, arrays, metadata.batches);
  } catch (e) {
    mx.dispose(arrays);
    throw e;
  }
  return scalars.map((s, i) => {
    const b: Record<string, unknown> = { ...s, oldLogprobs: null, refLogprobs: null };
    for (const [k, v] of Object.entries(arrays)) {
      const dot = k.indexOf('.');
      if (Number(k.slice(0, dot)) !== i) continue;
      const field = k.slice(dot + 1);
      // Names come from the file: one that would set `b`'s prototype is an error, not a silent drop.
      if (field === '__proto__' || field === 'constructor' || field === 'prototype')
        throw new Error(`${path}: rollout buffer entry '${k}' uses a reserved name`);
      b[field] = mx.keep(v);
    }
    return b;
  });
}

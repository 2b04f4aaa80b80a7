// The optimizer base: per-parameter updates applied over a parameter tree, with a state tree laid
// out as mlx.optimizers lays it out ({ step, learning_rate, <param path>: { m, v, ... } }).
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { load, loadSync, save, saveSync } from '@mlxn/io';
import { disposeReplaced, untrack } from '../ownership.js';
import type { Schedule } from '../schedules/schedules.js';
import { checkOptimizerState, type StateCheckOptions } from './check-state.js';

/** Something whose parameters an optimizer can update: a Module, or any object like it. */
export interface Trainable {
  trainableParameters(): unknown;
  update(parameters: never): unknown;
  /** Every parameter (frozen ones too), when the object has them: a replaced array still found here is not freed. */
  parameters?(): unknown;
}

/** A number, or a schedule evaluated at the step count before each update. */
export type LearningRate = number | Schedule;

/** Per-parameter state: named arrays (`m`, `v`, ...). */
export type ParamState = Record<string, mx.Array>;

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

const isTrainable = (v: unknown): v is Trainable =>
  v !== null &&
  typeof v === 'object' &&
  typeof (v as Trainable).trainableParameters === 'function' &&
  typeof (v as Trainable).update === 'function';

const FORMAT = 'mlxn-optimizer-state';

/** What the base keeps for a subclass (see the `Optimizer` constructor). */
export interface OptimizerBaseOptions {
  /**
   * The per-parameter state arrays, in order, that start as zeros with the parameter's shape and
   * dtype: what the default `initSingle` creates (e.g. `['m', 'v']` for Adam).
   */
  zeroState?: readonly string[];
}

/**
 * Base class of every optimizer. Subclasses implement `applySingle`, and `initSingle` unless
 * their state is zero-filled slots named to the constructor (`zeroState`).
 *
 * The optimizer owns the arrays of its `state`: they survive the caller's `tidy` scopes, and an
 * update disposes the state arrays it replaces (evaluate `opt.state` before the next update if
 * you read it, as in `mx.eval(model.parameters(), opt.state)`; `mx.keep` the arrays you want to
 * hold beyond it). `update(model, grads)` likewise disposes the parameters it replaces: every
 * array an update makes or replaces is freed when it returns, never left to the garbage
 * collector (a synchronous loop would otherwise grow by a copy of the parameters per step).
 */
export abstract class Optimizer {
  #state: Record<string, unknown>;
  #schedulers = new Map<string, Schedule>();
  readonly #zeroState: readonly string[];

  constructor(options: OptimizerBaseOptions = {}) {
    this.#state = { step: untrack(mx.array(0, { dtype: 'uint64' })) };
    this.#zeroState = [...(options.zeroState ?? [])];
  }

  /** Creates the state of one parameter: by default, zeros like it in each `zeroState` slot. */
  protected initSingle(parameter: mx.Array, state: ParamState): void {
    for (const slot of this.#zeroState) state[slot] = mx.zerosLike(parameter);
  }

  /** Returns the updated parameter and writes the new per-parameter state into `state`. */
  protected abstract applySingle(gradient: mx.Array, parameter: mx.Array, state: ParamState): mx.Array;

  /** The options that describe this optimizer, stored in saved state files. */
  protected hyperparameters(): Record<string, unknown> {
    return {};
  }

  /** Puts a hyperparameter (stored in the state under `name`) on a schedule, or fixes it. */
  protected maybeSchedule(name: string, value: LearningRate): void {
    if (typeof value === 'function') {
      this.#schedulers.set(name, value);
      this.setStateArray(name, value(this.step));
    } else {
      if (typeof value !== 'number' || !Number.isFinite(value))
        throw new TypeError(`${this.constructor.name}: ${name} must be a finite number or a schedule, got ${String(value)}`);
      this.setStateArray(name, mx.array(value, { dtype: 'float32' }));
    }
  }

  private setStateArray(name: string, value: mx.Array): void {
    const old = this.#state[name];
    this.#state[name] = untrack(value);
    if (old instanceof mx.Array && old !== value) disposeReplaced([old]);
  }

  /** The state tree (plain objects of arrays): evaluate it with the model's parameters. */
  get state(): Record<string, unknown> {
    return this.#state;
  }

  /**
   * Replaces the state (from a checkpoint); missing per-parameter entries are created on use.
   * The optimizer takes the arrays over (it disposes them when it replaces them, unless you
   * `mx.keep` them) and disposes the state it had.
   */
  set state(state: Record<string, unknown>) {
    if (!isPlainObject(state)) throw new TypeError(`${this.constructor.name}: state must be a plain object`);
    if (!(state.step instanceof mx.Array)) throw new TypeError(`${this.constructor.name}: state.step must be an array`);
    const incoming = new Set(mx.treeFlatten(state));
    const old = mx.treeFlatten(this.#state);
    untrack(state);
    this.#state = state;
    disposeReplaced(old, incoming);
  }

  /** The number of updates so far (a uint64 scalar). */
  get step(): mx.Array {
    return this.#state.step as mx.Array;
  }

  /** The learning rate in `gradient`'s dtype, as an update of that gradient uses it. */
  protected learningRateFor(gradient: mx.Array): mx.Array {
    return mx.astype(this.learningRate, gradient.dtype);
  }

  /** The current learning rate (a float32 scalar). */
  get learningRate(): mx.Array {
    const lr = this.#state.learning_rate;
    if (!(lr instanceof mx.Array)) throw new Error(`${this.constructor.name}: no learning rate is set`);
    return lr;
  }

  /** Sets a fixed learning rate (a schedule set at construction keeps overriding it). */
  set learningRate(value: number | mx.Array) {
    this.setStateArray('learning_rate', value instanceof mx.Array ? mx.astype(value, 'float32') : mx.array(value, { dtype: 'float32' }));
  }

  /** Creates the state for every parameter of a tree that has none yet (optional: update does it). */
  init(parameters: unknown): void {
    this.walk(parameters, parameters, this.#state, '', null, []);
  }

  /**
   * Applies `gradients` to the model's trainable parameters and updates the model. `model` is
   * an object with `trainableParameters()` and `update(tree)` (a Module), or a plain parameter
   * tree (not modified). Returns the updated parameters (with the structure of `gradients`).
   * They are exempt from the caller's `tidy` scopes, as the model now holds them; `applyGradients`
   * leaves them to the enclosing scope.
   *
   * The model owns its parameters: the ones this replaces are disposed now, unless they are
   * still in the model (tied weights) or were claimed with `mx.keep` (`mx.keep` the parameters
   * you read if you use them after the next update). A plain tree's arrays are the caller's and
   * are left alone. The step's intermediates are freed before it returns.
   *
   * @example
   * const [loss, grads] = lossAndGrad(model, x, y);
   * opt.update(model, grads);
   * mx.eval(model.parameters(), opt.state);
   */
  update<T = unknown>(model: Trainable | unknown, gradients: T): T {
    if (isTrainable(model)) {
      const before = model.trainableParameters();
      const updated = untrack(this.applyGradients(gradients, before));
      model.update(updated as never);
      const inUse = new Set(mx.treeFlatten(typeof model.parameters === 'function' ? model.parameters() : model.trainableParameters()));
      disposeReplaced(mx.treeFlatten(before), inUse);
      return updated;
    }
    return untrack(this.applyGradients(gradients, model));
  }

  /**
   * Returns the parameters after one update with `gradients`; `parameters` may be a superset
   * of `gradients`. Advances the step count by one.
   */
  applyGradients<T>(gradients: T, parameters: unknown): T {
    if (!isPlainObject(gradients)) throw new TypeError(`${this.constructor.name}: gradients must be a plain object tree of arrays`);
    const replaced: mx.Array[] = [];
    // The tidy frees the update's intermediates (every op between old and new values) as it
    // returns; the new state is untracked, the new parameters go to the enclosing scope.
    const out = mx.tidy(() => {
      for (const [name, schedule] of this.#schedulers) {
        const old = this.#state[name];
        this.#state[name] = untrack(schedule(this.step));
        if (old instanceof mx.Array) replaced.push(old);
      }
      const oldStep = this.step;
      this.#state.step = untrack(mx.add(oldStep, 1));
      replaced.push(oldStep);
      return this.walk(gradients, parameters, this.#state, '', 'apply', replaced) as T;
    });
    disposeReplaced(replaced);
    return out;
  }

  // Walks gradients (the structure that drives), parameters and state together; with mode null it
  // only creates missing state.
  private walk(
    g: unknown,
    p: unknown,
    s: Record<string, unknown> | unknown[],
    path: string,
    mode: 'apply' | null,
    replaced: mx.Array[],
  ): unknown {
    const name = this.constructor.name;
    if (g instanceof mx.Array) throw new Error('unreachable');
    const entries: [string, unknown][] = globalThis.Array.isArray(g)
      ? g.map((v, i) => [String(i), v])
      : isPlainObject(g)
        ? Object.entries(g)
        : [];
    const out: Record<string, unknown> | unknown[] = globalThis.Array.isArray(g) ? [] : {};
    const container = s as Record<string, unknown>;
    for (const [k, gk] of entries) {
      const at = path ? `${path}.${k}` : k;
      const pk = p === null || typeof p !== 'object' ? undefined : (p as Record<string, unknown>)[k];
      if (gk instanceof mx.Array) {
        if (!(pk instanceof mx.Array)) throw new Error(`${name}: gradient '${at}' has no matching parameter`);
        let st = container[k] as ParamState | undefined;
        if (!isPlainObject(st)) {
          st = {};
          container[k] = st;
        }
        if (Object.keys(st).length === 0) {
          this.initSingle(pk, st);
          untrack(st);
        }
        if (mode === 'apply') {
          const before = { ...st };
          (out as Record<string, unknown>)[k] = this.applySingle(gk, pk, st);
          for (const [sk, v] of Object.entries(st)) {
            if (v !== before[sk]) {
              untrack(v);
              if (before[sk] instanceof mx.Array) replaced.push(before[sk]);
            }
          }
        }
      } else if (globalThis.Array.isArray(gk) || isPlainObject(gk)) {
        let sub = container[k];
        if (sub === null || typeof sub !== 'object' || sub instanceof mx.Array) {
          sub = globalThis.Array.isArray(gk) ? [] : {};
          container[k] = sub;
        }
        (out as Record<string, unknown>)[k] = this.walk(gk, pk, sub as Record<string, unknown>, at, mode, replaced);
      } else {
        (out as Record<string, unknown>)[k] = gk;
      }
    }
    return out;
  }

  /** Metadata stored with a saved state. */
  private metadata(extra: Record<string, string> = {}): Record<string, string> {
    return {
      format: FORMAT,
      optimizer: this.constructor.name,
      hyperparameters: JSON.stringify(this.hyperparameters()),
      ...extra,
    };
  }

  private flatState(): Record<string, mx.Array> {
    return Object.fromEntries(mx.treeFlattenWithPaths(this.#state));
  }

  /**
   * Writes the state to a `.safetensors` file (atomically, through @mlxn/io), with the
   * optimizer's name and hyperparameters in the metadata. The layout (`step`,
   * `learning_rate`, `<param path>.m`, ...) is the one `tree_flatten(opt.state)` gives in Python.
   */
  async saveState(path: string, options: { metadata?: Record<string, string> } = {}): Promise<void> {
    checkOptionKeys(options, ['metadata'], 'saveState');
    await save(path, this.flatState(), { metadata: this.metadata(options.metadata) });
  }

  saveStateSync(path: string, options: { metadata?: Record<string, string> } = {}): void {
    checkOptionKeys(options, ['metadata'], 'saveStateSync');
    saveSync(path, this.flatState(), { metadata: this.metadata(options.metadata) });
  }

  /**
   * Restores a state written by `saveState` (or by Python MLX from `tree_flatten(opt.state)`).
   * The state is checked first (a scalar integer step, finite values; with `options.parameters`
   * the shape and dtype of every entry); a bad file throws and leaves the optimizer as it was.
   */
  async loadState(path: string, options: StateCheckOptions = {}): Promise<Record<string, string>> {
    checkOptionKeys(options, ['parameters', 'step'], 'loadState');
    const { arrays, metadata } = await load(path);
    return this.prepare(path, arrays, metadata ?? {}, options).apply();
  }

  loadStateSync(path: string, options: StateCheckOptions = {}): Record<string, string> {
    checkOptionKeys(options, ['parameters', 'step'], 'loadStateSync');
    return this.prepareStateSync(path, options).apply();
  }

  /**
   * Reads and checks a state file without applying it (to check several files before changing
   * anything): `apply()` installs it and returns its metadata, `dispose()` drops it.
   */
  prepareStateSync(path: string, options: StateCheckOptions = {}): PreparedState {
    checkOptionKeys(options, ['parameters', 'step'], 'prepareStateSync');
    const { arrays, metadata } = loadSync(path);
    return this.prepare(path, arrays, metadata ?? {}, options);
  }

  private prepare(
    path: string,
    arrays: Record<string, mx.Array>,
    metadata: Record<string, string>,
    options: StateCheckOptions,
  ): PreparedState {
    const name = this.constructor.name;
    let tree: Record<string, unknown>;
    try {
      if (metadata.optimizer !== undefined && metadata.optimizer !== name)
        throw new Error(`${path}: optimizer state of ${metadata.optimizer}, not ${name}`);
      const scalars = new Set(
        Object.entries(this.#state)
          .filter(([, v]) => v instanceof mx.Array)
          .map(([k]) => k),
      );
      const expected = (p: mx.Array) => {
        const st: ParamState = {};
        this.initSingle(p, st);
        return st;
      };
      checkOptimizerState(path, name, arrays, expected, scalars, options);
      tree = unflattenPaths(arrays);
    } catch (e) {
      mx.dispose(arrays);
      throw e;
    }
    let settled = false;
    return {
      metadata,
      apply: () => {
        if (settled) throw new Error(`${path}: this prepared state was already applied or disposed`);
        settled = true;
        this.state = tree;
        return metadata;
      },
      dispose: () => {
        if (settled) return;
        settled = true;
        mx.dispose(arrays);
      },
    };
  }
}

/** A checked optimizer state, not applied yet (see `Optimizer.prepareStateSync`). */
export interface PreparedState {
  readonly metadata: Record<string, string>;
  /** Installs the state in the optimizer; returns the file's metadata. */
  apply(): Record<string, string>;
  /** Frees the state's arrays without applying it. */
  dispose(): void;
}

/** Path parts that would reach an object's prototype instead of a key of its own. */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * `{ 'a.0.m': x }` → `{ a: { '0': { m: x } } }` (a numeric key reaches a list position just as well).
 * The names come from files, so a part named `__proto__`, `constructor` or `prototype` is an
 * error (it could only reach Object.prototype), and nodes are looked up as own keys only.
 */
export function unflattenPaths(flat: Record<string, mx.Array>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat)) {
    const parts = key.split('.');
    const bad = parts.find((p) => PROTOTYPE_KEYS.has(p));
    if (bad !== undefined) throw new Error(`optimizer state: entry '${key}' uses the reserved name '${bad}'`);
    let node = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const next = Object.hasOwn(node, parts[i]) ? node[parts[i]] : undefined;
      if (next === undefined) node[parts[i]] = {};
      else if (!isPlainObject(next)) throw new Error(`optimizer state: '${key}' conflicts with another entry`);
      node = node[parts[i]] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = value;
  }
  return root;
}

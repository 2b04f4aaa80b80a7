/**
 * `Module`: a tree of parameters and child modules, following mlx.nn.Module's semantics.
 *
 * A module's tree is its own enumerable properties: `mx.Array` values are parameters, `Module`
 * values are children, and plain objects and JS lists may hold either (nested). Properties whose
 * name starts with `_` and values of any other kind (numbers, strings, functions) are not part of
 * the tree. Checkpoint keys are the dotted property paths with every segment in snake_case
 * (`layers.0.selfAttn.qProj.weight` ↔ `layers.0.self_attn.q_proj.weight`).
 */
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { type Checkpoint, loadSync, saveSync } from '@mlxn/io';
import { checkpointSegment, checkWeights, propertyPath } from './keys.js';

/** A tree of arrays in plain objects and lists, keyed by property names. */
export type ParamTree = mx.Array | ParamTree[] | { [key: string]: ParamTree };
export type ParamDict = { [key: string]: ParamTree };

/** Where `loadWeights` reads from: a safetensors file or model folder, or `[name, array]` entries. */
export type WeightSource = string | Checkpoint | Iterable<readonly [string, mx.Array]> | Record<string, mx.Array>;

export interface FreezeOptions {
  /** Apply to every submodule too (default true). */
  recurse?: boolean;
  /** Only these parameter names (property or checkpoint spelling) in each module; default all. */
  keys?: string | string[];
  /** Throw when a key names no parameter of a module (default false). */
  strict?: boolean;
}

/** `(module, key, value) => keep?` — `key` is a property name, or `name.i` inside containers. */
export type ParamFilter = (module: Module, key: string, value: unknown) => boolean;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/** Arrays, modules, and lists/plain objects (which may hold them) take part in the tree. */
function isTreeValue(v: unknown): boolean {
  return v instanceof mx.Array || v instanceof Module || Array.isArray(v) || isPlainObject(v);
}

/** mlx.nn's `valid_parameter_filter`: tree values under public names. */
export const validParameterFilter: ParamFilter = (_m, key, value) => isTreeValue(value) && !key.startsWith('_');

/** Tree values under public names that are not frozen. */
export const trainableParameterFilter: ParamFilter = (m, key, value) => validParameterFilter(m, key, value) && !m.isFrozen(key);

const isArrayLeaf = (_m: Module, _k: string, v: unknown) => v instanceof mx.Array;
const isModuleLeaf = (_m: Module, _k: string, v: unknown) => v instanceof Module;

type Leaf = (m: Module, key: string, v: unknown) => boolean;

function unwrap<V>(owner: Module, key: string, value: unknown, filter: ParamFilter, map: (v: V) => unknown, isLeaf: Leaf): unknown {
  // `isLeaf` is what tells a leaf, so it is what vouches for the leaf's type.
  if (isLeaf(owner, key, value)) return map(value as V);
  if (value instanceof Module) return value.filterAndMap(filter, map, isLeaf);
  if (Array.isArray(value)) {
    return value.map((v, i) => {
      const k = `${key}.${i}`;
      return filter(owner, k, v) ? unwrap(owner, k, v, filter, map, isLeaf) : {};
    });
  }
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [kk, v] of Object.entries(value)) {
      const k = `${key}.${kk}`;
      out[kk] = filter(owner, k, v) ? unwrap(owner, k, v, filter, map, isLeaf) : {};
    }
    return out;
  }
  // An array leaf filtered out by isLeaf (e.g. when collecting modules): nothing to report.
  return {};
}

/** A module, list or plain object of the tree, seen as what its entries are written through. */
type Container = Record<string | number, unknown>;

/** Calls `f(path, container, slot, array)` for every parameter array, in tree order. */
function walkArrays(
  container: Module | unknown[] | Record<string, unknown>,
  path: string,
  f: (path: string, container: Container, slot: string | number, a: mx.Array) => void,
): void {
  const self = container as unknown as Container;
  const visit = (v: unknown, p: string, slot: string | number) => {
    if (v instanceof mx.Array) f(p, self, slot, v);
    else if (v instanceof Module || Array.isArray(v) || isPlainObject(v))
      walkArrays(v as Module | unknown[] | Record<string, unknown>, p, f);
  };
  const join = (k: string | number) => (path ? `${path}.${k}` : `${k}`);
  if (container instanceof Module) {
    for (const [k, v] of container.treeEntries()) visit(v, join(k), k);
  } else if (Array.isArray(container)) {
    for (const [i, v] of container.entries()) visit(v, join(i), i);
  } else {
    for (const [k, v] of Object.entries(container)) if (!k.startsWith('_')) visit(v, join(k), k);
  }
}

function flattenTree(tree: unknown, prefix: string, out: [string, mx.Array][]): void {
  if (tree instanceof mx.Array) out.push([prefix, tree]);
  else if (Array.isArray(tree)) for (const [i, v] of tree.entries()) flattenTree(v, prefix ? `${prefix}.${i}` : `${i}`, out);
  else if (isPlainObject(tree)) for (const [k, v] of Object.entries(tree)) flattenTree(v, prefix ? `${prefix}.${k}` : k, out);
}

const ckpt = (path: string) => path.split('.').map(checkpointSegment).join('.');

/**
 * Base class of every layer and model. Subclasses assign parameters (`mx.Array`) and children
 * (`Module`, or lists/objects of them) to properties in the constructor and implement
 * `forward`.
 *
 * @example
 * class MLP extends Module {
 *   layers = [new Linear(4, 16), new Linear(16, 2)];
 *   forward(x: mx.Array) { return this.layers[1].forward(relu(this.layers[0].forward(x))); }
 * }
 * const m = new MLP();
 * m.namedParameters().map(([k]) => k); // ['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']
 */
export abstract class Module {
  #noGrad = new Set<string>();
  #training = true;

  // biome-ignore lint: layers take any inputs
  abstract forward(...args: any[]): any;

  /** Whether the module is in training mode (`train()`/`eval()`; affects e.g. `Dropout`). */
  get training(): boolean {
    return this.#training;
  }

  /** This module's own tree entries (public properties holding arrays, modules or containers). */
  treeEntries(): [string, unknown][] {
    return Object.entries(this).filter(([k, v]) => validParameterFilter(this, k, v));
  }

  /** Whether own parameter `key` (property name, or `name.i` inside a list) is frozen. */
  isFrozen(key: string): boolean {
    return this.#noGrad.has(key);
  }

  /**
   * Walks the tree, keeping entries for which `filter` holds and mapping leaves (arrays, or
   * whatever `isLeaf` selects) with `map`. Children always appear (possibly as `{}`), as in MLX.
   */
  filterAndMap<V = mx.Array>(filter: ParamFilter, map: (v: V) => unknown = (v) => v, isLeaf: Leaf = isArrayLeaf): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this)) {
      if (filter(this, k, v)) out[k] = unwrap(this, k, v, filter, map, isLeaf);
    }
    return out;
  }

  /** Every parameter, as a tree keyed by property names. */
  parameters(): ParamDict {
    return this.filterAndMap(validParameterFilter) as ParamDict;
  }

  /** The parameters that are not frozen (what `valueAndGrad` differentiates and optimizers update). */
  trainableParameters(): ParamDict {
    return this.filterAndMap(trainableParameterFilter) as ParamDict;
  }

  /** `[checkpointKey, array]` for every parameter, e.g. `['layers.0.self_attn.q_proj.weight', w]`. */
  namedParameters(): [string, mx.Array][] {
    const out: [string, mx.Array][] = [];
    walkArrays(this, '', (p, _c, _s, a) => out.push([ckpt(p), a]));
    return out;
  }

  /** `[checkpointKey, array]` for every trainable parameter. */
  namedTrainableParameters(): [string, mx.Array][] {
    const out: [string, mx.Array][] = [];
    flattenTree(this.trainableParameters(), '', out);
    return out.map(([p, a]) => [ckpt(p), a]);
  }

  /** Number of scalars in all parameters (or only the trainable ones). */
  numParameters(options: { trainable?: boolean } = {}): number {
    checkOptionKeys(options, ['trainable'], 'numParameters');
    const list = options.trainable ? this.namedTrainableParameters() : this.namedParameters();
    return list.reduce((n, [, a]) => n + a.size, 0);
  }

  /** The direct child modules, in the structure they are held in. */
  children(): Record<string, unknown> {
    return this.filterAndMap(validParameterFilter, (v) => v, isModuleLeaf);
  }

  /** `[checkpointPath, module]` for this module (path `''`) and every descendant, depth first. */
  namedModules(): [string, Module][] {
    const out: [string, Module][] = [];
    const visit = (v: unknown, path: string) => {
      if (v instanceof Module) {
        out.push([path, v]);
        for (const [k, c] of v.treeEntries()) visit(c, path ? `${path}.${checkpointSegment(k)}` : checkpointSegment(k));
      } else if (Array.isArray(v)) for (const [i, c] of v.entries()) visit(c, `${path}.${i}`);
      else if (isPlainObject(v)) for (const [k, c] of Object.entries(v)) visit(c, `${path}.${checkpointSegment(k)}`);
    };
    visit(this, '');
    return out;
  }

  /** This module and every descendant. */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Modules without child modules. */
  leafModules(): [string, Module][] {
    const hasChild = (v: unknown): boolean =>
      v instanceof Module || (Array.isArray(v) ? v.some(hasChild) : isPlainObject(v) && Object.values(v).some(hasChild));
    return this.namedModules().filter(([, m]) => !m.treeEntries().some(([, v]) => hasChild(v)));
  }

  /**
   * Replaces parameters with the arrays of `tree` (keyed by property names; a partial tree is
   * fine, `{}` leaves nothing to do). With `strict` (default) a key the module lacks is an error.
   */
  update(tree: Record<string, unknown>, strict = true): this {
    updateInto(this as unknown as Container, tree, strict, this.constructor.name);
    return this;
  }

  /** Replaces child modules (a tree of modules keyed by property names, as `children()` gives). */
  updateModules(tree: Record<string, unknown>): this {
    const put = (container: Container, t: object, where: string) => {
      for (const [k, v] of Array.isArray(t) ? t.entries() : Object.entries(t)) {
        if (!(k in container)) throw new Error(`updateModules: ${where} has no entry '${k}'`);
        if (v instanceof Module) container[k] = v;
        else if (v !== null && typeof v === 'object') put(container[k] as Container, v, `${where}.${k}`);
      }
    };
    put(this as unknown as Container, tree, this.constructor.name);
    return this;
  }

  /** Maps every parameter (for which `filter` holds) through `fn`, e.g. a dtype cast. */
  apply(fn: (a: mx.Array) => mx.Array, filter: ParamFilter = validParameterFilter): this {
    return this.update(this.filterAndMap(filter, fn));
  }

  /** Casts parameters whose dtype passes `predicate` (default: floating) to `dtype`, e.g. `'bfloat16'`. */
  setDtype(dtype: mx.Dtype, predicate: (d: mx.Dtype) => boolean = mx.isFloating): this {
    return this.apply((a) => (predicate(a.dtype) && a.dtype !== dtype ? mx.astype(a, dtype) : a));
  }

  /** A one-line-per-module outline: `path: Class` with parameter shapes and dtypes. */
  describe(): string {
    return this.namedModules()
      .map(([p, m]) => {
        const own: string[] = [];
        for (const [k, v] of m.treeEntries()) if (v instanceof mx.Array) own.push(`${checkpointSegment(k)} ${v.dtype}[${v.shape}]`);
        const depth = p === '' ? 0 : p.split('.').length;
        return `${'  '.repeat(depth)}${p || '(root)'}: ${m.constructor.name}${own.length ? ` (${own.join(', ')})` : ''}`;
      })
      .join('\n');
  }

  /** Calls `fn(path, module)` for this module and every descendant. */
  applyToModules(fn: (path: string, module: Module) => void): this {
    for (const [p, m] of this.namedModules()) fn(p, m);
    return this;
  }

  /** Freezes parameters: they keep their values and get no gradients. */
  freeze(options: FreezeOptions = {}): this {
    checkOptionKeys(options, ['recurse', 'keys', 'strict'], 'freeze');
    this.#setFrozen(options, true);
    return this;
  }

  /** Unfreezes parameters (all by default, or `keys`). */
  unfreeze(options: FreezeOptions = {}): this {
    checkOptionKeys(options, ['recurse', 'keys', 'strict'], 'unfreeze');
    this.#setFrozen(options, false);
    return this;
  }

  #setFrozen(options: FreezeOptions, frozen: boolean): void {
    const keys = options.keys === undefined ? undefined : (typeof options.keys === 'string' ? [options.keys] : options.keys).map(normKey);
    const targets = options.recurse === false ? [this] : this.modules();
    for (const m of targets) m.setFrozenKeys(keys, frozen, options.strict ?? false);
  }

  /** @internal Freezes or unfreezes own keys (all own parameters when `keys` is undefined). */
  setFrozenKeys(keys: string[] | undefined, frozen: boolean, strict: boolean): void {
    const own = ownParamKeys(this);
    if (keys === undefined) {
      if (frozen) for (const k of own) this.#noGrad.add(k);
      else this.#noGrad.clear();
      return;
    }
    if (strict) {
      const bad = keys.filter((k) => !own.includes(k));
      if (bad.length > 0) throw new Error(`${this.constructor.name} has no parameter ${bad.map((k) => `'${k}'`).join(', ')}`);
    }
    for (const k of keys) {
      if (frozen) this.#noGrad.add(k);
      else this.#noGrad.delete(k);
    }
  }

  /** Sets training mode on this module and every descendant. */
  train(mode = true): this {
    for (const m of this.modules()) m.#training = mode;
    return this;
  }

  /** Evaluation mode (`train(false)`). */
  eval(): this {
    return this.train(false);
  }

  /**
   * Loads parameters by checkpoint key from a safetensors file or model folder (through
   * @mlxn/io), a `Checkpoint`, or `[name, array]` entries. With `strict` (default) every
   * parameter must be given and nothing else; shapes must always match. Nothing is replaced
   * unless the whole set passes. Arrays keep their dtype (cast with `apply` if needed).
   */
  loadWeights(source: WeightSource, options: { strict?: boolean } = {}): this {
    checkOptionKeys(options, ['strict'], 'loadWeights');
    const strict = options.strict ?? true;
    const where = typeof source === 'string' ? source : 'loadWeights';
    const given = weightEntries(source);
    const slots = this.#weightSlots();
    for (const [name, a] of given) {
      if (!(a instanceof mx.Array)) throw new TypeError(`${where}: weight '${name}' is not an mx.Array`);
    }
    const report = checkWeights(
      [...slots].map(([name, [, , a]]) => ({ name, shape: a.shape })),
      given.map(([name, a]) => ({ name, shape: a.shape })),
      strict,
    );
    if (!report.ok) throw new Error(`${where}: ${report.message}`);
    for (const [name, a] of given) {
      const slot = slots.get(name);
      if (slot) slot[0][slot[1]] = a;
    }
    return this;
  }

  /**
   * @internal Puts weights whose names and shapes were already checked against this module
   * (`loadAdapters`' strict check, a model's checkpoint planner) into their slots, so a load
   * checks them once. A name the module lacks is still an error: the check was of another tree.
   */
  assignCheckedWeights(weights: Iterable<[string, mx.Array]>): this {
    const slots = this.#weightSlots();
    for (const [name, a] of weights) {
      const slot = slots.get(name);
      if (!slot) throw new Error(`assignCheckedWeights: the module has no weight '${name}'`);
      slot[0][slot[1]] = a;
    }
    return this;
  }

  /** Every weight by checkpoint key: its container, the key in it, and the current array. */
  #weightSlots(): Map<string, [Container, string | number, mx.Array]> {
    const slots = new Map<string, [Container, string | number, mx.Array]>();
    walkArrays(this, '', (p, c, s, a) => slots.set(ckpt(p), [c, s, a]));
    return slots;
  }

  /** Saves every parameter by checkpoint key (a `.safetensors` file, or a folder) through @mlxn/io. */
  async saveWeights(path: string, options: { metadata?: Record<string, string> } = {}): Promise<string[]> {
    checkOptionKeys(options, ['metadata'], 'saveWeights');
    return this.saveWeightsSync(path, options);
  }

  /** `saveWeights`, blocking. */
  saveWeightsSync(path: string, options: { metadata?: Record<string, string> } = {}): string[] {
    checkOptionKeys(options, ['metadata'], 'saveWeightsSync');
    return saveSync(path, Object.fromEntries(this.namedParameters()), options);
  }
}

function normKey(k: string): string {
  return propertyPath(k);
}

/** Own parameter keys of one module (`name`, or `name.i` / `name.k` inside containers). */
function ownParamKeys(m: Module): string[] {
  const out: string[] = [];
  const visit = (v: unknown, k: string) => {
    if (v instanceof mx.Array) out.push(k);
    else if (Array.isArray(v)) for (const [i, c] of v.entries()) visit(c, `${k}.${i}`);
    else if (isPlainObject(v)) for (const [kk, c] of Object.entries(v)) visit(c, `${k}.${kk}`);
  };
  for (const [k, v] of m.treeEntries()) {
    if (!(v instanceof Module)) {
      visit(v, k);
    }
  }
  return out;
}

function updateInto(container: Container, tree: unknown, strict: boolean, where: string): void {
  if (tree === undefined || tree === null) return;
  const entries: [string | number, unknown][] = Array.isArray(tree) ? [...tree.entries()] : isPlainObject(tree) ? Object.entries(tree) : [];
  if (!Array.isArray(tree) && !isPlainObject(tree)) throw new TypeError(`update: ${where}: expected an object or list, got ${typeof tree}`);
  for (const [k, v] of entries) {
    // Own keys only: `'__proto__' in {}` is true, and following it would write into
    // Object.prototype (trees can come from files).
    const has = Array.isArray(container) ? typeof k === 'number' || k in container : Object.hasOwn(container, k);
    if (!has) {
      if (strict) throw new Error(`update: ${where} has no parameter '${k}'`);
      continue;
    }
    const cur = container[k];
    if (v instanceof mx.Array) {
      if (strict && cur !== undefined && cur !== null && !(cur instanceof mx.Array)) {
        throw new Error(`update: ${where}.${k} is not a parameter (got an array for a ${(cur as object).constructor?.name ?? typeof cur})`);
      }
      container[k] = v;
    } else if (cur instanceof Module || Array.isArray(cur) || isPlainObject(cur)) {
      updateInto(cur as Container, v, strict, `${where}.${k}`);
    } else if (strict && !(isPlainObject(v) && Object.keys(v).length === 0)) {
      throw new Error(`update: ${where}.${k} holds no parameters`);
    }
  }
}

function weightEntries(source: WeightSource): [string, mx.Array][] {
  if (typeof source === 'string') return Object.entries(loadSync(source).arrays);
  if (source === null || typeof source !== 'object')
    throw new TypeError(
      `loadWeights: expected a path, a checkpoint or [name, array] entries, got ${source === null ? 'null' : typeof source}`,
    );
  if (isCheckpoint(source)) return Object.entries(source.arrays);
  if (Symbol.iterator in source) {
    const out: [string, mx.Array][] = [];
    for (const e of source as Iterable<readonly [string, mx.Array]>) {
      if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string')
        throw new TypeError('loadWeights: entries must be [name, array] pairs');
      out.push([e[0], e[1]]);
    }
    return out;
  }
  return Object.entries(source as Record<string, mx.Array>);
}

function isCheckpoint(v: object): v is Checkpoint {
  return 'arrays' in v && isPlainObject((v as Checkpoint).arrays) && 'metadata' in v;
}

/**
 * `fn(...args)`'s value and its gradient with respect to `model.trainableParameters()` (a tree of
 * the same structure). `fn` returns the loss, or a list whose first element is the loss.
 *
 * Every array made while `fn` is traced (the traced copies of the parameters, the activations)
 * is disposed before this returns: only the value and the gradients survive, and they are the
 * caller's (a `tidy` around the call frees them, or `mx.dispose`). An array made inside `fn`
 * that you need afterwards is returned with the loss (`[loss, logits]`) or `mx.keep`-ed.
 *
 * @example
 * const lossAndGrad = valueAndGrad(model, (x, y) => mseLoss(model.forward(x), y));
 * const [loss, grads] = lossAndGrad(x, y);
 */
// biome-ignore lint: any loss signature
export function valueAndGrad<A extends any[], R>(model: Module, fn: (...args: A) => R): (...args: A) => [R, ParamDict] {
  const inner = (params: ParamDict, ...args: A) => {
    model.update(params);
    return fn(...args);
  };
  const vg = mx.valueAndGrad(inner);
  return (...args: A) => {
    const params = model.trainableParameters();
    try {
      // Without this scope, the trace's arrays (activations included) would stay alive until the
      // garbage collector finalizes their wrappers, which never happens in a synchronous loop.
      return mx.tidy(() => vg(params, ...args) as [R, ParamDict]);
    } finally {
      // The traced copies must not stay in the model.
      model.update(params);
    }
  };
}

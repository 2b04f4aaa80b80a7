// A small JSON Schema (2020-12 subset) validator for the JSON-schema reward. It covers the
// keywords structured-output schemas use; a schema using any other keyword is rejected when the
// reward is built, so an unsupported rule can never pass silently.

export type JsonSchema = boolean | { [keyword: string]: unknown };

const ANNOTATIONS = new Set([
  '$schema',
  '$id',
  '$comment',
  '$anchor',
  'title',
  'description',
  'default',
  'examples',
  'readOnly',
  'writeOnly',
  'deprecated',
  'format',
  'contentMediaType',
  'contentEncoding',
]);
const CHECKED = new Set([
  'type',
  'enum',
  'const',
  'properties',
  'required',
  'additionalProperties',
  'patternProperties',
  'minProperties',
  'maxProperties',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'anyOf',
  'oneOf',
  'allOf',
  'not',
  '$ref',
  '$defs',
  'definitions',
]);
const TYPES = new Set(['null', 'boolean', 'object', 'array', 'number', 'integer', 'string']);

export class JsonSchemaError extends Error {
  override name = 'JsonSchemaError';
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeOf(a) !== typeOf(b) || typeof a !== 'object' || a === null) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => deepEqual(x, (b as unknown[])[i]));
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b as object, k) && deepEqual((a as never)[k], (b as never)[k]));
}

function resolveRef(root: JsonSchema, ref: string): JsonSchema {
  if (!ref.startsWith('#')) throw new JsonSchemaError(`only local $ref ("#/...") is supported, got ${JSON.stringify(ref)}`);
  let node: unknown = root;
  for (const raw of ref
    .slice(1)
    .split('/')
    .filter((p) => p !== '')) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, part)) {
      throw new JsonSchemaError(`$ref ${JSON.stringify(ref)} does not resolve`);
    }
    node = (node as Record<string, unknown>)[part];
  }
  if (typeof node !== 'boolean' && (node === null || typeof node !== 'object')) {
    throw new JsonSchemaError(`$ref ${JSON.stringify(ref)} does not point at a schema`);
  }
  return node as JsonSchema;
}

/** Checks that every keyword in the schema (recursively) is one this validator implements. */
function checkSupported(schema: unknown, root: JsonSchema, path: string): void {
  if (typeof schema === 'boolean') return;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    throw new JsonSchemaError(`${path}: a schema must be an object or a boolean`);
  }
  const s = schema as Record<string, unknown>;
  for (const [k, v] of Object.entries(s)) {
    if (ANNOTATIONS.has(k)) continue;
    if (!CHECKED.has(k)) throw new JsonSchemaError(`${path}: the keyword "${k}" is not supported by the built-in validator`);
    const sub = `${path}/${k}`;
    if (k === 'type') {
      const list = Array.isArray(v) ? v : [v];
      for (const t of list)
        if (typeof t !== 'string' || !TYPES.has(t)) throw new JsonSchemaError(`${sub}: unknown type ${JSON.stringify(t)}`);
    } else if (k === 'properties' || k === 'patternProperties' || k === '$defs' || k === 'definitions') {
      for (const [name, child] of Object.entries(v as object)) checkSupported(child, root, `${sub}/${name}`);
      if (k === 'patternProperties') for (const p of Object.keys(v as object)) new RegExp(p, 'u');
    } else if (k === 'additionalProperties' || k === 'items' || k === 'not') {
      checkSupported(v, root, sub);
    } else if (k === 'prefixItems' || k === 'anyOf' || k === 'oneOf' || k === 'allOf') {
      if (!Array.isArray(v) || v.length === 0) throw new JsonSchemaError(`${sub}: must be a non-empty array of schemas`);
      v.forEach((child, i) => checkSupported(child, root, `${sub}/${i}`));
    } else if (k === 'required') {
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new JsonSchemaError(`${sub}: must be an array of strings`);
    } else if (k === 'enum') {
      if (!Array.isArray(v)) throw new JsonSchemaError(`${sub}: must be an array`);
    } else if (k === 'pattern') {
      if (typeof v !== 'string') throw new JsonSchemaError(`${sub}: must be a string`);
      new RegExp(v, 'u');
    } else if (k === '$ref') {
      if (typeof v !== 'string') throw new JsonSchemaError(`${sub}: must be a string`);
      resolveRef(root, v);
    } else if (k === 'uniqueItems') {
      if (typeof v !== 'boolean') throw new JsonSchemaError(`${sub}: must be a boolean`);
    } else if (k !== 'const' && (typeof v !== 'number' || !Number.isFinite(v))) {
      throw new JsonSchemaError(`${sub}: must be a number`);
    }
  }
}

/**
 * Compiles a schema into a validator returning the list of violations (empty = valid).
 * @example compileJsonSchema({ type: 'object', required: ['a'] })({}); // ['(root): missing required property "a"']
 */
export function compileJsonSchema(schema: JsonSchema): (value: unknown) => string[] {
  checkSupported(schema, schema, '#');
  return (value) => {
    const errors: string[] = [];
    validate(schema, value, '(root)', schema, errors, 0);
    return errors;
  };
}

function validate(schema: JsonSchema, v: unknown, at: string, root: JsonSchema, errors: string[], depth: number): void {
  if (depth > 200) throw new JsonSchemaError('schema recursion is too deep (a $ref cycle?)');
  if (schema === true) return;
  if (schema === false) {
    errors.push(`${at}: no value is allowed here`);
    return;
  }
  const s = schema as Record<string, any>;
  const t = typeOf(v);
  if (s.$ref !== undefined) validate(resolveRef(root, s.$ref), v, at, root, errors, depth + 1);
  if (s.type !== undefined) {
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    const ok = types.some(
      (ty) => ty === t || (ty === 'integer' && t === 'number' && Number.isInteger(v)) || (ty === 'number' && t === 'number'),
    );
    if (!ok) errors.push(`${at}: expected ${types.join(' or ')}, got ${t}`);
  }
  if (s.enum !== undefined && !s.enum.some((e: unknown) => deepEqual(e, v))) errors.push(`${at}: not one of the allowed values`);
  if (Object.hasOwn(s, 'const') && !deepEqual(s.const, v)) errors.push(`${at}: must equal ${JSON.stringify(s.const)}`);
  if (t === 'number') {
    const n = v as number;
    if (s.minimum !== undefined && n < s.minimum) errors.push(`${at}: ${n} < minimum ${s.minimum}`);
    if (s.maximum !== undefined && n > s.maximum) errors.push(`${at}: ${n} > maximum ${s.maximum}`);
    if (s.exclusiveMinimum !== undefined && n <= s.exclusiveMinimum) errors.push(`${at}: ${n} ≤ exclusiveMinimum ${s.exclusiveMinimum}`);
    if (s.exclusiveMaximum !== undefined && n >= s.exclusiveMaximum) errors.push(`${at}: ${n} ≥ exclusiveMaximum ${s.exclusiveMaximum}`);
    if (s.multipleOf !== undefined) {
      const q = n / s.multipleOf;
      if (Math.abs(q - Math.round(q)) > 1e-9) errors.push(`${at}: ${n} is not a multiple of ${s.multipleOf}`);
    }
  }
  if (t === 'string') {
    const len = [...(v as string)].length; // code points, as JSON Schema counts
    if (s.minLength !== undefined && len < s.minLength) errors.push(`${at}: shorter than ${s.minLength}`);
    if (s.maxLength !== undefined && len > s.maxLength) errors.push(`${at}: longer than ${s.maxLength}`);
    if (s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v as string)) errors.push(`${at}: does not match ${s.pattern}`);
  }
  if (t === 'array') {
    const a = v as unknown[];
    if (s.minItems !== undefined && a.length < s.minItems) errors.push(`${at}: fewer than ${s.minItems} items`);
    if (s.maxItems !== undefined && a.length > s.maxItems) errors.push(`${at}: more than ${s.maxItems} items`);
    if (s.uniqueItems === true && a.some((x, i) => a.findIndex((y) => deepEqual(x, y)) !== i)) errors.push(`${at}: items are not unique`);
    const prefix: JsonSchema[] = s.prefixItems ?? [];
    a.forEach((item, i) => {
      const sub = i < prefix.length ? prefix[i] : s.items;
      if (sub !== undefined) validate(sub, item, `${at}[${i}]`, root, errors, depth + 1);
    });
  }
  if (t === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (s.minProperties !== undefined && keys.length < s.minProperties) errors.push(`${at}: fewer than ${s.minProperties} properties`);
    if (s.maxProperties !== undefined && keys.length > s.maxProperties) errors.push(`${at}: more than ${s.maxProperties} properties`);
    for (const r of (s.required ?? []) as string[]) if (!Object.hasOwn(o, r)) errors.push(`${at}: missing required property "${r}"`);
    const props = (s.properties ?? {}) as Record<string, JsonSchema>;
    const patterns = Object.entries((s.patternProperties ?? {}) as Record<string, JsonSchema>).map(
      ([p, sub]) => [new RegExp(p, 'u'), sub] as const,
    );
    for (const k of keys) {
      let matched = false;
      if (Object.hasOwn(props, k)) {
        matched = true;
        validate(props[k], o[k], `${at}.${k}`, root, errors, depth + 1);
      }
      for (const [re, sub] of patterns) {
        if (re.test(k)) {
          matched = true;
          validate(sub, o[k], `${at}.${k}`, root, errors, depth + 1);
        }
      }
      if (!matched && s.additionalProperties !== undefined) validate(s.additionalProperties, o[k], `${at}.${k}`, root, errors, depth + 1);
    }
  }
  const passes = (sub: JsonSchema) => {
    const e: string[] = [];
    validate(sub, v, at, root, e, depth + 1);
    return e.length === 0;
  };
  if (s.allOf) for (const sub of s.allOf as JsonSchema[]) validate(sub, v, at, root, errors, depth + 1);
  if (s.anyOf && !(s.anyOf as JsonSchema[]).some(passes)) errors.push(`${at}: matches none of anyOf`);
  if (s.oneOf) {
    const n = (s.oneOf as JsonSchema[]).filter(passes).length;
    if (n !== 1) errors.push(`${at}: matches ${n} of oneOf (exactly 1 needed)`);
  }
  if (s.not !== undefined && passes(s.not)) errors.push(`${at}: matches the schema in "not"`);
}

// The JSON-schema reward's validator: ajv, compiled once per schema. The schema is the user's
// (as trusted as their code); the value is model output, so its nesting is bounded before ajv
// walks it, and ajv stops at the first violation instead of collecting all of them.
import { Ajv, type ErrorObject, type Options } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';

export type JsonSchema = boolean | { [keyword: string]: unknown };

export class JsonSchemaError extends Error {
  override name = 'JsonSchemaError';
}

/** Deeper JSON than this is a violation: a recursive schema would otherwise recurse as deep as the value. */
const MAX_VALUE_DEPTH = 200;

const OPTIONS: Options = {
  // A keyword ajv does not know is an error when the reward is built, so a misspelt rule can
  // never pass silently.
  strictSchema: true,
  // Hints about schemas that are valid but loose (`properties` without `type: 'object'`) would
  // only print warnings: such schemas are common and mean what they say.
  strictTypes: false,
  strictTuples: false,
  allowMatchingProperties: true,
  // `format` is an annotation, as in draft 2020-12 (no format vocabulary is loaded).
  validateFormats: false,
  // `multipleOf: 0.1` accepts 0.3 although 0.3 / 0.1 is 2.9999999999999996 in floating point.
  multipleOfPrecision: 9,
};

// One ajv per draft, made when first needed: making one compiles the draft's meta-schema (about
// 0.1 s), which a reward with several tool schemas would otherwise pay for each.
const DRAFTS: { uri: RegExp; make: () => Ajv }[] = [
  { uri: /^https:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/, make: () => new Ajv2020(OPTIONS) },
  { uri: /^https:\/\/json-schema\.org\/draft\/2019-09\/schema#?$/, make: () => new Ajv2019(OPTIONS) },
  { uri: /^https?:\/\/json-schema\.org\/draft-07\/schema#?$/, make: () => new Ajv(OPTIONS) },
];
const made = new Map<number, Ajv>();

/** The validator of the draft a schema's `$schema` names; draft 2020-12 where it names none. */
function validatorFor(schema: JsonSchema): Ajv {
  const uri = typeof schema === 'object' && typeof schema.$schema === 'string' ? schema.$schema : undefined;
  const index = uri === undefined ? 0 : DRAFTS.findIndex((d) => d.uri.test(uri));
  if (index < 0) throw new JsonSchemaError(`$schema ${JSON.stringify(uri)} is not supported (draft 2020-12, 2019-09 or 07)`);
  let ajv = made.get(index);
  if (ajv === undefined) {
    ajv = DRAFTS[index].make();
    made.set(index, ajv);
  }
  return ajv;
}

/** Whether `value` nests objects and arrays deeper than `limit` (iteratively: the value may be very deep). */
function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

function describe(error: ErrorObject): string {
  const detail = error.keyword === 'additionalProperties' ? ` (${JSON.stringify(error.params.additionalProperty)})` : '';
  return `(root)${error.instancePath}: ${error.message ?? error.keyword}${detail}`;
}

/**
 * Compiles a schema (draft 2020-12, or the draft its `$schema` names) into a validator
 * returning the violations of the first rule the value breaks, each with where it is as a JSON
 * pointer (empty = valid); for an `anyOf`, each branch's violation comes before the anyOf's. A
 * schema that is not valid, uses a keyword no draft defines or has a `$ref` that does not
 * resolve throws a JsonSchemaError.
 * @example compileJsonSchema({ type: 'object', required: ['a'] })({}); // ["(root): must have required property 'a'"]
 */
export function compileJsonSchema(schema: JsonSchema): (value: unknown) => string[] {
  const ajv = validatorFor(schema);
  let validate: ReturnType<Ajv['compile']>;
  try {
    validate = ajv.compile(schema);
  } catch (e) {
    throw new JsonSchemaError((e as Error).message);
  } finally {
    // The compiled function keeps what it needs; the shared ajv forgets the schema, so two
    // schemas with the same `$id` do not clash and a dropped reward's schema is not kept.
    ajv.removeSchema(schema);
  }
  return (value) => {
    if (nestsDeeperThan(value, MAX_VALUE_DEPTH)) return [`(root): nests deeper than ${MAX_VALUE_DEPTH} levels`];
    try {
      if (validate(value)) return [];
    } catch (e) {
      // A $ref cycle that consumes no part of the value (`{ "$ref": "#" }`) recurses forever.
      if (e instanceof RangeError) throw new JsonSchemaError(`schema recursion is too deep (a $ref cycle?): ${e.message}`);
      throw e;
    }
    const errors = validate.errors ?? [];
    return errors.length > 0 ? errors.map(describe) : ['(root): not valid'];
  };
}

/**
 * The scenario JSON Schema (bench/scenario.schema.json, for editors) and the validator
 * (bench/scenario.ts, checkScenario) agree: the same scenarios, valid and invalid, go to
 * both (ajv, draft-07) and each case must come out the same way. The few rules JSON
 * Schema cannot say are listed in UNSAYABLE with why: there the validator refuses and the
 * schema accepts, and a test checks that each still does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BASE_DEFAULTS,
  BASE_KEYS,
  builtinDir,
  builtinScenarios,
  checkScenario,
  EXPERIMENTS,
  MODES,
  PEER_STATES,
  PORT_TYPES,
  SWEEP_PARAMS,
  SWEEPABLE,
} from '../bench/scenario.js';
import { NOTIFY_POLICIES } from '../src/kernel/notify.js';
import { LINE_RATES } from '../src/nic/line.js';
import { BAD_SCENARIOS, MORE_BAD_SCENARIOS, VALID_SCENARIOS } from './fixtures/scenarios.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCHEMA_FILE = join(ROOT, 'bench', 'scenario.schema.json');
type SchemaNode = Record<string, unknown>;
const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as SchemaNode;
// Strict (an unknown or ignored keyword is an error), but not strictTypes and strictRequired:
// the conditional rules (allOf) narrow keys whose type and definition the main properties give.
const validate = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: false }).compile(schema);

/** A refused case of the validator tests, by name. */
function badCase(what: string): unknown {
  const hit = BAD_SCENARIOS.find(([w]) => w === what);
  if (hit === undefined) throw new Error(`no BAD_SCENARIOS case '${what}'`);
  return hit[1];
}

/**
 * Refused by the validator and accepted by the schema, because JSON Schema cannot say the
 * rule: [what, scenario, why]. These are left out of the agreement test.
 */
const UNSAYABLE: Array<[string, unknown, string]> = [
  [
    'too many points',
    badCase('too many points'),
    'the number of points is a product of list lengths, which JSON Schema cannot compute',
  ],
  [
    'the same direction written with and without spaces',
    { name: 'd', experiment: 'pktgen', sweep: { endpoints: ['guest->host', ' guest -> host '] } },
    'directions are compared once normalised, and uniqueItems compares the strings as written',
  ],
  [
    'the same ping pair written with -> and <->',
    { name: 'p', experiment: 'ping', sweep: { endpoints: ['guest->host', 'guest<->host'] } },
    'directions are compared once normalised, and uniqueItems compares the strings as written',
  ],
];
const unsayable = new Set(UNSAYABLE.map(([what]) => what));

const builtins: Array<[string, unknown]> = builtinScenarios().map((name) => [
  `built-in ${name}`,
  JSON.parse(readFileSync(join(builtinDir(), `${name}.json`), 'utf8')),
]);

const corpus: Array<[string, unknown, boolean]> = [
  ...builtins.map(([what, s]): [string, unknown, boolean] => [what, s, true]),
  ...VALID_SCENARIOS.map(([what, s]): [string, unknown, boolean] => [what, s, true]),
  ...BAD_SCENARIOS.filter(([what]) => !unsayable.has(what)).map(([what, s]): [string, unknown, boolean] => [
    what,
    s,
    false,
  ]),
  ...MORE_BAD_SCENARIOS.map(([what, s]): [string, unknown, boolean] => [what, s, false]),
];

/** A JSON round trip: what a scenario file would hold (drops undefined keys). */
const asJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

const schemaSays = (s: unknown): boolean => validate(asJson(s)) === true;
const validatorSays = (s: unknown): boolean => checkScenario(asJson(s)).scenario !== undefined;

/** A subschema by JSON pointer (`/definitions/base`). */
function at(pointer: string): SchemaNode {
  let node: unknown = schema;
  for (const part of pointer.split('/').slice(1)) node = (node as SchemaNode)[part];
  return node as SchemaNode;
}

/** The `then` of the allOf rule that applies to one experiment. */
function experimentRule(experiment: string): SchemaNode {
  const rules = schema.allOf as Array<{ if: SchemaNode; then: SchemaNode }>;
  const rule = rules.find(
    (r) =>
      JSON.stringify(r.if) ===
      JSON.stringify({ properties: { experiment: { const: experiment } }, required: ['experiment'] }),
  );
  if (rule === undefined) throw new Error(`no rule for experiment ${experiment}`);
  return (rule.then as { properties: SchemaNode }).properties as SchemaNode;
}

describe('the scenario schema and the validator', () => {
  it('the corpus holds every built-in scenario and every refused case of the validator tests', () => {
    const refusedOutside = BAD_SCENARIOS.filter(([what]) => unsayable.has(what)).length;
    expect(builtins.length).toBeGreaterThan(0);
    expect(corpus.length).toBe(
      builtins.length + VALID_SCENARIOS.length + BAD_SCENARIOS.length - refusedOutside + MORE_BAD_SCENARIOS.length,
    );
  });

  it.each(corpus)('%s: the schema and checkScenario agree', (_what, scenario, valid) => {
    expect({ validator: validatorSays(scenario), schema: schemaSays(scenario) }).toEqual({
      validator: valid,
      schema: valid,
    });
  });

  it.each(UNSAYABLE)('%s: the validator refuses it, the schema cannot say why', (_what, scenario, _why) => {
    expect({ validator: validatorSays(scenario), schema: schemaSays(scenario) }).toEqual({
      validator: false,
      schema: true,
    });
  });
});

/** Values a random edit puts into a scenario: good and bad ones of every kind, at the limits. */
const EDIT_VALUES: unknown[] = [
  ...['pipe', 'vale', 'nic', 'wire', 'tap', 'host', 'guest', 'emulated', 'tx', 'txseq', 'ping', 'rx', 'pktgen'],
  ...['peers', 'chain', 'asleep', 'awake', 'event-idx', 'adaptive', '10G', '40G', 'auto', 'x', 'len', 'batch'],
  ...['host->host', 'guest->host', 'host<->guest', 'host->wire', 'wire->guest', 'emulated->wire', 'wire->wire'],
  ...[' guest -> host ', 0, 1, 2, 4, 9, 10, 15, 16, 47, 48, 60, 2048, 2049, 16384, 16385, 1.5, -1, 3600, 3601],
  ...[1e7, 1e8, 1048576, 1048577, true, false, null, [], {}, [1], [2, 4], [60, 1514], [48], ['pipe'], ['nic']],
  ...[['vale', 'pipe'], ['pipe', 'nic'], ['host->guest'], ['host->wire', 'wire->host'], ['guest<->host']],
  ...[
    [true, false],
    ['asleep', 'adaptive'],
    ['10G'],
    ['awake'],
    { tx: 'host', rx: 'wire' },
    { tx: 'wire', rx: 'host' },
  ],
  ...[{ tx: 'guest', rx: 'host' }, { tx: 'host' }],
];
const TOP_KEYS = ['name', 'description', 'experiment', 'port', 'endpoints', 'mode', 'base', 'sweep', 'series', 'x'];
const BASE_KEY_NAMES = [...Object.keys(BASE_DEFAULTS), 'bogus'];
const SWEEP_KEY_NAMES = [...SWEEP_PARAMS, 'seconds'];

/** One edit: set (or, with undefined, delete) a key at the top, in base or in sweep. */
const anEdit = fc
  .oneof(
    fc.record({ where: fc.constant('top'), key: fc.constantFrom(...TOP_KEYS, '$schema', 'bogus') }),
    fc.record({ where: fc.constant('base'), key: fc.constantFrom(...BASE_KEY_NAMES) }),
    fc.record({ where: fc.constant('sweep'), key: fc.constantFrom(...SWEEP_KEY_NAMES) }),
  )
  .chain((e) =>
    fc.record({ where: fc.constant(e.where), key: fc.constant(e.key), v: fc.constantFrom(...EDIT_VALUES, undefined) }),
  );

/** Whether a scenario breaks a rule that only the validator can say (UNSAYABLE). */
function breaksUnsayableRule(s: SchemaNode): boolean {
  const sweep = s.sweep;
  if (typeof sweep !== 'object' || sweep === null || Array.isArray(sweep)) return false;
  const lists = Object.values(sweep).filter(Array.isArray);
  if (lists.reduce((n, l) => n * l.length, 1) > 1000) return true;
  const dirs = (sweep as SchemaNode).endpoints;
  if (!Array.isArray(dirs) || !dirs.every((d) => typeof d === 'string')) return false;
  const normal = dirs.map((d: string) => d.replace(/\s/g, '').replace('<->', '->'));
  return new Set(normal).size !== normal.length;
}

describe('the scenario schema and the validator on random edits', () => {
  it('agree on valid scenarios with up to four random edits (fast-check, fixed seed)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...VALID_SCENARIOS.map(([, s]) => s)),
        fc.array(anEdit, { minLength: 1, maxLength: 4 }),
        (valid, edits) => {
          const s = asJson(valid) as SchemaNode;
          for (const { where, key, v } of edits) {
            let into = s;
            if (where !== 'top') {
              const inner = s[where];
              if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) s[where] = {};
              into = s[where] as SchemaNode;
            }
            if (v === undefined) delete into[key];
            else into[key] = asJson(v);
          }
          fc.pre(!breaksUnsayableRule(s));
          expect(schemaSays(s)).toBe(validatorSays(s));
        },
      ),
      { numRuns: 5000, seed: 17 },
    );
  });
});

describe('the scenario schema', () => {
  it('is draft-07 that ajv compiles in strict mode', () => {
    expect(schema.$schema).toBe('http://json-schema.org/draft-07/schema#');
    expect(typeof validate).toBe('function');
  });

  it("lists the validator's experiments, ports, modes, policies, line rates, peer states and sweep keys", () => {
    expect(at('/properties/experiment').enum).toEqual([...EXPERIMENTS]);
    expect(at('/definitions/port').enum).toEqual([...PORT_TYPES]);
    expect(at('/properties/mode').enum).toEqual([...MODES]);
    expect(at('/definitions/notify').enum).toEqual([...NOTIFY_POLICIES]);
    expect(at('/definitions/line').enum).toEqual([...LINE_RATES]);
    expect(at('/definitions/peer').enum).toEqual([...PEER_STATES]);
    expect(Object.keys(at('/definitions/sweep/properties'))).toEqual([...SWEEP_PARAMS]);
    expect(at('/properties/series').enum).toEqual([...SWEEP_PARAMS]);
  });

  it.each(EXPERIMENTS)("names the base keys and sweep keys the %s experiment takes, as the validator's", (exp) => {
    const rule = experimentRule(exp);
    expect((rule.base as { propertyNames: { enum: string[] } }).propertyNames.enum).toEqual([...BASE_KEYS[exp]]);
    expect((rule.sweep as { propertyNames: { enum: string[] } }).propertyNames.enum).toEqual([...SWEEPABLE[exp]]);
  });

  it("gives every base key the validator's default", () => {
    const props = at('/definitions/base/properties');
    expect(Object.keys(props)).toEqual(Object.keys(BASE_DEFAULTS));
    for (const [k, v] of Object.entries(BASE_DEFAULTS)) expect((props[k] as SchemaNode).default, k).toEqual(v);
  });

  it('is named by every built-in scenario, by a path that reaches it', () => {
    for (const [what, s] of builtins) {
      const ref = (s as SchemaNode).$schema;
      expect(ref, what).toBe('../scenario.schema.json');
      expect(join(builtinDir(), ref as string), what).toBe(SCHEMA_FILE);
    }
  });

  it('ships in the package', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).toContain('bench/scenario.schema.json');
  });
});

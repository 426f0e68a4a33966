// Deterministic cases for the differential suite: every operator against every value kind
// at every selector location, bucketing on values of every kind, multi-condition segments
// and dependencies (results read by children, chains, missing parents, flag_keys subsets).
// Numbers are `Num` literals, so allot is sent exactly the text JavaScript parses.

import { Num, num } from './exact_json.mjs';

/** mulberry32: a small seeded generator (same sequence on every machine). */
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (xs) => xs[int(xs.length)];
  const sample = (xs, n) => {
    const pool = [...xs];
    const out = [];
    while (out.length < n && pool.length) out.push(pool.splice(int(pool.length), 1)[0]);
    return out;
  };
  return { next, int, pick, sample, chance: (p) => next() < p };
}

const NUMBER_LITERALS = [
  '0', '7', '-3', '42', '9007199254740993', '18446744073709551615', '-9223372036854775808',
  '123456789012345678901234567890', '12.5', '0.1', '0.30000000000000004',
  '1.00000000000000011102230246251565404236316680908203126',
  '1.00000000000000011102230246251565404236316680908203125',
  '3.14159265358979323846264338327950288', '2.50', '1.0', '100.0', '1e5', '1E-7', '2.5e+20',
  '1e21', '1.5e16', '6.02214076e23', '1e-6', '0.00001', '-0', '-0.0', '-12.5e-3',
  '4.9406564584124654e-324', '7.038531e-26',
];
const NUMBERS = NUMBER_LITERALS.map(num);
const STRINGS = [
  'abc', '', 'A', 'a', 'b', 'x', 'true', 'TRUE', 'False', '12', '12.5', ' 12 ', '0x10', '1e3',
  'Infinity', 'NaN', '1_000', '-0', '1.0', '1', 'ünïcödé', '日本語', '😀', 'ｱ', '\uFFFD', 'ß',
  'İstanbul', '١٢٣', 'a@example.com', 'ios 15', 'Example.COM', '["a","b"]', '[1, 2.0, ""]',
  '[not json', 'a,b', '(none)', 'abcabc', 'aa',
];
const VERSIONS = [
  '1.2.3', '1.10.0', '2.0.0-alpha', '2.0.0-beta.1', '10.0', '1.2', '01.2.3', '99999999999.0.0',
  '1.2.3-', '1.2.3-alpha_1', '1.10.', 'v1.2', '2.0.0',
];
const LISTS = [
  ['a', 'b'], [], [''], ['', 'x'], [num('1'), num('2.5'), num('1.0')], [null, 'x'],
  [true, false], [['n']], [{ k: num('1') }], ['😀', 'a'], ['A', 'b', 'c'], ['TRUE', 'x'],
  [num('1e21'), num('-0')],
];
const OBJECTS = [
  { b: num('1'), a: num('2') }, { z: { y: num('1.0') } }, {}, { k: 'v' },
  { 'ü': 'x', z: [num('0.1')] },
];
const ANY = [...NUMBERS, ...STRINGS, ...VERSIONS, ...LISTS, ...OBJECTS, true, false, null];
const SCALARS = ANY.filter((v) => v instanceof Num || (v !== null && typeof v !== 'object'));

// Filter values (always strings) per operator family.
const NUMBER_TEXTS = [
  '1', '1.0', '100000', '100000.0', '1e+21', '1e21', '0.30000000000000004', '1.0000000000000002',
  '18446744073709551615', '18446744073709552000', '-0', '0', '-0.0', '12.5', '2.5', '7',
];
const IS_VALUES = [
  ...STRINGS, ...NUMBER_TEXTS, '{"a":2,"b":1}', '{"b":1,"a":2}', '{"z":{"y":1.0}}',
  '{"z":{"y":1}}', '{}', 'false', 'FALSE', '1.2.3', '["a","b"]',
];
const COMPARE_VALUES = [
  '10', '12.5', '-1', '0', '1e5', 'abc', '', ' 5', '0x10', 'Infinity', '1e400', '.5', '5.',
  '+3', '(none)', 'ｱ', '😀', '1.0000000000000002', '100000', 'B', 'ä', '1_0',
];
const VERSION_VALUES = [...VERSIONS, '(none)', 'abc', '1.2.3-beta', '1.2.3-alpha'];
const SET_VALUES = ['a', 'b', 'x', '', '1', '1.0', '2.5', 'true', 'c1', 'c2', '(none)', 'A', '😀'];
const REGEXES = [
  '^a', 'b$', '\\d+', '^[a-z]+$', 'ü', '😀', '^.$', 'a|b', '(?=a)a', '(?<!x)b', '(a)\\1',
  'a{2}', '^\\w+$', '\\d', '^ios \\d+', '\\.', '^$', '(abc)+', '[0-9]{2}', 'É',
];
// Patterns JavaScript cannot compile (its engine throws for the whole evaluation).
const REGEXES_JS_THROWS = ['(?i)abc', '[', '(?i)^a', '(?P<n>a)', '(?s)a.b'];

const OPERATORS = [
  ['is', IS_VALUES], ['is not', IS_VALUES], ['contains', IS_VALUES],
  ['does not contain', IS_VALUES], ['less', COMPARE_VALUES], ['less or equal', COMPARE_VALUES],
  ['greater', COMPARE_VALUES], ['greater or equal', COMPARE_VALUES],
  ['version less', VERSION_VALUES], ['version less or equal', VERSION_VALUES],
  ['version greater', VERSION_VALUES], ['version greater or equal', VERSION_VALUES],
  ['set is', SET_VALUES], ['set is not', SET_VALUES], ['set contains', SET_VALUES],
  ['set does not contain', SET_VALUES], ['set contains any', SET_VALUES],
  ['set does not contain any', SET_VALUES], ['regex match', REGEXES],
  ['regex does not match', REGEXES],
];

const USER_FIELDS = [
  'user_id', 'device_id', 'country', 'city', 'region', 'dma', 'language', 'platform', 'version',
  'os', 'device_manufacturer', 'device_brand', 'device_model', 'carrier', 'library', 'ip_address',
];

// Where conditions and buckets read, and the kind of values users carry there.
const LOCATIONS = [
  ['context', 'user', 'user_properties', 'p'],
  ['context', 'user', 'user_properties', 'o', 'q'],
  ['context', 'user', 'user_properties', 'list', '0'],
  ['context', 'user', 'user_properties', 'missing'],
  ['context', 'user', 'version'],
  ['context', 'user', 'country'],
  ['context', 'user', 'user_id'],
  ['context', 'user', 'cohort_ids'],
  ['context', 'groups', 'org', 'group_name'],
  ['context', 'groups', 'org', 'group_properties', 'gp'],
  ['context', 'groups', 'org', 'cohort_ids'],
];

const VARIANT_VALUES = ['on', 'treatment', num('1'), num('0.1'), true, { k: num('1e21') }];
const PAYLOADS = [
  ...NUMBERS, { color: 'red', n: num('7'), f: num('0.30000000000000004') },
  [num('1.0'), 'two', null, num('-0')], 'text', { 'ü': { deep: num('6.02214076e23') } }, null,
];

function metadata(r, version) {
  const m = { deployed: r.chance(0.8), evaluationMode: 'local', flagVersion: num(String(version)) };
  m.flagType = r.pick(['release', 'experiment', 'mutual-exclusion-group', 'holdout-group']);
  if (m.flagType === 'experiment') m.experimentKey = `exp-${version}`;
  if (r.chance(0.2)) m.ratio = r.pick(NUMBERS);
  return m;
}

/** A flag: its segments, then a catch-all "off" default. */
function flag(r, key, segments, extra = {}) {
  const on = { key: 'on', value: r.pick(VARIANT_VALUES) };
  if (r.chance(0.6)) on.payload = r.pick(PAYLOADS);
  if (r.chance(0.2)) on.metadata = { weight: r.pick(NUMBERS) };
  const variants = {
    on,
    treatment: { key: 'treatment', value: 'treatment', payload: r.pick(PAYLOADS) },
    off: { key: 'off', metadata: { default: true } },
  };
  segments.forEach((s, i) => (s.metadata = { segmentName: `Segment ${i}` }));
  segments.push({ variant: 'off', metadata: { segmentName: 'All Other Users' } });
  return { key, metadata: metadata(r, r.int(50) + 1), segments, variants, ...extra };
}

function bucket(r, selector) {
  const cut = r.int(42949673);
  const allocations = [
    {
      range: [num(String(r.int(30))), num(String(70 + r.int(31)))],
      distributions: [
        { variant: 'on', range: [num('0'), num(String(cut))] },
        { variant: 'treatment', range: [num(String(cut)), num('42949673')] },
      ],
    },
  ];
  if (r.chance(0.3)) {
    allocations.push({ range: [num('0'), num('100')], distributions: [{ variant: 'treatment', range: [num('0'), num('42949673')] }] });
  }
  return { selector, salt: `salt-${r.int(1000)}`, allocations };
}

function locationValue(r, location) {
  const where = location.join('.');
  if (where.endsWith('cohort_ids')) return r.sample(['c1', 'c2', 'c3', 'a', '', '😀'], 1 + r.int(3));
  if (where.endsWith('list.0')) return r.pick(LISTS);
  if (where === 'context.user.version') return r.pick([...VERSIONS, ...VERSIONS, ...NUMBERS]);
  return r.pick(ANY);
}

function user(r, i) {
  const u = { user_id: `user-${i}`, device_id: `device-${r.int(1e6)}` };
  for (const field of USER_FIELDS) {
    if (r.chance(0.25)) u[field] = r.chance(0.8) ? r.pick([...STRINGS, ...VERSIONS]) : r.pick(NUMBERS);
  }
  if (r.chance(0.1)) delete u.user_id;
  if (r.chance(0.1)) delete u.device_id;
  u.version = locationValue(r, ['context', 'user', 'version']);
  u.country = r.pick(SCALARS);
  const props = {};
  if (r.chance(0.9)) props.p = r.pick(ANY);
  if (r.chance(0.7)) props.o = { q: r.pick(ANY) };
  if (r.chance(0.7)) props.list = r.pick(LISTS);
  if (r.chance(0.9)) u.user_properties = props;
  if (r.chance(0.7)) u.cohort_ids = locationValue(r, ['cohort_ids']);
  if (r.chance(0.8)) {
    const name = r.pick(['acme', 'initech', 'ünï', 'umbrella']);
    u.groups = { org: r.chance(0.9) ? [name, 'second'] : [] };
    if (r.chance(0.8)) u.group_properties = { org: { [name]: { gp: r.pick(ANY) } } };
    if (r.chance(0.6)) u.group_cohort_ids = { org: { [name]: r.sample(['c1', 'c2', 'c3'], 1 + r.int(2)) } };
  }
  return u;
}

/** The generated suites: `generated` and `regex-js-throws`. */
export function generatedSuites(seed) {
  const r = rng(seed);
  const flags = [];
  let n = 0;
  const key = (kind) => `${kind}-${n++}`;
  for (const location of LOCATIONS) {
    for (const [op, pool] of OPERATORS) {
      for (let k = 0; k < 2; k++) {
        const values = r.sample(pool, 1 + r.int(3));
        const segment = { conditions: [[{ selector: location, op, values }]], variant: 'on' };
        if (r.chance(0.2)) segment.bucket = bucket(r, ['context', 'user', 'device_id']);
        flags.push(flag(r, key('op'), [segment]));
      }
    }
  }
  // Bucketing on values of every kind.
  for (const location of [...LOCATIONS, ['context', 'user', 'device_id']]) {
    for (let k = 0; k < 4; k++) {
      flags.push(flag(r, key('bucket'), [{ bucket: bucket(r, location), variant: 'off' }]));
    }
  }
  // OR of ANDs.
  for (let k = 0; k < 30; k++) {
    const condition = () => {
      const [op, pool] = r.pick(OPERATORS);
      return { selector: r.pick(LOCATIONS), op, values: r.sample(pool, 1 + r.int(2)) };
    };
    const conditions = [];
    for (let o = 0; o < 1 + r.int(3); o++) {
      conditions.push(Array.from({ length: 1 + r.int(3) }, condition));
    }
    flags.push(flag(r, key('logic'), [{ conditions, variant: r.pick(['on', 'treatment']) }]));
  }
  // Dependencies: children read their parents' results; chains; a missing parent.
  const parents = flags.map((f) => f.key);
  const children = () => flags.filter((f) => f.key.startsWith('child')).map((f) => f.key);
  const paths = [['key'], ['key'], ['value'], ['payload'], ['payload', 'n'], ['metadata', 'default'],
    ['metadata', 'segmentName'], ['metadata', 'flagVersion']];
  const tests = [
    ['is', ['on', 'treatment', 'off', 'true', '(none)', 'Segment 0', '1']],
    ['is not', ['on', 'off']],
    ['set contains any', ['on', 'treatment']],
    ['less', ['10', '30']],
    ['regex match', ['^o', 'ment$']],
  ];
  for (let k = 0; k < 60; k++) {
    // Every tenth child depends on a flag that does not exist; later ones on children.
    let parent = r.pick(k > 20 && r.chance(0.5) ? children() : parents);
    if (k % 10 === 9) parent = 'no-such-flag';
    const [op, pool] = r.pick(tests);
    const selector = ['result', parent, ...r.pick(paths)];
    const condition = { selector, op, values: r.sample(pool, 1 + r.int(2)) };
    const dependencies = r.chance(0.2) ? [parent, r.pick(parents)] : [parent];
    flags.push(flag(r, key('child'), [{ conditions: [[condition]], variant: 'on' }], { dependencies }));
  }

  const allKeys = flags.map((f) => f.key);
  const cases = [];
  for (let i = 0; i < 260; i++) cases.push({ user: user(r, i) });
  for (let i = 0; i < 40; i++) {
    const c = { user: user(r, 1000 + i) };
    const choice = i % 4;
    if (choice === 0) c.flag_keys = [];
    else if (choice === 1) c.flag_keys = r.sample(allKeys.filter((k) => k.startsWith('child')), 3);
    else if (choice === 2) c.flag_keys = [...r.sample(allKeys, 5), 'no-such-flag'];
    else c.flag_keys = r.sample(allKeys, 20);
    cases.push(c);
  }

  // Patterns JavaScript throws on: their own configuration, so the rest is unaffected.
  const throwing = [];
  for (const pattern of REGEXES_JS_THROWS) {
    for (const op of ['regex match', 'regex does not match']) {
      for (const location of [['context', 'user', 'user_properties', 'p'], ['context', 'user', 'country']]) {
        throwing.push(flag(r, key('regex'), [{ conditions: [[{ selector: location, op, values: [pattern] }]], variant: 'on' }]));
      }
    }
  }
  const throwingCases = [];
  for (let i = 0; i < 60; i++) {
    const u = user(r, 2000 + i);
    u.user_properties = { p: r.pick(['abc', 'ABC', 'xabc', '', '[', 'a', 'aa', 'P']) };
    throwingCases.push({ user: u });
  }
  return [
    { name: 'generated', flags, cases },
    { name: 'regex-js-throws', flags: throwing, cases: throwingCases },
  ];
}

// The oracle of `make test-differential`: runs every case through Amplitude's JavaScript
// engine (@amplitude/experiment-core, users turned into contexts by
// @amplitude/experiment-node-server's own function) and through the model of allot's
// documented choices (model.mjs), with and without each choice, and writes what allot
// must be compared with (tests/differential.rs does the comparison).
//
// usage: node oracle.mjs <node_modules prefix> <shared dir> <output dir>

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

import { parse, plain, write } from './exact_json.mjs';
import { generatedSuites } from './generate.mjs';
import { CHOICES, modelEngine } from './model.mjs';

const [prefix, shared, out] = process.argv.slice(2).map((p) => resolve(p));
const require = createRequire(join(prefix, 'package.json'));
const { EvaluationEngine, topologicalSort } = require('@amplitude/experiment-core');
const { convertUserToEvaluationContext } = require(
  '@amplitude/experiment-node-server/dist/src/util/user.js',
);
const SEED = 18;

/** Public fixtures, read where they are (never copied). */
function fixtureSuites() {
  return ['dependencies_fixture', 'generated_corpus'].map((name) => {
    const data = parse(readFileSync(join(shared, 'conformance/amplitude', `${name}.json`), 'utf8'));
    const cases = data.cases.map((c) => {
      const request = { user: c.user };
      if (c.flag_keys !== undefined) request.flag_keys = c.flag_keys;
      return request;
    });
    return { name: `fixture-${name.replace('_', '-')}`, flags: data.flags, cases };
  });
}

/** Evaluates one request the way the node server SDK's evaluateV2 does. */
function evaluate(engine, flags, request, emptyKeysMeanAll) {
  try {
    let keys = request.flag_keys;
    if (emptyKeysMeanAll && keys && keys.length === 0) keys = undefined;
    const context = convertUserToEvaluationContext(request.user);
    return { variants: engine.evaluate(context, topologicalSort(flags, keys)) };
  } catch (e) {
    return { error: String(e) };
  }
}

const byKey = (flags) => Object.fromEntries(flags.map((f) => [f.key, f]));

function runSuite(suite) {
  const plainFlags = byKey(plain(suite.flags));
  const exactFlags = byKey(suite.flags);
  const js = new EvaluationEngine();
  const model = (on) => {
    const Engine = modelEngine(EvaluationEngine, on);
    const exact = on.has('number-text');
    return {
      engine: new Engine(),
      flags: exact ? exactFlags : plainFlags,
      request: (r) => (exact ? r : plain(r)),
      mode: exact ? 'allot' : 'js',
      emptyKeysMeanAll: on.has('empty-flag-keys'),
    };
  };
  const full = model(new Set(CHOICES));
  const without = CHOICES.map((c) => [c, model(new Set(CHOICES.filter((x) => x !== c)))]);
  const alone = CHOICES.map((c) => [c, model(new Set([c]))]);
  const none = model(new Set());
  const run = (m, request) => evaluate(m.engine, m.flags, m.request(request), m.emptyKeysMeanAll);
  // Flags whose results differ (numbers compared as JavaScript's doubles).
  const differing = (a, b) => {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].filter((k) => write(a[k], 'js') !== write(b[k], 'js'));
  };
  // Only what differs is written: the model where it differs from the engine, each
  // choice's removal where it changes the model, and each choice alone where it changes
  // the engine (which names the reasons when any one of several choices suffices).
  const delta = (result, base, mode) => {
    if (result.error !== undefined) return write(result, 'js');
    if (base.error !== undefined) return write(result.variants, mode);
    const keys = differing(result.variants, base.variants);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${write(result.variants[k] ?? null, mode)}`).join(',')}}`;
  };

  const cases = suite.cases.map((request) => {
    const jsResult = evaluate(js, plainFlags, plain(request), false);
    const modelResult = run(full, request);
    // Without choices the model must be the engine itself, or its attributions mean nothing.
    if (write(run(none, request), 'js') !== write(jsResult, 'js')) {
      throw new Error(`${suite.name}: the model without choices differs from the engine on ${write(request, 'literal')}`);
    }
    const changes = (engines, base) =>
      engines
        .map(([c, m]) => [c, delta(run(m, request), base, 'js')])
        .filter(([, text]) => text !== '{}')
        .map(([c, text]) => `${JSON.stringify(c)}:${text}`)
        .join(',');
    return (
      `{"request":${JSON.stringify(write(request, 'literal'))},` +
      `"js":${write(jsResult, 'js')},` +
      `"model":${modelResult.error !== undefined ? write(modelResult, 'js') : delta(modelResult, jsResult, full.mode)},` +
      `"without":{${changes(without, modelResult)}},` +
      `"alone":{${changes(alone, jsResult)}}}`
    );
  });
  const text =
    `{"name":${JSON.stringify(suite.name)},"flags":${JSON.stringify(write(suite.flags, 'literal'))},` +
    `"cases":[\n${cases.join(',\n')}\n]}\n`;
  writeFileSync(join(out, `${suite.name}.json`), text);
  return suite.cases.length;
}

mkdirSync(out, { recursive: true });
const suites = [...generatedSuites(SEED), ...fixtureSuites()];
for (const suite of suites) {
  const n = runSuite(suite);
  console.log(`oracle: ${suite.name}: ${suite.flags.length} flags, ${n} cases`);
}
writeFileSync(join(out, 'suites.json'), JSON.stringify(suites.map((s) => s.name)));

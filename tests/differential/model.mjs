// allot's documented choices (docs/amplitude.md, "Differences from Amplitude's JavaScript
// engine"), each applied to Amplitude's own EvaluationEngine as a switchable override.
// With every choice on, the model must give exactly what allot gives; the oracle also
// runs it without each choice and with each choice alone, so a difference from the plain
// engine is attributed to the choices that explain it. With no choice on it must be the
// plain engine. Anything the model does not explain is a defect.

import { Num, compareCodePoints, parse, write } from './exact_json.mjs';

/** Choice ids; docs/amplitude.md lists each with its reason. */
export const CHOICES = [
  'number-text', // numbers coerce as serde_json writes them: `1.0`, `1e+21`, 64-bit integers exact
  'sorted-keys', // object-valued properties serialize with sorted keys
  'number-parse', // numeric operators parse as Rust's f64 (no JS Number() quirks)
  'null-negation', // `regex does not match` and `set is not` are true on null
  'empty-list-items', // empty strings stay in lists
  'empty-flag-keys', // `flag_keys: []` evaluates every flag
  'utf16-order', // strings compare by code point, not UTF-16 unit
  'regex-dialect', // the `regex` crate's dialect; an invalid pattern never matches
  'object-selectors', // selectors walk objects only, not arrays
  'version-parse', // version numbers fit 32 bits; `1.2.3-` (an empty prerelease) is not a version
  'null-fields', // a variant's null `value`, `payload` or `metadata` is left out
];

// Rust `str::parse::<f64>` grammar (finite values only count as numbers).
const RUST_FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

// Look-around and backreferences: the `regex` crate rejects them.
const RUST_UNSUPPORTED = /\(\?<?[=!]|\\[1-9]/;

/** The pattern as the `regex` crate reads it, as a JavaScript RegExp (null: invalid). */
export function rustRegex(pattern) {
  if (RUST_UNSUPPORTED.test(pattern)) return null;
  let flags = 'u';
  let source = pattern;
  const inline = /^\(\?([imsx]+)\)/.exec(source);
  if (inline) {
    source = source.slice(inline[0].length);
    flags += inline[1].replace('x', '');
  }
  // Perl classes are Unicode-aware in the regex crate.
  source = source
    .replace(/\(\?P</g, '(?<')
    .replace(/\\d/g, '\\p{Nd}')
    .replace(/\\w/g, '[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]');
  try {
    return new RegExp(source, flags);
  } catch {
    return null;
  }
}

/** allot's semantic version parse: `MAJOR.MINOR[.PATCH[-PRERELEASE]]`, 32-bit numbers. */
function parseVersion(text) {
  const m = /^(\d+)\.(\d+)(\.(\d+)(-(([-\w]+\.?)+))?)?$/.exec(text);
  if (!m) return undefined;
  const [major, minor, patch] = [m[1], m[2], m[4] ?? '0'].map(Number);
  if (![major, minor, patch].every((n) => n <= 2147483647)) return undefined;
  return { major, minor, patch, pre: m[5] === undefined ? undefined : m[6] };
}

function compareVersions(a, b) {
  for (const k of ['major', 'minor', 'patch']) {
    if (a[k] !== b[k]) return a[k] < b[k] ? -1 : 1;
  }
  if (a.pre !== undefined && b.pre === undefined) return -1;
  if (a.pre === undefined && b.pre !== undefined) return 1;
  if (a.pre === undefined) return 0;
  return compareCodePoints(a.pre, b.pre);
}

/** The engine with the choices in `on` (a Set of ids) applied. */
export function modelEngine(EvaluationEngine, on) {
  class AllotModel extends EvaluationEngine {
    evaluate(context, flags) {
      const results = super.evaluate(context, flags);
      if (on.has('null-fields')) {
        for (const variant of Object.values(results)) {
          for (const field of ['value', 'payload', 'metadata']) {
            if (variant[field] === null) delete variant[field];
          }
        }
      }
      return results;
    }

    select(target, selector) {
      let current = target;
      for (const step of selector ?? []) {
        const walkable =
          current &&
          typeof current === 'object' &&
          !(current instanceof Num) &&
          !(on.has('object-selectors') && Array.isArray(current));
        if (!step || !walkable) return undefined;
        current = current[step];
      }
      return current ?? undefined;
    }

    matchCondition(target, condition) {
      const prop = this.select(target, condition.selector);
      if (prop === undefined) return this.matchNull(condition.op, condition.values);
      const list = this.coerceStringArray(prop);
      if (this.isSetOperator(condition.op)) {
        return list ? this.matchSet(list, condition.op, condition.values) : false;
      }
      if (list) return this.matchStringsNonSet(list, condition.op, condition.values);
      const text = this.coerceString(prop);
      return text === undefined ? false : this.matchString(text, condition.op, condition.values);
    }

    bucket(target, segment) {
      if (!segment.bucket) return segment.variant;
      const value = this.coerceString(this.select(target, segment.bucket.selector));
      if (!value) return segment.variant;
      const hash = this.getHash(`${segment.bucket.salt}/${value}`);
      const allocation = hash % 100;
      const distribution = Math.floor(hash / 100);
      for (const a of segment.bucket.allocations) {
        if (allocation >= a.range[0] && allocation < a.range[1]) {
          for (const d of a.distributions) {
            if (distribution >= d.range[0] && distribution < d.range[1]) return d.variant;
          }
        }
      }
      return segment.variant;
    }

    matchNull(op, values) {
      if (on.has('null-negation') && (op === 'regex does not match' || op === 'set is not')) {
        return true;
      }
      return super.matchNull(op, values);
    }

    parseNumber(value) {
      if (!on.has('number-parse')) return super.parseNumber(value);
      if (!RUST_FLOAT.test(value)) return undefined;
      const n = Number(value);
      return Number.isFinite(n) ? n : undefined;
    }

    comparator(prop, op, filter) {
      if (on.has('utf16-order') && typeof prop === 'string' && typeof filter === 'string') {
        const order = compareCodePoints(prop, filter);
        return super.comparator(order, op, 0);
      }
      return super.comparator(prop, op, filter);
    }

    matchString(prop, op, values) {
      if (on.has('version-parse') && op.startsWith('version ')) {
        const p = parseVersion(prop);
        const filters = values.map(parseVersion).filter((v) => v !== undefined);
        if (p === undefined || filters.length === 0) {
          return values.some((f) => this.comparator(prop, op, f));
        }
        return filters.some((f) => super.comparator(compareVersions(p, f), op, 0));
      }
      return super.matchString(prop, op, values);
    }

    matchesRegex(prop, values) {
      if (!on.has('regex-dialect')) return super.matchesRegex(prop, values);
      return values.some((v) => {
        const re = rustRegex(v);
        return re !== null && re.exec(prop) !== null;
      });
    }

    coerceString(value) {
      if (value === undefined || value === null) return undefined;
      if (value instanceof Num) return on.has('number-text') ? value.allot : String(value.value);
      if (typeof value === 'object') {
        return write(value, on.has('number-text') ? 'allot' : 'stringify', on.has('sorted-keys'));
      }
      return String(value);
    }

    coerceStringArray(value) {
      let items = value;
      if (!Array.isArray(value)) {
        if (value instanceof Num || typeof value !== 'string' || !value.startsWith('[')) {
          return undefined;
        }
        try {
          items = on.has('number-text') ? parse(value) : JSON.parse(value);
        } catch {
          return undefined;
        }
        if (!Array.isArray(items)) return undefined;
      }
      const keep = on.has('empty-list-items') ? (s) => s !== undefined : Boolean;
      return items.map((e) => this.coerceString(e)).filter(keep);
    }
  }
  return AllotModel;
}


// JSON with exact number literals. `parse` keeps every number as a `Num` holding its
// source literal, the double JavaScript reads (correctly rounded) and the text allot writes
// for it (serde_json: integers that fit 64 bits exactly, other numbers as the shortest
// text of the double, `1.0` for integral doubles, `1e+16`/`1e-6` outside 1e-5..1e16).
// `write` renders a tree in one of three number modes: "literal" (the source text, what
// allot is sent), "allot" (allot's text), "stringify" (JSON.stringify's) or "js"
// (JavaScript's, with `-0` kept as `-0.0`).

/** A JSON number: its literal, JavaScript's double and allot's text. */
export class Num {
  constructor(literal) {
    this.literal = literal;
    this.value = Number(literal);
    this.allot = allotNumberText(literal);
  }
  toString() {
    return this.allot;
  }
  valueOf() {
    return this.value;
  }
}

/** A number from its JSON literal. */
export const num = (literal) => new Num(literal);

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

/** The text serde_json writes for a number it read from `literal`. */
function allotNumberText(literal) {
  if (/^-?\d+$/.test(literal)) {
    const big = BigInt(literal);
    if (literal === '-0') return '-0.0';
    if (big >= I64_MIN && big <= U64_MAX) return big.toString();
  }
  return doubleText(Number(literal));
}

/** serde_json's text of a double (shortest round-trip digits). */
function doubleText(x) {
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa, exponent] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const length = digits.length;
  const point = Number(exponent) + 1; // 10^(point-1) <= |x| < 10^point
  let body;
  if (point >= length && point <= 16) {
    body = digits + '0'.repeat(point - length) + '.0';
  } else if (point > 0 && point <= 16) {
    body = `${digits.slice(0, point)}.${digits.slice(point)}`;
  } else if (point > -5 && point <= 0) {
    body = `0.${'0'.repeat(-point)}${digits}`;
  } else {
    const e = point - 1;
    const head = length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`;
    body = `${head}e${e >= 0 ? '+' : ''}${e}`;
  }
  return sign + body;
}

/** JavaScript's text of a double, keeping negative zero visible. */
export const jsNumberText = (x) => (Object.is(x, -0) ? '-0.0' : String(x));

/** Parses JSON text; numbers become `Num`. */
export function parse(text) {
  let i = 0;
  const fail = (what) => {
    throw new SyntaxError(`${what} at ${i}`);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const out = {};
      ws();
      if (text[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        ws();
        const key = string();
        ws();
        if (text[i++] !== ':') fail('expected :');
        out[key] = value();
        ws();
        const d = text[i++];
        if (d === '}') return out;
        if (d !== ',') fail('expected , or }');
      }
    }
    if (c === '[') {
      i++;
      const out = [];
      ws();
      if (text[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value());
        ws();
        const d = text[i++];
        if (d === ']') return out;
        if (d !== ',') fail('expected , or ]');
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ]) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 4096));
    if (!m) fail('unexpected character');
    i += m[0].length;
    return new Num(m[0]);
  };
  const string = () => {
    if (text[i] !== '"') fail('expected string');
    let j = i + 1;
    while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
    const s = JSON.parse(text.slice(i, j + 1));
    i = j + 1;
    return s;
  };
  const out = value();
  ws();
  if (i !== text.length) fail('trailing text');
  return out;
}

/** Replaces every `Num` by JavaScript's double (what `JSON.parse` gives). */
export function plain(tree) {
  if (tree instanceof Num) return tree.value;
  if (Array.isArray(tree)) return tree.map(plain);
  if (tree && typeof tree === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(tree)) out[k] = plain(v);
    return out;
  }
  return tree;
}

/** Renders a tree as JSON; `mode` picks the number text, `sortKeys` orders object keys by
 * code point (as serde_json's map). */
export function write(tree, mode, sortKeys = false) {
  if (tree === null || tree === undefined) return 'null';
  if (tree instanceof Num) {
    if (mode === 'literal') return tree.literal;
    if (mode === 'allot') return tree.allot;
    return write(tree.value, mode);
  }
  if (typeof tree === 'number') return mode === 'stringify' ? String(tree) : jsNumberText(tree);
  if (typeof tree === 'string' || typeof tree === 'boolean') return JSON.stringify(tree);
  if (Array.isArray(tree)) return `[${tree.map((v) => write(v, mode, sortKeys)).join(',')}]`;
  let keys = Object.keys(tree).filter((k) => tree[k] !== undefined);
  if (sortKeys) keys = keys.sort(compareCodePoints);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${write(tree[k], mode, sortKeys)}`).join(',')}}`;
}

/** Orders strings by code point (UTF-8 byte order), not by UTF-16 unit. */
export function compareCodePoints(a, b) {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let k = 0; k < Math.min(x.length, y.length); k++) {
    const d = x[k].codePointAt(0) - y[k].codePointAt(0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}

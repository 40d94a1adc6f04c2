/**
 * Command-line overrides, Hydra's grammar where it applies (hydra.cc "Override grammar"):
 *
 *   model.width=32            set a value in every cell (after the grid axes, so it wins over them)
 *   ~eval.centreHashBits      delete a key (its default, if any, applies again)
 *   +model.hashBits=64        add a key that the experiment does not set (an error if it does)
 *   ++model.hashBits=64       set it whether or not it is there
 *   grid.seed=0,1,2,3         replace (or add, at the end) a sweep axis; also grid.train.lr=1e-3,1e-4
 *   grid.dataset=emoji        an axis of named overrides keeps only the named entries
 *   ~grid.seed                drop an axis (its base value applies)
 *
 * Values: null, true/false, integers, floats (1e-3, inf, nan), unquoted strings, quoted strings ('a,b',
 * "x y", with \' or \" escapes), lists [a,b] and maps {k: v}. A top-level comma list (or range(a,b[,s]),
 * choice(a,b)) is a sweep: only a grid.* override takes one (Hydra asks for --multirun instead).
 *
 * This file parses; grid.ts applies the result before the schema, so validation and messages are the
 * experiment file's own.
 *
 * One file on purpose: one grammar (`key=value`, `grid.<axis>=a,b`): parsing, the known-key lists and
 * applying an override to a grid or a cell read the same path rules.
 */
import { listLosses } from '@sbir/model';
import { ConfigError } from './messages';
import { AXIS_ALIASES, isConfigPath, isFreeFormPath, knownKeysAt } from './schema';

export type OverrideValue =
  null | boolean | number | string | OverrideValue[] | { [k: string]: OverrideValue };

export type OverrideOp = 'set' | 'add' | 'force' | 'delete';

export interface Override {
  /** The override as typed: used in messages and recorded in experiment.json / config.json. */
  text: string;
  op: OverrideOp;
  /** `model.width` -> ['model', 'width']; `grid.train.lr` -> ['grid', 'train', 'lr']. */
  path: string[];
  /** The value (undefined for `~key`). */
  value?: OverrideValue;
  /** Set when the value was a sweep (`a,b`, range(), choice()): its elements. */
  sweep?: OverrideValue[];
}

// later segments may start with a digit: axis values in `executor.vary.seed.1.time`
const KEY_RE = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*$/;

/** Parses one override; throws ConfigError `override <text>: <why>`. */
export function parseOverride(text: string): Override {
  const fail = (why: string): never => {
    throw new ConfigError(`override ${text}: ${why}`);
  };
  const m = /^(~|\+\+|\+)?([^=~+]*?)(?:=([\s\S]*))?$/.exec(text);
  if (!m) return fail('expected key=value, +key=value, ++key=value or ~key');
  const [, prefix, key, rawValue] = m;
  if (!key || !KEY_RE.test(key))
    return fail(`"${key ?? ''}" is not a key (expected a dotted path such as train.lr)`);
  const path = key.split('.');
  if (prefix === '~') {
    if (rawValue !== undefined && rawValue !== '') return fail('~key deletes a key and takes no value');
    return { text, op: 'delete', path };
  }
  if (rawValue === undefined) return fail('missing "=" (expected key=value; ~key deletes a key)');
  const op: OverrideOp = prefix === '++' ? 'force' : prefix === '+' ? 'add' : 'set';
  let parsed: { elements: OverrideValue[]; sweep: boolean };
  try {
    parsed = parseValue(rawValue);
  } catch (e) {
    return fail(`${(e as Error).message}${quotingHint(key, rawValue)}`);
  }
  if (parsed.sweep) return { text, op, path, sweep: parsed.elements, value: parsed.elements };
  return { text, op, path, value: parsed.elements[0]! };
}

/**
 * A value that failed to parse and holds `{ } [ ] ( ) ,` or quotes is most often a string that
 * needed quoting (`{weightsRoot}/x` reads as a map): say how, for the override and for the shell.
 */
function quotingHint(key: string, raw: string): string {
  if (!/[{}[\]()"',]/.test(raw) || /^'.*'$|^".*"$/.test(raw)) return '';
  const inner = raw.includes("'") ? `"${raw.replace(/(["\\])/g, '\\$1')}"` : `'${raw}'`;
  const shell = inner.startsWith("'") ? `"${key}=${inner}"` : `'${key}=${inner}'`;
  return `; if the value is one string, quote it: ${key}=${inner} (in a shell: ${shell})`;
}

export function parseOverrides(texts: readonly string[]): Override[] {
  const out = texts.map(parseOverride);
  const seen = new Map<string, string>();
  for (const o of out) {
    const key = o.path.join('.');
    const before = seen.get(key);
    if (before !== undefined)
      throw new ConfigError(`override ${o.text}: ${key} is already overridden by ${before}`);
    seen.set(key, o.text);
  }
  return out;
}

// ---------------------------------------------------------------- value grammar

class Scanner {
  pos = 0;
  /** Maps open around the position: inside one, ":" separates a key from its value. */
  inMap = 0;
  constructor(readonly src: string) {}
  peek(): string | undefined {
    return this.src[this.pos];
  }
  eof(): boolean {
    return this.pos >= this.src.length;
  }
  skipSpace(): void {
    while (!this.eof() && /\s/.test(this.src[this.pos]!)) this.pos++;
  }
  expect(ch: string): void {
    this.skipSpace();
    if (this.peek() !== ch)
      throw new Error(`expected "${ch}" at character ${this.pos + 1}${this.eof() ? ' (end of value)' : ''}`);
    this.pos++;
  }
}

/** A value, or a top-level sweep of values. */
function parseValue(src: string): { elements: OverrideValue[]; sweep: boolean } {
  const s = new Scanner(src);
  s.skipSpace();
  const fn = /^(range|choice)\(/.exec(src.slice(s.pos));
  if (fn) {
    s.pos += fn[0].length;
    const args = parseSequence(s, ')');
    s.skipSpace();
    if (!s.eof()) throw new Error(`unexpected "${s.src.slice(s.pos)}" after ${fn[1]}(...)`);
    return { elements: fn[1] === 'range' ? rangeOf(args) : args, sweep: true };
  }
  if (s.eof()) return { elements: [''], sweep: false };
  const elements = [parseElement(s)];
  s.skipSpace();
  while (s.peek() === ',') {
    s.pos++;
    elements.push(parseElement(s));
    s.skipSpace();
  }
  if (!s.eof()) throw new Error(`unexpected "${s.peek()}" at character ${s.pos + 1}`);
  return { elements, sweep: elements.length > 1 };
}

function rangeOf(args: OverrideValue[]): number[] {
  if (args.length < 1 || args.length > 3 || !args.every((a) => typeof a === 'number'))
    throw new Error(
      'range() takes 1 to 3 numbers: range(stop), range(start, stop) or range(start, stop, step)',
    );
  const [start, stop, step] = args.length === 1 ? [0, args[0]!, 1] : [args[0]!, args[1]!, args[2] ?? 1];
  if (step === 0) throw new Error('range(): step must not be 0');
  const out: number[] = [];
  for (let v = start; step > 0 ? v < stop : v > stop; v += step) {
    out.push(v);
    if (out.length > 10000) throw new Error('range(): more than 10000 values');
  }
  if (out.length === 0) throw new Error('range(): no values');
  return out;
}

/** Elements separated by commas up to `close` (which is consumed). */
function parseSequence(s: Scanner, close: string): OverrideValue[] {
  const out: OverrideValue[] = [];
  s.skipSpace();
  if (s.peek() === close) {
    s.pos++;
    return out;
  }
  for (;;) {
    out.push(parseElement(s));
    s.skipSpace();
    const ch = s.peek();
    if (ch === ',') {
      s.pos++;
      continue;
    }
    if (ch === close) {
      s.pos++;
      return out;
    }
    throw new Error(
      `expected "," or "${close}" at character ${s.pos + 1}${ch === undefined ? ' (end of value)' : ''}`,
    );
  }
}

function parseElement(s: Scanner): OverrideValue {
  s.skipSpace();
  const ch = s.peek();
  if (ch === '[') {
    s.pos++;
    return parseSequence(s, ']');
  }
  if (ch === '{') {
    s.pos++;
    s.inMap++;
    try {
      return parseMap(s);
    } finally {
      s.inMap--;
    }
  }
  if (ch === "'" || ch === '"') return parseQuoted(s, ch);
  return parsePrimitive(s);
}

function parseMap(s: Scanner): { [k: string]: OverrideValue } {
  const out: { [k: string]: OverrideValue } = {};
  s.skipSpace();
  if (s.peek() === '}') {
    s.pos++;
    return out;
  }
  for (;;) {
    s.skipSpace();
    const km = /^[A-Za-z_][\w-]*/.exec(s.src.slice(s.pos));
    if (!km) throw new Error(`expected a key at character ${s.pos + 1}`);
    s.pos += km[0].length;
    s.expect(':');
    if (km[0] in out) throw new Error(`duplicate key "${km[0]}"`);
    out[km[0]] = parseElement(s);
    s.skipSpace();
    const ch = s.peek();
    if (ch === ',') {
      s.pos++;
      continue;
    }
    if (ch === '}') {
      s.pos++;
      return out;
    }
    throw new Error(
      `expected "," or "}" at character ${s.pos + 1}${ch === undefined ? ' (end of value)' : ''}`,
    );
  }
}

function parseQuoted(s: Scanner, quote: string): string {
  const start = s.pos;
  s.pos++;
  let out = '';
  while (!s.eof()) {
    const c = s.src[s.pos]!;
    if (c === '\\' && (s.src[s.pos + 1] === quote || s.src[s.pos + 1] === '\\')) {
      out += s.src[s.pos + 1];
      s.pos += 2;
    } else if (c === quote) {
      s.pos++;
      return out;
    } else {
      out += c;
      s.pos++;
    }
  }
  throw new Error(`unterminated ${quote} quote starting at character ${start + 1}`);
}

const SPECIAL = /[,[\]{}()'"]/;

/**
 * An unquoted run of characters up to a separator, trimmed; typed as Hydra does. ":" ends it only
 * inside a map (`{k: v}`), so that `executor.time=1:30:00` and `executor.gres=gpu:1` need no quotes.
 */
function parsePrimitive(s: Scanner): OverrideValue {
  const start = s.pos;
  while (!s.eof() && !SPECIAL.test(s.src[s.pos]!) && !(s.inMap > 0 && s.src[s.pos] === ':')) s.pos++;
  const word = s.src.slice(start, s.pos).trim();
  if (word === '') {
    const ch = s.peek();
    throw new Error(
      ch === undefined
        ? 'missing value'
        : `unexpected "${ch}" at character ${s.pos + 1} (quote strings that hold it)`,
    );
  }
  return typed(word);
}

function typed(word: string): OverrideValue {
  const lower = word.toLowerCase();
  if (lower === 'null') return null;
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (/^[+-]?\d+$/.test(word.replace(/_/g, ''))) return Number(word.replace(/_/g, ''));
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(word)) return Number(word);
  if (/^[+-]?inf$/.test(lower)) return lower.startsWith('-') ? -Infinity : Infinity;
  if (lower === 'nan') return NaN;
  return word;
}

/** An override value as Hydra would print it back (for tables and messages). */
export function showValue(v: OverrideValue): string {
  if (Array.isArray(v)) return `[${v.map(showValue).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.entries(v)
      .map(([k, x]) => `${k}:${showValue(x)}`)
      .join(',')}}`;
  return String(v);
}

// ---------------------------------------------------------------- checks against the schema and the grid

/** Top-level keys an override may name besides the cell config's own. */
const EXTRA_ROOTS = ['grid', 'losses', 'executor'];

function unknownKey(o: Override, at: number, known: readonly string[]): never {
  const under = at > 0 ? ` under ${o.path.slice(0, at).join('.')}` : '';
  throw new ConfigError(
    `override ${o.text}: unknown key "${o.path[at]}"${under} (known: ${known.join(', ')})`,
  );
}

/** Loss option names of every loss (a `loss.<option>` override is checked per cell by the schema). */
function allLossKeys(): string[] {
  return [...new Set(listLosses().flatMap((n) => knownKeysAt(['loss'], n) ?? []))];
}

/** Checks that `path` (below `o.path`'s root) names config keys; recurses into map values. */
function checkConfigPath(o: Override, path: string[], value: OverrideValue | undefined): void {
  for (let i = 0; i < path.length; i++) {
    const prefix = path.slice(0, i);
    if (i > 0 && isFreeFormPath(prefix)) return;
    let known: string[] | null;
    if (i === 0) known = [...(knownKeysAt([]) ?? []), ...EXTRA_ROOTS.filter((r) => r !== 'grid')];
    else if (prefix[0] === 'loss') known = i === 1 ? allLossKeys() : null;
    else if (prefix[0] === 'losses')
      known =
        i === 1
          ? listLosses()
          : i === 2
            ? (knownKeysAt(['loss'], prefix[1]) ?? []).filter((k) => k !== 'name')
            : null;
    else known = knownKeysAt(prefix);
    if (known === null)
      throw new ConfigError(
        `override ${o.text}: ${prefix.join('.')} is a value, not a map (no key "${path[i]}" below it)`,
      );
    if (!known.includes(path[i]!)) unknownKey({ ...o, path }, i, known);
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && path[0] !== 'loss') {
    for (const [k, v] of Object.entries(value)) checkConfigPath(o, [...path, k], v);
  }
}

/** The config path a scalar axis sets (alias or dotted path), or null for an axis of named overrides. */
export function axisTarget(axis: string, spec: unknown): string | null {
  return Array.isArray(spec) ? (AXIS_ALIASES[axis] ?? axis) : null;
}

/** The dotted paths an override sets: one per scalar of a map value (a loss is one unit). */
function leafPaths(path: string[], value: OverrideValue | undefined): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || path[0] === 'loss')
    return [path.join('.')];
  return Object.entries(value).flatMap(([k, v]) => leafPaths([...path, k], v));
}

function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
}

/**
 * Applies the grid.* overrides to a copy of the experiment's `grid:` (axis order kept; new axes last)
 * and checks the value overrides against the schema and the resulting axes. Returns the new grid.
 */
export function applyGridOverrides(
  grid: Record<string, unknown>,
  overrides: readonly Override[],
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...grid };
  for (const o of overrides.filter((x) => x.path[0] === 'grid')) {
    const name = o.path.slice(1).join('.');
    if (!name)
      throw new ConfigError(`override ${o.text}: name the axis (grid.<axis>=values, e.g. grid.seed=0,1,2)`);
    const target = AXIS_ALIASES[name] ?? name;
    const existing = Object.keys(out).find((a) => a === name || axisTarget(a, out[a]) === target);
    if (o.op === 'delete') {
      if (existing === undefined)
        throw new ConfigError(
          `override ${o.text}: no axis "${name}" (axes: ${Object.keys(out).join(', ') || 'none'})`,
        );
      delete out[existing];
      continue;
    }
    if (o.op === 'add' && existing !== undefined)
      throw new ConfigError(
        `override ${o.text}: the grid already has axis "${existing}"; use grid.${name}=... to replace it`,
      );
    const values = o.sweep ?? (Array.isArray(o.value) ? o.value : [o.value!]);
    for (const v of values) {
      if (v === null || typeof v === 'object' || (typeof v === 'number' && !Number.isFinite(v)))
        throw new ConfigError(
          `override ${o.text}: an axis value must be a string, number or boolean, got ${showValue(v)}`,
        );
    }
    const spec = existing !== undefined ? out[existing] : undefined;
    if (existing !== undefined && !Array.isArray(spec) && spec !== null && typeof spec === 'object') {
      // An axis of named overrides: keep the named entries, in the order given.
      const named = spec as Record<string, unknown>;
      const picked: Record<string, unknown> = {};
      for (const v of values) {
        if (!(String(v) in named))
          throw new ConfigError(
            `override ${o.text}: axis "${existing}" has no entry "${v}" (known: ${Object.keys(named).join(', ')})`,
          );
        picked[String(v)] = named[String(v)];
      }
      out[existing] = picked;
      continue;
    }
    const path = target.split('.');
    if (!isConfigPath(path))
      throw new ConfigError(
        `override ${o.text}: unknown axis "${name}" (aliases: ${Object.keys(AXIS_ALIASES).join(', ')}; or a config path such as train.lr)`,
      );
    out[existing ?? name] = values;
  }
  return out;
}

/** Checks the value overrides (non-grid) against the schema and the axes of `grid`; throws ConfigError. */
export function checkValueOverrides(grid: Record<string, unknown>, overrides: readonly Override[]): void {
  for (const o of overrides.filter((x) => x.path[0] !== 'grid' && x.path[0] !== 'executor')) {
    if (o.sweep)
      throw new ConfigError(
        `override ${o.text}: a comma list is a sweep; sweep it with grid.${o.text.replace(/^\+*/, '')}, or quote the value ('...') to mean one string`,
      );
    checkConfigPath(o, o.path, o.value);
    if (o.path[0] === 'losses') continue;
    const leaves = leafPaths(o.path, o.value);
    for (const [axis, spec] of Object.entries(grid)) {
      const target = axisTarget(axis, spec);
      if (target && leaves.some((leaf) => overlaps(target, leaf))) {
        const hint = target === 'loss' ? '; for one loss option use losses.<loss>.<option>=value' : '';
        throw new ConfigError(
          `override ${o.text}: ${target} is swept by grid.${axis}; override the axis instead (grid.${axis}=...)${hint}`,
        );
      }
    }
  }
}

// ---------------------------------------------------------------- executor.* overrides

/**
 * Applies the `executor.*` overrides (`executor.partition=gpu`, `executor.vary.dataset.tu-berlin.time=96:00:00`)
 * to a copy of the file's executor block; `fields` are the keys an executor block and a `vary` entry
 * take. The caller validates the result with the executor schema. Throws ConfigError naming the override.
 */
export function applyExecutorOverrides(
  block: Record<string, unknown>,
  overrides: readonly Override[],
  fields: { block: readonly string[]; variant: readonly string[] },
): Record<string, unknown> {
  const out = structuredClone(block);
  for (const o of overrides.filter((x) => x.path[0] === 'executor')) {
    if (o.sweep)
      throw new ConfigError(
        `override ${o.text}: executor settings take one value (a comma list is a sweep; quote it to mean one string)`,
      );
    const path = o.path.slice(1);
    if (path.length === 0)
      throw new ConfigError(`override ${o.text}: name a setting (executor.<setting>=value)`);
    if (!fields.block.includes(path[0]!)) unknownKey(o, 1, fields.block);
    const isVary = path[0] === 'vary';
    if (!isVary && path.length > 1)
      throw new ConfigError(`override ${o.text}: executor.${path[0]} is a value, not a map`);
    if (isVary && path.length > 4)
      throw new ConfigError(`override ${o.text}: expected executor.vary.<axis>.<value>.<setting>`);
    if (isVary && path.length === 4 && !fields.variant.includes(path[3]!)) unknownKey(o, 4, fields.variant);
    setAt(out, path, o);
  }
  return out;
}

/** set / add / force / delete of `o` at `path` below `obj`, creating maps on the way. */
function setAt(obj: Record<string, unknown>, path: string[], o: Override): void {
  let at = obj;
  for (const key of path.slice(0, -1)) {
    const next = at[key];
    if (next === undefined || next === null) at[key] = {};
    else if (typeof next !== 'object' || Array.isArray(next))
      throw new ConfigError(`override ${o.text}: ${key} is a value, not a map`);
    at = at[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  const present = at[last] !== undefined;
  const shown = ['executor', ...path].join('.');
  if (o.op === 'delete' && !present) throw new ConfigError(`override ${o.text}: ${shown} is not set`);
  if (o.op === 'add' && present)
    throw new ConfigError(
      `override ${o.text}: ${shown} is already set; use ${o.text.slice(1)} or +${o.text}`,
    );
  if (o.op === 'delete') delete at[last];
  else at[last] = structuredClone(o.value);
}

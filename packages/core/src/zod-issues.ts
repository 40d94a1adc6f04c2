/**
 * zod issues as one-line messages that name the field: the path, the value found there, and the problem.
 * Two sentence forms share these pieces: `issueSentence` (experiment files: names unknown keys and
 * variants with the known ones) and `fieldProblem` (files a program wrote: "expected number, got \"x\"").
 */
import type { ZodIssue } from 'zod';

export type IssuePath = (string | number)[];

/** ['grid', 'loss', 1, 'margin'] -> "grid.loss[1].margin"; `continuation` keeps a leading "." */
export function formatPath(path: IssuePath, continuation = false): string {
  let out = '';
  for (const key of path)
    out += typeof key === 'number' ? `[${key}]` : `${out || continuation ? '.' : ''}${key}`;
  return out;
}

/**
 * The value at `path` in `input` (undefined when a step is missing or not an object). With
 * `unionByName`, a union given by its name alone (`loss: mems`) is that string at the path's final `name`.
 */
export function valueAt(input: unknown, path: IssuePath, opts: { unionByName?: boolean } = {}): unknown {
  let v: unknown = input;
  for (const [i, key] of path.entries()) {
    if (opts.unionByName && typeof v === 'string' && key === 'name' && i === path.length - 1) return v;
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[key];
  }
  return v;
}

/** Characters of a string shown in a message; a longer one is cut, with its length. */
const SHOWN_CHARS = 60;

/**
 * A string from untrusted input, quoted for a terminal: JSON escapes (control characters, NUL, ESC,
 * quotes) plus \u escapes for DEL, C1 controls and the invisible or reordering code points, cut at
 * SHOWN_CHARS (a binary file given as YAML is one long string: an excerpt, never its bytes).
 */
export function quoteExcerpt(value: string, max = SHOWN_CHARS): string {
  const cut = value.length > max ? value.slice(0, max) : value;
  const escaped = JSON.stringify(cut).replace(
    /[\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return value.length > max ? `${escaped.slice(0, -1)}..." (${value.length} characters)` : escaped;
}

/** A value as YAML would show it: strings quoted (an escaped excerpt), `.nan` / `.inf` for non-finite numbers. */
function show(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value))
    return Number.isNaN(value) ? '.nan' : `${value < 0 ? '-' : ''}.inf`;
  return typeof value === 'string' ? quoteExcerpt(value) : JSON.stringify(value);
}

/** The noun for a value at `path`: its key, or the parent's key for a discriminator (`loss.name` -> loss). */
function noun(path: IssuePath): string {
  const keys = path.filter((k): k is string => typeof k === 'string');
  const last = keys[keys.length - 1] ?? 'value';
  return last === 'name' && keys.length > 1 ? keys[keys.length - 2]! : last;
}

/**
 * One zod issue as a short sentence (without the path, which the caller puts in front), for input a
 * person wrote. `knownKeys(path)` lists the keys an object accepts, for unknown-key messages.
 */
export function issueSentence(
  issue: ZodIssue,
  input: unknown,
  knownKeys: (path: IssuePath) => string[] | null = () => null,
): string {
  const at = (p: IssuePath): unknown => valueAt(input, p, { unionByName: true });
  switch (issue.code) {
    case 'invalid_union_discriminator': {
      const value = at(issue.path);
      if (value === undefined) return `missing (one of: ${issue.options.join(', ')})`;
      return `unknown ${noun(issue.path)} ${show(value)} (known: ${issue.options.join(', ')})`;
    }
    case 'invalid_enum_value':
      return `unknown ${noun(issue.path)} ${show(issue.received)} (known: ${issue.options.join(', ')})`;
    case 'unrecognized_keys': {
      const known = knownKeys(issue.path);
      return (
        `unknown key ${quoteExcerpt(issue.keys[0] ?? '')}` + (known ? ` (known: ${known.join(', ')})` : '')
      );
    }
    case 'invalid_type':
      if (issue.received === 'undefined') return `missing (required ${issue.expected})`;
      if (issue.received === 'nan') return `expected a finite number, got .nan`;
      return `expected ${issue.expected}, got ${issue.received} ${show(at(issue.path))}`;
    case 'invalid_literal':
      return `expected ${show(issue.expected)}, got ${show(at(issue.path))}`;
    case 'custom':
      return issue.message;
    default: {
      // zod's own sentences start with a capital ("Number must be ..."); keep acronyms as they are
      const m = issue.message;
      const text = /^[A-Z][a-z]/.test(m) ? m.charAt(0).toLowerCase() + m.slice(1) : m;
      const value = at(issue.path);
      return value === undefined || typeof value === 'object' || /\bgot\b/.test(text)
        ? text
        : `${text} (got ${show(value)})`;
    }
  }
}

/** A value in a message: JSON, cut at 40 characters; `missing` for undefined. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** One zod issue as "expected number, got \"x\"" or "<zod's message> (got <value>)", for machine-written files. */
export function fieldProblem(issue: ZodIssue, input: unknown): string {
  const got = describeValue(valueAt(input, issue.path));
  return issue.code === 'invalid_type'
    ? `expected ${issue.expected}, got ${got}`
    : `${issue.message} (got ${got})`;
}

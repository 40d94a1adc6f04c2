/**
 * Class names as datasets spell them (`car_(sedan)`, `hot air balloon`, `teddy-bear`,
 * `animal-mammal`) -> the words looked up in a word-vector file -> one L2-normalised class vector.
 *
 * Per class, in this order: (1) the alias table (aliases.ts) when it lists the name; else (2) the
 * whole name, as given and joined by `_`, `-` and nothing (word2vec's phrases are `teddy_bear`,
 * GloVe has `t-shirt`, `spongebob`), the first form the vocabulary has wins; else (3) the tokens:
 * split on `_ - ( ) & , /` and whitespace, stop words dropped. Every lookup tries the spelling as
 * given first, then lower case (GloVe is lower case, GoogleNews word2vec is cased). The class vector
 * is the mean of the found tokens' vectors, L2-normalised.
 */
import { CLASS_ALIASES, type ClassAlias } from './aliases';

/** Dropped from split names: they carry no meaning of the class (`pipe (for smoking)`). */
export const STOP_WORDS: ReadonlySet<string> = new Set(['a', 'an', 'and', 'for', 'of', 'the', 'with']);

const SEPARATORS = /[\s_\-()&,/]+/;

export interface ClassTokenPlan {
  category: string;
  alias: ClassAlias | null;
  /** Whole-name forms to try first (empty with an alias or a one-token name). */
  whole: string[];
  /** Tokens to look up when no whole form is found. */
  tokens: string[];
}

/** Per class, what was looked up and what was found (`class-vectors.json`). */
export interface ClassTokenCoverage {
  category: string;
  /** The alias used, with its reason, or null. */
  alias: ClassAlias | null;
  /** The tokens looked up (just the class name when one of its whole forms was found). */
  tokens: string[];
  /** Each found token and the vocabulary word that gave its vector (e.g. `Sedan` -> `sedan`). */
  found: { token: string; word: string }[];
  /** Tokens without a vector. */
  missing: string[];
}

/** The lookup plan of one class name; null for a name with no word in it (an empty class name). */
export function planClassTokens(category: string): ClassTokenPlan | null {
  const alias = CLASS_ALIASES[category] ?? null;
  if (alias) return { category, alias, whole: [], tokens: alias.tokens };
  const parts = category.split(SEPARATORS).filter((t) => t.length > 0);
  if (parts.length === 0) return null;
  const tokens = parts.filter((t) => !STOP_WORDS.has(t.toLowerCase()));
  const trimmed = category.trim();
  const whole = parts.length > 1 ? unique([trimmed, parts.join('_'), parts.join('-'), parts.join('')]) : [];
  return { category, alias: null, whole, tokens: tokens.length ? tokens : parts };
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

/** The spellings of one token to try, in order: as given, then lower case. */
function spellings(token: string): string[] {
  return unique([token, token.toLowerCase()]);
}

/** Every word a plan may look up: the set handed to the file reader. */
export function wordsToRead(plans: readonly ClassTokenPlan[]): Set<string> {
  const out = new Set<string>();
  for (const p of plans) for (const t of [...p.whole, ...p.tokens]) for (const s of spellings(t)) out.add(s);
  return out;
}

function lookup(token: string, vectors: ReadonlyMap<string, Float32Array>): string | undefined {
  return spellings(token).find((s) => vectors.has(s));
}

/**
 * Resolves a plan against the vectors read: the class vector (mean of the found tokens,
 * L2-normalised), or null when no token has a vector or the mean is zero.
 */
export function resolveClass(
  plan: ClassTokenPlan,
  vectors: ReadonlyMap<string, Float32Array>,
  dim: number,
): { coverage: ClassTokenCoverage; vector: Float32Array | null } {
  for (const form of plan.whole) {
    const word = lookup(form, vectors);
    if (word !== undefined) {
      const coverage = {
        category: plan.category,
        alias: null,
        tokens: [plan.category],
        found: [{ token: plan.category, word }],
        missing: [],
      };
      return { coverage, vector: normalise(Float32Array.from(vectors.get(word)!)) };
    }
  }
  const found: { token: string; word: string }[] = [];
  const missing: string[] = [];
  const sum = new Float32Array(dim);
  for (const token of plan.tokens) {
    const word = lookup(token, vectors);
    if (word === undefined) {
      missing.push(token);
      continue;
    }
    found.push({ token, word });
    const v = vectors.get(word)!;
    for (let i = 0; i < dim; i++) sum[i] += v[i];
  }
  const coverage = { category: plan.category, alias: plan.alias, tokens: plan.tokens, found, missing };
  return { coverage, vector: found.length ? normalise(sum) : null };
}

/** In place; null for a zero vector (never a silent zero row). */
function normalise(v: Float32Array): Float32Array | null {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  if (!(n > 0)) return null;
  for (let i = 0; i < v.length; i++) v[i] /= n;
  return v;
}

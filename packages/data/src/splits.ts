/**
 * Split protocols. Every choice is a pure function of (samples, options, seed).
 *
 * - `category` (DSH protocol, Liu et al. CVPR 2017, as used by the DASE authors'
 *   `datasets/split_data.py`): per category a fixed number of sketches are queries (Sketchy 50,
 *   TU-Berlin 10), the other sketches train; all photos form the gallery and are also training
 *   rows. `--split-file` reproduces a published split (the authors' `datasets/anno/*_sketch.json`).
 * - `zeroshot`: unseen classes from a versioned list (`packages/data/splits/<dataset>-zeroshot.json`)
 *   or a seeded choice; query = unseen sketches, gallery = unseen photos, train = seen classes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sha256 } from '@sbir/core';
import { categoryKey, compareStrings } from './adapters/common';
import { DataError, errorMessage } from './errors';
import { rngFor, shuffleInPlace } from './rng';
import type {
  CategorySplitDefinition,
  Sample,
  SkippedFile,
  SplitName,
  ZeroshotSplitDefinition,
} from './types';

export const DSH_REFERENCE =
  'DSH protocol (Liu et al., Deep Sketch Hashing, CVPR 2017) as in the DASE authors\u2019 datasets/split_data.py (Ben-Louis/SBIR-DASE-MEMS): Sketchy 50 / TU-Berlin 10 query sketches per category, all photos are gallery and training rows';
export const ZEROSHOT_REFERENCE =
  'Zero-shot SBIR: train on seen classes, test on unseen (Sketchy 25 of 125, TU-Berlin 30 of 250; Shen et al. ZSIH CVPR 2018, SSGN arXiv 1904.01971)';

export interface SplitResult<D> {
  /** Split of each sample (same order as the input); `null` = not used (recorded as skipped). */
  splits: (SplitName | null)[];
  skipped: SkippedFile[];
  definition: D;
}

/** `q >= 1`: that many queries; `0 < q < 1`: that fraction of the category's sketches (at least 1). */
export function queriesFor(q: number, sketches: number): number {
  return q >= 1 ? Math.floor(q) : Math.max(1, Math.round(q * sketches));
}

function groupSketches(samples: Sample[]): Map<string, number[]> {
  const byCat = new Map<string, number[]>();
  samples.forEach((s, i) => {
    if (s.domain !== 'sketch') return;
    const list = byCat.get(s.category) ?? [];
    list.push(i);
    byCat.set(s.category, list);
  });
  return byCat;
}

export function categorySplit(
  samples: Sample[],
  opts: { seed: number; queriesPerCategory: number; photosInTrain: boolean },
): SplitResult<CategorySplitDefinition> {
  const splits: (SplitName | null)[] = samples.map((s) => (s.domain === 'photo' ? 'gallery' : 'train'));
  for (const [cat, idx] of groupSketches(samples)) {
    const q = queriesFor(opts.queriesPerCategory, idx.length);
    if (idx.length < q + 1) {
      throw new DataError(
        'bad-split',
        `category "${cat}" has ${idx.length} sketches; ${q} query sketches per category (option --queries-per-category) need at least ${q + 1}`,
      );
    }
    const order = idx.slice().sort((a, b) => compareStrings(samples[a].source, samples[b].source));
    shuffleInPlace(order, rngFor(opts.seed, 'category-split', cat));
    for (const i of order.slice(0, q)) splits[i] = 'query';
  }
  return {
    splits,
    skipped: [],
    definition: {
      protocol: 'category',
      seed: opts.seed,
      source: 'seeded',
      queriesPerCategory: opts.queriesPerCategory,
      photosInTrain: opts.photosInTrain,
      reference: DSH_REFERENCE,
      subsets: {
        train: opts.photosInTrain ? ['train', 'gallery'] : ['train'],
        query: ['query'],
        gallery: ['gallery'],
      },
    },
  };
}

/** `a/b/sketches/cat/x.png` -> `cat/x.png` (category folder + file name), the key files are matched on. */
function splitKey(p: string): string {
  const parts = p.replace(/\\/g, '/').split('/').filter(Boolean);
  const file = parts[parts.length - 1] ?? '';
  const cat = parts[parts.length - 2] ?? '';
  return `${categoryKey(cat)}/${file}`;
}

function entryPath(e: unknown): string | undefined {
  if (typeof e === 'string') return e;
  if (Array.isArray(e) && typeof e[0] === 'string') return e[0];
  if (e && typeof e === 'object') {
    const o = e as Record<string, unknown>;
    for (const k of ['path', 'file', 'filename', 'image'])
      if (typeof o[k] === 'string') return o[k] as string;
  }
  return undefined;
}

export interface ParsedSplitFile {
  query: string[];
  train: string[];
  sha256: string;
}

const QUERY_KEYS = ['query', 'queries', 'test', 'val', 'valid'];
const TRAIN_KEYS = ['train', 'training'];

/**
 * Reads a split JSON leniently: an object with a query list (`query`/`test`/...) and a train list
 * (`train`); entries are paths, `[path, label]` pairs or `{path}` objects.
 */
export function parseSplitFile(file: string): ParsedSplitFile {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new DataError('bad-option', `option --split-file: cannot read ${file} (${errorMessage(err)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new DataError('bad-split', `option --split-file: ${file} is not valid JSON (${errorMessage(err)})`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) {
    throw new DataError(
      'bad-split',
      `option --split-file: ${file} must be a JSON object with "query" (or "test") and "train" lists`,
    );
  }
  const obj = json as Record<string, unknown>;
  const list = (keys: string[]) => {
    const k = keys.find((key) => Array.isArray(obj[key]));
    return k ? (obj[k] as unknown[]).map(entryPath).filter((p): p is string => p !== undefined) : [];
  };
  const query = list(QUERY_KEYS);
  const train = list(TRAIN_KEYS);
  if (query.length === 0)
    throw new DataError(
      'bad-split',
      `option --split-file: ${file} has no query list (keys tried: ${QUERY_KEYS.join(', ')})`,
    );
  return { query, train, sha256: sha256(raw) };
}

/** The category protocol with the query/train lists of a split file; unlisted sketches are skipped. */
export function splitFromFile(
  samples: Sample[],
  file: string,
  opts: { seed: number; photosInTrain: boolean },
): SplitResult<CategorySplitDefinition> {
  const parsed = parseSplitFile(file);
  const queryKeys = new Set(parsed.query.map(splitKey));
  const trainKeys = new Set(parsed.train.map(splitKey));
  const splits: (SplitName | null)[] = [];
  const skipped: SkippedFile[] = [];
  const seen = new Set<string>();
  let matchedQuery = 0;
  let matchedTrain = 0;
  for (const s of samples) {
    if (s.domain === 'photo') {
      splits.push('gallery');
      continue;
    }
    const k = splitKey(s.source);
    seen.add(k);
    if (queryKeys.has(k)) {
      splits.push('query');
      matchedQuery++;
    } else if (trainKeys.has(k)) {
      splits.push('train');
      matchedTrain++;
    } else {
      splits.push(null);
      skipped.push({ source: s.source, reason: 'not listed in --split-file' });
    }
  }
  if (matchedQuery === 0) {
    throw new DataError(
      'bad-split',
      `option --split-file: none of the ${parsed.query.length} query entries of ${file} matches a sketch (entries are matched on <category>/<file name>, e.g. ${parsed.query[0]})`,
    );
  }
  const missing = [...queryKeys, ...trainKeys].filter((k) => !seen.has(k)).length;
  const perCategory = Math.max(
    1,
    Math.round(matchedQuery / Math.max(1, new Set(samples.map((s) => s.category)).size)),
  );
  return {
    splits,
    skipped,
    definition: {
      protocol: 'category',
      seed: opts.seed,
      source: 'split-file',
      queriesPerCategory: perCategory,
      photosInTrain: opts.photosInTrain,
      splitFile: {
        path: path.basename(file),
        sha256: parsed.sha256,
        listedQuery: parsed.query.length,
        listedTrain: parsed.train.length,
        matchedQuery,
        matchedTrain,
        missing,
        unlisted: skipped.length,
      },
      reference: DSH_REFERENCE,
      subsets: {
        train: opts.photosInTrain ? ['train', 'gallery'] : ['train'],
        query: ['query'],
        gallery: ['gallery'],
      },
    },
  };
}

export interface UnseenList {
  unseen: string[];
  source: 'file' | 'seeded';
  file?: string;
  fileSource?: string;
}

/** Location of the versioned unseen-class lists: the default (SEM-PCYC's) or a named variant. */
export function zeroshotFile(dataset: string, variant?: string): string {
  return path.resolve(__dirname, '..', 'splits', `${dataset}-zeroshot${variant ? `-${variant}` : ''}.json`);
}

/**
 * Chooses the unseen classes: an explicit count is a seeded choice; otherwise the split file
 * (given or the default for the dataset) if present, else a seeded choice of `defaultUnseen`.
 */
export function chooseUnseen(
  classes: string[],
  opts: { dataset: string; seed: number; unseenFile?: string; unseenCount?: number; defaultUnseen: number },
): UnseenList {
  const seeded = (count: number): UnseenList => {
    const n = count >= 1 ? Math.floor(count) : Math.max(1, Math.round(count * classes.length));
    if (n >= classes.length) {
      throw new DataError(
        'bad-split',
        `option --unseen-count: ${n} unseen classes leave no seen class (dataset has ${classes.length})`,
      );
    }
    const order = shuffleInPlace(classes.slice(), rngFor(opts.seed, 'zeroshot'));
    return { unseen: order.slice(0, n).sort(compareStrings), source: 'seeded' };
  };
  if (opts.unseenCount !== undefined) return seeded(opts.unseenCount);
  const file = opts.unseenFile ?? zeroshotFile(opts.dataset);
  if (!fs.existsSync(file)) {
    if (opts.unseenFile) throw new DataError('bad-option', `option --unseen-file: file not found: ${file}`);
    return seeded(opts.defaultUnseen);
  }
  let json: { unseen?: unknown; source?: unknown };
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof json;
  } catch (err) {
    throw new DataError('bad-split', `zero-shot split file ${file} is not valid JSON (${errorMessage(err)})`);
  }
  if (!Array.isArray(json.unseen) || json.unseen.some((u) => typeof u !== 'string')) {
    throw new DataError('bad-split', `zero-shot split file ${file} needs "unseen": string[]`);
  }
  const byKey = new Map(classes.map((c) => [categoryKey(c), c]));
  const unseen: string[] = [];
  const missing: string[] = [];
  for (const u of json.unseen as string[]) {
    const c = byKey.get(categoryKey(u));
    if (c === undefined) missing.push(u);
    else unseen.push(c);
  }
  if (missing.length) {
    throw new DataError(
      'bad-split',
      `zero-shot split file ${file} lists classes not in the dataset: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''} (pass --unseen-file <json> or --unseen-count <n>)`,
    );
  }
  if (unseen.length >= classes.length)
    throw new DataError('bad-split', `zero-shot split file ${file} leaves no seen class`);
  return {
    unseen: unseen.sort(compareStrings),
    source: 'file',
    file: path.basename(file),
    fileSource: typeof json.source === 'string' ? json.source : undefined,
  };
}

export function zeroshotSplit(
  samples: Sample[],
  classes: string[],
  list: UnseenList,
  seed: number,
): SplitResult<ZeroshotSplitDefinition> {
  const unseen = new Set(list.unseen);
  const splits: SplitName[] = samples.map((s) =>
    !unseen.has(s.category) ? 'train' : s.domain === 'sketch' ? 'query' : 'gallery',
  );
  return {
    splits,
    skipped: [],
    definition: {
      protocol: 'zeroshot',
      seed,
      source: list.source,
      ...(list.file ? { file: list.file } : {}),
      ...(list.fileSource ? { fileSource: list.fileSource } : {}),
      unseen: list.unseen,
      seenCount: classes.length - unseen.size,
      reference: ZEROSHOT_REFERENCE,
      subsets: { train: ['train'], query: ['query'], gallery: ['gallery'] },
    },
  };
}

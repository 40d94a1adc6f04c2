/**
 * Class vectors stored with a prepared dataset: `attachClassVectors` looks every manifest class up in
 * a word-vector file and writes `class-vectors.npy` ([classes x dim] float32, manifest class order),
 * `class-vectors.json` (the coverage report) and manifest.json's `classVectors` record, each
 * atomically and only after every check passed. `readClassVectors` reads them back after checking
 * both digests against the manifest.
 */
import { sha256 as sha256Hex, shellWord } from '@sbir/core';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, errorMessage } from '../errors';
import { writeFileAtomic } from '../io';
import { loadManifest, MANIFEST_FILE } from '../manifest';
import { encodeNpy, parseNpyHeader } from '../npy';
import type { ClassVectorsRecord, Manifest } from '../types';
import {
  DEFAULT_VECTORS_LICENSE,
  DEFAULT_WORD_VECTORS,
  ensureDefaultWordVectors,
  VECTORS_REPO_ROOT,
} from './default';
import { quoteWord, readWordVectors, type WordVectorFormat } from './formats';
import {
  planClassTokens,
  resolveClass,
  wordsToRead,
  type ClassTokenCoverage,
  type ClassTokenPlan,
} from './tokens';

export const CLASS_VECTORS_FILE = 'class-vectors.npy';
export const CLASS_COVERAGE_FILE = 'class-vectors.json';

const TOKENISATION =
  'alias table, else the whole name (as given, joined by _, -, nothing), else tokens split on _ - ( ) & , / and spaces without stop words; each as given then lower case; mean of the found tokens, L2-normalised';

export interface AttachClassVectorsOptions {
  /** `glove-6b-50d` (the offline default, installed on first use) or a GloVe / word2vec / fastText file. */
  wordVectors: string;
  /** A class without any vector gets a zero row, listed in `missingClasses`, instead of an error. */
  allowMissing?: boolean;
  /** Progress lines (install, reading a large file). */
  onProgress?: (line: string) => void;
  /** Repository whose `.venv` holds the default (tests). */
  repoRoot?: string;
}

/** `class-vectors.json`. */
export interface ClassVectorCoverage {
  version: 1;
  source: string;
  sourceFile: string;
  sourceSha256: string;
  sourceBytes: number;
  sourceRows: number;
  format: WordVectorFormat;
  dim: number;
  license: { name: string; spdx: string; attribution: string } | null;
  tokenisation: string;
  classes: (ClassTokenCoverage & { hasVector: boolean })[];
  missingClasses: string[];
  missingTokens: { category: string; tokens: string[] }[];
}

/** What `readClassVectors` returns. */
export interface ClassVectors {
  classes: string[];
  dim: number;
  /** Row-major [classes x dim]; rows of classes with a vector are L2-normalised. */
  data: Float32Array;
  coverage: ClassVectorCoverage;
  /** `sha256:<hex>` of class-vectors.npy. */
  sha256: string;
}

function sha256(data: string | Uint8Array): string {
  return `sha256:${sha256Hex(data)}`;
}

/** Plans for every manifest class; an empty class name is an error naming the manifest and its index. */
function planAll(dir: string, classes: string[]): ClassTokenPlan[] {
  return classes.map((c, i) => {
    const plan = planClassTokens(c);
    if (!plan)
      throw new DataError(
        'bad-manifest',
        `${path.join(dir, MANIFEST_FILE)}: classes[${i}] ${quoteWord(c)} is an empty class name (no word to look up)`,
      );
    return plan;
  });
}

async function sourceFile(opts: AttachClassVectorsOptions): Promise<string> {
  if (opts.wordVectors === DEFAULT_WORD_VECTORS)
    return ensureDefaultWordVectors(opts.onProgress, opts.repoRoot ?? VECTORS_REPO_ROOT);
  if (!opts.wordVectors)
    throw new DataError('bad-option', 'option --word-vectors: expected glove-6b-50d or a file, got ""');
  return path.resolve(opts.wordVectors);
}

/** Looks the classes of the prepared dataset in `dir` up and writes the class vectors there. */
export async function attachClassVectors(
  dir: string,
  opts: AttachClassVectorsOptions,
): Promise<ClassVectorCoverage> {
  const manifest = loadManifest(dir);
  const plans = planAll(dir, manifest.classes);
  const file = await sourceFile(opts);
  const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
  if (size > 256 << 20)
    opts.onProgress?.(`reading word vectors ${file} (${(size / 2 ** 30).toFixed(2)} GiB)`);
  let last = Date.now();
  const read = await readWordVectors(file, wordsToRead(plans), {
    onBytes: (done, total) => {
      if (Date.now() - last < 10_000) return;
      last = Date.now();
      opts.onProgress?.(`word vectors: ${Math.floor((100 * done) / total)}% of ${file}`);
    },
  });
  const data = new Float32Array(plans.length * read.dim);
  const classes = plans.map((plan, i) => {
    const { coverage, vector } = resolveClass(plan, read.vectors, read.dim);
    if (vector) data.set(vector, i * read.dim);
    return { ...coverage, hasVector: vector !== null };
  });
  const missingClasses = classes.filter((c) => !c.hasVector).map((c) => c.category);
  if (missingClasses.length && !opts.allowMissing) throw missingError(file, classes);
  const coverage: ClassVectorCoverage = {
    version: 1,
    source: opts.wordVectors,
    sourceFile: file,
    sourceSha256: read.sha256,
    sourceBytes: read.bytes,
    sourceRows: read.rows,
    format: read.format,
    dim: read.dim,
    license: opts.wordVectors === DEFAULT_WORD_VECTORS ? { ...DEFAULT_VECTORS_LICENSE } : null,
    tokenisation: TOKENISATION,
    classes,
    missingClasses,
    missingTokens: classes
      .filter((c) => c.missing.length)
      .map((c) => ({ category: c.category, tokens: c.missing })),
  };
  await writeAll(dir, manifest, coverage, data);
  return coverage;
}

function missingError(file: string, classes: ClassVectorCoverage['classes']): DataError {
  const missing = classes.filter((c) => !c.hasVector);
  const first = missing[0];
  const more =
    missing.length > 1
      ? `; ${missing.length - 1} more: ${missing
          .slice(1, 6)
          .map((c) => quoteWord(c.category))
          .join(', ')}${missing.length > 6 ? ', ...' : ''}`
      : '';
  const why = first.found.length
    ? 'its vector is all zeros'
    : `tokens ${first.tokens.map(quoteWord).join(', ')}`;
  return new DataError(
    'bad-file',
    `word vectors ${file}: no vector for class ${quoteWord(first.category)} (${why})${more}; pass --allow-missing-vectors to write zero rows listed in missingClasses`,
  );
}

async function writeAll(
  dir: string,
  manifest: Manifest,
  coverage: ClassVectorCoverage,
  data: Float32Array,
): Promise<void> {
  const npy = encodeNpy(new Uint8Array(data.buffer), [manifest.classes.length, coverage.dim], '<f4');
  const json = `${JSON.stringify(coverage, null, 2)}\n`;
  const record: ClassVectorsRecord = {
    file: CLASS_VECTORS_FILE,
    sha256: sha256(npy),
    coverageFile: CLASS_COVERAGE_FILE,
    coverageSha256: sha256(json),
    source: coverage.source,
    format: coverage.format,
    dim: coverage.dim,
  };
  await writeFileAtomic(path.join(dir, CLASS_VECTORS_FILE), npy);
  await writeFileAtomic(path.join(dir, CLASS_COVERAGE_FILE), json);
  // the manifest as stored (every field kept), plus the record; written last
  const manifestFile = path.join(dir, MANIFEST_FILE);
  const stored = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Record<string, unknown>;
  await writeFileAtomic(manifestFile, `${JSON.stringify({ ...stored, classVectors: record }, null, 2)}\n`);
}

function readChecked(dir: string, name: string, want: string): Buffer {
  const file = path.join(dir, name);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw new DataError(
      'bad-file',
      `cannot read ${file} (${errorMessage(err)}); attach the class vectors again`,
    );
  }
  const got = sha256(buf);
  if (got !== want)
    throw new DataError(
      'bad-file',
      `${file}: ${got} does not match ${path.join(dir, MANIFEST_FILE)} (${want}); attach the class vectors again`,
    );
  return buf;
}

/** The class vectors of the prepared dataset in `dir`, after checking both files' digests. */
export function readClassVectors(dir: string): ClassVectors {
  const manifest = loadManifest(dir);
  const rec = manifest.classVectors;
  if (!rec)
    throw new DataError(
      'bad-manifest',
      `${path.join(dir, MANIFEST_FILE)} has no classVectors (run: npx nx run data:vectors -- --dir ${shellWord(dir)} --word-vectors ${DEFAULT_WORD_VECTORS})`,
    );
  const npy = readChecked(dir, rec.file, rec.sha256);
  const coverage = JSON.parse(
    readChecked(dir, rec.coverageFile, rec.coverageSha256).toString('utf8'),
  ) as ClassVectorCoverage;
  const header = parseNpyHeader(npy, path.join(dir, rec.file));
  const shape = [manifest.classes.length, rec.dim];
  if (header.descr !== '<f4' || header.fortranOrder || header.shape.join() !== shape.join())
    throw new DataError(
      'bad-file',
      `${path.join(dir, rec.file)}: expected <f4 [${shape.join(', ')}], got ${header.descr} [${header.shape.join(', ')}]`,
    );
  const bytes = npy.subarray(header.dataOffset, header.dataOffset + shape[0] * shape[1] * 4);
  const data = new Float32Array(shape[0] * shape[1]);
  new Uint8Array(data.buffer).set(bytes);
  return { classes: manifest.classes, dim: rec.dim, data, coverage, sha256: rec.sha256 };
}

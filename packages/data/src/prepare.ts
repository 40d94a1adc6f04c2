/**
 * `prepareDataset`: scan (adapter) -> split -> plan rows -> encode shards -> manifest.
 *
 * Restart safety: the plan (row order, splits, image size, shard layout) has a hash. Each finished
 * shard is renamed into place and recorded with its sha256 in `.prepare-state.json`; the manifest
 * is written last and removed before any shard is (re)built, so a folder with a manifest is always
 * complete. A rerun with the same plan keeps shards whose checksum matches and rebuilds the rest;
 * shard bytes depend only on the plan, so the result is identical to an uninterrupted run.
 *
 * One file on purpose (over 400 lines): the steps share the plan, its hash and the restart state, and
 * `prepareDataset` at the bottom reads as the list of them; each step fits on a screen.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { availableCores, sbirEnv, sha256File } from '@sbir/core';
import { compareStrings, requireDir } from './adapters/common';
import { checkAdapterOptions } from './adapters/options';
import { getAdapter, listAdapterOptions } from './adapters/registry';
import { DataError, badOptionError, errorMessage, messages, optionError } from './errors';
import { decodeToRgb, orderedMap } from './image';
import { isTempName, writeFileAtomic } from './io';
import { MANIFEST_FILE } from './manifest';
import { rngFor, shuffleInPlace } from './rng';
import { ShardWriter, type ShardRow } from './shards';
import { categorySplit, chooseUnseen, splitFromFile, zeroshotSplit } from './splits';
import {
  DOMAINS,
  SPLIT_NAMES,
  SPLIT_PROTOCOLS,
  SUBSETS,
  type AdapterOptions,
  type DatasetAdapter,
  type Domain,
  type Fit,
  type Manifest,
  type PrepareOptions,
  type PrepareProgress,
  type Sample,
  type ScanResult,
  type ShardBatchInfo,
  type ShardInfo,
  type SkippedFile,
  type SplitDefinition,
  type SplitName,
  type SplitProtocol,
} from './types';

export const STATE_FILE = '.prepare-state.json';
export const DEFAULT_SIZE = 64;
export const DEFAULT_SHARD_ROWS = 2048;
export const DEFAULT_BATCH_ROWS = 256;
const MAX_SKIPPED_LISTED = 1000;
const PACKAGE_VERSION = '0.1.0';

export function shardFileName(i: number): string {
  return `shard-${String(i).padStart(5, '0')}.arrow`;
}

const SHARD_NAME = /^shard-\d{5}\.arrow$/;

/**
 * Parallel decodes: 2 x cores, but at most one less than libuv's thread pool (UV_THREADPOOL_SIZE,
 * default 4), which sharp's decodes share with the shard file writes; the nx targets set 8.
 */
export function defaultConcurrency(): number {
  const pool = sbirEnv().uvThreadpoolSize;
  return Math.max(2, Math.min(2 * availableCores(), pool - 1));
}

interface PlannedRow {
  sample: Sample;
  split: SplitName;
  categoryIndex: number;
}

interface PlannedShard {
  file: string;
  batches: PlannedRow[][];
  rows: number;
}

interface ShardRecord extends ShardInfo {
  skipped: SkippedFile[];
}

interface PrepareState {
  planHash: string;
  shards: Record<string, ShardRecord>;
}

function positiveInt(name: string, v: number | undefined, def: number): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < 1) throw badOptionError(name, 'a positive integer', v);
  return x;
}

function optionalPositiveInt(name: string, v: number | undefined): number | undefined {
  return v === undefined ? undefined : positiveInt(name, v, 1);
}

interface Resolved {
  dataset: string;
  out: string;
  size: number;
  fit: Fit;
  split: SplitProtocol;
  seed: number;
  strict: boolean;
  shardRows: number;
  batchRows: number;
  concurrency: number;
  photosInTrain: boolean;
  galleryCheck: boolean;
}

/** The image edge and fit of a dataset when the options leave them out (the adapter's, else ours). */
export function imageDefaults(adapter: DatasetAdapter): { size: number; fit: Fit } {
  return { size: adapter.defaultSize ?? DEFAULT_SIZE, fit: adapter.defaultFit ?? 'contain' };
}

function resolveOptions(opts: PrepareOptions, adapter: DatasetAdapter): Resolved {
  if (!opts.out) throw optionError('out', 'is required', ' ');
  const defaults = imageDefaults(adapter);
  const fit = opts.fit ?? defaults.fit;
  if (!['contain', 'cover', 'fill'].includes(fit)) throw badOptionError('fit', 'contain, cover or fill', fit);
  const split = opts.split ?? 'category';
  if (!SPLIT_PROTOCOLS.includes(split)) throw badOptionError('split', SPLIT_PROTOCOLS.join(' or '), split);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw badOptionError('seed', 'a non-negative integer', opts.seed);
  const size = positiveInt('size', opts.size, defaults.size);
  if (size > 4096) throw badOptionError('size', 'at most 4096', size);
  if (
    opts.queriesPerCategory !== undefined &&
    !(
      opts.queriesPerCategory > 0 &&
      (opts.queriesPerCategory < 1 || Number.isInteger(opts.queriesPerCategory))
    )
  ) {
    throw badOptionError(
      'queriesPerCategory',
      'a positive integer or a fraction in (0, 1)',
      opts.queriesPerCategory,
    );
  }
  if (
    opts.unseenCount !== undefined &&
    !(opts.unseenCount > 0 && (opts.unseenCount < 1 || Number.isInteger(opts.unseenCount)))
  ) {
    throw badOptionError('unseenCount', 'a positive integer or a fraction in (0, 1)', opts.unseenCount);
  }
  if (split === 'zeroshot' && opts.splitFile)
    throw optionError('splitFile', 'applies to --split category (use --unseen-file for zeroshot)', ' ');
  if (split === 'category' && (opts.unseenFile || opts.unseenCount !== undefined)) {
    throw optionError(opts.unseenFile ? 'unseenFile' : 'unseenCount', 'applies to --split zeroshot', ' ');
  }
  optionalPositiveInt('maxCategories', opts.maxCategories); // the adapters' own options are checked by their schemas
  return {
    dataset: opts.dataset,
    out: path.resolve(opts.out),
    size,
    fit,
    split,
    seed,
    strict: Boolean(opts.strict),
    shardRows: positiveInt('shardRows', opts.shardRows, DEFAULT_SHARD_ROWS),
    batchRows: positiveInt('batchRows', opts.batchRows, DEFAULT_BATCH_ROWS),
    concurrency: positiveInt('concurrency', opts.concurrency, defaultConcurrency()),
    photosInTrain: opts.photosInTrain ?? true,
    galleryCheck: opts.galleryCheck ?? true,
  };
}

/**
 * The adapter's own options as given, checked against its schema (no defaults: the manifest records
 * what was asked for), plus the common ones. An option that only other adapters declare is an error.
 */
function adapterOptions(opts: PrepareOptions, adapter: DatasetAdapter): AdapterOptions {
  const given: Record<string, unknown> = {};
  for (const { name } of listAdapterOptions()) {
    if (opts[name] === undefined) continue;
    if (!(name in adapter.options.shape))
      throw optionError(name, `is not used by dataset "${adapter.name}"`, ' ');
    given[name] = opts[name];
  }
  const out: AdapterOptions = checkAdapterOptions(adapter.options, given);
  if (opts.categories?.length) out.categories = opts.categories;
  if (opts.maxCategories !== undefined) out.maxCategories = opts.maxCategories;
  out.strict = Boolean(opts.strict);
  return out;
}

/** Rows in storage order: grouped by split then domain, each group in a seeded shuffled order. */
function planRows(
  samples: Sample[],
  splits: (SplitName | null)[],
  classes: string[],
  seed: number,
): PlannedRow[] {
  const classIndex = new Map(classes.map((c, i) => [c, i]));
  const rows: PlannedRow[] = [];
  for (const split of SPLIT_NAMES) {
    for (const domain of DOMAINS) {
      const group: PlannedRow[] = [];
      samples.forEach((sample, i) => {
        if (splits[i] === split && sample.domain === domain)
          group.push({ sample, split, categoryIndex: classIndex.get(sample.category) as number });
      });
      group.sort((a, b) => compareStrings(a.sample.source, b.sample.source));
      rows.push(...shuffleInPlace(group, rngFor(seed, 'order', split, domain)));
    }
  }
  return rows;
}

/** Shards of at most `shardRows` rows that never span two splits; batches never span two domains. */
function planShards(rows: PlannedRow[], shardRows: number, batchRows: number): PlannedShard[] {
  const shards: PlannedShard[] = [];
  let i = 0;
  while (i < rows.length) {
    const split = rows[i].split;
    let end = i;
    while (end < rows.length && end - i < shardRows && rows[end].split === split) end++;
    const batches: PlannedRow[][] = [];
    let b = i;
    while (b < end) {
      const domain = rows[b].sample.domain;
      let e = b;
      while (e < end && e - b < batchRows && rows[e].sample.domain === domain) e++;
      batches.push(rows.slice(b, e));
      b = e;
    }
    shards.push({ file: shardFileName(shards.length), batches, rows: end - i });
    i = end;
  }
  return shards;
}

function planHash(
  r: Resolved,
  dataset: { name: string; version: string },
  classes: string[],
  shards: PlannedShard[],
): string {
  const h = createHash('sha256');
  h.update(
    JSON.stringify({
      format: 1,
      dataset: dataset.name,
      adapterVersion: dataset.version,
      size: r.size,
      fit: r.fit,
      shardRows: r.shardRows,
      batchRows: r.batchRows,
      classes,
    }),
  );
  for (const s of shards) {
    h.update(`\n#${s.file}`);
    for (const b of s.batches) {
      h.update('\n|');
      for (const row of b)
        h.update(
          `\n${row.sample.source}\t${row.split}\t${row.categoryIndex}\t${row.sample.instance}\t${row.sample.domain}`,
        );
    }
  }
  return h.digest('hex');
}

function readState(out: string): PrepareState | undefined {
  try {
    const s = JSON.parse(fs.readFileSync(path.join(out, STATE_FILE), 'utf8')) as PrepareState;
    return typeof s.planHash === 'string' && s.shards && typeof s.shards === 'object' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Prepares the output folder: removes temp files; refuses a non-empty folder that is not ours. */
function openOutDir(out: string): void {
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory())
    throw new DataError('bad-option', `option --out: ${out} exists and is not a directory`);
  fs.mkdirSync(out, { recursive: true });
  const names = fs.readdirSync(out);
  for (const n of names) if (isTempName(n)) fs.rmSync(path.join(out, n), { force: true });
  const ours = names.some((n) => n === MANIFEST_FILE || n === STATE_FILE || SHARD_NAME.test(n));
  const foreign = names.filter((n) => !isTempName(n));
  if (!ours && foreign.length) {
    throw new DataError(
      'bad-option',
      `option --out: ${out} is not empty and holds no prepared dataset (found ${foreign.slice(0, 3).join(', ')}); choose an empty folder`,
    );
  }
}

function describeFailure(sample: Sample, input: string | undefined, err: unknown): string {
  return messages.badImage(input ?? sample.source, errorMessage(err));
}

function emptyCounts(): Record<SplitName, Record<Domain, number>> {
  return { train: { sketch: 0, photo: 0 }, query: { sketch: 0, photo: 0 }, gallery: { sketch: 0, photo: 0 } };
}

/**
 * Checks prepare options without touching the disk (types, ranges, which options the dataset takes):
 * throws the DataError prepareDataset would. Lets a config be checked when it is loaded.
 */
export function checkPrepareOptions(opts: PrepareOptions): void {
  const adapter = getAdapter(opts.dataset);
  resolveOptions(opts, adapter);
  adapterOptions(opts, adapter);
}

type Progress = (p: PrepareProgress) => void;
type Log = (line: string) => void;
type SplitResult = { splits: (SplitName | null)[]; skipped: SkippedFile[]; definition: SplitDefinition };

/** `root` for the adapter: required and an existing folder where it reads one, refused where it is embedded. */
function resolveRoot(adapter: DatasetAdapter, root: string | undefined): string | undefined {
  if (adapter.needsRoot) {
    if (!root) throw new DataError('missing-root', messages.missingRoot(adapter.name));
    return requireDir(path.resolve(root), 'root');
  }
  if (root)
    throw new DataError(
      'bad-option',
      `option --root is not used by dataset "${adapter.name}" (it is embedded)`,
    );
  return undefined;
}

/** The adapter's scan, checked: some images, unique sources, both domains in every category. */
async function scanSamples(
  adapter: DatasetAdapter,
  aOpts: AdapterOptions,
  progress: Progress,
): Promise<{ scan: ScanResult; classes: string[] }> {
  progress({ phase: 'scan', done: 0, total: 0, skipped: 0, message: `scanning ${adapter.name}` });
  const scan = await adapter.scan(aOpts);
  const samples = scan.samples;
  if (samples.length === 0)
    throw new DataError(
      'empty-category',
      `dataset "${adapter.name}" found no images${aOpts.root ? ` under ${aOpts.root}` : ''}`,
    );
  const sources = new Set<string>();
  for (const s of samples) {
    if (sources.has(s.source))
      throw new Error(`adapter ${adapter.name} produced the source ${s.source} twice`);
    sources.add(s.source);
  }
  const classes = [...new Set(samples.map((s) => s.category))].sort(compareStrings);
  for (const c of classes) {
    for (const d of DOMAINS) {
      if (!samples.some((s) => s.category === c && s.domain === d)) {
        throw new DataError(
          'category-mismatch',
          `category "${c}" has no ${d} images (categories must have both sketches and photos)`,
        );
      }
    }
  }
  return { scan, classes };
}

/**
 * The photos found against the published count of the full dataset (mAP@all depends strongly on the
 * gallery, and a missing `--extra-photos` or a doubled photo folder changes it by thousands). A subset
 * (categories, caps) is not checked; off by more than 1% is an error naming both numbers.
 */
export function checkGallerySize(
  adapter: DatasetAdapter,
  aOpts: AdapterOptions,
  samples: readonly Sample[],
  enabled: boolean,
  log: Log,
): void {
  const published = adapter.publishedPhotos;
  if (!published) return;
  const photos = samples.filter((s) => s.domain === 'photo').length;
  const subset =
    Boolean(aOpts.categories?.length) ||
    aOpts.maxCategories !== undefined ||
    aOpts.maxPerCategory !== undefined;
  if (!enabled || subset) {
    log(
      `gallery: ${photos} photos, not checked against the published ${published.count} (${subset ? 'a subset' : '--no-gallery-check'})`,
    );
    return;
  }
  if (Math.abs(photos - published.count) > 0.01 * published.count) {
    throw new DataError(
      'count-mismatch',
      `dataset "${adapter.name}": found ${photos} photos, the published gallery has ${published.count} (${published.source}); check --extra-photos (see docs/reproduce-dase-mems.md), or pass --no-gallery-check to prepare what is there`,
    );
  }
  log(`gallery: ${photos} photos (published: ${published.count}, ${published.source})`);
}

/** The split: zero-shot classes, the authors' split file, or a seeded per-category split. */
function splitSamples(
  r: Resolved,
  opts: PrepareOptions,
  adapter: DatasetAdapter,
  samples: Sample[],
  classes: string[],
): SplitResult {
  if (r.split === 'zeroshot') {
    const list = chooseUnseen(classes, {
      dataset: adapter.name,
      seed: r.seed,
      unseenFile: opts.unseenFile && path.resolve(opts.unseenFile),
      unseenCount: opts.unseenCount,
      defaultUnseen: adapter.defaultUnseen,
    });
    return zeroshotSplit(samples, classes, list, r.seed);
  }
  if (opts.splitFile)
    return splitFromFile(samples, path.resolve(opts.splitFile), {
      seed: r.seed,
      photosInTrain: r.photosInTrain,
    });
  return categorySplit(samples, {
    seed: r.seed,
    queriesPerCategory: opts.queriesPerCategory ?? adapter.defaultQueriesPerCategory,
    photosInTrain: r.photosInTrain,
  });
}

/** Clears what a rerun cannot keep: everything of ours under another plan, else the shards no longer planned. */
function clearStaleOutput(
  out: string,
  prev: PrepareState | undefined,
  hash: string,
  shards: PlannedShard[],
  log: Log,
): void {
  const planned = new Set(shards.map((s) => s.file));
  if (!prev || prev.planHash !== hash) {
    if (prev) log(`${out}: previous content was prepared with other settings; rebuilding`);
    fs.rmSync(path.join(out, MANIFEST_FILE), { force: true });
    for (const n of fs.readdirSync(out))
      if (SHARD_NAME.test(n)) fs.rmSync(path.join(out, n), { force: true });
  } else {
    for (const n of fs.readdirSync(out))
      if (SHARD_NAME.test(n) && !planned.has(n)) fs.rmSync(path.join(out, n), { force: true });
  }
}

/**
 * Output folder: keeps the shards of the same plan whose checksum still matches, drops everything else
 * of ours. Returns the state with the kept shards, the shards still to build and the rows kept.
 */
async function reuseVerifiedShards(
  out: string,
  hash: string,
  shards: PlannedShard[],
  log: Log,
  progress: Progress,
): Promise<{ state: PrepareState; todo: PlannedShard[]; done: number }> {
  openOutDir(out);
  const prev = readState(out);
  clearStaleOutput(out, prev, hash, shards, log);
  const state: PrepareState = { planHash: hash, shards: {} };
  const same = prev?.planHash === hash ? prev : undefined;
  const verifyTotal = same ? shards.filter((s) => same.shards[s.file]).length : 0;
  const todo: PlannedShard[] = [];
  let done = 0;
  let verified = 0;
  for (const s of shards) {
    const rec = same?.shards[s.file];
    const file = path.join(out, s.file);
    let ok = false;
    if (rec && fs.existsSync(file)) {
      progress({ phase: 'verify', done: verified++, total: verifyTotal, skipped: 0, message: s.file });
      ok = fs.statSync(file).size === rec.bytes && (await sha256File(file)) === rec.sha256;
      if (!ok) log(`${s.file}: checksum mismatch, rebuilding`);
    }
    if (ok && rec) {
      state.shards[s.file] = rec;
      done += s.rows;
    } else {
      todo.push(s);
    }
  }
  if (verifyTotal) progress({ phase: 'verify', done: verified, total: verifyTotal, skipped: 0 });
  if (verifyTotal)
    log(`${out}: kept ${shards.length - todo.length} verified shard(s), ${todo.length} to build`);
  return { state, todo, done };
}

interface Decoded {
  image?: Buffer;
  error?: unknown;
  input?: string;
}

/**
 * One ordered decode stream over every row still to build, running up to a record batch ahead, so
 * decoding goes on while a batch is written.
 */
function decodeStream(todo: PlannedShard[], scan: ScanResult, r: Resolved): AsyncGenerator<Decoded> {
  const work = todo.flatMap((s) => s.batches.flat());
  return orderedMap(work, r.concurrency, r.batchRows + 4 * r.concurrency, async (row): Promise<Decoded> => {
    let input: string | undefined;
    try {
      const src = await scan.load(row.sample, r.size);
      if (src.kind === 'file') input = src.path;
      return { image: await decodeToRgb(src, r.size, r.fit), input };
    } catch (error) {
      return { error, input };
    }
  });
}

/** The rows of one record batch that decoded; the others are skipped (fatal with `strict`). */
async function decodedRows(
  batch: PlannedRow[],
  decoded: AsyncGenerator<Decoded>,
  r: Resolved,
  skipped: SkippedFile[],
): Promise<ShardRow[]> {
  const ok: ShardRow[] = [];
  for (const row of batch) {
    const res = (await decoded.next()).value as Decoded;
    const smp = row.sample;
    if (!res.image) {
      if (r.strict) throw new DataError('bad-image', describeFailure(smp, res.input, res.error));
      skipped.push({
        source: smp.source,
        reason: `corrupt or unreadable image (${errorMessage(res.error).split('\n')[0]})`,
      });
      continue;
    }
    ok.push({
      id: smp.source,
      domain: smp.domain,
      category: smp.category,
      categoryIndex: row.categoryIndex,
      instance: smp.instance,
      split: row.split,
      image: res.image,
      height: r.size,
      width: r.size,
      source: smp.source,
    });
  }
  return ok;
}

interface EncodeContext {
  r: Resolved;
  classes: string[];
  state: PrepareState;
  statePath: string;
  decoded: AsyncGenerator<Decoded>;
  progress: Progress;
  counter: { done: number; skipped: number; total: number };
}

/**
 * Encodes the shards in `todo`. A sealed shard's fsync + rename + state update overlaps with decoding
 * the next one; at most one commit is in flight, and a failure aborts the open shard and the stream.
 */
async function encodeShards(todo: PlannedShard[], ctx: EncodeContext): Promise<void> {
  const { r, state, counter } = ctx;
  let writer: ShardWriter | undefined;
  let committing: Promise<void> = Promise.resolve();
  try {
    for (const s of todo) {
      const file = path.join(r.out, s.file);
      fs.rmSync(file, { force: true });
      writer = await ShardWriter.create(file, ctx.classes);
      const batches: ShardBatchInfo[] = [];
      const skipped: SkippedFile[] = [];
      for (const batch of s.batches) {
        const ok = await decodedRows(batch, ctx.decoded, r, skipped);
        await writer.writeBatch(ok);
        if (ok.length)
          batches.push({ rows: ok.length, split: batch[0].split, domain: batch[0].sample.domain });
        counter.done += batch.length;
        counter.skipped += batch.length - ok.length;
        ctx.progress({ phase: 'encode', done: counter.done, total: counter.total, skipped: counter.skipped });
      }
      const { bytes, sha256 } = await writer.seal();
      const sealed = writer;
      writer = undefined;
      const rec: ShardRecord = { file: s.file, rows: sealed.rows, bytes, sha256, batches, skipped };
      await committing; // at most one commit in flight; rethrows its failure
      committing = (async () => {
        try {
          await sealed.commit();
        } catch (err) {
          await sealed.abort();
          throw err;
        }
        state.shards[s.file] = rec;
        await writeFileAtomic(ctx.statePath, JSON.stringify(state));
      })();
      committing.catch(() => undefined); // awaited above or below
    }
    await committing;
  } catch (err) {
    await writer?.abort();
    await committing.catch(() => undefined);
    await ctx.decoded.return(undefined);
    throw err;
  }
}

/** Rows per split and domain, and per reader subset, from the shard records. */
function countRows(
  shards: PlannedShard[],
  state: PrepareState,
  definition: SplitDefinition,
): { counts: Manifest['counts']; subsetCounts: Manifest['subsetCounts'] } {
  const counts = emptyCounts();
  for (const s of shards) for (const b of state.shards[s.file].batches) counts[b.split][b.domain] += b.rows;
  const subsetCounts = emptyCounts();
  for (const sub of SUBSETS) {
    for (const sp of definition.subsets[sub]) for (const d of DOMAINS) subsetCounts[sub][d] += counts[sp][d];
  }
  return { counts, subsetCounts };
}

/** Every skipped file (scan, split, decode), counted by reason and listed up to MAX_SKIPPED_LISTED. */
function skippedSummary(allSkipped: SkippedFile[]): Manifest['skipped'] {
  const byReason: Record<string, number> = {};
  for (const s of allSkipped) {
    const key = s.reason.replace(/ \(.*\)$/, '');
    byReason[key] = (byReason[key] ?? 0) + 1;
  }
  return {
    total: allSkipped.length,
    byReason,
    files: allSkipped.slice(0, MAX_SKIPPED_LISTED),
    truncated: allSkipped.length > MAX_SKIPPED_LISTED,
  };
}

interface ManifestParts {
  r: Resolved;
  opts: PrepareOptions;
  adapter: DatasetAdapter;
  aOpts: AdapterOptions;
  scan: ScanResult;
  classes: string[];
  split: SplitResult;
  shards: PlannedShard[];
  state: PrepareState;
  hash: string;
}

function buildManifest(p: ManifestParts): Manifest {
  const { r, adapter, split, shards, state } = p;
  const shardInfos: ShardInfo[] = shards.map((s) => {
    const rec = state.shards[s.file];
    return { file: rec.file, rows: rec.rows, bytes: rec.bytes, sha256: rec.sha256, batches: rec.batches };
  });
  const decodeSkipped = shards.flatMap((s) => state.shards[s.file].skipped);
  return {
    format: 'sbir-shards',
    formatVersion: 1,
    dataset: adapter.name,
    adapterVersion: adapter.version,
    size: r.size,
    channels: 3,
    fit: r.fit,
    classes: p.classes,
    split: split.definition,
    ...countRows(shards, state, split.definition),
    shardRows: r.shardRows,
    batchRows: r.batchRows,
    shards: shardInfos,
    licenses: p.scan.licenses,
    skipped: skippedSummary([...p.scan.skipped, ...split.skipped, ...decodeSkipped]),
    notes: p.scan.notes ?? {},
    options: {
      ...p.aOpts,
      strict: r.strict,
      split: r.split,
      seed: r.seed,
      ...(p.opts.queriesPerCategory !== undefined ? { queriesPerCategory: p.opts.queriesPerCategory } : {}),
      ...(r.galleryCheck ? {} : { galleryCheck: false }),
    },
    planHash: p.hash,
    createdBy: `@sbir/data ${PACKAGE_VERSION}`,
    complete: true,
  };
}

/** scan → split → plan → keep verified shards → encode the rest → manifest (written last). */
export async function prepareDataset(opts: PrepareOptions): Promise<Manifest> {
  const adapter = getAdapter(opts.dataset);
  const r = resolveOptions(opts, adapter);
  const aOpts = adapterOptions(opts, adapter);
  const log = opts.log ?? (() => undefined);
  const progress = opts.onProgress ?? (() => undefined);
  const root = resolveRoot(adapter, opts.root);
  if (root) aOpts.root = root;

  const { scan, classes } = await scanSamples(adapter, aOpts, progress);
  checkGallerySize(adapter, aOpts, scan.samples, r.galleryCheck, log);
  const split = splitSamples(r, opts, adapter, scan.samples, classes);
  const rows = planRows(scan.samples, split.splits, classes, r.seed);
  const shards = planShards(rows, r.shardRows, r.batchRows);
  const hash = planHash(r, adapter, classes, shards);

  const { state, todo, done } = await reuseVerifiedShards(r.out, hash, shards, log, progress);
  const manifestPath = path.join(r.out, MANIFEST_FILE);
  const statePath = path.join(r.out, STATE_FILE);
  if (todo.length || !fs.existsSync(manifestPath)) {
    fs.rmSync(manifestPath, { force: true });
    await writeFileAtomic(statePath, JSON.stringify(state));
  }
  const counter = { done, skipped: 0, total: rows.length };
  if (todo.length) progress({ phase: 'encode', done, total: rows.length, skipped: 0 });
  await encodeShards(todo, {
    r,
    classes,
    state,
    statePath,
    decoded: decodeStream(todo, scan, r),
    progress,
    counter,
  });

  const manifest = buildManifest({ r, opts, adapter, aOpts, scan, classes, split, shards, state, hash });
  await writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  progress({ phase: 'done', done: rows.length, total: rows.length, skipped: manifest.skipped.total });
  return manifest;
}

/**
 * `prepareDataset`: scan (adapter) -> split -> plan rows -> encode shards -> manifest.
 *
 * Restart safety: the plan (row order, splits, image size, shard layout) has a hash. Each finished
 * shard is renamed into place and recorded with its sha256 in `.prepare-state.json`; the manifest
 * is written last and removed before any shard is (re)built, so a folder with a manifest is always
 * complete. A rerun with the same plan keeps shards whose checksum matches and rebuilds the rest;
 * shard bytes depend only on the plan, so the result is identical to an uninterrupted run.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { getAdapter } from './adapters/registry';
import { compareStrings, requireDir } from './adapters/common';
import { DataError, errorMessage, messages } from './errors';
import { decodeToRgb, orderedMap } from './image';
import { isTempName, writeFileAtomic } from './io';
import { MANIFEST_FILE } from './manifest';
import { rngFor, shuffleInPlace } from './rng';
import { sha256File, ShardWriter, type ShardRow } from './shards';
import { categorySplit, chooseUnseen, splitFromFile, zeroshotSplit } from './splits';
import {
  DOMAINS,
  SPLIT_NAMES,
  SUBSETS,
  type AdapterOptionName,
  type AdapterOptions,
  type Domain,
  type Fit,
  type Manifest,
  type PrepareOptions,
  type Sample,
  type ScanResult,
  type ShardBatchInfo,
  type ShardInfo,
  type SkippedFile,
  type SplitDefinition,
  type SplitName,
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
  const pool = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  return Math.max(2, Math.min(2 * (os.availableParallelism?.() ?? os.cpus().length), pool - 1));
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

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function positiveInt(name: string, v: number | undefined, def: number): number {
  const x = v ?? def;
  if (!Number.isInteger(x) || x < 1) throw new DataError('bad-option', messages.badOption(kebab(name), 'a positive integer', v));
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
  split: 'category' | 'zeroshot';
  seed: number;
  strict: boolean;
  shardRows: number;
  batchRows: number;
  concurrency: number;
  photosInTrain: boolean;
}

function resolveOptions(opts: PrepareOptions): Resolved {
  if (!opts.out) throw new DataError('bad-option', 'option --out is required');
  const fit = opts.fit ?? 'contain';
  if (!['contain', 'cover', 'fill'].includes(fit)) throw new DataError('bad-option', messages.badOption('fit', 'contain, cover or fill', fit));
  const split = opts.split ?? 'category';
  if (split !== 'category' && split !== 'zeroshot') throw new DataError('bad-option', messages.badOption('split', 'category or zeroshot', split));
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new DataError('bad-option', messages.badOption('seed', 'a non-negative integer', opts.seed));
  const size = positiveInt('size', opts.size, DEFAULT_SIZE);
  if (size > 4096) throw new DataError('bad-option', messages.badOption('size', 'at most 4096', size));
  if (opts.queriesPerCategory !== undefined && !(opts.queriesPerCategory > 0 && (opts.queriesPerCategory < 1 || Number.isInteger(opts.queriesPerCategory)))) {
    throw new DataError('bad-option', messages.badOption('queries-per-category', 'a positive integer or a fraction in (0, 1)', opts.queriesPerCategory));
  }
  if (opts.unseenCount !== undefined && !(opts.unseenCount > 0 && (opts.unseenCount < 1 || Number.isInteger(opts.unseenCount)))) {
    throw new DataError('bad-option', messages.badOption('unseen-count', 'a positive integer or a fraction in (0, 1)', opts.unseenCount));
  }
  if (split === 'zeroshot' && opts.splitFile) throw new DataError('bad-option', 'option --split-file applies to --split category (use --unseen-file for zeroshot)');
  if (split === 'category' && (opts.unseenFile || opts.unseenCount !== undefined)) {
    throw new DataError('bad-option', `option --${opts.unseenFile ? 'unseen-file' : 'unseen-count'} applies to --split zeroshot`);
  }
  optionalPositiveInt('maxPerCategory', opts.maxPerCategory);
  optionalPositiveInt('maxCategories', opts.maxCategories);
  optionalPositiveInt('minInstances', opts.minInstances);
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
  };
}

const ADAPTER_OPTION_NAMES: AdapterOptionName[] = ['sketchFolder', 'photoFolder', 'extraPhotos', 'photos', 'format', 'maxPerCategory', 'minInstances'];

function adapterOptions(opts: PrepareOptions, allowed: readonly AdapterOptionName[], dataset: string): AdapterOptions {
  const out: AdapterOptions = {};
  for (const k of ADAPTER_OPTION_NAMES) {
    if (opts[k] === undefined) continue;
    if (!allowed.includes(k)) throw new DataError('bad-option', `option --${kebab(k)} is not used by dataset "${dataset}"`);
    (out as Record<string, unknown>)[k] = k === 'extraPhotos' || k === 'photos' ? path.resolve(opts[k] as string) : opts[k];
  }
  if (opts.categories?.length) out.categories = opts.categories;
  if (opts.maxCategories !== undefined) out.maxCategories = opts.maxCategories;
  out.strict = Boolean(opts.strict);
  return out;
}

/** Rows in storage order: grouped by split then domain, each group in a seeded shuffled order. */
function planRows(samples: Sample[], splits: (SplitName | null)[], classes: string[], seed: number): PlannedRow[] {
  const classIndex = new Map(classes.map((c, i) => [c, i]));
  const rows: PlannedRow[] = [];
  for (const split of SPLIT_NAMES) {
    for (const domain of DOMAINS) {
      const group: PlannedRow[] = [];
      samples.forEach((sample, i) => {
        if (splits[i] === split && sample.domain === domain) group.push({ sample, split, categoryIndex: classIndex.get(sample.category) as number });
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

function planHash(r: Resolved, dataset: { name: string; version: string }, classes: string[], shards: PlannedShard[]): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ format: 1, dataset: dataset.name, adapterVersion: dataset.version, size: r.size, fit: r.fit, shardRows: r.shardRows, batchRows: r.batchRows, classes }));
  for (const s of shards) {
    h.update(`\n#${s.file}`);
    for (const b of s.batches) {
      h.update('\n|');
      for (const row of b) h.update(`\n${row.sample.source}\t${row.split}\t${row.categoryIndex}\t${row.sample.instance}\t${row.sample.domain}`);
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
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new DataError('bad-option', `option --out: ${out} exists and is not a directory`);
  fs.mkdirSync(out, { recursive: true });
  const names = fs.readdirSync(out);
  for (const n of names) if (isTempName(n)) fs.rmSync(path.join(out, n), { force: true });
  const ours = names.some((n) => n === MANIFEST_FILE || n === STATE_FILE || SHARD_NAME.test(n));
  const foreign = names.filter((n) => !isTempName(n));
  if (!ours && foreign.length) {
    throw new DataError('bad-option', `option --out: ${out} is not empty and holds no prepared dataset (found ${foreign.slice(0, 3).join(', ')}); choose an empty folder`);
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
  resolveOptions(opts);
  const adapter = getAdapter(opts.dataset);
  adapterOptions(opts, adapter.options, adapter.name);
}

export async function prepareDataset(opts: PrepareOptions): Promise<Manifest> {
  const r = resolveOptions(opts);
  const adapter = getAdapter(r.dataset);
  const aOpts = adapterOptions(opts, adapter.options, adapter.name);
  const log = opts.log ?? (() => undefined);
  const progress = opts.onProgress ?? (() => undefined);
  if (adapter.needsRoot) {
    if (!opts.root) throw new DataError('missing-root', messages.missingRoot(adapter.name));
    aOpts.root = requireDir(path.resolve(opts.root), 'root');
  } else if (opts.root) {
    throw new DataError('bad-option', `option --root is not used by dataset "${adapter.name}" (it is embedded)`);
  }

  progress({ phase: 'scan', done: 0, total: 0, skipped: 0, message: `scanning ${adapter.name}` });
  const scan: ScanResult = await adapter.scan(aOpts);
  const samples = scan.samples;
  if (samples.length === 0) throw new DataError('empty-category', `dataset "${adapter.name}" found no images${aOpts.root ? ` under ${aOpts.root}` : ''}`);
  const sources = new Set<string>();
  for (const s of samples) {
    if (sources.has(s.source)) throw new Error(`adapter ${adapter.name} produced the source ${s.source} twice`);
    sources.add(s.source);
  }
  const classes = [...new Set(samples.map((s) => s.category))].sort(compareStrings);
  for (const c of classes) {
    for (const d of DOMAINS) {
      if (!samples.some((s) => s.category === c && s.domain === d)) {
        throw new DataError('category-mismatch', `category "${c}" has no ${d} images (categories must have both sketches and photos)`);
      }
    }
  }

  // Splits.
  let split: { splits: (SplitName | null)[]; skipped: SkippedFile[]; definition: SplitDefinition };
  if (r.split === 'zeroshot') {
    const list = chooseUnseen(classes, { dataset: adapter.name, seed: r.seed, unseenFile: opts.unseenFile && path.resolve(opts.unseenFile), unseenCount: opts.unseenCount, defaultUnseen: adapter.defaultUnseen });
    split = zeroshotSplit(samples, classes, list, r.seed);
  } else if (opts.splitFile) {
    split = splitFromFile(samples, path.resolve(opts.splitFile), { seed: r.seed, photosInTrain: r.photosInTrain });
  } else {
    split = categorySplit(samples, { seed: r.seed, queriesPerCategory: opts.queriesPerCategory ?? adapter.defaultQueriesPerCategory, photosInTrain: r.photosInTrain });
  }

  const rows = planRows(samples, split.splits, classes, r.seed);
  const shards = planShards(rows, r.shardRows, r.batchRows);
  const hash = planHash(r, adapter, classes, shards);

  // Output folder: keep verified shards of the same plan, drop everything else of ours.
  openOutDir(r.out);
  const prev = readState(r.out);
  const state: PrepareState = { planHash: hash, shards: {} };
  const planned = new Set(shards.map((s) => s.file));
  const manifestPath = path.join(r.out, MANIFEST_FILE);
  const statePath = path.join(r.out, STATE_FILE);
  if (!prev || prev.planHash !== hash) {
    if (prev) log(`${r.out}: previous content was prepared with other settings; rebuilding`);
    fs.rmSync(manifestPath, { force: true });
    for (const n of fs.readdirSync(r.out)) if (SHARD_NAME.test(n)) fs.rmSync(path.join(r.out, n), { force: true });
  } else {
    for (const n of fs.readdirSync(r.out)) if (SHARD_NAME.test(n) && !planned.has(n)) fs.rmSync(path.join(r.out, n), { force: true });
  }
  const total = rows.length;
  let done = 0;
  const todo: PlannedShard[] = [];
  const verifyTotal = prev && prev.planHash === hash ? shards.filter((s) => prev.shards[s.file]).length : 0;
  let verified = 0;
  for (const s of shards) {
    const rec = prev?.planHash === hash ? prev.shards[s.file] : undefined;
    const file = path.join(r.out, s.file);
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
  if (verifyTotal) log(`${r.out}: kept ${shards.length - todo.length} verified shard(s), ${todo.length} to build`);
  const existingManifest = fs.existsSync(manifestPath);
  if (todo.length || !existingManifest) {
    fs.rmSync(manifestPath, { force: true });
    await writeFileAtomic(statePath, JSON.stringify(state));
  }

  // Encode: one ordered decode stream over every row still to build, running up to a record batch
  // ahead, so decoding goes on while a batch is written; a finished shard's fsync + rename also
  // overlaps with decoding the next one.
  let skippedCount = 0;
  if (todo.length) progress({ phase: 'encode', done, total, skipped: 0 });
  interface Decoded {
    image?: Buffer;
    error?: unknown;
    input?: string;
  }
  const work = todo.flatMap((s) => s.batches.flat());
  const decoded = orderedMap(work, r.concurrency, r.batchRows + 4 * r.concurrency, async (row): Promise<Decoded> => {
    let input: string | undefined;
    try {
      const src = await scan.load(row.sample, r.size);
      if (src.kind === 'file') input = src.path;
      return { image: await decodeToRgb(src, r.size, r.fit), input };
    } catch (error) {
      return { error, input };
    }
  });
  let writer: ShardWriter | undefined;
  let committing: Promise<void> = Promise.resolve();
  try {
    for (const s of todo) {
      const file = path.join(r.out, s.file);
      fs.rmSync(file, { force: true });
      writer = await ShardWriter.create(file, classes);
      const batches: ShardBatchInfo[] = [];
      const skipped: SkippedFile[] = [];
      for (const batch of s.batches) {
        const ok: ShardRow[] = [];
        for (const row of batch) {
          const res = (await decoded.next()).value as Decoded;
          const smp = row.sample;
          if (!res.image) {
            if (r.strict) throw new DataError('bad-image', describeFailure(smp, res.input, res.error));
            skipped.push({ source: smp.source, reason: `corrupt or unreadable image (${errorMessage(res.error).split('\n')[0]})` });
            continue;
          }
          ok.push({ id: smp.source, domain: smp.domain, category: smp.category, categoryIndex: row.categoryIndex, instance: smp.instance, split: row.split, image: res.image, height: r.size, width: r.size, source: smp.source });
        }
        await writer.writeBatch(ok);
        if (ok.length) batches.push({ rows: ok.length, split: batch[0].split, domain: batch[0].sample.domain });
        done += batch.length;
        skippedCount += batch.length - ok.length;
        progress({ phase: 'encode', done, total, skipped: skippedCount });
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
        await writeFileAtomic(statePath, JSON.stringify(state));
      })();
      committing.catch(() => undefined); // awaited above or below
    }
    await committing;
  } catch (err) {
    await writer?.abort();
    await committing.catch(() => undefined);
    await decoded.return(undefined);
    throw err;
  }

  // Manifest.
  const counts = emptyCounts();
  const shardInfos: ShardInfo[] = [];
  const decodeSkipped: SkippedFile[] = [];
  for (const s of shards) {
    const rec = state.shards[s.file];
    decodeSkipped.push(...rec.skipped);
    shardInfos.push({ file: rec.file, rows: rec.rows, bytes: rec.bytes, sha256: rec.sha256, batches: rec.batches });
    for (const b of rec.batches) counts[b.split][b.domain] += b.rows;
  }
  const subsetCounts = emptyCounts();
  for (const sub of SUBSETS) {
    for (const sp of split.definition.subsets[sub]) for (const d of DOMAINS) subsetCounts[sub][d] += counts[sp][d];
  }
  const allSkipped = [...scan.skipped, ...split.skipped, ...decodeSkipped];
  const byReason: Record<string, number> = {};
  for (const s of allSkipped) {
    const key = s.reason.replace(/ \(.*\)$/, '');
    byReason[key] = (byReason[key] ?? 0) + 1;
  }
  const manifest: Manifest = {
    format: 'sbir-shards',
    formatVersion: 1,
    dataset: adapter.name,
    adapterVersion: adapter.version,
    size: r.size,
    channels: 3,
    fit: r.fit,
    classes,
    split: split.definition,
    counts,
    subsetCounts,
    shardRows: r.shardRows,
    batchRows: r.batchRows,
    shards: shardInfos,
    licenses: scan.licenses,
    skipped: { total: allSkipped.length, byReason, files: allSkipped.slice(0, MAX_SKIPPED_LISTED), truncated: allSkipped.length > MAX_SKIPPED_LISTED },
    notes: scan.notes ?? {},
    options: { ...aOpts, strict: r.strict, split: r.split, seed: r.seed, ...(opts.queriesPerCategory !== undefined ? { queriesPerCategory: opts.queriesPerCategory } : {}) },
    planHash: hash,
    createdBy: `@sbir/data ${PACKAGE_VERSION}`,
    complete: true,
  };
  await writeFileAtomic(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  progress({ phase: 'done', done: total, total, skipped: allSkipped.length });
  return manifest;
}

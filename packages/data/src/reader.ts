/**
 * `openDataset(dir).batches(...)`: streams training/evaluation batches from the shards without
 * loading a dataset into memory. The unit of I/O is one Arrow record batch (<= `batchRows` rows of
 * one split and one domain), read by random access from its shard file.
 *
 * With `shuffle`, the record batches of the subset are visited in a seeded random order and rows
 * pass through a shuffle buffer (rows are copied out, so the buffer's memory is bounded by
 * `shuffleBuffer` images). With `balanceDomains`, sketches and photos are two such streams and each
 * batch takes half from each (the DASE authors draw 22 sketches + 22 photos per step); the
 * iteration ends when either stream runs out.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RecordBatch } from 'apache-arrow';
import { sha256File, shellWord } from '@sbir/core';
import { DataError, messages } from './errors';
import { loadManifest } from './manifest';
import { randomInt, rngFor, shuffleInPlace } from './rng';
import { batchColumns, openShard } from './shards';
import {
  SUBSETS,
  type BatchOptions,
  type Domain,
  type ImageBatch,
  type Manifest,
  type ShardDataset,
  type ShardInfo,
  type Subset,
} from './types';

export const DEFAULT_SHUFFLE_BUFFER = 1024;
const OPEN_FILES = 4;

interface Unit {
  shard: number;
  batch: number;
  rows: number;
  domain: Domain;
}

interface Row {
  image: Uint8Array;
  label: number;
  domain: Domain;
  id: string;
  category: string;
}

/**
 * Shards whose sha256 matched their manifest in this process, keyed by path, size, mtime, inode and
 * the expected digest: each is hashed once per process, and again only if the file changed.
 */
const verifiedShards = new Set<string>();

/** Repair command for a prepared folder: prepare again with its options (it verifies and rebuilds). */
export function repairCommand(dir: string, m: Manifest): string {
  const args: string[] = ['--dataset', m.dataset, '--size', String(m.size), '--fit', m.fit];
  const skip = new Set(['dataset', 'size', 'fit', 'strict']);
  for (const [key, value] of Object.entries(m.options)) {
    if (skip.has(key)) continue;
    const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    if (typeof value === 'boolean') args.push(value ? flag : `--no-${flag.slice(2)}`);
    else if (typeof value === 'string' || typeof value === 'number') args.push(flag, String(value));
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string'))
      args.push(flag, value.join(','));
  }
  const split = m.split as {
    protocol: string;
    photosInTrain?: boolean;
    splitFile?: { path?: string };
    file?: string;
    source?: string;
  };
  if (split.photosInTrain === false) args.push('--no-photos-in-train');
  if (split.splitFile?.path) args.push('--split-file', split.splitFile.path);
  if (split.protocol === 'zeroshot' && split.file) args.push('--unseen-file', split.file);
  args.push('--shard-rows', String(m.shardRows), '--batch-rows', String(m.batchRows));
  if (m.options.strict === true) args.push('--strict');
  args.push('--out', dir);
  return `npx nx run data:prepare -- ${args.map(shellWord).join(' ')}`;
}

/** Checks one shard against its manifest sha256 (cached per process); one-line DataError naming it. */
export async function verifyShard(dir: string, m: Manifest, shard: ShardInfo): Promise<void> {
  const file = path.join(dir, shard.file);
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch {
    throw new DataError(
      'bad-file',
      `shard listed in the manifest is missing: ${file}; repair: ${repairCommand(dir, m)}`,
    );
  }
  const key = [file, st.size, st.mtimeMs, st.ino, shard.sha256].join('\u0000');
  if (verifiedShards.has(key)) return;
  if (st.size !== shard.bytes || (await sha256File(file)) !== shard.sha256) {
    const what =
      st.size !== shard.bytes
        ? `has ${st.size} bytes, the manifest says ${shard.bytes}`
        : 'does not match its sha256 in the manifest (corrupt)';
    throw new DataError('bad-file', `shard ${file} ${what}; repair: ${repairCommand(dir, m)}`);
  }
  verifiedShards.add(key);
}

/** A few open shard files, least recently used closed first; each verified before its first read. */
class ShardCache {
  private readonly open = new Map<string, Promise<Awaited<ReturnType<typeof openShard>>>>();
  constructor(
    private readonly dir: string,
    private readonly manifest: Manifest,
  ) {}

  async batch(file: string, index: number): Promise<RecordBatch> {
    let p = this.open.get(file);
    if (p) {
      this.open.delete(file);
    } else {
      const info = this.manifest.shards.find((sh) => sh.file === file);
      const checked = info ? verifyShard(this.dir, this.manifest, info) : Promise.resolve();
      p = checked
        .then(() => openShard(path.join(this.dir, file)))
        .catch((err: unknown) => {
          if (err instanceof DataError) throw err;
          throw new DataError(
            'bad-file',
            `cannot read shard ${path.join(this.dir, file)}: ${err instanceof Error ? err.message : String(err)}`,
          );
        });
      while (this.open.size >= OPEN_FILES) {
        const [oldest, op] = this.open.entries().next().value as [
          string,
          Promise<Awaited<ReturnType<typeof openShard>>>,
        ];
        this.open.delete(oldest);
        void op.then((s) => s.close()).catch(() => undefined);
      }
    }
    this.open.set(file, p);
    const shard = await p;
    const rb = await shard.reader.readRecordBatch(index);
    if (!rb)
      throw new DataError(
        'bad-file',
        `shard ${path.join(this.dir, file)} has no record batch ${index} (file changed since prepare? rerun prepare)`,
      );
    return rb;
  }

  async close(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.all(all.map((p) => p.then((s) => s.close()).catch(() => undefined)));
  }
}

function validate(opts: BatchOptions): void {
  const bad = (field: string, expected: string, got: unknown) =>
    new DataError(
      'bad-option',
      messages.badOption(field, expected, got).replace('option --', 'batches option '),
    );
  if (!SUBSETS.includes(opts.subset)) throw bad('subset', SUBSETS.join(' | '), opts.subset);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1)
    throw bad('batchSize', 'a positive integer', opts.batchSize);
  if (opts.shuffleBuffer !== undefined && (!Number.isInteger(opts.shuffleBuffer) || opts.shuffleBuffer < 1))
    throw bad('shuffleBuffer', 'a positive integer', opts.shuffleBuffer);
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 0))
    throw bad('limit', 'a non-negative integer', opts.limit);
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) throw bad('seed', 'an integer', opts.seed);
  if (opts.balanceDomains && opts.batchSize < 2)
    throw bad('batchSize', 'at least 2 with balanceDomains', opts.batchSize);
  if (opts.balanceDomains && opts.domain) throw bad('domain', 'unset with balanceDomains', opts.domain);
}

class Dataset implements ShardDataset {
  constructor(
    readonly dir: string,
    readonly manifest: Manifest,
  ) {}

  /** Verifies every shard's sha256 against the manifest (once per process per unchanged file). */
  async verify(): Promise<void> {
    for (const shard of this.manifest.shards) await verifyShard(this.dir, this.manifest, shard);
  }

  count(subset: Subset): number {
    const c = this.manifest.subsetCounts[subset];
    if (!c)
      throw new DataError(
        'bad-option',
        messages.badOption('subset', SUBSETS.join(' | '), subset).replace('option --', 'count '),
      );
    return c.sketch + c.photo;
  }

  /** Record batches holding rows of `subset` (optionally of one domain), in file order. */
  private units(subset: Subset, domain?: Domain): Unit[] {
    const splits = this.manifest.split.subsets[subset];
    const out: Unit[] = [];
    this.manifest.shards.forEach((s, shard) =>
      s.batches.forEach((b, batch) => {
        if (splits.includes(b.split) && (!domain || b.domain === domain))
          out.push({ shard, batch, rows: b.rows, domain: b.domain });
      }),
    );
    return out;
  }

  private async *rows(
    units: Unit[],
    cache: ShardCache,
    subset: Subset,
    opts: { shuffle: boolean; buffer: number; seed: number; tag: string; domain?: Domain },
  ): AsyncGenerator<Row> {
    const order = units.slice();
    const splits = this.manifest.split.subsets[subset];
    const rng = rngFor(opts.seed, 'reader', opts.tag);
    if (opts.shuffle) shuffleInPlace(order, rng);
    const buffer: Row[] = [];
    for (const u of order) {
      const rb = await cache.batch(this.manifest.shards[u.shard].file, u.batch);
      const cols = batchColumns(rb);
      for (let i = 0; i < cols.n; i++) {
        if (!splits.includes(cols.splits[i]) || (opts.domain && cols.domains[i] !== opts.domain)) continue;
        const row: Row = {
          image: cols.image(i).slice(),
          label: cols.labels[i],
          domain: cols.domains[i],
          id: cols.ids[i],
          category: cols.categories[i],
        };
        if (!opts.shuffle) {
          yield row;
        } else if (buffer.length < opts.buffer) {
          buffer.push(row);
        } else {
          const j = randomInt(rng, buffer.length);
          const out = buffer[j];
          buffer[j] = row;
          yield out;
        }
      }
    }
    shuffleInPlace(buffer, rng);
    yield* buffer;
  }

  private makeBatch(rows: Row[]): ImageBatch {
    const { size } = this.manifest;
    const px = size * size * 3;
    const images = new Uint8Array(rows.length * px);
    const labels = new Int32Array(rows.length);
    const domains = new Uint8Array(rows.length);
    rows.forEach((r, i) => {
      if (r.image.length !== px)
        throw new DataError(
          'bad-file',
          `row ${r.id} has ${r.image.length} image bytes, expected ${px} (${this.dir})`,
        );
      images.set(r.image, i * px);
      labels[i] = r.label;
      domains[i] = r.domain === 'sketch' ? 0 : 1;
    });
    return {
      n: rows.length,
      height: size,
      width: size,
      channels: 3,
      images,
      labels,
      domains,
      ids: rows.map((r) => r.id),
      categories: rows.map((r) => r.category),
    };
  }

  async *batches(opts: BatchOptions): AsyncGenerator<ImageBatch> {
    validate(opts);
    const shuffle = Boolean(opts.shuffle);
    const buffer = opts.shuffleBuffer ?? DEFAULT_SHUFFLE_BUFFER;
    const seed = opts.seed ?? 0;
    const limit = opts.limit ?? Infinity;
    const cache = new ShardCache(this.dir, this.manifest);
    let emitted = 0;
    try {
      if (!opts.balanceDomains) {
        let pending: Row[] = [];
        for await (const row of this.rows(this.units(opts.subset, opts.domain), cache, opts.subset, {
          shuffle,
          buffer,
          seed,
          tag: 'all',
          domain: opts.domain,
        })) {
          if (emitted + pending.length >= limit) break;
          pending.push(row);
          if (pending.length === opts.batchSize) {
            emitted += pending.length;
            yield this.makeBatch(pending);
            pending = [];
          }
        }
        if (pending.length && !opts.dropLast) yield this.makeBatch(pending);
        return;
      }
      const half = Math.floor(opts.batchSize / 2);
      const want: Record<Domain, number> = { sketch: opts.batchSize - half, photo: half };
      const streams = {
        sketch: this.rows(this.units(opts.subset, 'sketch'), cache, opts.subset, {
          shuffle,
          buffer: Math.max(1, Math.ceil(buffer / 2)),
          seed,
          tag: 'sketch',
          domain: 'sketch',
        }),
        photo: this.rows(this.units(opts.subset, 'photo'), cache, opts.subset, {
          shuffle,
          buffer: Math.max(1, Math.ceil(buffer / 2)),
          seed,
          tag: 'photo',
          domain: 'photo',
        }),
      };
      try {
        for (;;) {
          const rows: Row[] = [];
          let exhausted = false;
          for (const d of ['sketch', 'photo'] as const) {
            for (let k = 0; k < want[d] && emitted + rows.length < limit; k++) {
              const next = await streams[d].next();
              if (next.done) {
                exhausted = true;
                break;
              }
              rows.push(next.value);
            }
          }
          const full = rows.length === opts.batchSize;
          if (rows.length && (full || !opts.dropLast)) {
            emitted += rows.length;
            yield this.makeBatch(rows);
          }
          if (exhausted || !full || emitted >= limit) return;
        }
      } finally {
        await streams.sketch.return(undefined);
        await streams.photo.return(undefined);
      }
    } finally {
      await cache.close();
    }
  }
}

/**
 * Opens a prepared dataset folder: checks the manifest and that every shard file is present with its
 * size. Contents are checked against the manifest's sha256 before a shard is first read (see
 * `verify()` to check them all up front).
 */
export function openDataset(dir: string): ShardDataset {
  const abs = path.resolve(dir);
  const manifest = loadManifest(abs);
  for (const s of manifest.shards) {
    const file = path.join(abs, s.file);
    let size: number;
    try {
      size = fs.statSync(file).size;
    } catch {
      throw new DataError(
        'bad-file',
        `shard listed in the manifest is missing: ${file}; repair: ${repairCommand(abs, manifest)}`,
      );
    }
    if (size !== s.bytes)
      throw new DataError(
        'bad-file',
        `shard ${file} has ${size} bytes, the manifest says ${s.bytes}; repair: ${repairCommand(abs, manifest)}`,
      );
  }
  return new Dataset(abs, manifest);
}

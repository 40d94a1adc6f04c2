/**
 * Evaluation of a cell: embeds the query sketches and the gallery photos with the trainer and scores
 * retrieval. Two flavours:
 * - `quickEvaluation` (every epoch): at most eval.epochQueries / eval.epochGallery rows, no flip test;
 * - `finalEvaluation`: everything, flip test as the authors' tester.py, and the run store outputs
 *   eval.json, embeddings.json (a sample) and retrieval.json with PNG thumbnails.
 * Both rank with eval.distance (tester.py --test_distance): `angular` L2-normalises the features first.
 *
 * One file on purpose: the quick (per epoch) and final evaluations share embedding, ranking and the
 * files they write (embeddings.json, retrieval.json and its thumbnails).
 */
import * as path from 'node:path';
import sharp from 'sharp';
import type { ClassVectors, Domain, ShardDataset, Subset } from '@sbir/data';
import {
  defaultRetrievalDistance,
  distanceStatistics,
  evaluateRetrieval,
  flipMeanFeatures,
  normalizeRows,
  trainCentreHash,
  type RetrievalDistance,
  type Learner,
} from '@sbir/model';
import { writeFileAtomicSync, writeJsonAtomicSync } from '@sbir/core';
import { galleryPermutation, hammingByBits, hashLengths, permuteRows } from './eval-order';
import { CellStore } from './run-store';
import type { CellConfig } from './schema';
import { classNeighbours, classVectorsRecord, perClassMetrics, protocolRecord } from './zeroshot';

export const K = 200;

export interface Embedded {
  n: number;
  dim: number;
  embedding: Float32Array;
  flipped?: Float32Array;
  code?: Uint8Array;
  bits?: number;
  labels: Int32Array;
  domains: Uint8Array;
  ids: string[];
  categories: string[];
  /** Images (uint8 RGB) of the rows asked for in `keep`, by row index. */
  kept: Map<number, { image: Uint8Array; height: number; width: number }>;
}

/** Embeds the rows of a subset in reader order (or a seeded random subset when `limit` is given). */
export async function embedSubset(
  trainer: Learner,
  ds: ShardDataset,
  subset: Subset,
  opts: { batchSize: number; limit?: number; flip: boolean; keep?: Set<number>; domain?: Domain },
): Promise<Embedded> {
  const total = Math.min(ds.count(subset), opts.limit ?? Infinity);
  const dim = trainer.config.model.embeddingDim;
  const bits = trainer.config.model.hashBits;
  const out: Embedded = {
    n: 0,
    dim,
    embedding: new Float32Array(total * dim),
    flipped: opts.flip ? new Float32Array(total * dim) : undefined,
    code: bits ? new Uint8Array(total * bits) : undefined,
    bits,
    labels: new Int32Array(total),
    domains: new Uint8Array(total),
    ids: [],
    categories: [],
    kept: new Map(),
  };
  const sample = opts.limit !== undefined && opts.limit < ds.count(subset);
  for await (const batch of ds.batches({
    subset,
    batchSize: opts.batchSize,
    limit: opts.limit,
    shuffle: sample,
    seed: 7_919,
    domain: opts.domain,
  })) {
    const n = Math.min(batch.n, total - out.n);
    if (n <= 0) break;
    const r = trainer.embed(batch, { flip: opts.flip });
    out.embedding.set(r.embedding.subarray(0, n * dim), out.n * dim);
    if (out.flipped && r.flipped) out.flipped.set(r.flipped.subarray(0, n * dim), out.n * dim);
    if (out.code && r.code && bits) out.code.set(r.code.subarray(0, n * bits), out.n * bits);
    const px = batch.height * batch.width * 3;
    for (let i = 0; i < n; i++) {
      const row = out.n + i;
      out.labels[row] = batch.labels[i]!;
      out.domains[row] = batch.domains[i]!;
      out.ids.push(batch.ids[i]!);
      out.categories.push(batch.categories[i]!);
      if (opts.keep?.has(row))
        out.kept.set(row, {
          image: batch.images.slice(i * px, (i + 1) * px),
          height: batch.height,
          width: batch.width,
        });
    }
    out.n += n;
  }
  if (out.n < total) {
    // the reader gave fewer rows than the manifest counts: keep what there is
    out.embedding = out.embedding.slice(0, out.n * dim);
    if (out.flipped) out.flipped = out.flipped.slice(0, out.n * dim);
    if (out.code && bits) out.code = out.code.slice(0, out.n * bits);
    out.labels = out.labels.slice(0, out.n);
    out.domains = out.domains.slice(0, out.n);
  }
  return out;
}

export interface QuickEval {
  mapAll: number;
  pAt200: number;
  nQueries: number;
  nGallery: number;
  seconds: number;
}

export async function quickEvaluation(
  trainer: Learner,
  ds: ShardDataset,
  cfg: CellConfig,
): Promise<QuickEval> {
  const started = performance.now();
  const bs = cfg.eval.batchSize;
  const q = await embedSubset(trainer, ds, 'query', {
    batchSize: bs,
    limit: cfg.eval.epochQueries,
    flip: false,
  });
  const g = await embedSubset(trainer, ds, 'gallery', {
    batchSize: bs,
    limit: cfg.eval.epochGallery,
    flip: false,
  });
  const m = evaluateRetrieval(
    { features: q.embedding, labels: q.labels },
    { features: g.embedding, labels: g.labels },
    q.dim,
    { k: K, distance: distanceOf(cfg) },
  );
  return {
    mapAll: m.mapAll,
    pAt200: m.pAtK,
    nQueries: q.n,
    nGallery: g.n,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The cell's retrieval distance, resolved by the schema (older configs without it: the loss's default). */
function distanceOf(cfg: CellConfig): RetrievalDistance {
  return cfg.eval.distance ?? defaultRetrievalDistance(cfg.loss.name);
}

/**
 * The `topK` nearest gallery rows of query `qi` with their distances (min over the flip combinations
 * when flipped features are given), ties by gallery index, as @sbir/model's metrics rank: Euclidean,
 * or with `angular` the angle in radians between the L2-normalised features (tester.py: acos of the
 * cosine similarity). Only for the handful of queries shown in retrieval.json.
 */
export function rankedNeighbours(
  q: Embedded,
  g: Embedded,
  qi: number,
  topK: number,
  distance: RetrievalDistance = 'euclidean',
): { index: number; distance: number }[] {
  const dim = q.dim;
  const prep = (f: Float32Array): Float32Array => (distance === 'angular' ? normalizeRows(f, dim) : f);
  const qs = [q.embedding, ...(q.flipped ? [q.flipped] : [])].map((f) =>
    prep(f.subarray(qi * dim, (qi + 1) * dim)),
  );
  const gs = [g.embedding, ...(g.flipped ? [g.flipped] : [])].map(prep);
  const dist = new Float64Array(g.n).fill(Infinity);
  for (const qf of qs) {
    for (const gf of gs) {
      for (let j = 0; j < g.n; j++) {
        let d = 0;
        for (let k = 0; k < dim; k++) d += (qf[k]! - gf[j * dim + k]!) ** 2;
        if (d < dist[j]!) dist[j] = d;
      }
    }
  }
  const order = Array.from({ length: g.n }, (_, j) => j).sort((a, b) => dist[a]! - dist[b]! || a - b);
  // unit vectors: |a - b|^2 = 2 - 2 cos, so the angle is acos(1 - d / 2)
  const reported = (d: number): number =>
    distance === 'angular' ? Math.acos(Math.min(1, Math.max(-1, 1 - d / 2))) : Math.sqrt(d);
  return order.slice(0, topK).map((index) => ({ index, distance: reported(dist[index]!) }));
}

/** Evenly spaced row indices (deterministic): `count` of `n`. */
export function spread(n: number, count: number): number[] {
  const c = Math.min(n, count);
  return Array.from({ length: c }, (_, i) => Math.floor(((i + 0.5) * n) / c));
}

function round(v: number, digits = 5): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

async function png(image: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(Buffer.from(image.buffer, image.byteOffset, image.byteLength), {
    raw: { width, height, channels: 3 },
  })
    .png({ compressionLevel: 9 })
    .toBuffer();
}

/**
 * Runs the full evaluation, writes embeddings.json, retrieval.json + retrieval/*.png, and returns the
 * content of eval.json, which the caller writes last, with the state change (eval.json only when
 * finished).
 */
export async function finalEvaluation(
  trainer: Learner,
  ds: ShardDataset,
  cfg: CellConfig,
  cell: CellStore,
  trainSeconds: number,
  vectors: ClassVectors | null = null,
): Promise<{ mapAll: number; pAt200: number; evalJson: Record<string, unknown> }> {
  const started = performance.now();
  const bs = cfg.eval.batchSize;
  const flip = cfg.eval.flipTest;
  const distance = distanceOf(cfg);
  const nQueries = ds.count('query');
  const shown = spread(nQueries, cfg.eval.retrievalQueries);
  const q = await embedSubset(trainer, ds, 'query', { batchSize: bs, flip, keep: new Set(shown) });
  const g = await embedSubset(trainer, ds, 'gallery', { batchSize: bs, flip });
  // every code length asked for (tester.py HashTester: 32, 64, 128 in one run); the first is `hamming`
  const lengths = q.code ? [] : hashLengths(cfg.eval.centreHashBits);
  const hashes = lengths.map((bits) => ({ bits, ...centreHashCodes(trainer, ds, cfg, q, g, bits) }));
  const centreHash = hashes[0] ?? null;
  const codes = centreHash?.codes ?? { query: q.code, gallery: g.code, bits: q.bits };
  // the gallery as ranked: stored order, or the authors' category order (eval-order.ts), ties by index
  const perm = galleryPermutation(g.labels, g.ids, cfg.eval.galleryOrder);
  const gLabels = permuteRows(g.labels, 1, perm);
  const m = evaluateRetrieval(
    { features: q.embedding, flipped: q.flipped, labels: q.labels, codes: codes.query },
    {
      features: permuteRows(g.embedding, g.dim, perm),
      flipped: g.flipped && permuteRows(g.flipped, g.dim, perm),
      labels: gLabels,
      codes: codes.gallery && codes.bits ? permuteRows(codes.gallery, codes.bits, perm) : codes.gallery,
    },
    q.dim,
    { k: K, bits: codes.bits, distance, precisionKs: [100] },
  );
  const protocol = protocolRecord(cfg, ds.manifest);

  // Distance statistics (MEMS's intra/inter claim) on queries and gallery together, on the features
  // as ranked (normalised under `angular`); the model samples at most eval.statsSample items (seeded)
  // for the exact pairwise statistics.
  const ranked = (f: Float32Array): Float32Array => (distance === 'angular' ? normalizeRows(f, q.dim) : f);
  const feats = new Float32Array((q.n + g.n) * q.dim);
  feats.set(ranked(q.embedding), 0);
  feats.set(ranked(g.embedding), q.n * q.dim);
  const statLabels = new Int32Array(q.n + g.n);
  statLabels.set(q.labels, 0);
  statLabels.set(g.labels, q.n);
  const stats = distanceStatistics(feats, statLabels, q.dim, ds.manifest.classes, {
    maxItems: cfg.eval.statsSample,
    seed: 0,
  });

  const evalSeconds = (performance.now() - started) / 1000;
  const evalJson = {
    'mAP@all': m.mapAll,
    'P@200': m.pAtK,
    'mAP@200': m.mapAtK,
    'P@100': m.precisionAt[100]!.mean,
    protocol,
    perClass: perClassMetrics(m, q.labels, g.labels, ds.manifest.classes),
    classVectors: classVectorsRecord(vectors),
    hamming: m.hamming
      ? {
          bits: m.hamming.bits,
          'mAP@all': m.hamming.mapAll,
          'P@200': m.hamming.pAtK,
          'mAP@200': m.hamming.mapAtK,
          pr: m.hamming.pr,
          codes: centreHash ? 'centre-hash' : 'code-head',
          ...(centreHash?.info ?? {}),
        }
      : null,
    ...(centreHash?.skipped ? { hammingSkipped: centreHash.skipped } : {}),
    ...(Array.isArray(cfg.eval.centreHashBits)
      ? {
          hammingByBits: hammingByBits(hashes, m.hamming, { query: q.labels, gallery: gLabels }, perm, K),
        }
      : {}),
    ...(cfg.eval.galleryOrder ? { galleryOrder: cfg.eval.galleryOrder } : {}),
    nQueries: q.n,
    nGallery: g.n,
    evalSeconds,
    trainSeconds,
    flipTest: flip,
    distance,
    pr: m.pr,
    distanceStats: stats,
  };

  // embeddings.json: half queries, half gallery, evenly spread (≤ 600 rows in all).
  const half = Math.floor(cfg.eval.embeddingsSample / 2);
  const rows = [
    ...spread(q.n, cfg.eval.embeddingsSample - half).map((i) => ({ e: q, i, split: 'query' })),
    ...spread(g.n, half).map((i) => ({ e: g, i, split: 'gallery' })),
  ].map(({ e, i, split }) => ({
    id: e.ids[i]!,
    category: e.categories[i]!,
    domain: e.domains[i] === 0 ? 'sketch' : 'photo',
    split,
    vector: Array.from(e.embedding.subarray(i * e.dim, (i + 1) * e.dim), (v) => round(v)),
  }));
  writeJsonAtomicSync(cell.file('embeddings.json'), { dim: q.dim, rows });

  await writeRetrieval(ds, cfg, cell, q, g, shown);
  if (protocol && vectors) {
    const means = await learnedClassMeans(trainer, ds, cfg, g);
    writeJsonAtomicSync(
      cell.file('class-neighbours.json'),
      classNeighbours(ds.manifest.classes, protocol.unseen, vectors, means, distance),
    );
  }
  return { mapAll: m.mapAll, pAt200: m.pAtK, evalJson };
}

/**
 * Photo-feature class means in the trained space, by label: unseen classes from the gallery already
 * embedded, seen classes from a seeded sample of training photos (at most 2000). Under `angular` the
 * features are L2-normalised first, as the retrieval ranks them.
 */
async function learnedClassMeans(
  trainer: Learner,
  ds: ShardDataset,
  cfg: CellConfig,
  g: Embedded,
): Promise<(Float32Array | null)[]> {
  const train = await embedSubset(trainer, ds, 'train', {
    batchSize: cfg.eval.batchSize,
    limit: 2000,
    flip: false,
    domain: 'photo',
  });
  const dim = g.dim;
  const prep = (f: Float32Array): Float32Array => (distanceOf(cfg) === 'angular' ? normalizeRows(f, dim) : f);
  const sums: (Float64Array | null)[] = ds.manifest.classes.map(() => null);
  const counts = new Int32Array(ds.manifest.classes.length);
  for (const e of [g, train]) {
    const f = prep(e.embedding);
    for (let i = 0; i < e.n; i++) {
      if (e.domains[i] !== 1) continue;
      const l = e.labels[i]!;
      const acc = (sums[l] ??= new Float64Array(dim));
      for (let k = 0; k < dim; k++) acc[k]! += f[i * dim + k]!;
      counts[l]!++;
    }
  }
  return sums.map((acc, l) => (acc ? Float32Array.from(acc, (v) => v / counts[l]!) : null));
}

interface CentreHashOutcome {
  codes?: { query: Uint8Array; gallery: Uint8Array; bits: number };
  info?: {
    prototypes: 'loss-centres' | 'photo-class-means';
    classes: number;
    steps: number;
    lossStart: number;
    lossEnd: number;
    features: 'flip-mean' | 'original';
  };
  skipped?: string;
}

/**
 * The authors' post-hoc codes (tester.py): fit a spectral-normalised map to the class prototypes, then
 * code every query and gallery item with its sign. The coded feature of an item is the mean of its
 * image's and its flip's features when the flip test ran (HashTester.vectors, `mean(dim=-1)`); under
 * `angular`, prototypes and coded features are L2-normalised (train_mapping, HashTester.vectors).
 * Prototypes: the loss's class centres where it has them (MEMS, center, CosFace, ArcFace; the authors'
 * case); otherwise the mean embedding per class of the gallery photos, which under the category (DSH)
 * protocol are training photos. Under zero-shot the gallery holds unseen classes, so no prototypes
 * can be taken from it without using test data: Hamming is skipped with the reason.
 */
function centreHashCodes(
  trainer: Learner,
  ds: ShardDataset,
  cfg: CellConfig,
  q: Embedded,
  g: Embedded,
  bits: number,
): CentreHashOutcome {
  const dim = q.dim;
  const distance = distanceOf(cfg);
  const qFeatures = flipMeanFeatures(q.embedding, q.flipped);
  const gFeatures = flipMeanFeatures(g.embedding, g.flipped);
  let prototypes = trainer.lossCentres();
  let source: 'loss-centres' | 'photo-class-means' = 'loss-centres';
  let classes = prototypes ? prototypes.length / dim : 0;
  if (!prototypes) {
    const split = ds.manifest.split;
    if (split.protocol !== 'category' || !split.photosInTrain) {
      return {
        skipped: `loss "${cfg.loss.name}" has no class centres and the gallery photos are not training photos (${split.protocol} split), so there are no prototypes for eval.centreHashBits`,
      };
    }
    ({ means: prototypes, classes } = classMeans(gFeatures, g.labels, g.n, dim));
    source = 'photo-class-means';
  }
  if (classes < 2) return { skipped: 'fewer than two class prototypes for eval.centreHashBits' };
  const steps = cfg.eval.centreHashSteps ?? 1000;
  const hash = trainCentreHash(prototypes, classes, dim, bits, { steps, seed: cfg.seed, distance });
  return {
    codes: { query: hash.encode(qFeatures), gallery: hash.encode(gFeatures), bits },
    info: {
      prototypes: source,
      classes,
      steps,
      lossStart: hash.lossStart,
      lossEnd: hash.lossEnd,
      features: q.flipped && g.flipped ? 'flip-mean' : 'original',
    },
  };
}

/** Mean feature per label present, in order of first appearance ([classes x dim], row-major). Pure. */
export function classMeans(
  features: Float32Array,
  labels: Int32Array,
  n: number,
  dim: number,
): { means: Float32Array; classes: number } {
  const sums = new Map<number, { sum: Float64Array; n: number }>();
  for (let i = 0; i < n; i++) {
    const label = labels[i]!;
    let acc = sums.get(label);
    if (!acc) sums.set(label, (acc = { sum: new Float64Array(dim), n: 0 }));
    for (let k = 0; k < dim; k++) acc.sum[k]! += features[i * dim + k]!;
    acc.n++;
  }
  const means = new Float32Array(sums.size * dim);
  let row = 0;
  for (const { sum, n: count } of sums.values()) {
    for (let k = 0; k < dim; k++) means[row * dim + k] = sum[k]! / count;
    row++;
  }
  return { means, classes: sums.size };
}

async function writeRetrieval(
  ds: ShardDataset,
  cfg: CellConfig,
  cell: CellStore,
  q: Embedded,
  g: Embedded,
  shown: number[],
): Promise<void> {
  const topK = cfg.eval.retrievalTopK;
  const distance = distanceOf(cfg);
  const ranked = shown
    .filter((qi) => qi < q.n)
    .map((qi) => ({ qi, hits: rankedNeighbours(q, g, qi, topK, distance) }));
  const needed = new Set(ranked.flatMap((r) => r.hits.map((h) => h.index)));
  // Second pass over the gallery for the few images shown (the gallery is not kept in memory).
  const images = new Map<number, Uint8Array>();
  let row = 0;
  if (needed.size > 0) {
    for await (const batch of ds.batches({ subset: 'gallery', batchSize: 256 })) {
      const px = batch.height * batch.width * 3;
      for (let i = 0; i < batch.n; i++, row++)
        if (needed.has(row)) images.set(row, batch.images.slice(i * px, (i + 1) * px));
      if (images.size === needed.size) break;
    }
  }
  const size = ds.manifest.size;
  const dir = cell.file('retrieval');
  const queries = [];
  for (const [n, { qi, hits }] of ranked.entries()) {
    const kept = q.kept.get(qi);
    const qImage = `retrieval/q${n}.png`;
    if (kept)
      writeFileAtomicSync(path.join(dir, `q${n}.png`), await png(kept.image, kept.width, kept.height));
    const results = [];
    for (const [r, h] of hits.entries()) {
      const image = images.get(h.index);
      const file = `retrieval/q${n}_${r + 1}.png`;
      if (image) writeFileAtomicSync(path.join(dir, `q${n}_${r + 1}.png`), await png(image, size, size));
      results.push({
        id: g.ids[h.index]!,
        category: g.categories[h.index]!,
        distance: round(h.distance),
        correct: g.labels[h.index] === q.labels[qi],
        image: image ? file : null,
      });
    }
    queries.push({ id: q.ids[qi]!, category: q.categories[qi]!, image: kept ? qImage : null, results });
  }
  writeJsonAtomicSync(cell.file('retrieval.json'), { k: topK, distance, queries });
}

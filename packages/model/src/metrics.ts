/**
 * Retrieval metrics. Pure functions of their inputs (no randomness), with deterministic tie
 * handling: gallery items at equal distance are ranked by gallery index (lower first), exactly as a
 * stable sort of the gallery by distance.
 *
 * Distances are squared Euclidean, computed on the backend as ||q||^2 + ||g||^2 - 2 q.g in a single
 * matrix product of augmented rows ([q, 1, |q|^2] . [-2g, |g|^2, 1]), a block of queries at a time
 * (memory: blockSize x nGallery floats plus the gallery, uploaded once in blocks of `galleryBlock`
 * rows). Hamming distances use the same route on +-1 codes: d = (bits - q.g) / 2, exact in float32.
 *
 * Ranking does not sort the gallery: for each query only the relevant items (same label) are
 * sorted, and every other item is counted into the gap before the first relevant item that ranks
 * after it (binary search). The ranks of the relevant items give every metric here:
 *   AP@all = (1/R) sum_k k / rank_k                       (R relevant items, k = 1..R)
 *   AP@K   = sum_{rank_k <= K} k / rank_k / #{k: rank_k <= K}   (0 when none in the top K)
 *   P@K    = #{k: rank_k <= K} / min(K, nGallery)
 *   11-point interpolated PR: p(r) = max over k with k / R >= r of k / rank_k, r = 0, 0.1, ..., 1.
 * A query with no relevant item in the gallery has AP = 0 and P@K = 0 and is left out of the PR curve.
 *
 * One file on purpose: every retrieval metric runs on the same blocked distance-and-rank kernel with
 * its deterministic tie rule; split up, the rule would have to be kept equal in several places.
 */
import * as tf from '@tensorflow/tfjs-core';

export type RetrievalDistance = 'euclidean' | 'angular';
export const RETRIEVAL_DISTANCES: readonly RetrievalDistance[] = ['euclidean', 'angular'];

/**
 * The authors' `--test_distance` for a loss: `angular` for the cosine-margin losses (their README runs
 * CosFace with --test_distance angular; ArcFace is of the same kind), `euclidean` for the others.
 */
export function defaultRetrievalDistance(lossName: string): RetrievalDistance {
  return lossName === 'cosface' || lossName === 'arcface' ? 'angular' : 'euclidean';
}

/** Rows divided by their L2 norm (at least 1e-12, as torch.nn.functional.normalize). */
export function normalizeRows(features: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(features.length);
  for (let i = 0; i < features.length; i += dim) {
    let sq = 0;
    for (let k = 0; k < dim; k++) sq += features[i + k] * features[i + k];
    const inv = 1 / Math.max(Math.sqrt(sq), 1e-12);
    for (let k = 0; k < dim; k++) out[i + k] = features[i + k] * inv;
  }
  return out;
}

export interface MetricOptions {
  /**
   * `euclidean` (default): squared Euclidean distance. `angular`: rows L2-normalised first, so the
   * ranking is that of the angle acos(cos(q, g)) (|q - g|^2 = 2 - 2 cos on unit vectors; the minimum
   * over flip combinations is kept by the monotone map), as tester.py with --test_distance angular.
   */
  distance?: RetrievalDistance;
  /** Cut-off for P@K and mAP@K. Default 200. */
  k?: number;
  /** Further precision cut-offs reported in `precisionAt` (SEM-PCYC's Prec@100 beside P@200). */
  precisionKs?: number[];
  /** Queries per block; default: as many as fit 16M distances (64 MB). */
  blockSize?: number;
  /** Gallery rows per uploaded block. Default 65536. */
  galleryBlock?: number;
}

export interface RetrievalSet {
  /** n x dim features, row-major. */
  features: Float32Array;
  labels: Int32Array;
  /** Features of the horizontally flipped images; when query or gallery has them, the distance of a
   *  pair is the minimum over the available flip combinations (authors' tester.py). */
  flipped?: Float32Array;
  /** n x bits binary codes, one byte (0/1) per bit. */
  codes?: Uint8Array;
}

export interface RankingSummary {
  mapAll: number;
  mapAtK: number;
  pAtK: number;
  k: number;
  /** 11-point interpolated precision-recall curve, mean over queries with at least one relevant item. */
  pr: { recall: number[]; precision: number[] };
  /** AP@all of every query, in query order. */
  apPerQuery: Float64Array;
  /** AP@K and P@K of every query, in query order (per-class breakdowns average these). */
  apAtKPerQuery: Float64Array;
  pAtKPerQuery: Float64Array;
  /** P@k for each `precisionKs` cut-off: the mean and every query's value. */
  precisionAt: Record<number, { mean: number; perQuery: Float64Array }>;
}

export interface RetrievalResult extends RankingSummary {
  nQueries: number;
  nGallery: number;
  hamming?: {
    bits: number;
    mapAll: number;
    mapAtK: number;
    pAtK: number;
    pr: { recall: number[]; precision: number[] };
  };
}

const PR_POINTS = 11;

/**
 * Ranks (1-based, ascending) of the relevant gallery items for one query, given the distance row.
 * `relevant` lists the relevant gallery indices in increasing order.
 */
export function relevantRanks(
  dist: ArrayLike<number>,
  relevant: Int32Array,
  isRelevant: Uint8Array,
): Int32Array {
  const r = relevant.length;
  const out = new Int32Array(r);
  if (r === 0) return out;
  const order = Int32Array.from(relevant);
  order.sort((a, b) => dist[a] - dist[b] || a - b);
  const keyD = new Float64Array(r);
  for (let i = 0; i < r; i++) keyD[i] = dist[order[i]];
  const lo = keyD[0];
  const hi = keyD[r - 1];
  const lastIdx = order[r - 1];
  // Bucket table over [lo, hi]: pos[b] = first relevant position with key >= lo + b * width, so an
  // item falling in bucket b needs only a short linear scan from pos[b].
  const nb = Math.max(1, Math.min(4096, 4 * r));
  const width = (hi - lo) / nb;
  const inv = width > 0 ? 1 / width : 0;
  const pos = new Int32Array(nb + 1);
  for (let b = 0, i = 0; b <= nb; b++) {
    const bound = b === nb ? Infinity : lo + b * width;
    while (i < r && keyD[i] < bound) i++;
    pos[b] = i;
  }
  const gap = new Int32Array(r + 1);
  const n = dist.length;
  for (let j = 0; j < n; j++) {
    if (isRelevant[j]) continue;
    const d = dist[j];
    if (d > hi || (d === hi && j > lastIdx)) continue; // ranks after every relevant item
    if (d < lo) {
      gap[0]++;
      continue;
    }
    let b = width > 0 ? Math.floor((d - lo) * inv) : 0;
    if (b >= nb) b = nb - 1;
    while (b > 0 && d < lo + b * width) b--;
    while (b < nb - 1 && d >= lo + (b + 1) * width) b++;
    let i = pos[b];
    while (i < r && (keyD[i] < d || (keyD[i] === d && order[i] < j))) i++;
    gap[i]++;
  }
  let before = 0;
  for (let i = 0; i < r; i++) {
    before += gap[i];
    out[i] = i + 1 + before;
  }
  return out;
}

function sum(values: Float64Array): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

class Accumulator {
  readonly k: number;
  private readonly nGallery: number;
  private sumAp = 0;
  private sumApK = 0;
  private sumPk = 0;
  private nQ = 0;
  private nPr = 0;
  private readonly pr = new Float64Array(PR_POINTS);
  readonly apPerQuery: Float64Array;
  readonly apAtKPerQuery: Float64Array;
  readonly pAtKPerQuery: Float64Array;
  private readonly extra: Map<number, Float64Array>;

  constructor(k: number, nGallery: number, nQueries: number, precisionKs: number[] = []) {
    this.k = k;
    this.nGallery = nGallery;
    this.apPerQuery = new Float64Array(nQueries);
    this.apAtKPerQuery = new Float64Array(nQueries);
    this.pAtKPerQuery = new Float64Array(nQueries);
    this.extra = new Map(precisionKs.map((c) => [c, new Float64Array(nQueries)]));
  }

  add(q: number, ranks: Int32Array): void {
    const r = ranks.length;
    this.nQ++;
    if (r === 0) return;
    let ap = 0;
    let apK = 0;
    let hitsK = 0;
    for (let i = 0; i < r; i++) {
      const p = (i + 1) / ranks[i];
      ap += p;
      if (ranks[i] <= this.k) {
        apK += p;
        hitsK++;
      }
    }
    ap /= r;
    this.apPerQuery[q] = ap;
    this.apAtKPerQuery[q] = hitsK ? apK / hitsK : 0;
    this.pAtKPerQuery[q] = hitsK / Math.min(this.k, this.nGallery);
    this.sumAp += ap;
    this.sumApK += this.apAtKPerQuery[q];
    this.sumPk += this.pAtKPerQuery[q];
    for (const [cut, values] of this.extra) {
      let hits = 0;
      while (hits < r && ranks[hits] <= cut) hits++; // ranks ascend
      values[q] = hits / Math.min(cut, this.nGallery);
    }
    // interpolated precision: running max from the end
    const interp = new Float64Array(r);
    let best = 0;
    for (let i = r - 1; i >= 0; i--) {
      best = Math.max(best, (i + 1) / ranks[i]);
      interp[i] = best;
    }
    for (let t = 0; t < PR_POINTS; t++) {
      const level = t / (PR_POINTS - 1);
      // first k (0-based) with (k + 1) / r >= level
      const idx = Math.max(0, Math.ceil(level * r - 1e-9) - 1);
      this.pr[t] += interp[Math.min(idx, r - 1)];
    }
    this.nPr++;
  }

  summary(): RankingSummary {
    const n = Math.max(this.nQ, 1);
    const recall = Array.from({ length: PR_POINTS }, (_, t) => t / (PR_POINTS - 1));
    return {
      mapAll: this.sumAp / n,
      mapAtK: this.sumApK / n,
      pAtK: this.sumPk / n,
      k: this.k,
      pr: { recall, precision: Array.from(this.pr, (v) => (this.nPr ? v / this.nPr : 0)) },
      apPerQuery: this.apPerQuery,
      apAtKPerQuery: this.apAtKPerQuery,
      pAtKPerQuery: this.pAtKPerQuery,
      precisionAt: Object.fromEntries(
        [...this.extra].map(([cut, perQuery]) => [cut, { mean: sum(perQuery) / n, perQuery }]),
      ),
    };
  }
}

function check(name: string, arr: ArrayLike<number>, n: number, dim: number): void {
  if (arr.length !== n * dim) throw new Error(`${name}: length ${arr.length} is not n * dim = ${n} * ${dim}`);
}

interface Side {
  /** Feature variants (original, flipped) as row-major arrays. */
  variants: Float32Array[];
}

/**
 * Streams squared-distance rows: calls `onBlock(q0, rows, count)` with `rows` holding `count` rows of
 * nGallery distances (min over variant pairs).
 */
function streamDistances(
  query: Side,
  gallery: Side,
  nq: number,
  ng: number,
  dim: number,
  opts: MetricOptions,
  onBlock: (q0: number, rows: Float32Array, count: number) => void,
  hammingBits?: number,
): void {
  const galleryBlock = Math.max(1, opts.galleryBlock ?? 65536);
  const blockSize = Math.max(
    1,
    Math.min(nq, opts.blockSize ?? Math.floor((16 * 1024 * 1024) / Math.max(ng, 1))),
  );
  // Each distance block is one matrix product of augmented rows:
  //   Euclidean: [q, 1, |q|^2] . [-2 g, |g|^2, 1] = |q|^2 + |g|^2 - 2 q.g
  //   Hamming:   [q, 1] . [-g / 2, bits / 2]      = (bits - q.g) / 2
  const augmentGallery = (g: tf.Tensor2D): tf.Tensor2D =>
    (hammingBits !== undefined
      ? tf.concat([tf.mul(g, -0.5), tf.fill([g.shape[0], 1], hammingBits / 2)], 1)
      : tf.concat(
          [tf.mul(g, -2), tf.sum(tf.square(g), 1, true), tf.ones([g.shape[0], 1])],
          1,
        )) as tf.Tensor2D;
  const augmentQuery = (q: tf.Tensor2D): tf.Tensor2D =>
    (hammingBits !== undefined
      ? tf.concat([q, tf.ones([q.shape[0], 1])], 1)
      : tf.concat([q, tf.ones([q.shape[0], 1]), tf.sum(tf.square(q), 1, true)], 1)) as tf.Tensor2D;
  const gBlocks: { start: number; rows: number; variants: tf.Tensor2D[] }[] = [];
  try {
    for (let s = 0; s < ng; s += galleryBlock) {
      const rows = Math.min(galleryBlock, ng - s);
      gBlocks.push({
        start: s,
        rows,
        variants: gallery.variants.map((v) =>
          tf.tidy(() => augmentGallery(tf.tensor2d(v.subarray(s * dim, (s + rows) * dim), [rows, dim]))),
        ),
      });
    }
    const single = gBlocks.length === 1;
    const rowsBuf = single ? new Float32Array(0) : new Float32Array(blockSize * ng);
    for (let q0 = 0; q0 < nq; q0 += blockSize) {
      const count = Math.min(blockSize, nq - q0);
      const qVariants = query.variants.map((v) =>
        tf.tidy(() => augmentQuery(tf.tensor2d(v.subarray(q0 * dim, (q0 + count) * dim), [count, dim]))),
      );
      for (const gb of gBlocks) {
        const block = tf.tidy(() => {
          let best: tf.Tensor2D | null = null;
          for (const q of qVariants) {
            for (const g of gb.variants) {
              const d = tf.matMul(q, g, false, true) as tf.Tensor2D;
              best = best === null ? d : (tf.minimum(best, d) as tf.Tensor2D);
            }
          }
          return best as unknown as tf.Tensor2D;
        });
        const vals = block.dataSync() as Float32Array;
        block.dispose();
        if (single) {
          onBlock(q0, vals, count);
        } else {
          for (let i = 0; i < count; i++)
            rowsBuf.set(vals.subarray(i * gb.rows, (i + 1) * gb.rows), i * ng + gb.start);
        }
      }
      qVariants.forEach((t) => t.dispose());
      if (!single) onBlock(q0, rowsBuf, count);
    }
  } finally {
    for (const gb of gBlocks) gb.variants.forEach((t) => t.dispose());
  }
}

function rankAll(
  query: Side,
  gallery: Side,
  qLabels: Int32Array,
  gLabels: Int32Array,
  dim: number,
  opts: MetricOptions,
  hammingBits?: number,
): RankingSummary {
  const nq = qLabels.length;
  const ng = gLabels.length;
  query.variants.forEach((v) => check('query features', v, nq, dim));
  gallery.variants.forEach((v) => check('gallery features', v, ng, dim));
  const k = opts.k ?? 200;
  if (!Number.isInteger(k) || k < 1) throw new Error(`Expected k to be a positive integer, but got ${k}.`);
  for (const c of opts.precisionKs ?? [])
    if (!Number.isInteger(c) || c < 1)
      throw new Error(`Expected precision cut-offs to be positive integers, but got ${c}.`);
  const acc = new Accumulator(k, ng, nq, opts.precisionKs);
  // Relevant gallery indices per label.
  const byLabel = new Map<number, number[]>();
  for (let j = 0; j < ng; j++) {
    const l = gLabels[j];
    let list = byLabel.get(l);
    if (!list) byLabel.set(l, (list = []));
    list.push(j);
  }
  const relevantOf = new Map<number, { idx: Int32Array; mask: Uint8Array }>();
  const relevantFor = (label: number): { idx: Int32Array; mask: Uint8Array } => {
    let r = relevantOf.get(label);
    if (!r) {
      const idx = Int32Array.from(byLabel.get(label) ?? []);
      const mask = new Uint8Array(ng);
      for (const j of idx) mask[j] = 1;
      relevantOf.set(label, (r = { idx, mask }));
    }
    return r;
  };
  if (nq === 0 || ng === 0) return acc.summary();
  streamDistances(
    query,
    gallery,
    nq,
    ng,
    dim,
    opts,
    (q0, rows, count) => {
      for (let i = 0; i < count; i++) {
        const rel = relevantFor(qLabels[q0 + i]);
        acc.add(q0 + i, relevantRanks(rows.subarray(i * ng, (i + 1) * ng), rel.idx, rel.mask));
      }
    },
    hammingBits,
  );
  return acc.summary();
}

function codesToSigned(codes: Uint8Array): Float32Array {
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = codes[i] ? 1 : -1;
  return out;
}

/** mAP over the whole gallery (or mAP@K when opts.k is given). Squared Euclidean distance. */
export function meanAveragePrecision(
  q: Float32Array,
  g: Float32Array,
  dim: number,
  qLabels: Int32Array,
  gLabels: Int32Array,
  opts: MetricOptions = {},
): number {
  const s = rankAll({ variants: [q] }, { variants: [g] }, qLabels, gLabels, dim, opts);
  return opts.k === undefined ? s.mapAll : s.mapAtK;
}

/** Precision@K (K = 200 by default). */
export function precisionAtK(
  q: Float32Array,
  g: Float32Array,
  dim: number,
  qLabels: Int32Array,
  gLabels: Int32Array,
  opts: MetricOptions = {},
): number {
  return rankAll({ variants: [q] }, { variants: [g] }, qLabels, gLabels, dim, opts).pAtK;
}

/** mAP@all (or @K) with Hamming distance on binary codes (n x bits, one byte 0/1 per bit). */
export function hammingMeanAveragePrecision(
  qCodes: Uint8Array,
  gCodes: Uint8Array,
  bits: number,
  qLabels: Int32Array,
  gLabels: Int32Array,
  opts: MetricOptions = {},
): number {
  const s = rankAll(
    { variants: [codesToSigned(qCodes)] },
    { variants: [codesToSigned(gCodes)] },
    qLabels,
    gLabels,
    bits,
    opts,
    bits,
  );
  return opts.k === undefined ? s.mapAll : s.mapAtK;
}

/** Every ranking metric in one pass (plus a Hamming pass when both sides have codes). */
export function evaluateRetrieval(
  query: RetrievalSet,
  gallery: RetrievalSet,
  dim: number,
  opts: MetricOptions & { bits?: number } = {},
): RetrievalResult {
  const prepare = (f: Float32Array): Float32Array =>
    opts.distance === 'angular' ? normalizeRows(f, dim) : f;
  const side = (s: RetrievalSet): Side => ({
    variants: (s.flipped ? [s.features, s.flipped] : [s.features]).map(prepare),
  });
  const main = rankAll(side(query), side(gallery), query.labels, gallery.labels, dim, opts);
  const result: RetrievalResult = { ...main, nQueries: query.labels.length, nGallery: gallery.labels.length };
  if (query.codes && gallery.codes) {
    const bits = opts.bits ?? Math.round(query.codes.length / Math.max(query.labels.length, 1));
    result.hamming = hammingRetrieval(
      { codes: query.codes, labels: query.labels },
      { codes: gallery.codes, labels: gallery.labels },
      bits,
      opts,
    );
  }
  return result;
}

/**
 * The Hamming ranking metrics of one code length alone (what `evaluateRetrieval` adds as `hamming`),
 * so that further code lengths of the same features are scored without ranking the features again.
 */
export function hammingRetrieval(
  query: { codes: Uint8Array; labels: Int32Array },
  gallery: { codes: Uint8Array; labels: Int32Array },
  bits: number,
  opts: MetricOptions = {},
): NonNullable<RetrievalResult['hamming']> {
  const h = rankAll(
    { variants: [codesToSigned(query.codes)] },
    { variants: [codesToSigned(gallery.codes)] },
    query.labels,
    gallery.labels,
    bits,
    opts,
    bits,
  );
  return { bits, mapAll: h.mapAll, mapAtK: h.mapAtK, pAtK: h.pAtK, pr: h.pr };
}

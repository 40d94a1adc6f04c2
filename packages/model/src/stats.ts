/**
 * Feature-space statistics behind the MEMS claim ("the largest intra-class distance is smaller than
 * the smallest inter-class distance"). Distances here are Euclidean (not squared).
 *
 * - perClass: for each class with members, the largest distance between two of its members (maxIntra,
 *   null with fewer than two) and the smallest distance from a member to any item of another class
 *   (minInter, null when there is no other class). Exact over all pairs of the items considered.
 * - fractionSeparated: share of classes with both values where maxIntra < minInter.
 * - histogram: counts of intra-class and inter-class pair distances over shared edges (all pairs when
 *   there are at most maxPairs of a kind, else maxPairs pairs drawn with the seeded generator).
 * With more than maxItems items, a seeded uniform sample of maxItems items is used for everything
 * (`sampled: true`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from './rng';

export interface DistanceStatsOptions {
  /** Histogram bins. Default 30. */
  bins?: number;
  /** Items considered at most (a seeded sample above it). Default 8000. */
  maxItems?: number;
  /** Pairs per histogram (intra, inter) at most. Default 200000. */
  maxPairs?: number;
  seed?: number;
}

export interface ClassDistanceStats {
  category: string;
  count: number;
  maxIntra: number | null;
  minInter: number | null;
}

export interface DistanceStats {
  fractionSeparated: number;
  perClass: ClassDistanceStats[];
  histogram: { edges: number[]; intra: number[]; inter: number[] };
  nItems: number;
  sampled: boolean;
}

export function distanceStatistics(
  features: Float32Array,
  labels: Int32Array,
  dim: number,
  classNames: string[],
  opts: DistanceStatsOptions = {},
): DistanceStats {
  const nAll = labels.length;
  if (features.length !== nAll * dim)
    throw new Error(`features: length ${features.length} is not n * dim = ${nAll} * ${dim}`);
  const rng = new Rng(opts.seed ?? 0);
  const maxItems = opts.maxItems ?? 8000;
  let idx = Int32Array.from({ length: nAll }, (_, i) => i);
  const sampled = nAll > maxItems;
  if (sampled) idx = Int32Array.from(rng.shuffle(Array.from(idx)).slice(0, maxItems)).sort();
  const n = idx.length;
  const f = new Float32Array(n * dim);
  const y = new Int32Array(n);
  idx.forEach((src, i) => {
    f.set(features.subarray(src * dim, (src + 1) * dim), i * dim);
    y[i] = labels[src];
  });
  const numClasses = Math.max(classNames.length, ...Array.from(y, (l) => l + 1));
  for (const l of y) if (l < 0) throw new Error(`labels: negative label ${l}`);

  // Exact per-class extremes over all pairs, squared distances from blocked matrix products.
  const maxIntra2 = new Float64Array(numClasses).fill(-1);
  const minInter2 = new Float64Array(numClasses).fill(Infinity);
  const block = Math.max(1, Math.floor((8 * 1024 * 1024) / Math.max(n, 1)));
  if (n > 0) {
    const all = tf.tensor2d(f, [n, dim]);
    const gAug = tf.tidy(() =>
      tf.concat([tf.mul(all, -2), tf.sum(tf.square(all), 1, true), tf.ones([n, 1])], 1),
    );
    try {
      for (let s = 0; s < n; s += block) {
        const count = Math.min(block, n - s);
        const d2 = tf.tidy(() => {
          const q = tf.slice(all, [s, 0], [count, dim]);
          const qAug = tf.concat([q, tf.ones([count, 1]), tf.sum(tf.square(q), 1, true)], 1);
          return tf.matMul(qAug, gAug, false, true);
        });
        const vals = d2.dataSync();
        d2.dispose();
        for (let a = 0; a < count; a++) {
          const i = s + a;
          const li = y[i];
          const row = a * n;
          let mx = maxIntra2[li];
          let mn = minInter2[li];
          for (let j = 0; j < n; j++) {
            if (j === i) continue;
            const d = vals[row + j] > 0 ? vals[row + j] : 0;
            if (y[j] === li) {
              if (d > mx) mx = d;
            } else if (d < mn) mn = d;
          }
          maxIntra2[li] = mx;
          minInter2[li] = mn;
        }
      }
    } finally {
      all.dispose();
      gAug.dispose();
    }
  }
  const counts = new Int32Array(numClasses);
  for (const l of y) counts[l]++;
  const perClass: ClassDistanceStats[] = [];
  let eligible = 0;
  let separated = 0;
  for (let c = 0; c < numClasses; c++) {
    if (counts[c] === 0) continue;
    const maxIntra = maxIntra2[c] >= 0 ? Math.sqrt(maxIntra2[c]) : null;
    const minInter = Number.isFinite(minInter2[c]) ? Math.sqrt(minInter2[c]) : null;
    perClass.push({ category: classNames[c] ?? String(c), count: counts[c], maxIntra, minInter });
    if (maxIntra !== null && minInter !== null) {
      eligible++;
      if (maxIntra < minInter) separated++;
    }
  }

  // Histogram pairs (exact distances in float64 from the features).
  const maxPairs = opts.maxPairs ?? 200000;
  const dist = (i: number, j: number): number => {
    let s2 = 0;
    for (let k = 0; k < dim; k++) {
      const v = f[i * dim + k] - f[j * dim + k];
      s2 += v * v;
    }
    return Math.sqrt(s2);
  };
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  y.forEach((l, i) => byClass[l].push(i));
  let intraPairs = 0;
  for (const m of byClass) intraPairs += (m.length * (m.length - 1)) / 2;
  const totalPairs = (n * (n - 1)) / 2;
  const interPairs = totalPairs - intraPairs;
  const intra: number[] = [];
  const inter: number[] = [];
  if (totalPairs <= maxPairs) {
    for (let i = 0; i < n; i++)
      for (let j = i + 1; j < n; j++) (y[i] === y[j] ? intra : inter).push(dist(i, j));
  } else {
    if (intraPairs <= maxPairs) {
      for (const m of byClass)
        for (let a = 0; a < m.length; a++)
          for (let b = a + 1; b < m.length; b++) intra.push(dist(m[a], m[b]));
    } else {
      const multi = byClass.filter((m) => m.length > 1).flat();
      while (intra.length < maxPairs) {
        const i = multi[rng.int(multi.length)];
        const m = byClass[y[i]];
        const j = m[rng.int(m.length)];
        if (j !== i) intra.push(dist(i, j));
      }
    }
    if (interPairs > 0) {
      const target = Math.min(maxPairs, interPairs);
      while (inter.length < target) {
        const i = rng.int(n);
        const j = rng.int(n);
        if (y[i] !== y[j]) inter.push(dist(i, j));
      }
    }
  }
  const bins = Math.max(1, opts.bins ?? 30);
  let hi = 0;
  for (const v of intra) hi = Math.max(hi, v);
  for (const v of inter) hi = Math.max(hi, v);
  if (hi === 0) hi = 1;
  const edges = Array.from({ length: bins + 1 }, (_, b) => (hi * b) / bins);
  const hist = (vals: number[]): number[] => {
    const h = new Array<number>(bins).fill(0);
    for (const v of vals) h[Math.min(bins - 1, Math.floor((v / hi) * bins))]++;
    return h;
  };
  return {
    fractionSeparated: eligible ? separated / eligible : 0,
    perClass,
    histogram: { edges, intra: hist(intra), inter: hist(inter) },
    nItems: n,
    sampled,
  };
}

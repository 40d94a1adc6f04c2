/**
 * Retrieval metrics as the trainer uses them. Distances are squared Euclidean; with flipped features
 * the distance of a pair is the minimum over the four flip combinations (authors' tester.py); ties
 * rank by gallery index.
 */

export interface RetrievalInput {
  query: Float32Array;
  queryFlipped?: Float32Array;
  gallery: Float32Array;
  galleryFlipped?: Float32Array;
  dim: number;
  queryLabels: Int32Array;
  galleryLabels: Int32Array;
  k: number;
}

export interface RetrievalMetrics {
  mapAll: number;
  pAtK: number;
  mapAtK: number;
  /** 11-point interpolated precision at recall 0, 0.1, ..., 1, mean over queries. */
  pr: { recall: number[]; precision: number[] };
}

function norms(x: Float32Array, dim: number): Float64Array {
  const n = x.length / dim;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let d = 0; d < dim; d++) s += x[i * dim + d]! ** 2;
    out[i] = s;
  }
  return out;
}

/** Squared distances from query row `qi` of `q` to every row of `g` (min with `out`'s values when `min`). */
function distancesInto(out: Float64Array, q: Float32Array, qn: Float64Array, qi: number, g: Float32Array, gn: Float64Array, dim: number, min: boolean): void {
  const base = qi * dim;
  const n = gn.length;
  for (let j = 0; j < n; j++) {
    let dot = 0;
    const gb = j * dim;
    for (let d = 0; d < dim; d++) dot += q[base + d]! * g[gb + d]!;
    const v = Math.max(0, qn[qi]! + gn[j]! - 2 * dot);
    if (!min || v < out[j]!) out[j] = v;
  }
}

/** Prepared norms so that per-query distance rows are cheap. */
function prepare(input: RetrievalInput) {
  const { dim } = input;
  const variants: { q: Float32Array; qn: Float64Array; g: Float32Array; gn: Float64Array }[] = [];
  const qs = [input.query, ...(input.queryFlipped ? [input.queryFlipped] : [])];
  const gs = [input.gallery, ...(input.galleryFlipped ? [input.galleryFlipped] : [])];
  const gNorms = gs.map((g) => norms(g, dim));
  for (const q of qs) {
    const qn = norms(q, dim);
    gs.forEach((g, i) => variants.push({ q, qn, g, gn: gNorms[i]! }));
  }
  const nGallery = input.gallery.length / dim;
  return {
    nQueries: input.query.length / dim,
    nGallery,
    row(qi: number, out = new Float64Array(nGallery)): Float64Array {
      variants.forEach((v, i) => distancesInto(out, v.q, v.qn, qi, v.g, v.gn, dim, i > 0));
      return out;
    },
  };
}

/** Gallery indices by ascending distance, ties by index. */
function rank(dist: Float64Array): Uint32Array {
  const order = new Uint32Array(dist.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => dist[a]! - dist[b]! || a - b);
  return order;
}

export function retrievalMetrics(input: RetrievalInput): RetrievalMetrics {
  const p = prepare(input);
  const dist = new Float64Array(p.nGallery);
  const recallLevels = Array.from({ length: 11 }, (_, i) => i / 10);
  const prSum = new Float64Array(11);
  let apSum = 0;
  let apAtKSum = 0;
  let pAtKSum = 0;
  let counted = 0;
  const k = Math.min(input.k, p.nGallery);
  for (let qi = 0; qi < p.nQueries; qi++) {
    const label = input.queryLabels[qi];
    let relevant = 0;
    for (let j = 0; j < p.nGallery; j++) if (input.galleryLabels[j] === label) relevant++;
    if (relevant === 0) continue; // no relevant photo: the query is not scored (as DSH's evaluation)
    p.row(qi, dist);
    const order = rank(dist);
    let hits = 0;
    let ap = 0;
    let apAtK = 0;
    let hitsAtK = 0;
    const precAtRecall = new Float64Array(relevant);
    for (let r = 0; r < order.length; r++) {
      if (input.galleryLabels[order[r]!] !== label) continue;
      hits++;
      const prec = hits / (r + 1);
      ap += prec;
      precAtRecall[hits - 1] = prec;
      if (r < k) {
        apAtK += prec;
        hitsAtK++;
      }
      if (hits === relevant) break;
    }
    apSum += ap / relevant;
    apAtKSum += hitsAtK ? apAtK / hitsAtK : 0;
    pAtKSum += hitsAtK / k;
    // interpolated precision at recall level L: max precision at any recall >= L
    const maxFrom = new Float64Array(relevant + 1);
    for (let h = relevant - 1; h >= 0; h--) maxFrom[h] = Math.max(maxFrom[h + 1]!, precAtRecall[h]!);
    recallLevels.forEach((level, i) => {
      const h = Math.max(0, Math.ceil(level * relevant) - 1);
      prSum[i] += maxFrom[h]!;
    });
    counted++;
  }
  const n = Math.max(counted, 1);
  return {
    mapAll: apSum / n,
    pAtK: pAtKSum / n,
    mapAtK: apAtKSum / n,
    pr: { recall: recallLevels, precision: Array.from(prSum, (v) => v / n) },
  };
}

/** The `topK` nearest gallery rows of query `qi`, with Euclidean (not squared) distances. */
export function rankedNeighbours(input: RetrievalInput, qi: number, topK: number): { index: number; distance: number }[] {
  const dist = prepare(input).row(qi);
  return Array.from(rank(dist).subarray(0, topK), (index) => ({ index, distance: Math.sqrt(dist[index]!) }));
}

/** mAP@all and P@k over Hamming distances of 0/1 codes (one byte per bit). */
export function hammingMetrics(q: Uint8Array, g: Uint8Array, bits: number, qLabels: Int32Array, gLabels: Int32Array, k: number): { mapAll: number; pAtK: number } {
  const nq = q.length / bits;
  const ng = g.length / bits;
  const dist = new Float64Array(ng);
  let apSum = 0;
  let pSum = 0;
  let counted = 0;
  const kk = Math.min(k, ng);
  for (let qi = 0; qi < nq; qi++) {
    const label = qLabels[qi];
    let relevant = 0;
    for (let j = 0; j < ng; j++) if (gLabels[j] === label) relevant++;
    if (relevant === 0) continue;
    for (let j = 0; j < ng; j++) {
      let d = 0;
      for (let b = 0; b < bits; b++) d += q[qi * bits + b] !== g[j * bits + b] ? 1 : 0;
      dist[j] = d;
    }
    const order = rank(dist);
    let hits = 0;
    let ap = 0;
    let hitsAtK = 0;
    for (let r = 0; r < order.length && hits < relevant; r++) {
      if (gLabels[order[r]!] !== label) continue;
      hits++;
      ap += hits / (r + 1);
      if (r < kk) hitsAtK++;
    }
    apSum += ap / relevant;
    pSum += hitsAtK / kk;
    counted++;
  }
  const n = Math.max(counted, 1);
  return { mapAll: apSum / n, pAtK: pSum / n };
}

export interface DistanceStats {
  /** Classes whose largest intra-class distance is below their smallest inter-class distance. */
  fractionSeparated: number;
  perClass: { category: string; maxIntra: number; minInter: number }[];
  histogram: { edges: number[]; intra: number[]; inter: number[] };
}

/** Intra/inter-class Euclidean distance statistics over all pairs of `features` (MEMS's claim). */
export function distanceStats(features: Float32Array, labels: Int32Array, dim: number, classNames: string[], bins = 30): DistanceStats {
  const n = labels.length;
  const fn = norms(features, dim);
  const maxIntra = new Map<number, number>();
  const minInter = new Map<number, number>();
  const pairs = new Float64Array((n * (n - 1)) / 2);
  const same = new Uint8Array(pairs.length);
  let p = 0;
  let maxD = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++, p++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += features[i * dim + d]! * features[j * dim + d]!;
      const dist = Math.sqrt(Math.max(0, fn[i]! + fn[j]! - 2 * dot));
      pairs[p] = dist;
      maxD = Math.max(maxD, dist);
      const a = labels[i]!;
      const b = labels[j]!;
      if (a === b) {
        same[p] = 1;
        maxIntra.set(a, Math.max(maxIntra.get(a) ?? 0, dist));
      } else {
        minInter.set(a, Math.min(minInter.get(a) ?? Infinity, dist));
        minInter.set(b, Math.min(minInter.get(b) ?? Infinity, dist));
      }
    }
  }
  const present = [...new Set(Array.from(labels))].sort((a, b) => a - b);
  const perClass = present
    .filter((c) => maxIntra.has(c) && minInter.has(c))
    .map((c) => ({ category: classNames[c] ?? String(c), maxIntra: maxIntra.get(c)!, minInter: minInter.get(c)! }));
  const separated = perClass.filter((c) => c.maxIntra < c.minInter).length;
  const width = maxD > 0 ? maxD / bins : 1;
  const edges = Array.from({ length: bins + 1 }, (_, i) => i * width);
  const intra = new Array<number>(bins).fill(0);
  const inter = new Array<number>(bins).fill(0);
  for (let i = 0; i < pairs.length; i++) {
    const b = Math.min(bins - 1, Math.floor(pairs[i]! / width));
    if (same[i]) intra[b]!++;
    else inter[b]!++;
  }
  return { fractionSeparated: perClass.length ? separated / perClass.length : 0, perClass, histogram: { edges, intra, inter } };
}

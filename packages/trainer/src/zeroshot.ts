/**
 * The zero-shot records of a cell's evaluation (issue 19; README "Run store", eval.json and
 * class-neighbours.json): the protocol with its headline metrics, metrics per query class, the
 * word-vector coverage, and each unseen class's nearest classes in the word-vector space beside its
 * nearest classes in the learned space. Pure functions of what the evaluation computed.
 */
import * as fs from 'node:fs';
import { zeroshotFile, type ClassVectors, type Manifest } from '@sbir/data';
import type { RetrievalDistance, RetrievalResult } from '@sbir/model';
import { ZEROSHOT_PROTOCOLS, type CellConfig, type ZeroshotProtocol } from './schema';

/** eval.json `protocol`: null under the category split. */
export interface ProtocolRecord {
  name: ZeroshotProtocol;
  metrics: readonly string[];
  unseen: string[];
}

export function protocolRecord(cfg: CellConfig, manifest: Manifest): ProtocolRecord | null {
  if (manifest.split.protocol !== 'zeroshot') return null;
  const name = cfg.dataset.protocol ?? 'sem-pcyc';
  return { name, metrics: ZEROSHOT_PROTOCOLS[name].metrics, unseen: [...manifest.split.unseen].sort() };
}

/** The published unseen-class list of a protocol for a dataset, when one exists (packages/data/splits). */
export function protocolListFile(protocol: ZeroshotProtocol, dataset: string): string | null {
  const file = zeroshotFile(dataset, protocol === 'yelamarthi' ? 'yelamarthi' : undefined);
  return fs.existsSync(file) ? file : null;
}

/**
 * Why a prepared zero-shot folder does not follow the cell's protocol (null when it does): for a dataset
 * with a published list the unseen classes must be that list; Yelamarthi's protocol exists only where
 * its list does (Sketchy). Datasets without any published list (emoji) use their seeded choice.
 */
export function protocolMismatch(cfg: CellConfig, manifest: Manifest): string | null {
  if (manifest.split.protocol !== 'zeroshot') return null;
  const protocol = cfg.dataset.protocol ?? 'sem-pcyc';
  const file = protocolListFile(protocol, cfg.dataset.name);
  if (!file) {
    const semPcyc = protocolListFile('sem-pcyc', cfg.dataset.name);
    return protocol === 'yelamarthi' && semPcyc
      ? `dataset.protocol: yelamarthi defines no ${cfg.dataset.name} split (it has sketchy only)`
      : null;
  }
  const listed = (JSON.parse(fs.readFileSync(file, 'utf8')) as { unseen: string[] }).unseen;
  const have = new Set(manifest.split.unseen);
  const same = listed.length === have.size && listed.every((c) => have.has(c));
  return same
    ? null
    : `${cfg.dataset.dir} holds ${have.size} unseen classes that are not the ${protocol} list (${listed.length} classes in ${file}); prepare it with --unseen-file ${file}`;
}

export interface ClassMetrics {
  category: string;
  nQueries: number;
  nGallery: number;
  'mAP@all': number;
  'P@100': number;
  'mAP@200': number;
  'P@200': number;
}

/** Means of the per-query metrics over each query class, sorted by category name. */
export function perClassMetrics(
  m: RetrievalResult,
  qLabels: Int32Array,
  gLabels: Int32Array,
  classes: readonly string[],
): ClassMetrics[] {
  const p100 = m.precisionAt[100]?.perQuery;
  if (!p100) throw new Error('perClassMetrics: the evaluation did not compute P@100');
  const galleryCount = new Map<number, number>();
  for (const l of gLabels) galleryCount.set(l, (galleryCount.get(l) ?? 0) + 1);
  const sums = new Map<number, { n: number; ap: number; p100: number; apK: number; pK: number }>();
  qLabels.forEach((label, i) => {
    let s = sums.get(label);
    if (!s) sums.set(label, (s = { n: 0, ap: 0, p100: 0, apK: 0, pK: 0 }));
    s.n++;
    s.ap += m.apPerQuery[i]!;
    s.p100 += p100[i]!;
    s.apK += m.apAtKPerQuery[i]!;
    s.pK += m.pAtKPerQuery[i]!;
  });
  return [...sums]
    .map(([label, s]) => ({
      category: classes[label] ?? String(label),
      nQueries: s.n,
      nGallery: galleryCount.get(label) ?? 0,
      'mAP@all': s.ap / s.n,
      'P@100': s.p100 / s.n,
      'mAP@200': s.apK / s.n,
      'P@200': s.pK / s.n,
    }))
    .sort((a, b) => (a.category < b.category ? -1 : a.category > b.category ? 1 : 0));
}

/** eval.json `classVectors`: the coverage a reader needs to judge the side information. */
export function classVectorsRecord(v: ClassVectors | null): Record<string, unknown> | null {
  if (!v) return null;
  return {
    source: v.coverage.source,
    format: v.coverage.format,
    dim: v.dim,
    sha256: v.sha256,
    classes: v.classes.length,
    missingClasses: [...v.coverage.missingClasses],
    missingTokens: v.coverage.missingTokens.map((t) => ({ category: t.category, tokens: [...t.tokens] })),
  };
}

export interface Neighbour {
  category: string;
  unseen: boolean;
}

/** class-neighbours.json (see the module comment); `means` are learned-space class means (null = absent). */
export function classNeighbours(
  classes: readonly string[],
  unseen: readonly string[],
  vectors: ClassVectors,
  means: (Float32Array | null)[],
  distance: RetrievalDistance,
  k = 5,
): Record<string, unknown> {
  const isUnseen = new Set(unseen);
  const rows = [];
  for (const name of [...unseen].sort()) {
    const c = classes.indexOf(name);
    if (c < 0) continue;
    const word = classes
      .map((other, j) => ({
        j,
        other,
        similarity: dot(row(vectors.data, c, vectors.dim), row(vectors.data, j, vectors.dim)),
      }))
      .filter((r) => r.j !== c)
      .sort((a, b) => b.similarity - a.similarity || a.j - b.j)
      .slice(0, k)
      .map((r) => ({ category: r.other, unseen: isUnseen.has(r.other), similarity: round(r.similarity) }));
    const mine = means[c];
    const learned = mine
      ? classes
          .map((other, j) => ({ j, other, d: means[j] ? dist(mine, means[j]!, distance) : Infinity }))
          .filter((r) => r.j !== c && Number.isFinite(r.d))
          .sort((a, b) => a.d - b.d || a.j - b.j)
          .slice(0, k)
          .map((r) => ({ category: r.other, unseen: isUnseen.has(r.other), distance: round(r.d) }))
      : [];
    rows.push({ category: name, word, learned });
  }
  return { k, distance, classes: rows };
}

function row(data: Float32Array, i: number, dim: number): Float32Array {
  return data.subarray(i * dim, (i + 1) * dim);
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Euclidean distance, or under `angular` the angle between the two means (as the retrieval ranks). */
function dist(a: Float32Array, b: Float32Array, distance: RetrievalDistance): number {
  if (distance === 'angular') {
    const cos = dot(a, b) / Math.max(Math.sqrt(dot(a, a) * dot(b, b)), 1e-12);
    return Math.acos(Math.min(1, Math.max(-1, cos)));
  }
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

function round(v: number): number {
  return Math.round(v * 1e5) / 1e5;
}

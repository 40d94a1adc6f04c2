/** Pure shaping of run store records and tables into the rows the chart specs take. */
import type { PcaResult } from '../pca';
import type { Embeddings, EvalResult, MetricLine } from '../store/schema';
import type { AblationTable } from '../table/build';
import { displayValue } from '../table/normalize';
import type {
  EpochPoint,
  HistogramBin,
  MapPoint,
  MapSummary,
  PcaPoint,
  PrPoint,
  SeriesPoint,
  StepPoint,
} from './points';

/** Averages consecutive points into at most `max` buckets (keeps curves light in the dashboard). */
export function downsample<T extends { step: number; loss: number }>(points: T[], max = 300): T[] {
  if (points.length <= max) return points;
  const size = points.length / max;
  const out: T[] = [];
  for (let b = 0; b < max; b++) {
    const chunk = points.slice(Math.floor(b * size), Math.floor((b + 1) * size));
    if (!chunk.length) continue;
    const last = chunk[chunk.length - 1];
    out.push({ ...last, loss: chunk.reduce((s, p) => s + p.loss, 0) / chunk.length });
  }
  return out;
}

/**
 * Chart labels of the table rows that fit an axis: block and loss, then only the settings off the usual
 * one (each axis's most common value other than "n/a", ties to the first in row order), "n/a" left out:
 * "SE + MEMS + margin=4" rather than eight settings cut off at the same place. Falls back to the full
 * labels when two rows would read the same.
 */
function usualValues(t: AblationTable): Map<string, string> {
  const usual = new Map<string, string>();
  for (const a of t.rowAxes.filter((x) => x !== 'block' && x !== 'loss')) {
    const counts = new Map<string, number>();
    for (const r of t.rows) if (r.axes[a] !== 'n/a') counts.set(r.axes[a], (counts.get(r.axes[a]) ?? 0) + 1);
    let top: [string, number] | undefined;
    for (const e of counts) if (!top || e[1] > top[1]) top = e;
    if (top) usual.set(a, top[0]);
  }
  return usual;
}

export function shortRowLabels(t: AblationTable): Map<string, string> {
  const usual = usualValues(t);
  const short = t.rows.map((r) =>
    t.rowAxes
      .filter((a) => a === 'block' || a === 'loss' || (r.axes[a] !== 'n/a' && r.axes[a] !== usual.get(a)))
      .map((a) => (a === 'block' || a === 'loss' ? displayValue(a, r.axes[a]) : `${a}=${r.axes[a]}`))
      .join(' + '),
  );
  const unique = new Set(short).size === short.length;
  return new Map(t.rows.map((r, i) => [r.key, unique ? short[i]! : r.label]));
}

/** "otherwise steps=400, margin=2, …": what the short labels leave out, for a subtitle ('' when nothing). */
export function usualSettings(t: AblationTable): string {
  const labels = shortRowLabels(t);
  if (t.rows.every((r) => labels.get(r.key) === r.label)) return '';
  const usual = [...usualValues(t)].map(([a, v]) => `${a}=${v}`);
  return usual.length ? `labels name block, loss and the settings off the usual ${usual.join(', ')}` : '';
}

export function mapChartData(t: AblationTable): {
  points: MapPoint[];
  summary: MapSummary[];
  rows: string[];
  /** every row's block label, in row (= axis) order: what block colours are assigned by */
  blocks: string[];
} {
  const points: MapPoint[] = [];
  const summary: MapSummary[] = [];
  const labels = shortRowLabels(t);
  for (const r of t.rows) {
    const block = displayValue('block', r.axes.block);
    const row = labels.get(r.key)!;
    for (const col of t.columns) {
      if (col.paperOnly) continue;
      const c = r.cells[col.key];
      c.values.forEach((v, i) =>
        points.push({
          row,
          block,
          dataset: col.dataset,
          metric: col.metric,
          seed: c.seeds[i],
          value: v,
        }),
      );
      if (c.mean !== null)
        summary.push({
          row,
          block,
          dataset: col.dataset,
          metric: col.metric,
          mean: c.mean,
          lo: c.mean - (c.std ?? 0),
          hi: c.mean + (c.std ?? 0),
          n: c.n,
          best: c.best,
        });
    }
  }
  const blocks = [...new Set(t.rows.map((r) => displayValue('block', r.axes.block)))];
  return { points, summary, rows: t.rows.map((r) => labels.get(r.key)!), blocks };
}

export function stepPoints(run: string, metrics: MetricLine[], max = 300): StepPoint[] {
  const pts = metrics
    .filter(
      (m) =>
        m.kind === 'step' &&
        typeof m.step === 'number' &&
        typeof m.loss === 'number' &&
        Number.isFinite(m.loss),
    )
    .map((m) => ({ run, step: m.step as number, loss: m.loss as number }));
  return downsample(pts, max);
}

export function epochPoints(
  run: string,
  metrics: MetricLine[],
  names: readonly string[] = ['mAP@all', 'P@200'],
): EpochPoint[] {
  const out: EpochPoint[] = [];
  for (const m of metrics) {
    if (m.kind !== 'epoch' || typeof m.epoch !== 'number') continue;
    for (const n of names) {
      const v = m[n];
      if (typeof v === 'number' && Number.isFinite(v)) out.push({ run, epoch: m.epoch, metric: n, value: v });
    }
  }
  return out;
}

/** Learning rate and images/s per logged step (metrics.jsonl step lines), as one long table. */
export function throughputPoints(run: string, metrics: MetricLine[], max = 300): SeriesPoint[] {
  const out: SeriesPoint[] = [];
  for (const [field, series] of [
    ['lr', 'learning rate'],
    ['imagesPerSec', 'images/s'],
  ] as const) {
    const pts = metrics
      .filter(
        (m) =>
          m.kind === 'step' &&
          typeof m.step === 'number' &&
          typeof m[field] === 'number' &&
          Number.isFinite(m[field]),
      )
      .map((m) => ({ run, series, step: m.step as number, value: m[field] as number }));
    const every = Math.max(1, Math.ceil(pts.length / max));
    out.push(...pts.filter((_, i) => i % every === 0 || i === pts.length - 1));
  }
  return out;
}

export function prPoints(run: string, ev: EvalResult | undefined): PrPoint[] {
  const pr = ev?.pr;
  if (!pr) return [];
  return pr.recall
    .map((r, i) => ({ run, recall: r, precision: pr.precision[i] }))
    .filter((p): p is PrPoint => typeof p.recall === 'number' && typeof p.precision === 'number');
}

/** Histogram counts → fraction of each kind's pairs per bin (intra pairs are far fewer than inter pairs). */
export function histogramBins(run: string, ev: EvalResult | undefined): HistogramBin[] {
  const h = ev?.distanceStats?.histogram;
  if (!h) return [];
  const out: HistogramBin[] = [];
  const kinds: ['intra-class' | 'inter-class', number[]][] = [
    ['intra-class', h.intra],
    ['inter-class', h.inter],
  ];
  for (const [kind, counts] of kinds) {
    const total = counts.reduce((s, c) => s + c, 0) || 1;
    counts.forEach((c, i) =>
      out.push({ run, kind, x0: h.edges[i], x1: h.edges[i + 1], fraction: c / total }),
    );
  }
  return out;
}

type Histogram = { edges: number[]; intra: number[]; inter: number[] };

/** Spreads `counts` over `edges` onto `target` edges, assuming counts are uniform within each bin. */
export function rebin(
  edges: readonly number[],
  counts: readonly number[],
  target: readonly number[],
): number[] {
  const out = new Array<number>(target.length - 1).fill(0);
  for (let i = 0; i < counts.length; i++) {
    const a = edges[i];
    const b = edges[i + 1];
    const c = counts[i];
    if (!c) continue;
    if (b <= a) {
      // a zero-width bin: put it where it falls
      const j = Math.min(
        out.length - 1,
        Math.max(
          0,
          target.findIndex((t, k) => k < out.length && a >= t && a <= target[k + 1]),
        ),
      );
      out[j] += c;
      continue;
    }
    for (let j = 0; j < out.length; j++) {
      const lo = Math.max(a, target[j]);
      const hi = Math.min(b, target[j + 1]);
      if (hi > lo) out[j] += (c * (hi - lo)) / (b - a);
    }
  }
  return out;
}

/**
 * Pools the distance histograms of several runs (e.g. all seeds of a table row). Each run chooses its
 * own edges, so identical edges are summed exactly and different ones are re-binned onto common edges
 * spanning all runs (same number of bins as the widest input); total counts are kept.
 */
export function sumHistograms(evals: (EvalResult | undefined)[]): EvalResult | undefined {
  const hs = evals
    .map((e) => e?.distanceStats?.histogram)
    .filter((h): h is Histogram => !!h && h.edges.length > 1);
  if (!hs.length) return undefined;
  const first = hs[0].edges;
  const same = hs.every(
    (h) => h.edges.length === first.length && h.edges.every((e, i) => Math.abs(e - first[i]) < 1e-12),
  );
  let edges = [...first];
  if (!same) {
    const lo = Math.min(...hs.map((h) => h.edges[0]));
    const hi = Math.max(...hs.map((h) => h.edges[h.edges.length - 1]));
    const bins = Math.max(...hs.map((h) => h.edges.length - 1));
    edges = Array.from({ length: bins + 1 }, (_, i) => lo + ((hi - lo) * i) / bins);
  }
  const pool = (kind: 'intra' | 'inter') =>
    hs
      .map((h) => (same ? h[kind] : rebin(h.edges, h[kind], edges)))
      .reduce((acc, c) => acc.map((x, i) => x + c[i]), new Array<number>(edges.length - 1).fill(0));
  return { distanceStats: { histogram: { edges, intra: pool('intra'), inter: pool('inter') } } };
}

/** Embedding rows whose vector is all finite numbers (a diverged run can write nulls). */
export function finiteRows(emb: Embeddings): { rows: Embeddings['rows']; vectors: number[][] } {
  const rows = emb.rows.filter((r) => r.vector.every((v) => typeof v === 'number' && Number.isFinite(v)));
  return { rows, vectors: rows.map((r) => r.vector as number[]) };
}

export function pcaPoints(emb: Embeddings, result: PcaResult): PcaPoint[] {
  return finiteRows(emb).rows.map((r, i) => ({
    id: r.id,
    category: r.category,
    domain: r.domain,
    pc1: result.projected[i]?.[0] ?? 0,
    pc2: result.projected[i]?.[1] ?? 0,
  }));
}

/** Mean over the given runs per (group, x): used to draw one curve per table row (mean over seeds). */
export function meanBy<T extends object>(points: T[], groupKeys: (keyof T)[], valueKey: keyof T): T[] {
  const acc = new Map<string, { first: T; sum: number; n: number }>();
  for (const p of points) {
    const k = groupKeys.map((g) => String(p[g])).join('\u0000');
    const v = p[valueKey] as unknown as number;
    const e = acc.get(k);
    if (e) {
      e.sum += v;
      e.n++;
    } else acc.set(k, { first: p, sum: v, n: 1 });
  }
  return [...acc.values()].map((e) => ({ ...e.first, [valueKey]: e.sum / e.n }));
}

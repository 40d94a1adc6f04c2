/**
 * buildTable: normalized observations → the ablation table in the paper's shape. Pure.
 * Rows: block × loss × (further row axes); columns: dataset × metric. Each cell holds mean ± sample std
 * over seeds with n, whether it is the best of its column, and Δ against the baseline row with a
 * two-sided paired t-test over the seeds both rows finished. Paper numbers sit beside ours.
 */
import { ReportInputError, message } from '../messages';
import { fmt } from './format';
import type { PaperResult } from '../store/reference';
import { mean, pairedTTest, sampleStd } from '../stats';
import type { PaperValue, StatCell } from './cell';
import { displayValue, rowKeyOf, type NormalizedExperiment, type Observation } from './normalize';

export type { Delta, PaperValue, StatCell } from './cell';

export interface TableColumn {
  key: string;
  dataset: string;
  metric: string;
  /** true when we have no runs on this dataset and the column only carries paper numbers */
  paperOnly: boolean;
}

export interface RowCounts {
  finished: number;
  failed: number;
  running: number;
  queued: number;
  other: number;
}

export interface TableRow {
  key: string;
  axes: Record<string, string>;
  label: string;
  isBaseline: boolean;
  cells: Record<string, StatCell>;
  counts: RowCounts;
}

export interface AblationTable {
  experiment: string;
  experimentName: string;
  rowAxes: string[];
  datasets: string[];
  metrics: string[];
  columns: TableColumn[];
  rows: TableRow[];
  baseline: { spec: Record<string, string>; label: string; found: boolean };
  /** paper results that match no row (other methods, other configurations) */
  paperUnmatched: PaperResult[];
  notes: string[];
}

export interface BuildTableOptions {
  /** the baseline row, as axis → value; axes it leaves out are matched to the compared row */
  baseline?: Record<string, string>;
  reference?: readonly PaperResult[];
}

export const DEFAULT_BASELINE: Record<string, string> = { block: 'se', loss: 'softmax' };

export const columnKey = (dataset: string, metric: string): string => `${dataset}::${metric}`;

/** `block=se,loss=softmax` → { block: 'se', loss: 'softmax' } */
export function parseBaseline(spec: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([^=]+)=(.*)$/.exec(part);
    if (!m) throw new ReportInputError(message.badBaselineSpec(spec), '--baseline');
    out[m[1].trim()] = m[2].trim();
  }
  if (!Object.keys(out).length) throw new ReportInputError(message.badBaselineSpec(spec), '--baseline');
  return out;
}

/** Lower-case alphanumerics, so "TU-Berlin" matches "tuberlin" and "SE" matches "se". */
export const canon = (s: string | null | undefined): string => {
  const c = String(s ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9@]/g, '');
  return c === '' || c === 'no' || c === 'wo' || c === 'without' ? 'none' : c;
};

function counts(obs: Observation[]): RowCounts {
  const c: RowCounts = { finished: 0, failed: 0, running: 0, queued: 0, other: 0 };
  for (const o of obs) {
    if (o.state in c) c[o.state as keyof RowCounts]++;
    else if (o.state === 'interrupted') c.failed++;
    else c.other++;
  }
  return c;
}

function seedOrder(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  return Number.isFinite(na) && Number.isFinite(nb) ? na - nb : a.localeCompare(b);
}

function bySeed(obs: Observation[], metric: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const o of [...obs].sort((a, b) => seedOrder(a.seed, b.seed))) {
    const v = o.metrics[metric];
    if (v !== undefined && !m.has(o.seed)) m.set(o.seed, v);
  }
  return m;
}

function cartesian(axes: string[], values: Record<string, string[]>): Record<string, string>[] {
  return axes.reduce<Record<string, string>[]>(
    (acc, a) =>
      acc.flatMap((partial) =>
        (values[a].length ? values[a] : ['none']).map((v) => ({ ...partial, [a]: v })),
      ),
    [{}],
  );
}

function matchPaper(
  reference: readonly PaperResult[],
  dataset: string,
  metric: string,
  axes: Record<string, string>,
): PaperResult | undefined {
  return reference.find(
    (r) =>
      canon(r.dataset) === canon(dataset) &&
      canon(r.metric) === canon(metric) &&
      canon(r.block) === canon(axes.block) &&
      canon(r.loss) === canon(axes.loss) &&
      typeof r.value === 'number',
  );
}

function toPaperValue(r: PaperResult | undefined): PaperValue | undefined {
  if (!r || typeof r.value !== 'number') return undefined;
  return {
    value: r.value > 1 ? r.value / 100 : r.value,
    reported: r.value,
    table: r.table ?? undefined,
    source: r.source ?? undefined,
    method: r.method ?? undefined,
    backbone: r.backbone ?? undefined,
  };
}

export function rowLabel(rowAxes: readonly string[], axes: Record<string, string>): string {
  return rowAxes
    .map((a) => (a === 'block' || a === 'loss' ? displayValue(a, axes[a]) : `${a}=${axes[a]}`))
    .join(' + ');
}

/** The note on the rows left out because no cell of theirs was ever started. */
function unstartedNote(rows: Observation[][]): string {
  const cells = rows.reduce((n, obs) => n + obs.length, 0);
  return (
    `${rows.length} row(s) left out: none of their ${cells} cells was ever started (queued, attempt 0, ` +
    'no startedAt, no Slurm job), so no run has submitted them yet; they appear once a run picks one up.'
  );
}

export function buildTable(norm: NormalizedExperiment, opts: BuildTableOptions = {}): AblationTable {
  const reference = opts.reference ?? [];
  const notes: string[] = [];
  let spec = opts.baseline ?? DEFAULT_BASELINE;
  for (const a of Object.keys(spec)) {
    if (!norm.rowAxes.includes(a))
      throw new ReportInputError(message.unknownBaselineAxis(a, norm.rowAxes), '--baseline', a);
  }
  // The default baseline (SE + softmax) in a grid that fixes the block, e.g. a loss sweep on DASE:
  // drop the condition on an axis with a single value, so softmax on that block is the baseline.
  if (!opts.baseline) {
    const present = (sp: Record<string, string>) =>
      norm.observations.some((o) => Object.entries(sp).every(([a, v]) => canon(o.rowAxes[a]) === canon(v)));
    if (!present(spec)) {
      const relaxed = Object.fromEntries(
        Object.entries(spec).filter(([a]) => (norm.rowAxisValues[a] ?? []).length > 1),
      );
      if (Object.keys(relaxed).length && present(relaxed)) spec = relaxed;
    }
  }

  // rows: every combination of row-axis values that has at least one cell some run picked up, in axis
  // order; a row of cells never started (a grid run in pieces) is no result yet and would only pad the table
  const byRow = new Map<string, Observation[]>();
  for (const o of norm.observations) byRow.set(o.rowKey, [...(byRow.get(o.rowKey) ?? []), o]);
  const unstarted = [...byRow].filter(([, obs]) => !obs.some((o) => o.started));
  for (const [key] of unstarted) byRow.delete(key);
  if (unstarted.length) notes.push(unstartedNote(unstarted.map(([, obs]) => obs)));
  const rowAxesValues = cartesian(norm.rowAxes, norm.rowAxisValues).filter((v) =>
    byRow.has(rowKeyOf(norm.rowAxes, v)),
  );

  // columns: our datasets, then datasets only the paper has (for the rows we can match)
  const columns: TableColumn[] = [];
  for (const d of norm.datasets)
    for (const m of norm.metrics)
      columns.push({ key: columnKey(d, m), dataset: d, metric: m, paperOnly: false });
  const ours = new Set(norm.datasets.map(canon));
  const paperDatasets: string[] = [];
  for (const r of reference) {
    if (typeof r.value !== 'number' || ours.has(canon(r.dataset))) continue;
    if (!rowAxesValues.some((v) => canon(r.block) === canon(v.block) && canon(r.loss) === canon(v.loss)))
      continue;
    if (!norm.metrics.some((m) => canon(m) === canon(r.metric))) continue;
    if (!paperDatasets.some((d) => canon(d) === canon(r.dataset))) paperDatasets.push(r.dataset);
  }
  for (const d of paperDatasets)
    for (const m of norm.metrics)
      columns.push({ key: columnKey(d, m), dataset: d, metric: m, paperOnly: true });

  const baselineMatches = rowAxesValues.filter((v) =>
    Object.entries(spec).every(([a, val]) => canon(v[a]) === canon(val)),
  );
  const baselineFor = (axes: Record<string, string>): Record<string, string> | undefined => {
    let best: Record<string, string> | undefined;
    let score = -1;
    for (const b of baselineMatches) {
      const s = norm.rowAxes.filter((a) => !(a in spec) && b[a] === axes[a]).length;
      if (s > score) {
        best = b;
        score = s;
      }
    }
    return best;
  };
  const baselineLabel = rowLabel(
    Object.keys(spec),
    Object.fromEntries(Object.entries(spec).map(([a, v]) => [a, baselineMatches[0]?.[a] ?? v])),
  );
  if (!baselineMatches.length)
    notes.push(`No baseline row (${baselineLabel}) in this grid: Δ and p are not shown.`);

  const usedReference = new Set<PaperResult>();
  const rows: TableRow[] = rowAxesValues.map((axes) => {
    const key = rowKeyOf(norm.rowAxes, axes);
    const obs = byRow.get(key) ?? [];
    const base = baselineFor(axes);
    const isBaseline = !!base && rowKeyOf(norm.rowAxes, base) === key;
    const baseObs = base ? (byRow.get(rowKeyOf(norm.rowAxes, base)) ?? []) : [];
    const cells: Record<string, StatCell> = {};
    for (const col of columns) {
      const paperRes = matchPaper(reference, col.dataset, col.metric, axes);
      if (paperRes) usedReference.add(paperRes);
      const paper = toPaperValue(paperRes);
      if (col.paperOnly) {
        cells[col.key] = { values: [], seeds: [], n: 0, mean: null, std: null, best: false, paper };
        continue;
      }
      const mine = bySeed(
        obs.filter((o) => o.dataset === col.dataset),
        col.metric,
      );
      const seeds = [...mine.keys()];
      const values = seeds.map((s) => mine.get(s) as number);
      const cell: StatCell = {
        values,
        seeds,
        n: values.length,
        mean: mean(values),
        std: sampleStd(values),
        best: false,
        paper,
      };
      if (base && !isBaseline) {
        const theirs = bySeed(
          baseObs.filter((o) => o.dataset === col.dataset),
          col.metric,
        );
        const paired = seeds.filter((s) => theirs.has(s));
        const t = pairedTTest(
          paired.map((s) => mine.get(s) as number),
          paired.map((s) => theirs.get(s) as number),
        );
        cell.delta = { meanDiff: t.meanDiff, n: t.n, t: t.t, df: t.df, p: t.p, seeds: paired };
      }
      cells[col.key] = cell;
    }
    return { key, axes, label: rowLabel(norm.rowAxes, axes), isBaseline, cells, counts: counts(obs) };
  });

  // best per column: the highest mean (every metric here is higher-is-better); ties all marked
  for (const col of columns) {
    const means = rows.map((r) => r.cells[col.key].mean).filter((m): m is number => m !== null);
    if (!means.length) continue;
    // a tie at the shown precision is a tie: every entry that prints as the best is bold
    const top = fmt(Math.max(...means));
    for (const r of rows) if (fmt(r.cells[col.key].mean) === top) r.cells[col.key].best = true;
  }

  const paperUnmatched = reference.filter((r) => !usedReference.has(r));
  if ([...usedReference].some((r) => typeof r.value === 'number' && r.value > 1))
    notes.push('Paper values given in percent were divided by 100 to match our scale.');
  return {
    experiment: norm.id,
    experimentName: norm.name,
    rowAxes: norm.rowAxes,
    datasets: norm.datasets,
    metrics: norm.metrics,
    columns,
    rows,
    baseline: { spec, label: baselineLabel, found: baselineMatches.length > 0 },
    paperUnmatched,
    notes,
  };
}

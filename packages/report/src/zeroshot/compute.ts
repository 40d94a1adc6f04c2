/**
 * The zero-shot section's view model (issue 19): for the finished cells whose eval.json names a
 * zero-shot protocol, one table per (dataset, protocol) of the protocol's own metrics per row setting
 * (mean ± std over seeds, 95 % t interval), the claims of experiment.json tested on paired seeds, the
 * word-vector coverage per dataset and the class-neighbour picture. Pure but for the one injected
 * reader of class-neighbours.json. The statistics are the sensitivity section's (paired t-test, t
 * interval, Holm, verdict), imported, not copied.
 */
import { verdictOf, type PairedDiff, type Verdict } from '../sensitivity/compute';
import { holmAdjust, tInterval } from '../sensitivity/stats';
import { mean, pairedTTest, sampleStd } from '../stats';
import type { CellRecord, ExperimentRecord } from '../store/read';
import type { ClassNeighbours, ClassVectors, PerClass, Protocol } from '../store/schema';
import { cellAxisValue, displayValue, orderValues } from '../table/normalize';
import { safeSegment } from '../util/html';
import { claimSentence } from './sentence';

/**
 * Axes that never make a row: a table is per dataset, seeds are what the mean is over, and a grid axis
 * named `protocol` is already the table's caption.
 */
const NOT_ROW_AXES = new Set(['seed', 'dataset', 'protocol']);

/** A metric as the protocol's paper spells it (SEM-PCYC writes Prec@100); others print as stored. */
const METRIC_SPELLING: Record<string, Record<string, string>> = { 'sem-pcyc': { 'P@100': 'Prec@100' } };
export const metricLabel = (protocol: string, metric: string): string =>
  METRIC_SPELLING[protocol]?.[metric] ?? metric;

/** "a, b and c" */
export const and = (xs: string[]): string => xs.join(', ').replace(/, ([^,]*)$/, ' and $1');

/** One finished zero-shot cell. */
export interface ZsSample {
  cell: CellRecord;
  dataset: string;
  seed: string;
  /** row axis → stored value */
  axes: Record<string, string>;
  rowKey: string;
  protocol: Protocol;
  /** the protocol's metrics, where eval.json has a finite number */
  values: Record<string, number | undefined>;
  perClass: PerClass[];
  classVectors: ClassVectors | null;
}

export interface ZsStat {
  metric: string;
  n: number;
  mean: number | null;
  std: number | null;
  ci: [number, number] | null;
  seeds: string[];
  values: number[];
}

export interface ZsRow {
  key: string;
  /** row axis → stored value */
  axes: Record<string, string>;
  /** the values as printed, joined by " · " ("all" for a grid without row axes) */
  label: string;
  /** one per protocol metric, in the protocol's order */
  stats: ZsStat[];
  cells: ZsSample[];
}

export interface ZsTable {
  /** a file-safe name: dataset-protocol (with -2, -3 ... when one dataset has two unseen lists) */
  id: string;
  dataset: string;
  protocol: Protocol;
  rows: ZsRow[];
  /** distinct seeds of its cells */
  seeds: string[];
  caption: string;
}

export interface ZsTables {
  rowAxes: string[];
  tables: ZsTable[];
  samples: ZsSample[];
  notes: string[];
}

const bySeed = (a: string, b: string): number => Number(a) - Number(b) || a.localeCompare(b);

/** The protocol's metric in a finished cell's eval.json, if it is a finite number. */
function metricValue(c: CellRecord, metric: string): number | undefined {
  const v = (c.eval as Record<string, unknown> | undefined)?.[metric];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function rowAxesOf(exp: ExperimentRecord): string[] {
  const declared = Object.keys(exp.meta.axes ?? {});
  const held = exp.cells.flatMap((c) => Object.keys(c.config?.axes ?? {}));
  return [...new Set([...declared, ...held])].filter((a) => !NOT_ROW_AXES.has(a));
}

function sampleOf(c: CellRecord, rowAxes: string[]): ZsSample | undefined {
  const protocol = c.eval?.protocol;
  if (c.stale || !c.config || c.status.state !== 'finished' || !protocol) return undefined;
  const axes = Object.fromEntries(rowAxes.map((a) => [a, cellAxisValue(c, a)]));
  return {
    cell: c,
    dataset: cellAxisValue(c, 'dataset'),
    seed: cellAxisValue(c, 'seed'),
    axes,
    rowKey: rowAxes.map((a) => `${a}=${axes[a]}`).join('|'),
    protocol,
    values: Object.fromEntries(protocol.metrics.map((m) => [m, metricValue(c, m)])),
    perClass: c.eval?.perClass ?? [],
    classVectors: c.eval?.classVectors ?? null,
  };
}

/** Cells of different protocols (name, metrics or unseen classes) never share a table. */
const protocolKey = (p: Protocol): string => JSON.stringify([p.name, p.metrics, [...p.unseen].sort()]);

function statOf(metric: string, cells: ZsSample[]): ZsStat {
  const got = cells.filter((s) => s.values[metric] !== undefined).sort((a, b) => bySeed(a.seed, b.seed));
  const values = got.map((s) => s.values[metric] as number);
  const m = mean(values);
  const std = sampleStd(values);
  return {
    metric,
    n: values.length,
    mean: m,
    std,
    ci: tInterval(values.length, m, std),
    seeds: got.map((s) => s.seed),
    values,
  };
}

/** Rows in the order of each axis's values (experiment.json's order first), axis by axis. */
function rowsOf(cells: ZsSample[], rowAxes: string[], exp: ExperimentRecord, metrics: string[]): ZsRow[] {
  const order = Object.fromEntries(
    rowAxes.map((a) => [a, orderValues(a, exp.meta.axes?.[a], [...new Set(cells.map((s) => s.axes[a]!))])]),
  );
  const groups = new Map<string, ZsSample[]>();
  for (const s of cells) groups.set(s.rowKey, [...(groups.get(s.rowKey) ?? []), s]);
  const rank = (s: ZsSample) => rowAxes.map((a) => order[a]!.indexOf(s.axes[a]!));
  const rows = [...groups.values()].map((g) => ({
    key: g[0]!.rowKey,
    axes: g[0]!.axes,
    label: rowAxes.length ? rowAxes.map((a) => displayValue(a, g[0]!.axes[a]!)).join(' · ') : 'all',
    stats: metrics.map((m) => statOf(m, g)),
    cells: g,
    rank: rank(g[0]!),
  }));
  rows.sort((a, b) => {
    const i = a.rank.findIndex((x, k) => x !== b.rank[k]);
    return i < 0 ? 0 : a.rank[i]! - b.rank[i]!;
  });
  return rows.map(({ rank: _rank, ...r }) => r);
}

function caption(dataset: string, p: Protocol, seeds: number): string {
  const metrics = and(p.metrics.map((m) => metricLabel(p.name, m)));
  return (
    `Zero-shot retrieval on ${p.unseen.length} unseen classes (${dataset}), protocol ${p.name}: ` +
    `${metrics}, mean ± std over ${seeds} seed${seeds === 1 ? '' : 's'}`
  );
}

/** The tables of an experiment; undefined when no finished cell has a zero-shot protocol. */
export function zeroShotTables(exp: ExperimentRecord): ZsTables | undefined {
  const rowAxes = rowAxesOf(exp);
  const samples = exp.cells.flatMap((c) => sampleOf(c, rowAxes) ?? []);
  if (!samples.length) return undefined;
  const groups = new Map<string, ZsSample[]>();
  for (const s of samples) {
    const key = JSON.stringify([s.dataset, protocolKey(s.protocol)]);
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  const datasets = orderValues('dataset', exp.meta.axes?.dataset, [
    ...new Set(samples.map((s) => s.dataset)),
  ]);
  const ids = new Map<string, number>();
  const tables = [...groups.values()]
    .sort(
      (a, b) =>
        datasets.indexOf(a[0]!.dataset) - datasets.indexOf(b[0]!.dataset) ||
        a[0]!.protocol.name.localeCompare(b[0]!.protocol.name),
    )
    .map((cells) => {
      const { dataset, protocol } = cells[0]!;
      const base = `${safeSegment(dataset)}-${safeSegment(protocol.name)}`;
      const k = (ids.get(base) ?? 0) + 1;
      ids.set(base, k);
      const seeds = [...new Set(cells.map((s) => s.seed))].sort(bySeed);
      return {
        id: k === 1 ? base : `${base}-${k}`,
        dataset,
        protocol,
        rows: rowsOf(cells, rowAxes, exp, protocol.metrics),
        seeds,
        caption: caption(dataset, protocol, seeds.length),
      };
    });
  return { rowAxes, tables, samples, notes: tableNotes(exp, tables) };
}

function tableNotes(exp: ExperimentRecord, tables: ZsTable[]): string[] {
  const notes: string[] = [];
  const finished = exp.cells.filter((c) => c.status.state === 'finished' && c.config);
  const plain = finished.filter((c) => !c.stale && !c.eval?.protocol).length;
  if (plain)
    notes.push(
      `${plain} finished cell(s) have no zero-shot protocol (a category split) and are left out of this section.`,
    );
  const stale = finished.filter((c) => c.stale && c.eval?.protocol).length;
  if (stale) notes.push(`${stale} stale zero-shot cell(s) are left out: they belong to an earlier grid.`);
  for (const [d, ts] of groupBy(tables, (t) => t.dataset))
    if (ts.length > 1)
      notes.push(
        `${d}: ${ts.length} protocols (${and(ts.map((t) => t.protocol.name))}), one table each; never pooled.`,
      );
  return notes;
}

function groupBy<T>(xs: T[], key: (x: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of xs) out.set(key(x), [...(out.get(key(x)) ?? []), x]);
  return out;
}

export interface ZsComparison extends PairedDiff {
  axis: string;
  baseline: string;
  treatment: string;
  /** "SSGN > DASE-SOFTMAX": the values as printed */
  label: string;
  tableId: string;
  dataset: string;
  protocol: string;
  /** the protocol's first metric, as stored and as printed */
  metric: string;
  metricLabel: string;
  /** the other row axes, as printed ("" when the claim's axis is the only one) */
  otherLabel: string;
  /** m of the Holm correction over the claim's comparisons with a test (pAdjusted = p when 1) */
  family: number;
  verdict: Verdict;
  sentence: string;
}

type Claim = { axis: string; baseline: string; treatment: string };
/** A comparison before the correction over its claim's family, which gives the rest. */
type Measured = Omit<ZsComparison, 'pAdjusted' | 'family' | 'verdict' | 'sentence'>;

/** One seed's cell of a row, or null when the row holds two cells of that seed (not paired). */
function cellsBySeed(row: ZsRow): Map<string, ZsSample | null> {
  const out = new Map<string, ZsSample | null>();
  for (const s of row.cells) out.set(s.seed, out.has(s.seed) ? null : s);
  return out;
}

function compare(claim: Claim, t: ZsTable, treated: ZsRow, base: ZsRow, rowAxes: string[]): Measured {
  const metric = t.protocol.metrics[0]!;
  const a = cellsBySeed(treated);
  const b = cellsBySeed(base);
  const seeds = [...a.keys()]
    .filter((s) => a.get(s)?.values[metric] !== undefined && b.get(s)?.values[metric] !== undefined)
    .sort(bySeed);
  const ta = seeds.map((s) => a.get(s)!.values[metric] as number);
  const tb = seeds.map((s) => b.get(s)!.values[metric] as number);
  const test = pairedTTest(ta, tb);
  const other = rowAxes.filter((x) => x !== claim.axis);
  return {
    ...claim,
    label: `${displayValue(claim.axis, claim.treatment)} > ${displayValue(claim.axis, claim.baseline)}`,
    tableId: t.id,
    dataset: t.dataset,
    protocol: t.protocol.name,
    metric,
    metricLabel: metricLabel(t.protocol.name, metric),
    otherLabel: other.map((x) => `${x}=${displayValue(x, treated.axes[x]!)}`).join(', '),
    seeds,
    diffs: ta.map((x, i) => x - tb[i]!),
    n: test.n,
    mean: test.meanDiff,
    sd: test.sdDiff,
    ci: tInterval(test.n, test.meanDiff, test.sdDiff),
    p: test.p,
  };
}

/** Every (table, other setting) where the claim's treatment and baseline rows both exist. */
function comparisonsOf(claim: Claim, tables: ZsTable[], rowAxes: string[]): Measured[] {
  const other = rowAxes.filter((x) => x !== claim.axis);
  const otherKey = (r: ZsRow) => other.map((x) => r.axes[x]).join('\u0000');
  return tables.flatMap((t) =>
    t.rows
      .filter((r) => r.axes[claim.axis] === claim.treatment)
      .flatMap((r) => {
        const base = t.rows.find((b) => b.axes[claim.axis] === claim.baseline && otherKey(b) === otherKey(r));
        return base ? [compare(claim, t, r, base, rowAxes)] : [];
      }),
  );
}

/** The claims of experiment.json, each tested wherever both its rows exist; Holm within each claim. */
export function zeroShotClaims(
  exp: ExperimentRecord,
  z: ZsTables,
): { comparisons: ZsComparison[]; notes: string[] } {
  const notes: string[] = [];
  const comparisons = (exp.meta.claims ?? []).flatMap((raw) => {
    const claim = { axis: raw.axis, baseline: String(raw.baseline), treatment: String(raw.treatment) };
    const label = `${displayValue(claim.axis, claim.treatment)} > ${displayValue(claim.axis, claim.baseline)}`;
    if (!z.rowAxes.includes(claim.axis)) {
      notes.push(
        `Claim ${label}: ${claim.axis} is not a grid axis of ${exp.meta.name}, so it is not tested.`,
      );
      return [];
    }
    const cs = comparisonsOf(claim, z.tables, z.rowAxes);
    if (!cs.length)
      notes.push(
        `Claim ${label}: no table has both rows (${claim.axis}=${claim.treatment} and ${claim.axis}=${claim.baseline}).`,
      );
    const adjusted = holmAdjust(cs.map((c) => c.p));
    const family = adjusted.filter((p) => p !== null).length;
    return cs.map((c, i) => {
      const done = { ...c, pAdjusted: adjusted[i]!, family, verdict: verdictOf(adjusted[i]!, c.mean) };
      return { ...done, sentence: claimSentence(done) };
    });
  });
  return { comparisons, notes };
}

export interface ZsCoverageVariant {
  vectors: ClassVectors;
  /** cells of the dataset recording exactly these vectors */
  cells: number;
}

export interface ZsCoverage {
  dataset: string;
  variants: ZsCoverageVariant[];
  /** zero-shot cells of the dataset that record no class vectors */
  without: number;
}

/** A value's JSON with object keys sorted: equal records give equal keys whatever their order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** The class vectors of each dataset's cells: one variant when they agree, each of them when not. */
export function zeroShotCoverage(z: ZsTables): ZsCoverage[] {
  return [...groupBy(z.samples, (s) => s.dataset)].map(([dataset, cells]) => {
    const variants = new Map<string, ZsCoverageVariant>();
    for (const s of cells) {
      if (!s.classVectors) continue;
      const key = canonical(s.classVectors);
      const v = variants.get(key) ?? { vectors: s.classVectors, cells: 0 };
      v.cells += 1;
      variants.set(key, v);
    }
    return {
      dataset,
      variants: [...variants.values()],
      without: cells.filter((s) => !s.classVectors).length,
    };
  });
}

export interface ZsNeighbourClass {
  category: string;
  word: { category: string; unseen: boolean; similarity: number }[];
  learned: { category: string; unseen: boolean; distance: number }[];
  /** classes in both lists, of the longer list's length */
  shared: number;
  of: number;
}

export interface ZsNeighbours {
  tableId: string;
  dataset: string;
  protocol: string;
  /** the cell the picture is read from; undefined when no cell of the chosen row has the file */
  source?: { cellId: string; row: string; seed: string };
  row: string;
  /** why this row: the first claim's treatment, or the table's first row */
  why: string;
  k?: number;
  distance?: string;
  classes: ZsNeighbourClass[];
}

export type NeighbourReader = (cell: CellRecord) => ClassNeighbours | undefined;

/** The first claim's treatment row of the table, else its first row. */
function neighbourRow(t: ZsTable, claim: Claim | undefined): { row: ZsRow; why: string } {
  const treated = claim && t.rows.find((r) => r.axes[claim.axis] === claim.treatment);
  if (treated)
    return {
      row: treated,
      why: `the first claim's treatment (${claim.axis}=${displayValue(claim.axis, claim.treatment)})`,
    };
  return {
    row: t.rows[0]!,
    why: claim
      ? "the table's first row (the first claim's treatment is not in it)"
      : "the table's first row (no claims)",
  };
}

function neighbourClass(c: ClassNeighbours['classes'][number]): ZsNeighbourClass {
  const learned = new Set(c.learned.map((n) => n.category));
  return {
    category: c.category,
    word: c.word.map((n) => ({ category: n.category, unseen: n.unseen, similarity: n.similarity })),
    learned: c.learned.map((n) => ({ category: n.category, unseen: n.unseen, distance: n.distance })),
    shared: new Set(c.word.map((n) => n.category).filter((x) => learned.has(x))).size,
    of: Math.max(c.word.length, c.learned.length),
  };
}

/** The neighbour picture of each table, from the lowest seed of its chosen row that has the file. */
export function zeroShotNeighbours(
  exp: ExperimentRecord,
  z: ZsTables,
  read: NeighbourReader,
): ZsNeighbours[] {
  const first = exp.meta.claims?.[0];
  const claim = first && {
    axis: first.axis,
    baseline: String(first.baseline),
    treatment: String(first.treatment),
  };
  return z.tables.map((t) => {
    const { row, why } = neighbourRow(t, claim);
    const base = {
      tableId: t.id,
      dataset: t.dataset,
      protocol: t.protocol.name,
      row: row.label,
      why,
      classes: [],
    };
    for (const s of [...row.cells].sort((a, b) => bySeed(a.seed, b.seed))) {
      const file = read(s.cell);
      if (!file) continue;
      return {
        ...base,
        source: { cellId: s.cell.cellId, row: row.label, seed: s.seed },
        k: file.k,
        distance: file.distance,
        classes: [...file.classes].sort((a, b) => a.category.localeCompare(b.category)).map(neighbourClass),
      };
    }
    return base;
  });
}

export interface ZeroShotView {
  rowAxes: string[];
  tables: ZsTable[];
  claims: ZsComparison[];
  coverage: ZsCoverage[];
  neighbours: ZsNeighbours[];
  notes: string[];
}

/** The section's view of an experiment; undefined when no finished cell names a zero-shot protocol. */
export function computeZeroShot(exp: ExperimentRecord, read: NeighbourReader): ZeroShotView | undefined {
  const z = zeroShotTables(exp);
  if (!z) return undefined;
  const { comparisons, notes } = zeroShotClaims(exp, z);
  return {
    rowAxes: z.rowAxes,
    tables: z.tables,
    claims: comparisons,
    coverage: zeroShotCoverage(z),
    neighbours: zeroShotNeighbours(exp, z, read),
    notes: [...z.notes, ...notes],
  };
}

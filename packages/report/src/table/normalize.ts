/**
 * normalize: run store records → one flat observation per cell, with the table's row axes resolved.
 * Pure. Row axes are every grid axis except `dataset` and `seed`, with `block` and `loss` always
 * present (taken from the config when they are not grid axes) and first, in the paper's order.
 */
import type { CellRecord, ExperimentRecord } from '../store/read';
import type { AxisValue } from '../store/schema';

export const DEFAULT_METRICS = ['mAP@all', 'P@200'] as const;
/** Table metric names that are not top-level fields of eval.json, and where they are read. */
export const HAMMING_METRIC = 'Hamming mAP@all';
const NESTED_METRICS: Record<string, (e: NonNullable<CellRecord['eval']>) => unknown> = {
  [HAMMING_METRIC]: (e) => e.hamming?.['mAP@all'],
};

/** The column of one code length of eval.json `hammingByBits`: `Hamming mAP@all (64 bits)`. */
export const hammingBitsMetric = (bits: number): string => `${HAMMING_METRIC} (${bits} bits)`;
const BITS_METRIC = /^Hamming mAP@all \((\d+) bits\)$/;

/** A metric's value in eval.json: a top-level field, `hamming`, or one length of `hammingByBits`. */
function metricValue(e: NonNullable<CellRecord['eval']>, k: string): unknown {
  if (NESTED_METRICS[k]) return NESTED_METRICS[k](e);
  const bits = BITS_METRIC.exec(k);
  if (bits) return e.hammingByBits?.find((h) => h.bits === Number(bits[1]))?.['mAP@all'];
  return e[k];
}

/**
 * The table's metrics: mAP@all and P@200, plus Hamming mAP@all when a finished cell has binary codes:
 * one column per code length when cells evaluated several (`hammingByBits`, shortest first), else the
 * one `hamming` column.
 */
export function metricsFor(exp: ExperimentRecord): string[] {
  const finished = exp.cells.filter((c) => c.status.state === 'finished');
  const lengths = [
    ...new Set(finished.flatMap((c) => (c.eval?.hammingByBits ?? []).map((h) => h.bits))),
  ].filter((b): b is number => typeof b === 'number');
  if (lengths.length) return [...DEFAULT_METRICS, ...lengths.sort((a, b) => a - b).map(hammingBitsMetric)];
  const hamming = finished.some((c) => typeof c.eval?.hamming?.['mAP@all'] === 'number');
  return hamming ? [...DEFAULT_METRICS, HAMMING_METRIC] : [...DEFAULT_METRICS];
}
const NON_ROW_AXES = new Set(['dataset', 'seed']);
/** Row axis added when stale cells are shown: `current`, or `stale-<k>` per distinct earlier config. */
export const CELL_SET_AXIS = 'cell set';

/** The settings of a cell apart from its seed and dataset: cells of one table row share them. */
const NOT_ROW_CONFIG = new Set(['seed', 'dataset', 'cellId', 'axes', 'overrides', 'experiment']);

function rowConfigKey(c: CellRecord): string {
  const rest = Object.fromEntries(
    Object.entries((c.config ?? {}) as Record<string, unknown>).filter(([k]) => !NOT_ROW_CONFIG.has(k)),
  );
  return JSON.stringify(rest, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : v,
  );
}

/**
 * `current` for cells of the current set. A stale cell is labelled by the last earlier cell set that
 * held it (`set k`: entry k of experiment.json's `history`; within one set the axes tell cells apart),
 * else, in a store without that history, `stale-1`, `stale-2`, ... by distinct settings (seed and
 * dataset aside). Either way a seed's slot is never filled by a cell of another config.
 */
function cellSetLabels(cells: readonly CellRecord[], history: unknown): Map<string, string> {
  const sets = Array.isArray(history)
    ? history.map((h) => new Set<string>(Array.isArray(h?.cells) ? (h.cells as string[]) : []))
    : [];
  const keys = new Map<string, string>();
  const out = new Map<string, string>();
  for (const c of cells) {
    if (!c.stale) {
      out.set(c.cellId, 'current');
      continue;
    }
    let k = sets.length - 1;
    while (k >= 0 && !sets[k]!.has(c.cellId)) k--;
    if (k >= 0) {
      out.set(c.cellId, `set ${k + 1}`);
      continue;
    }
    const key = rowConfigKey(c);
    if (!keys.has(key)) keys.set(key, `stale-${keys.size + 1}`);
    out.set(c.cellId, keys.get(key)!);
  }
  return out;
}
/**
 * The paper's order of the block and loss values, used only for values experiment.json does not declare
 * (its declared order comes first); a value not listed sorts after these, so a new one needs no entry.
 */
const PREFERRED_ORDER: Record<string, string[]> = {
  block: ['none', 'se', 'dase'],
  loss: ['softmax', 'euclidean-softmax', 'mems'],
};

export interface Observation {
  cellId: string;
  /** human label, e.g. "DASE · MEMS · emoji · seed 0" (or config.name) */
  label: string;
  state: string;
  /**
   * whether any run ever picked the cell up: not queued, or queued again after an attempt, or handed to
   * Slurm. A queued cell with attempt 0, no startedAt and no Slurm job was only listed by a dry run or
   * by a grid that no command has run yet.
   */
  started: boolean;
  dataset: string;
  seed: string;
  /** value of each row axis, as a string */
  rowAxes: Record<string, string>;
  rowKey: string;
  /** all grid axes of the cell, as written by the trainer */
  axes: Record<string, AxisValue>;
  /** final metrics from eval.json (finished cells only) */
  metrics: Record<string, number | undefined>;
}

export interface NormalizedExperiment {
  id: string;
  name: string;
  description?: string;
  rowAxes: string[];
  /** ordered distinct values per row axis */
  rowAxisValues: Record<string, string[]>;
  datasets: string[];
  seeds: string[];
  metrics: string[];
  observations: Observation[];
  /** cells without a config.json yet (listed, not started) */
  pending: string[];
}

export const axisString = (v: AxisValue | undefined): string =>
  v === undefined || v === null ? 'none' : String(v);

/** Canonical key of a row: `axis=value` pairs joined by `|`, in row-axis order. */
export const rowKeyOf = (rowAxes: readonly string[], values: Record<string, string>): string =>
  rowAxes.map((a) => `${a}=${values[a]}`).join('|');

/**
 * Loss names whose published spelling is not the store's value (the paper's MEMS, CosFace, ArcFace);
 * every other loss prints as its value.
 */
const LOSS_SPELLING: Record<string, string> = { mems: 'MEMS', cosface: 'CosFace', arcface: 'ArcFace' };

/**
 * How each axis's values print in tables and charts, one rule per axis (others print as stored). A block
 * is an acronym (se → SE, dase → DASE, a new cbam → CBAM), so a new block needs no entry; `none` is
 * the store's "no attention block".
 */
const VALUE_LABELS: Record<string, (value: string) => string> = {
  block: (v) => (v.toLowerCase() === 'none' ? 'none' : v.toUpperCase()),
  loss: (v) => LOSS_SPELLING[v.toLowerCase()] ?? v,
};

/** How an axis value is printed in tables and charts (SE, DASE, MEMS, ...). */
export function displayValue(axis: string, value: string): string {
  return VALUE_LABELS[axis]?.(value) ?? value;
}

export function displayAxis(axis: string): string {
  return axis.length ? axis[0].toUpperCase() + axis.slice(1) : axis;
}

/** A cell's value of a grid axis; block, loss, dataset and seed fall back to the config. */
export function cellAxisValue(cell: CellRecord, axis: string): string {
  const axes = cell.config?.axes ?? {};
  if (axis in axes) return axisString(axes[axis]);
  if (axis === 'block') return axisString(cell.config?.model?.block);
  if (axis === 'loss') return axisString(cell.config?.loss?.name);
  if (axis === 'dataset') return axisString(cell.config?.dataset?.name ?? 'default');
  if (axis === 'seed') return axisString(cell.config?.seed ?? 0);
  return 'none';
}

/** An axis's values in experiment.json's declared order, then the paper's order, then as seen. */
export function orderValues(axis: string, declared: AxisValue[] | undefined, seen: string[]): string[] {
  const out: string[] = [];
  const push = (v: string) => {
    if (!out.includes(v)) out.push(v);
  };
  if (declared)
    declared
      .map(axisString)
      .filter((v) => seen.includes(v))
      .forEach(push);
  const pref = PREFERRED_ORDER[axis];
  const rest = seen.filter((v) => !out.includes(v));
  if (pref) rest.sort((a, b) => (pref.indexOf(a) + 1 || 99) - (pref.indexOf(b) + 1 || 99));
  rest.forEach(push);
  return out;
}

export function runLabel(
  axes: Record<string, string>,
  rowAxes: readonly string[],
  dataset: string,
  seed: string,
): string {
  return [...rowAxes.map((a) => displayValue(a, axes[a])), dataset, `seed ${seed}`].join(' · ');
}

export const everStarted = (c: CellRecord): boolean =>
  c.status.state !== 'queued' ||
  (c.status.attempt ?? 0) > 0 ||
  !!c.status.startedAt ||
  !!c.status.slurm?.jobId;

export function normalize(
  exp: ExperimentRecord,
  metrics: readonly string[] = DEFAULT_METRICS,
): NormalizedExperiment {
  const configured = exp.cells.filter((c) => c.config);
  const declaredAxes = Object.keys(exp.meta.axes ?? {});
  const cellAxes = configured.flatMap((c) => Object.keys(c.config?.axes ?? {}));
  const gridAxes = [...new Set([...declaredAxes, ...cellAxes])];
  const others = gridAxes.filter((a) => !NON_ROW_AXES.has(a) && a !== 'block' && a !== 'loss');
  const withStale = configured.some((c) => c.stale);
  const rowAxes = ['block', 'loss', ...others, ...(withStale ? [CELL_SET_AXIS] : [])];
  const cellSets = cellSetLabels(configured, (exp.meta as { history?: unknown }).history);
  const axisValue = (c: CellRecord, a: string): string =>
    a === CELL_SET_AXIS ? (cellSets.get(c.cellId) ?? 'current') : cellAxisValue(c, a);

  const rowAxisValues: Record<string, string[]> = {};
  for (const a of rowAxes) {
    const seen = [...new Set(configured.map((c) => axisValue(c, a)))];
    // the current set first, then earlier sets oldest first
    if (a === CELL_SET_AXIS)
      seen.sort((x, y) =>
        x === 'current' ? -1 : y === 'current' ? 1 : x.localeCompare(y, 'en', { numeric: true }),
      );
    rowAxisValues[a] = orderValues(a, exp.meta.axes?.[a], seen);
  }
  const datasets = orderValues('dataset', exp.meta.axes?.dataset, [
    ...new Set(configured.map((c) => cellAxisValue(c, 'dataset'))),
  ]);
  const seedsSeen = [...new Set(configured.map((c) => cellAxisValue(c, 'seed')))];
  const seeds = orderValues(
    'seed',
    exp.meta.axes?.seed,
    seedsSeen.sort((a, b) => Number(a) - Number(b) || a.localeCompare(b)),
  );

  const observations: Observation[] = configured.map((c) => {
    const values = Object.fromEntries(rowAxes.map((a) => [a, axisValue(c, a)]));
    const dataset = cellAxisValue(c, 'dataset');
    const seed = cellAxisValue(c, 'seed');
    const finished = c.status.state === 'finished';
    const m: Record<string, number | undefined> = {};
    for (const k of metrics) {
      const v = c.eval ? metricValue(c.eval, k) : undefined;
      m[k] = finished && typeof v === 'number' && Number.isFinite(v) ? v : undefined;
    }
    return {
      cellId: c.cellId,
      label: c.config?.name ?? runLabel(values, rowAxes, dataset, seed),
      state: c.status.state,
      started: everStarted(c),
      dataset,
      seed,
      rowAxes: values,
      rowKey: rowKeyOf(rowAxes, values),
      axes: c.config?.axes ?? {},
      metrics: m,
    };
  });

  return {
    id: exp.id,
    name: exp.meta.name,
    description: exp.meta.description ?? undefined,
    rowAxes,
    rowAxisValues,
    datasets,
    seeds,
    metrics: [...metrics],
    observations,
    pending: exp.cells.filter((c) => !c.config).map((c) => c.cellId),
  };
}

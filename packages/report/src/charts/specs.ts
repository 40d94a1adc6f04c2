/**
 * Vega-Lite specs, one pure function per chart: data in, spec out (the data is inlined as values, so a
 * spec renders alone: headless to SVG/PNG, or with vega-embed in the dashboard). Each chart property is
 * a small rule with a default, in the Vega-Lite habit.
 */
import type { TopLevelSpec } from 'vega-lite';
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
import { blockColor, chartConfig, CATEGORY_COLORS, CATEGORY_SCHEME, KIND_COLORS } from './theme';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

// ------------------------------------------------------------------ rules

/** The blocks present, coloured by their place among all the experiment's blocks (`order`). */
const blockScale = (blocks: string[], order: readonly string[]) => ({
  domain: blocks,
  range: blocks.map((b) => blockColor(b, order)),
});

/** mAP@all (and P@200) per table row: mean with ±1 sample std error bars and each seed as a dot. */
export function mapByCellSpec(
  points: MapPoint[],
  summary: MapSummary[],
  opts: {
    title?: string;
    rows?: string[];
    metrics?: string[];
    width?: number;
    /** every block label of the experiment, in axis order (default: those in `summary`) */
    blocks?: string[];
    /** what the row labels leave out (a second subtitle line) */
    note?: string;
  } = {},
): TopLevelSpec {
  const rows = opts.rows ?? [...new Set(summary.map((s) => s.row))];
  const blocks = [...new Set(summary.map((s) => s.block))];
  const metrics = opts.metrics ?? [...new Set(summary.map((s) => s.metric))];
  const values = [
    ...summary.map((s) => ({ ...s, kind: 'mean' })),
    ...points.map((p) => ({ ...p, kind: 'seed' })),
  ];
  // labels are kept whole (no limit): they are short (shortRowLabels) and must tell rows apart
  const y = { field: 'row', type: 'nominal' as const, sort: rows, title: null, axis: { labelLimit: 0 } };
  const x = { type: 'quantitative' as const, scale: { zero: false, nice: true } };
  const color = {
    field: 'block',
    type: 'nominal' as const,
    scale: blockScale(blocks, opts.blocks ?? blocks),
    legend: { title: 'block', orient: 'top' as const },
  };
  return {
    $schema: SCHEMA,
    title: {
      text: opts.title ?? 'Retrieval accuracy by cell',
      subtitle: [
        'mean ± 1 sample std over seeds; small dots: individual seeds; ★ best per column',
        ...(opts.note ? [opts.note] : []),
      ],
    },
    data: { values },
    facet: {
      column: { field: 'metric', type: 'nominal', sort: metrics, title: null },
      row: { field: 'dataset', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left' } },
    },
    resolve: { scale: { x: 'independent' } },
    spec: {
      width: opts.width ?? 260,
      height: Math.max(60, rows.length * 24),
      layer: [
        {
          transform: [{ filter: "datum.kind === 'mean'" }],
          mark: { type: 'rule', strokeWidth: 2 },
          encoding: {
            y,
            x: { ...x, field: 'lo', title: null },
            x2: { field: 'hi' },
            color,
          },
        },
        {
          transform: [{ filter: "datum.kind === 'seed'" }],
          mark: { type: 'point', size: 22, opacity: 0.55, filled: false, strokeWidth: 1 },
          encoding: {
            y,
            yOffset: { field: 'seed', type: 'nominal' },
            x: { ...x, field: 'value' },
            color,
            tooltip: [{ field: 'row', title: 'cell' }, { field: 'seed' }, { field: 'value', format: '.4f' }],
          },
        },
        {
          transform: [{ filter: "datum.kind === 'mean'" }],
          mark: { type: 'point', filled: true, size: 70, stroke: 'white', strokeWidth: 1 },
          encoding: {
            y,
            x: { ...x, field: 'mean' },
            color,
            tooltip: [
              { field: 'row', title: 'cell' },
              { field: 'dataset' },
              { field: 'metric' },
              { field: 'mean', format: '.4f' },
              { field: 'lo', title: 'mean − std', format: '.4f' },
              { field: 'hi', title: 'mean + std', format: '.4f' },
              { field: 'n', title: 'seeds' },
            ],
          },
        },
        {
          transform: [{ filter: "datum.kind === 'mean' && datum.best" }],
          mark: { type: 'text', text: '★', dx: 12, fontSize: 12, color: '#b45309', align: 'left' },
          encoding: { y, x: { ...x, field: 'hi' } },
        },
      ],
    },
    config: chartConfig,
  };
}

/**
 * Learning rate and throughput per step, one panel each side by side. Runs share each panel's axes, so
 * runs compared there are read on one scale.
 */
export function throughputSpec(
  points: SeriesPoint[],
  opts: { title?: string; width?: number } = {},
): TopLevelSpec {
  const runs = [...new Set(points.map((p) => p.run))];
  const series = ['learning rate', 'images/s'].filter((s) => points.some((p) => p.series === s));
  return {
    $schema: SCHEMA,
    title: {
      text: opts.title ?? 'Learning rate and throughput',
      subtitle: 'per logged step (metrics.jsonl)',
    },
    hconcat: series.map((s) => ({
      width: opts.width ?? 300,
      height: 160,
      data: { values: points.filter((p) => p.series === s) },
      mark: { type: 'line' as const, strokeWidth: 1.5 },
      encoding: {
        x: { field: 'step', type: 'quantitative' as const, title: 'step' },
        y: { field: 'value', type: 'quantitative' as const, title: s, scale: { zero: s === 'images/s' } },
        color: {
          field: 'run',
          type: 'nominal' as const,
          sort: runs,
          legend:
            runs.length > 1 ? { title: 'run', orient: 'bottom' as const, columns: 3, labelLimit: 320 } : null,
        },
        tooltip: [{ field: 'run' }, { field: 'step' }, { field: 'value', title: s, format: '.4g' }],
      },
    })),
    resolve: { scale: { color: 'shared' } },
    config: chartConfig,
  } as TopLevelSpec;
}

/** Per-epoch metrics come from the quick subset evaluation: named so, never like the final ones. */
export const quickTitle = (metric: string): string => `quick ${metric} (subset)`;

/** Training curves: loss per step and the evaluation metrics per epoch, one colour per run. */
export function trainingCurvesSpec(
  steps: StepPoint[],
  epochs: EpochPoint[],
  opts: { title?: string; runs?: string[]; metrics?: string[]; width?: number; legendTitle?: string } = {},
): TopLevelSpec {
  const runs = opts.runs ?? [...new Set([...steps.map((s) => s.run), ...epochs.map((e) => e.run)])];
  const metrics = opts.metrics ?? [...new Set(epochs.map((e) => e.metric))];
  const width = opts.width ?? 300;
  // integer epoch ticks: explicit values while there are few epochs (avoids 1, 1.5, 2 … shown as 1, 2, 2)
  const epochValues = [...new Set(epochs.map((e) => e.epoch))].sort((a, b) => a - b);
  const epochAxis =
    epochValues.length <= 12 ? { values: epochValues, format: 'd' } : { tickMinStep: 1, format: 'd' };
  const color = {
    field: 'run',
    type: 'nominal' as const,
    sort: runs,
    legend:
      runs.length > 1
        ? {
            title: opts.legendTitle ?? 'run',
            orient: 'bottom' as const,
            columns: 3,
            labelLimit: 320,
            titleLimit: 400,
          }
        : null,
  };
  return {
    $schema: SCHEMA,
    title: {
      text: opts.title ?? 'Training curves',
      subtitle:
        'training loss per logged step; "quick" = the per-epoch evaluation on a subset (eval.epochQueries / epochGallery), not the final numbers',
    },
    hconcat: [
      {
        width,
        height: 200,
        data: { values: steps },
        mark: { type: 'line', interpolate: 'monotone', strokeWidth: 1.5 },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'step' },
          y: { field: 'loss', type: 'quantitative', title: 'training loss', scale: { zero: false } },
          color,
          tooltip: [{ field: 'run' }, { field: 'step' }, { field: 'loss', format: '.4f' }],
        },
      },
      ...metrics.map((m) => ({
        width,
        height: 200,
        data: { values: epochs.filter((e) => e.metric === m) },
        mark: { type: 'line' as const, point: true, interpolate: 'monotone' as const },
        encoding: {
          x: { field: 'epoch', type: 'quantitative' as const, title: 'epoch', axis: epochAxis },
          y: { field: 'value', type: 'quantitative' as const, title: quickTitle(m), scale: { zero: false } },
          color,
          tooltip: [
            { field: 'run' },
            { field: 'epoch' },
            { field: 'value', title: quickTitle(m), format: '.4f' },
          ],
        },
      })),
    ],
    resolve: { scale: { color: 'shared' } },
    config: chartConfig,
  };
}

/** Above this many runs, one panel per run (small multiples) instead of one line per run in a panel. */
export const MAX_LINES_PER_PANEL = 6;

/** [min, max] of some values, padded by 5 % (a fixed domain shared by every panel of a column). */
function paddedDomain(values: number[]): [number, number] | undefined {
  if (!values.length) return undefined;
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.05;
  return [lo - pad, hi + pad];
}

/**
 * Training curves of many runs as small multiples: a row of panels per run, titled with its label, the
 * training loss and each quick metric in their own column. Each column has one fixed x and y domain, so
 * the runs compare by position; one line per panel (one colour per column), so no colour is reused and
 * no legend is needed. The first row's panels name the columns.
 */
export function trainingCurvesGridSpec(
  steps: StepPoint[],
  epochs: EpochPoint[],
  opts: { title?: string; runs?: string[]; metrics?: string[]; note?: string } = {},
): TopLevelSpec {
  const runs = opts.runs ?? [...new Set([...steps.map((s) => s.run), ...epochs.map((e) => e.run)])];
  const metrics = opts.metrics ?? [...new Set(epochs.map((e) => e.metric))];
  const panel = { width: 210, height: 60 };
  const lastStep = Math.max(0, ...steps.map((p) => p.step));
  const lastEpoch = Math.max(1, ...epochs.map((p) => p.epoch));
  const lossPanel = (run: string, first: boolean) => ({
    ...panel,
    ...(first ? { title: { text: 'training loss per step', fontSize: 11 } } : {}),
    data: { values: steps.filter((p) => p.run === run) },
    mark: {
      type: 'line' as const,
      interpolate: 'monotone' as const,
      strokeWidth: 1.5,
      color: CATEGORY_COLORS[0],
    },
    encoding: {
      x: { field: 'step', type: 'quantitative' as const, title: null, scale: { domain: [0, lastStep] } },
      y: {
        field: 'loss',
        type: 'quantitative' as const,
        title: null,
        scale: { domain: paddedDomain(steps.map((p) => p.loss)), nice: false },
      },
      tooltip: [{ field: 'run' }, { field: 'step' }, { field: 'loss', format: '.4f' }],
    },
  });
  const metricPanel = (run: string, m: string, k: number, first: boolean) => {
    const color = CATEGORY_COLORS[(k + 1) % CATEGORY_COLORS.length];
    const all = epochs.filter((e) => e.metric === m);
    return {
      ...panel,
      ...(first ? { title: { text: `${quickTitle(m)} per epoch`, fontSize: 11 } } : {}),
      data: { values: all.filter((p) => p.run === run) },
      mark: { type: 'line' as const, color, point: { color } },
      encoding: {
        x: {
          field: 'epoch',
          type: 'quantitative' as const,
          title: null,
          scale: { domain: [1, lastEpoch] },
          axis: { tickMinStep: 1, format: 'd' },
        },
        y: {
          field: 'value',
          type: 'quantitative' as const,
          title: null,
          scale: { domain: paddedDomain(all.map((p) => p.value)), nice: false },
        },
        tooltip: [
          { field: 'run' },
          { field: 'epoch' },
          { field: 'value', title: quickTitle(m), format: '.4f' },
        ],
      },
    };
  };
  const rows = runs.map((run, i) => ({
    title: { text: run, anchor: 'start' as const, fontSize: 12, fontWeight: 600, offset: 4 },
    hconcat: [
      ...(steps.length ? [lossPanel(run, i === 0)] : []),
      ...metrics.map((m, k) => metricPanel(run, m, k, i === 0)),
    ],
  }));
  return {
    $schema: SCHEMA,
    title: {
      text: opts.title ?? 'Training curves',
      subtitle: [
        'one row per run: training loss per logged step, then each "quick" per-epoch metric (subset evaluation, not the final numbers)',
        ...(opts.note ? [opts.note] : []),
      ],
    },
    vconcat: rows,
    spacing: 6,
    config: chartConfig,
  } as TopLevelSpec;
}

/** 11-point interpolated precision-recall curves (eval.json pr), one line per run. */
export function prCurveSpec(
  points: PrPoint[],
  opts: { title?: string; runs?: string[]; width?: number; legendTitle?: string } = {},
): TopLevelSpec {
  const runs = opts.runs ?? [...new Set(points.map((p) => p.run))];
  return {
    $schema: SCHEMA,
    title: { text: opts.title ?? 'Precision–recall', subtitle: '11-point interpolated, mean over queries' },
    width: opts.width ?? 300,
    height: 260,
    data: { values: points },
    mark: { type: 'line', point: { size: 25 }, interpolate: 'linear' },
    encoding: {
      x: { field: 'recall', type: 'quantitative', scale: { domain: [0, 1] } },
      // the usual [0, 1] square, unless every precision is low: then zoom in from 0 so the curves separate
      y: {
        field: 'precision',
        type: 'quantitative',
        scale:
          Math.max(0, ...points.map((p) => p.precision)) > 0.5
            ? { domain: [0, 1] }
            : { zero: true, nice: true },
      },
      color: {
        field: 'run',
        type: 'nominal',
        sort: runs,
        legend:
          runs.length > 1
            ? {
                title: opts.legendTitle ?? 'run',
                orient: 'bottom',
                columns: 2,
                labelLimit: 320,
                titleLimit: 400,
              }
            : null,
      },
      tooltip: [{ field: 'run' }, { field: 'recall', format: '.1f' }, { field: 'precision', format: '.3f' }],
    },
    config: chartConfig,
  };
}

/**
 * Precision–recall of many runs as small multiples: a panel per run (its label as the header), one line
 * each on shared axes, so no colour is reused and no legend is cut off.
 */
export function prCurveGridSpec(
  points: PrPoint[],
  opts: { title?: string; runs?: string[]; note?: string } = {},
): TopLevelSpec {
  const runs = opts.runs ?? [...new Set(points.map((p) => p.run))];
  const high = Math.max(0, ...points.map((p) => p.precision)) > 0.5;
  return {
    $schema: SCHEMA,
    title: {
      text: opts.title ?? 'Precision–recall',
      subtitle: [
        '11-point interpolated, mean over queries; one panel per run, shared axes',
        ...(opts.note ? [opts.note] : []),
      ],
    },
    data: { values: points },
    facet: {
      field: 'run',
      type: 'nominal',
      sort: runs,
      title: null,
      header: { labelLimit: 0, labelFontSize: 11 },
    },
    columns: 5,
    spec: {
      width: 150,
      height: 110,
      mark: { type: 'line', point: { size: 15, color: CATEGORY_COLORS[0] }, color: CATEGORY_COLORS[0] },
      encoding: {
        x: { field: 'recall', type: 'quantitative', scale: { domain: [0, 1] } },
        y: {
          field: 'precision',
          type: 'quantitative',
          scale: high ? { domain: [0, 1] } : { zero: true, nice: true },
        },
        tooltip: [
          { field: 'run' },
          { field: 'recall', format: '.1f' },
          { field: 'precision', format: '.3f' },
        ],
      },
    },
    config: chartConfig,
  } as TopLevelSpec;
}

/** Intra- vs inter-class distance histograms (the MEMS claim: intra distances shift below inter ones). */
export function distanceHistogramSpec(
  bins: HistogramBin[],
  opts: {
    title?: string;
    subtitle?: string;
    runs?: string[];
    columns?: number;
    width?: number;
    separated?: Record<string, number>;
  } = {},
): TopLevelSpec {
  const runs = opts.runs ?? [...new Set(bins.map((b) => b.run))];
  const values = bins.map((b) => ({ ...b, separated: opts.separated?.[b.run] ?? null }));
  const title = {
    text: opts.title ?? 'Intra- vs inter-class distances',
    subtitle: opts.subtitle ?? [
      'fraction of pairs per distance bin; MEMS should push the two apart',
      '(classes separated: largest intra-class distance < smallest inter-class distance)',
    ],
  };
  const unit = {
    width: opts.width ?? 220,
    height: 130,
    mark: { type: 'bar' as const, opacity: 0.6, binSpacing: 0 },
    encoding: {
      x: {
        field: 'x0',
        type: 'quantitative' as const,
        bin: { binned: true as const },
        title: 'embedding distance',
      },
      x2: { field: 'x1' },
      y: {
        field: 'fraction',
        type: 'quantitative' as const,
        stack: null,
        title: 'fraction of pairs',
        axis: { format: '.0%' },
      },
      color: {
        field: 'kind',
        type: 'nominal' as const,
        scale: { domain: ['intra-class', 'inter-class'], range: [KIND_COLORS.intra, KIND_COLORS.inter] },
        legend: { title: null, orient: 'top' as const },
      },
      tooltip: [
        { field: 'run' },
        { field: 'kind' },
        { field: 'x0', title: 'from', format: '.3f' },
        { field: 'x1', title: 'to', format: '.3f' },
        { field: 'fraction', format: '.2%' },
        { field: 'separated', title: 'fraction separated', format: '.2f' },
      ],
    },
  };
  // one run: a single panel, no facet header
  if (runs.length <= 1) return { $schema: SCHEMA, title, data: { values }, ...unit, config: chartConfig };
  return {
    $schema: SCHEMA,
    title,
    data: { values },
    facet: { field: 'run', type: 'nominal', sort: runs, title: null, header: { labelLimit: 300 } },
    columns: opts.columns ?? Math.min(3, runs.length),
    spec: unit,
    // distance scales differ a lot between losses (MEMS embeddings are far more compact): one x per panel
    resolve: { scale: { x: 'independent', y: 'independent' }, axis: { x: 'independent' } },
    config: chartConfig,
  };
}

/** PCA projection of the embedding sample: colour = category, shape = domain. */
export function pcaSpec(
  points: PcaPoint[],
  opts: { title?: string; explained?: [number, number]; categories?: string[]; width?: number } = {},
): TopLevelSpec {
  const explained = opts.explained;
  const pct = (x: number | undefined) => (x === undefined ? '' : ` (${(x * 100).toFixed(1)}% of variance)`);
  const categories = opts.categories ?? [...new Set(points.map((p) => p.category))].sort();
  return {
    $schema: SCHEMA,
    title: {
      text: opts.title ?? 'Embeddings, PCA projection',
      subtitle: `a sample of sketches and photos; colour = category${categories.length > 20 ? ` (${categories.length} categories, legend omitted)` : ''}, shape = domain`,
    },
    width: opts.width ?? 360,
    height: 300,
    data: { values: points },
    mark: { type: 'point', filled: true, opacity: 0.75, size: 36 },
    encoding: {
      x: { field: 'pc1', type: 'quantitative', title: `PC1${pct(explained?.[0])}`, scale: { zero: false } },
      y: { field: 'pc2', type: 'quantitative', title: `PC2${pct(explained?.[1])}`, scale: { zero: false } },
      color: {
        field: 'category',
        type: 'nominal',
        sort: categories,
        scale: { scheme: categories.length <= 10 ? 'tableau10' : CATEGORY_SCHEME },
        legend:
          categories.length <= 20
            ? { title: 'category', columns: categories.length > 10 ? 2 : 1, symbolLimit: 20 }
            : null,
      },
      shape: {
        field: 'domain',
        type: 'nominal',
        scale: { domain: ['sketch', 'photo'], range: ['triangle-up', 'circle'] },
        legend: { title: 'domain' },
      },
      tooltip: [
        { field: 'id' },
        { field: 'category' },
        { field: 'domain' },
        { field: 'pc1', format: '.3f' },
        { field: 'pc2', format: '.3f' },
      ],
    },
    config: chartConfig,
  };
}

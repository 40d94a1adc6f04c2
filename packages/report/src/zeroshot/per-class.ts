/**
 * The per-unseen-class chart (Vega-Lite): the protocol's first metric (mAP@all under sem-pcyc) of every
 * unseen class, one point per row setting (its mean over seeds), classes sorted down the y axis so 25-30
 * names stay readable, and a grey rule from the lowest to the highest row of each class. Pure: a table
 * in, data and spec out.
 */
import type { TopLevelSpec } from 'vega-lite';
import { chartConfig } from '../charts/theme';
import { mean } from '../stats';
import { metricLabel, type ZsTable } from './compute';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

export interface PerClassPoint {
  row: string;
  category: string;
  mean: number;
  /** seeds averaged */
  n: number;
}

export interface PerClassData {
  metric: string;
  classes: string[];
  rows: string[];
  points: PerClassPoint[];
}

/** Mean over each row's seeds of the metric per unseen class (every query class when none is listed). */
export function perClassData(t: ZsTable): PerClassData {
  const metric = t.protocol.metrics[0]!;
  const unseen = new Set(t.protocol.unseen);
  const points: PerClassPoint[] = [];
  const seen = new Set<string>();
  for (const r of t.rows) {
    const byClass = new Map<string, number[]>();
    for (const s of r.cells)
      for (const e of s.perClass) {
        const v = (e as Record<string, unknown>)[metric];
        if (unseen.size && !unseen.has(e.category)) continue;
        if (typeof v !== 'number' || !Number.isFinite(v)) continue;
        byClass.set(e.category, [...(byClass.get(e.category) ?? []), v]);
      }
    for (const [category, vs] of byClass) {
      seen.add(category);
      points.push({ row: r.label, category, mean: mean(vs) as number, n: vs.length });
    }
  }
  const classes = [...(unseen.size ? unseen : seen)].sort((a, b) => a.localeCompare(b));
  return { metric, classes, rows: t.rows.map((r) => r.label), points };
}

export const perClassChartName = (t: ZsTable): string => `zeroshot-per-class-${t.id}`;

export function perClassSpec(
  t: ZsTable,
  d: PerClassData,
  opts: { title: string; width?: number },
): TopLevelSpec {
  const label = metricLabel(t.protocol.name, d.metric);
  const y = {
    field: 'category',
    type: 'nominal' as const,
    sort: d.classes,
    scale: { domain: d.classes },
    title: 'unseen class',
    axis: { labelLimit: 180 },
  };
  const x = { field: 'mean', type: 'quantitative' as const, title: `${label} (mean over seeds)` };
  return {
    $schema: SCHEMA,
    title: {
      text: opts.title,
      subtitle: [`${t.dataset}, protocol ${t.protocol.name}: one point per row (its mean over seeds)`],
    },
    data: { values: d.points },
    width: opts.width ?? 360,
    height: { step: 16 },
    layer: [
      {
        transform: [
          {
            aggregate: [
              { op: 'min', field: 'mean', as: 'lo' },
              { op: 'max', field: 'mean', as: 'hi' },
            ],
            groupby: ['category'],
          },
        ],
        mark: { type: 'rule', color: '#d1d5db', strokeWidth: 2 },
        encoding: { y, x: { ...x, field: 'lo' }, x2: { field: 'hi' } },
      },
      {
        mark: { type: 'point', filled: true, size: 55, opacity: 0.9 },
        encoding: {
          y,
          x,
          color: {
            field: 'row',
            type: 'nominal',
            sort: d.rows,
            scale: { scheme: 'tableau10' },
            legend: { title: 'row', orient: 'top', columns: 3 },
          },
          tooltip: [
            { field: 'category', title: 'class' },
            { field: 'row' },
            { field: 'mean', title: label, format: '.4f' },
            { field: 'n', title: 'seeds' },
          ],
        },
      },
    ],
    config: chartConfig,
  } as TopLevelSpec;
}

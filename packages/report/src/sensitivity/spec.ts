/**
 * The sensitivity chart of one claim (Vega-Lite): a panel per factor, x = the factor's value, y = mean Δ
 * with its 95 % t interval as an error bar, one line and colour per other setting, a rule at Δ = 0, and
 * the verdict as the point's shape. Pure: data in, spec out.
 */
import type { TopLevelSpec } from 'vega-lite';
import { chartConfig } from '../charts/theme';
import { distinctSettings, type SensitivityClaim, type SensitivityFactor, type Verdict } from './compute';

/** The tooltip of a paired-Δ point (factor panels and forest plots). */
const DELTA_TOOLTIP = [
  { field: 'label', title: 'setting' },
  { field: 'n', title: 'pairs' },
  { field: 'mean', title: 'mean Δ', format: '+.4f' },
  { field: 'lo', title: 'CI low', format: '+.4f' },
  { field: 'hi', title: 'CI high', format: '+.4f' },
  { field: 'pAdjusted', title: 'p (Holm)', format: '.4f' },
  { field: 'verdict' },
];

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
const VERDICTS: Verdict[] = ['holds', 'flips', 'cannot tell'];
const SHAPES = ['triangle-up', 'triangle-down', 'circle'];

export interface SensitivityPoint {
  factor: string;
  value: string;
  setting: string;
  label: string;
  n: number;
  mean: number | null;
  lo: number | null;
  hi: number | null;
  pAdjusted: number | null;
  verdict: Verdict;
}

/**
 * The points of the factor panels: only settings whose cells ran at the factor's value (a softmax cell
 * has no MEMS margin, so "margin=4, loss=softmax" is the baseline cells again and is not drawn at 4).
 */
export function sensitivityPoints(c: SensitivityClaim): SensitivityPoint[] {
  return c.settings
    .filter((s) => s.applies)
    .map((s) => ({
      factor: s.factor,
      value: s.value,
      setting: s.otherLabel || 'all',
      label: s.label,
      n: s.n,
      mean: s.mean,
      lo: s.ci?.[0] ?? null,
      hi: s.ci?.[1] ?? null,
      pAdjusted: s.pAdjusted,
      verdict: s.verdict,
    }));
}

export function sensitivitySpec(
  c: SensitivityClaim,
  factors: SensitivityFactor[],
  metric: string,
  opts: { width?: number } = {},
): TopLevelSpec {
  const values = sensitivityPoints(c);
  const settings = [...new Set(values.map((p) => p.setting))];
  const color = {
    field: 'setting',
    type: 'nominal' as const,
    sort: settings,
    legend: { title: 'other setting', orient: 'top' as const },
  };
  const y = { field: 'mean', type: 'quantitative' as const, title: `Δ ${metric}` };
  const valid = { filter: 'isValid(datum.mean)' };
  const panel = (f: SensitivityFactor) => {
    const x = {
      field: 'value',
      type: 'ordinal' as const,
      sort: f.values,
      title: f.name,
      axis: { labelAngle: 0 },
      // a band per value, the settings side by side in it, so their CI bars do not hide each other
      scale: { type: 'band' as const, paddingInner: 0.2 },
    };
    const xOffset = { field: 'setting', type: 'nominal' as const, sort: settings };
    return {
      title: { text: f.name, subtitle: `baseline ${f.baseline}` },
      width: opts.width ?? 180,
      height: 160,
      transform: [{ filter: { field: 'factor', equal: f.name } }],
      layer: [
        {
          mark: { type: 'rule' as const, color: '#6b7280', strokeDash: [4, 3] },
          encoding: { y: { datum: 0 } },
        },
        {
          transform: [{ filter: 'isValid(datum.lo)' }],
          mark: { type: 'rule' as const, strokeWidth: 1.5 },
          encoding: { x, xOffset, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color },
        },
        {
          transform: [valid],
          mark: { type: 'line' as const, strokeWidth: 1.5 },
          encoding: { x, xOffset, y, color },
        },
        {
          transform: [valid],
          mark: { type: 'point' as const, filled: true, size: 60 },
          encoding: {
            x,
            xOffset,
            y,
            color,
            shape: {
              field: 'verdict',
              type: 'nominal' as const,
              scale: { domain: VERDICTS, range: SHAPES },
              legend: { title: 'verdict (Holm)', orient: 'top' as const },
            },
            tooltip: DELTA_TOOLTIP,
          },
        },
      ],
    };
  };
  return {
    $schema: SCHEMA,
    title: {
      text: `${c.label}: Δ ${metric} by factor`,
      subtitle: [
        'mean Δ over paired seeds with its 95 % t interval',
        'one line per other setting; shape: verdict after Holm',
      ],
    },
    data: { values },
    // a factor with no value off its baseline run yet has nothing to show beyond the centre point
    concat: factors
      .filter((f) => values.some((p) => p.factor === f.name && p.value !== f.baseline))
      .map(panel),
    columns: 3,
    resolve: { scale: { y: 'shared', color: 'shared', shape: 'shared' } },
    config: chartConfig,
  } as TopLevelSpec;
}

/** Verdict colours of the forest plot: holds green, flips red, cannot tell grey. */
const VERDICT_COLORS = ['#15803d', '#dc2626', '#6b7280'];

/**
 * The forest plot of one claim: one row per distinct setting (table order), its mean Δ as a point with
 * the 95 % t interval as a bar, coloured by the verdict after Holm, and a rule at Δ = 0.
 */
export function forestSpec(c: SensitivityClaim, metric: string, opts: { width?: number } = {}): TopLevelSpec {
  const values = distinctSettings(c)
    .filter((s) => s.mean !== null)
    .map((s) => ({
      ...sensitivityPoints({ ...c, settings: [{ ...s, applies: true }] })[0]!,
      row: s.equivalents.length ? `${s.label} (+${s.equivalents.length} same)` : s.label,
    }));
  const y = {
    field: 'row',
    type: 'nominal' as const,
    sort: values.map((p) => p.row),
    title: null,
    axis: { labelLimit: 0 },
  };
  const x = { field: 'mean', type: 'quantitative' as const, title: `Δ ${metric} (treatment − baseline)` };
  const color = {
    field: 'verdict',
    type: 'nominal' as const,
    scale: { domain: VERDICTS, range: VERDICT_COLORS },
    legend: { title: 'verdict (Holm)', orient: 'top' as const },
  };
  return {
    $schema: SCHEMA,
    title: {
      text: `${c.label}: Δ ${metric} per distinct setting`,
      subtitle: 'mean Δ over paired seeds with its 95 % t interval; colour: verdict after Holm',
    },
    data: { values },
    width: opts.width ?? 320,
    height: Math.max(40, values.length * 18),
    layer: [
      { mark: { type: 'rule', color: '#374151', strokeDash: [4, 3] }, encoding: { x: { datum: 0 } } },
      {
        transform: [{ filter: 'isValid(datum.lo)' }],
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: { y, x: { ...x, field: 'lo' }, x2: { field: 'hi' }, color },
      },
      {
        mark: { type: 'point', filled: true, size: 50 },
        encoding: {
          y,
          x,
          color,
          tooltip: DELTA_TOOLTIP,
        },
      },
    ],
    config: chartConfig,
  } as TopLevelSpec;
}

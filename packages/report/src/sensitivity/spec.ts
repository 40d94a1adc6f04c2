/**
 * The sensitivity chart of one claim (Vega-Lite): a panel per factor, x = the factor's value, y = mean Δ
 * with its 95 % t interval as an error bar, one line and colour per other setting, a rule at Δ = 0, and
 * the verdict as the point's shape. Pure: data in, spec out.
 */
import type { TopLevelSpec } from 'vega-lite';
import { chartConfig } from '../charts/theme';
import type { SensitivityClaim, SensitivityFactor, Verdict } from './compute';

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

export function sensitivityPoints(c: SensitivityClaim): SensitivityPoint[] {
  return c.settings.map((s) => ({
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
    };
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
          encoding: { x, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color },
        },
        { transform: [valid], mark: { type: 'line' as const, strokeWidth: 1.5 }, encoding: { x, y, color } },
        {
          transform: [valid],
          mark: { type: 'point' as const, filled: true, size: 60 },
          encoding: {
            x,
            y,
            color,
            shape: {
              field: 'verdict',
              type: 'nominal' as const,
              scale: { domain: VERDICTS, range: SHAPES },
              legend: { title: 'verdict (Holm)', orient: 'top' as const },
            },
            tooltip: [
              { field: 'label', title: 'setting' },
              { field: 'n', title: 'pairs' },
              { field: 'mean', title: 'mean Δ', format: '+.4f' },
              { field: 'lo', title: 'CI low', format: '+.4f' },
              { field: 'hi', title: 'CI high', format: '+.4f' },
              { field: 'pAdjusted', title: 'p (Holm)', format: '.4f' },
              { field: 'verdict' },
            ],
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
      .filter((f) => c.settings.some((st) => st.factor === f.name && st.value !== f.baseline))
      .map(panel),
    columns: 3,
    resolve: { scale: { y: 'shared', color: 'shared', shape: 'shared' } },
    config: chartConfig,
  } as TopLevelSpec;
}

/**
 * The zero-shot numbers as tidy CSV, full precision: zeroshot.csv has one line per table row × metric
 * (with the seeds and per-seed values), zeroshot-claims.csv one line per claim comparison.
 */
import { csvField } from '../table/assemble';
import type { ZeroShotView } from './compute';

const num = (v: number | null | undefined): string =>
  v === null || v === undefined || Number.isNaN(v) ? '' : String(v);
const line = (xs: unknown[]): string => xs.map(csvField).join(',');

export function zeroShotCsv(v: ZeroShotView, experiment: string): string {
  const header = [
    'experiment',
    'dataset',
    'protocol',
    'unseen_classes',
    ...v.rowAxes,
    'metric',
    'n',
    'mean',
    'std',
    'ci_low',
    'ci_high',
    'seeds',
    'values',
  ];
  const lines = v.tables.flatMap((t) =>
    t.rows.flatMap((r) =>
      r.stats.map((s) =>
        line([
          experiment,
          t.dataset,
          t.protocol.name,
          t.protocol.unseen.length,
          ...v.rowAxes.map((a) => r.axes[a]),
          s.metric,
          s.n,
          num(s.mean),
          num(s.std),
          num(s.ci?.[0]),
          num(s.ci?.[1]),
          s.seeds.join(';'),
          s.values.join(';'),
        ]),
      ),
    ),
  );
  return `${[line(header), ...lines].join('\n')}\n`;
}

export function zeroShotClaimsCsv(v: ZeroShotView, experiment: string): string {
  const header = [
    'experiment',
    'axis',
    'treatment',
    'baseline',
    'dataset',
    'protocol',
    'other',
    'metric',
    'n',
    'mean_delta',
    'sd',
    'ci_low',
    'ci_high',
    'p',
    'p_holm',
    'holm_family',
    'verdict',
    'seeds',
    'deltas',
  ];
  const lines = v.claims.map((c) =>
    line([
      experiment,
      c.axis,
      c.treatment,
      c.baseline,
      c.dataset,
      c.protocol,
      c.otherLabel,
      c.metric,
      c.n,
      num(c.mean),
      num(c.sd),
      num(c.ci?.[0]),
      num(c.ci?.[1]),
      num(c.p),
      num(c.pAdjusted),
      c.family,
      c.verdict,
      c.seeds.join(';'),
      c.diffs.join(';'),
    ]),
  );
  return `${[line(header), ...lines].join('\n')}\n`;
}

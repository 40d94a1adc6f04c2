/** The forest plot of each sensitivity claim: one row per distinct setting, Δ with its 95 % CI, verdict colour. */
import type { TopLevelSpec } from 'vega-lite';
import { computeSensitivity, type SensitivityView } from '../../sensitivity/compute';
import { forestSpec } from '../../sensitivity/spec';
import { safeSegment } from '../../util/html';
import type { ChartRecord } from '../record';

/** `sensitivity-forest-<k>-<axis>`: the chart files of claim k (1-based), linked from sensitivity.md. */
export const forestChartName = (v: SensitivityView, i: number): string =>
  `sensitivity-forest-${i + 1}-${safeSegment(v.claims[i]!.axis)}`;

/** The claims with at least one measured setting (a forest with no row says nothing). */
const measured = (v: SensitivityView) => v.claims.filter((c) => c.settings.some((s) => s.mean !== null));

export const sensitivityForest: ChartRecord = {
  id: 'sensitivity-forest',
  title: 'Sensitivity of the claims (forest plot)',
  slot: 'forest',
  report: ({ exp }) => {
    const v = computeSensitivity(exp);
    if (!v) return [];
    return v.claims.flatMap((c, i) =>
      measured(v).includes(c)
        ? [
            {
              name: forestChartName(v, i),
              title: `${c.label}: Δ ${v.metric} per distinct setting`,
              spec: forestSpec(c, v.metric),
            },
          ]
        : [],
    );
  },
  experiment: ({ exp }) => {
    const v = computeSensitivity(exp);
    const claims = v ? measured(v) : [];
    if (!v || !claims.length) return undefined;
    const specs = claims.map((c) => forestSpec(c, v.metric, { width: 260 }));
    if (specs.length === 1) return specs[0];
    // one spec per slot on the dashboard: the claims stacked, each keeping its own title and scales
    const { $schema, config } = specs[0] as { $schema: string; config: unknown };
    return {
      $schema,
      vconcat: specs.map(({ $schema: _s, config: _c, ...rest }) => rest),
      resolve: { scale: { x: 'independent', y: 'independent' } },
      config,
    } as TopLevelSpec;
  },
};

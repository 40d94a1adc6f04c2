/**
 * Every chart, in the order the report lists its figures and the dashboard its panels. Adding a chart:
 * a file in records/ exporting a ChartRecord, and one line here.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { CellRecord } from '../store/read';
import type { ExperimentView } from '../view/experiment-view';
import type { ChartRecord, ChartSet } from './record';
import { distances } from './records/distances';
import { embeddingsPca } from './records/embeddings-pca';
import { mapByCell } from './records/map-by-cell';
import { precisionRecall } from './records/precision-recall';
import { sensitivityForest } from './records/sensitivity-forest';
import { throughput } from './records/throughput';
import { trainingCurves } from './records/training-curves';
import { zeroshotPerClass } from './records/zeroshot-per-class';

export const CHARTS: readonly ChartRecord[] = [
  mapByCell,
  sensitivityForest,
  trainingCurves,
  throughput,
  precisionRecall,
  distances,
  embeddingsPca,
  zeroshotPerClass,
];

/** A page's specs by slot, leaving out the charts without data. */
function specsBySlot(build: (r: ChartRecord) => TopLevelSpec | undefined): Record<string, TopLevelSpec> {
  const out: Record<string, TopLevelSpec> = {};
  for (const r of CHARTS) {
    const spec = build(r);
    if (spec) out[r.slot] = spec;
  }
  return out;
}

/** The report's charts: the experiment-wide ones, then per dataset each dataset's in registry order. */
export function experimentCharts(view: ExperimentView): ChartSet[] {
  return [
    ...CHARTS.flatMap((r) => r.report?.(view) ?? []),
    ...view.table.datasets.flatMap((d) => CHARTS.flatMap((r) => r.reportPerDataset?.(view, d) ?? [])),
  ];
}

export const experimentSpecs = (view: ExperimentView): Record<string, TopLevelSpec> =>
  specsBySlot((r) => r.experiment?.(view));

export const compareSpecs = (view: ExperimentView): Record<string, TopLevelSpec> =>
  specsBySlot((r) => r.compare?.(view));

/** A run page's specs; with the view, the cell's PCA is the view's cached one. */
export const runSpecs = (c: CellRecord, label: string, view?: ExperimentView): Record<string, TopLevelSpec> =>
  specsBySlot((r) => r.run?.(view, c, label));

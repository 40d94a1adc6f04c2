/** Zero-shot: the protocol's first metric per unseen class, one point per row (issue 19). */
import { metricLabel, zeroShotTables } from '../../zeroshot/compute';
import { perClassChartName, perClassData, perClassSpec } from '../../zeroshot/per-class';
import type { ChartRecord } from '../record';

export const zeroshotPerClass: ChartRecord = {
  id: 'zeroshot-per-class',
  title: 'Zero-shot retrieval per unseen class',
  slot: 'zeroshot-per-class',
  reportPerDataset: (view, dataset) =>
    (zeroShotTables(view.exp)?.tables ?? [])
      .filter((t) => t.dataset === dataset)
      .flatMap((t) => {
        const d = perClassData(t);
        if (!d.points.length) return [];
        const title = `${view.table.experimentName}: ${metricLabel(t.protocol.name, d.metric)} per unseen class (${t.dataset}, ${t.protocol.name})`;
        return [{ name: perClassChartName(t), title, spec: perClassSpec(t, d, { title }) }];
      }),
};

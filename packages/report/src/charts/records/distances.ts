/** Intra- vs inter-class distance histograms (the MEMS claim), pooled over seeds in the report. */
import { safeSegment } from '../../util/html';
import { cellLabel } from '../../view/experiment-view';
import { histogramBins, shortRowLabels, sumHistograms } from '../data';
import type { ChartRecord } from '../record';
import { distanceHistogramSpec } from '../specs';
import { datasetCells } from './common';

export const distances: ChartRecord = {
  id: 'distances',
  title: 'Intra- vs inter-class distances',
  slot: 'distances',
  reportPerDataset: (view, dataset) => {
    const { finished, runs } = datasetCells(view, dataset);
    const rows = view.table.rows;
    const label = shortRowLabels(view.table);
    const ofRow = (key: string) => finished.filter((c) => view.obs.get(c.cellId)?.rowKey === key);
    const bins = rows.flatMap((r) =>
      histogramBins(label.get(r.key)!, sumHistograms(ofRow(r.key).map((c) => c.eval))),
    );
    if (!bins.length) return [];
    const separated: Record<string, number> = {};
    for (const r of rows) {
      const fs_ = ofRow(r.key)
        .map((c) => c.eval?.distanceStats?.fractionSeparated)
        .filter((x): x is number => typeof x === 'number');
      if (fs_.length) separated[label.get(r.key)!] = fs_.reduce((s, x) => s + x, 0) / fs_.length;
    }
    return [
      {
        name: `distances-${safeSegment(dataset)}`,
        title: `Intra- vs inter-class distances on ${dataset}`,
        spec: distanceHistogramSpec(bins, {
          title: `Intra- vs inter-class distances on ${dataset} (all seeds pooled)`,
          runs: runs.filter((r) => bins.some((b) => b.run === r)),
          separated,
        }),
      },
    ];
  },
  compare: (view) => {
    const bins = view.exp.cells.flatMap((c) => histogramBins(cellLabel(view, c), c.eval));
    return bins.length ? distanceHistogramSpec(bins, { title: distances.title, width: 200 }) : undefined;
  },
  run: (_view, c, label) => {
    const bins = histogramBins(label, c.eval);
    if (!bins.length) return undefined;
    const fs_ = c.eval?.distanceStats?.fractionSeparated;
    return distanceHistogramSpec(bins, {
      title: distances.title,
      subtitle: 'fraction of pairs per distance bin',
      width: 320,
      separated: typeof fs_ === 'number' ? { [label]: fs_ } : undefined,
    });
  },
  runPanel: 'half',
};

/** Training loss per step and the quick per-epoch metrics, one line per run (or per table row). */
import { safeSegment } from '../../util/html';
import { cellLabel } from '../../view/experiment-view';
import { epochPoints, meanBy, stepPoints } from '../data';
import type { ChartRecord } from '../record';
import { trainingCurvesSpec } from '../specs';
import { datasetCells } from './common';

export const trainingCurves: ChartRecord = {
  id: 'training-curves',
  title: 'Training curves',
  slot: 'curves',
  reportPerDataset: (view, dataset) => {
    const { finished, rowLabel, runs } = datasetCells(view, dataset);
    const steps = meanBy(
      finished.flatMap((c) => stepPoints(rowLabel(c), c.metrics, 100000)),
      ['run', 'step'],
      'loss',
    );
    const epochs = meanBy(
      finished.flatMap((c) => epochPoints(rowLabel(c), c.metrics)),
      ['run', 'epoch', 'metric'],
      'value',
    );
    if (!steps.length && !epochs.length) return [];
    return [
      {
        name: `training-curves-${safeSegment(dataset)}`,
        title: `Training curves on ${dataset} (mean over finished seeds)`,
        spec: trainingCurvesSpec(steps, epochs, {
          legendTitle: 'cell (mean over seeds)',
          title: `Training curves on ${dataset}, mean over finished seeds`,
          runs: runs.filter((r) => steps.some((s) => s.run === r) || epochs.some((e) => e.run === r)),
        }),
      },
    ];
  },
  compare: (view) => {
    const steps = view.exp.cells.flatMap((c) => stepPoints(cellLabel(view, c), c.metrics, 150));
    const epochs = view.exp.cells.flatMap((c) => epochPoints(cellLabel(view, c), c.metrics));
    if (!steps.length && !epochs.length) return undefined;
    return trainingCurvesSpec(steps, epochs, { title: trainingCurves.title, width: 260 });
  },
  run: (_view, c, label) => {
    const steps = stepPoints(label, c.metrics);
    const epochs = epochPoints(label, c.metrics);
    if (!steps.length && !epochs.length) return undefined;
    return trainingCurvesSpec(steps, epochs, { title: trainingCurves.title, width: 260 });
  },
  runPanel: 'wide',
  runEmpty: 'No metrics logged yet.',
};

/** Training loss per step and the quick per-epoch metrics, one line per run (or per table row). */
import { safeSegment } from '../../util/html';
import { cellLabel } from '../../view/experiment-view';
import { epochPoints, meanBy, stepPoints, usualSettings } from '../data';
import type { ChartRecord } from '../record';
import { MAX_LINES_PER_PANEL, trainingCurvesGridSpec, trainingCurvesSpec } from '../specs';
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
    const shown = runs.filter((r) => steps.some((s) => s.run === r) || epochs.some((e) => e.run === r));
    const title = `Training curves on ${dataset}, mean over finished seeds`;
    // many cells: small multiples (a row of panels per cell), never a dozen lines sharing colours
    const spec =
      shown.length > MAX_LINES_PER_PANEL
        ? trainingCurvesGridSpec(steps, epochs, { title, runs: shown, note: usualSettings(view.table) })
        : trainingCurvesSpec(steps, epochs, { legendTitle: 'cell (mean over seeds)', title, runs: shown });
    return [
      {
        name: `training-curves-${safeSegment(dataset)}`,
        title: `Training curves on ${dataset} (mean over finished seeds)`,
        spec,
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

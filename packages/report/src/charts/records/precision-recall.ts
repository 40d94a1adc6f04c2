/** 11-point interpolated precision–recall curves from eval.json. */
import { safeSegment } from '../../util/html';
import { cellLabel } from '../../view/experiment-view';
import { meanBy, prPoints, usualSettings } from '../data';
import type { ChartRecord } from '../record';
import { MAX_LINES_PER_PANEL, prCurveGridSpec, prCurveSpec } from '../specs';
import { datasetCells } from './common';

export const precisionRecall: ChartRecord = {
  id: 'pr',
  title: 'Precision–recall',
  slot: 'pr',
  reportPerDataset: (view, dataset) => {
    const { finished, rowLabel, runs } = datasetCells(view, dataset);
    const pr = meanBy(
      finished.flatMap((c) => prPoints(rowLabel(c), c.eval)),
      ['run', 'recall'],
      'precision',
    );
    if (!pr.length) return [];
    const shown = runs.filter((r) => pr.some((p) => p.run === r));
    const title = `Precision–recall on ${dataset}, mean over seeds`;
    // many cells: a panel each (small multiples), never a dozen lines sharing colours
    const spec =
      shown.length > MAX_LINES_PER_PANEL
        ? prCurveGridSpec(pr, { title, runs: shown, note: usualSettings(view.table) })
        : prCurveSpec(pr, { legendTitle: 'cell (mean over seeds)', title, runs: shown });
    return [{ name: `pr-${safeSegment(dataset)}`, title: `Precision–recall on ${dataset}`, spec }];
  },
  compare: (view) => {
    const pr = view.exp.cells.flatMap((c) => prPoints(cellLabel(view, c), c.eval));
    return pr.length ? prCurveSpec(pr, { title: precisionRecall.title }) : undefined;
  },
  run: (_view, c, label) => {
    const pr = prPoints(label, c.eval);
    return pr.length ? prCurveSpec(pr, { title: precisionRecall.title }) : undefined;
  },
  runPanel: 'half',
};

/** What several report charts of one dataset share: its finished cells, each labelled by its table row. */
import type { CellRecord } from '../../store/read';
import type { ExperimentView } from '../../view/experiment-view';
import { shortRowLabels } from '../data';

export interface DatasetCells {
  finished: CellRecord[];
  /** the table row's chart label of a cell (shortRowLabels; series of per-row means), else its id */
  rowLabel: (c: CellRecord) => string;
  /** every table row label, in table order (the legend order) */
  runs: string[];
}

export function datasetCells(view: ExperimentView, dataset: string): DatasetCells {
  const labels = shortRowLabels(view.table);
  const finished = view.exp.cells.filter(
    (c) => view.obs.get(c.cellId)?.dataset === dataset && c.status.state === 'finished',
  );
  return {
    finished,
    rowLabel: (c) => labels.get(view.obs.get(c.cellId)?.rowKey ?? '') ?? c.cellId,
    runs: view.table.rows.map((r) => labels.get(r.key)!),
  };
}

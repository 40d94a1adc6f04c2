/** What several report charts of one dataset share: its finished cells, each labelled by its table row. */
import type { CellRecord } from '../../store/read';
import type { ExperimentView } from '../../view/experiment-view';

export interface DatasetCells {
  finished: CellRecord[];
  /** the table row label of a cell (series of per-row means), else its id */
  rowLabel: (c: CellRecord) => string;
  /** every table row label, in table order (the legend order) */
  runs: string[];
}

export function datasetCells(view: ExperimentView, dataset: string): DatasetCells {
  const labels = new Map(view.table.rows.map((r) => [r.key, r.label]));
  const finished = view.exp.cells.filter(
    (c) => view.obs.get(c.cellId)?.dataset === dataset && c.status.state === 'finished',
  );
  return {
    finished,
    rowLabel: (c) => labels.get(view.obs.get(c.cellId)?.rowKey ?? '') ?? c.cellId,
    runs: view.table.rows.map((r) => r.label),
  };
}

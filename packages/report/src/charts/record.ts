/**
 * What a chart is: one record naming where it appears and how its data and spec are built on each page.
 * A record imports only pure data shapers and spec builders; the registry (registry.ts) lists the
 * records, and the orchestrator composes every page's charts from it once (view/report-model.ts).
 */
import type { TopLevelSpec } from 'vega-lite';
import type { CellRecord } from '../store/read';
import type { ExperimentView } from '../view/experiment-view';

/** One chart file of the paper outputs: `charts/<name>.{vl.json,svg,png}` and a figure in report.md. */
export interface ChartSet {
  name: string;
  title: string;
  spec: TopLevelSpec;
}

export interface ChartRecord {
  /** stem of the report's chart files (`<id>`, `<id>-<dataset>`, or `<id>-<cell>`) */
  id: string;
  /** what it shows (the base of its titles) */
  title: string;
  /** the key of its panel on the dashboard pages (`data-chart`, and the page data's `specs` key) */
  slot: string;
  /** Report charts of the whole experiment (before the per-dataset ones). */
  report?: (v: ExperimentView) => ChartSet[];
  /** Report charts of one dataset, in registry order after the experiment-wide ones. */
  reportPerDataset?: (v: ExperimentView, dataset: string) => ChartSet[];
  /** The dashboard's experiment page (undefined: no data, no panel). */
  experiment?: (v: ExperimentView) => TopLevelSpec | undefined;
  /** The dashboard's compare page: every run, filtered in the browser to the selection. */
  compare?: (v: ExperimentView) => TopLevelSpec | undefined;
  /** A run page: one cell. `label` names its series. */
  run?: (v: ExperimentView | undefined, c: CellRecord, label: string) => TopLevelSpec | undefined;
  /** Run page layout: a full-width panel, or one half of the two-column grid below them. */
  runPanel?: 'wide' | 'half';
  /** Run page text shown in its panel when the cell has no data for it (default: no panel). */
  runEmpty?: string;
}

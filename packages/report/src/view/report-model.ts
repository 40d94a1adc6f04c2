/**
 * The view model, built once per report build (Vega-Lite's buildModel step): every experiment's view
 * and the charts of every page, composed from the chart registry. The paper outputs and the dashboard
 * are renderers of it; neither composes a chart itself.
 */
import * as path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { ChartSet } from '../charts/record';
import { compareSpecs, experimentCharts, experimentSpecs, runSpecs } from '../charts/registry';
import type { PaperReference } from '../store/reference';
import type { StoreSnapshot } from '../store/read';
import { safeSegment } from '../util/html';
import { cellLabel, makeView, type ExperimentView } from './experiment-view';
import { composeSections, type SectionView } from './sections';

export interface ChartPages {
  /** the report's chart files and figures */
  report: ChartSet[];
  /** dashboard experiment page, by slot */
  experiment: Record<string, TopLevelSpec>;
  /** dashboard compare page, by slot */
  compare: Record<string, TopLevelSpec>;
  /** dashboard run pages: cell id → specs by slot */
  run: Map<string, Record<string, TopLevelSpec>>;
}

export interface ExperimentModel extends ExperimentView {
  charts: ChartPages;
  /** the sections this experiment has (sensitivity, ...), in SECTIONS order */
  sections: SectionView[];
}

export interface ReportModel {
  /** the output folder */
  out: string;
  experiments: ExperimentModel[];
  warnings: string[];
}

export interface ModelOptions {
  out: string;
  /** one experiment asked for: its outputs go to `out` itself, else to `out/<experiment>` */
  single: boolean;
  baseline?: Record<string, string>;
  reference?: PaperReference;
  referenceFile: string;
}

export function composeCharts(view: ExperimentView): ChartPages {
  return {
    report: experimentCharts(view),
    experiment: experimentSpecs(view),
    compare: compareSpecs(view),
    run: new Map(view.exp.cells.map((c) => [c.cellId, runSpecs(c, cellLabel(view, c), view)])),
  };
}

export function buildReportModel(store: StoreSnapshot, opts: ModelOptions): ReportModel {
  const experiments = store.experiments.map((exp) => {
    const view = makeView(exp, opts.single ? opts.out : path.join(opts.out, safeSegment(exp.id)), opts);
    return { ...view, charts: composeCharts(view), sections: composeSections(view) };
  });
  return { out: opts.out, experiments, warnings: [...store.warnings] };
}

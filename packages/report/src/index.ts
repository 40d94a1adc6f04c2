/**
 * @sbir/report: tables, charts and a static dashboard from the run store (packages/trainer/README.md).
 * Pipeline: loadRunStore → makeView (normalize → buildTable) → the chart registry's specs → toMarkdown |
 * toLatex | toCsv | toHtmlTable and renderSvg / renderPng; buildReport does it all.
 */
export { buildReport, defaultOut } from './report';
export type { BuildOptions, BuildResult } from './report';
export { makeView } from './view/experiment-view';
export type { ExperimentView } from './view/experiment-view';
export { buildReportModel } from './view/report-model';
export type { ReportModel, ExperimentModel } from './view/report-model';
export { CHARTS, experimentCharts } from './charts/registry';
export type { ChartRecord, ChartSet } from './charts/record';
export { loadRunStore, readEmbeddings, readRetrieval, readMetrics, listExperiments } from './store/read';
export type { StoreSnapshot, ExperimentRecord, CellRecord } from './store/read';
export type {
  StoredCellConfig,
  CellStatus,
  EvalResult,
  Embeddings,
  Retrieval,
  MetricLine,
} from './store/schema';
export { loadPaperReference } from './store/reference';
export type { PaperReference, PaperResult } from './store/reference';
export { normalize, DEFAULT_METRICS } from './table/normalize';
export type { NormalizedExperiment, Observation } from './table/normalize';
export { buildTable, parseBaseline, DEFAULT_BASELINE, columnKey } from './table/build';
export type { AblationTable, TableRow, StatCell, Delta, TableColumn } from './table/build';
export { toMarkdown, toLatex, toCsv, toHtmlTable, toHtmlDocument } from './table/assemble';
export { mean, sampleStd, pairedTTest } from './stats';
export type { PairedTTest } from './stats';
export { pca } from './pca';
export type { PcaResult } from './pca';
export {
  mapByCellSpec,
  trainingCurvesSpec,
  prCurveSpec,
  distanceHistogramSpec,
  pcaSpec,
} from './charts/specs';
export { renderSvg, renderPng, svgToPng, toVega } from './charts/render';
export { retrievalGridSvg } from './retrieval';
export { writeDashboard } from './dashboard/site';
export { serveStatic } from './serve';
export { ReportInputError } from './messages';
export { runBuild } from './cli';
export type { CommonArgs as ReportBuildArgs } from './cli';

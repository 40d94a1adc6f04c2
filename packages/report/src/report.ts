/**
 * The orchestrator (one place, like Vega-Lite's compile): load the run store → normalize → buildTable →
 * assemble each format, build the chart specs, render them, and write the static dashboard. Everything
 * but this file and the readers is a pure function.
 */
import * as path from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import {
  distanceHistogramSpec,
  mapByCellSpec,
  pcaSpec,
  prCurveSpec,
  trainingCurvesSpec,
} from './charts/specs';
import {
  epochPoints,
  finiteRows,
  histogramBins,
  mapChartData,
  meanBy,
  pcaPoints,
  prPoints,
  stepPoints,
  sumHistograms,
} from './charts/data';
import { renderSvg, svgToPng } from './charts/render';
import { writeDashboard } from './dashboard/site';
import { pca } from './pca';
import { loadGridRows, retrievalGridSvg } from './retrieval';
import { loadPaperReference, type PaperReference } from './store/reference';
import {
  displayPath,
  loadRunStore,
  readEmbeddings,
  readRetrieval,
  type CellRecord,
  type ExperimentRecord,
} from './store/read';
import { buildTable, type AblationTable } from './table/build';
import { paperUnmatchedMarkdown, toCsv, toHtmlDocument, toLatex, toMarkdown } from './table/assemble';
import { metricsFor, normalize, type NormalizedExperiment, type Observation } from './table/normalize';
import { safeSegment } from './util/html';
import { mdCode, mdParagraph, mdText, shellWord } from './util/markdown';
import { confineOutput, writeInside } from './util/paths';
// sensitivity section (issue 15)
import { computeSensitivity, type SensitivityView } from './sensitivity/compute';
import { sensitivitySection } from './sensitivity/section';

export interface BuildOptions {
  runsDir: string;
  /** output folder; default reports/<experiment>, or reports when all experiments are built */
  out?: string;
  experiment?: string;
  mlflowUi?: string;
  /** baseline row, axis → value (default SE + softmax) */
  baseline?: Record<string, string>;
  /** experiments/paper-reference.yaml by default; missing file is fine */
  referenceFile?: string;
  /** render PNGs next to the SVGs (default true) */
  png?: boolean;
  dashboard?: boolean;
  /** Show the cells that are not in experiment.json's current cell set, marked (default: leave out). */
  includeStale?: boolean;
  /** Pages of the dashboard reload themselves after a rebuild (report:serve --watch). */
  watch?: boolean;
  log?: (line: string) => void;
}

export interface ExperimentView {
  exp: ExperimentRecord;
  norm: NormalizedExperiment;
  table: AblationTable;
  obs: Map<string, Observation>;
  /** the folder its paper outputs go to */
  outDir: string;
  /** sensitivity section (issue 15): only for an experiment.json with a `sensitivity` block */
  sensitivity?: SensitivityView;
}

export interface BuildResult {
  out: string;
  experiments: { id: string; outDir: string; files: string[] }[];
  dashboard?: string;
  warnings: string[];
}

export const defaultOut = (experiment?: string): string =>
  experiment ? path.join('reports', experiment) : 'reports';

/** Writes `file` (relative to, and confined to, the output folder `root`) and records it. */
function writeFile(root: string, file: string, content: string | Buffer, files: string[]): void {
  files.push(writeInside(root, file, content));
}

export function referenceNote(ref: PaperReference | undefined, file: string): string | undefined {
  if (!ref) return `Paper numbers: ${displayPath(file)} not found, so none are shown.`;
  if (!ref.results.some((r) => typeof r.value === 'number'))
    return `Paper numbers: ${displayPath(file)} has no transcribed results yet (see its notes), so the paper columns are empty.`;
  return undefined;
}

/** Lowest-seed finished cell of a table row on a dataset. */
export function representative(
  view: ExperimentView,
  rowKey: string,
  dataset: string,
): CellRecord | undefined {
  const cands = view.exp.cells
    .filter((c) => {
      const o = view.obs.get(c.cellId);
      return o && o.rowKey === rowKey && o.dataset === dataset && c.status.state === 'finished';
    })
    .sort((a, b) => Number(view.obs.get(a.cellId)?.seed) - Number(view.obs.get(b.cellId)?.seed));
  return cands[0];
}

export interface ChartSet {
  name: string;
  title: string;
  spec: TopLevelSpec;
}

/** The report's charts for one experiment (pure apart from reading embeddings). */
export function experimentCharts(view: ExperimentView): ChartSet[] {
  const { table, exp } = view;
  const charts: ChartSet[] = [];
  const m = mapChartData(table);
  if (m.summary.length)
    charts.push({
      name: 'map-by-cell',
      title: `${table.metrics.join(', ').replace(/, ([^,]*)$/, ' and $1')} by cell`,
      spec: mapByCellSpec(m.points, m.summary, {
        rows: m.rows,
        title: `${table.experimentName}: retrieval accuracy by cell`,
      }),
    });
  const rowLabel = new Map(table.rows.map((r) => [r.key, r.label]));
  for (const dataset of table.datasets) {
    const cells = exp.cells.filter((c) => view.obs.get(c.cellId)?.dataset === dataset);
    const label = (c: CellRecord) => rowLabel.get(view.obs.get(c.cellId)?.rowKey ?? '') ?? c.cellId;
    const finished = cells.filter((c) => c.status.state === 'finished');
    const steps = meanBy(
      finished.flatMap((c) => stepPoints(label(c), c.metrics, 100000)),
      ['run', 'step'],
      'loss',
    );
    const epochs = meanBy(
      finished.flatMap((c) => epochPoints(label(c), c.metrics)),
      ['run', 'epoch', 'metric'],
      'value',
    );
    const seg = safeSegment(dataset);
    const runs = table.rows.map((r) => r.label);
    if (steps.length || epochs.length)
      charts.push({
        name: `training-curves-${seg}`,
        title: `Training curves on ${dataset} (mean over finished seeds)`,
        spec: trainingCurvesSpec(steps, epochs, {
          legendTitle: 'cell (mean over seeds)',
          title: `Training curves on ${dataset}, mean over finished seeds`,
          runs: runs.filter((r) => steps.some((s) => s.run === r) || epochs.some((e) => e.run === r)),
        }),
      });
    const pr = meanBy(
      finished.flatMap((c) => prPoints(label(c), c.eval)),
      ['run', 'recall'],
      'precision',
    );
    if (pr.length)
      charts.push({
        name: `pr-${seg}`,
        title: `Precision–recall on ${dataset}`,
        spec: prCurveSpec(pr, {
          legendTitle: 'cell (mean over seeds)',
          title: `Precision–recall on ${dataset}, mean over seeds`,
          runs: runs.filter((r) => pr.some((p) => p.run === r)),
        }),
      });
    const bins = table.rows.flatMap((r) =>
      histogramBins(
        r.label,
        sumHistograms(finished.filter((c) => view.obs.get(c.cellId)?.rowKey === r.key).map((c) => c.eval)),
      ),
    );
    const separated: Record<string, number> = {};
    for (const r of table.rows) {
      const fs_ = finished
        .filter((c) => view.obs.get(c.cellId)?.rowKey === r.key)
        .map((c) => c.eval?.distanceStats?.fractionSeparated)
        .filter((x): x is number => typeof x === 'number');
      if (fs_.length) separated[r.label] = fs_.reduce((s, x) => s + x, 0) / fs_.length;
    }
    if (bins.length)
      charts.push({
        name: `distances-${seg}`,
        title: `Intra- vs inter-class distances on ${dataset}`,
        spec: distanceHistogramSpec(bins, {
          title: `Intra- vs inter-class distances on ${dataset} (all seeds pooled)`,
          runs: runs.filter((r) => bins.some((b) => b.run === r)),
          separated,
        }),
      });
    for (const c of representativeCells(view, dataset)) {
      if (!c.hasEmbeddings) continue;
      const emb = readEmbeddings(c);
      if (!emb || finiteRows(emb).rows.length < 3) continue;
      const p = pca(finiteRows(emb).vectors, 2);
      const o = view.obs.get(c.cellId);
      charts.push({
        name: `pca-${c.cellId}`,
        title: `Embeddings (PCA) of ${o?.label ?? c.cellId}`,
        spec: pcaSpec(pcaPoints(emb, p), {
          title: `Embeddings of ${o?.label ?? c.cellId}, PCA`,
          explained: [p.explained[0] ?? 0, p.explained[1] ?? 0],
        }),
      });
    }
  }
  return charts;
}

/** For a dataset: the lowest-seed finished runs of the baseline row and of the best other row. */
export function representativeCells(view: ExperimentView, dataset: string): CellRecord[] {
  const t = view.table;
  const col = t.columns.find((c) => c.dataset === dataset && !c.paperOnly);
  const out: CellRecord[] = [];
  const base = t.rows.find((r) => r.isBaseline);
  // the best row; when that is the baseline itself, the best of the others (so two runs can be compared)
  const ranked = col
    ? [...t.rows]
        .filter((r) => r.cells[col.key].mean !== null)
        .sort((a, b) => (b.cells[col.key].mean as number) - (a.cells[col.key].mean as number))
    : [];
  const best = ranked.find((r) => r !== base);
  for (const r of [base, best]) {
    if (!r) continue;
    const c = representative(view, r.key, dataset);
    if (c && !out.includes(c)) out.push(c);
  }
  return out;
}

/** The table note on cells outside the current cell set (left out, or shown in their own rows). */
export function staleNote(exp: ExperimentRecord): string | undefined {
  const n = exp.staleCount;
  if (!n) return undefined;
  const shown = exp.cells.some((c) => c.stale);
  return shown
    ? `${n} stale cell(s) (not in the current cell set of experiment.json: an earlier yaml or overrides) are shown in rows of their own, marked by the earlier cell set that held them ("set k" = entry k of experiment.json's history); they are never pooled with current cells.`
    : `${n} stale cell(s) left out: in ${displayPath(exp.dir)} but not in the current cell set of experiment.json (the yaml or the overrides changed since they ran); --include-stale shows them, marked.`;
}

export function makeView(
  exp: ExperimentRecord,
  outDir: string,
  opts: { baseline?: Record<string, string>; reference?: PaperReference; referenceFile: string },
): ExperimentView {
  const norm = normalize(exp, metricsFor(exp));
  const table = buildTable(norm, { baseline: opts.baseline, reference: opts.reference?.results });
  const note = referenceNote(opts.reference, opts.referenceFile);
  if (note) table.notes.push(note);
  const stale = staleNote(exp);
  if (stale) table.notes.push(stale);
  const sensitivity = computeSensitivity(exp); // sensitivity section (issue 15)
  return { exp, norm, table, obs: new Map(norm.observations.map((o) => [o.cellId, o])), outDir, sensitivity };
}

async function writeExperimentOutputs(
  view: ExperimentView,
  opts: BuildOptions,
  files: string[],
  dashboardDir: string,
  root: string,
): Promise<ChartSet[]> {
  const dir = view.outDir;
  // every file below is confined to the whole output folder (a link at <out>/<experiment> is caught too)
  const write = (file: string, content: string | Buffer, list: string[]) =>
    writeFile(root, path.resolve(dir, file), content, list);
  const t = view.table;
  const md = toMarkdown(t);
  const extra = paperUnmatchedMarkdown(t);
  write('ablation.md', md + (extra ? `\n${extra}` : ''), files);
  write('ablation.tex', toLatex(t), files);
  write('ablation.csv', toCsv(t), files);
  write('ablation.html', toHtmlDocument(t), files);

  const charts = experimentCharts(view);
  const figureLines: string[] = [];
  for (const c of charts) {
    const base = path.join(dir, 'charts', c.name);
    write(`${base}.vl.json`, `${JSON.stringify(c.spec, null, 1)}\n`, files);
    const svg = await renderSvg(c.spec);
    write(`${base}.svg`, svg, files);
    if (opts.png !== false) write(`${base}.png`, await svgToPng(svg), files);
    figureLines.push(
      `### ${mdText(c.title)}`,
      '',
      `![${mdText(c.title)}](charts/${encodeURIComponent(c.name)}.${opts.png !== false ? 'png' : 'svg'})`,
      '',
    );
  }
  for (const dataset of t.datasets) {
    for (const c of representativeCells(view, dataset)) {
      if (!c.hasRetrieval) continue;
      const r = readRetrieval(c);
      if (!r || !r.queries.length) continue;
      const label = view.obs.get(c.cellId)?.label ?? c.cellId;
      const svg = retrievalGridSvg(loadGridRows(c.dir, r), {
        title: `Retrieval examples: ${label}`,
        k: Math.min(10, r.k ?? 10),
      });
      const base = path.join(dir, 'retrieval', c.cellId);
      write(`${base}.svg`, svg, files);
      if (opts.png !== false) write(`${base}.png`, await svgToPng(svg, 1.5), files);
      figureLines.push(
        `### Retrieval examples: ${mdText(label)}`,
        '',
        `![retrieval examples](retrieval/${c.cellId}.${opts.png !== false ? 'png' : 'svg'})`,
        '',
      );
    }
  }
  const counts = view.exp.cells.reduce<Record<string, number>>(
    (acc, c) => ({ ...acc, [c.status.state]: (acc[c.status.state] ?? 0) + 1 }),
    {},
  );
  // sensitivity section (issue 15): its files and Markdown come from sensitivity/section.ts
  const sens = view.sensitivity
    ? await sensitivitySection(view.sensitivity, t.experimentName, { png: opts.png !== false })
    : undefined;
  for (const f of sens?.files ?? []) write(f.path, f.content, files);
  const report = [
    `# ${mdText(t.experimentName)}: report`,
    '',
    mdParagraph(view.norm.description ?? ''),
    '',
    `Built from ${mdCode(displayPath(view.exp.dir))} (experiment updated ${mdText(view.exp.meta.updatedAt ?? 'unknown')}): ` +
      `${view.exp.cells.length} cells, ${Object.entries(counts)
        .map(([k, v]) => `${v} ${mdText(k)}`)
        .join(
          ', ',
        )}${view.exp.staleCount ? ` (${view.exp.staleCount} stale ${view.exp.cells.some((c) => c.stale) ? 'included, marked' : 'left out'})` : ''}. Regenerate with ${mdCode(`npx nx run report:build -- --experiment ${shellWord(view.exp.id)}`)}.`,
    '',
    md.replace(/^### /, '## '),
    extra ? extra.replace(/^### /, '## ') : '',
    `Also: [LaTeX](ablation.tex) · [CSV](ablation.csv) · [HTML](ablation.html)${
      opts.dashboard !== false
        ? ` · [dashboard](${path
            .relative(dir, path.join(dashboardDir, 'e', safeSegment(view.exp.id), 'index.html'))
            .split(path.sep)
            .join('/')})`
        : ''
    }`,
    '',
    ...(sens ? [sens.markdown, ''] : []), // sensitivity section (issue 15)
    '## Figures',
    '',
    ...figureLines,
  ].join('\n');
  write('report.md', report, files);
  return charts;
}

export async function buildReport(opts: BuildOptions): Promise<BuildResult> {
  const log = opts.log ?? (() => undefined);
  const store = loadRunStore(opts.runsDir, opts.experiment, { includeStale: opts.includeStale });
  const out = path.resolve(opts.out ?? defaultOut(opts.experiment ? store.experiments[0].id : undefined));
  const referenceFile = path.resolve(opts.referenceFile ?? path.join('experiments', 'paper-reference.yaml'));
  const reference = loadPaperReference(referenceFile);
  const single = opts.experiment !== undefined;
  const views = store.experiments.map((exp) =>
    makeView(exp, single ? out : path.join(out, safeSegment(exp.id)), {
      baseline: opts.baseline,
      reference,
      referenceFile,
    }),
  );
  const result: BuildResult = { out, experiments: [], warnings: [...store.warnings] };
  for (const v of views) {
    const files: string[] = [];
    log(`[report] ${v.exp.id}: ${v.exp.cells.length} cells → ${displayPath(v.outDir)}`);
    await writeExperimentOutputs(v, opts, files, path.join(out, 'dashboard'), out);
    result.experiments.push({ id: v.exp.id, outDir: v.outDir, files });
  }
  if (opts.dashboard !== false) {
    const dash = path.join(out, 'dashboard');
    confineOutput(out, path.join(dash, 'index.html')); // the dashboard folder itself is no link out
    await writeDashboard(dash, views, {
      mlflowUi: opts.mlflowUi,
      watch: opts.watch,
      reportDirs: Object.fromEntries(views.map((v) => [v.exp.id, path.relative(dash, v.outDir)])),
    });
    result.dashboard = dash;
    log(`[report] dashboard → ${displayPath(path.join(dash, 'index.html'))}`);
  }
  for (const w of result.warnings) log(`[report] warning: ${w}`);
  return result;
}

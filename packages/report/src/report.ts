/**
 * The orchestrator (one place, like Vega-Lite's compile): read the run store → build the view model once
 * (tables and every page's charts, view/report-model.ts) → render it: the paper outputs here (tables,
 * chart files, retrieval grids, report.md), the static dashboard in dashboard/. Everything but the
 * readers and the writers is a pure function.
 */
import * as path from 'node:path';
import type { ChartSet } from './charts/record';
import { renderSvg, svgToPng } from './charts/render';
import { writeDashboard } from './dashboard/site';
import { loadGridRows, retrievalGridSvg } from './retrieval';
import { loadPaperReference } from './store/reference';
import { displayPath, loadRunStore, readRetrieval } from './store/read';
import { paperUnmatchedMarkdown, toCsv, toHtmlDocument, toLatex, toMarkdown } from './table/assemble';
import { safeSegment } from './util/html';
import { mdCode, mdParagraph, mdText, shellWord } from './util/markdown';
import { assertNoLinkOut, confineOutput, writeInside } from './util/paths';
import { representativeCells } from './view/experiment-view';
import { buildReportModel, type ExperimentModel } from './view/report-model';

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

export interface BuildResult {
  out: string;
  experiments: { id: string; outDir: string; files: string[] }[];
  dashboard?: string;
  warnings: string[];
}

export const defaultOut = (experiment?: string): string =>
  experiment ? path.join('reports', experiment) : 'reports';

/** Writes a file of an experiment's outputs (relative to its folder) and records it. */
type Write = (file: string, content: string | Buffer) => void;

/** The ablation table in its four formats; returns the Markdown table and its unmatched-paper note. */
function writeTables(view: ExperimentModel, write: Write): { md: string; extra: string } {
  const t = view.table;
  const md = toMarkdown(t);
  const extra = paperUnmatchedMarkdown(t);
  write('ablation.md', md + (extra ? `\n${extra}` : ''));
  write('ablation.tex', toLatex(t));
  write('ablation.csv', toCsv(t));
  write('ablation.html', toHtmlDocument(t));
  return { md, extra };
}

/** Each chart as Vega-Lite JSON, SVG and (unless off) PNG; returns its report.md figure lines. */
async function writeCharts(charts: ChartSet[], png: boolean, write: Write): Promise<string[]> {
  const lines: string[] = [];
  for (const c of charts) {
    const base = path.join('charts', c.name);
    write(`${base}.vl.json`, `${JSON.stringify(c.spec, null, 1)}\n`);
    const svg = await renderSvg(c.spec);
    write(`${base}.svg`, svg);
    if (png) write(`${base}.png`, await svgToPng(svg));
    const href = `charts/${encodeURIComponent(c.name)}.${png ? 'png' : 'svg'}`;
    lines.push(`### ${mdText(c.title)}`, '', `![${mdText(c.title)}](${href})`, '');
  }
  return lines;
}

/** Retrieval grids of each dataset's representative cells; returns their report.md figure lines. */
async function writeRetrievalGrids(view: ExperimentModel, png: boolean, write: Write): Promise<string[]> {
  const lines: string[] = [];
  for (const dataset of view.table.datasets) {
    for (const c of representativeCells(view, dataset)) {
      if (!c.hasRetrieval) continue;
      const r = readRetrieval(c);
      if (!r || !r.queries.length) continue;
      const label = view.obs.get(c.cellId)?.label ?? c.cellId;
      const svg = retrievalGridSvg(loadGridRows(c.dir, r), {
        title: `Retrieval examples: ${label}`,
        k: Math.min(10, r.k ?? 10),
      });
      const base = path.join('retrieval', c.cellId);
      write(`${base}.svg`, svg);
      if (png) write(`${base}.png`, await svgToPng(svg, 1.5));
      lines.push(
        `### Retrieval examples: ${mdText(label)}`,
        '',
        `![retrieval examples](retrieval/${c.cellId}.${png ? 'png' : 'svg'})`,
        '',
      );
    }
  }
  return lines;
}

/** The line under the title: where it was built from, the cell states, and how to rebuild it. */
function provenanceLine(view: ExperimentModel): string {
  const { exp } = view;
  const counts = exp.cells.reduce<Record<string, number>>(
    (acc, c) => ({ ...acc, [c.status.state]: (acc[c.status.state] ?? 0) + 1 }),
    {},
  );
  const states = Object.entries(counts)
    .map(([k, v]) => `${v} ${mdText(k)}`)
    .join(', ');
  const stale = exp.staleCount
    ? ` (${exp.staleCount} stale ${exp.cells.some((c) => c.stale) ? 'included, marked' : 'left out'})`
    : '';
  const rebuild = mdCode(`npx nx run report:generate -- --experiment ${shellWord(exp.id)}`);
  return (
    `Built from ${mdCode(displayPath(exp.dir))} (experiment updated ${mdText(exp.meta.updatedAt ?? 'unknown')}): ` +
    `${exp.cells.length} cells, ${states}${stale}. Regenerate with ${rebuild}.`
  );
}

function reportMarkdown(
  view: ExperimentModel,
  parts: { md: string; extra: string; sections: string[]; figures: string[]; dashboardHref?: string },
): string {
  return [
    `# ${mdText(view.table.experimentName)}: report`,
    '',
    mdParagraph(view.norm.description ?? ''),
    '',
    provenanceLine(view),
    '',
    parts.md.replace(/^### /, '## '),
    parts.extra ? parts.extra.replace(/^### /, '## ') : '',
    `Also: [LaTeX](ablation.tex) · [CSV](ablation.csv) · [HTML](ablation.html)${
      parts.dashboardHref !== undefined ? ` · [dashboard](${parts.dashboardHref})` : ''
    }`,
    '',
    ...parts.sections,
    '## Figures',
    '',
    ...parts.figures,
  ].join('\n');
}

/** The paper outputs of one experiment, every file confined to the whole output folder `root`. */
async function writeExperimentOutputs(
  view: ExperimentModel,
  opts: BuildOptions,
  dashboardDir: string,
  root: string,
): Promise<string[]> {
  const files: string[] = [];
  // confined to the whole output folder, so a link at <out>/<experiment> is caught too
  const write: Write = (file, content) =>
    files.push(writeInside(root, path.resolve(view.outDir, file), content));
  const png = opts.png !== false;
  const { md, extra } = writeTables(view, write);
  const figures = [
    ...(await writeCharts(view.charts.report, png, write)),
    ...(await writeRetrievalGrids(view, png, write)),
  ];
  const sections: string[] = [];
  for (const s of view.sections) {
    const part = await s.report({ png });
    for (const f of part.files) write(f.path, f.content);
    sections.push(part.markdown, '');
  }
  const dashboardHref =
    opts.dashboard !== false
      ? path
          .relative(view.outDir, path.join(dashboardDir, 'e', safeSegment(view.exp.id), 'index.html'))
          .split(path.sep)
          .join('/')
      : undefined;
  write('report.md', reportMarkdown(view, { md, extra, sections, figures, dashboardHref }));
  return files;
}

export async function buildReport(opts: BuildOptions): Promise<BuildResult> {
  const log = opts.log ?? (() => undefined);
  const store = loadRunStore(opts.runsDir, opts.experiment, { includeStale: opts.includeStale });
  const out = path.resolve(opts.out ?? defaultOut(opts.experiment ? store.experiments[0].id : undefined));
  // refused before the first file, not half-way through the report
  assertNoLinkOut(out);
  const referenceFile = path.resolve(opts.referenceFile ?? path.join('experiments', 'paper-reference.yaml'));
  const model = buildReportModel(store, {
    out,
    single: opts.experiment !== undefined,
    baseline: opts.baseline,
    reference: loadPaperReference(referenceFile),
    referenceFile,
  });
  const result: BuildResult = { out, experiments: [], warnings: model.warnings };
  const dash = path.join(out, 'dashboard');
  for (const v of model.experiments) {
    log(`[report] ${v.exp.id}: ${v.exp.cells.length} cells → ${displayPath(v.outDir)}`);
    const files = await writeExperimentOutputs(v, opts, dash, out);
    result.experiments.push({ id: v.exp.id, outDir: v.outDir, files });
  }
  if (opts.dashboard !== false) {
    confineOutput(out, path.join(dash, 'index.html')); // the dashboard folder itself is no link out
    await writeDashboard(dash, model.experiments, {
      mlflowUi: opts.mlflowUi,
      watch: opts.watch,
      reportDirs: Object.fromEntries(model.experiments.map((v) => [v.exp.id, path.relative(dash, v.outDir)])),
    });
    result.dashboard = dash;
    log(`[report] dashboard → ${displayPath(path.join(dash, 'index.html'))}`);
  }
  for (const w of result.warnings) log(`[report] warning: ${w}`);
  return result;
}

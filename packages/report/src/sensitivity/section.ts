/**
 * The sensitivity section's files beside report.md: sensitivity.md, sensitivity.tex and a chart per
 * claim (charts/sensitivity-<k>-<axis>.vl.json, .svg, .png), plus the Markdown for report.md. The
 * orchestrator writes the files (confined to the output folder); this module only renders them.
 */
import { forestChartName } from '../charts/records/sensitivity-forest';
import { renderSvg, svgToPng } from '../charts/render';
import { safeSegment } from '../util/html';
import type { SensitivityView } from './compute';
import { findingsMarkdown } from './findings';
import { sensitivityLatex } from './latex';
import { sensitivityMarkdown } from './markdown';
import { sensitivitySpec } from './spec';

export interface SectionFile {
  /** relative to the experiment's output folder */
  path: string;
  content: string | Buffer;
}

export interface SensitivitySection {
  files: SectionFile[];
  /** the section for report.md, from `## Sensitivity` on */
  markdown: string;
}

export const sensitivityChartName = (v: SensitivityView, i: number): string =>
  `sensitivity-${i + 1}-${safeSegment(v.claims[i]!.axis)}`;

export async function sensitivitySection(
  v: SensitivityView,
  experiment: string,
  opts: { png?: boolean } = {},
): Promise<SensitivitySection> {
  const png = opts.png !== false;
  const files: SectionFile[] = [];
  for (const [i, c] of v.claims.entries()) {
    const base = `charts/${sensitivityChartName(v, i)}`;
    const spec = sensitivitySpec(c, v.factors, v.metric);
    const svg = await renderSvg(spec);
    files.push({ path: `${base}.vl.json`, content: `${JSON.stringify(spec, null, 1)}\n` });
    files.push({ path: `${base}.svg`, content: svg });
    if (png) files.push({ path: `${base}.png`, content: await svgToPng(svg) });
  }
  const link = (i: number) => `charts/${sensitivityChartName(v, i)}.${png ? 'png' : 'svg'}`;
  // the forest plots are chart records (charts/records/sensitivity-forest.ts), written with the figures
  const forest = (i: number) =>
    v.claims[i]!.settings.some((s) => s.mean !== null)
      ? `charts/${forestChartName(v, i)}.${png ? 'png' : 'svg'}`
      : undefined;
  const markdown = sensitivityMarkdown(v, link, forest);
  files.push({ path: 'sensitivity.md', content: `${markdown}\n` });
  files.push({ path: 'findings.md', content: findingsMarkdown(v) });
  files.push({ path: 'sensitivity.tex', content: sensitivityLatex(v, experiment) });
  return { files, markdown };
}

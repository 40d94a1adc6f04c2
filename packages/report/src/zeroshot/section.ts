/**
 * The zero-shot section's files beside report.md: zeroshot.md, zeroshot.tex, zeroshot.csv and (with
 * claims) zeroshot-claims.csv, plus its Markdown for report.md. The per-class charts are chart records
 * (charts/records/zeroshot-per-class.ts), written with the other figures; the section links them.
 */
import type { SectionFile } from '../sensitivity/section';
import type { ZeroShotView, ZsTable } from './compute';
import { zeroShotClaimsCsv, zeroShotCsv } from './csv';
import { zeroShotLatex } from './latex';
import { zeroShotMarkdown } from './markdown';
import { perClassChartName, perClassData } from './per-class';

export function zeroShotSection(
  v: ZeroShotView,
  experiment: string,
  opts: { png?: boolean } = {},
): { files: SectionFile[]; markdown: string } {
  const ext = opts.png !== false ? 'png' : 'svg';
  const chart = (t: ZsTable) =>
    perClassData(t).points.length ? `charts/${perClassChartName(t)}.${ext}` : undefined;
  const markdown = zeroShotMarkdown(v, chart);
  const files: SectionFile[] = [
    { path: 'zeroshot.md', content: `${markdown}\n` },
    { path: 'zeroshot.tex', content: zeroShotLatex(v, experiment) },
    { path: 'zeroshot.csv', content: zeroShotCsv(v, experiment) },
  ];
  if (v.claims.length) files.push({ path: 'zeroshot-claims.csv', content: zeroShotClaimsCsv(v, experiment) });
  return { files, markdown };
}

/** The zero-shot section in Markdown: tables, claim sentences, word-vector coverage, class neighbours. */
import { mdCell, mdText } from '../util/markdown';
import type { ZeroShotView, ZsCoverage, ZsNeighbours, ZsTable } from './compute';
import {
  TABLE_NOTE,
  classesText,
  claimsNote,
  coverageLine,
  missingTokensText,
  neighbourCells,
  neighbourColumns,
  neighbourIntro,
  rowCells,
  tableColumns,
  unseenText,
} from './cells';

const mdRow = (cells: string[]): string => `| ${cells.map(mdCell).join(' | ')} |`;

function tableMarkdown(v: ZeroShotView, t: ZsTable, chart: string | undefined): string[] {
  const head = tableColumns(t, v.rowAxes);
  const labels = Math.max(1, v.rowAxes.length);
  const claims = v.claims.filter((c) => c.tableId === t.id);
  return [
    `### ${mdText(t.caption)}`,
    '',
    mdRow(head),
    `| ${head.map((_, i) => (i < labels ? ':--' : '--:')).join(' | ')} |`,
    ...t.rows.map((r) => mdRow(rowCells(r, v.rowAxes))),
    '',
    mdText(unseenText(t)),
    '',
    ...claims.flatMap((c) => [`- ${mdText(c.sentence)}`]),
    ...(claims.length ? [''] : []),
    // a link, not the image: report.md shows the chart once, under Figures (it is a chart record)
    ...(chart ? [`Per unseen class: [chart](${chart}).`, ''] : []),
  ];
}

function coverageMarkdown(c: ZsCoverage): string[] {
  const head = `**${mdText(c.dataset)}**`;
  const without = c.without ? ` ${c.without} cell(s) record no class vectors.` : '';
  if (!c.variants.length) return [`- ${head}: no cell records class vectors.`];
  const detail = (v: ZsCoverage['variants'][number], indent: string) => [
    `${indent}- classes with no vector: ${mdText(classesText(v.vectors.missingClasses))}`,
    `${indent}- tokens with no vector: ${mdText(missingTokensText(v.vectors))}`,
  ];
  if (c.variants.length === 1) {
    const v = c.variants[0]!;
    return [
      `- ${head}: ${mdText(coverageLine(v.vectors))} (shared by its ${v.cells} cell(s)).${mdText(without)}`,
      ...detail(v, '  '),
    ];
  }
  return [
    `- ${head}: **the cells disagree on the class vectors** (${c.variants.length} different records).${mdText(without)}`,
    ...c.variants.flatMap((v) => [
      `  - ${v.cells} cell(s): ${mdText(coverageLine(v.vectors))}`,
      ...detail(v, '    '),
    ]),
  ];
}

function neighboursMarkdown(n: ZsNeighbours): string[] {
  const head = neighbourColumns(n.distance);
  return [
    `### ${mdText(`Class neighbours: ${n.dataset}, ${n.protocol}`)}`,
    '',
    mdText(neighbourIntro(n)),
    '',
    ...(n.classes.length
      ? [
          mdRow(head),
          `| ${head.map((_, i) => (i === 3 ? '--:' : ':--')).join(' | ')} |`,
          ...n.classes.map((c) => mdRow(neighbourCells(c))),
          '',
        ]
      : []),
  ];
}

/** The section from `## Zero-shot retrieval` on; `chartFile(t)` links a table's per-class chart. */
export function zeroShotMarkdown(v: ZeroShotView, chartFile: (t: ZsTable) => string | undefined): string {
  return [
    '## Zero-shot retrieval',
    '',
    mdText(TABLE_NOTE),
    '',
    ...(v.claims.length ? [mdText(claimsNote()), ''] : []),
    ...v.notes.map((n) => `- ${mdText(n)}`),
    ...(v.notes.length ? [''] : []),
    ...v.tables.flatMap((t) => tableMarkdown(v, t, chartFile(t))),
    '### Word vectors',
    '',
    ...v.coverage.flatMap(coverageMarkdown),
    '',
    ...v.neighbours.flatMap(neighboursMarkdown),
  ].join('\n');
}

/** The ablation table as Markdown (and the paper's other numbers as a list). */
import { mdCell } from '../util/markdown';
import type { AblationTable, StatCell } from './build';
import { cellText, deltaText, fmt, paperTableRef, paperText } from './format';
import { displayAxis, displayValue } from './normalize';
import { layout, pEq, statusText, tableNotes } from './layout';

const ours = (c: StatCell): string => {
  const x = cellText(c);
  if (!x.mean) return '';
  return `${x.mean}${x.std ? ` ± ${x.std}` : ''} (n=${x.n})`;
};

/** Every string in a Markdown table, title or note (store strings above all) goes through here. */
const mdEscape = (s: string): string => mdCell(s);

export function toMarkdown(t: AblationTable): string {
  const groups = layout(t);
  const head: string[] = t.rowAxes.map(displayAxis);
  const align: string[] = t.rowAxes.map(() => ':--');
  for (const g of groups) {
    const name = `${g.col.dataset} ${g.col.metric}`;
    if (g.ours) {
      head.push(name);
      align.push('--:');
    }
    if (g.delta) {
      head.push(`${g.col.dataset} Δ ${g.col.metric} (p)`);
      align.push('--:');
    }
    if (g.paper) {
      head.push(`${name} (paper)`);
      align.push('--:');
    }
  }
  head.push('Runs');
  align.push(':--');
  const body = t.rows.map((r) => {
    const cells: string[] = t.rowAxes.map((a) => mdEscape(displayValue(a, r.axes[a])));
    for (const g of groups) {
      const c = r.cells[g.col.key];
      if (g.ours) {
        const s = mdEscape(ours(c));
        cells.push(c.best && s ? `**${s}**` : s);
      }
      if (g.delta) {
        const d = deltaText(c.delta);
        cells.push(r.isBaseline ? '(baseline)' : d.delta ? `${d.delta} (${pEq(d.p)})` : d.p);
      }
      if (g.paper) {
        const ref = paperTableRef(c.paper);
        cells.push(c.paper ? `${paperText(c.paper)}${ref ? ` [${mdEscape(ref)}]` : ''}` : '');
      }
    }
    cells.push(mdEscape(statusText(r)));
    return `| ${cells.join(' | ')} |`;
  });
  const title = `### Ablation: ${mdEscape(t.experimentName)}`;
  const notes = tableNotes(t).map((l) => `- ${mdEscape(l)}`);
  return [
    title,
    '',
    `| ${head.map(mdEscape).join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...body,
    '',
    ...notes,
    '',
  ].join('\n');
}

export function paperUnmatchedMarkdown(t: AblationTable): string {
  if (!t.paperUnmatched.length) return '';
  const rows = t.paperUnmatched.map(
    (r) =>
      `| ${[r.table ?? '', r.dataset, r.method ?? '', r.block ?? '', r.loss ?? '', r.backbone ?? '', r.metric, typeof r.value === 'number' ? fmt(r.value) : ''].map((s) => mdEscape(String(s))).join(' | ')} |`,
  );
  return [
    '### Other numbers from the paper',
    '',
    '| Table | Dataset | Method | Block | Loss | Backbone | Metric | Value |',
    '| :-- | :-- | :-- | :-- | :-- | :-- | :-- | --: |',
    ...rows,
    '',
  ].join('\n');
}

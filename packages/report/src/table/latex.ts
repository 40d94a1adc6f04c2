/** The ablation table as LaTeX (booktabs), sized to fit a column or the text width. */
import type { AblationTable, TableRow } from './build';
import { cellText, deltaText, paperText } from './format';
import { displayAxis, displayValue } from './normalize';
import { layout, pEq, type ColumnGroup } from './layout';

const TEX_ESCAPES: Record<string, string> = {
  '\\': '\\textbackslash{}',
  '&': '\\&',
  '%': '\\%',
  $: '\\$',
  '#': '\\#',
  _: '\\_',
  '{': '\\{',
  '}': '\\}',
  '~': '\\textasciitilde{}',
  '^': '\\textasciicircum{}',
  '<': '\\textless{}',
  '>': '\\textgreater{}',
  Δ: '$\\Delta$',
  '±': '$\\pm$',
  '−': '-',
  // a blank line inside \caption or a cell ends the paragraph and breaks the table
  '\n': ' ',
  '\r': ' ',
};

/** Text for LaTeX: every special character written as text, so no store string can run a command. */
export const texEscape = (s: string): string => s.replace(/[\\&%$#_{}~^<>Δ±−\n\r]/g, (c) => TEX_ESCAPES[c]);

/** Points of a one-column article's \textwidth (LaTeX's default 345 pt) and a two-column one's \columnwidth. */
export const LATEX_TEXT_WIDTH = 345;
export const LATEX_COLUMN_WIDTH = 229;

/** Rough width in points of text set in \small (9 pt Computer Modern: ~4.6 pt a character). */
const smallWidth = (plain: string): number => plain.length * 4.6;
const scriptWidth = (plain: string): number => plain.length * 3.6;

interface LatexCell {
  /** the TeX of each line (line 1 = ours; then Δ and paper, \scriptsize) */
  lines: string[];
  /** estimated width in points */
  width: number;
}

function latexMetricCell(r: TableRow, g: ColumnGroup): LatexCell {
  const c = r.cells[g.col.key];
  const x = cellText(c);
  const mean = c.best && x.mean ? `\\textbf{${x.mean}}` : x.mean;
  const lines = [x.mean ? `${mean}${x.std ? ` $\\pm$ ${x.std}` : ''}$^{${x.n}}$` : '--'];
  let width = smallWidth(`${x.mean} ± ${x.std}${x.n}`);
  if (g.delta) {
    const d = deltaText(c.delta);
    const text = r.isBaseline ? 'baseline' : d.delta ? `$${d.delta}$ ($${pEq(d.p)}$)` : texEscape(d.p);
    lines.push(`{\\scriptsize ${text}}`);
    width = Math.max(width, scriptWidth(r.isBaseline ? 'baseline' : `${d.delta} (p=${d.p})`));
  }
  if (g.paper) {
    const text = c.paper ? `paper ${paperText(c.paper)}` : '';
    lines.push(text ? `{\\scriptsize ${text}}` : '');
    width = Math.max(width, scriptWidth(text));
  }
  return { lines, width };
}

/** A header cell on one or two lines (a nested tabular, so no package beyond booktabs is needed). */
function headerCell(metric: string): { tex: string; width: number } {
  const words = metric.split(' ');
  if (words.length < 2) return { tex: texEscape(metric), width: smallWidth(metric) };
  const first = words.slice(0, -1).join(' ');
  const last = words[words.length - 1]!;
  return {
    tex: `\\begin{tabular}[b]{@{}r@{}}${texEscape(first)}\\\\${texEscape(last)}\\end{tabular}`,
    width: smallWidth(first.length > last.length ? first : last),
  };
}

/**
 * The table in booktabs, laid out to fit a paper: datasets stacked (a header row per dataset, so the
 * column count does not grow with them), one column per metric holding mean ± std with n, and under it
 * in small type the Δ to the baseline with p, and the paper's number. `table` when it fits a column of a
 * two-column paper, else `table*` (which spans both, and is a plain table in a one-column paper); only a
 * table wider than a one-column text width is scaled (\resizebox, needs graphicx).
 */
export function toLatex(t: AblationTable): string {
  const groups = layout(t);
  const metrics = [...new Set(groups.map((g) => g.col.metric))];
  const datasets = [...new Set(groups.map((g) => g.col.dataset))];
  const nCols = t.rowAxes.length + metrics.length;
  const axisHead = t.rowAxes.map((a) => texEscape(displayAxis(a)));
  const widths = [
    ...t.rowAxes.map((a) => smallWidth(displayAxis(a))),
    ...metrics.map((m) => headerCell(m).width),
  ];
  const blocks: string[][] = [];
  for (const d of datasets) {
    const lines: string[] = [];
    if (datasets.length > 1 || d !== 'default')
      lines.push(`\\multicolumn{${nCols}}{@{}l}{\\textit{${texEscape(d)}}} \\\\`);
    for (const r of t.rows) {
      const axisCells = t.rowAxes.map((a, i) => {
        const v = displayValue(a, r.axes[a]);
        widths[i] = Math.max(widths[i]!, smallWidth(v));
        return texEscape(v);
      });
      const cells = metrics.map((m, k) => {
        const g = groups.find((x) => x.col.dataset === d && x.col.metric === m);
        if (!g) return { lines: [''], width: 0 };
        const cell = latexMetricCell(r, g);
        widths[t.rowAxes.length + k] = Math.max(widths[t.rowAxes.length + k]!, cell.width);
        return cell;
      });
      const height = Math.max(...cells.map((c) => c.lines.length));
      for (let line = 0; line < height; line++) {
        const lead = line === 0 ? axisCells : t.rowAxes.map(() => '');
        const end = line === height - 1 && height > 1 ? ' \\\\[2pt]' : ' \\\\';
        lines.push(`${[...lead, ...cells.map((c) => c.lines[line] ?? '')].join(' & ')}${end}`);
      }
    }
    blocks.push(lines);
  }
  const tabcolsep = 4;
  const width = widths.reduce((a, b) => a + b, 0) + 2 * tabcolsep * nCols;
  const env = width <= LATEX_COLUMN_WIDTH ? 'table' : 'table*';
  const scale = width > LATEX_TEXT_WIDTH;
  const tabular = [
    `\\begin{tabular}{@{}${t.rowAxes.map(() => 'l').join('')}${metrics.map(() => 'r').join('')}@{}}`,
    '\\toprule',
    `${[...axisHead, ...metrics.map((m) => headerCell(m).tex)].join(' & ')} \\\\`,
    '\\midrule',
    ...blocks.flatMap((b, i) => (i === 0 ? b : ['\\midrule', ...b])),
    '\\bottomrule',
    '\\end{tabular}',
  ];
  const hasDelta = groups.some((g) => g.delta);
  const hasPaper = groups.some((g) => g.paper);
  const caption =
    `Ablation on ${texEscape(t.experimentName)}: mean $\\pm$ sample std over seeds (superscript: n finished seeds); best at the shown precision in bold.` +
    (hasDelta
      ? ` Small type: $\\Delta$ = paired difference to ${texEscape(t.baseline.label)}, $p$ = two-sided paired $t$-test over seeds.`
      : '') +
    (hasPaper ? ' "paper": the number the paper reports.' : '');
  return [
    `% generated by @sbir/report from the run store; requires \\usepackage{booktabs}${scale ? ' and \\usepackage{graphicx}' : ''}`,
    `% estimated width ${Math.round(width)}pt: ${env}${scale ? ', scaled to \\textwidth' : ''}`,
    `\\begin{${env}}[t]`,
    '\\centering',
    `\\caption{${caption}}`,
    `\\label{tab:ablation-${t.experiment.replace(/[^A-Za-z0-9-]/g, '-')}}`,
    '\\small',
    `\\setlength{\\tabcolsep}{${tabcolsep}pt}`,
    ...(scale ? ['\\resizebox{\\textwidth}{!}{%', ...tabular, '}'] : tabular),
    `\\end{${env}}`,
    '',
  ].join('\n');
}

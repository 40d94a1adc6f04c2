/**
 * assemble: the ablation table → Markdown, LaTeX (booktabs), CSV and HTML. Pure string builders that
 * share one layout, so the four formats always carry the same numbers.
 */
import { html, raw, type SafeHtml } from '../util/html';
import { mdText } from '../util/markdown';
import type { AblationTable, StatCell, TableColumn, TableRow } from './build';
import { cellText, deltaText, fmt, paperTableRef, paperText } from './format';
import { displayAxis, displayValue } from './normalize';

export interface ColumnGroup {
  col: TableColumn;
  ours: boolean;
  delta: boolean;
  paper: boolean;
}

export function layout(t: AblationTable): ColumnGroup[] {
  return t.columns
    .map((col) => ({
      col,
      ours: !col.paperOnly,
      delta: !col.paperOnly && t.baseline.found,
      paper: t.rows.some((r) => r.cells[col.key].paper),
    }))
    .filter((g) => g.ours || g.paper);
}

function statusText(r: TableRow): string {
  const c = r.counts;
  const parts = [`${c.finished} finished`];
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.running) parts.push(`${c.running} running`);
  if (c.queued) parts.push(`${c.queued} queued`);
  if (c.other) parts.push(`${c.other} other`);
  return parts.join(', ');
}

/** The legend under every format. */
export function tableNotes(t: AblationTable): string[] {
  const lines = [
    'Mean ± sample standard deviation (n − 1) over seeds; n = finished seeds. Best mean per column in bold.',
  ];
  if (t.baseline.found)
    lines.push(
      `Δ = mean over seeds of (row − baseline), baseline ${t.baseline.label}, pairs matched by seed; ` +
        'p = two-sided paired t-test over those pairs (n/a with fewer than two pairs).',
    );
  if (layout(t).some((g) => g.paper)) {
    const tables = [
      ...new Set(
        t.rows.flatMap((r) =>
          Object.values(r.cells)
            .map((c) => paperTableRef(c.paper))
            .filter(Boolean),
        ),
      ),
    ];
    lines.push(
      `Paper = the number reported in the paper${tables.length ? ` (${tables.join(', ')})` : ''}, from experiments/paper-reference.yaml; blank where not transcribed.`,
    );
  }
  return [...lines, ...t.notes];
}

const ours = (c: StatCell): string => {
  const x = cellText(c);
  if (!x.mean) return '';
  return `${x.mean}${x.std ? ` ± ${x.std}` : ''} (n=${x.n})`;
};

/** "p=0.032", or "p<0.001" */
const pEq = (p: string): string => (p.startsWith('<') ? `p${p}` : `p=${p}`);

// ---------------------------------------------------------------- Markdown

/** Every string in a Markdown table, title or note (store strings above all) goes through here. */
const mdEscape = (s: string): string => mdText(s);

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

// ---------------------------------------------------------------- LaTeX

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

// ---------------------------------------------------------------- CSV (tidy: one line per row × dataset × metric)

/** A number as this writer prints it (also -Infinity), or a `;`-joined list of them (seeds, values). */
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?Infinity$/;
const isNumeric = (s: string): boolean => s.split(';').every((part) => NUMBER.test(part));

/**
 * One CSV field. A text that a spreadsheet would run as a formula (it starts with =, +, -, @, tab or
 * CR; OWASP "CSV injection") gets a leading single quote and is quoted; numbers, negative ones
 * included, are left as numbers.
 */
export const csvField = (v: unknown): string => {
  const s = v === null || v === undefined ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s) && !isNumeric(s)) return `"'${s.replace(/"/g, '""')}"`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

const num = (v: number | null | undefined): string =>
  v === null || v === undefined || !Number.isFinite(v)
    ? v === Infinity || v === -Infinity
      ? String(v)
      : ''
    : String(v);

export function toCsv(t: AblationTable): string {
  const header = [
    'experiment',
    ...t.rowAxes,
    'dataset',
    'metric',
    'n',
    'mean',
    'std',
    'best',
    'is_baseline',
    'delta',
    'delta_n',
    't',
    'df',
    'p',
    'paper_value',
    'paper_table',
    'paper_source',
    'seeds',
    'values',
  ];
  const lines = [header.map(csvField).join(',')];
  for (const r of t.rows) {
    for (const col of t.columns) {
      const c = r.cells[col.key];
      if (col.paperOnly && !c.paper) continue;
      const d = c.delta;
      lines.push(
        [
          t.experiment,
          ...t.rowAxes.map((a) => r.axes[a]),
          col.dataset,
          col.metric,
          col.paperOnly ? '' : c.n,
          num(c.mean),
          num(c.std),
          col.paperOnly ? '' : c.best,
          r.isBaseline,
          num(d?.meanDiff),
          d ? d.n : '',
          num(d?.t),
          num(d?.df),
          num(d?.p),
          num(c.paper?.value),
          c.paper?.table ?? '',
          c.paper?.source ?? '',
          c.seeds.join(';'),
          c.values.join(';'),
        ]
          .map(csvField)
          .join(','),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------- HTML

/** The table as an HTML fragment (class names styled by the dashboard's CSS and by toHtmlDocument). */
export function toHtmlTable(t: AblationTable): SafeHtml {
  const groups = layout(t);
  const datasets = [...new Set(groups.map((g) => g.col.dataset))];
  // Δ and p sit under the mean in the same cell, so two datasets fit a page width
  const width = (g: ColumnGroup) => Number(g.ours) + Number(g.paper);
  const top = datasets.map((d) => {
    const n = groups.filter((g) => g.col.dataset === d).reduce((s, g) => s + width(g), 0);
    return html`<th colspan="${n}" class="group">${d}</th>`;
  });
  const sub = groups.map(
    (g) =>
      html`${g.ours ? html`<th class="num">${g.col.metric}${g.delta ? html`<div class="sub">Δ vs baseline (p)</div>` : ''}</th>` : ''}${
        g.paper
          ? html`<th class="num paper">
              ${g.col.metric}
              <div class="sub">paper</div>
            </th>`
          : ''
      }`,
  );
  const body = t.rows.map((r) => {
    const cells = groups.map((g) => {
      const c = r.cells[g.col.key];
      const x = cellText(c);
      const d = deltaText(c.delta);
      const sig = c.delta?.p !== null && c.delta?.p !== undefined && c.delta.p < 0.05;
      const dir = (c.delta?.meanDiff ?? 0) >= 0 ? 'up' : 'down';
      const deltaLine = !g.delta
        ? ''
        : r.isBaseline
          ? html`<div class="delta muted">baseline</div>`
          : d.delta
            ? html`<div class="delta ${dir}${sig ? ' sig' : ''}">
                ${d.delta} <span class="p">${pEq(d.p)}</span>
              </div>`
            : html`<div class="delta muted">${d.p}</div>`;
      const oursCell = g.ours
        ? html`<td
            class="num${c.best ? ' best' : ''}"
            title="${c.seeds.map((s, i) => `seed ${s}: ${fmt(c.values[i], 4)}`).join('\n')}"
          >
            ${x.mean ? html`<span class="mean">${x.mean}</span>${x.std ? html`<span class="pm"> ± ${x.std}</span>` : ''}<sup class="n">n=${x.n}</sup>` : html`<span class="muted">—</span>`}${deltaLine}
          </td>`
        : '';
      const ref = paperTableRef(c.paper);
      const paperCell = g.paper
        ? html`<td
            class="num paper"
            title="${[ref, c.paper?.method, c.paper?.backbone, c.paper?.source].filter(Boolean).join(' · ')}"
          >
            ${paperText(c.paper)}${ref ? html`<sup class="ref">${ref.replace(/^Table\s*/i, 'T')}</sup>` : ''}
          </td>`
        : '';
      return html`${oursCell}${paperCell}`;
    });
    const axisCells = t.rowAxes.map(
      (a) => html`<th scope="row" class="axis">${displayValue(a, r.axes[a])}</th>`,
    );
    const c = r.counts;
    const status = html`<td class="runs" title="${statusText(r)}">
      ${c.finished}
      ✓${c.failed ? html`<br /><span class="bad">${c.failed} failed</span>` : ''}${c.running ? html`<br /><span class="warn">${c.running} running</span>` : ''}${c.queued ? html`<br /><span class="muted">${c.queued} queued</span>` : ''}
    </td>`;
    return html`<tr class="${r.isBaseline ? 'baseline' : ''}">
      ${axisCells}${cells}${status}
    </tr>`;
  });
  return html`<table class="ablation">
      <thead>
        <tr>
          ${t.rowAxes.map(() => html`<th></th>`)}${top}
          <th></th>
        </tr>
        <tr>
          ${t.rowAxes.map((a) => html`<th class="axis">${displayAxis(a)}</th>`)}${sub}
          <th>Runs</th>
        </tr>
      </thead>
      <tbody>
        ${body.map((b) => html` ${b}`)}
      </tbody>
    </table>
    <ul class="table-notes">
      ${tableNotes(t).map((l) => html`<li>${l}</li>`)}
    </ul>`;
}

export const TABLE_CSS = `
table.ablation{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:13.5px;margin:8px 0}
table.ablation th,table.ablation td{padding:6px 9px;border-bottom:1px solid #e5e7eb;white-space:nowrap}
table.ablation thead th{border-bottom:2px solid #111827;font-weight:600;text-align:center;vertical-align:bottom}
table.ablation thead tr:first-child th{border-bottom:1px solid #9ca3af}
table.ablation thead th.group{font-size:13px;letter-spacing:.02em}
table.ablation th.axis{text-align:left;font-weight:500}
table.ablation td.num{text-align:right}
table.ablation tbody th,table.ablation tbody td{vertical-align:middle}
table.ablation td.best .mean{font-weight:700}
table.ablation td.best{background:#ecfdf5}
table.ablation .pm{color:#4b5563}
table.ablation sup{font-size:10px;color:#6b7280;margin-left:2px}
table.ablation .delta{font-size:12px;margin-top:1px}
table.ablation .delta.up{color:#047857}
table.ablation .delta.down{color:#b91c1c}
table.ablation .delta.sig{font-weight:600}
table.ablation th .sub{font-size:11px;font-weight:400;color:#6b7280}
table.ablation .p{font-size:11px;color:#6b7280;font-weight:400}
table.ablation td.paper{color:#1e3a8a;background:#f8fafc}
table.ablation tr.baseline th,table.ablation tr.baseline td{background:#f9fafb}
table.ablation tr.baseline td.best{background:#ecfdf5}
table.ablation tbody tr:last-child th,table.ablation tbody tr:last-child td{border-bottom:2px solid #111827}
table.ablation .muted{color:#9ca3af}
table.ablation .bad{color:#b91c1c}
table.ablation .warn{color:#b45309}
table.ablation td.runs{font-size:12px;color:#374151}
ul.table-notes{font-size:12px;color:#4b5563;margin:6px 0 0;padding-left:18px}
`;

export function toHtmlDocument(t: AblationTable): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>Ablation: ${t.experimentName}</title>
        <style>
          body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#111827;margin:32px;}h1{font-size:20px}${raw(TABLE_CSS)}
        </style>
      </head>
      <body>
        <h1>Ablation: ${t.experimentName}</h1>
        ${toHtmlTable(t)}
      </body>
    </html> `.value;
}

/** The reference results that match no row, as a Markdown list (other methods of the paper). */
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

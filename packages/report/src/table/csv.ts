/** The ablation table as tidy CSV: one line per row × dataset × metric, full precision. */
import type { AblationTable } from './build';

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

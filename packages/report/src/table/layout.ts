/** The one column layout and legend every table format shares, so the four always carry the same numbers. */
import type { AblationTable, TableColumn, TableRow } from './build';
import { paperTableRef } from './format';

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

export function statusText(r: TableRow): string {
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

/** "p=0.032", or "p<0.001" */
export const pEq = (p: string): string => (p.startsWith('<') ? `p${p}` : `p=${p}`);

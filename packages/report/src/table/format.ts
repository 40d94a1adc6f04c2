/** Number formatting shared by every table format. Pure. */
import type { Delta, StatCell, PaperValue } from './cell';

export const DIGITS = 3;

export function fmt(v: number | null | undefined, digits = DIGITS): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '';
  return v.toFixed(digits);
}

export function fmtSigned(v: number | null | undefined, digits = DIGITS): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '';
  const s = v.toFixed(digits);
  return v >= 0 && !s.startsWith('-') ? `+${s}` : s.replace(/^-0\.0+$/, '+0.000');
}

/** p-values: three significant decimals, "<0.001" below, "n/a" when undefined (fewer than two pairs). */
export function fmtP(p: number | null | undefined): string {
  if (p === null || p === undefined || Number.isNaN(p)) return 'n/a';
  if (p < 0.001) return '<0.001';
  return p.toFixed(3);
}

export interface CellText {
  mean: string;
  std: string;
  n: string;
}

export function cellText(c: StatCell): CellText {
  return { mean: fmt(c.mean), std: c.std === null ? '' : fmt(c.std), n: c.n ? String(c.n) : '' };
}

export function deltaText(d: Delta | undefined): { delta: string; p: string } {
  if (!d) return { delta: '', p: '' };
  if (!d.n) return { delta: '', p: 'n/a' };
  return { delta: fmtSigned(d.meanDiff), p: fmtP(d.p) };
}

export function paperText(pv: PaperValue | undefined): string {
  return pv ? fmt(pv.value) : '';
}

export function paperTableRef(pv: PaperValue | undefined): string {
  if (!pv?.table) return '';
  const t = pv.table.trim();
  return /^(table|tab\.?)\s/i.test(t) ? t : `Table ${t}`;
}

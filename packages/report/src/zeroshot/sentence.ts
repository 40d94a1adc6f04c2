/**
 * The generated sentence of a zero-shot claim, e.g. "SSGN > DASE-SOFTMAX (emoji, sem-pcyc): holds
 * (Δ mAP@all +0.031, 95 % CI [+0.012, +0.050], p = 0.020, 3 paired seeds)". Every word after the
 * colon comes from the numbers; the verdict is computed (verdictOf), never typed.
 */
import { fmtInterval, type Verdict } from '../sensitivity/compute';
import { fmtPNearAlpha } from '../sensitivity/markdown';
import { fmtSigned } from '../table/format';

export interface SentenceInput {
  label: string;
  dataset: string;
  protocol: string;
  metricLabel: string;
  otherLabel: string;
  n: number;
  mean: number | null;
  ci: [number, number] | null;
  pAdjusted: number | null;
  family: number;
  verdict: Verdict;
}

const VERDICT_TEXT: Record<Verdict, string> = {
  holds: 'holds',
  flips: 'flips',
  'cannot tell': 'the data cannot tell',
};

/** "p = 0.020", "p < 0.001", "p (Holm over 2) = 0.040", "p n/a" */
function pText(p: number | null, family: number): string {
  const name = family > 1 ? `p (Holm over ${family})` : 'p';
  const v = fmtPNearAlpha(p);
  if (v === 'n/a') return `${name} n/a`;
  return v.startsWith('<') ? `${name} < ${v.slice(1)}` : `${name} = ${v}`;
}

export function claimSentence(c: SentenceInput): string {
  const where = `${c.dataset}, ${c.protocol}${c.otherLabel ? `, ${c.otherLabel}` : ''}`;
  if (c.n === 0) return `${c.label} (${where}): not run yet (no seed finished on both sides).`;
  const pairs = `${c.n} paired seed${c.n === 1 ? '' : 's'}`;
  return (
    `${c.label} (${where}): ${VERDICT_TEXT[c.verdict]} (Δ ${c.metricLabel} ${fmtSigned(c.mean)}, ` +
    `95 % CI ${fmtInterval(c.ci)}, ${pText(c.pAdjusted, c.family)}, ${pairs}).`
  );
}

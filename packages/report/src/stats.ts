/**
 * Statistics used by the tables: sample mean and sample standard deviation (n − 1 denominator, from
 * @sbir/core, re-exported for the table code) and the two-sided paired t-test. Pure functions; `null` stands for "not defined" (shown as n/a).
 */
import { mean, sampleStd } from '@sbir/core';
import tCdf from '@stdlib/stats-base-dists-t-cdf';

export { mean, sampleStd };

export interface PairedTTest {
  /** number of pairs */
  n: number;
  /** mean of the differences a − b */
  meanDiff: number | null;
  /** sample standard deviation of the differences */
  sdDiff: number | null;
  t: number | null;
  df: number | null;
  /** two-sided p-value; null when n < 2 or when every difference is zero */
  p: number | null;
}

/**
 * Two-sided paired t-test of H0: mean(a − b) = 0, with a[i] paired to b[i] (same seed).
 * t = mean(d) / (sd(d) / √n), df = n − 1, p = 2·P(T_df ≤ −|t|). Matches scipy.stats.ttest_rel.
 * When every difference is equal (sd = 0): t = ±∞ and p = 0 if the mean differs from 0; undefined if all are 0.
 */
export function pairedTTest(a: readonly number[], b: readonly number[]): PairedTTest {
  if (a.length !== b.length) throw new Error(`pairedTTest: ${a.length} values paired with ${b.length}`);
  const n = a.length;
  const d = a.map((x, i) => x - b[i]);
  const md = mean(d);
  const sd = sampleStd(d);
  if (n < 2 || md === null || sd === null) return { n, meanDiff: md, sdDiff: sd, t: null, df: null, p: null };
  const df = n - 1;
  // differences equal up to floating-point noise (e.g. 0.3 − 0.4 vs 0.32 − 0.42) count as equal
  const scale = d.reduce((s, x) => Math.max(s, Math.abs(x)), 0);
  if (sd <= 1e-12 * scale) {
    if (scale === 0) return { n, meanDiff: 0, sdDiff: 0, t: null, df, p: null };
    return { n, meanDiff: md, sdDiff: 0, t: md > 0 ? Infinity : -Infinity, df, p: 0 };
  }
  const t = md / (sd / Math.sqrt(n));
  const p = Math.min(1, 2 * tCdf(-Math.abs(t), df));
  return { n, meanDiff: md, sdDiff: sd, t, df, p };
}

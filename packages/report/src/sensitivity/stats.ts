/**
 * The statistics of the sensitivity section beyond the paired t-test of ../stats: the t confidence
 * interval of a mean difference and Holm's step-down adjustment. Pure; `null` stands for "not defined".
 */
import tQuantile from '@stdlib/stats-base-dists-t-quantile';

/** Two-sided confidence level of every interval in the section. */
export const CI_LEVEL = 0.95;
/** Significance level the verdicts use, on Holm-adjusted p-values. */
export const ALPHA = 0.05;

/**
 * mean ± t(1 − (1 − level)/2, n − 1) · sd/√n: the t interval of a mean over n paired seeds; null below
 * two pairs (no sample standard deviation).
 */
export function tInterval(
  n: number,
  mean: number | null,
  sd: number | null,
  level = CI_LEVEL,
): [number, number] | null {
  if (n < 2 || mean === null || sd === null) return null;
  const half = tQuantile(1 - (1 - level) / 2, n - 1) * (sd / Math.sqrt(n));
  return [mean - half, mean + half];
}

/**
 * Holm–Bonferroni step-down adjusted p-values, in the order given: with the m p-values sorted
 * ascending, p̃(i) = max over j ≤ i of min(1, (m − j + 1) · p(j)). A null entry is no test: it stays
 * null and does not count in m.
 */
export function holmAdjust(ps: readonly (number | null)[]): (number | null)[] {
  const tested = ps
    .map((p, i) => ({ p, i }))
    .filter((x): x is { p: number; i: number } => x.p !== null)
    .sort((a, b) => a.p - b.p || a.i - b.i);
  const m = tested.length;
  const out: (number | null)[] = ps.map(() => null);
  let running = 0;
  tested.forEach(({ p, i }, k) => {
    running = Math.max(running, Math.min(1, (m - k) * p));
    out[i] = running;
  });
  return out;
}

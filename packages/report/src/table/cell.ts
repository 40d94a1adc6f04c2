/** One cell of the ablation table: our seeds' statistics, Δ against the baseline, the paper's number. */

export interface PaperValue {
  /** on our scale (fractions); a value the paper gives in percent (> 1) is divided by 100 */
  value: number;
  /** the value as transcribed */
  reported: number;
  table?: string;
  source?: string;
  method?: string;
  backbone?: string;
}

export interface Delta {
  /** mean over matched seeds of (row − baseline) */
  meanDiff: number | null;
  /** matched pairs */
  n: number;
  t: number | null;
  df: number | null;
  /** two-sided paired t-test p-value; null = n/a */
  p: number | null;
  /** the seeds of the pairs */
  seeds: string[];
}

export interface StatCell {
  /** per-seed values of finished runs, ordered by seed */
  values: number[];
  seeds: string[];
  n: number;
  mean: number | null;
  std: number | null;
  best: boolean;
  /** undefined on the baseline row itself and when there is no baseline */
  delta?: Delta;
  paper?: PaperValue;
}

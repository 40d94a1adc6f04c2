/** Number formatting of the terminal summaries (tables and durations come from @sbir/core). */
import { mean, sampleStd } from '@sbir/core';

export function fmt(value: number | null | undefined, digits = 3): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '-';
}

/** Mean and sample std over seeds; a single seed has std 0 (shown as "± 0.000"). */
export function meanStd(values: number[]): { mean: number; std: number } {
  return { mean: mean(values) ?? NaN, std: sampleStd(values) ?? 0 };
}

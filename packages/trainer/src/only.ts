/**
 * `--only` filters, one meaning wherever cells are picked (`--only` of the ablation, and the cells
 * a test's fault injection picks, test/faults.ts): hex strings are cell id prefixes, any of which may
 * match; `axis=a,b` keeps cells whose axis has one of the values; filters on different axes must all
 * match.
 */
import { ConfigError, messages } from './messages';
import type { CellConfig } from './schema';

export interface OnlyFilters {
  prefixes: string[];
  axes: Map<string, Set<string>>;
}

/** Parses filter words (whitespace- or `;`-separated); `knownAxes` rejects an axis the grid lacks. */
export function parseOnly(only: readonly string[], knownAxes?: readonly string[]): OnlyFilters {
  const filters: OnlyFilters = { prefixes: [], axes: new Map() };
  for (const raw of only.flatMap((o) => o.split(/[\s;]+/)).filter(Boolean)) {
    const eq = raw.indexOf('=');
    if (eq < 0) {
      if (!/^[0-9a-f]{1,12}$/.test(raw))
        throw new ConfigError(`--only ${raw}: expected a cell id prefix (hex) or axis=value`);
      filters.prefixes.push(raw);
      continue;
    }
    const axis = raw.slice(0, eq);
    if (knownAxes && !knownAxes.includes(axis))
      throw new ConfigError(messages.unknownOnlyAxis(axis, [...knownAxes]));
    const values = filters.axes.get(axis) ?? new Set<string>();
    for (const v of raw.slice(eq + 1).split(',')) values.add(v);
    filters.axes.set(axis, values);
  }
  return filters;
}

export function matchesOnly(cell: Pick<CellConfig, 'cellId' | 'axes'>, f: OnlyFilters): boolean {
  return (
    (f.prefixes.length === 0 || f.prefixes.some((p) => cell.cellId.startsWith(p))) &&
    [...f.axes].every(([axis, values]) => values.has(String(cell.axes[axis])))
  );
}

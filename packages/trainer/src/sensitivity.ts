/**
 * The sensitivity design (issue 15): an experiment's grid cells again with one factor at a time moved
 * off its base value. Pure: given the grid's resolved base cells and a way to resolve a cell with one
 * more override, it returns the added cells and the design that experiment.json records for readers.
 *
 * Every cell carries one axis per factor: its value of the factor, or `n/a` for a cell outside the
 * factor's `when` (softmax cells for the MEMS margin), which no value of that factor changes.
 */
import { ConfigError } from './messages';
import type { Override } from './overrides';
import {
  AXIS_ALIASES,
  isConfigPath,
  type AxisValue,
  type CellSettings,
  type ClaimSettings,
  type SensitivitySettings,
} from './schema';

/** The axis value of a cell that a factor does not vary. */
export const NOT_VARIED = 'n/a';

export interface SensitivityFactor {
  name: string;
  /** Dotted config path the factor sets (aliases resolved). */
  path: string;
  values: AxisValue[];
  /** The base config's value: cells with it are the grid's own cells. */
  baseline: AxisValue;
  when: Record<string, AxisValue>;
}

/** experiment.json `sensitivity` (packages/trainer/README.md, "Run store"). */
export interface SensitivityDesign {
  metric: SensitivitySettings['metric'];
  claims: SensitivitySettings['claims'];
  factors: SensitivityFactor[];
}

export interface ResolvedCell {
  axes: Record<string, AxisValue>;
  settings: CellSettings;
}

/** Resolves a base cell again with one more value override (the factor's), for the given axes. */
export type Reresolve = (base: ResolvedCell, extra: Override) => CellSettings;

/** Checks the block against the grid's axes; one line naming the yaml path on the first problem. */
export function checkSensitivity(
  s: SensitivitySettings,
  axes: Record<string, AxisValue[]>,
  file: string,
): void {
  const where = `${file}: sensitivity`;
  const gridAxes = Object.keys(axes);
  checkClaims(s.claims, axes, `${where}.claims`);
  for (const [name, f] of Object.entries(s.factors)) {
    if (name in axes || name === 'seed')
      throw new ConfigError(`${where}.factors.${name}: the name is a grid axis; name the factor otherwise`);
    if (!isConfigPath(factorPath(f.path)))
      throw new ConfigError(`${where}.factors.${name}.path: "${f.path}" is not a config path or axis alias`);
    for (const key of Object.keys(f.when))
      if (!(key in axes))
        throw new ConfigError(
          `${where}.factors.${name}.when.${key}: not a grid axis (axes: ${gridAxes.join(', ')})`,
        );
    const seen = new Set<string>();
    f.values.forEach((v, i) => {
      if (seen.has(String(v)))
        throw new ConfigError(`${where}.factors.${name}.values[${i}]: duplicate value "${v}"`);
      seen.add(String(v));
    });
  }
}

/** A claim names a grid axis and two of its values (sensitivity claims, the experiment's `claims`). */
export function checkClaims(
  claims: readonly ClaimSettings[],
  axes: Record<string, AxisValue[]>,
  where: string,
): void {
  claims.forEach((c, i) => {
    const values = axes[c.axis];
    if (!values)
      throw new ConfigError(
        `${where}[${i}].axis: "${c.axis}" is not a grid axis (axes: ${Object.keys(axes).join(', ')})`,
      );
    for (const key of ['baseline', 'treatment'] as const)
      if (!values.some((v) => String(v) === String(c[key])))
        throw new ConfigError(
          `${where}[${i}].${key}: "${c[key]}" is not a value of grid.${c.axis} (${values.join(', ')})`,
        );
  });
}

function factorPath(p: string): string[] {
  return (AXIS_ALIASES[p] ?? p).split('.');
}

function valueAt(settings: CellSettings, p: string[]): unknown {
  let v: unknown = settings;
  for (const key of p)
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  return v;
}

const matches = (cell: ResolvedCell, when: Record<string, AxisValue>): boolean =>
  Object.entries(when).every(([axis, value]) => String(cell.axes[axis]) === String(value));

/**
 * Adds the factor axes to `base` (in place) and returns the cells the factors add, factor by factor
 * in the file's order, each value in its order, grid order within.
 */
export function expandSensitivity(
  s: SensitivitySettings,
  base: ResolvedCell[],
  reresolve: Reresolve,
  file: string,
): { design: SensitivityDesign; added: ResolvedCell[] } {
  const factors = Object.entries(s.factors).map(([name, f]) => factorOf(name, f, base, file));
  for (const cell of base)
    for (const f of factors) cell.axes[f.name] = matches(cell, f.when) ? f.baseline : NOT_VARIED;
  const added: ResolvedCell[] = [];
  for (const f of factors) {
    for (const value of f.values) {
      if (String(value) === String(f.baseline)) continue;
      const extra: Override = {
        text: `sensitivity.factors.${f.name}=${value}`,
        op: 'set',
        path: f.path.split('.'),
        value,
      };
      for (const cell of base.filter((c) => matches(c, f.when)))
        added.push({ axes: { ...cell.axes, [f.name]: value }, settings: reresolve(cell, extra) });
    }
  }
  return { design: { metric: s.metric, claims: s.claims, factors }, added };
}

function factorOf(
  name: string,
  f: SensitivitySettings['factors'][string],
  base: ResolvedCell[],
  file: string,
): SensitivityFactor {
  const where = `${file}: sensitivity.factors.${name}`;
  const p = factorPath(f.path);
  const varied = base.filter((c) => matches(c, f.when));
  if (varied.length === 0) throw new ConfigError(`${where}.when: no grid cell matches`);
  const found = new Set(varied.map((c) => JSON.stringify(valueAt(c.settings, p) ?? null)));
  if (found.size > 1)
    throw new ConfigError(
      `${where}.path: the grid's cells differ in ${p.join('.')} (${[...found].join(', ')}); a factor needs one base value`,
    );
  const baseline = JSON.parse([...found][0]!) as unknown;
  if (!['string', 'number', 'boolean'].includes(typeof baseline))
    throw new ConfigError(
      `${where}.path: ${p.join('.')} is not a scalar in the base config (${String(baseline)})`,
    );
  if (!f.values.some((v) => String(v) === String(baseline)))
    throw new ConfigError(
      `${where}.values: must include the base config's value ${String(baseline)} (the grid's own cells)`,
    );
  return { name, path: p.join('.'), values: f.values, baseline: baseline as AxisValue, when: f.when };
}

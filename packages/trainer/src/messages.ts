/** User-facing messages in one module (Vega-Lite's log/message.ts): config errors and warnings. */
import { UsageError } from '@sbir/data';
import type { ZodIssue } from 'zod';

/**
 * A bad experiment file or option. Its message is one line and names the file and the field. A
 * UsageError of @sbir/data's exit-code convention: the CLI exits 2.
 */
export class ConfigError extends UsageError {
  override name = 'ConfigError';
}

/** ['grid', 'loss', 1, 'margin'] -> "grid.loss[1].margin"; `continuation` keeps a leading "." */
export function formatPath(path: (string | number)[], continuation = false): string {
  let out = '';
  for (const key of path)
    out += typeof key === 'number' ? `[${key}]` : `${out || continuation ? '.' : ''}${key}`;
  return out;
}

function valueAt(input: unknown, path: (string | number)[]): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[key];
  }
  return v;
}

function show(value: unknown): string {
  if (typeof value === 'number' && !Number.isFinite(value))
    return Number.isNaN(value) ? '.nan' : `${value < 0 ? '-' : ''}.inf`;
  return typeof value === 'string' ? `"${value}"` : JSON.stringify(value);
}

/** The noun for a value at `path`: its key, or the parent's key for a discriminator (`loss.name` -> loss). */
function noun(path: (string | number)[]): string {
  const keys = path.filter((k): k is string => typeof k === 'string');
  const last = keys[keys.length - 1] ?? 'value';
  return last === 'name' && keys.length > 1 ? keys[keys.length - 2]! : last;
}

/**
 * One zod issue as a short sentence (without the path, which the caller puts in front).
 * `knownKeys(path)` lists the keys an object accepts, for unknown-key messages.
 */
export function issueMessage(
  issue: ZodIssue,
  input: unknown,
  _where: string,
  knownKeys: (path: (string | number)[]) => string[] | null,
): string {
  switch (issue.code) {
    case 'invalid_union_discriminator':
      return `unknown ${noun(issue.path)} ${show(valueAt(input, issue.path))} (known: ${issue.options.join(', ')})`;
    case 'invalid_enum_value':
      return `unknown ${noun(issue.path)} ${show(issue.received)} (known: ${issue.options.join(', ')})`;
    case 'unrecognized_keys': {
      const known = knownKeys(issue.path);
      return `unknown key "${issue.keys[0]}"` + (known ? ` (known: ${known.join(', ')})` : '');
    }
    case 'invalid_type':
      if (issue.received === 'undefined') return `missing (required ${issue.expected})`;
      if (issue.received === 'nan') return `expected a finite number, got .nan`;
      return `expected ${issue.expected}, got ${issue.received} ${show(valueAt(input, issue.path))}`;
    case 'invalid_literal':
      return `expected ${show(issue.expected)}, got ${show(valueAt(input, issue.path))}`;
    case 'custom':
      return issue.message;
    default: {
      // zod's own sentences start with a capital ("Number must be ..."); keep acronyms as they are
      const m = issue.message;
      const text = /^[A-Z][a-z]/.test(m) ? m.charAt(0).toLowerCase() + m.slice(1) : m;
      const value = valueAt(input, issue.path);
      return value === undefined || typeof value === 'object' || /\bgot\b/.test(text)
        ? text
        : `${text} (got ${show(value)})`;
    }
  }
}

export const messages = {
  mlflowDown: (uri: string, err: string, experiment: string) =>
    `[mlflow] warning: ${uri} is not reachable (${err}); training goes on and the run store stays complete. ` +
    `Push later with: npx nx run trainer:sync -- --experiment ${experiment}`,
  noTrackingUri: () =>
    'sync: no MLflow server given: set MLFLOW_TRACKING_URI (npm run mlflow:start prints it) or pass --tracking-uri',
  unknownOnlyAxis: (axis: string, axes: string[]) =>
    `--only ${axis}=...: unknown axis "${axis}" (axes: ${axes.join(', ') || 'none'})`,
  noCellsMatch: (filters: string[]) => `--only ${filters.join(' ')}: no cell matches`,
  unreadableStatus: (cellId: string, why: string) =>
    `cell ${cellId}: ${why}; its state is unknown, so it resumes from its last good checkpoint (the grid goes on)`,
  datasetMissing: (dir: string, name: string) =>
    `dataset "${name}": ${dir} has no manifest.json; prepare it first (npx nx run data:prepare -- --dataset ${name} --root <raw data> --out ${dir}) or pass --data-root`,
};

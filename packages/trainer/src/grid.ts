/**
 * Experiments as data: load `experiments/*.yaml`, expand the grid (sweep = product), resolve and
 * validate every cell, and give each a stable id. Pure apart from reading the file.
 *
 * One file on purpose: loading, validating and expanding an experiment file into cells is one pipeline
 * whose error messages name the same yaml paths; overrides are overrides.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { displayPath, formatPath, issueSentence, sbirEnv, sha256 } from '@sbir/core';
import { listLosses } from '@sbir/model';
import YAML from 'yaml';
import { z } from 'zod';
import {
  AXIS_ALIASES,
  cellConfigSchema,
  ExperimentFileSchema,
  isConfigPath,
  knownKeysAt,
  type AxisValue,
  type CellConfig,
  type CellSettings,
  type ExecutorSettings,
  type ClaimSettings,
  type ExperimentFile,
  ExecutorSchema,
  SensitivitySchema,
} from './schema';
import { ConfigError } from './messages';
import {
  applyExecutorOverrides,
  applyGridOverrides,
  checkValueOverrides,
  parseOverrides,
  type Override,
} from './overrides';
import {
  checkClaims,
  checkSensitivity,
  expandSensitivity,
  NOT_VARIED,
  type ResolvedCell,
  type SensitivityDesign,
} from './sensitivity';

export interface Experiment {
  name: string;
  description: string;
  /** The yaml file, as given (relative to the working directory when it was relative). */
  file: string;
  /** sha256 of the canonical JSON of the validated file: changes when the experiment changes. */
  configSha256: string;
  /** Axis name -> values in grid order (named overrides by name). */
  axes: Record<string, AxisValue[]>;
  /** Command-line overrides applied (as typed), in order; [] without any. */
  overrides: string[];
  cells: CellConfig[];
  /** The file's `executor:` block (where cells run), if any. */
  executor?: ExecutorSettings;
  /** The `sensitivity:` design, when the file has one (its factors are axes too). */
  sensitivity?: SensitivityDesign;
  /** The file's `claims:` (orderings the report judges on the grid's cells). */
  claims?: ClaimSettings[];
}

export interface LoadOptions {
  /** Replaces `{dataRoot}` in dataset.dir (default: $SBIR_DATA_ROOT, else "data"). */
  dataRoot?: string;
  /** Replaces `{weightsRoot}` in model.pretrained (default: $SBIR_WEIGHTS_ROOT, else "weights"). */
  weightsRoot?: string;
  /** Command-line overrides (overrides.ts grammar: `model.width=32`, `grid.seed=0,1,2`). */
  overrides?: readonly string[];
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** JSON with object keys sorted at every depth and no whitespace: the input of the cell id. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: { [k: string]: Json } = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value as Json;
}

/**
 * Stable cell id: first 12 hex of sha256 of the canonical JSON of the resolved settings, leaving out
 * what does not change results: where the dataset lives (`dataset.dir`), and the bookkeeping fields
 * (experiment name, axes labels, cell id) that are not settings at all.
 */
export function cellIdOf(settings: CellSettings): string {
  return sha256(canonicalJson({ ...settings, dataset: omit(settings.dataset, ['dir']) })).slice(0, 12);
}

/** A shallow copy of `obj` without `keys`. */
export function omit<T extends object, K extends keyof T>(obj: T, keys: readonly K[]): Omit<T, K> {
  const out = { ...obj };
  for (const k of keys) delete out[k];
  return out;
}

/** The settings of a cell config: what is hashed and trained, without the bookkeeping fields. */
export function settingsOf(cell: CellConfig): CellSettings {
  return omit(cell, ['formatVersion', 'experiment', 'cellId', 'axes', 'overrides', 'resolved']);
}

/** Resolves `--experiment <name or path>`: a name means experiments/<name>.yaml. */
export function resolveExperimentFile(nameOrPath: string, cwd = process.cwd()): string {
  const isPath = /\.ya?ml$/.test(nameOrPath) || nameOrPath.includes('/') || nameOrPath.includes(path.sep);
  const candidates = isPath
    ? [path.resolve(cwd, nameOrPath)]
    : [
        path.resolve(cwd, 'experiments', `${nameOrPath}.yaml`),
        path.resolve(REPO_ROOT, 'experiments', `${nameOrPath}.yaml`),
      ];
  const found = candidates.find((c) => fs.existsSync(c));
  if (found && !fs.statSync(found).isFile())
    throw new ConfigError(
      `${displayPath(found, cwd)}: not a file (--experiment takes a name or a yaml file)`,
    );
  if (!found) {
    const known = listExperimentFiles(cwd);
    throw new ConfigError(
      `${displayPath(candidates[0]!, cwd)}: no such experiment file` +
        (known.length ? ` (known: ${known.join(', ')})` : ''),
    );
  }
  return found;
}

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

/** Names of the experiment yaml files (`experiments/<name>.yaml` under `cwd`, else the repository's). */
export function listExperimentFiles(cwd = process.cwd()): string[] {
  for (const dir of [path.resolve(cwd, 'experiments'), path.resolve(REPO_ROOT, 'experiments')]) {
    if (fs.existsSync(dir)) {
      return fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.yaml') && f !== 'paper-reference.yaml')
        .map((f) => f.replace(/\.yaml$/, ''))
        .sort();
    }
  }
  return [];
}

/** Alias expansions allowed in an experiment file (the yaml package's default, stated). */
const YAML_MAX_ALIASES = 100;

/** Reads, validates and expands one experiment file. Throws ConfigError (one line, naming the path). */
export function loadExperiment(nameOrPath: string, opts: LoadOptions = {}): Experiment {
  const file = resolveExperimentFile(nameOrPath);
  const shown = displayPath(file);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `${shown}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const doc = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    const message = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(`${shown}${pos ? `:${pos.line}:${pos.col}` : ''}: ${message}`);
  }
  let raw: unknown;
  try {
    // aliases expand at most YAML_MAX_ALIASES times: an entity-expansion ("billion laughs") file stops here
    raw = doc.toJS({ maxAliasCount: YAML_MAX_ALIASES });
  } catch (e) {
    throw new ConfigError(
      `${shown}: ${(e as Error).message.split('\n')[0]} (at most ${YAML_MAX_ALIASES} alias expansions)`,
    );
  }
  return expandExperiment(raw, shown, opts);
}

/** Validates a parsed experiment document and expands its grid. `file` is used in messages only. */
export function expandExperiment(raw: unknown, file: string, opts: LoadOptions = {}): Experiment {
  const parsed = ExperimentFileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const at = issue.code === z.ZodIssueCode.unrecognized_keys ? [...issue.path, issue.keys[0]!] : issue.path;
    const where = at.length ? `${formatPath(at)}: ` : '';
    throw new ConfigError(`${file}: ${where}${issueSentence(issue, raw, (p) => fileKnownKeys(p))}`);
  }
  const allOverrides = parseOverrides(opts.overrides ?? []);
  // executor.* says where cells run, not what they are: kept out of cell configs and digests
  const overrides = allOverrides.filter((o) => o.path[0] !== 'executor');
  const exp = {
    ...parsed.data,
    grid: applyGridOverrides(parsed.data.grid, overrides),
    executor: executorWithOverrides(parsed.data.executor, allOverrides),
  };
  checkValueOverrides(exp.grid, overrides);
  const valueOverrides = overrides.filter((o) => o.path[0] !== 'grid');
  const axisNames = Object.keys(exp.grid);
  const axes: Record<string, AxisValue[]> = {};
  const axisOptions: AxisOption[][] = axisNames.map((axis) => {
    const options = axisOptionsOf(axis, exp.grid[axis]!, file);
    axes[axis] = options.map((o) => o.value);
    return options;
  });
  const dataRoot = opts.dataRoot ?? sbirEnv().dataRoot;
  const weightsRoot = opts.weightsRoot ?? sbirEnv().weightsRoot;
  const resolved: (ResolvedCell & { combo: AxisOption[] })[] = [];
  for (const combo of product(axisOptions)) {
    const cellAxes: Record<string, AxisValue> = {};
    combo.forEach((o, i) => (cellAxes[axisNames[i]!] = o.value));
    resolved.push({
      combo,
      axes: cellAxes,
      settings: resolveCell(exp, combo, file, cellAxes, valueOverrides),
    });
  }
  if (exp.claims) checkClaims(exp.claims, axes, `${file}: claims`);
  let sensitivity: SensitivityDesign | undefined;
  if (exp.sensitivity) {
    checkSensitivity(exp.sensitivity, axes, file);
    const study = expandSensitivity(
      exp.sensitivity,
      resolved,
      (cell, extra) => {
        const { combo } = cell as (typeof resolved)[number];
        return resolveCell(exp, combo, file, cell.axes, [...valueOverrides, extra]);
      },
      file,
    );
    sensitivity = study.design;
    for (const f of study.design.factors) {
      const values: AxisValue[] = [...f.values];
      if (resolved.some((c) => c.axes[f.name] === NOT_VARIED)) values.push(NOT_VARIED);
      axes[f.name] = values;
    }
    resolved.push(...study.added.map((c) => ({ ...c, combo: [] })));
  }
  if (exp.executor) checkExecutorVary(exp.executor, axes, file);
  const cells: CellConfig[] = [];
  const seen = new Map<string, string>();
  for (const { axes: cellAxes, settings } of resolved) {
    const cellId = cellIdOf(settings);
    const label = axesLabel(cellAxes);
    const clash = seen.get(cellId);
    if (clash !== undefined) {
      throw new ConfigError(
        `${file}: grid: cells ${clash} and ${label} resolve to the same config (id ${cellId})`,
      );
    }
    seen.set(cellId, label);
    // Where data and weights live is not part of the cell id (as dataset.dir): substituted after it.
    settings.dataset.dir = settings.dataset.dir.replace(/\{dataRoot\}/g, dataRoot);
    if (settings.model.pretrained)
      settings.model.pretrained = settings.model.pretrained.replace(/\{weightsRoot\}/g, weightsRoot);
    const texts = overrides.map((o) => o.text);
    cells.push({
      formatVersion: 1,
      experiment: exp.name,
      cellId,
      axes: cellAxes,
      overrides: texts,
      ...settings,
    });
  }
  return {
    name: exp.name,
    description: exp.description,
    file,
    // Without overrides the digest is the file's alone (as before overrides existed); the executor
    // block says where cells run, not what they are.
    configSha256: sha256(
      canonicalJson(
        overrides.length
          ? { ...omit(exp, ['executor']), overrides: overrides.map((o) => o.text) }
          : omit(exp, ['executor']),
      ),
    ),
    axes,
    overrides: allOverrides.map((o) => o.text),
    cells,
    ...(exp.executor ? { executor: exp.executor } : {}),
    ...(sensitivity ? { sensitivity } : {}),
    ...(exp.claims ? { claims: exp.claims } : {}),
  };
}

/** Executor settings that are strings in the schema: a number typed on the command line (`time=90`) is one. */
const EXECUTOR_STRINGS = new Set(['partition', 'time', 'mem', 'gres', 'account', 'qos', 'node']);

function stringsOf(settings: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(settings)) {
    if (EXECUTOR_STRINGS.has(k) && typeof v === 'number') settings[k] = String(v);
    // argv elements (`executor.sbatchArgs=[--gpus, 1]`): numbers are their text
    if ((k === 'sbatchArgs' || k === 'setup') && Array.isArray(v))
      settings[k] = v.map((x: unknown) => (typeof x === 'number' ? String(x) : x));
  }
}

/**
 * The file's executor block with the `executor.*` overrides applied and validated again; an error
 * names the override (one line). Undefined when neither the file nor an override has one.
 */
function executorWithOverrides(
  block: ExecutorSettings | undefined,
  overrides: readonly Override[],
): ExecutorSettings | undefined {
  const mine = overrides.filter((o) => o.path[0] === 'executor');
  if (mine.length === 0) return block;
  const fields = Object.keys(ExecutorSchema.shape);
  const raw = applyExecutorOverrides(block ?? {}, mine, {
    block: fields,
    variant: fields.filter((k) => k !== 'name' && k !== 'vary'),
  });
  stringsOf(raw);
  for (const byValue of Object.values((raw.vary ?? {}) as Record<string, Record<string, unknown>>))
    for (const entry of Object.values(byValue ?? {}))
      if (entry && typeof entry === 'object') stringsOf(entry as Record<string, unknown>);
  const parsed = ExecutorSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const at = issue.code === z.ZodIssueCode.unrecognized_keys ? [...issue.path, issue.keys[0]!] : issue.path;
  const by = mine.find((o) => at.every((k, i) => o.path[i + 1] === String(k))) ?? mine[mine.length - 1]!;
  throw new ConfigError(
    `override ${by.text}: ${formatPath(['executor', ...at])}: ${issueSentence(issue, raw, () => null)}`,
  );
}

/** `executor.vary` names axes of the grid and values they take (one line naming the first that does not). */
function checkExecutorVary(s: ExecutorSettings, axes: Record<string, AxisValue[]>, file: string): void {
  for (const [axis, byValue] of Object.entries(s.vary)) {
    if (!(axis in axes))
      throw new ConfigError(
        `${file}: executor.vary.${axis}: no such grid axis (axes: ${Object.keys(axes).join(', ') || 'none'})`,
      );
    const values = axes[axis]!.map(String);
    for (const v of Object.keys(byValue))
      if (!values.includes(v))
        throw new ConfigError(
          `${file}: executor.vary.${axis}.${v}: axis ${axis} has no value ${v} (values: ${values.join(', ')})`,
        );
  }
}

export function axesLabel(axes: Record<string, AxisValue>): string {
  const parts = Object.entries(axes).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(',') : '(single cell)';
}

interface AxisOption {
  value: AxisValue;
  /** Where this value came from in the yaml. */
  yamlPath: string;
  apply: (cfg: Record<string, unknown>, prov: Provenance) => void;
}

function axisOptionsOf(axis: string, spec: unknown, file: string): AxisOption[] {
  const where = `${file}: grid.${axis}`;
  if (Array.isArray(spec)) {
    if (spec.length === 0) throw new ConfigError(`${where}: an axis needs at least one value`);
    spec.forEach((v, i) => {
      if (!['string', 'number', 'boolean'].includes(typeof v)) {
        throw new ConfigError(
          `${where}[${i}]: expected a string, number or boolean (use a map of named overrides for objects)`,
        );
      }
    });
    const target = AXIS_ALIASES[axis] ?? axis;
    const cfgPath = target.split('.');
    if (!isConfigPath(cfgPath)) {
      throw new ConfigError(
        `${file}: grid.${axis}: unknown axis "${axis}" (aliases: ${Object.keys(AXIS_ALIASES).join(', ')}; ` +
          `or a config path such as train.lr; or a map of named overrides)`,
      );
    }
    const seenValues = new Set<string>();
    return (spec as AxisValue[]).map((value, i) => {
      const yamlPath = `grid.${axis}[${i}]`;
      if (seenValues.has(String(value)))
        throw new ConfigError(`${file}: ${yamlPath}: duplicate value "${value}"`);
      seenValues.add(String(value));
      return { value, yamlPath, apply: (cfg, prov) => setPath(cfg, cfgPath, value, yamlPath, prov) };
    });
  }
  if (!isPlainObject(spec) || Object.keys(spec).length === 0) {
    throw new ConfigError(`${where}: expected a non-empty list of values or a map of named overrides`);
  }
  return Object.entries(spec).map(([name, fragment]) => {
    const yamlPath = `grid.${axis}.${name}`;
    if (!isPlainObject(fragment))
      throw new ConfigError(`${file}: ${yamlPath}: expected a map of config overrides`);
    return { value: name, yamlPath, apply: (cfg, prov) => mergeInto(cfg, fragment, [], yamlPath, prov) };
  });
}

function* product<T>(lists: T[][]): Generator<T[]> {
  if (lists.length === 0) {
    yield [];
    return;
  }
  const [first, ...rest] = lists;
  for (const item of first!) for (const tail of product(rest)) yield [item, ...tail];
}

/**
 * Provenance: config path -> the yaml path that supplied it, so that a validation error on the merged
 * config names the line the user wrote. `scalar` marks a value given as one scalar (an axis value), whose
 * sub-paths are not spelled out in the yaml.
 */
type Provenance = Map<string, { yamlPath: string; scalar: boolean }>;

/** Paths replaced as a whole by an override rather than merged (a loss is a unit: name + its options). */
const ATOMIC_PATHS = new Set(['loss']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function clearProvenance(prov: Provenance, cfgPath: string[]): void {
  const key = cfgPath.join('.');
  for (const k of [...prov.keys()]) if (k === key || k.startsWith(`${key}.`)) prov.delete(k);
}

function recordProvenance(
  prov: Provenance,
  cfgPath: string[],
  value: unknown,
  yamlPath: string,
  scalar: boolean,
): void {
  prov.set(cfgPath.join('.'), { yamlPath, scalar });
  if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value))
      recordProvenance(prov, [...cfgPath, k], v, `${yamlPath}.${k}`, scalar);
  }
}

function mergeInto(
  target: Record<string, unknown>,
  src: Record<string, unknown>,
  cfgPath: string[],
  yamlPath: string,
  prov: Provenance,
): void {
  for (const [key, value] of Object.entries(src)) {
    const childPath = [...cfgPath, key];
    const childYaml = `${yamlPath}.${key}`;
    const current = target[key];
    if (isPlainObject(value) && isPlainObject(current) && !ATOMIC_PATHS.has(childPath.join('.'))) {
      prov.set(childPath.join('.'), { yamlPath: childYaml, scalar: false });
      mergeInto(current, value, childPath, childYaml, prov);
    } else {
      clearProvenance(prov, childPath);
      target[key] = structuredClone(value);
      recordProvenance(prov, childPath, value, childYaml, false);
    }
  }
}

function setPath(
  cfg: Record<string, unknown>,
  cfgPath: string[],
  value: AxisValue,
  yamlPath: string,
  prov: Provenance,
): void {
  let obj = cfg;
  for (const key of cfgPath.slice(0, -1)) {
    if (!isPlainObject(obj[key])) obj[key] = {};
    obj = obj[key] as Record<string, unknown>;
  }
  const last = cfgPath[cfgPath.length - 1]!;
  clearProvenance(prov, cfgPath);
  // A loss given by a scalar is a loss name (its options come from `losses:`).
  obj[last] = value;
  prov.set(cfgPath.join('.'), { yamlPath, scalar: true });
}

function lookupProvenance(prov: Provenance, cfgPath: (string | number)[]): string {
  for (let n = cfgPath.length; n > 0; n--) {
    const hit = prov.get(cfgPath.slice(0, n).join('.'));
    if (hit) return hit.scalar ? hit.yamlPath : hit.yamlPath + formatPath(cfgPath.slice(n), true);
  }
  return formatPath(['base', ...cfgPath]);
}

/**
 * `loss: mems` or `loss: {name: mems, margin: 2}` -> one object with the options from `losses:` (the
 * file's map, which named overrides may extend with their own `losses:`). Removes `cfg.losses`.
 */
function resolveLoss(cfg: Record<string, unknown>, prov: Provenance, file: string): void {
  const losses = (isPlainObject(cfg.losses) ? cfg.losses : {}) as Record<string, Record<string, unknown>>;
  delete cfg.losses;
  for (const [lossName, options] of Object.entries(losses)) {
    const where = lookupProvenance(prov, ['losses', lossName]);
    if (!listLosses().includes(lossName)) {
      throw new ConfigError(
        `${file}: ${where}: unknown loss "${lossName}" (known: ${listLosses().join(', ')})`,
      );
    }
    if (!isPlainObject(options)) throw new ConfigError(`${file}: ${where}: expected a map of loss options`);
    if ('name' in options)
      throw new ConfigError(`${file}: ${where}.name: not allowed (the key is the loss name)`);
  }
  const loss = cfg.loss;
  if (loss === undefined) return;
  const name = typeof loss === 'string' ? loss : isPlainObject(loss) ? loss.name : undefined;
  if (typeof name !== 'string') return; // validation reports it
  const fromMap = losses[name] ?? {};
  const lossProv = prov.get('loss');
  for (const key of Object.keys(fromMap)) {
    const from = prov.get(`losses.${name}.${key}`);
    if ((!isPlainObject(loss) || !(key in loss)) && from) prov.set(`loss.${key}`, from);
  }
  if (typeof loss === 'string' && lossProv) prov.set('loss.name', lossProv);
  cfg.loss = { ...fromMap, ...(isPlainObject(loss) ? loss : { name }) };
}

function resolveCell(
  exp: ExperimentFile,
  combo: AxisOption[],
  file: string,
  cellAxes: Record<string, AxisValue>,
  overrides: readonly Override[] = [],
): CellSettings {
  const prov: Provenance = new Map();
  const cfg: Record<string, unknown> = {};
  mergeInto(cfg, exp.base, [], 'base', prov);
  // `losses:` rides along under a pseudo-key so that named overrides can refine it (a dataset may want
  // another margin); resolveLoss takes it out again before validation.
  cfg.losses = structuredClone(exp.losses);
  recordProvenance(prov, ['losses'], exp.losses, 'losses', false);
  for (const option of combo) option.apply(cfg, prov);
  for (const o of overrides) applyValueOverride(cfg, o, prov);
  resolveLoss(cfg, prov, file);
  const schema = cellConfigSchema(); // composed now: blocks and losses registered at runtime are in it
  const result = schema.safeParse(cfg);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  // the variant of a discriminated union (loss, train.augment) is the `name` of the value at that path
  const variantAt = (p: (string | number)[]): string | undefined => {
    let v: unknown = cfg;
    for (const key of p) v = isPlainObject(v) ? v[String(key)] : undefined;
    return typeof v === 'string' ? v : isPlainObject(v) && typeof v.name === 'string' ? v.name : undefined;
  };
  let issuePath = issue.path;
  if (issue.code === z.ZodIssueCode.unrecognized_keys) issuePath = [...issue.path, issue.keys[0]!];
  const where = lookupProvenance(prov, issuePath);
  // A value missing from every source may be missing only for some axis values: say which cell.
  const missing = issue.code === z.ZodIssueCode.invalid_type && issue.received === 'undefined';
  const inCell = missing && Object.keys(cellAxes).length > 0 ? ` (cell ${axesLabel(cellAxes)})` : '';
  // A value from the command line is named by its override alone (the file did not supply it).
  // A whole-object check (train: epochs xor steps) that an override tripped names that override too.
  const inside = overrides.find((o) => issuePath.every((k, i) => o.path[i] === String(k)));
  const at = where.startsWith('override ')
    ? where
    : `${file}: ${where}${inside && issue.code === z.ZodIssueCode.custom ? ` (with override ${inside.text})` : ''}`;
  throw new ConfigError(
    `${at}: ${issueSentence(issue, cfg, (p) => knownKeysAt(p, variantAt(p), schema))}${inCell}`,
  );
}

/**
 * One value override on a merged cell config (after the grid axes: the command line wins). Map values
 * merge like a named override; a `loss.<option>` override on a loss given by name keeps the name.
 */
function applyValueOverride(cfg: Record<string, unknown>, o: Override, prov: Provenance): void {
  const label = `override ${o.text}`;
  if (o.path[0] === 'loss' && o.path.length > 1 && typeof cfg.loss === 'string')
    cfg.loss = { name: cfg.loss };
  let obj = cfg;
  for (const key of o.path.slice(0, -1)) {
    if (!isPlainObject(obj[key])) obj[key] = {};
    obj = obj[key] as Record<string, unknown>;
  }
  const last = o.path[o.path.length - 1]!;
  const present = obj[last] !== undefined;
  if (o.op === 'delete' || o.op === 'add') {
    const from = present ? lookupProvenance(prov, o.path) : '';
    if (o.op === 'delete' && !present) throw new ConfigError(`${label}: ${o.path.join('.')} is not set`);
    if (o.op === 'add' && present)
      throw new ConfigError(
        `${label}: ${o.path.join('.')} is already set (${from}); use ${o.text.slice(1)} or +${o.text}`,
      );
  }
  clearProvenance(prov, o.path);
  if (o.op === 'delete') {
    delete obj[last];
    return;
  }
  const value = o.value as unknown;
  if (isPlainObject(value) && isPlainObject(obj[last]) && !ATOMIC_PATHS.has(o.path.join('.')))
    mergeInto(obj[last] as Record<string, unknown>, value, o.path, label, prov);
  else obj[last] = structuredClone(value);
  recordProvenance(prov, o.path, value, label, true);
}

function fileKnownKeys(p: (string | number)[]): string[] | null {
  if (p.length === 1 && p[0] === 'executor') return Object.keys(ExecutorSchema.shape);
  if (p.length === 1 && p[0] === 'sensitivity') return Object.keys(SensitivitySchema.shape);
  return p.length === 0 ? Object.keys(ExperimentFileSchema.shape) : null;
}

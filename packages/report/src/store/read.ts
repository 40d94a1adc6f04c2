/**
 * Reads the run store (packages/trainer/README.md) into plain records. The only I/O of the table and
 * chart pipeline: everything after this is a pure function of what it returns. Bad files raise a
 * ReportInputError whose message is one line naming the file and the field.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { displayPath, fieldProblem, formatPath } from '@sbir/core';
import type { z } from 'zod';
import { ReportInputError, message } from '../messages';
import {
  CELL_ID,
  CellConfigSchema,
  ClassNeighboursSchema,
  CellStatusSchema,
  EmbeddingsSchema,
  EvalSchema,
  ExperimentMetaSchema,
  LineageSchema,
  MetricLineSchema,
  RetrievalSchema,
  type StoredCellConfig,
  type ClassNeighbours,
  type CellStatus,
  type Embeddings,
  type EvalResult,
  type ExperimentMeta,
  type Lineage,
  type MetricLine,
  type Retrieval,
} from './schema';

export interface CellRecord {
  experiment: string;
  cellId: string;
  /** absolute path of the cell folder */
  dir: string;
  /** undefined while the trainer has listed the cell but not yet written config.json */
  config?: StoredCellConfig;
  status: CellStatus;
  metrics: MetricLine[];
  eval?: EvalResult;
  /** lineage.json: git commit + dirty flag, dataset digest, backend, host (absent in older stores). */
  lineage?: Lineage;
  hasEmbeddings: boolean;
  hasRetrieval: boolean;
  /** Not in experiment.json's current cell set (`cells`): a result of an earlier grid. */
  stale?: boolean;
}

export interface ExperimentRecord {
  /** folder name under the runs dir (the id used in links and output paths) */
  id: string;
  dir: string;
  meta: ExperimentMeta;
  /** The current cell set, plus the stale cells when they were asked for (`includeStale`). */
  cells: CellRecord[];
  /** Cell folders not in the current cell set (left out of `cells` unless `includeStale`). */
  staleCount: number;
}

export interface ReadOptions {
  /** Keep cells that are not in experiment.json's current cell set, marked `stale` (default: leave out). */
  includeStale?: boolean;
}

/**
 * What one read of the run store returns (not the trainer's `RunStore`, which writes a run's files).
 */
export interface StoreSnapshot {
  runsDir: string;
  experiments: ExperimentRecord[];
  warnings: string[];
}

export { displayPath };

/** Validates `raw` against `schema`; the first problem becomes a one-line error naming file and field. */
export function parseWith<S extends z.ZodTypeAny>(
  schema: S,
  raw: unknown,
  file: string,
  prefix: (string | number)[] = [],
): z.output<S> {
  const res = schema.safeParse(raw);
  if (res.success) return res.data;
  const issue = res.error.issues[0];
  const p = [...prefix, ...issue.path];
  const field = formatPath(p) || '(root)';
  throw new ReportInputError(
    message.invalidField(displayPath(file), field, fieldProblem(issue, raw)),
    file,
    field,
  );
}

/**
 * The text of a store file, undefined when absent. Only regular files are read: a symbolic link in a
 * downloaded run store could otherwise put any file of this machine into the report.
 */
function readText(file: string): string | undefined {
  try {
    if (!fs.lstatSync(file).isFile())
      throw new ReportInputError(message.notRegularFile(displayPath(file)), file);
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof ReportInputError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ReportInputError(`${displayPath(file)}: ${(e as Error).message}`, file);
  }
}

export function readJson<S extends z.ZodTypeAny>(file: string, schema: S, required: true): z.output<S>;
export function readJson<S extends z.ZodTypeAny>(
  file: string,
  schema: S,
  required?: boolean,
): z.output<S> | undefined;
export function readJson<S extends z.ZodTypeAny>(
  file: string,
  schema: S,
  required = false,
): z.output<S> | undefined {
  const text = readText(file);
  if (text === undefined) {
    if (required) throw new ReportInputError(message.missingFile(displayPath(file)), file);
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ReportInputError(message.invalidJson(displayPath(file), (e as Error).message), file);
  }
  return parseWith(schema, raw, file);
}

/**
 * metrics.jsonl: one JSON object per line, append-only. A last line that does not parse is a line cut
 * by a crash and is skipped; a bad line before the end is an error.
 */
export function readMetrics(file: string): MetricLine[] {
  const text = readText(file);
  if (text === undefined) return [];
  const lines = text.split('\n');
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  const out: MetricLine[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (e) {
      if (i === lines.length - 1) return; // cut by a crash
      throw new ReportInputError(
        message.invalidJsonLine(displayPath(file), i + 1, (e as Error).message),
        file,
      );
    }
    out.push(parseWith(MetricLineSchema, raw, `${file}:${i + 1}`));
  });
  return out;
}

export function readEmbeddings(cell: CellRecord): Embeddings | undefined {
  return readJson(path.join(cell.dir, 'embeddings.json'), EmbeddingsSchema);
}

export function readRetrieval(cell: CellRecord): Retrieval | undefined {
  return readJson(path.join(cell.dir, 'retrieval.json'), RetrievalSchema);
}

/** class-neighbours.json of a zero-shot cell (undefined when the cell has none). */
export function readClassNeighbours(cell: CellRecord): ClassNeighbours | undefined {
  return readJson(path.join(cell.dir, 'class-neighbours.json'), ClassNeighboursSchema);
}

/** A real folder (lstat): experiment and cell folders that are symbolic links are not followed. */
function isRealDir(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

const exists = (p: string): boolean => {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

function readCell(
  expId: string,
  expDir: string,
  cellId: string,
  warnings: string[],
  stale = false,
): CellRecord {
  // ids are checked where they are read (experiment.json's schema, the folder filter below); this
  // guard keeps readCell safe for any caller
  if (!CELL_ID.test(cellId))
    throw new ReportInputError(
      message.badCellId(displayPath(path.join(expDir, 'experiment.json')), 'cells', JSON.stringify(cellId)),
      expDir,
    );
  const dir = path.join(expDir, cellId);
  if (exists(dir) && !isRealDir(dir)) throw new ReportInputError(message.notRealDir(displayPath(dir)), dir);
  const config = readJson(path.join(dir, 'config.json'), CellConfigSchema);
  if (config?.formatVersion !== undefined && config.formatVersion !== 1) {
    throw new ReportInputError(
      message.unsupportedFormat(displayPath(path.join(dir, 'config.json')), config.formatVersion),
      dir,
      'formatVersion',
    );
  }
  const status: CellStatus = readJson(path.join(dir, 'status.json'), CellStatusSchema) ?? { state: 'queued' };
  if (!config) warnings.push(message.missingCellDir(displayPath(dir)));
  const evalResult = readJson(path.join(dir, 'eval.json'), EvalSchema);
  if (status.state === 'finished' && !evalResult)
    warnings.push(message.finishedWithoutEval(displayPath(dir)));
  return {
    experiment: expId,
    cellId,
    dir,
    config,
    status,
    metrics: readMetrics(path.join(dir, 'metrics.jsonl')),
    eval: evalResult,
    lineage: readJson(path.join(dir, 'lineage.json'), LineageSchema),
    hasEmbeddings: exists(path.join(dir, 'embeddings.json')),
    hasRetrieval: exists(path.join(dir, 'retrieval.json')),
    stale,
  };
}

export function readExperiment(
  runsDir: string,
  id: string,
  warnings: string[] = [],
  opts: ReadOptions = {},
): ExperimentRecord {
  const dir = path.join(runsDir, id);
  if (!isRealDir(dir)) throw new ReportInputError(message.notRealDir(displayPath(dir)), dir);
  const metaFile = path.join(dir, 'experiment.json');
  const meta = readJson(metaFile, ExperimentMetaSchema, true);
  if (meta.formatVersion !== undefined && meta.formatVersion !== 1) {
    throw new ReportInputError(
      message.unsupportedFormat(displayPath(metaFile), meta.formatVersion),
      metaFile,
      'formatVersion',
    );
  }
  const listed = [...meta.cells];
  const extra = fs
    .readdirSync(dir)
    // unlisted cell folders (a grid edited since): only names that are cell ids, only real folders
    .filter((n) => CELL_ID.test(n) && !listed.includes(n) && isRealDir(path.join(dir, n)))
    .filter((n) => exists(path.join(dir, n, 'config.json')) || exists(path.join(dir, n, 'status.json')))
    .sort();
  // Folders beside the current cell set are stale (the yaml or the overrides changed since they ran).
  const cells = [
    ...listed.map((c) => readCell(id, dir, c, warnings)),
    ...(opts.includeStale ? extra.map((c) => readCell(id, dir, c, warnings, true)) : []),
  ];
  return { id, dir, meta, cells, staleCount: extra.length };
}

/** Experiment folder names under `runsDir` (those holding an experiment.json), sorted. */
export function listExperiments(runsDir: string): string[] {
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(runsDir); // the root itself may be a link (runs -> /data/runs); what is below may not
  } catch {
    throw new ReportInputError(message.missingRunsDir(displayPath(runsDir)), runsDir);
  }
  if (!st.isDirectory()) throw new ReportInputError(message.runsDirNotDir(displayPath(runsDir)), runsDir);
  return fs
    .readdirSync(runsDir)
    .filter((n) => !n.startsWith('.') && exists(path.join(runsDir, n, 'experiment.json')))
    .sort();
}

/** The `name` of an experiment.json, undefined when it cannot be read (reported when it is loaded). */
function metaName(file: string): string | undefined {
  try {
    return readJson(file, ExperimentMetaSchema)?.name;
  } catch {
    return undefined;
  }
}

/** Loads one experiment (by folder name or by its `name`) or, when `experiment` is undefined, all of them. */
export function loadRunStore(runsDir: string, experiment?: string, opts: ReadOptions = {}): StoreSnapshot {
  const abs = path.resolve(runsDir);
  const ids = listExperiments(abs);
  const warnings: string[] = [];
  let chosen = ids;
  if (experiment !== undefined) {
    chosen = ids.filter((id) => id === experiment);
    if (!chosen.length) {
      const byName = ids.filter((id) => metaName(path.join(abs, id, 'experiment.json')) === experiment);
      if (!byName.length)
        throw new ReportInputError(message.unknownExperiment(displayPath(abs), experiment, ids), abs);
      chosen = byName;
    }
  } else if (!ids.length) {
    throw new ReportInputError(message.noExperiments(displayPath(abs)), abs);
  }
  return { runsDir: abs, experiments: chosen.map((id) => readExperiment(abs, id, warnings, opts)), warnings };
}

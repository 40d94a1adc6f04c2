/**
 * The run store (format in packages/trainer/README.md): the source of truth for every result. All
 * writes are atomic (tmp file in the same folder, fsync, rename); metrics.jsonl is append-only.
 * Checkpoints are dumped and restored in one place (Lightning's checkpoint connector): `dumpCheckpoint`
 * and `restoreCheckpoint`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CellConfig } from './schema';
import type { Experiment } from './grid';

export const FORMAT_VERSION = 1;

export type CellState = 'queued' | 'running' | 'finished' | 'failed' | 'interrupted';

export interface CellStatus {
  state: CellState;
  attempt: number;
  pid: number | null;
  host: string | null;
  createdAt: string;
  startedAt: string | null;
  updatedAt: string;
  finishedAt: string | null;
  error: string | null;
  step: number;
  epoch: number;
  totalSteps: number | null;
  mlflowRunId: string | null;
  // Extensions of format 1 (readers keep unknown fields):
  /** One entry per resume: the attempt that resumed and the checkpoint step it resumed from. */
  resumes?: { attempt: number; fromStep: number; time: string }[];
  /** Backend the cell trained on (initBackend's answer) and the repository commit. */
  backend?: string | null;
  gitSha?: string | null;
  /** Cells run by the Slurm executor: the array task and its last known Slurm state. */
  slurm?: SlurmCellInfo | null;
}

/** status.json `slurm` (README "Running on a Slurm cluster"). */
export interface SlurmCellInfo {
  /** `<array job id>_<task index>`, as squeue/scancel/sacct name it. */
  jobId: string;
  arrayJobId: string;
  arrayTaskId: number;
  /** Slurm's job state (PENDING, RUNNING, COMPLETED, CANCELLED, TIMEOUT, NODE_FAIL, PREEMPTED, ...). */
  state: string;
  reason: string | null;
  node: string | null;
  /** Slurm requeues of this task ($SLURM_RESTART_COUNT). */
  restarts?: number;
  /** The submission folder under runs/<experiment>/.slurm/. */
  submission: string;
}

export interface StepLine {
  kind: 'step';
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  imagesPerSec: number;
  time: string;
}

export interface EpochLine {
  kind: 'epoch';
  step: number;
  epoch: number;
  trainLoss: number;
  'mAP@all': number | null;
  'P@200': number | null;
  /** Extension: queries/gallery rows of this (subset) evaluation, and its seconds. */
  nQueries?: number;
  nGallery?: number;
  evalSeconds?: number;
  time: string;
}

export type MetricLine = StepLine | EpochLine;

export function nowIso(): string {
  return new Date().toISOString();
}

/** Writes `data` to `file` atomically: `<file>.tmp-<pid>` in the same folder, fsync, rename. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Parsed JSON, or null when the file does not exist. */
export function readJsonFile<T>(file: string): T | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

export interface ExperimentMeta {
  formatVersion: 1;
  name: string;
  file: string;
  description: string;
  configSha256: string;
  axes: Record<string, (string | number | boolean)[]>;
  cells: string[];
  createdAt: string;
  updatedAt: string;
}

/** One experiment folder: runs/<experiment>/. */
export class RunStore {
  readonly dir: string;
  constructor(
    readonly runsDir: string,
    readonly experiment: string,
  ) {
    this.dir = path.resolve(runsDir, experiment);
  }

  get metaPath(): string {
    return path.join(this.dir, 'experiment.json');
  }

  readMeta(): ExperimentMeta | null {
    return readJsonFile<ExperimentMeta>(this.metaPath);
  }

  /** Writes experiment.json (keeps createdAt; lists every cell of the grid, run or not). */
  writeMeta(exp: Experiment): void {
    const old = this.readMeta();
    const now = nowIso();
    writeJsonAtomic(this.metaPath, {
      formatVersion: FORMAT_VERSION,
      name: exp.name,
      file: exp.file,
      description: exp.description,
      configSha256: exp.configSha256,
      axes: exp.axes,
      cells: exp.cells.map((c) => c.cellId),
      createdAt: old?.createdAt ?? now,
      updatedAt: now,
    } satisfies ExperimentMeta);
  }

  cell(cellId: string): CellStore {
    return new CellStore(path.join(this.dir, cellId));
  }

  /** Cell folders present on disk (those holding a config.json), sorted. */
  listCellIds(): string[] {
    if (!fs.existsSync(this.dir)) return [];
    return fs
      .readdirSync(this.dir)
      .filter((n) => /^[0-9a-f]{12}$/.test(n) && fs.existsSync(path.join(this.dir, n, 'config.json')))
      .sort();
  }
}

/** One cell folder: runs/<experiment>/<cell-id>/. */
export class CellStore {
  constructor(readonly dir: string) {}

  file(name: string): string {
    return path.join(this.dir, name);
  }

  get cellId(): string {
    return path.basename(this.dir);
  }

  readConfig(): CellConfig | null {
    return readJsonFile<CellConfig>(this.file('config.json'));
  }

  writeConfig(config: CellConfig): void {
    writeJsonAtomic(this.file('config.json'), config);
  }

  readStatus(): CellStatus | null {
    return readJsonFile<CellStatus>(this.file('status.json'));
  }

  /** Merges `patch` into status.json (creating it as queued) and stamps updatedAt. */
  updateStatus(patch: Partial<CellStatus>): CellStatus {
    const now = nowIso();
    const old = this.readStatus() ?? {
      state: 'queued',
      attempt: 0,
      pid: null,
      host: null,
      createdAt: now,
      startedAt: null,
      updatedAt: now,
      finishedAt: null,
      error: null,
      step: 0,
      epoch: 0,
      totalSteps: null,
      mlflowRunId: null,
    };
    const next: CellStatus = { ...old, ...patch, updatedAt: now };
    writeJsonAtomic(this.file('status.json'), next);
    return next;
  }

  /** Appends one line; a single write so that a crash can cut at most the last line. */
  appendMetric(line: MetricLine): void {
    fs.appendFileSync(this.file('metrics.jsonl'), `${JSON.stringify(line)}\n`);
  }

  /** Complete lines of metrics.jsonl (a last line cut by a crash is ignored). */
  readMetrics(): MetricLine[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file('metrics.jsonl'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: MetricLine[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        out.push(JSON.parse(line) as MetricLine);
      } catch {
        // only the last line can be cut by a crash; anything after it would have been appended later
        break;
      }
    }
    return out;
  }

  /** Keeps the lines up to and including `step` (resume: curves must not repeat steps). */
  truncateMetrics(step: number): number {
    const lines = this.readMetrics();
    const kept = lines.filter((l) => l.step <= step);
    if (kept.length !== lines.length || fs.existsSync(this.file('metrics.jsonl'))) {
      writeFileAtomic(this.file('metrics.jsonl'), kept.map((l) => `${JSON.stringify(l)}\n`).join(''));
    }
    return lines.length - kept.length;
  }

  checkpointDir(which: 'last' | 'best'): string {
    return path.join(this.dir, 'checkpoints', which);
  }

  /**
   * Removes everything the cell produced except config.json (a failed cell retried from scratch). The
   * cell claim (claim.json, claim.takeover/) survives: the cell is reset under it.
   */
  reset(): void {
    const keep = new Set(['config.json', 'status.json', 'mlflow.json', 'claim.json', 'claim.takeover']);
    for (const name of fs.existsSync(this.dir) ? fs.readdirSync(this.dir) : []) {
      if (keep.has(name)) continue;
      fs.rmSync(path.join(this.dir, name), { recursive: true, force: true });
    }
  }
}

/** What the trainer itself keeps in a checkpoint beside the model's own files (restart-safe counters). */
export interface TrainerState {
  /** Completed optimiser steps. */
  step: number;
  /** Completed epochs (an epoch = `stepsPerEpoch` steps; the last may be shorter). */
  epoch: number;
  /** Data position: pass over the train subset (0-based) and batches of it already consumed. */
  pass: number;
  batchInPass: number;
  /** Running sums of the epoch in progress (its trainLoss survives a resume). */
  epochLossSum: number;
  epochLossCount: number;
  bestMetric: number | null;
  bestEpoch: number | null;
  trainSeconds: number;
  time: string;
}

export function initialTrainerState(): TrainerState {
  return {
    step: 0,
    epoch: 0,
    pass: 0,
    batchInPass: 0,
    epochLossSum: 0,
    epochLossCount: 0,
    bestMetric: null,
    bestEpoch: null,
    trainSeconds: 0,
    time: nowIso(),
  };
}

/** The part of @sbir/model's SbirTrainer that checkpoints need. */
export interface Checkpointable {
  saveCheckpoint(dir: string): Promise<void>;
  loadCheckpoint(dir: string): Promise<void>;
}

/**
 * Saves model + optimiser (through the model's own atomic saveCheckpoint) and the trainer state into
 * checkpoints/<which>, swapping folders so that a complete checkpoint is always on disk.
 */
export async function dumpCheckpoint(
  model: Checkpointable,
  cell: CellStore,
  which: 'last' | 'best',
  state: TrainerState,
): Promise<void> {
  const target = cell.checkpointDir(which);
  const root = path.dirname(target);
  const tmp = path.join(root, `.${which}.tmp-${process.pid}`);
  const old = path.join(root, `.${which}.old-${process.pid}`);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  await model.saveCheckpoint(path.join(tmp, 'model'));
  writeJsonAtomic(path.join(tmp, 'trainer-state.json'), state);
  fsyncDir(tmp);
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(target)) fs.renameSync(target, old);
  fs.renameSync(tmp, target);
  fsyncDir(root);
  fs.rmSync(old, { recursive: true, force: true });
}

/** The checkpoint folder to resume from: <which>, or the previous one left by a crash during the swap. */
export function findCheckpoint(cell: CellStore, which: 'last' | 'best'): string | null {
  const target = cell.checkpointDir(which);
  if (fs.existsSync(path.join(target, 'trainer-state.json'))) return target;
  const root = path.dirname(target);
  if (!fs.existsSync(root)) return null;
  const left = fs
    .readdirSync(root)
    .filter((n) => n.startsWith(`.${which}.old-`))
    .map((n) => path.join(root, n))
    .find((d) => fs.existsSync(path.join(d, 'trainer-state.json')));
  return left ?? null;
}

/**
 * Restores model + optimiser + trainer state from checkpoints/<which>, and truncates metrics.jsonl back
 * to the checkpoint's step. Returns null when the cell has no checkpoint.
 */
export async function restoreCheckpoint(
  model: Checkpointable,
  cell: CellStore,
  which: 'last' | 'best',
): Promise<TrainerState | null> {
  const dir = findCheckpoint(cell, which);
  if (!dir) return null;
  const state = readJsonFile<TrainerState>(path.join(dir, 'trainer-state.json'));
  if (!state) return null;
  await model.loadCheckpoint(path.join(dir, 'model'));
  cell.truncateMetrics(state.step);
  return state;
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // directories cannot be fsynced on every platform; the rename is still atomic
  }
}

/** True when `pid` is a live process on this host (a zombie left by a killed parent is not). */
export function isAlive(pid: number | null): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..." where S is the state; Z = zombie, X = dead
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no procfs (macOS): the signal check is all there is
  }
}

/**
 * What the scheduler should do with a cell, from its status:
 * - run: never started (or queued); resume: interrupted, or "running" by a dead process / another host
 *   (resumes from checkpoints/last when there is one); skip: finished, failed (unless retrying), or
 *   running in a live process here.
 */
export type CellPlan = 'run' | 'resume' | 'retry' | 'skip-finished' | 'skip-failed' | 'skip-running';

export function planCell(status: CellStatus | null, retryFailed: boolean, host = os.hostname()): CellPlan {
  if (!status || status.state === 'queued') return 'run';
  switch (status.state) {
    case 'finished':
      return 'skip-finished';
    case 'failed':
      return retryFailed ? 'retry' : 'skip-failed';
    case 'interrupted':
      return 'resume';
    case 'running':
      return status.host === host && isAlive(status.pid) ? 'skip-running' : 'resume';
    default:
      return 'run';
  }
}

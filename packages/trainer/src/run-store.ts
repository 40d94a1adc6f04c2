/**
 * The run store (format in packages/trainer/README.md): the source of truth for every result. All
 * writes are atomic (@sbir/core: tmp file in the same folder, fsync, rename, fsync the folder);
 * metrics.jsonl is append-only. Checkpoints (dump, verify, restore) are in checkpoint.ts.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomicSync, writeJsonAtomicSync } from '@sbir/core';
import type { StepStatus } from '@sbir/model';
import type { CellConfig } from './schema';

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
  /**
   * How the training steps ran, as of the last checkpoint: `{ mode: 'graph' }`, or `{ mode: 'eager',
   * reason }` (config.json's `resolved.stepMode` is the mode asked for; a graph can fall back).
   */
  stepMode?: StepStatus | null;
  /** Cells run by the Slurm executor: the array task and its last known Slurm state. */
  slurm?: SlurmCellInfo | null;
  /** One entry per checkpoint found corrupt at a resume, with what the cell did instead. */
  checkpointFaults?: CheckpointFaultRecord[];
  /** Unreadable lines skipped in metrics.jsonl at resumes (cumulative; valid lines are always kept). */
  badMetricLines?: number;
  /**
   * Set by readStatus (never written) when status.json could not be parsed: the cell's state is
   * unknown, so it is planned as interrupted (resumable from its checkpoint), and this says why.
   */
  unreadable?: string;
}

export interface CheckpointFaultRecord {
  attempt: number;
  time: string;
  /** The corrupt file (relative to the cell folder), or the checkpoint folder when a file is missing. */
  file: string;
  problem: string;
  /** What the cell did: the checkpoint it resumed from, or a restart from step 0. */
  action: string;
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
  /** Slurm requeues of this task ($SLURM_RESTART_COUNT): preemption, node loss and time limits alike. */
  restarts?: number;
  /** Requeues the task asked for itself at its time limit (`executor.requeue`; at most `executor.maxRequeues`). */
  requeues?: number;
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
  /** The loss's components averaged over the same steps (model kinds with terms of their own: SSGN). */
  terms?: Record<string, number>;
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

/** Checkpoint folders under checkpoints/: `previous` is the `last` before the current one. */
export type CheckpointName = 'last' | 'previous';

export function nowIso(): string {
  return new Date().toISOString();
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

function emptyStatus(now: string): CellStatus {
  return {
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
}

const CELL_STATES = new Set(['queued', 'running', 'finished', 'failed', 'interrupted']);

function isStatusShaped(v: unknown): v is CellStatus {
  const s = v as Partial<CellStatus> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    !Array.isArray(s) &&
    CELL_STATES.has(String(s.state)) &&
    Number.isInteger(s.attempt) &&
    Number.isInteger(s.step)
  );
}

/** A metrics.jsonl line, or null when it is not JSON or not a step/epoch record with a numeric step. */
function parseMetricLine(line: string): MetricLine | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  const m = v as Partial<MetricLine> | null;
  if (typeof m !== 'object' || m === null || (m.kind !== 'step' && m.kind !== 'epoch')) return null;
  return Number.isInteger(m.step) ? (m as MetricLine) : null;
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
    writeJsonAtomicSync(this.file('config.json'), config);
  }

  /**
   * status.json, or null when there is none. A file that does not parse (cut by a crash of another
   * tool, edited by hand) is this cell's problem only: it reads as an interrupted cell of unknown
   * progress (resumable from its checkpoint) with `unreadable` saying why.
   */
  readStatus(): CellStatus | null {
    try {
      if (!fs.existsSync(this.file('status.json'))) return null;
      const status = readJsonFile<CellStatus>(this.file('status.json'));
      if (isStatusShaped(status)) return status;
      throw new Error(`${this.file('status.json')}: not a cell status object`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code) throw e; // I/O errors are not the file's content
      const now = nowIso();
      return {
        ...emptyStatus(now),
        state: 'interrupted',
        error: `status.json was unreadable; resumed from the last checkpoint`,
        unreadable: (e as Error).message.split('\n')[0]!,
      };
    }
  }

  /** Merges `patch` into status.json (creating it as queued) and stamps updatedAt. */
  updateStatus(patch: Partial<CellStatus>): CellStatus {
    const now = nowIso();
    const old: CellStatus = { ...(this.readStatus() ?? emptyStatus(now)) };
    delete old.unreadable; // a marker of the reader, never written
    const next: CellStatus = { ...old, ...patch, updatedAt: now };
    writeJsonAtomicSync(this.file('status.json'), next);
    return next;
  }

  /** Appends one line; a single write so that a crash can cut at most the last line. */
  appendMetric(line: MetricLine): void {
    fs.appendFileSync(this.file('metrics.jsonl'), `${JSON.stringify(line)}\n`);
  }

  /** Complete lines of metrics.jsonl (unreadable lines, such as a last line cut by a crash, are skipped). */
  readMetrics(): MetricLine[] {
    return this.readMetricsCounted().lines;
  }

  /**
   * Every valid line of metrics.jsonl, and how many lines were skipped as unreadable (not JSON, or not
   * a step/epoch record). A bad line in the middle (a disk or editor accident) costs that line only.
   */
  readMetricsCounted(): { lines: MetricLine[]; bad: number } {
    let text: string;
    try {
      text = fs.readFileSync(this.file('metrics.jsonl'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { lines: [], bad: 0 };
      throw e;
    }
    const lines: MetricLine[] = [];
    let bad = 0;
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const parsed = parseMetricLine(line);
      if (parsed) lines.push(parsed);
      else bad++;
    }
    return { lines, bad };
  }

  /**
   * Keeps the valid lines up to and including `step` (resume: curves must not repeat steps) and drops
   * unreadable ones; returns how many lines of each kind went.
   */
  truncateMetrics(step: number): { removed: number; bad: number } {
    const { lines, bad } = this.readMetricsCounted();
    const kept = lines.filter((l) => l.step <= step);
    if (kept.length !== lines.length || bad > 0 || fs.existsSync(this.file('metrics.jsonl'))) {
      writeFileAtomicSync(this.file('metrics.jsonl'), kept.map((l) => `${JSON.stringify(l)}\n`).join(''));
    }
    return { removed: lines.length - kept.length, bad };
  }

  checkpointDir(which: CheckpointName): string {
    return path.join(this.dir, 'checkpoints', which);
  }

  /**
   * Removes what a killed writer leaves behind: `*.tmp-<pid>` files and folders of atomic writes and
   * checkpoint swaps (cell folder, checkpoints/, retrieval/), and the half-swapped `.best.old-<pid>` of
   * stores written before the `best` checkpoint was removed.
   * Run when the cell (re)starts, by its one owner. Returns the names removed.
   */
  removeStaleTemp(): string[] {
    const removed: string[] = [];
    for (const sub of ['', 'checkpoints', 'retrieval']) {
      const dir = path.join(this.dir, sub);
      if (!fs.existsSync(dir)) continue;
      for (const name of fs.readdirSync(dir)) {
        if (!/\.tmp-\d+/.test(name) && !/^\.best\.old-\d+$/.test(name)) continue;
        if (name.startsWith('claim.')) continue; // claim.ts's own temp files belong to live contenders
        fs.rmSync(path.join(dir, name), { recursive: true, force: true });
        removed.push(sub ? `${sub}/${name}` : name);
      }
    }
    return removed;
  }

  /**
   * Removes everything the cell produced except config.json (a failed cell retried from scratch). The
   * cell claim (claim.*) survives: the cell is reset under it.
   */
  reset(): void {
    const keep = new Set(['config.json', 'status.json', 'mlflow.json']);
    for (const name of fs.existsSync(this.dir) ? fs.readdirSync(this.dir) : []) {
      // claim.json, claim.takeover/ and the claim.json.tmp-<token> of a process claiming right now
      if (keep.has(name) || name.startsWith('claim.')) continue;
      fs.rmSync(path.join(this.dir, name), { recursive: true, force: true });
    }
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

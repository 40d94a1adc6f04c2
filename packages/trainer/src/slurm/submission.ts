/**
 * A submission folder, `runs/<experiment>/.slurm/<submission>/`, written before sbatch runs so that
 * what ran is inspectable: `job.sh` (the job script), `sbatch.json` (the sbatch argv), `tasks.json`
 * (array index -> cell id), then `job.json` (the job id) once Slurm accepted it; the tasks' output
 * goes to `task-<index>.out`.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomicSync, writeJsonAtomicSync } from '@sbir/core';
import { childEntry } from '../entry';
import { REPO_ROOT } from '../grid';
import { readJsonFile } from '../run-store';
import type { StartMode } from '../protocol';
import type { ExecutorSettings } from '../schema';

export const TASK_ENTRY = childEntry(__dirname, 'task');

/** One job array of a submission: the cells whose (per-cell) executor settings are these. */
export interface SlurmArrayRecord {
  array: number;
  settings: ExecutorSettings;
  /** The backend its tasks ask for (`auto` becomes tensorflow-gpu in a task granted a GPU). */
  backend: string;
}

export interface SlurmTasksFile {
  /** 2: several arrays (`arrays`, `cells[].array`), overrides, tracking; 1 (older): one array. */
  formatVersion: 1 | 2;
  experiment: string;
  submission: string;
  /** The claim token every cell of this submission carries. */
  token: string;
  backend: string;
  createdAt: string;
  /** The command-line overrides of the submission, as typed (executor.* included). */
  overrides?: string[];
  /** The experiment file as given to the submitting command. */
  experimentFile?: string;
  /** The MLflow server the tasks mirror their own cell to (none: null). */
  trackingUri?: string | null;
  gitSha?: string | null;
  arrays?: SlurmArrayRecord[];
  /** `index` is the task index within array `array` (0 when absent). */
  cells: { index: number; array?: number; cellId: string; mode: StartMode; axes: string }[];
}

export interface SlurmJobFile {
  /** The job id of array 0 (the only one of a one-array submission). */
  jobId: string;
  /** The job id of each array, by array number. */
  jobIds?: string[];
  submittedAt: string;
  tasks: number;
}

/** A task's output file: `task-<array job id>_<index>.out` in the submission folder (sbatch `%A_%a`). */
export const TASK_OUTPUT_PATTERN = 'task-%A_%a.out';
export function taskOutputName(taskId: string): string {
  return `task-${taskId}.out`;
}

export function newSubmissionId(now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** A word for a bash script: single-quoted, with embedded quotes closed and escaped. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function jobScript(o: {
  experiment: string;
  submission: string;
  setup: string[];
  node: string;
  tasksFile: string;
  gitSha: string | null;
  gitDirty?: boolean | null;
}): string {
  return [
    '#!/bin/bash',
    `# sbir-lab trainer: Slurm array task script, experiment ${o.experiment}, submission ${o.submission}.`,
    '# Task i trains the cell at index i of tasks.json with the same code as a local worker.',
    'set -eo pipefail',
    ...(o.setup.length ? ['# executor.setup', ...o.setup] : []),
    `cd ${shellQuote(REPO_ROOT)}`,
    'export TF_NUM_INTRAOP_THREADS="${SLURM_CPUS_PER_TASK:-1}" OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}" TF_NUM_INTEROP_THREADS="${SLURM_CPUS_PER_TASK:-1}"',
    'export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"',
    // Slurm puts a task's granted GPUs in CUDA_VISIBLE_DEVICES; memory growth keeps it to what it uses
    'export TF_FORCE_GPU_ALLOW_GROWTH="${TF_FORCE_GPU_ALLOW_GROWTH:-true}"',
    `export SBIR_GIT_SHA=${shellQuote(o.gitSha ?? '')}`,
    `export SBIR_GIT_DIRTY=${o.gitDirty == null ? "''" : o.gitDirty ? '1' : '0'}`,
    // exec: the task is the job's main process, so Slurm's SIGTERM and --signal reach it directly;
    // $1 is the array number of the submission (sbatch passes it)
    `exec ${[o.node, ...TASK_ENTRY.execArgv, TASK_ENTRY.file, o.tasksFile].map(shellQuote).join(' ')} "\${1:-0}"`,
    '',
  ].join('\n');
}

export class SubmissionFolder {
  readonly dir: string;
  constructor(
    experimentDir: string,
    readonly id: string,
  ) {
    this.dir = path.join(experimentDir, '.slurm', id);
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  writeTasks(tasks: SlurmTasksFile): void {
    writeJsonAtomicSync(this.file('tasks.json'), tasks);
  }

  writeScript(script: string): void {
    writeFileAtomicSync(this.file('job.sh'), script);
    fs.chmodSync(this.file('job.sh'), 0o755);
  }

  /** `argv`: array 0's (what a one-array submission ran); `arrays`: every array's, by number. */
  writeSbatch(argvs: string[][]): void {
    writeJsonAtomicSync(this.file('sbatch.json'), {
      command: 'sbatch',
      argv: argvs[0],
      arrays: argvs,
      cwd: REPO_ROOT,
    });
  }

  writeJob(job: SlurmJobFile): void {
    writeJsonAtomicSync(this.file('job.json'), job);
  }

  writeError(text: string): void {
    writeFileAtomicSync(this.file('submit-error.txt'), `${text}\n`);
  }
}

/** A submission as recorded in its folder (what `trainer status` shows). */
export interface SubmissionRecord {
  id: string;
  dir: string;
  tasks: SlurmTasksFile;
  job: SlurmJobFile | null;
}

/** The submissions of an experiment folder, oldest first (ids start with their UTC time). */
export function listSubmissions(experimentDir: string): string[] {
  const root = path.join(experimentDir, '.slurm');
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^\d{8}T\d{6}Z-[0-9a-f]{6}$/.test(e.name))
    .map((e) => e.name)
    .sort();
}

/** The record of one submission; null when its tasks.json is missing or not one (never submitted). */
export function readSubmission(experimentDir: string, id: string): SubmissionRecord | null {
  const folder = new SubmissionFolder(experimentDir, id);
  const tasks = readJsonFile<SlurmTasksFile>(folder.file('tasks.json'));
  if (!tasks || !Array.isArray(tasks.cells)) return null;
  return { id, dir: folder.dir, tasks, job: readJsonFile<SlurmJobFile>(folder.file('job.json')) };
}

/** The Slurm job id of each cell of a submission (`<array job>_<index>`), null before sbatch accepted it. */
export function taskIdOf(sub: SubmissionRecord, cell: SlurmTasksFile['cells'][number]): string | null {
  const array = cell.array ?? 0;
  const job = sub.job?.jobIds?.[array] ?? (array === 0 ? sub.job?.jobId : undefined);
  return job ? `${job}_${cell.index}` : null;
}

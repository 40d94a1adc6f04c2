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
import type { StartMode } from '../protocol';

export const TASK_ENTRY = childEntry(__dirname, 'task');

export interface SlurmTasksFile {
  formatVersion: 1;
  experiment: string;
  submission: string;
  /** The claim token every cell of this submission carries. */
  token: string;
  backend: string;
  createdAt: string;
  cells: { index: number; cellId: string; mode: StartMode; axes: string }[];
}

export interface SlurmJobFile {
  jobId: string;
  submittedAt: string;
  tasks: number;
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
    'export TF_NUM_INTRAOP_THREADS="${SLURM_CPUS_PER_TASK:-1}" OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}" TF_NUM_INTEROP_THREADS=1',
    'export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"',
    `export SBIR_GIT_SHA=${shellQuote(o.gitSha ?? '')}`,
    `export SBIR_GIT_DIRTY=${o.gitDirty == null ? "''" : o.gitDirty ? '1' : '0'}`,
    // exec: the task is the job's main process, so Slurm's SIGTERM reaches it directly
    `exec ${[o.node, ...TASK_ENTRY.execArgv, TASK_ENTRY.file, o.tasksFile].map(shellQuote).join(' ')}`,
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

  writeSbatch(argv: string[]): void {
    writeJsonAtomicSync(this.file('sbatch.json'), { command: 'sbatch', argv, cwd: REPO_ROOT });
  }

  writeJob(job: SlurmJobFile): void {
    writeJsonAtomicSync(this.file('job.json'), job);
  }

  writeError(text: string): void {
    writeFileAtomicSync(this.file('submit-error.txt'), `${text}\n`);
  }
}

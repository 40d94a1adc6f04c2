/**
 * One Slurm array task: `node [--import tsx] slurm/task.{ts,js} <tasks.json>` (see entry.ts), run by
 * the job script the Slurm executor writes. It trains the cell that tasks.json lists at $SLURM_ARRAY_TASK_ID with the
 * same code a local worker runs (cell.ts runCell), on the same run store.
 *
 * It trains only under the cell's claim: the one its submission took (same token), or a fresh one.
 * A claim held by another owner means someone else trains the cell: the task exits 0 untouched.
 * SIGTERM (scancel, time limit, preemption) stops after the current step: checkpoint, `interrupted`
 * with Slurm's reason. A requeued task resumes from that checkpoint.
 *
 * SIGUSR1 is Slurm's warning before the time limit (`--signal=B:USR1@<executor.signalBefore>`, sent
 * when `executor.requeue` is on): the task checkpoints, counts the requeue in status.json
 * (`slurm.requeues`) and runs `scontrol requeue` on itself, keeping the cell's claim (same token) for
 * the requeued run; past `executor.maxRequeues` it ends `interrupted` instead. A failed cell exits 1
 * (Slurm records FAILED). With a tracking URI in tasks.json the task mirrors its cell to MLflow.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { sbirEnv } from '@sbir/core';
import { initBackend, type BackendName } from '@sbir/model';
import { acquireClaim, describeOwner, type Claim } from '../claim';
import { runCell } from '../cell';
import type { StartMode } from '../protocol';
import { CellStore, planCell, readJsonFile, type SlurmCellInfo } from '../run-store';
import { MlflowMirror } from '../mlflow/mirror';
import { finalState, grantedGpu, isEndedState, oneLine, slurmCommand, stoppedText } from './commands';
import type { SlurmArrayRecord, SlurmTasksFile } from './submission';

let stopSignal: NodeJS.Signals | null = null;
let busy = false;
/** SIGUSR1 came (time limit near): requeue after the checkpoint, unless a SIGTERM came first. */
let requeueAsked = false;
const onSignal = (signal: NodeJS.Signals): void => {
  stopSignal ??= signal;
  if (!busy) process.exit(signal === 'SIGINT' ? 130 : 143);
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
// Before training starts, the warning is only noted: the run stops (and requeues) at its first step.
process.on('SIGUSR1', () => {
  requeueAsked = stopSignal === null;
  stopSignal ??= 'SIGUSR1';
});

function log(line: string): void {
  process.stdout.write(
    `[sbir task ${process.env.SLURM_ARRAY_JOB_ID}_${process.env.SLURM_ARRAY_TASK_ID}] ${line}\n`,
  );
}

/**
 * Why the task was stopped, as far as Slurm says it yet: an ended state (CANCELLED, TIMEOUT,
 * PREEMPTED, ...) or SIGNALLED while the controller still shows it running/completing; the next
 * follow or run replaces SIGNALLED by the final state (reconcileSlurmCells).
 */
function stopReason(taskId: string): { state: string; reason: string | null; text: string } {
  const s = finalState(taskId);
  const state = s && isEndedState(s.state) ? s.state : 'SIGNALLED';
  const reason = s?.reason ?? `${stopSignal} received`;
  return { state, reason, text: stoppedText(taskId, state, reason) };
}

interface TaskCell {
  cell: CellStore;
  claim: Claim;
  mode: StartMode;
  slurm: SlurmCellInfo;
  tasks: SlurmTasksFile;
  /** This task's array: its settings (requeue, maxRequeues) and backend. */
  array: SlurmArrayRecord | null;
}

/** The cell of this array task, under its claim; a number (exit code) when there is nothing to train. */
function claimTaskCell(tasksFile: string, array: number, index: number): TaskCell | number {
  const tasks = readJsonFile<SlurmTasksFile>(tasksFile);
  const entry = tasks?.cells?.find((c) => (c.array ?? 0) === array && c.index === index);
  if (!tasks || !entry || !/^[0-9a-f]{12}$/.test(entry.cellId)) {
    log(`${tasksFile}: no cell at array ${array}, index ${index}`);
    return 2;
  }
  const taskId = `${process.env.SLURM_ARRAY_JOB_ID}_${index}`;
  // tasks.json lives in runs/<experiment>/.slurm/<submission>/: the cell is a sibling of .slurm
  const cell = new CellStore(path.join(path.dirname(path.dirname(path.dirname(tasksFile))), entry.cellId));
  const owner = {
    kind: 'slurm' as const,
    pid: process.pid,
    host: os.hostname(),
    submission: tasks.submission,
  };
  const got = acquireClaim(cell.dir, { ...owner, slurmJobId: taskId }, {}, tasks.token);
  if ('heldBy' in got) {
    log(`cell ${entry.cellId} is claimed by ${describeOwner(got.heldBy)}; not training it`);
    return 0;
  }
  got.claim.update({ ...owner, slurmJobId: taskId }); // the task's own pid and host from now on
  const status = cell.readStatus();
  const plan = planCell(status, entry.mode === 'retry');
  if (plan === 'skip-finished' || plan === 'skip-failed') {
    log(`cell ${entry.cellId} is ${status?.state}; nothing to do`);
    got.claim.release();
    return 0;
  }
  // a claim of our own on a "running" cell: an earlier run of this task (requeue) or a dead owner
  const mode: StartMode = plan === 'run' || plan === 'retry' ? plan : 'resume';
  const before = status?.slurm?.jobId === taskId ? status.slurm : null;
  const slurm: SlurmCellInfo = {
    jobId: taskId,
    arrayJobId: process.env.SLURM_ARRAY_JOB_ID ?? '',
    arrayTaskId: index,
    state: 'RUNNING',
    reason: null,
    node: process.env.SLURMD_NODENAME ?? os.hostname(),
    restarts: Number(process.env.SLURM_RESTART_COUNT) || 0,
    requeues: before?.requeues ?? 0,
    submission: tasks.submission,
  };
  const rec = tasks.arrays?.find((a) => a.array === array) ?? null;
  return { cell, claim: got.claim, mode, slurm, tasks, array: rec };
}

/** The backend asked for, or tensorflow-gpu for `auto` when Slurm granted this task a GPU. */
function backendOf(t: TaskCell): BackendName {
  const asked = (t.array?.backend ?? t.tasks.backend) as BackendName;
  return asked === 'auto' && grantedGpu() ? 'tensorflow-gpu' : asked;
}

/**
 * At the time limit's warning, after the checkpoint: requeue this task (`scontrol requeue`) while
 * requeues are left, keeping the claim for the requeued run. True when it was requeued.
 */
function requeueSelf(t: TaskCell): boolean {
  const { cell, slurm } = t;
  const max = t.array?.settings.maxRequeues ?? 0;
  const done = slurm.requeues ?? 0;
  if (done >= max) {
    const text = `Slurm task ${slurm.jobId} reached its time limit after ${done} requeue(s) (executor.maxRequeues ${max}); rerun resumes from the last checkpoint`;
    cell.updateStatus({ error: text, slurm: { ...slurm, state: 'TIMEOUT', reason: 'TimeLimit' } });
    log(text);
    return false;
  }
  const next = { ...slurm, state: 'REQUEUED', reason: 'TimeLimit', requeues: done + 1 };
  cell.updateStatus({
    error: `requeued at the time limit (${done + 1} of at most ${max}); resumes from its checkpoint`,
    slurm: next,
  });
  const r = slurmCommand('scontrol', ['requeue', slurm.jobId]);
  if (r.code !== 0) {
    const text = `scontrol requeue ${slurm.jobId} failed: ${oneLine(r.stderr)}; rerun resumes from the last checkpoint`;
    cell.updateStatus({ error: text, slurm: { ...slurm, state: 'SIGNALLED', reason: 'TimeLimit' } });
    log(text);
    return false;
  }
  log(`cell ${cell.cellId}: checkpointed and requeued (${done + 1} of at most ${max})`);
  return true;
}

/** Mirrors the cell to MLflow when the submission gave a tracking URI; a failure is one log line. */
async function mirrorCell(t: TaskCell): Promise<void> {
  const uri = t.tasks.trackingUri;
  if (!uri) return;
  try {
    const mirror = new MlflowMirror(uri, t.tasks.experiment, {
      gitSha: t.tasks.gitSha ?? null,
      experimentFile: t.tasks.experimentFile,
    });
    await mirror.syncCell(t.cell, { mayWriteStatus: t.claim.held() });
  } catch (e) {
    log(`mlflow: ${uri}: ${(e as Error).message.split('\n')[0]} (push it later with trainer:sync)`);
  }
}

/** Trains the cell; resolves with the exit code and whether the task requeued itself (claim kept). */
async function train(t: TaskCell): Promise<{ code: number; requeued: boolean }> {
  const { cell, claim, slurm } = t;
  cell.updateStatus({ slurm });
  const threads = Number(process.env.SLURM_CPUS_PER_TASK) || sbirEnv().threads || 1;
  const info = await initBackend(backendOf(t), { threads, quiet: true });
  const gpus = process.env.CUDA_VISIBLE_DEVICES;
  log(
    `cell ${cell.cellId} (${t.mode}) on ${slurm.node}: backend ${info.name}, ${info.threads} thread(s)${gpus !== undefined ? `, CUDA_VISIBLE_DEVICES=${gpus}` : ''}`,
  );
  if (info.warning) log(info.warning);
  claim.startHeartbeat(undefined, () => {
    log('the cell claim was taken over by another owner; stopping');
    stopSignal ??= 'SIGTERM';
  });
  busy = true;
  const outcome = await runCell({
    cellDir: cell.dir,
    mode: t.mode,
    backend: info.name,
    shouldStop: () => stopSignal !== null,
  });
  busy = false;
  if (!claim.held()) return { code: 143, requeued: false }; // someone else owns the cell now
  if (outcome.state === 'interrupted' && requeueAsked) {
    claim.stopHeartbeat();
    // mirrored first: the requeue makes Slurm SIGTERM this process, which then exits at once
    await mirrorCell(t);
    const requeued = requeueSelf(t);
    return { code: requeued ? 0 : 143, requeued };
  }
  if (outcome.state === 'interrupted') {
    const why = stopReason(slurm.jobId);
    cell.updateStatus({ error: why.text, slurm: { ...slurm, state: why.state, reason: why.reason } });
    log(why.text);
    await mirrorCell(t);
    return { code: 143, requeued: false };
  }
  // the state Slurm records for the exit code below (a failed cell fails its task)
  const ended = outcome.state === 'failed' ? 'FAILED' : 'COMPLETED';
  cell.updateStatus({ slurm: { ...slurm, state: ended, reason: null } });
  log(`cell ${cell.cellId}: ${outcome.state}${outcome.error ? ` (${outcome.error})` : ''}`);
  await mirrorCell(t);
  // a failed cell fails its task, so that Slurm (and sacct) record FAILED
  return { code: outcome.state === 'failed' ? 1 : 0, requeued: false };
}

async function main(): Promise<number> {
  const tasksFile = process.argv[2];
  const array = Number(process.argv[3] ?? 0);
  const index = Number(process.env.SLURM_ARRAY_TASK_ID);
  if (!tasksFile || !Number.isInteger(index) || !Number.isInteger(array)) {
    log('usage: task.ts <tasks.json> [<array>] (in a Slurm array task)');
    return 2;
  }
  const t = claimTaskCell(path.resolve(tasksFile), array, index);
  if (typeof t === 'number') return t;
  let requeued = false;
  try {
    const r = await train(t);
    requeued = r.requeued;
    return r.code;
  } finally {
    // a requeued task keeps the claim: its next run takes it back by the submission's token
    if (!requeued) t.claim.release();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);

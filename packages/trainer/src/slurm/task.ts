/**
 * One Slurm array task: `node [--import tsx] slurm/task.{ts,js} <tasks.json>` (see entry.ts), run by
 * the job script the Slurm executor writes. It trains the cell that tasks.json lists at $SLURM_ARRAY_TASK_ID with the
 * same code a local worker runs (cell.ts runCell), on the same run store.
 *
 * It trains only under the cell's claim: the one its submission took (same token), or a fresh one.
 * A claim held by another owner means someone else trains the cell: the task exits 0 untouched.
 * SIGTERM (scancel, time limit, preemption) stops after the current step: checkpoint, `interrupted`
 * with Slurm's reason. A requeued task resumes from that checkpoint.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend, type BackendName } from '@sbir/model';
import { acquireClaim, describeOwner, type Claim } from '../claim';
import { runCell } from '../cell';
import type { StartMode } from '../protocol';
import { CellStore, planCell, readJsonFile, type SlurmCellInfo } from '../run-store';
import { finalState, isEndedState, stoppedText } from './commands';
import type { SlurmTasksFile } from './submission';

let stopSignal: NodeJS.Signals | null = null;
let busy = false;
const onSignal = (signal: NodeJS.Signals): void => {
  stopSignal ??= signal;
  if (!busy) process.exit(signal === 'SIGINT' ? 130 : 143);
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

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
}

/** The cell of this array task, under its claim; a number (exit code) when there is nothing to train. */
function claimTaskCell(tasksFile: string, index: number): TaskCell | number {
  const tasks = readJsonFile<SlurmTasksFile>(tasksFile);
  const entry = tasks?.cells[index];
  if (!tasks || !entry || !/^[0-9a-f]{12}$/.test(entry.cellId)) {
    log(`${tasksFile}: no cell at index ${index}`);
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
  const slurm: SlurmCellInfo = {
    jobId: taskId,
    arrayJobId: process.env.SLURM_ARRAY_JOB_ID ?? '',
    arrayTaskId: index,
    state: 'RUNNING',
    reason: null,
    node: process.env.SLURMD_NODENAME ?? os.hostname(),
    restarts: Number(process.env.SLURM_RESTART_COUNT) || 0,
    submission: tasks.submission,
  };
  return { cell, claim: got.claim, mode, slurm, tasks };
}

async function train(t: TaskCell): Promise<number> {
  const { cell, claim, slurm } = t;
  cell.updateStatus({ slurm });
  const threads = Number(process.env.SLURM_CPUS_PER_TASK) || Number(process.env.TF_NUM_INTRAOP_THREADS) || 1;
  const info = await initBackend(t.tasks.backend as BackendName, { threads, quiet: true });
  log(`cell ${cell.cellId} (${t.mode}) on ${slurm.node}: backend ${info.name}, ${info.threads} thread(s)`);
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
  if (!claim.held()) return 143; // someone else owns the cell now: leave its status alone
  if (outcome.state === 'interrupted') {
    const why = stopReason(slurm.jobId);
    cell.updateStatus({ error: why.text, slurm: { ...slurm, state: why.state, reason: why.reason } });
    log(why.text);
    return 143;
  }
  cell.updateStatus({ slurm: { ...slurm, state: 'COMPLETED', reason: null } });
  log(`cell ${cell.cellId}: ${outcome.state}${outcome.error ? ` (${outcome.error})` : ''}`);
  return 0;
}

async function main(): Promise<number> {
  const tasksFile = process.argv[2];
  const index = Number(process.env.SLURM_ARRAY_TASK_ID);
  if (!tasksFile || !Number.isInteger(index)) {
    log('usage: task.ts <tasks.json> (in a Slurm array task)');
    return 2;
  }
  const t = claimTaskCell(path.resolve(tasksFile), index);
  if (typeof t === 'number') return t;
  try {
    return await train(t);
  } finally {
    t.claim.release();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);

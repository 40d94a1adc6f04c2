/**
 * `trainer status`: the cell states of an experiment from its run store. After a Slurm submission it
 * shows that submission's own record (runs/<experiment>/.slurm/<id>/tasks.json: its cells, overrides
 * and job ids), not the yaml as it is now, with each task's recorded and live state, node, requeue
 * count and output file. Without a submission: the yaml's cells. Read-only.
 */
import * as path from 'node:path';
import { displayPath, formatTable } from '@sbir/core';
import { readClaim, describeOwner } from './claim';
import { loadExperiment } from './grid';
import { ConfigError } from './messages';
import { RunStore, type CellStatus, type CellStore } from './run-store';
import { findOnPath, isActiveState, queueStates, type TaskState } from './slurm/commands';
import {
  listSubmissions,
  readSubmission,
  taskIdOf,
  taskOutputName,
  type SubmissionRecord,
} from './slurm/submission';

export interface StatusOptions {
  experiment: string;
  runsDir: string;
  dataRoot?: string;
  /** A submission id (a folder under runs/<experiment>/.slurm/), `latest` (default), or `none` (the yaml's cells). */
  submission?: string;
  write?: (line: string) => void;
}

function liveQueue(statuses: (CellStatus | null)[]): Map<string, TaskState> | null {
  const jobs = [...new Set(statuses.flatMap((s) => (s?.slurm ? [s.slurm.arrayJobId] : [])))];
  if (jobs.length === 0 || !findOnPath('squeue')) return null;
  return queueStates(jobs);
}

/** The live state, when it says more than the recorded one (a recorded RUNNING whose task is gone). */
function liveText(slurm: CellStatus['slurm'], queue: Map<string, TaskState> | null): string {
  if (!slurm || !queue) return '';
  const live = queue.get(slurm.jobId);
  if (live && isActiveState(live.state)) return live.state;
  return isActiveState(slurm.state) ? 'not queued' : '';
}

interface Row {
  cellId: string;
  axes: string[];
  store: CellStore;
  /** The task of the shown submission (null: not submitted, or a yaml row). */
  taskId: string | null;
  log: string | null;
}

/** The submission to show: `--submission` (id or latest), or null for the yaml's cells. */
function pickSubmission(expDir: string, wanted: string | undefined): SubmissionRecord | null {
  if (wanted === 'none') return null;
  const ids = listSubmissions(expDir);
  if (wanted && wanted !== 'latest') {
    if (!ids.includes(wanted))
      throw new ConfigError(
        `--submission ${wanted}: no such submission in ${displayPath(path.join(expDir, '.slurm'))} (known: ${ids.join(', ') || 'none'})`,
      );
    return readSubmission(expDir, wanted);
  }
  for (const id of [...ids].reverse()) {
    const sub = readSubmission(expDir, id);
    if (sub?.job) return sub; // the latest one Slurm accepted
  }
  return null;
}

export function experimentStatus(opts: StatusOptions): number {
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const exp = loadExperiment(opts.experiment, { dataRoot: opts.dataRoot });
  const runs = new RunStore(opts.runsDir, exp.name);
  const sub = pickSubmission(runs.dir, opts.submission);
  let axes: string[];
  let rows: Row[];
  if (sub) {
    axes = ['axes'];
    rows = sub.tasks.cells.map((c) => {
      const taskId = taskIdOf(sub, c);
      return {
        cellId: c.cellId,
        axes: [c.axes],
        store: runs.cell(c.cellId),
        taskId,
        log: taskId ? displayPath(path.join(sub.dir, taskOutputName(taskId))) : null,
      };
    });
    const over = sub.tasks.overrides?.length ? `; overrides: ${sub.tasks.overrides.join(' ')}` : '';
    const jobs = sub.job?.jobIds ?? (sub.job ? [sub.job.jobId] : []);
    write(
      `experiment ${exp.name}: ${displayPath(runs.dir)}; Slurm submission ${sub.id} (job ${jobs.join(', ') || '-'}, ${rows.length} task(s)${over})`,
    );
  } else {
    axes = Object.keys(exp.axes);
    rows = exp.cells.map((c) => ({
      cellId: c.cellId,
      axes: axes.map((a) => String(c.axes[a])),
      store: runs.cell(c.cellId),
      taskId: null,
      log: null,
    }));
    write(`experiment ${exp.name}: ${displayPath(runs.dir)}`);
  }
  const statuses = rows.map((r) => r.store.readStatus());
  const queue = liveQueue(statuses);
  const counts = new Map<string, number>();
  const table = rows.map((r, i) => {
    const s = statuses[i];
    const state = s?.state ?? 'queued';
    counts.set(state, (counts.get(state) ?? 0) + 1);
    const slurm = s?.slurm;
    // a later submission may own the cell now: its task is the one status.json names
    const live = liveText(slurm, queue);
    const claim = readClaim(r.store.dir);
    const requeues = slurm
      ? `${slurm.requeues ?? 0}${slurm.restarts ? ` (${slurm.restarts} restart(s))` : ''}`
      : '-';
    return [
      r.cellId,
      ...r.axes,
      state,
      s?.totalSteps ? `${s.step}/${s.totalSteps}` : '-',
      String(s?.attempt ?? 0),
      slurm?.jobId ?? r.taskId ?? '-',
      slurm ? `${slurm.state}${live && live !== slurm.state ? ` (now ${live})` : ''}` : '-',
      slurm?.node ?? (slurm && queue?.get(slurm.jobId)?.node) ?? '-',
      requeues,
      claim ? describeOwner(claim) : '-',
      r.log ?? '-',
      (s?.error ?? '').slice(0, 80),
    ];
  });
  const head = ['cell', ...axes, 'state', 'steps', 'attempt', 'slurm job', 'slurm state', 'node'];
  write(formatTable([...head, 'requeues', 'claimed by', 'log', 'error'], table));
  write([...counts].map(([k, v]) => `${v} ${k}`).join(', '));
  return 0;
}

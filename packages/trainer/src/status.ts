/**
 * `trainer status`: the cell states of an experiment from its run store, with each cell's Slurm
 * job/task id, the state the run store recorded and, when squeue answers, the live one. Read-only.
 */
import { displayPath, formatTable } from '@sbir/core';
import { readClaim, describeOwner } from './claim';
import { loadExperiment } from './grid';
import { RunStore, type CellStatus } from './run-store';
import { findOnPath, isActiveState, queueStates, type TaskState } from './slurm/commands';

export interface StatusOptions {
  experiment: string;
  runsDir: string;
  dataRoot?: string;
  write?: (line: string) => void;
}

function liveQueue(statuses: (CellStatus | null)[]): Map<string, TaskState> | null {
  const jobs = [...new Set(statuses.flatMap((s) => (s?.slurm ? [s.slurm.arrayJobId] : [])))];
  if (jobs.length === 0 || !findOnPath('squeue')) return null;
  return queueStates(jobs);
}

export function experimentStatus(opts: StatusOptions): number {
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const exp = loadExperiment(opts.experiment, { dataRoot: opts.dataRoot });
  const runs = new RunStore(opts.runsDir, exp.name);
  const axes = Object.keys(exp.axes);
  const cells = exp.cells.map((c) => ({ config: c, store: runs.cell(c.cellId) }));
  const statuses = cells.map((c) => c.store.readStatus());
  const queue = liveQueue(statuses);
  const counts = new Map<string, number>();
  const rows = cells.map(({ config, store }, i) => {
    const s = statuses[i];
    const state = s?.state ?? 'queued';
    counts.set(state, (counts.get(state) ?? 0) + 1);
    const slurm = s?.slurm;
    const live = slurm && queue ? queue.get(slurm.jobId) : undefined;
    // the live state, when it says more than the recorded one (a recorded RUNNING whose task is gone)
    const liveText =
      !slurm || !queue
        ? ''
        : live && isActiveState(live.state)
          ? live.state
          : isActiveState(slurm.state)
            ? 'not queued'
            : '';
    const claim = readClaim(store.dir);
    return [
      config.cellId,
      ...axes.map((a) => String(config.axes[a])),
      state,
      s?.totalSteps ? `${s.step}/${s.totalSteps}` : '-',
      String(s?.attempt ?? 0),
      slurm?.jobId ?? '-',
      slurm ? `${slurm.state}${liveText && liveText !== slurm.state ? ` (now ${liveText})` : ''}` : '-',
      slurm?.node ?? live?.node ?? '-',
      claim ? describeOwner(claim) : '-',
      (s?.error ?? '').slice(0, 80),
    ];
  });
  write(`experiment ${exp.name}: ${displayPath(runs.dir)}`);
  write(
    formatTable(
      [
        'cell',
        ...axes,
        'state',
        'steps',
        'attempt',
        'slurm job',
        'slurm state',
        'node',
        'claimed by',
        'error',
      ],
      rows,
    ),
  );
  write([...counts].map(([k, v]) => `${v} ${k}`).join(', '));
  return 0;
}

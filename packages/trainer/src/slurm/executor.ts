/**
 * The Slurm executor: the runnable cells become ONE job array; each task runs slurm/task.ts, which
 * trains its cell with the same code as a local worker. Slurm schedules; this process submits,
 * follows (per-cell state from the run store, Slurm states from squeue/scontrol/sacct) and, on the
 * next run or follow, reconciles cells whose task vanished (cancelled, timed out, node lost) to
 * `interrupted` with Slurm's reason, so that a rerun resubmits exactly the unfinished cells.
 *
 * One file on purpose: one submission's state machine (submit, watch, reconcile with sacct/squeue);
 * the commands are slurm/commands.ts, the job folder slurm/submission.ts.
 */
import * as os from 'node:os';
import { displayPath, sbirEnv } from '@sbir/core';
import { acquireClaim, newToken, type Claim, type ClaimProbe, type ClaimRecord } from '../claim';
import {
  claimCell,
  type ExecutionContext,
  type ExecutionResult,
  type Executor,
  type PlannedCell,
} from '../executor';
import type { CellOutcome, StartMode } from '../protocol';
import {
  nowIso,
  readJsonFile,
  type CellStatus,
  type CellStore,
  type MetricLine,
  type SlurmCellInfo,
} from '../run-store';
import type { ExecutorSettings } from '../schema';
import {
  finalState,
  isActiveState,
  isEndedState,
  stoppedText,
  parseJobId,
  queueStates,
  requestsGpu,
  requireSlurmCommands,
  sbatchArgv,
  sbatchFailure,
  slurmCommand,
  SlurmError,
  oneLine,
  type TaskState,
} from './commands';
import {
  jobScript,
  newSubmissionId,
  SubmissionFolder,
  TASK_OUTPUT_PATTERN,
  taskOutputName,
} from './submission';

export interface SlurmExecutorOptions {
  settings: ExecutorSettings;
  /** The experiment file, for messages naming `executor.<setting>`. */
  file: string;
  detach?: boolean;
  /** --requeue (or executor.requeue). */
  requeue?: boolean;
  pollMs?: number;
}

/** A claim probe that asks squeue (once per `ttlMs`) whether a Slurm owner's task is still queued. */
export function slurmProbe(ttlMs = 1000): ClaimProbe {
  let cache: { at: number; ids: Map<string, TaskState> | null; asked: string } | null = null;
  return {
    isSlurmTaskActive(rec: ClaimRecord): boolean | null {
      if (!rec.slurmJobId) return null;
      const job = rec.slurmJobId.split('_')[0]!;
      if (!cache || Date.now() - cache.at > ttlMs || cache.asked !== job) {
        cache = { at: Date.now(), ids: queueStates([job]), asked: job };
      }
      if (!cache.ids) return null;
      const t = cache.ids.get(rec.slurmJobId);
      return t ? isActiveState(t.state) : false;
    },
  };
}

/**
 * The backend tasks ask for: `--backend` as given, tensorflow-gpu for `auto` when a GPU is requested
 * in any spelling (a task granted one without asking switches on its own: slurm/task.ts).
 */
export function taskBackend(backend: string, s: ExecutorSettings): string {
  return backend === 'auto' && requestsGpu(s) ? 'tensorflow-gpu' : backend;
}

/** A cell's executor settings: the block with its `vary` entries for the cell's axis values (later axes win). */
export function cellSettings(s: ExecutorSettings, axes: Record<string, unknown>): ExecutorSettings {
  let out: ExecutorSettings = { ...s };
  for (const [axis, byValue] of Object.entries(s.vary ?? {})) {
    const entry = axis in axes ? byValue[String(axes[axis])] : undefined;
    if (entry)
      out = { ...out, ...Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined)) };
  }
  return { ...out, vary: {} };
}

/** Cells grouped by their settings, in grid order of each group's first cell: one job array each. */
export function groupBySettings<T extends { cell: PlannedCell }>(
  s: ExecutorSettings,
  cells: T[],
): { settings: ExecutorSettings; cells: T[] }[] {
  const groups = new Map<string, { settings: ExecutorSettings; cells: T[] }>();
  for (const c of cells) {
    const settings = cellSettings(s, c.cell.config.axes);
    const key = JSON.stringify(settings);
    const g = groups.get(key) ?? { settings, cells: [] };
    g.cells.push(c);
    groups.set(key, g);
  }
  return [...groups.values()];
}

const FINAL_CELL_STATES = new Set(['finished', 'failed', 'interrupted']);

/**
 * Cells whose Slurm task is gone while the run store still says queued/running (SIGKILL after
 * KillWait, node failure, cancelled while pending): marked `interrupted` with Slurm's state and
 * reason, under the cell's claim. Returns the number reconciled. Needs squeue to answer.
 */
export function reconcileSlurmCells(cells: CellStore[], probe: ClaimProbe, log: (l: string) => void): number {
  let n = 0;
  for (const store of cells) {
    const status = store.readStatus();
    const slurm = status?.slurm;
    if (!status || !slurm || isEndedState(slurm.state)) continue;
    const queue = queueStates([slurm.arrayJobId]);
    if (!queue) return n; // Slurm cannot be asked: leave everything as it is
    const live = queue.get(slurm.jobId);
    if (live && isActiveState(live.state)) continue;
    const got = acquireClaim(store.dir, { kind: 'ablation', pid: process.pid, host: os.hostname() }, probe);
    if ('heldBy' in got) continue; // its task (or another process) still owns it
    try {
      if (reconcileOne(store, slurm, log)) n++;
    } finally {
      got.claim.release();
    }
  }
  return n;
}

/** Under the cell's claim: Slurm's final word on a task that left the queue. True when it was lost. */
function reconcileOne(store: CellStore, slurm: SlurmCellInfo, log: (l: string) => void): boolean {
  const now = store.readStatus()!;
  const last = finalState(slurm.jobId);
  const state = last?.state && isEndedState(last.state) ? last.state : 'UNKNOWN';
  const patch: Partial<CellStatus> = { slurm: { ...slurm, state, reason: last?.reason ?? null } };
  let lost = false;
  if (now.state === 'running' || (now.state === 'queued' && state !== 'COMPLETED')) {
    // the task died without recording its end (SIGKILL, lost node) or never started (cancelled pending)
    patch.state = now.state === 'running' || now.step > 0 ? 'interrupted' : 'queued';
    patch.error = stoppedText(slurm.jobId, state, last?.reason ?? null);
    log(`${store.cellId}: ${patch.error}`);
    lost = true;
  } else if (now.state === 'interrupted') {
    patch.error = stoppedText(slurm.jobId, state, last?.reason ?? null);
  }
  store.updateStatus(patch);
  return lost;
}

/** One array's request in words (what `--dry-run` shows). */
function describeRequest(s: ExecutorSettings): string {
  return [
    s.partition ? `partition ${s.partition}` : 'default partition',
    `${s.cpusPerTask ?? 1} CPU(s) per task`,
    ...(s.gres ? [`gres ${s.gres}`] : []),
    ...(s.mem ? [`mem ${s.mem}`] : []),
    s.time ? `time limit ${s.time}` : "the partition's time limit",
    ...(s.requeue
      ? [`requeue on (signal ${s.signalBefore}s before the limit, at most ${s.maxRequeues} requeue(s))`]
      : []),
    ...(s.sbatchArgs.length ? [`sbatch ${s.sbatchArgs.join(' ')}`] : []),
    ...(s.arrayParallelism ? [`at most ${s.arrayParallelism} at once`] : []),
  ].join(', ');
}

export class SlurmExecutor implements Executor {
  readonly name = 'slurm' as const;

  constructor(private readonly opts: SlurmExecutorOptions) {}

  /** Before anything is written: the Slurm commands must be there. */
  preflight(): void {
    requireSlurmCommands();
  }

  describe(todo: number, cells: PlannedCell[] = []): string {
    const groups = cells.length
      ? groupBySettings(
          this.opts.settings,
          cells.map((cell) => ({ cell })),
        )
      : [];
    if (groups.length <= 1)
      return `Slurm job array of ${todo} task(s), ${describeRequest(this.opts.settings)}`;
    return `${groups.length} Slurm job arrays: ${groups
      .map((g) => `${g.cells.length} task(s), ${describeRequest(g.settings)}`)
      .join('; ')}`;
  }

  async run(ctx: ExecutionContext): Promise<ExecutionResult> {
    const probe = slurmProbe();
    reconcileSlurmCells(
      ctx.todo.map((p) => p.store),
      probe,
      (l) => ctx.view.log(l),
    );
    const submission = newSubmissionId();
    const token = newToken();
    const claimed: { cell: PlannedCell; claim: Claim }[] = [];
    const following = new Set<string>();
    for (const p of ctx.todo) {
      const got = claimCell(
        p,
        { kind: 'slurm', pid: process.pid, host: os.hostname(), submission, slurmJobId: null },
        ctx.retryFailed,
        probe,
        token, // one token for the whole submission: each task recognises its cell's claim by it
      );
      if ('cell' in got) {
        claimed.push(got);
        continue;
      }
      const job = p.store.readStatus()?.slurm;
      ctx.view.log(`${p.config.cellId} ${ctx.labels.get(p.config.cellId)}: not submitted (${got.skipped})`);
      if (job && /Slurm/.test(got.skipped)) following.add(job.arrayJobId);
    }
    const folder = new SubmissionFolder(ctx.runs.dir, submission);
    if (claimed.length > 0) {
      const jobIds = this.submit(ctx, folder, token, claimed);
      for (const j of jobIds) following.add(j);
      const jobId = jobIds.join(', ');
      if (this.opts.detach) {
        ctx.write(
          `submitted Slurm job ${jobId}: ${claimed.length} task(s) (${displayPath(folder.dir)}); ` +
            `follow with: npx nx run trainer:status -- --experiment ${ctx.exp.file}`,
        );
        return {
          outcomes: [],
          fatal: null,
          stopping: null,
          lost: 0,
          detached: true,
          logs: this.logsLine(folder),
        };
      }
      ctx.write(`submitted Slurm job ${jobId}: ${claimed.length} task(s); following it (Ctrl-C detaches)`);
    }
    return this.follow(ctx, [...following], probe, folder);
  }

  private logsLine(folder: SubmissionFolder): string {
    return `Slurm task output: ${displayPath(folder.dir)}/${taskOutputName('<job>_<index>')}`;
  }

  /**
   * Writes the submission folder, submits one array per distinct per-cell request (held), records
   * each cell's job/task id in its claim and status.json, then releases the arrays. Any failure
   * cancels what was submitted, releases the claims and writes nothing into the cells.
   */
  private submit(
    ctx: ExecutionContext,
    folder: SubmissionFolder,
    token: string,
    claimed: { cell: PlannedCell; claim: Claim }[],
  ): string[] {
    const groups = groupBySettings(this.opts.settings, claimed);
    const modeOf = (p: PlannedCell): StartMode =>
      p.plan === 'resume' ? 'resume' : p.plan === 'retry' ? 'retry' : 'run';
    const arrays = groups.map((g, array) => ({
      array,
      settings: { ...g.settings, requeue: this.opts.requeue || g.settings.requeue },
      backend: taskBackend(ctx.backend, g.settings),
    }));
    folder.writeTasks({
      formatVersion: 2,
      experiment: ctx.exp.name,
      submission: folder.id,
      token,
      backend: ctx.backend,
      createdAt: nowIso(),
      overrides: ctx.exp.overrides,
      experimentFile: ctx.exp.file,
      trackingUri: ctx.trackingUri ?? null,
      gitSha: ctx.gitSha,
      arrays,
      cells: groups.flatMap((g, array) =>
        g.cells.map((c, index) => ({
          index,
          array,
          cellId: c.cell.config.cellId,
          mode: modeOf(c.cell),
          axes: ctx.labels.get(c.cell.config.cellId) ?? '',
        })),
      ),
    });
    folder.writeScript(
      jobScript({
        experiment: ctx.exp.name,
        submission: folder.id,
        setup: this.opts.settings.setup,
        node: this.opts.settings.node ?? process.execPath,
        tasksFile: folder.file('tasks.json'),
        gitSha: ctx.gitSha,
        gitDirty: ctx.gitDirty,
      }),
    );
    const argvs = arrays.map((a) =>
      sbatchArgv(a.settings, {
        jobName: `sbir-${ctx.exp.name}`,
        tasks: groups[a.array]!.cells.length,
        outputPattern: folder.file(TASK_OUTPUT_PATTERN),
        chdir: folder.dir,
        script: folder.file('job.sh'),
        scriptArgs: [String(a.array)],
        requeue: a.settings.requeue,
      }),
    );
    folder.writeSbatch(argvs);
    const jobIds: string[] = [];
    const fail = (e: Error): never => {
      for (const j of jobIds) slurmCommand('scancel', [j]);
      for (const c of claimed) c.claim.release();
      folder.writeError(e.message);
      throw e;
    };
    for (const [i, argv] of argvs.entries()) {
      const r = slurmCommand('sbatch', argv, 60_000);
      const jobId = r.code === 0 ? parseJobId(r.stdout) : null;
      if (!jobId)
        return fail(
          r.code === 0
            ? new SlurmError(`sbatch printed no job id: ${r.stdout.trim()}`)
            : sbatchFailure(r.stderr, arrays[i]!.settings, this.opts.file),
        );
      jobIds.push(jobId);
    }
    folder.writeJob({ jobId: jobIds[0]!, jobIds, submittedAt: nowIso(), tasks: claimed.length });
    groups.forEach((g, array) =>
      g.cells.forEach(({ cell, claim }, index) => {
        const taskId = `${jobIds[array]}_${index}`;
        claim.update({ slurmJobId: taskId });
        cell.store.updateStatus({
          slurm: {
            jobId: taskId,
            arrayJobId: jobIds[array]!,
            arrayTaskId: index,
            state: 'PENDING',
            reason: null,
            node: null,
            restarts: 0,
            requeues: 0,
            submission: folder.id,
          },
        });
      }),
    );
    for (const jobId of jobIds) {
      const rel = slurmCommand('scontrol', ['release', jobId]);
      if (rel.code !== 0)
        return fail(
          new SlurmError(`scontrol release ${jobId} failed (job cancelled): ${oneLine(rel.stderr)}`),
        );
    }
    return jobIds;
  }

  /** Follows the array(s) until no task is left in the queue; Ctrl-C detaches (the jobs go on). */
  private async follow(
    ctx: ExecutionContext,
    jobIds: string[],
    probe: ClaimProbe,
    folder: SubmissionFolder,
  ): Promise<ExecutionResult> {
    const watched = ctx.todo.filter((p) => {
      const j = p.store.readStatus()?.slurm?.arrayJobId;
      return j !== undefined && jobIds.includes(j);
    });
    // tasks given a tracking URI mirror their own cell; a second writer could race them to create a run
    const tracker = new CellTracker(ctx.trackingUri ? { ...ctx, mirror: null } : ctx);
    let stopping: NodeJS.Signals | null = null;
    const onSignal = (signal: NodeJS.Signals): void => {
      stopping = signal;
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const pollMs = this.opts.pollMs ?? sbirEnv().slurmPollMs;
    let lost = 0;
    let unanswered = 0;
    try {
      for (;;) {
        const queue = queueStates(jobIds);
        unanswered = queue ? 0 : unanswered + 1;
        if (unanswered >= 30)
          throw new SlurmError(
            `squeue did not answer ${unanswered} times in a row; the job(s) ${jobIds.join(', ')} may still run (trainer status)`,
          );
        for (const p of watched) tracker.update(p, queue);
        if (queue && [...queue.values()].every((t) => !isActiveState(t.state))) break;
        if (stopping) break;
        await new Promise((r) => setTimeout(r, pollMs));
        if (stopping) break;
      }
      if (!stopping) {
        lost = reconcileSlurmCells(
          watched.map((p) => p.store),
          probe,
          (l) => ctx.view.log(l),
        );
        for (const p of watched) tracker.finish(p);
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (stopping) {
      ctx.write(
        `${stopping}: detached; Slurm job(s) ${jobIds.join(', ')} keep running (trainer status shows them)`,
      );
      return {
        outcomes: tracker.outcomes,
        fatal: null,
        stopping,
        lost: 0,
        detached: true,
        logs: this.logsLine(folder),
      };
    }
    const interrupted = tracker.outcomes.filter((o) => o.state === 'interrupted').length;
    return {
      outcomes: tracker.outcomes,
      fatal: null,
      stopping: null,
      lost: interrupted,
      lostLine: `${interrupted} cell(s) interrupted by Slurm${lost ? ` (${lost} without a checkpoint of their own end)` : ''}; rerun the same command to resubmit and resume them`,
      logs: this.logsLine(folder),
    };
  }
}

/** Epochs of a cell for the progress display (the config says it, or steps / stepsPerEpoch). */
function epochsOf(config: PlannedCell['config'], totalSteps: number): number {
  if (config.train.epochs) return config.train.epochs;
  const per = config.train.stepsPerEpoch;
  return per ? Math.ceil(totalSteps / per) : 0;
}

/** Turns run store changes of followed cells into progress-view events. */
class CellTracker {
  readonly outcomes: CellOutcome[] = [];
  private readonly started = new Set<string>();
  private readonly done = new Set<string>();
  private readonly epochsSeen = new Map<string, number>();
  private readonly slurmState = new Map<string, string>();
  private readonly requeues = new Map<string, number>();

  constructor(private readonly ctx: ExecutionContext) {}

  update(p: PlannedCell, queue: Map<string, TaskState> | null): void {
    const id = p.config.cellId;
    if (this.done.has(id)) return;
    const status = p.store.readStatus();
    if (!status) return;
    const label = this.ctx.labels.get(id) ?? '';
    const task = status.slurm ? queue?.get(status.slurm.jobId) : undefined;
    const sstate = task ? `${task.state}${task.reason ? ` (${task.reason})` : ''}` : null;
    if (sstate && this.slurmState.get(id) !== sstate && !this.started.has(id)) {
      this.ctx.view.log(`${id} ${label}: Slurm ${status.slurm!.jobId} ${sstate}`);
    }
    if (sstate) this.slurmState.set(id, sstate);
    const requeues = status.slurm?.requeues ?? 0;
    if (requeues > (this.requeues.get(id) ?? 0) && status.error)
      this.ctx.view.log(`${id} ${label}: ${status.error}`); // "requeued at the time limit (k of at most N)"
    this.requeues.set(id, requeues);
    const metrics = p.store.readMetrics();
    if (status.state === 'running' && !this.started.has(id)) {
      this.started.add(id);
      const resumes = status.resumes ?? [];
      const resumed = resumes.length && resumes[resumes.length - 1]!.attempt === status.attempt;
      this.ctx.view.cellStarted(
        {
          cellId: id,
          step: status.step,
          epoch: status.epoch,
          totalSteps: status.totalSteps ?? 0,
          epochs: epochsOf(p.config, status.totalSteps ?? 0),
          stepsPerEpoch: p.config.train.stepsPerEpoch ?? 0,
          resumedFrom: resumed ? resumes[resumes.length - 1]!.fromStep : null,
        },
        `${label} [Slurm ${status.slurm?.jobId ?? '?'} on ${status.slurm?.node ?? '?'}]`,
      );
      this.ctx.mirror?.request(p.store);
    }
    if (this.started.has(id)) this.progress(p, status, metrics);
    if (
      FINAL_CELL_STATES.has(status.state) &&
      (!task || !isActiveState(task.state) || status.state !== 'interrupted')
    )
      this.finishWith(p, status);
  }

  private progress(p: PlannedCell, status: CellStatus, metrics: MetricLine[]): void {
    const id = p.config.cellId;
    const epochs = metrics.filter((m) => m.kind === 'epoch');
    const seen = this.epochsSeen.get(id) ?? 0;
    for (const line of epochs.slice(seen)) {
      if (line.kind === 'epoch')
        this.ctx.view.cellEpoch(id, line, epochsOf(p.config, status.totalSteps ?? 0));
    }
    if (epochs.length > seen) this.ctx.mirror?.request(p.store);
    this.epochsSeen.set(id, epochs.length);
    const last = [...metrics].reverse().find((m) => m.kind === 'step');
    if (last && last.kind === 'step')
      this.ctx.view.cellProgress({
        cellId: id,
        step: last.step,
        totalSteps: status.totalSteps ?? last.step,
        epoch: last.epoch,
        loss: last.loss,
        imagesPerSec: last.imagesPerSec,
      });
  }

  /** After the array left the queue: every watched cell gets its outcome. */
  finish(p: PlannedCell): void {
    const status = p.store.readStatus();
    if (status) this.finishWith(p, status);
  }

  private finishWith(p: PlannedCell, status: CellStatus): void {
    const id = p.config.cellId;
    if (this.done.has(id) || !FINAL_CELL_STATES.has(status.state)) return;
    this.done.add(id);
    const e =
      status.state === 'finished' ? readJsonFile<Record<string, number>>(p.store.file('eval.json')) : null;
    const outcome: CellOutcome = {
      cellId: id,
      state: status.state,
      error: status.error,
      step: status.step,
      'mAP@all': e?.['mAP@all'] ?? null,
      'P@200': e?.['P@200'] ?? null,
      trainSeconds: e?.trainSeconds ?? 0,
    };
    this.outcomes.push(outcome);
    this.ctx.view.cellDone(outcome, this.ctx.labels.get(id) ?? '');
    this.ctx.mirror?.request(p.store, true);
  }
}

/**
 * The local executor: a bounded pool of worker processes on this host (worker.ts), each training the
 * cells it is sent one at a time. The ablation process claims each cell (claim.ts) just before it
 * dispatches it and heartbeats the claim while the cell trains, so that two ablations on one
 * experiment split the cells instead of training them twice.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { availableCores, displayPath } from '@sbir/core';
import type { Claim, ClaimProbe } from './claim';
import {
  claimCell,
  type ExecutionContext,
  type ExecutionResult,
  type Executor,
  type PlannedCell,
} from './executor';
import { childEntry } from './entry';
import { describeGpus, resolveGpus, workerGpuEnv, type GpuRequest } from './gpus';
import type { CellOutcome, ParentMessage, StartMode, WorkerMessage } from './protocol';

export const WORKER_ENTRY = childEntry(__dirname, 'worker');

/**
 * Workers x threads <= cores. On small machines one worker per two cores measured best (see README
 * "Worker model"); with GPUs (`gpus` > 0) one worker per GPU; never more workers than cells.
 */
export function workerLayout(
  cells: number,
  cores: number,
  workers?: number,
  threads?: number,
  gpus = 0,
): { workers: number; threads: number } {
  const byDefault = gpus > 0 ? gpus : Math.max(1, Math.floor(cores / 2));
  const w = Math.max(1, Math.min(cells || 1, workers ?? byDefault, cores));
  const t = Math.max(1, threads ?? Math.floor(cores / w));
  return { workers: w, threads: t };
}

/** What a pool runs with: worker count, threads each, and the GPUs dealt out (null: environment as is). */
export interface PoolLayout {
  workers: number;
  threads: number;
  gpus: string[] | null;
}

interface WorkerSlot {
  index: number;
  /** The GPU position it was dealt (a replacement worker takes over its predecessor's). */
  gpuSlot: number;
  child: ChildProcess;
  job: { cell: PlannedCell; claim: Claim } | null;
  ready: boolean;
  log: fs.WriteStream;
  logFile: string;
}

export class LocalExecutor implements Executor {
  readonly name = 'local' as const;

  /** Resolved once, when the executor is made (before any file is written): nvidia-smi runs here. */
  private readonly gpus: string[] | null;

  constructor(
    private readonly opts: {
      workers?: number;
      threads?: number;
      probe?: ClaimProbe;
      /** `--gpus`; undefined: one per worker where a driver is there and the backend may use it. */
      gpus?: GpuRequest;
      backend?: string;
    } = {},
  ) {
    this.gpus = resolveGpus(opts.gpus, opts.backend ?? 'auto');
  }

  layout(todo: number): PoolLayout {
    const l = workerLayout(
      todo,
      availableCores(),
      this.opts.workers,
      this.opts.threads,
      this.gpus?.length ?? 0,
    );
    return { ...l, gpus: this.gpus };
  }

  describe(todo: number): string {
    const l = this.layout(todo);
    return `${l.workers} worker(s) x ${l.threads} thread(s)${describeGpus(l.gpus, l.workers)}`;
  }

  run(ctx: ExecutionContext): Promise<ExecutionResult> {
    return new WorkerPool(ctx, this.layout(ctx.todo.length), this.opts.probe ?? {}).run();
  }
}

/** One run of the pool: dispatch, worker messages, crash recovery, signals. */
class WorkerPool {
  private readonly queue: PlannedCell[];
  private readonly slots: WorkerSlot[] = [];
  private readonly outcomes: CellOutcome[] = [];
  private readonly epochsOf = new Map<string, number>();
  private readonly logDir: string;
  private stopping: NodeJS.Signals | null = null;
  private fatal: string | null = null;
  private crashed = 0;
  private backendWarned = false;
  private resolveAll: () => void = () => {};

  constructor(
    private readonly ctx: ExecutionContext,
    private readonly layout: PoolLayout,
    private readonly probe: ClaimProbe,
  ) {
    this.queue = [...ctx.todo];
    // One folder per ablation process: two ablations on one store never share a log file.
    this.logDir = path.join(ctx.runs.dir, '.logs', `${os.hostname()}-${process.pid}`);
  }

  async run(): Promise<ExecutionResult> {
    fs.mkdirSync(this.logDir, { recursive: true });
    const finished = new Promise<void>((resolve) => (this.resolveAll = resolve));
    for (let i = 0; i < this.layout.workers; i++) this.spawn(i, i);
    if (this.queue.length === 0) this.maybeDone();
    const onSignal = (signal: NodeJS.Signals): void => this.onSignal(signal);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await finished;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (!this.fatal && !this.stopping && this.queue.length > 0) {
      this.fatal = `worker processes exited before running ${this.queue.length} cell(s); see ${displayPath(this.logDir)}`;
    }
    return {
      outcomes: this.outcomes,
      fatal: this.fatal,
      stopping: this.stopping,
      lost: this.crashed,
      lostLine: `${this.crashed} cell(s) lost their worker; rerun the same command to resume them`,
      logs: `worker logs: ${displayPath(this.logDir)}`,
    };
  }

  private maybeDone(): void {
    const idle = (s: WorkerSlot): boolean =>
      s.child.exitCode !== null ||
      s.child.signalCode !== null ||
      (!s.job && Boolean(this.stopping || this.fatal || this.queue.length === 0));
    if (!this.slots.every(idle)) return;
    for (const s of this.slots) if (s.child.connected) s.child.send({ type: 'exit' } satisfies ParentMessage);
    this.resolveAll();
  }

  /** The next queued cell this process could claim (cells others hold, or finished meanwhile, are skipped). */
  private nextClaimed(): { cell: PlannedCell; claim: Claim } | null {
    while (!this.stopping && !this.fatal) {
      const next = this.queue.shift();
      if (!next) return null;
      const got = claimCell(
        next,
        { kind: 'ablation', pid: process.pid, host: os.hostname() },
        this.ctx.retryFailed,
        this.probe,
      );
      if ('cell' in got) return got;
      this.ctx.view.log(
        `${next.config.cellId} ${this.ctx.labels.get(next.config.cellId)}: skipped (${got.skipped})`,
      );
    }
    return null;
  }

  private dispatch(slot: WorkerSlot): void {
    if (!slot.ready || slot.job) return;
    const next = this.nextClaimed();
    if (!next) return this.maybeDone();
    slot.job = next;
    next.claim.startHeartbeat();
    const { cell } = next;
    const mode: StartMode = cell.plan === 'resume' ? 'resume' : cell.plan === 'retry' ? 'retry' : 'run';
    slot.log.write(
      `\n== ${new Date().toISOString()} cell ${cell.config.cellId} ${this.ctx.labels.get(cell.config.cellId)} (${mode})\n`,
    );
    slot.child.send({ type: 'run', cellDir: cell.store.dir, mode } satisfies ParentMessage);
  }

  private spawn(index: number, gpuSlot: number): void {
    const logFile = path.join(this.logDir, `worker-${index}.log`);
    const log = fs.createWriteStream(logFile, { flags: 'a' });
    const child = fork(WORKER_ENTRY.file, [], {
      execArgv: WORKER_ENTRY.execArgv,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: {
        ...process.env,
        SBIR_BACKEND: this.ctx.backend,
        TF_NUM_INTRAOP_THREADS: String(this.layout.threads),
        TF_NUM_INTEROP_THREADS: String(this.layout.threads), // model/backend.ts: the graph step's kernels side by side
        OMP_NUM_THREADS: String(this.layout.threads),
        TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2',
        ...workerGpuEnv(this.layout.gpus, gpuSlot),
        SBIR_GIT_SHA: this.ctx.gitSha ?? '',
        SBIR_GIT_DIRTY: this.ctx.gitDirty === null ? '' : this.ctx.gitDirty ? '1' : '0',
      },
    });
    const slot: WorkerSlot = { index, gpuSlot, child, job: null, ready: false, log, logFile };
    this.slots.push(slot);
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.on('message', (raw: unknown) => this.onMessage(slot, raw as WorkerMessage));
    child.on('exit', (code, signal) => this.onExit(slot, code, signal));
  }

  private onMessage(slot: WorkerSlot, msg: WorkerMessage): void {
    const { view, labels, mirror } = this.ctx;
    switch (msg.type) {
      case 'ready':
        slot.ready = true;
        slot.log.write(
          `worker ${slot.index}: pid ${msg.pid}, backend ${msg.backend}, ${msg.threads} thread(s)${this.layout.gpus ? `, CUDA_VISIBLE_DEVICES=${workerGpuEnv(this.layout.gpus, slot.gpuSlot).CUDA_VISIBLE_DEVICES}` : ''}\n`,
        );
        if (msg.warning && !this.backendWarned) {
          this.backendWarned = true;
          view.log(msg.warning);
        }
        this.dispatch(slot);
        break;
      case 'start':
        this.epochsOf.set(msg.info.cellId, msg.info.epochs);
        view.cellStarted(msg.info, labels.get(msg.info.cellId) ?? '');
        if (slot.job) mirror?.request(slot.job.cell.store);
        break;
      case 'progress':
        view.cellProgress(msg.progress);
        break;
      case 'epoch':
        view.cellEpoch(msg.cellId, msg.line, this.epochsOf.get(msg.cellId) ?? 0);
        if (slot.job) mirror?.request(slot.job.cell.store);
        break;
      case 'phase':
        view.cellPhase(msg.cellId, msg.phase);
        break;
      case 'done':
        this.outcomes.push(msg.outcome);
        view.cellDone(msg.outcome, labels.get(msg.outcome.cellId) ?? '');
        if (slot.job) {
          slot.job.claim.release();
          mirror?.request(slot.job.cell.store, true);
        }
        slot.job = null;
        this.dispatch(slot);
        break;
      case 'fatal':
        this.fatal = msg.error;
        view.log(`worker ${slot.index}: ${msg.error.split('\n')[0]} (log: ${displayPath(slot.logFile)})`);
        slot.log.write(`${msg.error}\n`);
        break;
    }
  }

  private onExit(slot: WorkerSlot, code: number | null, signal: NodeJS.Signals | null): void {
    const job = slot.job;
    if (job) {
      // Died mid-cell without reporting: leave it resumable from its last checkpoint.
      this.crashed++;
      const why = signal ? `signal ${signal}` : `exit code ${code}`;
      const error = `worker process ended (${why}) during the cell; rerun resumes from the last checkpoint (log: ${displayPath(slot.logFile)})`;
      const store = job.cell.store;
      const status = store.readStatus();
      if (status?.state === 'running' || status?.state === 'queued')
        store.updateStatus({ state: 'interrupted', error });
      job.claim.release();
      const outcome: CellOutcome = {
        cellId: job.cell.config.cellId,
        state: 'interrupted',
        error,
        step: status?.step ?? 0,
        'mAP@all': null,
        'P@200': null,
        trainSeconds: 0,
      };
      this.outcomes.push(outcome);
      this.ctx.view.cellDone(outcome, this.ctx.labels.get(job.cell.config.cellId) ?? '');
      this.ctx.mirror?.request(store, true);
      slot.job = null;
      // Replace the worker and go on with the grid (unless we are stopping).
      if (!this.stopping && !this.fatal && this.queue.length > 0) this.spawn(this.slots.length, slot.gpuSlot);
    }
    this.maybeDone();
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.stopping) {
      // Second signal: do not wait for checkpoints.
      for (const s of this.slots) s.child.kill('SIGKILL');
      return;
    }
    this.stopping = signal;
    this.ctx.view.log(
      `${signal}: stopping; running cells checkpoint and are marked interrupted (again to kill at once)`,
    );
    for (const s of this.slots) if (s.child.exitCode === null) s.child.kill(signal);
  }
}

/**
 * The ablation orchestrator (`trainer ablation`): load the experiment, plan every cell from its status,
 * prepare missing datasets, and run the cells in a bounded pool of worker processes while mirroring
 * the run store to MLflow. The sweeper (grid.ts) is separate from this launcher, as in Hydra.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { axesLabel, displayPath, loadExperiment, REPO_ROOT, type Experiment } from './grid';
import { staleCellIds, writeExperimentMeta } from './experiment-meta';
import { gitLineage } from './lineage';
import { ConfigError, messages } from './messages';
import { MlflowMirror } from './mlflow/mirror';
import type { CellOutcome, ParentMessage, StartMode, WorkerMessage } from './protocol';
import { createProgressView } from './progress';
import { CellStore, planCell, readJsonFile, RunStore, type CellPlan, type CellStatus } from './run-store';
import type { CellConfig } from './schema';
import { duration, fmt, formatTable, meanStd } from './table';

export interface AblationOptions {
  experiment: string;
  runsDir: string;
  dataRoot?: string;
  /** `--only`: id prefixes and/or axis=value filters. */
  only?: string[];
  retryFailed?: boolean;
  dryRun?: boolean;
  /** Command-line overrides (overrides.ts): `model.width=32`, `grid.seed=0,1,2`. */
  overrides?: readonly string[];
  backend?: string;
  /** Parallel worker processes (default: see defaultWorkers). */
  workers?: number;
  /** TensorFlow intra-op threads per worker (default: cores / workers). */
  threads?: number;
  /** MLflow server; default $MLFLOW_TRACKING_URI; null/empty = no mirroring. */
  trackingUri?: string | null;
  /** Output (default: stdout); progress bars only when `tty`. */
  write?: (line: string) => void;
  tty?: boolean;
}

/** A cell's plan: from its status (run-store planCell), or `skip-no-data` when its dataset is absent. */
export type Plan = CellPlan | 'skip-no-data';

export interface PlannedCell {
  config: CellConfig;
  store: CellStore;
  status: CellStatus | null;
  plan: Plan;
}

/** A dataset is there (manifest.json) or can be made (`dataset.prepare`). */
function hasData(cfg: CellConfig): boolean {
  return Boolean(cfg.dataset.prepare) || fs.existsSync(path.join(cfg.dataset.dir, 'manifest.json'));
}

const RUNNABLE = new Set<Plan>(['run', 'resume', 'retry']);

export const WORKER_ENTRY = path.join(__dirname, 'worker.ts');

/** Cores this process may use (cgroup-aware on Node 20). */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/**
 * Workers x threads <= cores. On small machines one worker per two cores measured best (see README
 * "Worker model"); never more workers than cells.
 */
export function workerLayout(
  cells: number,
  cores: number,
  workers?: number,
  threads?: number,
): { workers: number; threads: number } {
  const w = Math.max(1, Math.min(cells || 1, workers ?? Math.max(1, Math.floor(cores / 2)), cores));
  const t = Math.max(1, threads ?? Math.floor(cores / w));
  return { workers: w, threads: t };
}

/** `--only` filters: hex strings are cell id prefixes (any may match), `axis=value` must all match. */
export function selectCells(exp: Experiment, only: string[] = []): CellConfig[] {
  if (only.length === 0) return exp.cells;
  const prefixes: string[] = [];
  const axisFilters = new Map<string, Set<string>>();
  for (const raw of only.flatMap((o) => o.split(/\s+/)).filter(Boolean)) {
    const eq = raw.indexOf('=');
    if (eq < 0) {
      if (!/^[0-9a-f]{1,12}$/.test(raw))
        throw new ConfigError(`--only ${raw}: expected a cell id prefix (hex) or axis=value`);
      prefixes.push(raw);
      continue;
    }
    const axis = raw.slice(0, eq);
    if (!(axis in exp.axes)) throw new ConfigError(messages.unknownOnlyAxis(axis, Object.keys(exp.axes)));
    const values = axisFilters.get(axis) ?? new Set<string>();
    for (const v of raw.slice(eq + 1).split(',')) values.add(v);
    axisFilters.set(axis, values);
  }
  const picked = exp.cells.filter(
    (c) =>
      (prefixes.length === 0 || prefixes.some((p) => c.cellId.startsWith(p))) &&
      [...axisFilters].every(([axis, values]) => values.has(String(c.axes[axis]))),
  );
  if (picked.length === 0) throw new ConfigError(messages.noCellsMatch(only));
  return picked;
}

export function planCells(runs: RunStore, cells: CellConfig[], retryFailed: boolean): PlannedCell[] {
  return cells.map((config) => {
    const store = runs.cell(config.cellId);
    const status = store.readStatus();
    const plan = planCell(status, retryFailed);
    return { config, store, status, plan: RUNNABLE.has(plan) && !hasData(config) ? 'skip-no-data' : plan };
  });
}

const PLAN_TEXT: Record<Plan, (s: CellStatus | null, c: CellConfig) => string> = {
  run: () => 'run',
  resume: (s) => `resume (${s?.state}, step ${s?.step ?? 0})`,
  retry: () => 'retry (failed)',
  'skip-finished': () => 'finished',
  'skip-failed': (s) => `failed: ${(s?.error ?? '').slice(0, 60)}`,
  'skip-running': (s) => `running (pid ${s?.pid})`,
  'skip-no-data': (_s, c) => `no data: ${c.dataset.dir}`,
};

export function gridTable(exp: Experiment, planned: PlannedCell[]): string {
  const axes = Object.keys(exp.axes);
  const rows = planned.map((p) => {
    const total = p.status?.totalSteps;
    return [
      p.config.cellId,
      ...axes.map((a) => String(p.config.axes[a])),
      PLAN_TEXT[p.plan](p.status, p.config),
      total ? `${p.status?.step ?? 0}/${total}` : '-',
    ];
  });
  return formatTable(['cell', ...axes, 'state', 'steps'], rows);
}

/** Prepares the datasets the cells need (only emoji-like sources with `dataset.prepare`). */
async function ensureDatasets(cells: CellConfig[], write: (line: string) => void): Promise<void> {
  const byDir = new Map<string, CellConfig>();
  for (const c of cells) if (!byDir.has(c.dataset.dir)) byDir.set(c.dataset.dir, c);
  for (const [dir, cell] of byDir) {
    if (fs.existsSync(path.join(dir, 'manifest.json'))) continue;
    if (!cell.dataset.prepare) throw new ConfigError(messages.datasetMissing(dir, cell.dataset.name));
    write(`dataset ${cell.dataset.name}: ${dir} is missing; preparing it (once)...`);
    const started = Date.now();
    const { prepareDataset } = await import('@sbir/data');
    let lastLine = 0;
    const manifest = await prepareDataset({
      ...(cell.dataset.prepare as Record<string, unknown>),
      dataset: String(cell.dataset.prepare.dataset ?? cell.dataset.name),
      split: cell.dataset.split,
      out: dir,
      onProgress: (p) => {
        if (Date.now() - lastLine > 5000 || p.phase === 'done') {
          lastLine = Date.now();
          write(`  ${p.phase} ${p.done}/${p.total}${p.skipped ? ` (${p.skipped} skipped)` : ''}`);
        }
      },
    } as Parameters<typeof prepareDataset>[0]);
    write(
      `dataset ${cell.dataset.name}: ${manifest.size}px, ${manifest.classes.length} classes, ready in ${duration((Date.now() - started) / 1000)}`,
    );
  }
}

/**
 * Mirrors cells to MLflow in the background: one sync at a time per cell (later requests coalesce),
 * never blocking training; the first failure prints one warning.
 */
class LiveMirror {
  private readonly active = new Map<
    string,
    { running: Promise<void>; queued: boolean; queuedFinal: boolean }
  >();
  private warned = false;
  readonly failed = new Set<string>();

  constructor(
    private readonly mirror: MlflowMirror,
    private readonly experiment: string,
    private readonly log: (line: string) => void,
  ) {}

  /** `final`: the worker is done with the cell, so the sync may also record the run id in status.json. */
  request(cell: CellStore, final = false): void {
    const entry = this.active.get(cell.cellId);
    if (entry) {
      entry.queued = true;
      entry.queuedFinal ||= final;
      return;
    }
    this.start(cell, final);
  }

  private start(cell: CellStore, final: boolean): void {
    const entry = { running: Promise.resolve(), queued: false, queuedFinal: false };
    this.active.set(cell.cellId, entry);
    entry.running = this.once(cell, final).then(() => {
      this.active.delete(cell.cellId);
      if (entry.queued) this.start(cell, entry.queuedFinal);
    });
  }

  private async once(cell: CellStore, mayWriteStatus: boolean): Promise<void> {
    try {
      await this.mirror.syncCell(cell, { mayWriteStatus });
      this.failed.delete(cell.cellId);
    } catch (e) {
      this.failed.add(cell.cellId);
      if (!this.warned) {
        this.warned = true;
        this.log(messages.mlflowDown(this.mirror.trackingUri, (e as Error).message, this.experiment));
      }
    }
  }

  async drain(): Promise<void> {
    while (this.active.size > 0) await Promise.all([...this.active.values()].map((e) => e.running));
  }
}

interface WorkerSlot {
  index: number;
  child: ChildProcess;
  job: PlannedCell | null;
  ready: boolean;
  log: fs.WriteStream;
}

export interface AblationResult {
  exitCode: number;
  experiment: Experiment;
  outcomes: CellOutcome[];
}

/** Runs the grid. Resolves with the process exit code (0 = every cell finished or failed cleanly). */
export async function runAblation(opts: AblationOptions): Promise<AblationResult> {
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const exp = loadExperiment(opts.experiment, { dataRoot: opts.dataRoot, overrides: opts.overrides });
  const runs = new RunStore(opts.runsDir, exp.name);
  const selected = selectCells(exp, opts.only);
  const planned = planCells(runs, selected, opts.retryFailed ?? false);
  const todo = planned.filter((p) => RUNNABLE.has(p.plan));
  const noData = planned.filter((p) => p.plan === 'skip-no-data');
  const cores = availableCores();
  const layout = workerLayout(todo.length, cores, opts.workers, opts.threads);

  if (opts.dryRun) {
    write(
      `experiment ${exp.name} (${exp.file}): ${exp.cells.length} cells, ${selected.length} selected, ${todo.length} to run`,
    );
    if (exp.overrides.length) write(`overrides: ${exp.overrides.join(' ')}`);
    write(gridTable(exp, planned));
    write(
      `workers ${layout.workers} x ${layout.threads} TensorFlow threads (${cores} cores); runs dir ${runs.dir}`,
    );
    return { exitCode: 0, experiment: exp, outcomes: [] };
  }

  if (noData.length > 0) {
    const dirs = [...new Set(noData.map((p) => p.config.dataset.dir))];
    if (todo.length === 0)
      throw new ConfigError(messages.datasetMissing(dirs[0]!, noData[0]!.config.dataset.name));
    write(
      `skipping ${noData.length} cell(s) whose dataset is not prepared: ${dirs.join(', ')} (see --data-root)`,
    );
  }
  const stale = staleCellIds(runs, exp);
  if (stale.length > 0)
    write(
      `${stale.length} cell folder(s) of an earlier grid are not in the current cell set; the report leaves them out (--include-stale shows them)`,
    );
  // Config first (Hydra writes the resolved config into the run dir before the task runs).
  // Every cell of the grid gets its config.json and a queued status (readers see the whole grid);
  // cells about to run get their config refreshed (dataset.dir may differ); others are never touched.
  const byId = new Map(planned.map((p) => [p.config.cellId, p]));
  for (const config of exp.cells) {
    const p = byId.get(config.cellId);
    const store = p?.store ?? runs.cell(config.cellId);
    const current = store.readConfig();
    if (!current || (p && RUNNABLE.has(p.plan) && JSON.stringify(current) !== JSON.stringify(config)))
      store.writeConfig(config);
    if (!store.readStatus()) {
      const status = store.updateStatus({ state: 'queued' });
      if (p) p.status = status;
    }
  }
  // experiment.json (the current cell set) once every cell of it has its config.json
  writeExperimentMeta(runs, exp);
  write(
    `experiment ${exp.name}: ${selected.length} cells (${todo.length} to run, ${planned.length - todo.length} skipped); ` +
      `${layout.workers} worker(s) x ${layout.threads} thread(s); results in ${displayPath(runs.dir)}`,
  );
  if (todo.length > 0)
    await ensureDatasets(
      todo.map((p) => p.config),
      write,
    );

  const trackingUri = opts.trackingUri === undefined ? process.env.MLFLOW_TRACKING_URI : opts.trackingUri;
  const git = gitLineage(REPO_ROOT);
  const sha = git.commit;
  const mirror = trackingUri
    ? new LiveMirror(
        new MlflowMirror(trackingUri, exp.name, { gitSha: sha, experimentFile: exp.file }),
        exp.name,
        write,
      )
    : null;
  if (mirror) write(`mlflow: mirroring to ${trackingUri} (experiment "${exp.name}")`);

  const view = createProgressView(todo.length, opts.tty ?? false, write);
  const outcomes: CellOutcome[] = [];
  const labels = new Map(planned.map((p) => [p.config.cellId, axesLabel(p.config.axes)]));
  const epochsOf = new Map<string, number>();
  const queue = [...todo];
  const slots: WorkerSlot[] = [];
  let stopping: NodeJS.Signals | null = null;
  let fatal: string | null = null;
  let crashed = 0;
  let backendWarned = false;

  const logDir = path.join(runs.dir, '.logs');
  fs.mkdirSync(logDir, { recursive: true });

  const finished = new Promise<void>((resolveAll) => {
    const maybeDone = (): void => {
      if (
        slots.every(
          (s) =>
            s.child.exitCode !== null ||
            s.child.signalCode !== null ||
            (!s.job && (stopping || fatal || queue.length === 0)),
        )
      ) {
        for (const s of slots) if (s.child.connected) s.child.send({ type: 'exit' } satisfies ParentMessage);
        resolveAll();
      }
    };

    const dispatch = (slot: WorkerSlot): void => {
      if (!slot.ready || slot.job) return;
      const next = stopping || fatal ? undefined : queue.shift();
      if (!next) return maybeDone();
      slot.job = next;
      const mode: StartMode = next.plan === 'resume' ? 'resume' : next.plan === 'retry' ? 'retry' : 'run';
      slot.log.write(
        `\n== ${new Date().toISOString()} cell ${next.config.cellId} ${labels.get(next.config.cellId)} (${mode})\n`,
      );
      slot.child.send({ type: 'run', cellDir: next.store.dir, mode } satisfies ParentMessage);
    };

    const spawn = (index: number): void => {
      const log = fs.createWriteStream(path.join(logDir, `worker-${index}.log`), { flags: 'a' });
      const child = fork(WORKER_ENTRY, [], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        env: {
          ...process.env,
          SBIR_BACKEND: opts.backend ?? process.env.SBIR_BACKEND ?? 'auto',
          TF_NUM_INTRAOP_THREADS: String(layout.threads),
          TF_NUM_INTEROP_THREADS: '1',
          OMP_NUM_THREADS: String(layout.threads),
          TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2',
          SBIR_GIT_SHA: sha ?? '',
          SBIR_GIT_DIRTY: git.dirty === null ? '' : git.dirty ? '1' : '0',
        },
      });
      const slot: WorkerSlot = { index, child, job: null, ready: false, log };
      slots.push(slot);
      child.stdout?.pipe(log, { end: false });
      child.stderr?.pipe(log, { end: false });
      child.on('message', (raw: unknown) => {
        const msg = raw as WorkerMessage;
        switch (msg.type) {
          case 'ready':
            slot.ready = true;
            slot.log.write(
              `worker ${index}: pid ${msg.pid}, backend ${msg.backend}, ${msg.threads} thread(s)\n`,
            );
            if (msg.warning && !backendWarned) {
              backendWarned = true;
              view.log(msg.warning);
            }
            dispatch(slot);
            break;
          case 'start':
            epochsOf.set(msg.info.cellId, msg.info.epochs);
            view.cellStarted(msg.info, labels.get(msg.info.cellId) ?? '');
            if (slot.job) mirror?.request(slot.job.store);
            break;
          case 'progress':
            view.cellProgress(msg.progress);
            break;
          case 'epoch':
            view.cellEpoch(msg.cellId, msg.line, epochsOf.get(msg.cellId) ?? 0);
            if (slot.job) mirror?.request(slot.job.store);
            break;
          case 'phase':
            view.cellPhase(msg.cellId, msg.phase);
            break;
          case 'done': {
            outcomes.push(msg.outcome);
            view.cellDone(msg.outcome, labels.get(msg.outcome.cellId) ?? '');
            if (slot.job) mirror?.request(slot.job.store, true);
            slot.job = null;
            dispatch(slot);
            break;
          }
          case 'fatal':
            fatal = msg.error;
            view.log(
              `worker ${index}: ${msg.error.split('\n')[0]} (log: ${displayPath(path.join(logDir, `worker-${index}.log`))})`,
            );
            slot.log.write(`${msg.error}\n`);
            break;
        }
      });
      child.on('exit', (code, signal) => {
        const job = slot.job;
        if (job) {
          // Died mid-cell without reporting: leave it resumable from its last checkpoint.
          crashed++;
          const why = signal ? `signal ${signal}` : `exit code ${code}`;
          const error = `worker process ended (${why}) during the cell; rerun resumes from the last checkpoint (log: ${displayPath(path.join(logDir, `worker-${index}.log`))})`;
          const status = job.store.readStatus();
          if (status?.state === 'running' || status?.state === 'queued')
            job.store.updateStatus({ state: 'interrupted', error });
          const outcome: CellOutcome = {
            cellId: job.config.cellId,
            state: 'interrupted',
            error,
            step: status?.step ?? 0,
            'mAP@all': null,
            'P@200': null,
            trainSeconds: 0,
          };
          outcomes.push(outcome);
          view.cellDone(outcome, labels.get(job.config.cellId) ?? '');
          mirror?.request(job.store, true);
          slot.job = null;
          // Replace the worker and go on with the grid (unless we are stopping).
          if (!stopping && !fatal && queue.length > 0) spawn(slots.length);
        }
        maybeDone();
      });
    };

    for (let i = 0; i < layout.workers; i++) spawn(i);
    if (queue.length === 0) maybeDone();
  });

  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // Second signal: do not wait for checkpoints.
      for (const s of slots) s.child.kill('SIGKILL');
      return;
    }
    stopping = signal;
    view.log(
      `${signal}: stopping; running cells checkpoint and are marked interrupted (again to kill at once)`,
    );
    for (const s of slots) if (s.child.exitCode === null) s.child.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await finished;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    view.stop();
  }
  if (mirror) {
    await mirror.drain();
    if (mirror.failed.size > 0) {
      write(
        `mlflow: ${mirror.failed.size} cell(s) not mirrored; push them with: npx nx run trainer:sync -- --experiment ${exp.name}`,
      );
    }
  }
  writeExperimentMeta(runs, exp);
  write('');
  write(summaryTable(exp, planCells(runs, selected, false)));
  write(
    `\nresults: ${displayPath(runs.dir)}/<cell-id>/ (eval.json, metrics.jsonl, retrieval/); worker logs: ${displayPath(logDir)}`,
  );
  if (!fatal && !stopping && queue.length > 0) {
    fatal = `worker processes exited before running ${queue.length} cell(s); see ${displayPath(logDir)}`;
  }
  let exitCode = 0;
  if (fatal) {
    write(`error: ${String(fatal).split('\n')[0]}`);
    exitCode = 1;
  } else if (stopping) {
    write(`interrupted by ${stopping}; rerun the same command to resume`);
    exitCode = stopping === 'SIGINT' ? 130 : 143;
  } else if (crashed > 0) {
    write(`${crashed} cell(s) lost their worker; rerun the same command to resume them`);
    exitCode = 1;
  }
  const failed = outcomes.filter((o) => o.state === 'failed');
  if (failed.length > 0)
    write(`${failed.length} cell(s) failed (see status.json "error"); retry them with --retry-failed`);
  return { exitCode, experiment: exp, outcomes };
}

/** mAP@all / P@200 per cell, then mean ± std over seeds for each other axis combination. */
export function summaryTable(exp: Experiment, planned: PlannedCell[]): string {
  const axes = Object.keys(exp.axes);
  const evals = planned.map((p) => {
    const e =
      p.status?.state === 'finished' ? readJsonFile<Record<string, number>>(p.store.file('eval.json')) : null;
    return { p, e };
  });
  const rows = evals.map(({ p, e }) => [
    p.config.cellId,
    ...axes.map((a) => String(p.config.axes[a])),
    p.status?.state ?? 'queued',
    fmt(e?.['mAP@all']),
    fmt(e?.['P@200']),
    e ? duration(e.trainSeconds ?? NaN) : '-',
  ]);
  let out = formatTable(['cell', ...axes, 'state', 'mAP@all', 'P@200', 'train'], rows, [
    'left',
    ...axes.map(() => 'left' as const),
    'left',
    'right',
    'right',
    'right',
  ]);
  if (axes.includes('seed')) {
    const groupAxes = axes.filter((a) => a !== 'seed');
    const groups = new Map<string, { map: number[]; p200: number[]; n: number }>();
    for (const { p, e } of evals) {
      const key = groupAxes.map((a) => String(p.config.axes[a])).join('\u0000');
      const g = groups.get(key) ?? { map: [], p200: [], n: 0 };
      g.n++;
      if (e && Number.isFinite(e['mAP@all'])) {
        g.map.push(e['mAP@all']!);
        g.p200.push(e['P@200']!);
      }
      groups.set(key, g);
    }
    const grows = [...groups].map(([key, g]) => {
      const m = g.map.length ? meanStd(g.map) : null;
      const q = g.p200.length ? meanStd(g.p200) : null;
      return [
        ...key.split('\u0000'),
        `${g.map.length}/${g.n}`,
        m ? `${fmt(m.mean)} ± ${fmt(m.std)}` : '-',
        q ? `${fmt(q.mean)} ± ${fmt(q.std)}` : '-',
      ];
    });
    out += `\n\nmean ± std over seeds\n${formatTable([...groupAxes, 'seeds', 'mAP@all', 'P@200'], grows)}`;
  }
  return out;
}

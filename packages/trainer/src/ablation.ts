/**
 * The ablation orchestrator (`trainer ablation`): load the experiment, plan every cell from its status,
 * prepare missing datasets, and run the cells in a bounded pool of worker processes while mirroring
 * the run store to MLflow. The sweeper (grid.ts) is separate from this launcher, as in Hydra.
 *
 * One file on purpose: the run of a grid in order (select, plan, prepare data, execute, summarise);
 * the executors, the --only filters (only.ts) and the summary numbers (table.ts) live apart.
 */
import * as fs from 'node:fs';
import { missingPretrainedMessage } from '@sbir/model';
import * as path from 'node:path';
import { displayPath, formatDuration, formatTable, sbirEnv } from '@sbir/core';
import { axesLabel, loadExperiment, REPO_ROOT, type Experiment } from './grid';
import { RUNNABLE, type ExecutionResult, type Executor, type Plan, type PlannedCell } from './executor';
import { LocalExecutor } from './local-executor';
import type { GpuRequest } from './gpus';
import { matchesOnly, parseOnly } from './only';
import { staleCellIds, writeExperimentMeta } from './experiment-meta';
import { gitLineage } from './lineage';
import { ConfigError, messages } from './messages';
import { MlflowMirror } from './mlflow/mirror';
import type { CellOutcome } from './protocol';
import { createProgressView } from './progress';
import { CellStore, planCell, readJsonFile, RunStore, type CellStatus } from './run-store';
import { ExecutorSchema, type CellConfig, type ExecutorName } from './schema';
import { findOnPath } from './slurm/commands';
import { SlurmExecutor, slurmProbe } from './slurm/executor';
import { fmt, meanStd } from './table';

export type { Plan, PlannedCell } from './executor';
export { workerLayout, WORKER_ENTRY } from './local-executor';

export interface AblationOptions {
  experiment: string;
  runsDir: string;
  dataRoot?: string;
  /** Replaces `{weightsRoot}` in model.pretrained (default: $SBIR_WEIGHTS_ROOT, else "weights"). */
  weightsRoot?: string;
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
  /** `--gpus all|0,1|none` (gpus.ts): local workers, one GPU each; refused with the Slurm executor. */
  gpus?: GpuRequest;
  /** MLflow server; default $MLFLOW_TRACKING_URI; null/empty = no mirroring. */
  trackingUri?: string | null;
  /** `--executor`: wins over the yaml's `executor.name` (default local). */
  executor?: ExecutorName;
  /** Slurm: print the job id and return instead of following the array. */
  detach?: boolean;
  /** Slurm: let Slurm requeue preempted / node-lost tasks (also `executor.requeue`). */
  requeue?: boolean;
  /** Output (default: stdout); progress bars only when `tty`. */
  write?: (line: string) => void;
  tty?: boolean;
}

/** A dataset is there (manifest.json) or can be made (`dataset.prepare`). */
function hasData(cfg: CellConfig): boolean {
  return Boolean(cfg.dataset.prepare) || fs.existsSync(path.join(cfg.dataset.dir, 'manifest.json'));
}

/** The cells `--only` picks (see only.ts); all of them without filters. */
export function selectCells(exp: Experiment, only: string[] = []): CellConfig[] {
  if (only.length === 0) return exp.cells;
  const filters = parseOnly(only, Object.keys(exp.axes));
  const picked = exp.cells.filter((c) => matchesOnly(c, filters));
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

/** Prepares the datasets the cells need (only emoji-like sources with `dataset.prepare`) and attaches
 *  the class word vectors cells ask for (`dataset.wordVectors`). */
async function ensureDatasets(cells: CellConfig[], write: (line: string) => void): Promise<void> {
  const byDir = new Map<string, CellConfig>();
  for (const c of cells) if (!byDir.has(c.dataset.dir)) byDir.set(c.dataset.dir, c);
  for (const [dir, cell] of byDir) {
    if (!fs.existsSync(path.join(dir, 'manifest.json'))) await prepareMissing(dir, cell, write);
    await ensureVectors(dir, cells, write);
  }
}

async function prepareMissing(dir: string, cell: CellConfig, write: (line: string) => void): Promise<void> {
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
    `dataset ${cell.dataset.name}: ${manifest.size}px, ${manifest.classes.length} classes, ready in ${formatDuration((Date.now() - started) / 1000)}`,
  );
}

/**
 * Attaches the word vectors the cells of one dataset folder name, when the folder has none or others.
 * Two cells naming different vectors for one folder is a config error (one folder holds one set).
 */
async function ensureVectors(dir: string, cells: CellConfig[], write: (line: string) => void): Promise<void> {
  const wanted = [...new Set(cells.filter((c) => c.dataset.dir === dir).map((c) => c.dataset.wordVectors))];
  const named = wanted.filter((w): w is string => w !== undefined);
  if (named.length === 0) return;
  if (named.length > 1)
    throw new ConfigError(
      `dataset.wordVectors: cells of ${dir} name different vectors (${named.join(', ')})`,
    );
  const { attachClassVectors, coverageLine, loadManifest } = await import('@sbir/data');
  const have = loadManifest(dir).classVectors?.source;
  if (have === named[0]) return;
  const allowMissing = cells.some((c) => c.dataset.dir === dir && c.dataset.allowMissingVectors === true);
  const coverage = await attachClassVectors(dir, { wordVectors: named[0]!, allowMissing, onProgress: write });
  write(`dataset ${dir}: ${coverageLine(coverage, dir)}`);
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

export interface AblationResult {
  exitCode: number;
  experiment: Experiment;
  outcomes: CellOutcome[];
  /** Selected cells whose state is `failed` at the end (exit 1, after the others ran; a report still builds). */
  failedCells?: number;
}

/** The executor of this run: `--executor`, else the yaml's `executor.name`, else local. */
export function chooseExecutor(opts: AblationOptions, exp: Experiment): Executor {
  const name = opts.executor ?? exp.executor?.name ?? 'local';
  if (name === 'slurm') {
    if (opts.gpus !== undefined)
      throw new ConfigError(
        '--gpus applies to the local executor; with --executor slurm a task trains on the GPUs Slurm grants it (executor.gres, e.g. executor.gres=gpu:1)',
      );
    const settings = exp.executor ?? ExecutorSchema.parse({ name: 'slurm' });
    return new SlurmExecutor({
      settings: { ...settings, requeue: Boolean(opts.requeue) || settings.requeue },
      file: exp.file,
      detach: opts.detach,
      requeue: opts.requeue || settings.requeue,
    });
  }
  // Cells of a Slurm submission are claimed by Slurm tasks; ask squeue about them when it is here.
  const probe = findOnPath('squeue') ? slurmProbe() : {};
  return new LocalExecutor({
    workers: opts.workers,
    threads: opts.threads,
    probe,
    gpus: opts.gpus,
    backend: opts.backend,
  });
}

/**
 * Runs the grid. Resolves with the process exit code: 0 when every selected cell finished, 1 when one
 * failed (`failedCells` > 0, the others ran) or was lost, 130/143 when interrupted.
 */
export async function runAblation(opts: AblationOptions): Promise<AblationResult> {
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const exp = loadExperiment(opts.experiment, {
    dataRoot: opts.dataRoot,
    weightsRoot: opts.weightsRoot,
    overrides: opts.overrides,
  });
  const runs = new RunStore(opts.runsDir, exp.name);
  const selected = selectCells(exp, opts.only);
  const planned = planCells(runs, selected, opts.retryFailed ?? false);
  for (const p of planned)
    if (p.status?.unreadable) write(messages.unreadableStatus(p.config.cellId, p.status.unreadable));
  const todo = planned.filter((p) => RUNNABLE.has(p.plan));
  const noData = planned.filter((p) => p.plan === 'skip-no-data');
  const executor = chooseExecutor(opts, exp);

  if (opts.dryRun) {
    write(
      `experiment ${exp.name} (${exp.file}): ${exp.cells.length} cells, ${selected.length} selected, ${todo.length} to run`,
    );
    if (exp.overrides.length) write(`overrides: ${exp.overrides.join(' ')}`);
    write(gridTable(exp, planned));
    const shown = executor.describe(todo.length, todo.length ? todo : planned);
    write(`${executor.name} executor: ${shown}; runs dir ${runs.dir}`);
    return { exitCode: 0, experiment: exp, outcomes: [] };
  }
  // Before anything is written: an executor that cannot run says so in one line, and so does a
  // missing import folder of `model.pretrained` (with the import command).
  if (executor instanceof SlurmExecutor) executor.preflight();
  for (const p of todo) {
    const dir = p.config.model.pretrained;
    if (dir === undefined) continue;
    if (!fs.existsSync(dir)) throw new ConfigError(missingPretrainedMessage(dir, p.config.model.backbone));
    // the model's own check (readPretrainedDir), made before the first file is written
    const st = fs.lstatSync(dir);
    if (st.isSymbolicLink() || !st.isDirectory())
      throw new ConfigError(
        `model.pretrained: ${dir} is not a folder (symlinks are not followed); it is the --out folder of: npx nx run model:import -- --from <checkpoint file> --arch ${p.config.model.backbone} --out ${dir}`,
      );
  }

  if (noData.length > 0) {
    const dirs = [...new Set(noData.map((p) => p.config.dataset.dir))];
    if (todo.length === 0)
      throw new ConfigError(messages.datasetMissing(dirs[0]!, noData[0]!.config.dataset.name));
    write(
      `skipping ${noData.length} cell(s) whose dataset is not prepared: ${dirs.join(', ')} (see --data-root)`,
    );
  }
  writeGridFiles(runs, exp, planned);
  const stale = staleCellIds(runs, exp);
  if (stale.length > 0)
    write(
      `${stale.length} cell folder(s) of an earlier grid are not in the current cell set; the report leaves them out (--include-stale shows them)`,
    );
  write(
    `experiment ${exp.name}: ${selected.length} cells (${todo.length} to run, ${planned.length - todo.length} skipped); ` +
      `${executor.describe(todo.length, todo)}; results in ${displayPath(runs.dir)}`,
  );
  if (todo.length > 0)
    await ensureDatasets(
      todo.map((p) => p.config),
      write,
    );

  const trackingUri = opts.trackingUri === undefined ? sbirEnv().trackingUri : opts.trackingUri;
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
  let result: ExecutionResult;
  try {
    result = await executor.run({
      exp,
      runs,
      todo,
      retryFailed: opts.retryFailed ?? false,
      labels: new Map(planned.map((p) => [p.config.cellId, axesLabel(p.config.axes)])),
      view,
      mirror,
      trackingUri: trackingUri || null,
      backend: opts.backend ?? sbirEnv().backend,
      gitSha: sha,
      gitDirty: git.dirty,
      write,
    });
  } finally {
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
  if (result.detached && !result.stopping) return { exitCode: 0, experiment: exp, outcomes: [] };
  writeExperimentMeta(runs, exp);
  write('');
  write(summaryTable(exp, planCells(runs, selected, false)));
  write(
    `\nresults: ${displayPath(runs.dir)}/<cell-id>/ (eval.json, metrics.jsonl, retrieval/); ${result.logs}`,
  );
  const failed = planCells(runs, selected, false).filter((p) => p.status?.state === 'failed');
  const exitCode = exitCodeOf(result, write) || failedCellsExit(failed, write);
  return { exitCode, experiment: exp, outcomes: result.outcomes, failedCells: failed.length };
}

/**
 * Config first (Hydra writes the resolved config into the run dir before the task runs): every cell
 * of the grid gets its config.json and a queued status (readers see the whole grid); cells about to
 * run get their config refreshed (dataset.dir may differ); others are never touched.
 */
function writeGridFiles(runs: RunStore, exp: Experiment, planned: PlannedCell[]): void {
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
}

/** 1: executor failure or lost cells; 130/143: interrupted; 0: no cell lost (failed cells: failedCellsExit). */
function exitCodeOf(result: ExecutionResult, write: (line: string) => void): number {
  if (result.fatal) {
    write(`error: ${String(result.fatal).split('\n')[0]}`);
    return 1;
  }
  if (result.stopping) {
    write(`interrupted by ${result.stopping}; rerun the same command to resume`);
    return result.stopping === 'SIGINT' ? 130 : 143;
  }
  if (result.lost > 0) {
    write(result.lostLine ?? `${result.lost} cell(s) were lost; rerun the same command to resume them`);
    return 1;
  }
  return 0;
}

/**
 * Exit 1 when a selected cell ended `failed` (this run or an earlier one), after every other cell
 * ran: a script or a scheduler sees the failure; the summary names each failed cell and its error.
 */
function failedCellsExit(failed: PlannedCell[], write: (line: string) => void): number {
  if (failed.length === 0) return 0;
  write(`${failed.length} cell(s) failed (see status.json "error"); retry them with --retry-failed:`);
  for (const p of failed)
    write(
      `  ${p.config.cellId} ${axesLabel(p.config.axes)}: ${(p.status?.error ?? '').split('\n')[0]!.slice(0, 160)}`,
    );
  return 1;
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
    e ? formatDuration(e.trainSeconds ?? NaN) : '-',
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

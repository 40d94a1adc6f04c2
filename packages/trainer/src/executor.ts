/**
 * Where the cells of an ablation run: the `Executor` interface (submitit's executors, Hydra's
 * launchers). runAblation selects and plans the cells, then hands the runnable ones to one executor:
 * `local` (worker processes on this host, local-executor.ts) or `slurm` (one job array, slurm/).
 * Both run the same cell code (cell.ts runCell) on the same run store; both take the cell claim
 * (claim.ts) before anything of a cell is reset.
 */
import type { Experiment } from './grid';
import { acquireClaim, describeOwner, type Claim, type ClaimOwner, type ClaimProbe } from './claim';
import type { CellOutcome } from './protocol';
import type { ProgressView } from './progress';
import { planCell, type CellPlan, type CellStatus, type CellStore, type RunStore } from './run-store';
import type { CellConfig, ExecutorName } from './schema';

/** A cell's plan: from its status (run-store planCell), or `skip-no-data` when its dataset is absent. */
export type Plan = CellPlan | 'skip-no-data';

export interface PlannedCell {
  config: CellConfig;
  store: CellStore;
  status: CellStatus | null;
  plan: Plan;
}

export const RUNNABLE = new Set<Plan>(['run', 'resume', 'retry']);

/** What the executors need of the MLflow mirror. */
export interface MirrorSink {
  request(cell: CellStore, final?: boolean): void;
}

export interface ExecutionContext {
  exp: Experiment;
  runs: RunStore;
  /** Runnable cells, in grid order (not yet claimed). */
  todo: PlannedCell[];
  retryFailed: boolean;
  labels: Map<string, string>;
  view: ProgressView;
  mirror: MirrorSink | null;
  /** The MLflow server `mirror` writes to (null: none); Slurm tasks mirror their own cell to it. */
  trackingUri?: string | null;
  /** `--backend` as given (auto, tensorflow, tensorflow-gpu, cpu). */
  backend: string;
  gitSha: string | null;
  /** Uncommitted changes in the work tree (null: not a git checkout); lineage.json `git.dirty`. */
  gitDirty: boolean | null;
  write: (line: string) => void;
}

export interface ExecutionResult {
  outcomes: CellOutcome[];
  /** A failure of the executor itself (exit 1). */
  fatal: string | null;
  /** The signal that stopped the ablation (exit 130/143). */
  stopping: NodeJS.Signals | null;
  /** Cells left resumable because their worker or task was lost (exit 1), and the line saying so. */
  lost: number;
  lostLine?: string;
  /** `--detach`: submitted, not followed (exit 0). */
  detached?: boolean;
  /** Where the logs are, for the closing line. */
  logs: string;
}

export interface Executor {
  readonly name: ExecutorName;
  /** One line for the header and --dry-run: how cells would run. */
  /** One line on where the cells run; `cells`: those it would run (a Slurm request may vary per cell). */
  describe(todo: number, cells?: PlannedCell[]): string;
  run(ctx: ExecutionContext): Promise<ExecutionResult>;
}

export type ClaimedCell = { cell: PlannedCell; claim: Claim } | { skipped: string };

/**
 * Claims a cell, then plans it again from its status as it is now: another ablation may have finished
 * it since this one read it. The cell is runnable only under its claim.
 */
export function claimCell(
  p: PlannedCell,
  owner: ClaimOwner,
  retryFailed: boolean,
  probe: ClaimProbe = {},
  token?: string,
): ClaimedCell {
  const got = acquireClaim(p.store.dir, owner, probe, token);
  if ('heldBy' in got) return { skipped: `claimed by ${describeOwner(got.heldBy)}` };
  const status = p.store.readStatus();
  const plan = planCell(status, retryFailed);
  if (!RUNNABLE.has(plan)) {
    got.claim.release();
    return { skipped: `now ${status?.state ?? 'queued'}` };
  }
  return { cell: { ...p, status, plan }, claim: got.claim };
}

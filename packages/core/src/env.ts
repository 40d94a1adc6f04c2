/**
 * Every environment variable the project reads as a setting, with its default, resolved in one place
 * (README "Environment"). CLIs use these as option defaults, so `--runs-dir` of the trainer and of
 * the report both follow SBIR_RUNS_DIR.
 *
 * An empty or unparsable value counts as unset, except MLFLOW_TRACKING_URI, where an empty value
 * means "no MLflow server" (as `--tracking-uri ''`). Not read here: Slurm's own task variables
 * (SLURM_*, trainer/slurm/task.ts), the variables the trainer hands its workers (SBIR_GIT_SHA,
 * SBIR_GIT_DIRTY, trainer/lineage.ts) and TensorFlow's own (TF_*, OMP_NUM_THREADS), which
 * model/backend.ts writes for the native library and reads back to report them.
 */

/** The resolved settings; `sbirEnv()` fills each from its variable (ENV_VARIABLES) or its default (ENV_DEFAULTS). */
export interface SbirEnv {
  /** run store root: trainer and report `--runs-dir` */
  runsDir: string;
  /** replaces {dataRoot} in an experiment's dataset.dir: trainer `--data-root` */
  dataRoot: string;
  /** replaces {weightsRoot} in model.pretrained: trainer `--weights-root` */
  weightsRoot: string;
  /** MLflow server: trainer `--tracking-uri`, report `--mlflow-ui`; undefined = unset, '' = none */
  trackingUri: string | undefined;
  /** TensorFlow backend name (checked by the trainer against its choices) */
  backend: string;
  /** TensorFlow intra-op threads of this process (a worker's, set by the trainer); undefined = TF's default */
  threads: number | undefined;
  /** print stacks after the one-line errors */
  debug: boolean;
  /** a cell claim without a heartbeat for this long may be taken over (trainer/claim.ts) */
  claimStaleMs: number;
  /** how often the Slurm executor polls squeue/sacct */
  slurmPollMs: number;
  /** libuv's thread pool, which bounds data:prepare's parallel decodes */
  uvThreadpoolSize: number;
  /** running under CI: no live progress view */
  ci: boolean;
  /** a Chromium for the dashboard screenshots; undefined = look in the usual places */
  chromiumPath: string | undefined;
}

export const ENV_VARIABLES: Readonly<Record<keyof SbirEnv, string>> = {
  runsDir: 'SBIR_RUNS_DIR',
  dataRoot: 'SBIR_DATA_ROOT',
  weightsRoot: 'SBIR_WEIGHTS_ROOT',
  trackingUri: 'MLFLOW_TRACKING_URI',
  backend: 'SBIR_BACKEND',
  threads: 'TF_NUM_INTRAOP_THREADS',
  debug: 'SBIR_DEBUG',
  claimStaleMs: 'SBIR_CLAIM_STALE_S',
  slurmPollMs: 'SBIR_SLURM_POLL_MS',
  uvThreadpoolSize: 'UV_THREADPOOL_SIZE',
  ci: 'CI',
  chromiumPath: 'CHROMIUM_PATH',
};

export const ENV_DEFAULTS: Readonly<SbirEnv> = {
  runsDir: 'runs',
  dataRoot: 'data',
  weightsRoot: 'weights',
  trackingUri: undefined,
  backend: 'auto',
  threads: undefined,
  debug: false,
  claimStaleMs: 600_000,
  slurmPollMs: 2000,
  // libuv's own default
  uvThreadpoolSize: 4,
  ci: false,
  chromiumPath: undefined,
};

/** A positive number, or undefined for an empty, non-numeric or non-positive value. */
function positive(raw: string | undefined): number | undefined {
  const n = raw === undefined || raw.trim() === '' ? NaN : Number(raw);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/** The settings from `env` (default: this process's environment), read at the call, not at load. */
export function sbirEnv(env: NodeJS.ProcessEnv = process.env): SbirEnv {
  const d = ENV_DEFAULTS;
  const text = (key: keyof SbirEnv): string | undefined => env[ENV_VARIABLES[key]] || undefined;
  const staleS = positive(env[ENV_VARIABLES.claimStaleMs]);
  const threads = positive(env[ENV_VARIABLES.threads]);
  return {
    runsDir: text('runsDir') ?? d.runsDir,
    dataRoot: text('dataRoot') ?? d.dataRoot,
    weightsRoot: text('weightsRoot') ?? d.weightsRoot,
    // '' is a value here: no MLflow server even if a default existed
    trackingUri: env[ENV_VARIABLES.trackingUri] ?? d.trackingUri,
    backend: text('backend') ?? d.backend,
    threads: threads !== undefined && Number.isInteger(threads) ? threads : d.threads,
    debug: Boolean(text('debug')),
    claimStaleMs: staleS !== undefined ? staleS * 1000 : d.claimStaleMs,
    slurmPollMs: positive(env[ENV_VARIABLES.slurmPollMs]) ?? d.slurmPollMs,
    uvThreadpoolSize: positive(env[ENV_VARIABLES.uvThreadpoolSize]) ?? d.uvThreadpoolSize,
    ci: Boolean(text('ci')),
    chromiumPath: text('chromiumPath') ?? d.chromiumPath,
  };
}

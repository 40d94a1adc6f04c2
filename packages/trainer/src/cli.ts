#!/usr/bin/env tsx
/**
 * trainer CLI (README "CLI reference"):
 *   tsx packages/trainer/src/cli.ts ablation [--experiment demo] [--only ...] [--dry-run] ...
 *   tsx packages/trainer/src/cli.ts sync --experiment demo
 *   tsx packages/trainer/src/cli.ts experiment-name --experiment <name or path>
 * Through Nx: `npx nx run trainer:ablation -- --experiment demo` (tools/ablation/main.ts: this command,
 * then the report), `npx nx run trainer:sync -- --experiment demo`.
 */
import * as fs from 'node:fs';
import { exitWithError, sbirEnv, yargsFailure } from '@sbir/core';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { BackendName } from '@sbir/model';
import { runAblation, type AblationOptions } from './ablation';
import { listExperimentFiles, loadExperiment } from './grid';
import { ConfigError } from './messages';
import { parseGpus } from './gpus';
import { EXECUTORS, type ExecutorName } from './schema';
import { experimentStatus } from './status';
import { syncExperiment } from './sync';

const BACKENDS = ['auto', 'tensorflow', 'tensorflow-gpu', 'cpu'] as const satisfies readonly BackendName[];

function positiveInt(name: string, v: number | undefined): number | undefined {
  if (v !== undefined && !(Number.isInteger(v) && v > 0))
    throw new ConfigError(`${name}: expected a positive integer, got ${v}`);
  return v;
}

/** --runs-dir: a folder, or a path where one can be made (not a file). */
function runsDirOption(v: string): string {
  const st = fs.statSync(v, { throwIfNoEntry: false });
  if (st && !st.isDirectory())
    throw new ConfigError(`--runs-dir ${v}: not a directory (the run store root is a folder)`);
  return v;
}

/** An MLflow tracking server is an http(s) URL; empty = no mirroring. */
function trackingUriOption(name: string, v: string): string {
  if (v === '') return v;
  let url: URL | null = null;
  try {
    url = new URL(v);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new ConfigError(
      `${name} ${v}: expected an http(s) URL of an MLflow server, e.g. http://127.0.0.1:5000`,
    );
  return v;
}

/** Options every trainer command takes (also used by the workspace's ablation + report entry). */
export function trainerOptions<T>(y: Argv<T>) {
  return y
    .option('experiment', {
      alias: 'e',
      type: 'string',
      default: 'demo',
      coerce: (v: string) => v || 'demo',
      describe: `experiment name (experiments/<name>.yaml) or path to a yaml file; known: ${listExperimentFiles().join(', ')}`,
    })
    .option('runs-dir', {
      type: 'string',
      default: sbirEnv().runsDir,
      defaultDescription: '$SBIR_RUNS_DIR, else runs',
      coerce: runsDirOption,
      describe: 'run store root',
    })
    .option('tracking-uri', {
      type: 'string',
      coerce: (v: string) => trackingUriOption('--tracking-uri', v),
      describe: 'MLflow server (default: env MLFLOW_TRACKING_URI; empty string = no mirroring)',
    })
    .middleware((argv) => {
      // the environment's server is checked like the option, by the commands that use it
      const env = sbirEnv().trackingUri;
      const uses = argv._[0] === 'ablation' || argv._[0] === 'sync' || argv._[0] === undefined;
      if (uses && env && argv['tracking-uri'] === undefined) trackingUriOption('MLFLOW_TRACKING_URI', env);
    });
}

/** The options of `ablation` (also used by the workspace's ablation + report entry). */
export function ablationOptions<T>(y: Argv<T>) {
  return y
    .option('only', {
      type: 'string',
      array: true,
      describe: 'cell id prefix or axis=value[,value] (repeatable; axes AND, values OR)',
    })
    .option('retry-failed', {
      type: 'boolean',
      default: false,
      describe: 'run failed cells again from scratch',
    })
    .option('dry-run', {
      type: 'boolean',
      default: false,
      describe: 'print the grid (cell id, axes, state) and exit',
    })
    .option('backend', {
      choices: BACKENDS,
      default: sbirEnv().backend as BackendName,
      defaultDescription: '$SBIR_BACKEND, else auto',
      describe: 'TensorFlow backend',
    })
    .option('workers', {
      type: 'number',
      describe: 'parallel worker processes (default: cores / 2, at least 1)',
    })
    .option('threads', {
      type: 'number',
      describe: 'TensorFlow threads per worker (default: cores / workers)',
    })
    .option('gpus', {
      type: 'string',
      describe:
        'local workers: all | 0,1 | none; one worker per GPU, each with its own CUDA_VISIBLE_DEVICES (default: all GPUs nvidia-smi lists when the backend is auto or tensorflow-gpu and an NVIDIA driver is loaded)',
    })
    .option('data-root', {
      type: 'string',
      describe: 'replaces {dataRoot} in dataset.dir (default: env SBIR_DATA_ROOT, else data)',
    })
    .option('weights-root', {
      type: 'string',
      describe:
        'replaces {weightsRoot} in model.pretrained: the folder of model:import outputs (default: env SBIR_WEIGHTS_ROOT, else weights)',
    })
    .option('executor', {
      choices: EXECUTORS,
      describe:
        'where cells run: local worker processes, or one Slurm job array (default: the yaml executor.name, else local)',
    })
    .option('detach', {
      type: 'boolean',
      default: false,
      describe: 'slurm: print the job id and return instead of following the array',
    })
    .option('requeue', {
      type: 'boolean',
      default: false,
      describe: 'slurm: let Slurm requeue preempted or node-lost tasks (they resume)',
    });
}

export const OVERRIDES_HELP =
  "Hydra-style overrides: model.width=32, ~eval.centreHashBits, grid.seed=0,1,2 (sweep axis), quoted 'a,b'";

/** What `trainerOptions` + `ablationOptions` parse to. */
export interface AblationArgv {
  experiment: string;
  'runs-dir': string;
  'tracking-uri'?: string;
  only?: string[];
  'retry-failed': boolean;
  'dry-run': boolean;
  backend: BackendName;
  workers?: number;
  threads?: number;
  gpus?: string;
  'data-root'?: string;
  'weights-root'?: string;
  executor?: ExecutorName;
  detach: boolean;
  requeue: boolean;
}

/** The parsed command line of `ablation` (and its positional `key=value` overrides) as runAblation's options. */
export function ablationRequest(
  argv: AblationArgv,
  overrides: readonly (string | number)[] = [],
): AblationOptions {
  return {
    experiment: argv.experiment,
    runsDir: argv['runs-dir'],
    dataRoot: argv['data-root'],
    weightsRoot: argv['weights-root'],
    only: argv.only,
    retryFailed: argv['retry-failed'],
    dryRun: argv['dry-run'],
    overrides: overrides.map(String),
    backend: argv.backend,
    workers: positiveInt('--workers', argv.workers),
    threads: positiveInt('--threads', argv.threads),
    gpus: argv.gpus === undefined ? undefined : parseGpus(String(argv.gpus)),
    trackingUri: argv['tracking-uri'],
    executor: argv.executor,
    detach: argv.detach,
    requeue: argv.requeue,
    tty: Boolean(process.stdout.isTTY) && !sbirEnv().ci,
  };
}

async function main(): Promise<number> {
  let exitCode = 0;
  await trainerOptions(yargs(hideBin(process.argv)).scriptName('trainer').usage('$0 <command> [options]'))
    .command(
      'ablation [overrides..]',
      'run the experiment grid (skips finished cells, resumes interrupted ones)',
      (y) =>
        ablationOptions(y).positional('overrides', { type: 'string', array: true, describe: OVERRIDES_HELP }),
      async (argv) => {
        exitCode = (await runAblation(ablationRequest(argv, argv.overrides ?? []))).exitCode;
      },
    )
    .command(
      'sync',
      'push the run store of an experiment to MLflow (idempotent)',
      (y) => y,
      async (argv) => {
        exitCode = (
          await syncExperiment({
            experiment: argv.experiment,
            runsDir: argv['runs-dir'],
            trackingUri: argv['tracking-uri'],
          })
        ).exitCode;
      },
    )
    .command(
      'status',
      "cell states of an experiment; after a Slurm submission, that submission's cells with each task's state, node, requeues and log",
      (y) =>
        y
          .option('data-root', {
            type: 'string',
            describe: 'replaces {dataRoot} in dataset.dir (default: env SBIR_DATA_ROOT, else data)',
          })
          .option('submission', {
            type: 'string',
            default: 'latest',
            describe: "a submission id (runs/<experiment>/.slurm/<id>), latest, or none (the yaml's cells)",
          }),
      (argv) => {
        exitCode = experimentStatus({
          experiment: argv.experiment,
          runsDir: argv['runs-dir'],
          dataRoot: argv['data-root'],
          submission: argv.submission,
        });
      },
    )
    .command(
      'experiment-name',
      'print the name (runs/ folder) of an experiment file',
      (y) => y,
      (argv) => {
        process.stdout.write(`${loadExperiment(argv.experiment).name}\n`);
      },
    )
    .demandCommand(1, 'give a command: ablation, status, sync or experiment-name')
    .strict()
    .help()
    .fail(yargsFailure)
    .parseAsync();
  return exitCode;
}

// One line on stderr; exit 2 for usage/config/input errors, 1 for runtime failures (@sbir/core EXIT).
if (require.main === module)
  main().then(
    (code) => process.exit(code),
    (e: unknown) => exitWithError(e),
  );

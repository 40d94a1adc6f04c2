#!/usr/bin/env tsx
/**
 * trainer CLI (README "CLI reference"):
 *   tsx packages/trainer/src/cli.ts ablation [--experiment demo] [--only ...] [--dry-run] ...
 *   tsx packages/trainer/src/cli.ts sync --experiment demo
 *   tsx packages/trainer/src/cli.ts experiment-name --experiment <name or path>
 * Through Nx: `npx nx run trainer:ablation -- --experiment demo` (tools/ablation/main.ts: this command,
 * then the report), `npx nx run trainer:sync -- --experiment demo`.
 */
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { BackendName } from '@sbir/model';
import { runAblation, type AblationOptions } from './ablation';
import { listExperiments, loadExperiment } from './grid';
import { ConfigError } from './messages';
import { syncExperiment } from './sync';

const BACKENDS = ['auto', 'tensorflow', 'tensorflow-gpu', 'cpu'] as const satisfies readonly BackendName[];

function positiveInt(name: string, v: number | undefined): number | undefined {
  if (v !== undefined && !(Number.isInteger(v) && v > 0))
    throw new ConfigError(`${name}: expected a positive integer, got ${v}`);
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
      describe: `experiment name (experiments/<name>.yaml) or path to a yaml file; known: ${listExperiments().join(', ')}`,
    })
    .option('runs-dir', {
      type: 'string',
      default: process.env.SBIR_RUNS_DIR ?? 'runs',
      describe: 'run store root (env SBIR_RUNS_DIR)',
    })
    .option('tracking-uri', {
      type: 'string',
      describe: 'MLflow server (default: env MLFLOW_TRACKING_URI; empty string = no mirroring)',
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
      default: (process.env.SBIR_BACKEND as BackendName | undefined) ?? 'auto',
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
    .option('data-root', {
      type: 'string',
      describe: 'replaces {dataRoot} in dataset.dir (default: env SBIR_DATA_ROOT, else data)',
    });
}

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
  'data-root'?: string;
}

/** The parsed command line of `ablation` as runAblation's options. */
export function ablationRequest(argv: AblationArgv): AblationOptions {
  return {
    experiment: argv.experiment,
    runsDir: argv['runs-dir'],
    dataRoot: argv['data-root'],
    only: argv.only,
    retryFailed: argv['retry-failed'],
    dryRun: argv['dry-run'],
    backend: argv.backend,
    workers: positiveInt('--workers', argv.workers),
    threads: positiveInt('--threads', argv.threads),
    trackingUri: argv['tracking-uri'],
    tty: Boolean(process.stdout.isTTY) && !process.env.CI,
  };
}

async function main(): Promise<number> {
  let exitCode = 0;
  await trainerOptions(yargs(hideBin(process.argv)).scriptName('trainer').usage('$0 <command> [options]'))
    .command(
      'ablation',
      'run the experiment grid (skips finished cells, resumes interrupted ones)',
      (y) => ablationOptions(y),
      async (argv) => {
        exitCode = (await runAblation(ablationRequest(argv))).exitCode;
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
      'experiment-name',
      'print the name (runs/ folder) of an experiment file',
      (y) => y,
      (argv) => {
        process.stdout.write(`${loadExperiment(argv.experiment).name}\n`);
      },
    )
    .demandCommand(1, 'give a command: ablation, sync or experiment-name')
    .strict()
    .help()
    .fail((msg, err) => {
      throw err ?? new ConfigError(msg.replace(/\s*\n\s*/g, ' '));
    })
    .parseAsync();
  return exitCode;
}

if (require.main === module)
  main().then(
    (code) => process.exit(code),
    (e: unknown) => {
      if (e instanceof ConfigError) {
        process.stderr.write(`error: ${e.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );

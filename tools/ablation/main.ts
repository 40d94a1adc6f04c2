#!/usr/bin/env tsx
/**
 * `npx nx run trainer:ablation [-- options]`: runs an experiment grid, then builds its report, in one
 * process. A program, not a shell string: the arguments reach yargs as an argv array and never a shell
 * (tools/nx-program runs this file with spawn, no shell). It lives at the workspace level because it
 * needs @sbir/trainer and @sbir/report, and the trainer must not depend on the report
 * (docs/CONTRACTS.md). `--dry-run`, `--no-report` and `--help` stop before the report.
 *
 * Exit codes: @sbir/core's convention, as every CLI (0 done, 1 runtime failure, 2 bad option, config
 * or run store input, 130/143 interrupted). The report is built after a run that exited 0, or 1
 * because cells failed (failed cells are part of the report; the exit code stays 1).
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { exitWithError, sbirEnv, yargsFailure } from '@sbir/core';
import { ablationOptions, ablationRequest, runAblation, trainerOptions } from '@sbir/trainer';

const USAGE =
  '$0 [options] [key=value ...]\n\n' +
  'Runs experiments/<experiment>.yaml (default: demo), resuming what is already in the run store,\n' +
  'then builds reports/<experiment> (tables, charts, dashboard). key=value arguments are Hydra-style\n' +
  'overrides (model.width=32, grid.seed=0,1,2).';

function cli(argv: string[]) {
  return ablationOptions(trainerOptions(yargs(argv)))
    .scriptName('nx run trainer:ablation --')
    .usage(USAGE)
    .option('report', {
      type: 'boolean',
      default: true,
      describe: 'build the report after the grid (--no-report: train only)',
    })
    .option('out', {
      alias: 'o',
      type: 'string',
      describe: 'report folder (default: reports/<experiment>)',
    })
    .strictOptions() // key=value overrides are positional; unknown --options are still errors
    .help()
    .fail(yargsFailure);
}

export async function main(argv: string[]): Promise<number> {
  const args = await cli(argv).parseAsync();
  const trained = await runAblation(ablationRequest(args, args._));
  // failed cells are results: the report shows them, and the exit code (1) still says they failed
  const onlyFailedCells = trained.exitCode === 1 && (trained.failedCells ?? 0) > 0;
  if (args['dry-run'] || !args.report || (trained.exitCode !== 0 && !onlyFailedCells))
    return trained.exitCode;
  // loaded only now: --help and --dry-run do not pay for the chart and image libraries
  const { runBuild } = await import('@sbir/report');
  await runBuild({
    runsDir: args['runs-dir'],
    experiment: trained.experiment.name,
    out: args.out,
    // the server the grid mirrored to (none for --tracking-uri ''), as `report build` defaults it
    mlflowUi: (args['tracking-uri'] ?? sbirEnv().trackingUri) || undefined,
    reference: 'experiments/paper-reference.yaml',
    png: true,
    includeStale: false,
  });
  return trained.exitCode;
}

if (require.main === module)
  main(hideBin(process.argv)).then(
    (code) => process.exit(code),
    (e: unknown) => exitWithError(e),
  );

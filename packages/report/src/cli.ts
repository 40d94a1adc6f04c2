#!/usr/bin/env node
/**
 * report CLI.
 *   build  --experiment <name> [--runs-dir runs] [--out reports/<experiment>] [--mlflow-ui <url>] [--baseline block=se,loss=softmax]
 *   serve  same options plus [--port 8787] [--no-build]: builds, then serves the dashboard on 127.0.0.1
 * Errors: one line on stderr naming the option, file or field. Exit codes (@sbir/core's convention):
 * 2 = usage, option or input errors (a bad run store file, an unknown experiment, a port in use),
 * 1 = runtime failures (anything unexpected; the stack is printed only with SBIR_DEBUG=1).
 * `--runs-dir` defaults to $SBIR_RUNS_DIR and `--mlflow-ui` to $MLFLOW_TRACKING_URI, as in the trainer.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { displayPath, errorLine, exitWithError, sbirEnv, yargsFailure } from '@sbir/core';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ReportInputError } from './messages';
import { buildReport, defaultOut, type BuildResult } from './report';
import { serveStatic } from './serve';
import { parseBaseline } from './table/build';

/** The options of `report build` (also what the workspace's ablation + report entry passes). */
export interface CommonArgs {
  runsDir: string;
  out?: string;
  experiment?: string;
  mlflowUi?: string;
  baseline?: string;
  reference: string;
  png: boolean;
  includeStale: boolean;
  /** serve --watch: seconds between checks (0 = off) */
  watch?: number;
}

const common = <T>(y: Argv<T>) =>
  y
    .option('runs-dir', {
      type: 'string',
      default: sbirEnv().runsDir,
      defaultDescription: '$SBIR_RUNS_DIR, else runs',
      describe: 'run store root',
    })
    .option('experiment', {
      alias: 'e',
      type: 'string',
      describe: 'experiment to report (default: all in the runs dir)',
    })
    .option('out', {
      alias: 'o',
      type: 'string',
      describe: 'output folder (default reports/<experiment>, or reports for all)',
    })
    .option('mlflow-ui', {
      type: 'string',
      default: sbirEnv().trackingUri,
      defaultDescription: '$MLFLOW_TRACKING_URI',
      describe: 'MLflow UI to link to',
    })
    .option('baseline', {
      type: 'string',
      describe: 'baseline row for Δ and p, as axis=value pairs',
      defaultDescription: 'block=se,loss=softmax',
    })
    .option('reference', {
      type: 'string',
      default: path.join('experiments', 'paper-reference.yaml'),
      describe: "the paper's numbers (optional file)",
    })
    .option('png', { type: 'boolean', default: true, describe: 'render PNGs beside the SVG charts' })
    .option('include-stale', {
      type: 'boolean',
      default: false,
      describe: "show cells that are not in experiment.json's current cell set (marked stale)",
    });

/** `report build`: builds and prints where the files went (used by `report build`/`serve` and trainer:ablation). */
export async function runBuild(a: CommonArgs): Promise<BuildResult> {
  const t0 = Date.now();
  const result = await buildReport({
    runsDir: a.runsDir,
    out: a.out,
    experiment: a.experiment,
    mlflowUi: a.mlflowUi,
    baseline: a.baseline ? parseBaseline(a.baseline) : undefined,
    referenceFile: a.reference,
    png: a.png,
    includeStale: a.includeStale,
    watch: (a.watch ?? 0) > 0,
    log: (l) => console.log(l),
  });
  const n = result.experiments.reduce((s, e) => s + e.files.length, 0);
  console.log(
    `[report] wrote ${n} files to ${displayPath(result.out)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  return result;
}

/** Modification times of the files a rebuild depends on, as one string (cheap polling). */
export function storeSignature(runsDir: string): string {
  const parts: string[] = [];
  const stat = (f: string) => {
    try {
      const st = fs.statSync(f);
      parts.push(`${f}:${st.mtimeMs}:${st.size}`);
    } catch {
      /* absent */
    }
  };
  let exps: string[] = [];
  try {
    exps = fs.readdirSync(runsDir);
  } catch {
    return '';
  }
  for (const e of exps) {
    const ed = path.join(runsDir, e);
    stat(path.join(ed, 'experiment.json'));
    let cells: string[] = [];
    try {
      cells = fs.readdirSync(ed);
    } catch {
      continue;
    }
    for (const c of cells)
      for (const f of ['status.json', 'metrics.jsonl', 'eval.json']) stat(path.join(ed, c, f));
  }
  return parts.join('|');
}

function portOption(p: unknown): number {
  const n = Number(p);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new ReportInputError(`--port: expected an integer from 0 to 65535, got ${String(p)}`, '--port');
  return n;
}

export async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('report')
    .command(
      'build',
      'build tables, charts and the static dashboard from the run store',
      (y) => common(y),
      async (a) => {
        await runBuild(a as unknown as CommonArgs);
      },
    )
    .command(
      'serve',
      'build (unless --no-build), then serve the dashboard on 127.0.0.1',
      (y) =>
        common(y)
          .option('port', {
            alias: 'p',
            type: 'number',
            default: 8787,
            coerce: portOption,
            describe: 'port (0 = any free port)',
          })
          .option('build', { type: 'boolean', default: true, describe: 'rebuild before serving' })
          .option('watch', {
            type: 'number',
            default: 0,
            describe: 'rebuild when the run store changes, checking every N seconds (0 = off)',
          }),
      async (a) => {
        const args = a as unknown as CommonArgs & { port: number; build: boolean; watch: number };
        const root = args.build
          ? (await runBuild(args)).out
          : path.resolve(args.out ?? defaultOut(args.experiment));
        const h = await serveStatic(root, { port: args.port });
        console.log(`[report] dashboard at ${h.url}  (Ctrl-C to stop)`);
        let timer: NodeJS.Timeout | undefined;
        if (args.watch > 0) {
          let last = storeSignature(args.runsDir);
          let busy = false;
          timer = setInterval(() => {
            const now = storeSignature(args.runsDir);
            if (busy || now === last) return;
            busy = true;
            last = now;
            runBuild({ ...args, png: false })
              .catch((e: unknown) => console.error(errorLine(e)))
              .finally(() => (busy = false));
          }, args.watch * 1000);
        }
        await new Promise<void>((resolve) => {
          const stop = () => {
            if (timer) clearInterval(timer);
            void h.close().then(resolve);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      },
    )
    .demandCommand(1, 'give a command: build or serve')
    .strict()
    .fail(yargsFailure)
    .help()
    .parseAsync();
}

if (require.main === module) main(hideBin(process.argv)).catch((e: unknown) => exitWithError(e));

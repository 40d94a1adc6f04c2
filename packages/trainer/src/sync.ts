/**
 * `trainer sync`: pushes an experiment's run store to MLflow after the fact (the server was down, or
 * MLFLOW_TRACKING_URI was not set while training). Idempotent: runs are found by their cell id tag and
 * only what the server lacks is sent (see mlflow/mirror.ts).
 */
import * as fs from 'node:fs';
import { displayPath, formatTable, sbirEnv } from '@sbir/core';
import { loadExperiment, resolveExperimentFile } from './grid';
import { ConfigError, messages } from './messages';
import { MlflowError } from './mlflow/client';
import { MlflowMirror, type SyncResult } from './mlflow/mirror';
import { planCell, RunStore } from './run-store';

export interface SyncOptions {
  experiment: string;
  runsDir: string;
  trackingUri?: string | null;
  write?: (line: string) => void;
}

/** The experiment's folder name: the yaml's `name` when the file exists, else the argument itself. */
function experimentName(nameOrPath: string): { name: string; file?: string } {
  try {
    resolveExperimentFile(nameOrPath);
  } catch {
    return { name: nameOrPath };
  }
  const exp = loadExperiment(nameOrPath);
  return { name: exp.name, file: exp.file };
}

export async function syncExperiment(
  opts: SyncOptions,
): Promise<{ exitCode: number; results: SyncResult[] }> {
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const trackingUri = opts.trackingUri ?? sbirEnv().trackingUri;
  if (!trackingUri) throw new ConfigError(messages.noTrackingUri());
  const { name, file } = experimentName(opts.experiment);
  const runs = new RunStore(opts.runsDir, name);
  if (!fs.existsSync(runs.dir)) {
    throw new ConfigError(
      `sync: ${displayPath(runs.dir)} does not exist (run the ablation first, or pass --runs-dir)`,
    );
  }
  const mirror = new MlflowMirror(trackingUri, name, { experimentFile: file });
  const results: SyncResult[] = [];
  const rows: string[][] = [];
  for (const cellId of runs.listCellIds()) {
    const cell = runs.cell(cellId);
    // A cell trained right now by a live worker keeps ownership of its status.json.
    const live = planCell(cell.readStatus(), false) === 'skip-running';
    try {
      const r = await mirror.syncCell(cell, { mayWriteStatus: !live });
      if (!r) continue;
      results.push(r);
      rows.push([
        cellId,
        r.runId,
        r.created ? 'created' : 'found',
        String(r.params),
        String(r.metrics),
        String(r.artifacts.length),
        r.status,
      ]);
    } catch (e) {
      if (e instanceof MlflowError && e.unreachable) {
        write(
          `sync: ${trackingUri} is not reachable (${e.message}); is the server running? (npm run mlflow:start)`,
        );
        return { exitCode: 1, results };
      }
      throw e;
    }
  }
  write(formatTable(['cell', 'mlflow run', 'run', '+params', '+metrics', '+artifacts', 'status'], rows));
  write(`synced ${results.length} cell(s) of ${name} to ${trackingUri}`);
  return { exitCode: 0, results };
}

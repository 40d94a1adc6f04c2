/**
 * User-facing messages in one module (Vega-Lite's log/message.ts): config errors and warnings. zod
 * issues become sentences in @sbir/core (`issueSentence`, `formatPath`).
 */
import { UsageError } from '@sbir/core';

/**
 * A bad experiment file or option. Its message is one line and names the file and the field. A
 * UsageError of @sbir/core's exit-code convention: the CLI exits 2.
 */
export class ConfigError extends UsageError {
  override name = 'ConfigError';
}

export const messages = {
  mlflowDown: (uri: string, err: string, experiment: string) =>
    `[mlflow] warning: ${uri} is not reachable (${err}); training goes on and the run store stays complete. ` +
    `Push later with: npx nx run trainer:sync -- --experiment ${experiment}`,
  noTrackingUri: () =>
    'sync: no MLflow server given: set MLFLOW_TRACKING_URI (npm run mlflow:start prints it) or pass --tracking-uri',
  unknownOnlyAxis: (axis: string, axes: string[]) =>
    `--only ${axis}=...: unknown axis "${axis}" (axes: ${axes.join(', ') || 'none'})`,
  noCellsMatch: (filters: string[]) => `--only ${filters.join(' ')}: no cell matches`,
  unreadableStatus: (cellId: string, why: string) =>
    `cell ${cellId}: ${why}; its state is unknown, so it resumes from its last good checkpoint (the grid goes on)`,
  datasetMissing: (dir: string, name: string) =>
    `dataset "${name}": ${dir} has no manifest.json; prepare it first (npx nx run data:prepare -- --dataset ${name} --root <raw data> --out ${dir}) or pass --data-root`,
};

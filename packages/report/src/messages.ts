/**
 * Every user-facing message of the report in one place (the Vega-Lite `log/message.ts` habit):
 * each function takes the file and field it talks about, so errors read as one line that names both.
 * Exit codes and the error line are the project's (@sbir/core `EXIT`, `exitWithError`).
 */
import { UsageError } from '@sbir/core';

/** A problem with the input files or options: a UsageError, so the CLI exits 2 (@sbir/core). */
export class ReportInputError extends UsageError {
  override name = 'ReportInputError';
  constructor(
    message: string,
    readonly file: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

const where = (file: string, field?: string): string => (field ? `${file}: field "${field}"` : file);

export const message = {
  missingRunsDir: (dir: string) =>
    `${dir}: runs directory not found (pass --runs-dir, or run the trainer first)`,
  runsDirNotDir: (dir: string) => `${dir}: --runs-dir is not a folder`,
  noExperiments: (dir: string) => `${dir}: no experiments found (no <experiment>/experiment.json)`,
  unknownExperiment: (dir: string, name: string, known: string[]) =>
    `${dir}: experiment "${name}" not found${known.length ? ` (known: ${known.join(', ')})` : ''}`,
  missingFile: (file: string) => `${file}: file not found`,
  invalidJson: (file: string, reason: string) => `${file}: invalid JSON (${reason})`,
  invalidYaml: (file: string, reason: string) => `${file}: invalid YAML (${reason})`,
  invalidJsonLine: (file: string, line: number, reason: string) =>
    `${file}: line ${line} is not valid JSON (${reason}); only a cut-off last line may be skipped`,
  invalidField: (file: string, field: string, problem: string) => `${where(file, field)}: ${problem}`,
  unsupportedFormat: (file: string, version: unknown) =>
    `${where(file, 'formatVersion')}: unsupported run store format ${JSON.stringify(version)} (this report reads version 1)`,
  badCellId: (file: string, field: string, got: string) =>
    `${where(file, field)}: expected a cell id (12 lower-case hex characters), got ${got}`,
  badExperimentName: (file: string, got: string) =>
    `${where(file, 'name')}: expected an experiment name (lower-case letters, digits, "-" or "_"), got ${got}`,
  notRegularFile: (file: string) =>
    `${file}: not a regular file (symbolic links and devices are not read from a run store)`,
  notRealDir: (file: string) =>
    `${file}: a symbolic link or not a folder (run store folders must be real folders)`,
  outsideOut: (file: string, root: string) => `${file}: refusing to write outside the output folder ${root}`,
  outsideOutLink: (file: string, root: string) =>
    `${file}: refusing to write through a symbolic link that leaves the output folder ${root}`,
  nothingToServe: (dir: string) =>
    `${dir}: folder to serve not found (build it first: report build, or drop --no-build)`,
  portInUse: (host: string, port: number) =>
    `--port ${port}: ${host}:${port} is already in use (pick another --port, or 0 for any free port)`,
  listenFailed: (host: string, port: number, reason: string) =>
    `--port ${port}: cannot listen on ${host}:${port} (${reason})`,
  unknownBaselineAxis: (axis: string, axes: string[]) =>
    `--baseline: "${axis}" is not a row axis of the table (row axes: ${axes.join(', ') || 'none'})`,
  badBaselineSpec: (spec: string) =>
    `--baseline: expected axis=value pairs separated by commas, got "${spec}"`,
  // warnings (printed, not fatal)
  finishedWithoutEval: (file: string) =>
    `${file}: state is "finished" but eval.json is missing; metrics left blank`,
  baselineMissing: (label: string) => `baseline row "${label}" has no finished runs; Δ and p left blank`,
  missingCellDir: (file: string) => `${file}: listed in experiment.json but not written yet; shown as queued`,
};

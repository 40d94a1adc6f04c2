/**
 * Every user-facing message of the report in one place (the Vega-Lite `log/message.ts` habit):
 * each function takes the file and field it talks about, so errors read as one line that names both.
 */

/** A problem with the input files; the CLI prints `message` alone and exits non-zero. */
export class ReportInputError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ReportInputError';
  }
}

const where = (file: string, field?: string): string => (field ? `${file}: field "${field}"` : file);

export const message = {
  missingRunsDir: (dir: string) =>
    `${dir}: runs directory not found (pass --runs-dir, or run the trainer first)`,
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

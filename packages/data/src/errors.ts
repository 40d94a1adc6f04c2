/** One error type for bad input; every message is one line and names the file or option at fault. */
import { EXIT, oneLine } from '@sbir/core';
import type { ConfigIssue } from '@sbir/core';

export type DataErrorCode =
  | 'bad-option'
  | 'unknown-dataset'
  | 'missing-root'
  | 'missing-dir'
  | 'empty-category'
  | 'bad-image'
  | 'bad-file'
  | 'category-mismatch'
  | 'no-space'
  | 'io'
  | 'bad-manifest'
  | 'bad-split'
  | 'count-mismatch';

/** DataError codes that are not the input's fault. */
const RUNTIME_CODES = new Set<DataErrorCode>(['no-space', 'io']);

export class DataError extends Error {
  readonly code: DataErrorCode;
  /** The option at fault and what is wrong with it, as data (a config maps it to its own path). */
  readonly issue?: ConfigIssue;
  constructor(code: DataErrorCode, message: string, issue?: ConfigIssue) {
    super(oneLine(message));
    this.name = 'DataError';
    this.code = code;
    if (issue) this.issue = issue;
  }

  /** @sbir/core's convention (`exitCodeFor`): 2 when the input or an option is at fault, 1 for a full disk or I/O. */
  get exitCode(): number {
    return RUNTIME_CODES.has(this.code) ? EXIT.failure : EXIT.usage;
  }
}

/** `extraPhotos` -> `extra-photos`: the command-line flag of an option. */
export function optionFlag(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * A bad option `name` (camelCase): the one-line `option --<flag>: <problem>` (`joiner` ' ' for a
 * problem that reads on from the flag) carrying the issue `{ path: [name], message: problem }`.
 */
export function optionError(name: string, problem: string, joiner = ': '): DataError {
  return new DataError('bad-option', `option --${optionFlag(name)}${joiner}${problem}`, {
    path: [name],
    message: problem,
  });
}

/** `option --<flag>: expected <what>, got <value>` as an optionError. */
export function badOptionError(name: string, expected: string, got: unknown): DataError {
  return optionError(name, `expected ${expected}, got ${JSON.stringify(got)}`);
}

/** Message helpers, so the wording stays consistent across modules. */
export const messages = {
  badOption: (option: string, expected: string, got: unknown) =>
    `option --${option}: expected ${expected}, got ${JSON.stringify(got)}`,
  unknownDataset: (name: string, known: string[]) =>
    `unknown dataset "${name}" (option --dataset); known datasets: ${known.join(', ')}`,
  missingRoot: (dataset: string) => `dataset "${dataset}" needs --root <dir> (the extracted dataset folder)`,
  missingDir: (option: string, dir: string) => `option --${option}: directory not found: ${dir}`,
  emptyCategory: (dir: string) => `empty category folder (no image files): ${dir}`,
  badImage: (file: string, detail: string) => `corrupt or non-image file: ${file} (${firstLine(detail)})`,
  notImage: (file: string) => `not an image file: ${file}`,
  noSpace: (file: string) => `no space left on device while writing ${file} (temporary files removed)`,
};

export function firstLine(text: string): string {
  return text.split('\n')[0].trim();
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isErrnoException(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}

/**
 * The exit-code convention of every sbir CLI (data, model, trainer, report; README "CLI reference"),
 * in the one package every other may import:
 *   0    success
 *   1    runtime failure: I/O, a failed run, a bug (the command may work when run again)
 *   2    usage, config or input error: fix the command line, the experiment file or the input data
 *   130  interrupted by SIGINT, 143 by SIGTERM (rerun the same command to resume)
 * Every error prints as one line, `error: <message>`, on stderr; SBIR_DEBUG=1 adds the stack.
 */
import { DataError, oneLine, type DataErrorCode } from './errors';

export const EXIT = { ok: 0, failure: 1, usage: 2, sigint: 130, sigterm: 143 } as const;

/** An error the user fixes in the command line, a config file or the input: exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode: number = EXIT.usage;
}

/** DataError codes that are not the input's fault. */
const RUNTIME_DATA_CODES = new Set<DataErrorCode>(['no-space', 'io']);

/** 2 for usage/config/input errors (UsageError and its subclasses, DataError about the input), else 1. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof DataError) return RUNTIME_DATA_CODES.has(err.code) ? EXIT.failure : EXIT.usage;
  const code = (err as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === 'number' && Number.isInteger(code) && code > 0 ? code : EXIT.failure;
}

/** `error: <first line of the message, whitespace collapsed>`. */
export function errorLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return `error: ${oneLine(text) || (err instanceof Error ? err.name : 'unknown error')}`;
}

/**
 * Prints the one-line error (and, with SBIR_DEBUG=1, the stack) on stderr and exits with
 * exitCodeFor(err). `cleanup` runs first (e.g. removing temp files).
 */
export function exitWithError(err: unknown, cleanup?: () => void): never {
  try {
    cleanup?.();
  } finally {
    process.stderr.write(`${errorLine(err)}\n`);
    if (process.env.SBIR_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exit(exitCodeFor(err));
  }
}

/**
 * The exit-code convention and error line of every sbir CLI (data, model, trainer, report, the
 * benches and tools/; README "CLI reference"), in the one package every other may import:
 *   0    success
 *   1    runtime failure: I/O, a failed run, a bug (the command may work when run again)
 *   2    usage, config or input error: fix the command line, the experiment file or the input data
 *   130  interrupted by SIGINT, 143 by SIGTERM (rerun the same command to resume)
 * Every error prints as one line, `error: <message>`, on stderr; SBIR_DEBUG=1 adds the stack.
 */
import { sbirEnv } from './env';

export const EXIT = { ok: 0, failure: 1, usage: 2, sigint: 130, sigterm: 143 } as const;

/**
 * An error the user fixes in the command line, a config file or the input: exit 2. Packages subclass
 * it for their own domain (`ConfigError` in the trainer, `ReportInputError`, `ImportUsageError`);
 * any error with a numeric `exitCode` (e.g. @sbir/data's `DataError`) picks its own code.
 */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly exitCode: number = EXIT.usage;
}

/** Collapse whitespace so that an error prints on one line. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** The error's own positive integer `exitCode` (2 for a UsageError), else 1: anything unexpected is a runtime failure. */
export function exitCodeFor(err: unknown): number {
  const code = (err as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === 'number' && Number.isInteger(code) && code > 0 ? code : EXIT.failure;
}

/** `error: <message, whitespace collapsed>`. */
export function errorLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return `error: ${oneLine(text) || (err instanceof Error ? err.name : 'unknown error')}`;
}

/** Writes the one-line error on stderr, and the stack too with SBIR_DEBUG=1. */
export function printError(err: unknown): void {
  process.stderr.write(`${errorLine(err)}\n`);
  if (sbirEnv().debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
}

/**
 * Prints the one-line error (and, with SBIR_DEBUG=1, the stack) on stderr and exits with
 * exitCodeFor(err). `cleanup` runs first (e.g. removing temp files).
 */
export function exitWithError(err: unknown, cleanup?: () => void): never {
  try {
    cleanup?.();
  } finally {
    printError(err);
    process.exit(exitCodeFor(err));
  }
}

/**
 * The `.fail(...)` handler of every yargs command line. A parse error (unknown option, bad choice,
 * missing value) becomes a one-line UsageError that points at --help (the help is not printed: the
 * error stays one line); what an option's `coerce` threw (yargs wraps it in a YError) keeps its own
 * message, which names the option; any other error (a command's handler failing) passes through.
 */
export function yargsFailure(msg: string | null | undefined, err: Error | null | undefined): never {
  if (err && err.name !== 'YError') throw err;
  if (err?.message) throw new UsageError(oneLine(err.message));
  throw new UsageError(`${oneLine(msg || 'invalid command line')} (see --help)`);
}

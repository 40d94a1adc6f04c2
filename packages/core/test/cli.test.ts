/** The CLI plumbing (src/cli.ts), the environment's defaults (src/env.ts) and the sha256 helpers (src/hash.ts). */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yargs from 'yargs';
import {
  ENV_DEFAULTS,
  ENV_VARIABLES,
  EXIT,
  UsageError,
  errorLine,
  exitCodeFor,
  sbirEnv,
  sha256,
  sha256File,
  sha256FileSync,
  yargsFailure,
} from '../src';

test('exitCodeFor: usage errors and their subclasses exit 2, anything else 1', () => {
  expect(exitCodeFor(new UsageError('--x: bad'))).toBe(EXIT.usage);
  class ConfigLike extends UsageError {}
  expect(exitCodeFor(new ConfigLike('bad.yaml: lr: ...'))).toBe(2);
  // an error of another package picks its own code through `exitCode`
  expect(exitCodeFor(Object.assign(new Error('disk full'), { exitCode: 1 }))).toBe(1);
  expect(exitCodeFor(Object.assign(new Error('x'), { exitCode: 'two' }))).toBe(EXIT.failure);
  expect(exitCodeFor(Object.assign(new Error('ENOENT'), { code: 'ENOENT' }))).toBe(1);
  expect(exitCodeFor(new TypeError('a bug'))).toBe(1);
  expect(exitCodeFor('a string')).toBe(1);
  expect(exitCodeFor(null)).toBe(1);
});

test('errorLine: one line, whitespace collapsed, the name when the message is empty', () => {
  expect(errorLine(new Error('first\n   second'))).toBe('error: first second');
  expect(errorLine(new UsageError(''))).toBe('error: UsageError');
  expect(errorLine('plain text')).toBe('error: plain text');
});

describe('yargsFailure', () => {
  const parse = (argv: string[]) =>
    yargs(argv)
      .option('port', {
        type: 'number',
        coerce: (v: number) => {
          if (v > 65535) throw new Error(`--port: expected at most 65535, got ${v}`);
          return v;
        },
      })
      .option('mode', { choices: ['a', 'b'] })
      .strict()
      .fail(yargsFailure)
      .parseSync();

  test('a parse error is a one-line UsageError pointing at --help', () => {
    expect(() => parse(['--bogus'])).toThrow(UsageError);
    expect(() => parse(['--bogus'])).toThrow(/^Unknown argument: bogus \(see --help\)$/);
    expect(() => parse(['--mode', 'c'])).toThrow(
      /^Invalid values: Argument: mode, Given: "c", Choices: "a", "b" \(see --help\)$/,
    );
  });

  test("what an option's coerce threw keeps its message, as a UsageError", () => {
    expect(() => parse(['--port', '70000'])).toThrow(UsageError);
    expect(() => parse(['--port', '70000'])).toThrow(/^--port: expected at most 65535, got 70000$/);
  });

  test("a command's own failure passes through unchanged", () => {
    const boom = new RangeError('runtime');
    expect(() => yargsFailure('', boom)).toThrow(boom);
  });
});

describe('sbirEnv', () => {
  test('an empty environment gives the documented defaults', () => {
    expect(sbirEnv({})).toEqual(ENV_DEFAULTS);
  });

  test('each setting reads its variable', () => {
    const env = sbirEnv({
      SBIR_RUNS_DIR: '/tmp/r',
      SBIR_DATA_ROOT: '/d',
      SBIR_WEIGHTS_ROOT: '/w',
      MLFLOW_TRACKING_URI: 'http://127.0.0.1:5000',
      SBIR_BACKEND: 'cpu',
      TF_NUM_INTRAOP_THREADS: '3',
      SBIR_DEBUG: '1',
      SBIR_CLAIM_STALE_S: '2.5',
      SBIR_SLURM_POLL_MS: '50',
      UV_THREADPOOL_SIZE: '8',
      CI: 'true',
      CHROMIUM_PATH: '/opt/chromium',
    });
    expect(env).toEqual({
      runsDir: '/tmp/r',
      dataRoot: '/d',
      weightsRoot: '/w',
      trackingUri: 'http://127.0.0.1:5000',
      backend: 'cpu',
      threads: 3,
      debug: true,
      claimStaleMs: 2500,
      slurmPollMs: 50,
      uvThreadpoolSize: 8,
      ci: true,
      chromiumPath: '/opt/chromium',
    });
    // every setting has a variable, and the test above sets each of them
    expect(Object.keys(ENV_VARIABLES).sort()).toEqual(Object.keys(env).sort());
  });

  test('empty and unparsable values are unset; an empty MLflow URI means no server', () => {
    const env = sbirEnv({
      SBIR_RUNS_DIR: '',
      TF_NUM_INTRAOP_THREADS: '2.5',
      SBIR_CLAIM_STALE_S: '-1',
      SBIR_SLURM_POLL_MS: 'soon',
      SBIR_DEBUG: '',
      MLFLOW_TRACKING_URI: '',
    });
    expect(env.runsDir).toBe('runs');
    expect(env.threads).toBeUndefined();
    expect(env.claimStaleMs).toBe(600_000);
    expect(env.slurmPollMs).toBe(2000);
    expect(env.debug).toBe(false);
    expect(env.trackingUri).toBe('');
  });

  test('reads process.env at the call, not at load', () => {
    const before = process.env.SBIR_RUNS_DIR;
    try {
      process.env.SBIR_RUNS_DIR = 'elsewhere';
      expect(sbirEnv().runsDir).toBe('elsewhere');
    } finally {
      if (before === undefined) delete process.env.SBIR_RUNS_DIR;
      else process.env.SBIR_RUNS_DIR = before;
    }
  });
});

describe('sha256', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sbir-core-sha-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('text and bytes: the standard test vectors', () => {
    expect(sha256('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256(new TextEncoder().encode('abc'))).toBe(sha256('abc'));
  });

  test('a file over several chunks: streamed, sync and whole-buffer digests agree, progress reaches the size', async () => {
    const file = path.join(dir, 'big.bin');
    const bytes = Buffer.alloc((9 << 20) + 123); // two full 4 MiB chunks and a partial one
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (i >> 12) & 0xff;
    fs.writeFileSync(file, bytes);
    const seen: [number, number][] = [];
    const streamed = await sha256File(file, (done, total) => seen.push([done, total]));
    expect(streamed).toBe(sha256(bytes));
    expect(sha256FileSync(file)).toBe(streamed);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.at(-1)).toEqual([bytes.length, bytes.length]);
    expect(seen.every(([d], i) => i === 0 || d > seen[i - 1]![0])).toBe(true);
    // the system's own tool, where there is one
    let sys: string | null = null;
    try {
      sys = execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(' ')[0]!;
    } catch {
      sys = null;
    }
    if (sys) expect(streamed).toBe(sys);
  });

  test('an empty file, and a missing one fails', async () => {
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '');
    expect(await sha256File(empty)).toBe(sha256(''));
    expect(sha256FileSync(empty)).toBe(sha256(''));
    await expect(sha256File(path.join(dir, 'none'))).rejects.toThrow(/ENOENT/);
    expect(() => sha256FileSync(path.join(dir, 'none'))).toThrow(/ENOENT/);
  });
});

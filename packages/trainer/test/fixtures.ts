/**
 * Tiny fixtures for the trainer tests (Lightning's BoringModel spirit): a 4-category, 32 px emoji
 * dataset prepared by the ablation itself, a resnet-tiny of width 8, and helpers to run the CLI as a
 * real child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(REPO_ROOT, 'packages', 'trainer', 'src', 'cli.ts');

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `sbir-trainer-${tag}-`));
}

export interface TinyOptions {
  name?: string;
  /** Grid section as yaml text (default: block x loss, 4 cells). */
  grid?: string;
  epochs?: number;
  /** Extra `train:` keys as yaml flow entries, e.g. "checkpointEverySteps: 4". */
  train?: string;
  /** Dataset folder (default: <dir>/data/emoji-tiny, prepared on first use). */
  dataDir?: string;
  /** Extra `eval:` keys as yaml flow entries, e.g. "centreHashBits: 16". */
  eval?: string;
}

/** Writes a tiny experiment into `dir` and returns its path. */
export function writeTinyExperiment(dir: string, opts: TinyOptions = {}): string {
  const file = path.join(dir, `${opts.name ?? 'tiny'}.yaml`);
  const dataDir = opts.dataDir ?? path.join(dir, 'data', 'emoji-tiny');
  fs.writeFileSync(
    file,
    `name: ${opts.name ?? 'tiny'}
description: tiny test grid
base:
  dataset:
    name: emoji
    dir: ${dataDir}
    prepare: { dataset: emoji, size: 32, maxCategories: 4 }
  model: { backbone: resnet-tiny, block: se, width: 8, inputSize: 32, embeddingDim: 16 }
  loss: softmax
  train: { epochs: ${opts.epochs ?? 2}, batchSize: 16, lr: 0.001, logEverySteps: 2${opts.train ? `, ${opts.train}` : ''} }
  eval: { retrievalQueries: 2, retrievalTopK: 3, embeddingsSample: 40, statsSample: 200${opts.eval ? `, ${opts.eval}` : ''} }
grid:
${opts.grid ?? '  block: [se, dase]\n  loss: [softmax, mems]'}
`,
  );
  return file;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment for child runs: no MLflow unless a test asks for it, plain output. */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CI: '', FORCE_COLOR: '0' };
  delete env.MLFLOW_TRACKING_URI;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Starts the trainer CLI (node --import tsx) in its own process group. */
export function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = childEnv(),
): ChildProcess & { output: () => CliResult; done: Promise<CliResult> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: REPO_ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return Object.assign(child, {
    output: () => ({ code: child.exitCode, signal: child.signalCode, stdout, stderr }),
    done,
  });
}

export function runCli(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult> {
  return startCli(args, env).done;
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | null | false,
  timeoutMs = 60_000,
  everyMs = 100,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    let v: T | undefined | null | false;
    try {
      v = fn();
    } catch (e) {
      // a file the run has not written yet (experiment.json lists cells before their config.json),
      // or one caught mid-write: not ready yet
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && !(e instanceof SyntaxError)) throw e;
      v = undefined;
    }
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function readJson<T = Record<string, unknown>>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** Every file under `dir` with its size, mtime and content hash (for "untouched" checks). */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = fs.statSync(p);
        const hash = createHash('sha1').update(fs.readFileSync(p)).digest('hex');
        out[path.relative(dir, p)] = `${st.size}:${st.mtimeMs}:${hash}`;
      }
    }
  };
  walk(dir);
  return out;
}

export function metricSteps(cellDir: string, kind: 'step' | 'epoch'): number[] {
  return fs
    .readFileSync(path.join(cellDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { kind: string; step: number })
    .filter((l) => l.kind === kind)
    .map((l) => l.step);
}

/**
 * Faults injected into a real run store, run through the CLI (parent + TensorFlow workers) on the tiny
 * emoji dataset (issue 12): a flipped checkpoint bit, a kill during the final evaluation, a garbage
 * status.json and metrics.jsonl line, a corrupt shard.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  childEnv,
  metricSteps,
  readJson,
  runCli,
  startCli,
  tmpDir,
  waitFor,
  writeTinyExperiment,
} from './fixtures';
import { faultEnv } from './faults';
import type { CellStatus } from '../src/run-store';

/** Every worker log of an experiment's run store (`.logs/<host>-<pid>/worker-<n>.log`), concatenated. */
function workerLogs(expDir: string): string {
  const logs = path.join(expDir, '.logs');
  return fs
    .readdirSync(logs)
    .flatMap((d) => {
      const sub = path.join(logs, d);
      return fs.statSync(sub).isDirectory()
        ? fs
            .readdirSync(sub)
            .filter((f) => /^worker-\d+\.log$/.test(f))
            .map((f) => path.join(sub, f))
        : [];
    })
    .map((f) => fs.readFileSync(f, 'utf8'))
    .join('\n');
}

jest.setTimeout(240_000);

let root: string;
let dataDir: string;
beforeAll(() => {
  root = tmpDir('integrity');
  dataDir = path.join(root, 'data', 'emoji-tiny'); // prepared by the first ablation that needs it
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** status.json as the run store writes it (run-store.ts), with the resumes list always read. */
type Status = CellStatus & { resumes: NonNullable<CellStatus['resumes']> };
const statusOf = (cellDir: string): Status => readJson<Status>(path.join(cellDir, 'status.json'));

function cellDirs(runs: string, experiment: string): string[] {
  return readJson<{ cells: string[] }>(path.join(runs, experiment, 'experiment.json')).cells.map((id) =>
    path.join(runs, experiment, id),
  );
}

/** eval.json without its timings (which differ between runs of the same computation). */
function evalResult(cellDir: string): Record<string, unknown> {
  const result = readJson(path.join(cellDir, 'eval.json'));
  delete result.evalSeconds;
  delete result.trainSeconds;
  return result;
}

/** metrics.jsonl as numbers only (no times or throughput). */
function curve(cellDir: string): unknown[] {
  return fs
    .readFileSync(path.join(cellDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .map((l) => [l.kind, l.step, l.epoch, l.loss ?? l.trainLoss, l.lr ?? l['mAP@all']]);
}

function markInterrupted(cellDir: string): void {
  const file = path.join(cellDir, 'status.json');
  fs.writeFileSync(file, JSON.stringify({ ...readJson(file), state: 'interrupted', finishedAt: null }));
}

test('a flipped mantissa bit in checkpoints/last is detected, named, and the cell resumes from previous to the uninterrupted result', async () => {
  const dir = path.join(root, 'ckpt');
  fs.mkdirSync(dir);
  const file = writeTinyExperiment(dir, {
    name: 'ckpt',
    grid: '  seed: [0]',
    dataDir,
    epochs: 2,
    train: 'checkpointEverySteps: 2',
  });
  const runs = path.join(dir, 'runs');
  const args = ['ablation', '--experiment', file, '--runs-dir', runs];
  const first = await runCli(args);
  expect(first.code).toBe(0);
  const [cell] = cellDirs(runs, 'ckpt');
  const reference = { eval: evalResult(cell!), curve: curve(cell!), status: statusOf(cell!) };
  expect(reference.status.state).toBe('finished');
  const lastStep = readJson<{ step: number }>(path.join(cell!, 'checkpoints/last/trainer-state.json')).step;
  const previousStep = readJson<{ step: number }>(
    path.join(cell!, 'checkpoints/previous/trainer-state.json'),
  ).step;
  expect(previousStep).toBeLessThan(lastStep);

  // The cell as a crash leaves it (not finished), with the lowest mantissa bit of a weight flipped.
  markInterrupted(cell!);
  const tensors = path.join(cell!, 'checkpoints', 'last', 'model', 'tensors.bin');
  const bytes = fs.readFileSync(tensors);
  bytes[0] ^= 0x01; // little-endian float32: byte 0 holds the low mantissa bits
  fs.writeFileSync(tensors, bytes);

  const rerun = await runCli(args);
  expect(rerun.code).toBe(0);
  const named = `corrupt checkpoint: ${path.join('checkpoints', 'last', 'model', 'tensors.bin')}: sha256 mismatch; resumed from ${path.join('checkpoints', 'previous')} (step ${previousStep})`;
  expect(rerun.stdout).toContain(named);
  expect(workerLogs(path.join(runs, 'ckpt'))).toContain(named);
  const after = statusOf(cell!);
  expect(after).toMatchObject({ state: 'finished', attempt: 2 });
  expect(after.resumes).toEqual([expect.objectContaining({ attempt: 2, fromStep: previousStep })]);
  expect(after.checkpointFaults).toEqual([
    {
      attempt: 2,
      time: expect.any(String),
      file: path.join('checkpoints', 'last', 'model', 'tensors.bin'),
      problem: 'sha256 mismatch',
      action: `resumed from ${path.join('checkpoints', 'previous')} (step ${previousStep})`,
    },
  ]);
  // never trained on the corrupt weights: the same result as the uninterrupted run, bit for bit
  expect(evalResult(cell!)).toEqual(reference.eval);
  expect(curve(cell!)).toEqual(reference.curve);
});

test('a kill during the final evaluation leaves no eval.json in the running cell; the rerun finishes it', async () => {
  const dir = path.join(root, 'final');
  fs.mkdirSync(dir);
  const file = writeTinyExperiment(dir, { name: 'final', grid: '  seed: [0]', dataDir, epochs: 1 });
  const runs = path.join(dir, 'runs');
  const args = ['ablation', '--experiment', file, '--runs-dir', runs];
  const child = startCli(args, childEnv(faultEnv({ finalEvalDelayMs: 120_000 })));
  const cell = await waitFor(
    'the final evaluation to have written retrieval.json',
    () => {
      const meta = path.join(runs, 'final', 'experiment.json');
      const c = fs.existsSync(meta) ? cellDirs(runs, 'final')[0] : null;
      return c && fs.existsSync(path.join(c, 'retrieval.json')) ? c : null;
    },
    180_000,
  );
  process.kill(-child.pid!, 'SIGKILL');
  await child.done;
  expect(statusOf(cell).state).toBe('running');
  expect(fs.existsSync(path.join(cell, 'eval.json'))).toBe(false);
  expect(fs.existsSync(path.join(cell, 'embeddings.json'))).toBe(true); // the evaluation had got that far

  // a kill between the eval.json and status.json renames would leave one: the resume removes it first
  fs.writeFileSync(path.join(cell, 'eval.json'), '{"mAP@all": 1}');
  const rerun = await runCli(args);
  expect(rerun.code).toBe(0);
  expect(statusOf(cell)).toMatchObject({ state: 'finished', attempt: 2 });
  expect(readJson<{ 'mAP@all': number }>(path.join(cell, 'eval.json'))['mAP@all']).toBeLessThan(1);
});

test('a garbage status.json and a garbage metrics line are that cell’s problem: named in one line, resumed, the grid goes on', async () => {
  const dir = path.join(root, 'garbage');
  fs.mkdirSync(dir);
  const file = writeTinyExperiment(dir, {
    name: 'garbage',
    grid: '  seed: [0, 1]',
    dataDir,
    epochs: 2,
    train: 'checkpointEverySteps: 2',
  });
  const runs = path.join(dir, 'runs');
  const args = ['ablation', '--experiment', file, '--runs-dir', runs, '--workers', '1'];
  expect((await runCli([...args, '--only', 'seed=0'])).code).toBe(0);
  const [victim, other] = cellDirs(runs, 'garbage');
  const stepsBefore = metricSteps(victim!, 'step');
  const lastStep = readJson<{ step: number }>(path.join(victim!, 'checkpoints/last/trainer-state.json')).step;

  // status.json cut mid-way; a garbage line in the middle of metrics.jsonl
  const status = fs.readFileSync(path.join(victim!, 'status.json'), 'utf8');
  fs.writeFileSync(path.join(victim!, 'status.json'), status.slice(0, Math.floor(status.length / 2)));
  const lines = fs.readFileSync(path.join(victim!, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean);
  lines.splice(2, 0, '{"kind":"step","st\u0000\u0000 garbage');
  fs.writeFileSync(path.join(victim!, 'metrics.jsonl'), `${lines.join('\n')}\n`);
  fs.rmSync(path.join(victim!, 'eval.json'));

  const r = await runCli(args);
  expect(r.code).toBe(0);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  const id = path.basename(victim!);
  expect(r.stdout).toMatch(
    new RegExp(
      `cell ${id}: .*status\\.json: .*; its state is unknown, so it resumes from its last good checkpoint`,
    ),
  );
  expect(r.stdout).toMatch(/skipped 1 unreadable line\(s\), kept every valid one/);
  expect(statusOf(other!).state).toBe('finished'); // the grid went on
  const after = statusOf(victim!);
  expect(after).toMatchObject({ state: 'finished', badMetricLines: 1 });
  expect(after.resumes).toEqual([expect.objectContaining({ fromStep: lastStep })]);
  expect(metricSteps(victim!, 'step')).toEqual(stepsBefore); // every valid line kept, none repeated
  expect(fs.existsSync(path.join(victim!, 'eval.json'))).toBe(true);
});

test('a corrupt shard fails its cell before a training step, naming the shard and the repair command', async () => {
  const dir = path.join(root, 'shard');
  fs.mkdirSync(dir);
  const copy = path.join(dir, 'emoji-copy');
  fs.cpSync(dataDir, copy, { recursive: true });
  const manifest = readJson<{ shards: { file: string }[] }>(path.join(copy, 'manifest.json'));
  const shard = path.join(copy, manifest.shards[0]!.file);
  const bytes = fs.readFileSync(shard);
  bytes[Math.floor(bytes.length / 2)] ^= 0x10;
  fs.writeFileSync(shard, bytes);
  const file = writeTinyExperiment(dir, { name: 'shard', grid: '  seed: [0]', dataDir: copy, epochs: 1 });
  const runs = path.join(dir, 'runs');
  const r = await runCli(['ablation', '--experiment', file, '--runs-dir', runs]);
  expect(r.code).toBe(1); // a failed cell fails the run (after the others), with a summary
  expect(r.stdout).toMatch(
    /1 cell\(s\) failed .*\n {2}[0-9a-f]{12} seed=0: shard .* does not match its sha256/,
  );
  const [cell] = cellDirs(runs, 'shard');
  const st = statusOf(cell!);
  expect(st.state).toBe('failed');
  expect(st.error).toMatch(
    new RegExp(
      `^shard ${shard.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not match its sha256 in the manifest \\(corrupt\\); repair: npx nx run data:prepare -- --dataset emoji `,
    ),
  );
  expect(st.step).toBe(0);
  expect(fs.existsSync(path.join(cell!, 'metrics.jsonl'))).toBe(false);
  expect(workerLogs(path.join(runs, 'shard'))).not.toMatch(/\n\s+at /);
});

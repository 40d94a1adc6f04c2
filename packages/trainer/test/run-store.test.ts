import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CellStore,
  dumpCheckpoint,
  findCheckpoint,
  initialTrainerState,
  planCell,
  restoreCheckpoint,
  writeJsonAtomic,
  type CellStatus,
  type Checkpointable,
} from '../src/run-store';
import { tmpDir } from './fixtures';

function status(patch: Partial<CellStatus>): CellStatus {
  return {
    state: 'queued',
    attempt: 1,
    pid: null,
    host: os.hostname(),
    createdAt: '',
    startedAt: null,
    updatedAt: '',
    finishedAt: null,
    error: null,
    step: 0,
    epoch: 0,
    totalSteps: 10,
    mlflowRunId: null,
    ...patch,
  };
}

/** A stand-in for @sbir/model's trainer: its "weights" are one number in a file. */
class FakeModel implements Checkpointable {
  constructor(public weight = 0) {}
  async saveCheckpoint(dir: string): Promise<void> {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'w.json'), JSON.stringify(this.weight));
  }
  async loadCheckpoint(dir: string): Promise<void> {
    this.weight = JSON.parse(fs.readFileSync(path.join(dir, 'w.json'), 'utf8')) as number;
  }
}

describe('run store', () => {
  let dir: string;
  beforeEach(() => (dir = tmpDir('store')));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('atomic JSON writes leave no temp file behind', () => {
    const file = path.join(dir, 'a', 'x.json');
    writeJsonAtomic(file, { a: 1 });
    writeJsonAtomic(file, { a: 2 });
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ a: 2 });
    expect(fs.readdirSync(path.dirname(file))).toEqual(['x.json']);
  });

  test('status updates merge and stamp updatedAt', () => {
    const cell = new CellStore(path.join(dir, 'c'));
    const a = cell.updateStatus({ state: 'running', pid: 42 });
    expect(a).toMatchObject({ state: 'running', pid: 42, attempt: 0, mlflowRunId: null, error: null });
    const b = cell.updateStatus({ step: 5 });
    expect(b).toMatchObject({ state: 'running', pid: 42, step: 5, createdAt: a.createdAt });
  });

  test('metrics: a line cut by a crash is ignored; truncation keeps steps up to the checkpoint', () => {
    const cell = new CellStore(path.join(dir, 'c'));
    fs.mkdirSync(cell.dir, { recursive: true });
    for (const step of [2, 4, 6, 8])
      cell.appendMetric({ kind: 'step', step, epoch: 1, loss: 1, lr: 0.1, imagesPerSec: 1, time: '' });
    fs.appendFileSync(cell.file('metrics.jsonl'), '{"kind":"step","step":10,"ep');
    expect(cell.readMetrics().map((l) => l.step)).toEqual([2, 4, 6, 8]);
    expect(cell.truncateMetrics(5)).toBe(2);
    expect(fs.readFileSync(cell.file('metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
    cell.appendMetric({ kind: 'step', step: 6, epoch: 1, loss: 1, lr: 0.1, imagesPerSec: 1, time: '' });
    expect(cell.readMetrics().map((l) => l.step)).toEqual([2, 4, 6]);
  });

  test('checkpoint dump/restore in one place, and a crash during the folder swap is survived', async () => {
    const cell = new CellStore(path.join(dir, 'c'));
    fs.mkdirSync(cell.dir, { recursive: true });
    for (const step of [1, 2, 3, 4])
      cell.appendMetric({ kind: 'step', step, epoch: 1, loss: 1, lr: 0.1, imagesPerSec: 1, time: '' });
    const model = new FakeModel(7);
    await dumpCheckpoint(model, cell, 'last', { ...initialTrainerState(), step: 2 });
    model.weight = 9;
    await dumpCheckpoint(model, cell, 'last', { ...initialTrainerState(), step: 3 });
    expect(fs.readdirSync(path.join(cell.dir, 'checkpoints'))).toEqual(['last']);

    const restored = new FakeModel();
    const state = await restoreCheckpoint(restored, cell, 'last');
    expect(state?.step).toBe(3);
    expect(restored.weight).toBe(9);
    expect(cell.readMetrics().map((l) => l.step)).toEqual([1, 2, 3]);

    // crash between "rename last -> .last.old" and "rename tmp -> last": the old one is used
    fs.renameSync(cell.checkpointDir('last'), path.join(cell.dir, 'checkpoints', '.last.old-123'));
    expect(findCheckpoint(cell, 'last')).toContain('.last.old-123');
    const again = new FakeModel();
    expect((await restoreCheckpoint(again, cell, 'last'))?.step).toBe(3);
    expect(
      await restoreCheckpoint(new FakeModel(), new CellStore(path.join(dir, 'empty')), 'last'),
    ).toBeNull();
  });

  test('reset keeps config, status and the MLflow record only', () => {
    const cell = new CellStore(path.join(dir, 'c'));
    for (const f of ['config.json', 'status.json', 'mlflow.json', 'metrics.jsonl', 'eval.json'])
      writeJsonAtomic(cell.file(f), {});
    fs.mkdirSync(path.join(cell.dir, 'checkpoints', 'last'), { recursive: true });
    cell.reset();
    expect(fs.readdirSync(cell.dir).sort()).toEqual(['config.json', 'mlflow.json', 'status.json']);
  });
});

describe('planCell', () => {
  test('from the status: run, resume, retry or skip', () => {
    expect(planCell(null, false)).toBe('run');
    expect(planCell(status({ state: 'queued' }), false)).toBe('run');
    expect(planCell(status({ state: 'finished' }), true)).toBe('skip-finished');
    expect(planCell(status({ state: 'failed' }), false)).toBe('skip-failed');
    expect(planCell(status({ state: 'failed' }), true)).toBe('retry');
    expect(planCell(status({ state: 'interrupted' }), false)).toBe('resume');
    // running in a live process here: leave it alone
    expect(planCell(status({ state: 'running', pid: process.pid }), false)).toBe('skip-running');
    // running, but the process is gone, or it ran on another machine: resume
    expect(planCell(status({ state: 'running', pid: 2 ** 22 + 12345 }), false)).toBe('resume');
    expect(planCell(status({ state: 'running', pid: process.pid, host: 'elsewhere' }), false)).toBe('resume');
  });
});

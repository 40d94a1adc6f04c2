import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeJsonAtomicSync } from '@sbir/core';
import {
  CorruptCheckpoint,
  dumpCheckpoint,
  findCheckpoint,
  initialTrainerState,
  restoreCheckpoint,
  verifyCheckpoint,
  type Checkpointable,
} from '../src/checkpoint';
import { CellStore, planCell, type CellStatus } from '../src/run-store';
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
    writeJsonAtomicSync(file, { a: 1 });
    writeJsonAtomicSync(file, { a: 2 });
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
    expect(cell.truncateMetrics(5)).toEqual({ removed: 2, bad: 1 });
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
    expect(fs.readdirSync(path.join(cell.dir, 'checkpoints')).sort()).toEqual(['last', 'previous']);
    expect(fs.readdirSync(cell.checkpointDir('last')).sort()).toEqual([
      'digests.json',
      'model',
      'trainer-state.json',
    ]);

    const restored = new FakeModel();
    const r = await restoreCheckpoint(restored, cell);
    expect(r).toMatchObject({ from: path.join('checkpoints', 'last'), faults: [], badMetricLines: 0 });
    expect(r.state?.step).toBe(3);
    expect(restored.weight).toBe(9);
    expect(cell.readMetrics().map((l) => l.step)).toEqual([1, 2, 3]);

    // crash between "rename last -> previous" and "rename tmp -> last": previous is used
    fs.rmSync(cell.checkpointDir('previous'), { recursive: true });
    fs.renameSync(cell.checkpointDir('last'), cell.checkpointDir('previous'));
    expect(findCheckpoint(cell)).toBe(cell.checkpointDir('previous'));
    const again = new FakeModel();
    expect((await restoreCheckpoint(again, cell)).state?.step).toBe(3);
    // a run store of the older swap (.last.old-<pid>) still resumes
    fs.renameSync(cell.checkpointDir('previous'), path.join(cell.dir, 'checkpoints', '.last.old-123'));
    expect(findCheckpoint(cell)).toContain('.last.old-123');
    expect((await restoreCheckpoint(new FakeModel(), cell)).state?.step).toBe(3);
    expect(await restoreCheckpoint(new FakeModel(), new CellStore(path.join(dir, 'empty')))).toMatchObject({
      state: null,
      from: null,
    });
  });

  test('a crash between the two renames of a checkpoint swap: the newest verified checkpoint wins, the leftover goes', async () => {
    const cell = new CellStore(path.join(dir, 'swap'));
    fs.mkdirSync(cell.dir, { recursive: true });
    for (const step of [5, 10, 15, 20])
      cell.appendMetric({ kind: 'step', step, epoch: 1, loss: 1, lr: 0.1, imagesPerSec: 1, time: '' });
    const model = new FakeModel(10);
    await dumpCheckpoint(model, cell, 'last', { ...initialTrainerState(), step: 10 });
    model.weight = 20;
    await dumpCheckpoint(model, cell, 'last', { ...initialTrainerState(), step: 20 });
    // the re-probe by hand: `mv previous .last.old-999; mv last previous`, then the crash
    const root = path.join(cell.dir, 'checkpoints');
    fs.renameSync(cell.checkpointDir('previous'), path.join(root, '.last.old-999'));
    fs.renameSync(cell.checkpointDir('last'), cell.checkpointDir('previous'));
    expect(findCheckpoint(cell)).toBe(cell.checkpointDir('previous'));
    const restored = new FakeModel();
    const r = await restoreCheckpoint(restored, cell);
    expect(r).toMatchObject({ from: path.join('checkpoints', 'previous'), faults: [] });
    expect(r.state?.step).toBe(20);
    expect(restored.weight).toBe(20);
    expect(cell.readMetrics().map((l) => l.step)).toEqual([5, 10, 15, 20]);
    expect(fs.readdirSync(root)).toEqual(['previous']); // the older leftover is cleaned up

    // a leftover that is the newest verified one is kept, as `last`
    fs.renameSync(cell.checkpointDir('previous'), path.join(root, '.last.old-7'));
    expect((await restoreCheckpoint(new FakeModel(), cell)).state?.step).toBe(20);
    expect(fs.readdirSync(root)).toEqual(['last']);
  });

  test('a corrupt last checkpoint is named, deleted, and previous is restored; none left: step 0', async () => {
    const cell = new CellStore(path.join(dir, 'c'));
    fs.mkdirSync(cell.dir, { recursive: true });
    const model = new FakeModel(1.5);
    await dumpCheckpoint(model, cell, 'last', { ...initialTrainerState(), step: 4 });
    model.weight = 2.5;
    await dumpCheckpoint(model, cell, 'last', { ...initialTrainerState(), step: 8 });
    // one changed digit: same size, other content
    const w = path.join(cell.checkpointDir('last'), 'model', 'w.json');
    fs.writeFileSync(w, '3.5');
    expect(() => verifyCheckpoint(cell.checkpointDir('last'))).toThrow(CorruptCheckpoint);

    const restored = new FakeModel();
    const r = await restoreCheckpoint(restored, cell);
    expect(r.faults).toEqual([
      { file: path.join('checkpoints', 'last', 'model', 'w.json'), problem: 'sha256 mismatch' },
    ]);
    expect(r.from).toBe(path.join('checkpoints', 'previous'));
    expect(r.state?.step).toBe(4);
    expect(restored.weight).toBe(1.5); // never the corrupt 3.5
    expect(fs.existsSync(cell.checkpointDir('last'))).toBe(false);

    // previous corrupt too (a file missing, a file added): nothing usable, start over
    fs.rmSync(path.join(cell.checkpointDir('previous'), 'trainer-state.json'));
    fs.writeFileSync(path.join(cell.checkpointDir('previous'), 'trainer-state.json'), '{}');
    fs.writeFileSync(path.join(cell.checkpointDir('previous'), 'model', 'extra.bin'), 'x');
    const none = await restoreCheckpoint(new FakeModel(), cell);
    expect(none).toMatchObject({ state: null, from: null });
    expect(none.faults).toHaveLength(1);
    expect(none.faults[0]!.file).toMatch(/^checkpoints[/\\]previous[/\\]/);
    expect(fs.existsSync(path.join(cell.dir, 'checkpoints', 'previous'))).toBe(false);

    // a checkpoint without digests (or with a symlink in it) is never trusted
    await dumpCheckpoint(model, cell, 'last', { ...initialTrainerState(), step: 12 });
    fs.rmSync(path.join(cell.checkpointDir('last'), 'digests.json'));
    expect(() => verifyCheckpoint(cell.checkpointDir('last'))).toThrow(/digests\.json: missing/);
    await dumpCheckpoint(model, cell, 'last', { ...initialTrainerState(), step: 13 });
    fs.symlinkSync('/etc/hostname', path.join(cell.checkpointDir('last'), 'model', 'link'));
    expect(() => verifyCheckpoint(cell.checkpointDir('last'))).toThrow(/link: not a regular file/);
  });

  test('stale temp files and folders of a killed writer are removed when the cell restarts', async () => {
    const cell = new CellStore(path.join(dir, 'c'));
    const ckpt = path.join(cell.dir, 'checkpoints');
    fs.mkdirSync(path.join(ckpt, '.last.tmp-4242', 'model'), { recursive: true });
    fs.writeFileSync(path.join(ckpt, '.last.tmp-4242', 'model', 'tensors.bin'), 'partial');
    fs.mkdirSync(path.join(ckpt, '.best.old-17'), { recursive: true });
    fs.mkdirSync(path.join(cell.dir, 'retrieval'), { recursive: true });
    fs.writeFileSync(path.join(cell.dir, 'retrieval', 'q0.png.tmp-99'), '');
    fs.writeFileSync(cell.file('status.json.tmp-77'), '{');
    await dumpCheckpoint(new FakeModel(1), cell, 'last', { ...initialTrainerState(), step: 2 });
    expect(cell.removeStaleTemp().sort()).toEqual([
      'checkpoints/.best.old-17',
      'checkpoints/.last.tmp-4242',
      'retrieval/q0.png.tmp-99',
      'status.json.tmp-77',
    ]);
    expect(fs.readdirSync(ckpt)).toEqual(['last']);
    expect(fs.readdirSync(cell.dir).sort()).toEqual(['checkpoints', 'retrieval']);
  });

  test('metrics.jsonl: a garbage line in the middle is skipped and counted, every valid line kept', () => {
    const cell = new CellStore(path.join(dir, 'c'));
    fs.mkdirSync(cell.dir, { recursive: true });
    for (const step of [2, 4])
      cell.appendMetric({ kind: 'step', step, epoch: 1, loss: 1, lr: 0.1, imagesPerSec: 1, time: '' });
    fs.appendFileSync(cell.file('metrics.jsonl'), '\u0000\u0000garbage{\n[1,2]\n');
    for (const step of [6, 8])
      cell.appendMetric({ kind: 'step', step, epoch: 1, loss: 1, lr: 0.1, imagesPerSec: 1, time: '' });
    expect(cell.readMetricsCounted()).toMatchObject({ bad: 2 });
    expect(cell.readMetrics().map((l) => l.step)).toEqual([2, 4, 6, 8]);
    expect(cell.truncateMetrics(6)).toEqual({ removed: 1, bad: 2 });
    expect(cell.readMetricsCounted()).toMatchObject({ bad: 0 });
    expect(cell.readMetrics().map((l) => l.step)).toEqual([2, 4, 6]);
  });

  test('a truncated or garbage status.json reads as an interrupted cell that says why', () => {
    const cell = new CellStore(path.join(dir, 'c'));
    cell.updateStatus({ state: 'running', attempt: 3, step: 40 });
    const text = fs.readFileSync(cell.file('status.json'), 'utf8');
    for (const bad of [text.slice(0, 25), '', 'null', '[]', '{"state":"weird","attempt":1,"step":0}']) {
      fs.writeFileSync(cell.file('status.json'), bad);
      const s = cell.readStatus()!;
      expect(s.state).toBe('interrupted');
      expect(s.unreadable).toContain('status.json');
      expect(planCell(s, false)).toBe('resume');
    }
    // the next write replaces it with a readable status (without the marker)
    expect(cell.updateStatus({ state: 'running' })).not.toHaveProperty('unreadable');
    expect(JSON.parse(fs.readFileSync(cell.file('status.json'), 'utf8'))).toMatchObject({ state: 'running' });
  });

  test('reset keeps config, status and the MLflow record only', () => {
    const cell = new CellStore(path.join(dir, 'c'));
    for (const f of ['config.json', 'status.json', 'mlflow.json', 'metrics.jsonl', 'eval.json'])
      writeJsonAtomicSync(cell.file(f), {});
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

/**
 * runCell in this process, with callbacks: the hooks come in the loop's order, registered callbacks
 * run before the built-ins and the caller's after them, and the tests' fault injection (a callback,
 * test/faults.ts) fails a cell cleanly and stops applying once unregistered.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '@sbir/model';
import { runCell } from '../src/cell';
import { registerCellCallbacks } from '../src/callbacks';
import { loadExperiment } from '../src/grid';
import type { Callback } from '../src/protocol';
import { CellStore } from '../src/run-store';
import { FaultInjection } from './faults';
import { REPO_ROOT, metricSteps, readJson, tmpDir, writeTinyExperiment } from './fixtures';

jest.setTimeout(300_000);

let root: string;
let cellDir: string;
beforeAll(async () => {
  root = tmpDir('loop');
  const dataDir = path.join(root, 'data', 'emoji-tiny');
  const cli = path.join(REPO_ROOT, 'packages/data/src/cli.ts');
  const prepare = [
    'prepare',
    '--dataset',
    'emoji',
    '--size',
    '32',
    '--max-categories',
    '4',
    '--out',
    dataDir,
  ];
  const r = spawnSync(process.execPath, ['--import', 'tsx', cli, ...prepare], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  expect(r.status).toBe(0);
  // 6 steps, epochs of 3, a checkpoint every 2 steps and a step line every 2
  const file = writeTinyExperiment(root, {
    grid: '  seed: [0]',
    dataDir,
    epochs: 2,
    train: 'stepsPerEpoch: 3, checkpointEverySteps: 2',
  });
  const config = loadExperiment(file).cells[0]!;
  cellDir = path.join(root, 'runs', config.cellId);
  fs.mkdirSync(cellDir, { recursive: true });
  new CellStore(cellDir).writeConfig(config);
  await initBackend('auto', { threads: 1, quiet: true });
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** eval.json without its durations, and the logged losses: what an uninterrupted run gives. */
function results(): { evalJson: Record<string, unknown>; losses: number[] } {
  const evalJson = readJson(path.join(cellDir, 'eval.json'));
  delete evalJson.trainSeconds;
  delete evalJson.evalSeconds;
  const losses = fs
    .readFileSync(path.join(cellDir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { loss?: number; trainLoss?: number })
    .map((l) => l.loss ?? l.trainLoss!);
  return { evalJson, losses };
}
let reference: ReturnType<typeof results>;

/** A callback that writes down every hook it gets, and what metrics.jsonl held at step hooks. */
function recorder(events: string[], tag: string): Callback {
  const logged = (): string =>
    fs.existsSync(path.join(cellDir, 'metrics.jsonl')) ? metricSteps(cellDir, 'step').join(',') : '';
  return {
    onCellStart: (i) => void events.push(`${tag} cellStart ${i.step}/${i.totalSteps}`),
    onTrainStart: (l) => void events.push(`${tag} trainStart ${l.state.step}`),
    onTrainBatchEnd: (l) => void events.push(`${tag} batchEnd ${l.state.step} [${logged()}]`),
    onTrainEpochEnd: (_, end) =>
      void events.push(`${tag} epochEnd ${end.epoch} line:${end.line ? 'yes' : 'no'}`),
    onEpochEnd: (_, line) => void events.push(`${tag} epochReported ${line.epoch}`),
    onTrainEnd: (l) => void events.push(`${tag} trainEnd ${l.state.step} stopped:${l.stopped}`),
    onTestEnd: () => void events.push(`${tag} testEnd ${fs.existsSync(path.join(cellDir, 'eval.json'))}`),
    onCellEnd: (o) => void events.push(`${tag} cellEnd ${o.state}`),
  };
}

test('hooks in the loop order; registered callbacks before the built-ins, the caller’s after them', async () => {
  const events: string[] = [];
  const unregister = registerCellCallbacks(recorder(events, 'reg'));
  try {
    const out = await runCell({ cellDir, mode: 'run', callbacks: [recorder(events, 'own')] });
    expect(out).toMatchObject({ state: 'finished', step: 6, error: null });
  } finally {
    unregister();
  }
  const own = events.filter((e) => e.startsWith('own ')).map((e) => e.slice(4));
  expect(own).toEqual([
    'cellStart 0/6',
    'trainStart 0',
    'batchEnd 1 []',
    'batchEnd 2 [2]', // logged by MetricsLogger before the caller's hook
    'batchEnd 3 [2]',
    'epochEnd 1 line:yes', // the epoch line is there for later hooks
    'epochReported 1',
    'batchEnd 4 [2,4]',
    'batchEnd 5 [2,4]',
    'batchEnd 6 [2,4,6]',
    'epochEnd 2 line:yes',
    'epochReported 2',
    'trainEnd 6 stopped:false',
    'testEnd false', // before eval.json
    'cellEnd finished',
  ]);
  // the registered callback ran first: at step 2 the step line was not written yet
  expect(events.indexOf('reg batchEnd 2 []')).toBeLessThan(events.indexOf('own batchEnd 2 [2]'));
  expect(events).toContain('reg epochEnd 1 line:no');
  expect(fs.existsSync(path.join(cellDir, 'eval.json'))).toBe(true);
});

test('fault injection as a registered callback: a NaN at step 3 fails the cell with its reason; unregistered, the retry finishes', async () => {
  const unregister = registerCellCallbacks(new FaultInjection({ nanAtStep: 3, nanCells: 'seed=0' }));
  const out = await runCell({ cellDir, mode: 'retry' }).finally(unregister);
  expect(out).toMatchObject({ state: 'failed', step: 3 });
  expect(out.error).toMatch(/^non-finite loss \(NaN\) at step 3 \(epoch 1, lr /);
  const status = readJson<{ state: string; error: string; step: number }>(path.join(cellDir, 'status.json'));
  expect(status).toMatchObject({ state: 'failed', step: 3, error: out.error });
  expect(metricSteps(cellDir, 'step')).toEqual([2]); // the NaN was never logged
  expect(fs.existsSync(path.join(cellDir, 'eval.json'))).toBe(false);

  expect(await runCell({ cellDir, mode: 'retry' })).toMatchObject({ state: 'finished', step: 6 });
  reference = results();
});

test('shouldStop: the loop stops after the step, checkpoints it, the cell is interrupted; a resume finishes it', async () => {
  let steps = 0;
  const counter: Callback = { onTrainBatchEnd: () => void steps++ };
  const out = await runCell({ cellDir, mode: 'retry', shouldStop: () => steps >= 4, callbacks: [counter] });
  expect(out).toMatchObject({ state: 'interrupted', step: 4 });
  expect(
    readJson<{ step: number }>(path.join(cellDir, 'checkpoints', 'last', 'trainer-state.json')).step,
  ).toBe(4);
  const resumed = await runCell({ cellDir, mode: 'resume' });
  expect(resumed).toMatchObject({ state: 'finished', step: 6 });
  expect(metricSteps(cellDir, 'step')).toEqual([2, 4, 6]);
  // bit for bit the uninterrupted run of the test before (weights, optimiser, data position restored)
  expect(results()).toEqual(reference);
});

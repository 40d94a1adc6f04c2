/**
 * The ablation command as a user runs it: real child processes (CLI parent + forked workers running
 * TensorFlow), a tiny emoji dataset prepared on first use, and the run store on disk.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  childEnv,
  metricSteps,
  readJson,
  runCli,
  snapshot,
  startCli,
  tmpDir,
  waitFor,
  writeTinyExperiment,
} from './fixtures';
import { faultEnv } from './faults';
import type { CellStatus } from '../src/run-store';

jest.setTimeout(180_000);

let root: string;
let dataDir: string;
beforeAll(() => {
  root = tmpDir('ablation');
  dataDir = path.join(root, 'data', 'emoji-tiny'); // prepared by the first ablation that needs it
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** status.json as the run store writes it (run-store.ts), with the resumes list always read. */
type Status = CellStatus & { resumes: NonNullable<CellStatus['resumes']> };

function cellDirs(runs: string, experiment: string): Record<string, string> {
  const meta = readJson<{ cells: string[] }>(path.join(runs, experiment, 'experiment.json'));
  const out: Record<string, string> = {};
  for (const id of meta.cells) {
    const cfg = readJson<{ axes: Record<string, unknown> }>(path.join(runs, experiment, id, 'config.json'));
    out[Object.values(cfg.axes).join('/')] = path.join(runs, experiment, id);
  }
  return out;
}

const statusOf = (cellDir: string): Status => readJson<Status>(path.join(cellDir, 'status.json'));

test('a forced NaN fails its cell cleanly while the grid goes on; reruns skip; --retry-failed runs it again', async () => {
  const dir = path.join(root, 'nan');
  fs.mkdirSync(dir);
  const file = writeTinyExperiment(dir, { name: 'nan', grid: '  loss: [softmax, mems]', dataDir });
  const runs = path.join(dir, 'runs');
  const args = ['ablation', '--experiment', file, '--runs-dir', runs];

  const first = await runCli(args, childEnv(faultEnv({ nanAtStep: 3, nanCells: 'loss=mems' })));
  expect(first.stderr).not.toMatch(/Error/);
  expect(first.code).toBe(1); // after the other cell ran: a script or scheduler sees the failure
  expect(first.stdout).toContain('preparing it (once)');
  expect(first.stdout).toMatch(/loss=mems: failed: non-finite loss \(NaN\) at step 3/);
  expect(first.stdout).toMatch(
    /1 cell\(s\) failed .*--retry-failed:\n {2}[0-9a-f]{12} .*loss=mems: non-finite loss \(NaN\) at step 3/,
  );

  const cells = cellDirs(runs, 'nan');
  const good = cells.softmax!;
  const bad = cells.mems!;
  expect(statusOf(bad)).toMatchObject({ state: 'failed', step: 3 });
  expect(statusOf(bad).error).toMatch(/^non-finite loss \(NaN\) at step 3/);
  expect(fs.existsSync(path.join(bad, 'eval.json'))).toBe(false);

  // the other cell is complete: every run store file of the README
  expect(statusOf(good)).toMatchObject({ state: 'finished', attempt: 1, error: null });
  for (const f of [
    'config.json',
    'status.json',
    'metrics.jsonl',
    'eval.json',
    'embeddings.json',
    'retrieval.json',
    'checkpoints/last/trainer-state.json',
  ]) {
    expect(fs.existsSync(path.join(good, f))).toBe(true);
  }
  // no checkpoint is selected on the test queries (issue 21): the last one and its fallback only
  const kept = fs.readdirSync(path.join(good, 'checkpoints'));
  expect(kept).toContain('last');
  expect(kept.filter((n) => n !== 'last' && n !== 'previous')).toEqual([]);
  const saved = readJson<Record<string, unknown>>(path.join(good, 'checkpoints/last/trainer-state.json'));
  expect(Object.keys(saved).filter((k) => /best/i.test(k))).toEqual([]);
  const evalJson = readJson<Record<string, number>>(path.join(good, 'eval.json'));
  expect(evalJson['mAP@all']).toBeGreaterThan(0);
  expect(evalJson['P@200']).toBeGreaterThan(0);
  const retrieval = readJson<{ queries: { image: string; results: { image: string }[] }[] }>(
    path.join(good, 'retrieval.json'),
  );
  expect(retrieval.queries).toHaveLength(2);
  for (const q of retrieval.queries) {
    expect(q.results).toHaveLength(3);
    for (const img of [q.image, ...q.results.map((r) => r.image)]) {
      expect(fs.readFileSync(path.join(good, img)).subarray(1, 4).toString()).toBe('PNG');
    }
  }
  const steps = metricSteps(good, 'step');
  expect(steps).toEqual([...steps].sort((a, b) => a - b));
  expect(metricSteps(good, 'epoch')).toHaveLength(2);

  // rerun: nothing to do, nothing touched
  const before = snapshot(good);
  const second = await runCli(args);
  expect(second.code).toBe(1); // a selected cell is still failed
  expect(second.stdout).toMatch(/1 cell\(s\) failed/);
  expect(second.stdout).toContain('0 to run, 2 skipped');
  expect(snapshot(good)).toEqual(before);

  const dry = await runCli([...args, '--dry-run']);
  expect(dry.stdout).toMatch(/softmax\s+finished/);
  expect(dry.stdout).toMatch(/mems\s+failed: non-finite loss/);

  const retry = await runCli([...args, '--retry-failed']);
  expect(retry.code).toBe(0);
  expect(statusOf(bad)).toMatchObject({ state: 'finished', attempt: 2, error: null });
  expect(snapshot(good)).toEqual(before);
});

test('SIGKILL mid-cell: the rerun resumes from the last checkpoint and leaves finished cells untouched', async () => {
  const dir = path.join(root, 'kill');
  fs.mkdirSync(dir);
  const file = writeTinyExperiment(dir, {
    name: 'kill',
    grid: '  seed: [0, 1]',
    dataDir,
    epochs: 2,
    train: 'checkpointEverySteps: 4',
  });
  const runs = path.join(dir, 'runs');
  const args = ['ablation', '--experiment', file, '--runs-dir', runs, '--workers', '1'];

  const child = startCli(args, childEnv(faultEnv({ stepDelayMs: 150 })));
  const cells = await waitFor(
    'experiment.json',
    () => fs.existsSync(path.join(runs, 'kill', 'experiment.json')) && cellDirs(runs, 'kill'),
  );
  const [done, victim] = [cells['0']!, cells['1']!];
  // wait until the second cell has a checkpoint and has trained a few steps past it
  const ckptStep = await waitFor(
    'a checkpoint of the second cell',
    () => {
      const state = path.join(victim, 'checkpoints', 'last', 'trainer-state.json');
      if (!fs.existsSync(state) || !fs.existsSync(path.join(victim, 'metrics.jsonl'))) return null;
      const step = readJson<{ step: number }>(state).step;
      const logged = metricSteps(victim, 'step');
      return logged.length && logged[logged.length - 1]! >= step + 2 ? step : null;
    },
    120_000,
  );
  process.kill(-child.pid!, 'SIGKILL'); // the whole process group: parent and worker, no chance to clean up
  const killed = await child.done;
  expect(killed.signal).toBe('SIGKILL');

  expect(statusOf(done).state).toBe('finished');
  const before = snapshot(done);
  const dead = statusOf(victim);
  expect(dead.state).toBe('running'); // as the crash left it
  const linesBefore = fs.readFileSync(path.join(victim, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean);
  const ckptNow = readJson<{ step: number }>(
    path.join(victim, 'checkpoints', 'last', 'trainer-state.json'),
  ).step;
  expect(ckptNow).toBeGreaterThanOrEqual(ckptStep);

  const dry = await runCli([...args, '--dry-run']);
  expect(dry.stdout).toMatch(/resume \(running, step \d+\)/);

  const rerun = await runCli(args);
  expect(rerun.code).toBe(0);
  expect(rerun.stdout).toMatch(new RegExp(`resumed at step ${ckptNow}`));

  const after = statusOf(victim);
  expect(after).toMatchObject({ state: 'finished', attempt: 2 });
  expect(after.resumes).toEqual([expect.objectContaining({ attempt: 2, fromStep: ckptNow })]);
  // curves do not repeat steps: the lines up to the checkpoint are kept as they were, then continue
  const steps = metricSteps(victim, 'step');
  expect(new Set(steps).size).toBe(steps.length);
  expect(steps).toEqual([...steps].sort((a, b) => a - b));
  expect(steps[steps.length - 1]).toBe(after.totalSteps);
  const kept = linesBefore.filter((l) => (JSON.parse(l) as { step: number }).step <= ckptNow);
  expect(
    fs.readFileSync(path.join(victim, 'metrics.jsonl'), 'utf8').split('\n').slice(0, kept.length),
  ).toEqual(kept);
  expect(fs.existsSync(path.join(victim, 'eval.json'))).toBe(true);
  // training after the resume is bit-identical (weights, optimiser, data position and the augmentation
  // RNG of the `authors` pipeline restored): the losses logged past the checkpoint before the kill
  // come out again, to the last bit
  const stepLosses = (lines: string[]): Map<number, number> =>
    new Map(
      lines
        .map((l) => JSON.parse(l) as { kind: string; step: number; loss: number })
        .filter((m) => m.kind === 'step' && m.step > ckptNow)
        .map((m) => [m.step, m.loss]),
    );
  const lostRun = stepLosses(linesBefore);
  const rerunLines = fs.readFileSync(path.join(victim, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean);
  expect(lostRun.size).toBeGreaterThan(0);
  const resumed = stepLosses(rerunLines);
  for (const [step, loss] of lostRun) expect([step, resumed.get(step)]).toEqual([step, loss]);
  // the finished cell: same files, same bytes, same mtimes
  expect(snapshot(done)).toEqual(before);
});

test('SIGTERM checkpoints the running cell, marks it interrupted and exits non-zero; the rerun resumes it', async () => {
  const dir = path.join(root, 'term');
  fs.mkdirSync(dir);
  const file = writeTinyExperiment(dir, { name: 'term', grid: '  seed: [0]', dataDir, epochs: 2 });
  const runs = path.join(dir, 'runs');
  const args = ['ablation', '--experiment', file, '--runs-dir', runs];

  const child = startCli(args, childEnv(faultEnv({ stepDelayMs: 150 })));
  const cell = await waitFor('the cell to train', () => {
    const cells = fs.existsSync(path.join(runs, 'term', 'experiment.json')) ? cellDirs(runs, 'term') : null;
    const c = cells?.['0'];
    return c && fs.existsSync(path.join(c, 'metrics.jsonl')) && metricSteps(c, 'step').length >= 2 ? c : null;
  });
  process.kill(child.pid!, 'SIGTERM'); // the parent only; it forwards to its workers
  const out = await child.done;
  expect(out.code).toBe(143);
  expect(out.stdout).toContain('interrupted by SIGTERM');
  const st = statusOf(cell);
  expect(st.state).toBe('interrupted');
  const ckpt = readJson<{ step: number }>(path.join(cell, 'checkpoints', 'last', 'trainer-state.json'));
  expect(ckpt.step).toBe(st.step);
  expect(st.step).toBeLessThan(st.totalSteps as number); // set once the cell started

  const rerun = await runCli(args);
  expect(rerun.code).toBe(0);
  expect(statusOf(cell)).toMatchObject({
    state: 'finished',
    attempt: 2,
    resumes: [expect.objectContaining({ fromStep: st.step })],
  });
});

test('eval.centreHashBits: post-hoc codes from the loss centres (MEMS, CosFace) or the photo class means (softmax), from flip-mean features, angular for CosFace; Hamming mAP in eval.json', async () => {
  const dir = path.join(root, 'hash');
  fs.mkdirSync(dir);
  const file = writeTinyExperiment(dir, {
    name: 'hash',
    grid: '  loss: [softmax, mems, cosface]',
    epochs: 1,
    dataDir,
    eval: 'centreHashBits: 16, centreHashSteps: 200',
  });
  const runs = path.join(dir, 'runs');
  const r = await runCli(['ablation', '--experiment', file, '--runs-dir', runs]);
  expect(r.code).toBe(0);
  const cells = cellDirs(runs, 'hash');
  interface Hamming {
    bits: number;
    'mAP@all': number;
    'P@200': number;
    codes: string;
    prototypes: string;
    classes: number;
    steps: number;
    lossStart: number;
    lossEnd: number;
  }
  for (const [loss, prototypes, distance] of [
    ['softmax', 'photo-class-means', 'euclidean'],
    ['mems', 'loss-centres', 'euclidean'],
    ['cosface', 'loss-centres', 'angular'],
  ] as const) {
    const ev = readJson<{ 'mAP@all': number; hamming: Hamming | null; distance: string }>(
      path.join(cells[loss]!, 'eval.json'),
    );
    expect(ev.distance).toBe(distance);
    expect(
      readJson<{ eval: { distance: string } }>(path.join(cells[loss]!, 'config.json')).eval.distance,
    ).toBe(distance);
    expect(readJson<{ distance: string }>(path.join(cells[loss]!, 'retrieval.json')).distance).toBe(distance);
    expect(ev.hamming).toMatchObject({
      bits: 16,
      codes: 'centre-hash',
      prototypes,
      classes: 4,
      steps: 200,
      features: 'flip-mean',
    });
    // one length given as a number: eval.json as before (no per-length record, stored gallery order)
    expect(ev).not.toHaveProperty('hammingByBits');
    expect(ev).not.toHaveProperty('galleryOrder');
    const h = ev.hamming!;
    // 4 classes: chance mAP is about 1/4; any ranking of the whole gallery has mAP in (0, 1].
    expect(h['mAP@all']).toBeGreaterThan(0);
    expect(h['mAP@all']).toBeLessThanOrEqual(1);
    // the fit decorrelates the prototypes' codes: mean off-diagonal inner product goes down
    expect(h.lossEnd).toBeLessThan(h.lossStart);
  }
});

test("eval.centreHashBits as a list: every code length in one eval.json, the gallery in the authors' category order; euclidean-softmax trains", async () => {
  const dir = path.join(root, 'hash-lengths');
  fs.mkdirSync(dir);
  const file = writeTinyExperiment(dir, {
    name: 'lengths',
    grid: '  loss: [euclidean-softmax]',
    epochs: 1,
    dataDir,
    eval: 'centreHashBits: [8, 16, 32], centreHashSteps: 50, galleryOrder: category',
  });
  const runs = path.join(dir, 'runs');
  const r = await runCli(['ablation', '--experiment', file, '--runs-dir', runs]);
  expect(r.code).toBe(0);
  const cell = cellDirs(runs, 'lengths')['euclidean-softmax']!;
  const ev = readJson<{
    hamming: { bits: number; 'mAP@all': number; prototypes: string };
    hammingByBits: { bits: number; 'mAP@all': number; 'P@200': number }[];
    galleryOrder: string;
  }>(path.join(cell, 'eval.json'));
  expect(ev.galleryOrder).toBe('category');
  expect(ev.hamming).toMatchObject({ bits: 8, prototypes: 'loss-centres' }); // the first length
  expect(ev.hammingByBits.map((h) => h.bits)).toEqual([8, 16, 32]);
  expect(ev.hammingByBits[0]!['mAP@all']).toBe(ev.hamming['mAP@all']);
  for (const h of ev.hammingByBits) {
    expect(h['mAP@all']).toBeGreaterThan(0);
    expect(h['mAP@all']).toBeLessThanOrEqual(1);
    expect(h['P@200']).toBeGreaterThan(0);
  }
});
